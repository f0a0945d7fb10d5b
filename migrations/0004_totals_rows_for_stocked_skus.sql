-- Every SKU a stock's sources hold gets its totals row ahead of its first order, so placing an
-- order finds and locks the row in one round trip (docs/reservations.md). Writes of source items
-- and new stock links create the rows from now on; this fills them in for existing catalogues.
INSERT INTO stock_sku_reservation (stock_id, sku)
SELECT DISTINCT l.stock_id, si.sku
FROM source_item si
JOIN stock_source_link l ON l.source_code = si.source_code
ORDER BY 1, 2
ON CONFLICT DO NOTHING;
