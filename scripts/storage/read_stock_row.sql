-- Availability from one row per (stock, SKU), then the cart holds (README.md).
SELECT t.*, g.manage_stock AS g_manage_stock, g.backorders AS g_backorders, g.out_of_stock_threshold AS g_threshold, g.min_sale_qty AS g_min, g.max_sale_qty AS g_max, g.qty_increments AS g_increments FROM emu_stock_sku t CROSS JOIN global_settings g WHERE t.stock_id = 1 AND t.sku = ANY(:batch_skus::text[]);
SELECT sku, SUM(quantity) AS held, MIN(expires_at) AS next_expiry FROM cart_hold WHERE stock_id = 1 AND sku = ANY(:batch_skus::text[]) AND expires_at > now() GROUP BY sku;
