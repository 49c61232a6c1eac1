-- Loyalty ledger, purchase history, merges and the outbox (MySQL 8 / MariaDB 10.11+).

ALTER TABLE customers
    ADD COLUMN merged_into BIGINT       NULL,
    ADD COLUMN merged_by   VARCHAR(100) NULL,
    ADD COLUMN merged_at   DATETIME(6)  NULL;

-- The maintained balance: one row per customer, locked (FOR UPDATE) by every
-- ledger operation on the customer and updated in the same transaction.
CREATE TABLE loyalty_accounts (
    customer_id     BIGINT      NOT NULL PRIMARY KEY,
    balance         BIGINT      NOT NULL DEFAULT 0,
    debt            BIGINT      NOT NULL DEFAULT 0,
    lifetime_earned BIGINT      NOT NULL DEFAULT 0,
    updated_at      DATETIME(6) NULL,
    CONSTRAINT fk_loyalty_accounts_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
    CONSTRAINT ck_loyalty_accounts_debt CHECK (debt >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO loyalty_accounts (customer_id) SELECT id FROM customers;

-- The guide's loyalty_transactions: append-only (triggers below refuse
-- UPDATE and DELETE); (reference_type, reference_id) is the idempotency key.
CREATE TABLE loyalty_transactions (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id      BIGINT       NOT NULL,
    transaction_type VARCHAR(10)  NOT NULL,
    points           BIGINT       NOT NULL,
    balance_after    BIGINT       NOT NULL,
    reference_type   VARCHAR(40)  NOT NULL,
    reference_id     VARCHAR(120) NOT NULL,
    transaction_date DATETIME(6)  NOT NULL,
    created_at       DATETIME(6)  NOT NULL,
    CONSTRAINT uq_loyalty_reference UNIQUE (reference_type, reference_id),
    CONSTRAINT fk_loyalty_transactions_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
    CONSTRAINT ck_loyalty_transaction_type CHECK (transaction_type IN ('EARN', 'REDEEM', 'EXPIRE', 'ADJUST', 'REVERSAL'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE INDEX idx_loyalty_customer ON loyalty_transactions (customer_id, transaction_date);
CREATE INDEX idx_loyalty_customer_id ON loyalty_transactions (customer_id, id);

CREATE TRIGGER trg_loyalty_transactions_no_update BEFORE UPDATE ON loyalty_transactions
FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'loyalty_transactions is append-only';

CREATE TRIGGER trg_loyalty_transactions_no_delete BEFORE DELETE ON loyalty_transactions
FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'loyalty_transactions is append-only';

-- Lots: points earned together with one expiry; a projection of the ledger.
CREATE TABLE loyalty_lots (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id BIGINT      NOT NULL,
    entry_id    BIGINT      NOT NULL,
    points      BIGINT      NOT NULL,
    remaining   BIGINT      NOT NULL,
    earned_at   DATETIME(6) NOT NULL,
    expires_at  DATETIME(6) NULL,
    CONSTRAINT ck_loyalty_lots_remaining CHECK (remaining >= 0 AND remaining <= points)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE INDEX idx_loyalty_lots_customer ON loyalty_lots (customer_id, expires_at);
CREATE INDEX idx_loyalty_lots_expiry ON loyalty_lots (expires_at);

-- Which lots each REDEEM / EXPIRE / REVERSAL entry took points from.
CREATE TABLE loyalty_lot_allocations (
    entry_id BIGINT NOT NULL,
    lot_id   BIGINT NOT NULL,
    points   BIGINT NOT NULL,
    PRIMARY KEY (entry_id, lot_id)
) ENGINE = InnoDB;

-- The guide's customer_purchase_history.
CREATE TABLE customer_purchase_history (
    id              BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id     BIGINT        NOT NULL,
    store_id        VARCHAR(40)   NOT NULL,
    receipt_id      VARCHAR(80)   NOT NULL,
    purchase_date   DATETIME(6)   NOT NULL,
    total_amount    DECIMAL(15,2) NOT NULL,
    refunded_amount DECIMAL(15,2) NOT NULL DEFAULT 0,
    currency        CHAR(3)       NOT NULL,
    created_at      DATETIME(6)   NOT NULL,
    CONSTRAINT uq_purchase_receipt UNIQUE (store_id, receipt_id),
    CONSTRAINT fk_purchase_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
    CONSTRAINT ck_purchase_refunded CHECK (refunded_amount >= 0 AND refunded_amount <= total_amount)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE INDEX idx_purchase_customer ON customer_purchase_history (customer_id, purchase_date);

CREATE TABLE purchase_refunds (
    id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    purchase_id BIGINT        NOT NULL,
    refund_id   VARCHAR(80)   NOT NULL,
    amount      DECIMAL(15,2) NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    CONSTRAINT uq_purchase_refund UNIQUE (purchase_id, refund_id),
    CONSTRAINT fk_refund_purchase FOREIGN KEY (purchase_id) REFERENCES customer_purchase_history (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Domain events, written in the transaction of the change they describe.
CREATE TABLE outbox_events (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_type  VARCHAR(32) NOT NULL,
    customer_id BIGINT      NOT NULL,
    payload     LONGTEXT    NOT NULL,
    created_at  DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
