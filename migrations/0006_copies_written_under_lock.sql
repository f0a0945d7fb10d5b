-- The copies of migration 0005 computed before taking the rows' locks, and found the stocks that
-- link a source from the statement's snapshot. Under concurrency that left copies stale: two
-- transactions writing one SKU's items on different sources each wrote a copy that missed the
-- other's write, and a write racing a link change computed the copy for the links it saw
-- (decision 0008). Now a copy is computed only after its row is locked, in a statement of its
-- own, so it sees every write committed by whoever held the row before; and writers of a
-- source's items and changers of its links are ordered by a lock on the source row, so each
-- finds the links the other committed.

-- Locks the given (stock, SKU) rows in key order, creating missing ones, then rewrites their
-- copies from the source items as committed by then. Keys must be distinct. Its statements are
-- planned on every call: stockd's sessions prefer generic plans, and a generic plan cached while
-- the table was empty (a fresh install's first import) would scan it whole on every later call.
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
    -- A new statement, so a new snapshot: it sees what every earlier holder of these rows wrote.
    UPDATE stock_sku_reservation t SET
        item_sources = c.sources, item_quantities = c.quantities, item_statuses = c.statuses,
        item_backorders = c.backorders, item_thresholds = c.thresholds,
        item_notify_qtys = c.notify_qtys, item_restock_dates = c.restock_dates,
        item_restock_qtys = c.restock_qtys
    FROM unnest(stock_ids, skus) AS k(stock_id, sku)
    CROSS JOIN LATERAL linked_source_items(k.stock_id, k.sku) c
    WHERE t.stock_id = k.stock_id AND t.sku = k.sku
      AND (t.item_sources, t.item_quantities, t.item_statuses, t.item_backorders,
           t.item_thresholds, t.item_notify_qtys, t.item_restock_dates, t.item_restock_qtys)
          IS DISTINCT FROM
          (c.sources, c.quantities, c.statuses, c.backorders, c.thresholds, c.notify_qtys,
           c.restock_dates, c.restock_qtys);
END $$;

-- Writers of source items share their sources' rows; a link change takes them exclusively
-- (below). The stocks that link a source are read after that lock, in a new statement.
CREATE OR REPLACE FUNCTION copy_changed_source_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM source s WHERE s.code IN (SELECT c.source_code FROM changed c)
    ORDER BY s.code FOR KEY SHARE;
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT l.stock_id, c.sku
          FROM changed c JOIN stock_source_link l ON l.source_code = c.source_code) k;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION copy_updated_source_items() RETURNS trigger
LANGUAGE plpgsql AS $$
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

-- A link change waits for every transaction writing the source's items to finish and holds off
-- new ones until it commits: it copies every item written before it, and every write after it
-- finds the new links. stockd's link calls take this lock before writing the link, so two of
-- them never deadlock upgrading the share lock that the link's foreign key takes.
CREATE OR REPLACE FUNCTION copy_source_items_of_changed_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM source s WHERE s.code IN (SELECT c.source_code FROM changed c)
    ORDER BY s.code FOR UPDATE;
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT c.stock_id, si.sku
          FROM changed c JOIN source_item si ON si.source_code = c.source_code) k;
    RETURN NULL;
END $$;

-- Heal copies the race may have left stale.
SELECT copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
FROM (SELECT DISTINCT l.stock_id, si.sku
      FROM source_item si JOIN stock_source_link l ON l.source_code = si.source_code) k;
