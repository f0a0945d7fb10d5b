-- Emulated tables for the storage scenario (README.md); rebuilt from the loaded catalogue.
DROP TABLE IF EXISTS emu_stock_sku, emu_order, emu_ledger;

-- One row per (stock, SKU): the totals, the product's settings and the linked source items.
CREATE TABLE emu_stock_sku AS
SELECT r.stock_id, r.sku, r.reserved, p.manage_stock, p.backorders, p.out_of_stock_threshold,
       p.min_sale_qty, p.max_sale_qty, p.qty_increments,
       i.codes, i.quantities, i.statuses, i.item_backorders, i.thresholds, i.notify, i.dates,
       i.restock, i.priorities, i.enabled
FROM stock_sku r
LEFT JOIN product_settings p ON p.sku = r.sku
LEFT JOIN LATERAL (
    SELECT array_agg(si.source_code) AS codes, array_agg(si.quantity) AS quantities,
           array_agg(si.status) AS statuses, array_agg(si.backorders) AS item_backorders,
           array_agg(si.out_of_stock_threshold) AS thresholds,
           array_agg(si.notify_stock_qty) AS notify, array_agg(si.restock_date) AS dates,
           array_agg(si.restock_qty) AS restock, array_agg(l.priority) AS priorities,
           array_agg(s.enabled) AS enabled
    FROM source_item si
    JOIN stock_source_link l ON l.source_code = si.source_code AND l.stock_id = r.stock_id
    JOIN source s ON s.code = si.source_code
    WHERE si.sku = r.sku
) i ON true
ORDER BY 1, 2;
ALTER TABLE emu_stock_sku ADD PRIMARY KEY (stock_id, sku);

-- An order as one row with its lines, indexed like the order table.
CREATE TABLE emu_order (LIKE sales_order INCLUDING ALL);
ALTER TABLE emu_order
    ADD FOREIGN KEY (stock_id) REFERENCES stock (id),
    ADD COLUMN skus text[] NOT NULL,
    ADD COLUMN ordered numeric[] NOT NULL,
    ADD COLUMN backordered numeric[] NOT NULL,
    ADD COLUMN reserved boolean[] NOT NULL,
    ADD COLUMN notices boolean[] NOT NULL,
    ADD COLUMN shipped numeric[],
    ADD COLUMN canceled numeric[],
    ADD COLUMN returned numeric[];

CREATE TABLE emu_ledger (LIKE reservation INCLUDING ALL);
CREATE INDEX emu_ledger_sku_idx ON emu_ledger (stock_id, sku);

VACUUM ANALYZE emu_stock_sku;
ANALYZE emu_order;
ANALYZE emu_ledger;
