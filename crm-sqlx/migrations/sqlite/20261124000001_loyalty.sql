-- Loyalty ledger, purchase history, merges and the outbox (SQLite).

ALTER TABLE customers ADD COLUMN merged_into INTEGER NULL;
ALTER TABLE customers ADD COLUMN merged_by TEXT NULL;
ALTER TABLE customers ADD COLUMN merged_at INTEGER NULL;

CREATE TABLE loyalty_accounts (
    customer_id     INTEGER NOT NULL PRIMARY KEY REFERENCES customers (id),
    balance         INTEGER NOT NULL DEFAULT 0,
    debt            INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0),
    lifetime_earned INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NULL
);

INSERT INTO loyalty_accounts (customer_id) SELECT id FROM customers;

CREATE TABLE loyalty_transactions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    transaction_type TEXT    NOT NULL CHECK (transaction_type IN ('EARN', 'REDEEM', 'EXPIRE', 'ADJUST', 'REVERSAL')),
    points           INTEGER NOT NULL,
    balance_after    INTEGER NOT NULL,
    reference_type   TEXT    NOT NULL,
    reference_id     TEXT    NOT NULL,
    transaction_date INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    CONSTRAINT uq_loyalty_reference UNIQUE (reference_type, reference_id)
);

CREATE INDEX idx_loyalty_customer ON loyalty_transactions (customer_id, transaction_date);
CREATE INDEX idx_loyalty_customer_id ON loyalty_transactions (customer_id, id);

CREATE TRIGGER trg_loyalty_transactions_no_update BEFORE UPDATE ON loyalty_transactions
BEGIN
    SELECT RAISE(ABORT, 'loyalty_transactions is append-only');
END;

CREATE TRIGGER trg_loyalty_transactions_no_delete BEFORE DELETE ON loyalty_transactions
BEGIN
    SELECT RAISE(ABORT, 'loyalty_transactions is append-only');
END;

CREATE TABLE loyalty_lots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL,
    points      INTEGER NOT NULL,
    remaining   INTEGER NOT NULL,
    earned_at   INTEGER NOT NULL,
    expires_at  INTEGER NULL,
    CHECK (remaining >= 0 AND remaining <= points)
);

CREATE INDEX idx_loyalty_lots_customer ON loyalty_lots (customer_id, expires_at);
CREATE INDEX idx_loyalty_lots_expiry ON loyalty_lots (expires_at);

CREATE TABLE loyalty_lot_allocations (
    entry_id INTEGER NOT NULL,
    lot_id   INTEGER NOT NULL,
    points   INTEGER NOT NULL,
    PRIMARY KEY (entry_id, lot_id)
) WITHOUT ROWID;

CREATE TABLE customer_purchase_history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    store_id        TEXT    NOT NULL,
    receipt_id      TEXT    NOT NULL,
    purchase_date   INTEGER NOT NULL,
    total_amount    TEXT    NOT NULL,
    refunded_amount TEXT    NOT NULL DEFAULT '0.00',
    currency        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    CONSTRAINT uq_purchase_receipt UNIQUE (store_id, receipt_id)
);

CREATE INDEX idx_purchase_customer ON customer_purchase_history (customer_id, purchase_date);

CREATE TABLE purchase_refunds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    purchase_id INTEGER NOT NULL REFERENCES customer_purchase_history (id),
    refund_id   TEXT    NOT NULL,
    amount      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    CONSTRAINT uq_purchase_refund UNIQUE (purchase_id, refund_id)
);

CREATE TABLE outbox_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type  TEXT    NOT NULL,
    customer_id INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
