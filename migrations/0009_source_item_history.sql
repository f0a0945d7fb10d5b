-- Stock counts that survive a concurrent sync (docs/stock-counts.md): every change of a source
-- item's quantity is kept with why, who and when, and adjustments by delta are recorded under
-- their idempotency key so a retry answers the first result.

-- One row per change of one source item's quantity. No foreign keys: the history outlives the
-- items it describes, and a row written here takes no lock on any other table's rows.
CREATE TABLE source_item_history (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    source_code     text NOT NULL,
    sku             text NOT NULL,
    -- NULL: the change created the item.
    quantity_before numeric(16,4),
    -- NULL: the change deleted the item.
    quantity_after  numeric(16,4),
    -- RECEIVED, DAMAGED, … for adjustments; UPSERT, DELETE, SHIPMENT, RETURN for the other
    -- paths; UNRECORDED for a write made outside stockd.
    reason          text NOT NULL,
    note            text NOT NULL,
    -- The token's name; "anonymous" with authentication off; "db:<role>" outside stockd.
    caller          text NOT NULL,
    -- The adjustment's idempotency key, the shipment id or the return id.
    reference       text NOT NULL,
    changed_at      timestamptz NOT NULL,
    CONSTRAINT source_item_history_pkey PRIMARY KEY (id),
    CONSTRAINT source_item_history_change
        CHECK (quantity_before IS NOT NULL OR quantity_after IS NOT NULL)
);
CREATE INDEX source_item_history_source_idx ON source_item_history (source_code, id);
CREATE INDEX source_item_history_sku_idx ON source_item_history (sku, id);
-- The sweeper removes rows older than the retention period.
CREATE INDEX source_item_history_changed_at_idx ON source_item_history (changed_at);

-- Why the current transaction changes quantities: the transaction-local settings stockd's
-- repository sets before it writes (repo/history.rs), or a defined fallback for any other writer.
CREATE FUNCTION source_item_change_context(
    OUT reason text, OUT note text, OUT caller text, OUT reference text, OUT changed_at timestamptz)
LANGUAGE sql STABLE AS $$
SELECT COALESCE(NULLIF(current_setting('stockd.change_reason', true), ''), 'UNRECORDED'),
       COALESCE(current_setting('stockd.change_note', true), ''),
       COALESCE(NULLIF(current_setting('stockd.change_caller', true), ''), 'db:' || session_user),
       COALESCE(current_setting('stockd.change_reference', true), ''),
       COALESCE(NULLIF(current_setting('stockd.change_time', true), '')::timestamptz, now())
$$;

CREATE FUNCTION record_inserted_source_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO source_item_history (source_code, sku, quantity_before, quantity_after, reason,
        note, caller, reference, changed_at)
    SELECT n.source_code, n.sku, NULL, n.quantity, c.*
    FROM changed n CROSS JOIN source_item_change_context() c
    ORDER BY n.source_code, n.sku;
    RETURN NULL;
END $$;

-- Rows are paired by key; a key changed by hand reads as one item gone and another created.
-- Updates that leave the quantity alone (settings, status) are not quantity changes.
CREATE FUNCTION record_updated_source_items() RETURNS trigger
LANGUAGE plpgsql AS $$
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

CREATE FUNCTION record_deleted_source_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO source_item_history (source_code, sku, quantity_before, quantity_after, reason,
        note, caller, reference, changed_at)
    SELECT o.source_code, o.sku, o.quantity, NULL, c.*
    FROM previous o CROSS JOIN source_item_change_context() c
    ORDER BY o.source_code, o.sku;
    RETURN NULL;
END $$;

CREATE TRIGGER source_item_history_inserted AFTER INSERT ON source_item
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION record_inserted_source_items();
CREATE TRIGGER source_item_history_updated AFTER UPDATE ON source_item
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION record_updated_source_items();
CREATE TRIGGER source_item_history_deleted AFTER DELETE ON source_item
    REFERENCING OLD TABLE AS previous FOR EACH STATEMENT
    EXECUTE FUNCTION record_deleted_source_items();

-- An AdjustSourceItems call, kept under its idempotency key with the request's fingerprint and
-- what it answered: each item's quantity afterwards, as parallel arrays.
CREATE TABLE source_item_adjustment (
    idempotency_key  text NOT NULL,
    fingerprint      text NOT NULL,
    source_codes     text[] NOT NULL DEFAULT '{}',
    skus             text[] NOT NULL DEFAULT '{}',
    quantities_after numeric(16,4)[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    CONSTRAINT source_item_adjustment_pkey PRIMARY KEY (idempotency_key)
);
CREATE INDEX source_item_adjustment_created_at_idx ON source_item_adjustment (created_at);
