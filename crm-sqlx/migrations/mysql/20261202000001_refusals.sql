-- Business refusals remembered under their idempotency key (an idempotent
-- outcome is final): a replay answers the first refusal.
CREATE TABLE loyalty_refusals (
    id             BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    reference_type VARCHAR(40)   NOT NULL,
    reference_id   VARCHAR(255)  NOT NULL,
    customer_id    BIGINT        NOT NULL,
    operation      VARCHAR(16)   NOT NULL,
    points         BIGINT        NOT NULL,
    amount         DECIMAL(15,2) NULL,
    outcome        LONGTEXT      NOT NULL,
    created_at     DATETIME(6)   NOT NULL,
    CONSTRAINT uq_refusal_reference UNIQUE (reference_type, reference_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
