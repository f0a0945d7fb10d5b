-- Orders and cart holds no longer declare a foreign key to their stock.
--
-- Every stock's orders and holds pointed at one `stock` row, and PostgreSQL checks a foreign key
-- by taking a key-share lock on the referenced row: with several order batches committing at once
-- that single row became a shared lock held by many transactions (a multixact), rebuilt on every
-- insert. Dropping the two keys raised checkout by a third on the benchmark machine
-- (BENCHMARKS.md). Nothing is lost in practice: stocks are never deleted (there is no such
-- operation), and the service inserts orders and holds only for a stock it has just resolved
-- from a sales channel or checked by id in the same transaction's reads
-- (docs/decisions/0005-no-foreign-key-to-the-stock-on-hot-paths.md).
ALTER TABLE sales_order DROP CONSTRAINT sales_order_stock_id_fkey;
ALTER TABLE cart_hold DROP CONSTRAINT cart_hold_stock_id_fkey;
