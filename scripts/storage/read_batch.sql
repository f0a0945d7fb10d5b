-- One availability call: 50 random SKUs of SKU1..:skus (fewer when two draws collide).
SELECT array_agg(DISTINCT 'SKU' || (1 + floor(random() * :skus))::int) AS batch_skus FROM generate_series(1, 50) \gset
