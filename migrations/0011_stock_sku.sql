-- The per-(stock, SKU) row holds more than the reservations' total now: copies of the SKU's
-- source items on the stock's sources (0005) and of the product's settings (0008). It is named
-- for what it holds: everything one stock knows about one SKU (the domain's `StockSku`).
ALTER TABLE stock_sku_reservation RENAME TO stock_sku;
ALTER TABLE stock_sku RENAME CONSTRAINT stock_sku_reservation_pkey TO stock_sku_pkey;
ALTER TABLE stock_sku RENAME CONSTRAINT stock_sku_reservation_stock_id_fkey
    TO stock_sku_stock_id_fkey;

-- PL/pgSQL bodies name tables by text: the two functions that write the row, as 0008 left them,
-- with the new name.
CREATE OR REPLACE FUNCTION copy_product_settings(written product_settings[], removed text[]) RETURNS void
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

CREATE OR REPLACE FUNCTION copy_source_items(stock_ids integer[], skus text[]) RETURNS void
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
