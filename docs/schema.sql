-- The schema after every migration in migrations/, as pg_dump prints it.
-- Written by scripts/schema.sh; CI fails when it differs from the migrations.

CREATE FUNCTION public.copy_changed_source_items() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM source s WHERE s.code IN (SELECT c.source_code FROM changed c)
    ORDER BY s.code FOR KEY SHARE;
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT l.stock_id, c.sku
          FROM changed c JOIN stock_source_link l ON l.source_code = c.source_code) k;
    RETURN NULL;
END $$;

CREATE FUNCTION public.copy_inserted_or_deleted_product_settings() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed c WHERE num_nonnulls(c.manage_stock, c.backorders,
            c.out_of_stock_threshold, c.notify_stock_qty, c.stock_threshold_qty, c.min_sale_qty,
            c.max_sale_qty, c.qty_increments, c.is_qty_decimal) > 0) THEN
        LOCK TABLE stock IN SHARE MODE;
        IF TG_OP = 'INSERT' THEN
            PERFORM copy_product_settings(array_agg(ROW(c.*)::product_settings), '{}')
            FROM changed c;
        ELSE
            PERFORM copy_product_settings('{}', array_agg(c.sku)) FROM changed c;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TABLE public.product_settings (
    sku text NOT NULL,
    manage_stock boolean,
    backorders text,
    out_of_stock_threshold numeric(16,4),
    notify_stock_qty numeric(16,4),
    stock_threshold_qty numeric(16,4),
    min_sale_qty numeric(16,4),
    max_sale_qty numeric(16,4),
    qty_increments numeric(16,4),
    is_qty_decimal boolean,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT product_settings_backorders_mode CHECK ((backorders = ANY (ARRAY['NO'::text, 'ALLOW'::text, 'ALLOW_NOTIFY'::text])))
);

CREATE FUNCTION public.copy_product_settings(written public.product_settings[], removed text[]) RETURNS void
    LANGUAGE sql
    AS $$
INSERT INTO stock_sku AS t (stock_id, sku, product_manage_stock, product_backorders,
    product_out_of_stock_threshold, product_notify_stock_qty, product_stock_threshold_qty,
    product_min_sale_qty, product_max_sale_qty, product_qty_increments, product_is_qty_decimal)
SELECT s.id, k.sku, k.manage_stock, k.backorders, k.out_of_stock_threshold, k.notify_stock_qty,
       k.stock_threshold_qty, k.min_sale_qty, k.max_sale_qty, k.qty_increments, k.is_qty_decimal
FROM (SELECT w.sku, w.manage_stock, w.backorders, w.out_of_stock_threshold, w.notify_stock_qty,
             w.stock_threshold_qty, w.min_sale_qty, w.max_sale_qty, w.qty_increments,
             w.is_qty_decimal
      FROM unnest(written) w
      UNION ALL
      SELECT r.sku, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      FROM unnest(removed) AS r(sku)
      WHERE r.sku <> ALL (SELECT w.sku FROM unnest(written) w)) k
CROSS JOIN stock s
ORDER BY 1, 2
ON CONFLICT (stock_id, sku) DO UPDATE SET
    product_manage_stock = EXCLUDED.product_manage_stock,
    product_backorders = EXCLUDED.product_backorders,
    product_out_of_stock_threshold = EXCLUDED.product_out_of_stock_threshold,
    product_notify_stock_qty = EXCLUDED.product_notify_stock_qty,
    product_stock_threshold_qty = EXCLUDED.product_stock_threshold_qty,
    product_min_sale_qty = EXCLUDED.product_min_sale_qty,
    product_max_sale_qty = EXCLUDED.product_max_sale_qty,
    product_qty_increments = EXCLUDED.product_qty_increments,
    product_is_qty_decimal = EXCLUDED.product_is_qty_decimal
WHERE (t.product_manage_stock, t.product_backorders, t.product_out_of_stock_threshold,
       t.product_notify_stock_qty, t.product_stock_threshold_qty, t.product_min_sale_qty,
       t.product_max_sale_qty, t.product_qty_increments, t.product_is_qty_decimal)
      IS DISTINCT FROM
      (EXCLUDED.product_manage_stock, EXCLUDED.product_backorders,
       EXCLUDED.product_out_of_stock_threshold, EXCLUDED.product_notify_stock_qty,
       EXCLUDED.product_stock_threshold_qty, EXCLUDED.product_min_sale_qty,
       EXCLUDED.product_max_sale_qty, EXCLUDED.product_qty_increments,
       EXCLUDED.product_is_qty_decimal)
$$;

CREATE FUNCTION public.copy_source_items(stock_ids integer[], skus text[]) RETURNS void
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_custom_plan'
    AS $$
BEGIN
    INSERT INTO stock_sku (stock_id, sku)
    SELECT k.stock_id, k.sku FROM unnest(stock_ids, skus) AS k(stock_id, sku)
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM stock_sku t
    JOIN unnest(stock_ids, skus) AS k(stock_id, sku) ON t.stock_id = k.stock_id AND t.sku = k.sku
    ORDER BY t.stock_id, t.sku
    FOR UPDATE OF t;
    UPDATE stock_sku t SET
        item_sources = c.sources, item_quantities = c.quantities, item_statuses = c.statuses,
        item_backorders = c.backorders, item_thresholds = c.thresholds,
        item_notify_qtys = c.notify_qtys, item_restock_dates = c.restock_dates,
        item_restock_qtys = c.restock_qtys,
        product_manage_stock = p.manage_stock, product_backorders = p.backorders,
        product_out_of_stock_threshold = p.out_of_stock_threshold,
        product_notify_stock_qty = p.notify_stock_qty,
        product_stock_threshold_qty = p.stock_threshold_qty,
        product_min_sale_qty = p.min_sale_qty, product_max_sale_qty = p.max_sale_qty,
        product_qty_increments = p.qty_increments, product_is_qty_decimal = p.is_qty_decimal
    FROM unnest(stock_ids, skus) AS k(stock_id, sku)
    CROSS JOIN LATERAL linked_source_items(k.stock_id, k.sku) c
    LEFT JOIN product_settings p ON p.sku = k.sku
    WHERE t.stock_id = k.stock_id AND t.sku = k.sku
      AND (t.item_sources, t.item_quantities, t.item_statuses, t.item_backorders,
           t.item_thresholds, t.item_notify_qtys, t.item_restock_dates, t.item_restock_qtys,
           t.product_manage_stock, t.product_backorders, t.product_out_of_stock_threshold,
           t.product_notify_stock_qty, t.product_stock_threshold_qty, t.product_min_sale_qty,
           t.product_max_sale_qty, t.product_qty_increments, t.product_is_qty_decimal)
          IS DISTINCT FROM
          (c.sources, c.quantities, c.statuses, c.backorders, c.thresholds, c.notify_qtys,
           c.restock_dates, c.restock_qtys,
           p.manage_stock, p.backorders, p.out_of_stock_threshold, p.notify_stock_qty,
           p.stock_threshold_qty, p.min_sale_qty, p.max_sale_qty, p.qty_increments,
           p.is_qty_decimal);
END $$;

CREATE FUNCTION public.copy_source_items_of_changed_links() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM source s WHERE s.code IN (SELECT c.source_code FROM changed c)
    ORDER BY s.code FOR UPDATE;
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT c.stock_id, si.sku
          FROM changed c JOIN source_item si ON si.source_code = c.source_code) k;
    RETURN NULL;
END $$;

CREATE FUNCTION public.copy_updated_product_settings() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    LOCK TABLE stock IN SHARE MODE;
    PERFORM copy_product_settings((SELECT array_agg(ROW(c.*)::product_settings) FROM changed c),
                                  (SELECT array_agg(p.sku) FROM previous p));
    RETURN NULL;
END $$;

CREATE FUNCTION public.copy_updated_source_items() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM source s
    WHERE s.code IN (SELECT c.source_code FROM changed c
                     UNION SELECT p.source_code FROM previous p)
    ORDER BY s.code FOR KEY SHARE;
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT l.stock_id, c.sku
          FROM (SELECT source_code, sku FROM changed
                UNION SELECT source_code, sku FROM previous) c
          JOIN stock_source_link l ON l.source_code = c.source_code) k;
    RETURN NULL;
END $$;

CREATE FUNCTION public.linked_source_items(stock integer, item_sku text) RETURNS TABLE(sources text[], quantities numeric[], statuses text[], backorders text[], thresholds numeric[], notify_qtys numeric[], restock_dates date[], restock_qtys numeric[])
    LANGUAGE sql STABLE
    AS $$
SELECT array_agg(si.source_code ORDER BY si.source_code),
       array_agg(si.quantity ORDER BY si.source_code),
       array_agg(si.status ORDER BY si.source_code),
       CASE WHEN count(si.backorders) > 0
            THEN array_agg(si.backorders ORDER BY si.source_code) END,
       CASE WHEN count(si.out_of_stock_threshold) > 0
            THEN array_agg(si.out_of_stock_threshold ORDER BY si.source_code) END,
       CASE WHEN count(si.notify_stock_qty) > 0
            THEN array_agg(si.notify_stock_qty ORDER BY si.source_code) END,
       CASE WHEN count(si.restock_date) > 0
            THEN array_agg(si.restock_date ORDER BY si.source_code) END,
       CASE WHEN count(si.restock_qty) > 0
            THEN array_agg(si.restock_qty ORDER BY si.source_code) END
FROM stock_source_link l
JOIN source_item si ON si.source_code = l.source_code AND si.sku = item_sku
WHERE l.stock_id = stock
$$;

CREATE FUNCTION public.record_deleted_source_items() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO source_item_history (source_code, sku, quantity_before, quantity_after, reason,
        note, caller, reference, changed_at)
    SELECT o.source_code, o.sku, o.quantity, NULL, c.*
    FROM previous o CROSS JOIN source_item_change_context() c
    ORDER BY o.source_code, o.sku;
    RETURN NULL;
END $$;

CREATE FUNCTION public.record_inserted_source_items() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO source_item_history (source_code, sku, quantity_before, quantity_after, reason,
        note, caller, reference, changed_at)
    SELECT n.source_code, n.sku, NULL, n.quantity, c.*
    FROM changed n CROSS JOIN source_item_change_context() c
    ORDER BY n.source_code, n.sku;
    RETURN NULL;
END $$;

CREATE FUNCTION public.record_updated_source_items() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO source_item_history (source_code, sku, quantity_before, quantity_after, reason,
        note, caller, reference, changed_at)
    SELECT COALESCE(n.source_code, o.source_code), COALESCE(n.sku, o.sku), o.quantity,
           n.quantity, c.*
    FROM previous o
    FULL JOIN changed n ON n.source_code = o.source_code AND n.sku = o.sku
    CROSS JOIN source_item_change_context() c
    WHERE o.quantity IS DISTINCT FROM n.quantity
    ORDER BY 1, 2;
    RETURN NULL;
END $$;

CREATE FUNCTION public.source_item_change_context(OUT reason text, OUT note text, OUT caller text, OUT reference text, OUT changed_at timestamp with time zone) RETURNS record
    LANGUAGE sql STABLE
    AS $$
SELECT COALESCE(NULLIF(current_setting('stockd.change_reason', true), ''), 'UNRECORDED'),
       COALESCE(current_setting('stockd.change_note', true), ''),
       COALESCE(NULLIF(current_setting('stockd.change_caller', true), ''), 'db:' || session_user),
       COALESCE(current_setting('stockd.change_reference', true), ''),
       COALESCE(NULLIF(current_setting('stockd.change_time', true), '')::timestamptz, now())
$$;

CREATE TABLE public.cart_hold (
    cart_id text NOT NULL,
    stock_id integer NOT NULL,
    sku text NOT NULL,
    quantity numeric(16,4) NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT cart_hold_quantity_check CHECK ((quantity > (0)::numeric))
);

CREATE TABLE public.global_settings (
    singleton boolean DEFAULT true NOT NULL,
    manage_stock boolean DEFAULT true NOT NULL,
    backorders text DEFAULT 'NO'::text NOT NULL,
    out_of_stock_threshold numeric(16,4) DEFAULT 0 NOT NULL,
    notify_stock_qty numeric(16,4) DEFAULT 1 NOT NULL,
    stock_threshold_qty numeric(16,4) DEFAULT 0 NOT NULL,
    min_sale_qty numeric(16,4) DEFAULT 1 NOT NULL,
    max_sale_qty numeric(16,4) DEFAULT 10000 NOT NULL,
    qty_increments numeric(16,4) DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT global_settings_backorders_mode CHECK ((backorders = ANY (ARRAY['NO'::text, 'ALLOW'::text, 'ALLOW_NOTIFY'::text]))),
    CONSTRAINT global_settings_singleton CHECK (singleton)
);

CREATE TABLE public.order_cancellation (
    order_id text NOT NULL,
    cancellation_id text NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.order_cancellation_line (
    order_id text NOT NULL,
    cancellation_id text NOT NULL,
    sku text NOT NULL,
    quantity numeric(16,4) NOT NULL
);

CREATE TABLE public.order_line (
    order_id text NOT NULL,
    sku text NOT NULL,
    "position" integer NOT NULL,
    ordered numeric(16,4) NOT NULL,
    backordered numeric(16,4) DEFAULT 0 NOT NULL,
    shipped numeric(16,4) DEFAULT 0 NOT NULL,
    canceled numeric(16,4) DEFAULT 0 NOT NULL,
    returned numeric(16,4) DEFAULT 0 NOT NULL,
    reserved boolean NOT NULL,
    backorder_notice boolean DEFAULT false NOT NULL,
    restock_date date,
    restock_qty numeric(16,4),
    only_x_left numeric(16,4),
    CONSTRAINT order_line_open CHECK (((shipped >= (0)::numeric) AND (canceled >= (0)::numeric) AND ((shipped + canceled) <= ordered))),
    CONSTRAINT order_line_ordered_check CHECK ((ordered > (0)::numeric)),
    CONSTRAINT order_line_returned CHECK (((returned >= (0)::numeric) AND (returned <= shipped)))
);

CREATE TABLE public.order_return (
    return_id text NOT NULL,
    order_id text NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.order_return_line (
    return_id text NOT NULL,
    sku text NOT NULL,
    source_code text NOT NULL,
    quantity numeric(16,4) NOT NULL,
    back_to_stock boolean NOT NULL,
    CONSTRAINT order_return_line_quantity_check CHECK ((quantity > (0)::numeric))
);

CREATE TABLE public.page_token_key (
    only_row boolean DEFAULT true NOT NULL,
    secret bytea NOT NULL,
    CONSTRAINT page_token_key_only_row_check CHECK (only_row),
    CONSTRAINT page_token_key_secret_check CHECK ((length(secret) >= 32))
);

CREATE TABLE public.reservation (
    id bigint NOT NULL,
    stock_id integer NOT NULL,
    sku text NOT NULL,
    quantity numeric(16,4) NOT NULL,
    event text NOT NULL,
    order_id text NOT NULL,
    object_id text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT reservation_event CHECK ((event = ANY (ARRAY['ORDER_PLACED'::text, 'ORDER_CANCELED'::text, 'SHIPMENT_CREATED'::text, 'RETURNED'::text, 'MANUAL_COMPENSATION'::text])))
);

ALTER TABLE public.reservation ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.reservation_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.sales_channel (
    type text NOT NULL,
    code text NOT NULL,
    stock_id integer NOT NULL
);

CREATE TABLE public.sales_order (
    order_id text NOT NULL,
    stock_id integer NOT NULL,
    channel_type text NOT NULL,
    channel_code text NOT NULL,
    cart_id text,
    fingerprint text NOT NULL,
    status text DEFAULT 'OPEN'::text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    closed_at timestamp with time zone,
    compacted boolean DEFAULT false NOT NULL,
    CONSTRAINT sales_order_status_check CHECK ((status = ANY (ARRAY['OPEN'::text, 'CLOSED'::text])))
);

CREATE TABLE public.shipment (
    shipment_id text NOT NULL,
    order_id text NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.shipment_line (
    shipment_id text NOT NULL,
    sku text NOT NULL,
    source_code text NOT NULL,
    quantity numeric(16,4) NOT NULL,
    CONSTRAINT shipment_line_quantity_check CHECK ((quantity > (0)::numeric))
);

CREATE TABLE public.source (
    code text NOT NULL,
    name text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    country text DEFAULT ''::text NOT NULL,
    region text DEFAULT ''::text NOT NULL,
    city text DEFAULT ''::text NOT NULL,
    postcode text DEFAULT ''::text NOT NULL,
    street text DEFAULT ''::text NOT NULL,
    latitude double precision,
    longitude double precision,
    contact_name text DEFAULT ''::text NOT NULL,
    contact_email text DEFAULT ''::text NOT NULL,
    contact_phone text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT source_code_format CHECK ((code ~ '^[A-Za-z0-9_-]{1,64}$'::text)),
    CONSTRAINT source_location_complete CHECK (((latitude IS NULL) = (longitude IS NULL)))
);

CREATE TABLE public.source_item (
    source_code text NOT NULL,
    sku text NOT NULL,
    quantity numeric(16,4) NOT NULL,
    status text NOT NULL,
    backorders text,
    out_of_stock_threshold numeric(16,4),
    notify_stock_qty numeric(16,4),
    restock_date date,
    restock_qty numeric(16,4),
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT source_item_backorders_mode CHECK ((backorders = ANY (ARRAY['NO'::text, 'ALLOW'::text, 'ALLOW_NOTIFY'::text]))),
    CONSTRAINT source_item_status_value CHECK ((status = ANY (ARRAY['IN_STOCK'::text, 'OUT_OF_STOCK'::text])))
);

CREATE TABLE public.source_item_adjustment (
    idempotency_key text NOT NULL,
    fingerprint text NOT NULL,
    source_codes text[] DEFAULT '{}'::text[] NOT NULL,
    skus text[] DEFAULT '{}'::text[] NOT NULL,
    quantities_after numeric(16,4)[] DEFAULT '{}'::numeric[] NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE public.source_item_history (
    id bigint NOT NULL,
    source_code text NOT NULL,
    sku text NOT NULL,
    quantity_before numeric(16,4),
    quantity_after numeric(16,4),
    reason text NOT NULL,
    note text NOT NULL,
    caller text NOT NULL,
    reference text NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    CONSTRAINT source_item_history_change CHECK (((quantity_before IS NOT NULL) OR (quantity_after IS NOT NULL)))
);

ALTER TABLE public.source_item_history ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.source_item_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.stock (
    id integer NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.stock ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.stock_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.stock_sku (
    stock_id integer NOT NULL,
    sku text NOT NULL,
    reserved numeric(16,4) DEFAULT 0 NOT NULL,
    item_sources text[],
    item_quantities numeric(16,4)[],
    item_statuses text[],
    item_backorders text[],
    item_thresholds numeric(16,4)[],
    item_notify_qtys numeric(16,4)[],
    item_restock_dates date[],
    item_restock_qtys numeric(16,4)[],
    product_manage_stock boolean,
    product_backorders text,
    product_out_of_stock_threshold numeric(16,4),
    product_notify_stock_qty numeric(16,4),
    product_stock_threshold_qty numeric(16,4),
    product_min_sale_qty numeric(16,4),
    product_max_sale_qty numeric(16,4),
    product_qty_increments numeric(16,4),
    product_is_qty_decimal boolean
);

CREATE TABLE public.stock_source_link (
    stock_id integer NOT NULL,
    source_code text NOT NULL,
    priority integer NOT NULL,
    CONSTRAINT stock_source_link_priority_positive CHECK ((priority > 0))
);

ALTER TABLE ONLY public.cart_hold
    ADD CONSTRAINT cart_hold_pkey PRIMARY KEY (cart_id, stock_id, sku);

ALTER TABLE ONLY public.global_settings
    ADD CONSTRAINT global_settings_pkey PRIMARY KEY (singleton);

ALTER TABLE ONLY public.order_cancellation_line
    ADD CONSTRAINT order_cancellation_line_pkey PRIMARY KEY (order_id, cancellation_id, sku);

ALTER TABLE ONLY public.order_cancellation
    ADD CONSTRAINT order_cancellation_pkey PRIMARY KEY (order_id, cancellation_id);

ALTER TABLE ONLY public.order_line
    ADD CONSTRAINT order_line_pkey PRIMARY KEY (order_id, sku);

ALTER TABLE ONLY public.order_return_line
    ADD CONSTRAINT order_return_line_pkey PRIMARY KEY (return_id, sku, source_code);

ALTER TABLE ONLY public.order_return
    ADD CONSTRAINT order_return_pkey PRIMARY KEY (return_id);

ALTER TABLE ONLY public.page_token_key
    ADD CONSTRAINT page_token_key_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.product_settings
    ADD CONSTRAINT product_settings_pkey PRIMARY KEY (sku);

ALTER TABLE ONLY public.reservation
    ADD CONSTRAINT reservation_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.sales_channel
    ADD CONSTRAINT sales_channel_pkey PRIMARY KEY (type, code);

ALTER TABLE ONLY public.sales_order
    ADD CONSTRAINT sales_order_pkey PRIMARY KEY (order_id);

ALTER TABLE ONLY public.shipment_line
    ADD CONSTRAINT shipment_line_pkey PRIMARY KEY (shipment_id, sku, source_code);

ALTER TABLE ONLY public.shipment
    ADD CONSTRAINT shipment_pkey PRIMARY KEY (shipment_id);

ALTER TABLE ONLY public.source_item_adjustment
    ADD CONSTRAINT source_item_adjustment_pkey PRIMARY KEY (idempotency_key);

ALTER TABLE ONLY public.source_item_history
    ADD CONSTRAINT source_item_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.source_item
    ADD CONSTRAINT source_item_pkey PRIMARY KEY (source_code, sku);

ALTER TABLE ONLY public.source
    ADD CONSTRAINT source_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.stock
    ADD CONSTRAINT stock_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.stock_sku
    ADD CONSTRAINT stock_sku_pkey PRIMARY KEY (stock_id, sku);

ALTER TABLE ONLY public.stock_source_link
    ADD CONSTRAINT stock_source_link_pkey PRIMARY KEY (stock_id, source_code);

CREATE INDEX cart_hold_expiry_idx ON public.cart_hold USING btree (expires_at);

CREATE INDEX cart_hold_sku_idx ON public.cart_hold USING btree (stock_id, sku, expires_at) INCLUDE (quantity);

CREATE INDEX order_line_sku_idx ON public.order_line USING btree (sku);

CREATE INDEX reservation_order_idx ON public.reservation USING btree (order_id, id);

CREATE INDEX sales_channel_stock_idx ON public.sales_channel USING btree (stock_id);

CREATE INDEX sales_order_closed_idx ON public.sales_order USING btree (closed_at) WHERE (status = 'CLOSED'::text);

CREATE INDEX sales_order_compactable_idx ON public.sales_order USING btree (order_id) WHERE ((status = 'CLOSED'::text) AND (NOT compacted));

CREATE INDEX source_item_adjustment_created_at_idx ON public.source_item_adjustment USING btree (created_at);

CREATE INDEX source_item_history_changed_at_idx ON public.source_item_history USING btree (changed_at);

CREATE INDEX source_item_history_sku_idx ON public.source_item_history USING btree (sku, id);

CREATE INDEX source_item_history_source_idx ON public.source_item_history USING btree (source_code, id);

CREATE INDEX source_item_sku_idx ON public.source_item USING btree (sku, source_code);

CREATE INDEX stock_source_link_source_idx ON public.stock_source_link USING btree (source_code);

CREATE TRIGGER product_settings_deleted AFTER DELETE ON public.product_settings REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_inserted_or_deleted_product_settings();

CREATE TRIGGER product_settings_inserted AFTER INSERT ON public.product_settings REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_inserted_or_deleted_product_settings();

CREATE TRIGGER product_settings_updated AFTER UPDATE ON public.product_settings REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_updated_product_settings();

CREATE TRIGGER source_item_deleted AFTER DELETE ON public.source_item REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_changed_source_items();

CREATE TRIGGER source_item_history_deleted AFTER DELETE ON public.source_item REFERENCING OLD TABLE AS previous FOR EACH STATEMENT EXECUTE FUNCTION public.record_deleted_source_items();

CREATE TRIGGER source_item_history_inserted AFTER INSERT ON public.source_item REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.record_inserted_source_items();

CREATE TRIGGER source_item_history_updated AFTER UPDATE ON public.source_item REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.record_updated_source_items();

CREATE TRIGGER source_item_inserted AFTER INSERT ON public.source_item REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_changed_source_items();

CREATE TRIGGER source_item_updated AFTER UPDATE ON public.source_item REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_updated_source_items();

CREATE TRIGGER stock_source_link_deleted AFTER DELETE ON public.stock_source_link REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_source_items_of_changed_links();

CREATE TRIGGER stock_source_link_inserted AFTER INSERT ON public.stock_source_link REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION public.copy_source_items_of_changed_links();

ALTER TABLE ONLY public.cart_hold
    ADD CONSTRAINT cart_hold_stock_id_fkey FOREIGN KEY (stock_id) REFERENCES public.stock(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.order_cancellation_line
    ADD CONSTRAINT order_cancellation_line_order_id_cancellation_id_fkey FOREIGN KEY (order_id, cancellation_id) REFERENCES public.order_cancellation(order_id, cancellation_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.order_cancellation
    ADD CONSTRAINT order_cancellation_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.sales_order(order_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.order_line
    ADD CONSTRAINT order_line_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.sales_order(order_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.order_return_line
    ADD CONSTRAINT order_return_line_return_id_fkey FOREIGN KEY (return_id) REFERENCES public.order_return(return_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.order_return
    ADD CONSTRAINT order_return_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.sales_order(order_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.sales_channel
    ADD CONSTRAINT sales_channel_stock_fkey FOREIGN KEY (stock_id) REFERENCES public.stock(id);

ALTER TABLE ONLY public.sales_order
    ADD CONSTRAINT sales_order_stock_id_fkey FOREIGN KEY (stock_id) REFERENCES public.stock(id);

ALTER TABLE ONLY public.shipment_line
    ADD CONSTRAINT shipment_line_shipment_id_fkey FOREIGN KEY (shipment_id) REFERENCES public.shipment(shipment_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.shipment
    ADD CONSTRAINT shipment_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.sales_order(order_id) ON DELETE CASCADE;

ALTER TABLE ONLY public.source_item
    ADD CONSTRAINT source_item_source_fkey FOREIGN KEY (source_code) REFERENCES public.source(code);

ALTER TABLE ONLY public.stock_sku
    ADD CONSTRAINT stock_sku_stock_id_fkey FOREIGN KEY (stock_id) REFERENCES public.stock(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.stock_source_link
    ADD CONSTRAINT stock_source_link_source_fkey FOREIGN KEY (source_code) REFERENCES public.source(code);

ALTER TABLE ONLY public.stock_source_link
    ADD CONSTRAINT stock_source_link_stock_fkey FOREIGN KEY (stock_id) REFERENCES public.stock(id) ON DELETE CASCADE;

