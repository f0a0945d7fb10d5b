-- Reservations (docs/reservations.md): the append-only ledger of order events, the per-(stock, SKU)
-- totals kept in the same transaction as every ledger row, cart holds with an expiry, and orders
-- tracked per line so every request can be validated and retried safely.

-- The materialised sum of the ledger per (stock, SKU). Its row is also the lock that makes
-- "check availability, then reserve" one atomic step.
CREATE TABLE stock_sku_reservation (
    stock_id integer NOT NULL REFERENCES stock (id) ON DELETE CASCADE,
    sku      text NOT NULL,
    reserved numeric(16,4) NOT NULL DEFAULT 0,
    PRIMARY KEY (stock_id, sku)
);

CREATE TABLE reservation (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stock_id    integer NOT NULL,
    sku         text NOT NULL,
    quantity    numeric(16,4) NOT NULL,
    event       text NOT NULL,
    order_id    text NOT NULL,
    object_id   text NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT reservation_event CHECK (event IN ('ORDER_PLACED', 'ORDER_CANCELED',
        'SHIPMENT_CREATED', 'RETURNED', 'MANUAL_COMPENSATION'))
);
CREATE INDEX reservation_order_idx ON reservation (order_id, id);

-- A cart's held lines. A hold counts while expires_at is in the future: no sweeper is needed for
-- it to stop counting; the sweeper only deletes expired rows.
CREATE TABLE cart_hold (
    cart_id    text NOT NULL,
    stock_id   integer NOT NULL REFERENCES stock (id) ON DELETE CASCADE,
    sku        text NOT NULL,
    quantity   numeric(16,4) NOT NULL CHECK (quantity > 0),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (cart_id, stock_id, sku)
);
CREATE INDEX cart_hold_sku_idx ON cart_hold (stock_id, sku, expires_at) INCLUDE (quantity);
CREATE INDEX cart_hold_expiry_idx ON cart_hold (expires_at);

CREATE TABLE sales_order (
    order_id     text PRIMARY KEY,
    stock_id     integer NOT NULL REFERENCES stock (id),
    channel_type text NOT NULL,
    channel_code text NOT NULL,
    cart_id      text,
    fingerprint  text NOT NULL,
    status       text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'CLOSED')),
    created_at   timestamptz NOT NULL,
    closed_at    timestamptz
);
CREATE INDEX sales_order_closed_idx ON sales_order (closed_at) WHERE status = 'CLOSED';

CREATE TABLE order_line (
    order_id         text NOT NULL REFERENCES sales_order (order_id) ON DELETE CASCADE,
    sku              text NOT NULL,
    position         integer NOT NULL,
    ordered          numeric(16,4) NOT NULL CHECK (ordered > 0),
    backordered      numeric(16,4) NOT NULL DEFAULT 0,
    shipped          numeric(16,4) NOT NULL DEFAULT 0,
    canceled         numeric(16,4) NOT NULL DEFAULT 0,
    returned         numeric(16,4) NOT NULL DEFAULT 0,
    -- False when the product did not manage stock: nothing was reserved, nothing to compensate.
    reserved         boolean NOT NULL,
    backorder_notice boolean NOT NULL DEFAULT false,
    restock_date     date,
    restock_qty      numeric(16,4),
    only_x_left      numeric(16,4),
    PRIMARY KEY (order_id, sku),
    CONSTRAINT order_line_open CHECK (shipped >= 0 AND canceled >= 0 AND shipped + canceled <= ordered),
    CONSTRAINT order_line_returned CHECK (returned >= 0 AND returned <= shipped)
);

CREATE TABLE order_cancellation (
    order_id        text NOT NULL REFERENCES sales_order (order_id) ON DELETE CASCADE,
    cancellation_id text NOT NULL,
    fingerprint     text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (order_id, cancellation_id)
);

CREATE TABLE order_cancellation_line (
    order_id        text NOT NULL,
    cancellation_id text NOT NULL,
    sku             text NOT NULL,
    quantity        numeric(16,4) NOT NULL,
    PRIMARY KEY (order_id, cancellation_id, sku),
    FOREIGN KEY (order_id, cancellation_id) REFERENCES order_cancellation ON DELETE CASCADE
);
CREATE INDEX order_line_sku_idx ON order_line (sku);
