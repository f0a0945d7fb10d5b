-- Each (stock, SKU) totals row carries a copy of the SKU's source items on the sources the stock
-- links, as parallel arrays in source-code order, so availability and orders read one row per
-- SKU instead of aggregating source items on every call (decision 0008). Triggers keep the copy
-- in the same transaction as every write of source items and of stock links, whatever path
-- writes them. Link priorities and source status stay where they are: they are read once per
-- call, and changing them does not rewrite a row per SKU.

ALTER TABLE stock_sku_reservation
    ADD COLUMN item_sources       text[],
    ADD COLUMN item_quantities    numeric(16,4)[],
    ADD COLUMN item_statuses      text[],
    ADD COLUMN item_backorders    text[],
    ADD COLUMN item_thresholds    numeric(16,4)[],
    ADD COLUMN item_notify_qtys   numeric(16,4)[],
    ADD COLUMN item_restock_dates date[],
    ADD COLUMN item_restock_qtys  numeric(16,4)[];

-- What the copy of (stock, SKU) must hold: the SKU's source items on the sources the stock links.
-- One row always; declared as a table so PostgreSQL inlines it into the statements that use it.
CREATE FUNCTION linked_source_items(stock integer, item_sku text)
RETURNS TABLE (sources text[], quantities numeric[], statuses text[], backorders text[],
    thresholds numeric[], notify_qtys numeric[], restock_dates date[], restock_qtys numeric[])
LANGUAGE sql STABLE AS $$
SELECT array_agg(si.source_code ORDER BY si.source_code),
       array_agg(si.quantity ORDER BY si.source_code),
       array_agg(si.status ORDER BY si.source_code),
       array_agg(si.backorders ORDER BY si.source_code),
       array_agg(si.out_of_stock_threshold ORDER BY si.source_code),
       array_agg(si.notify_stock_qty ORDER BY si.source_code),
       array_agg(si.restock_date ORDER BY si.source_code),
       array_agg(si.restock_qty ORDER BY si.source_code)
FROM stock_source_link l
JOIN source_item si ON si.source_code = l.source_code AND si.sku = item_sku
WHERE l.stock_id = stock
$$;

-- Rewrites the copies of the given (stock, SKU) pairs, creating missing totals rows. Keys must be
-- distinct; rows are written in key order, the order order batches lock them in, so a write of
-- source items never deadlocks with orders. A row whose copy is unchanged is not rewritten.
CREATE FUNCTION copy_source_items(stock_ids integer[], skus text[]) RETURNS void
LANGUAGE sql AS $$
INSERT INTO stock_sku_reservation AS t (stock_id, sku, item_sources, item_quantities,
    item_statuses, item_backorders, item_thresholds, item_notify_qtys, item_restock_dates,
    item_restock_qtys)
SELECT k.stock_id, k.sku, c.* FROM unnest(stock_ids, skus) AS k(stock_id, sku)
CROSS JOIN LATERAL linked_source_items(k.stock_id, k.sku) c
ORDER BY k.stock_id, k.sku
ON CONFLICT (stock_id, sku) DO UPDATE SET
    item_sources = EXCLUDED.item_sources, item_quantities = EXCLUDED.item_quantities,
    item_statuses = EXCLUDED.item_statuses, item_backorders = EXCLUDED.item_backorders,
    item_thresholds = EXCLUDED.item_thresholds, item_notify_qtys = EXCLUDED.item_notify_qtys,
    item_restock_dates = EXCLUDED.item_restock_dates,
    item_restock_qtys = EXCLUDED.item_restock_qtys
WHERE (t.item_sources, t.item_quantities, t.item_statuses, t.item_backorders, t.item_thresholds,
       t.item_notify_qtys, t.item_restock_dates, t.item_restock_qtys)
      IS DISTINCT FROM
      (EXCLUDED.item_sources, EXCLUDED.item_quantities, EXCLUDED.item_statuses,
       EXCLUDED.item_backorders, EXCLUDED.item_thresholds, EXCLUDED.item_notify_qtys,
       EXCLUDED.item_restock_dates, EXCLUDED.item_restock_qtys)
$$;

-- Source items written or deleted: their SKUs in every stock that links their source.
CREATE FUNCTION copy_changed_source_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT l.stock_id, c.sku
          FROM changed c JOIN stock_source_link l ON l.source_code = c.source_code) k;
    RETURN NULL;
END $$;

-- Source items updated, including the rare update of a key by hand: old and new SKUs both.
CREATE FUNCTION copy_updated_source_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT l.stock_id, c.sku
          FROM (SELECT source_code, sku FROM changed
                UNION SELECT source_code, sku FROM previous) c
          JOIN stock_source_link l ON l.source_code = c.source_code) k;
    RETURN NULL;
END $$;

-- Links added or removed: every SKU the source holds, in that stock.
CREATE FUNCTION copy_source_items_of_changed_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
    FROM (SELECT DISTINCT c.stock_id, si.sku
          FROM changed c JOIN source_item si ON si.source_code = c.source_code) k;
    RETURN NULL;
END $$;

CREATE TRIGGER source_item_inserted AFTER INSERT ON source_item
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_changed_source_items();
CREATE TRIGGER source_item_updated AFTER UPDATE ON source_item
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_updated_source_items();
CREATE TRIGGER source_item_deleted AFTER DELETE ON source_item
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_changed_source_items();
CREATE TRIGGER stock_source_link_inserted AFTER INSERT ON stock_source_link
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_source_items_of_changed_links();
CREATE TRIGGER stock_source_link_deleted AFTER DELETE ON stock_source_link
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION copy_source_items_of_changed_links();

-- Existing catalogues: copy every linked source item once.
SELECT copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
FROM (SELECT DISTINCT l.stock_id, si.sku
      FROM source_item si JOIN stock_source_link l ON l.source_code = si.source_code) k;
