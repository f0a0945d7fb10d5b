-- One batch: 11 order ids, 33 distinct random SKUs of SKU1..:skus in order, each line's order and position.
\set tag random(1, 2000000000)
SELECT array_agg(sku) AS batch_skus, array_agg(order_id) AS line_orders, array_agg(position) AS positions, (SELECT array_agg('emu-' || :tag || '-' || i) FROM generate_series(0, 10) i) AS orders FROM (SELECT sku, 'emu-' || :tag || '-' || (row_number() OVER () % 11) AS order_id, (row_number() OVER ())::int AS position FROM (SELECT DISTINCT 'SKU' || (1 + floor(random() * :skus))::int AS sku FROM generate_series(1, 33)) d ORDER BY sku) x \gset
