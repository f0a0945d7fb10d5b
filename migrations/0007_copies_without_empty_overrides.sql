-- Most source items override none of their settings, yet each copy carried five arrays of NULLs,
-- half of its row. An override column whose items all use the default is now copied as NULL:
-- the row of a SKU that overrides nothing is about half as large, and so is what every order
-- writes when it updates the row's total (decision 0008).
CREATE OR REPLACE FUNCTION linked_source_items(stock integer, item_sku text)
RETURNS TABLE (sources text[], quantities numeric[], statuses text[], backorders text[],
    thresholds numeric[], notify_qtys numeric[], restock_dates date[], restock_qtys numeric[])
LANGUAGE sql STABLE AS $$
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

SELECT copy_source_items(array_agg(k.stock_id), array_agg(k.sku))
FROM (SELECT DISTINCT l.stock_id, si.sku
      FROM source_item si JOIN stock_source_link l ON l.source_code = si.source_code) k;
