-- The audit trail: who changed what, written in the change's transaction.
-- Ids, amounts and field names only, never personal data.
CREATE TABLE audit_log (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    created_at  DATETIME(6) NOT NULL,
    actor       VARCHAR(100) NULL,
    role        VARCHAR(20) NULL,
    action      VARCHAR(40) NOT NULL,
    customer_id BIGINT NULL,
    detail      TEXT NOT NULL,
    INDEX ix_audit_customer (customer_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
