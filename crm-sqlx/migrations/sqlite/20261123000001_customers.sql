-- Customers (SQLite 3.35+).
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC), so they sort
-- and compare exactly; money is TEXT holding an exact decimal ("1500000.50").

CREATE TABLE customer_code_sequences (
    prefix     TEXT    NOT NULL PRIMARY KEY,
    last_value INTEGER NOT NULL DEFAULT 0
);

INSERT INTO customer_code_sequences (prefix, last_value)
VALUES ('RT', 0), ('WS', 0), ('DS', 0), ('CP', 0);

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_code TEXT    NOT NULL COLLATE NOCASE,
    name          TEXT    NOT NULL COLLATE NOCASE,
    email         TEXT    NULL,
    phone         TEXT    NULL,
    customer_type TEXT    NOT NULL CHECK (customer_type IN ('RETAIL', 'WHOLESALE', 'DISTRIBUTOR', 'CORPORATE')),
    credit_limit  TEXT    NOT NULL DEFAULT '0.00',
    address_line1 TEXT    NULL,
    address_line2 TEXT    NULL,
    city          TEXT    NULL,
    province      TEXT    NULL,
    postal_code   TEXT    NULL,
    country       TEXT    NULL,
    birthday      TEXT    NULL,
    is_active     INTEGER NOT NULL DEFAULT 1,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CONSTRAINT uq_customer_code UNIQUE (customer_code)
);

-- The guide's duplicate-customer fix as real constraints: unique among active
-- customers only (partial indexes).
CREATE UNIQUE INDEX uq_customer_active_email ON customers (email) WHERE is_active = 1;
CREATE UNIQUE INDEX uq_customer_active_phone ON customers (phone) WHERE is_active = 1;

-- The guide's indexes (name is NOCASE, so LIKE 'prefix%' can use idx_customer_search).
CREATE INDEX idx_customer_search ON customers (name, customer_code);
CREATE INDEX idx_customer_type ON customers (customer_type);
CREATE INDEX idx_customer_active ON customers (is_active);
CREATE INDEX idx_customer_email ON customers (email);
CREATE INDEX idx_customer_phone ON customers (phone);
CREATE INDEX idx_customer_created ON customers (created_at);

CREATE TABLE customer_tags (
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    tag         TEXT    NOT NULL,
    PRIMARY KEY (customer_id, tag)
) WITHOUT ROWID;

CREATE INDEX idx_customer_tag ON customer_tags (tag, customer_id);
