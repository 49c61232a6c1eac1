-- Customer communications: templates, the consent history, campaigns with
-- one row per recipient (claimed before a send, settled after it), and the
-- guide's communication log.
CREATE TABLE message_templates (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(120) NOT NULL,
    channel     VARCHAR(8) NOT NULL,
    locale      VARCHAR(8) NOT NULL,
    subject     VARCHAR(250) NULL,
    body_text   MEDIUMTEXT NOT NULL,
    body_html   MEDIUMTEXT NULL,
    created_by  VARCHAR(255) NULL,
    created_at  DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Append-only: the latest row per (customer, channel) decides.
CREATE TABLE consent_history (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id BIGINT NOT NULL,
    channel     VARCHAR(8) NOT NULL,
    granted     BOOLEAN NOT NULL,
    source      VARCHAR(64) NOT NULL,
    recorded_by VARCHAR(255) NULL,
    recorded_at DATETIME(6) NOT NULL,
    INDEX ix_consent_customer (customer_id, channel, id),
    CONSTRAINT fk_consent_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE campaigns (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name         VARCHAR(120) NOT NULL,
    template_id  BIGINT NOT NULL,
    channel      VARCHAR(8) NOT NULL,
    target       TEXT NOT NULL,
    quiet_hours  VARCHAR(8) NOT NULL,
    status       VARCHAR(16) NOT NULL,
    scheduled_at DATETIME(6) NULL,
    created_by   VARCHAR(255) NULL,
    created_at   DATETIME(6) NOT NULL,
    started_at   DATETIME(6) NULL,
    finished_at  DATETIME(6) NULL,
    INDEX ix_campaign_status (status, scheduled_at),
    CONSTRAINT fk_campaign_template FOREIGN KEY (template_id) REFERENCES message_templates (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE campaign_recipients (
    id                  BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    campaign_id         BIGINT NOT NULL,
    customer_id         BIGINT NOT NULL,
    channel             VARCHAR(8) NOT NULL,
    status              VARCHAR(16) NOT NULL,
    attempts            INT NOT NULL DEFAULT 0,
    next_attempt_at     DATETIME(6) NOT NULL,
    claim_id            VARCHAR(32) NULL,
    lease_until         DATETIME(6) NULL,
    reason              VARCHAR(500) NULL,
    provider_message_id VARCHAR(255) NULL,
    updated_at          DATETIME(6) NOT NULL,
    UNIQUE KEY uq_recipient (campaign_id, customer_id, channel),
    INDEX ix_recipient_due (status, next_attempt_at, id),
    INDEX ix_recipient_claim (claim_id),
    INDEX ix_recipient_progress (campaign_id, status),
    CONSTRAINT fk_recipient_campaign FOREIGN KEY (campaign_id) REFERENCES campaigns (id),
    CONSTRAINT fk_recipient_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE customer_communications (
    id                  BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id         BIGINT NOT NULL,
    channel             VARCHAR(8) NOT NULL,
    template_id         BIGINT NULL,
    campaign_id         BIGINT NULL,
    status              VARCHAR(16) NOT NULL,
    reason              VARCHAR(500) NULL,
    subject             VARCHAR(250) NULL,
    provider_message_id VARCHAR(255) NULL,
    sent_date           DATETIME(6) NOT NULL,
    -- The guide's index.
    INDEX idx_communication_date (customer_id, sent_date),
    CONSTRAINT fk_communication_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
