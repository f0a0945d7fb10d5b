-- Fulfilment (docs/fulfilment.md): shipments deduct source stock and compensate the order's
-- reservation in one transaction; returns bring units back or write them off. Each is kept with
-- its request fingerprint so a retry returns the first answer.

CREATE TABLE shipment (
    shipment_id text PRIMARY KEY,
    order_id    text NOT NULL REFERENCES sales_order (order_id) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE shipment_line (
    shipment_id text NOT NULL REFERENCES shipment (shipment_id) ON DELETE CASCADE,
    sku         text NOT NULL,
    source_code text NOT NULL,
    quantity    numeric(16,4) NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, sku, source_code)
);

CREATE TABLE order_return (
    return_id   text PRIMARY KEY,
    order_id    text NOT NULL REFERENCES sales_order (order_id) ON DELETE CASCADE,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE order_return_line (
    return_id     text NOT NULL REFERENCES order_return (return_id) ON DELETE CASCADE,
    sku           text NOT NULL,
    source_code   text NOT NULL,
    quantity      numeric(16,4) NOT NULL CHECK (quantity > 0),
    back_to_stock boolean NOT NULL,
    PRIMARY KEY (return_id, sku, source_code)
);

-- Compaction removes a closed order's ledger rows all at once (they net to zero only together)
-- and marks the order, so later passes never look at it again.
ALTER TABLE sales_order ADD COLUMN compacted boolean NOT NULL DEFAULT false;
CREATE INDEX sales_order_compactable_idx ON sales_order (order_id)
    WHERE status = 'CLOSED' AND NOT compacted;
