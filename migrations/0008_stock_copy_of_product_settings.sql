-- Each (stock, SKU) row now carries the product's settings beside its copy of source items, so
-- availability and orders read one row per SKU instead of two lookups (decision 0009). Writers of
-- product settings copy them into the SKU's row in every stock; the copy function of migration
-- 0006 fills them into the rows it creates or rewrites.

ALTER TABLE stock_sku_reservation
    ADD COLUMN product_manage_stock           boolean,
    ADD COLUMN product_backorders             text,
    ADD COLUMN product_out_of_stock_threshold numeric(16,4),
    ADD COLUMN product_notify_stock_qty       numeric(16,4),
    ADD COLUMN product_stock_threshold_qty    numeric(16,4),
    ADD COLUMN product_min_sale_qty           numeric(16,4),
    ADD COLUMN product_max_sale_qty           numeric(16,4),
    ADD COLUMN product_qty_increments         numeric(16,4),
    ADD COLUMN product_is_qty_decimal         boolean;

-- As in 0006: lock the rows in key order, creating missing ones, then rewrite what they copy in a
-- statement of its own, which sees every write committed by whoever held a row before. The
-- product's settings are copied from the same statement.
CREATE OR REPLACE FUNCTION copy_source_items(stock_ids integer[], skus text[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    INSERT INTO stock_sku_reservation (stock_id, sku)
    SELECT k.stock_id, k.sku FROM unnest(stock_ids, skus) AS k(stock_id, sku)
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM stock_sku_reservation t
    JOIN unnest(stock_ids, skus) AS k(stock_id, sku) ON t.stock_id = k.stock_id AND t.sku = k.sku
    ORDER BY t.stock_id, t.sku
    FOR UPDATE OF t;
    UPDATE stock_sku_reservation t SET
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

-- Writes the given product settings into their SKUs' rows in every stock, creating missing rows,
-- and clears the settings of `removed` SKUs that are not among them. The values are the writer's
-- own, not read from a snapshot, so a row needs no lock before they are computed: two writers of
-- one SKU are ordered by its `product_settings` row, and a row another transaction creates
-- meanwhile (an import, an order's first line) is either waited for by this insert, or finds
-- this one's row and copies the settings after locking it. Rows are written in key order, the
-- order order batches lock them in.
CREATE FUNCTION copy_product_settings(written product_settings[], removed text[]) RETURNS void
LANGUAGE sql AS $$
INSERT INTO stock_sku_reservation AS t (stock_id, sku, product_manage_stock, product_backorders,
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

-- The stocks are read after a lock that waits for stocks being created or removed and holds new
-- ones off until the write commits: a stock the write did not see cannot get a row copied before
-- the write is visible. A product without settings has no row in `product_settings` and NULLs in
-- every copy, so inserting or deleting a row that sets nothing changes no copy and is skipped.
CREATE FUNCTION copy_inserted_or_deleted_product_settings() RETURNS trigger
LANGUAGE plpgsql AS $$
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

CREATE FUNCTION copy_updated_product_settings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE stock IN SHARE MODE;
    PERFORM copy_product_settings((SELECT array_agg(ROW(c.*)::product_settings) FROM changed c),
                                  (SELECT array_agg(p.sku) FROM previous p));
    RETURN NULL;
END $$;

CREATE TRIGGER product_settings_inserted AFTER INSERT ON product_settings
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_inserted_or_deleted_product_settings();
CREATE TRIGGER product_settings_updated AFTER UPDATE ON product_settings
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_updated_product_settings();
CREATE TRIGGER product_settings_deleted AFTER DELETE ON product_settings
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_inserted_or_deleted_product_settings();

-- Existing catalogues: every product's settings into its rows.
SELECT copy_product_settings(array_agg(p), '{}') FROM product_settings p;
