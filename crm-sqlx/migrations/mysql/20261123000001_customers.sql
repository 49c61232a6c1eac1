-- Customers (MySQL 8 / MariaDB 10.11+).
-- Timestamps are DATETIME(6) in UTC; money is DECIMAL(15,2).

CREATE TABLE customer_code_sequences (
    prefix     CHAR(2) NOT NULL PRIMARY KEY,
    last_value BIGINT  NOT NULL DEFAULT 0
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO customer_code_sequences (prefix, last_value)
VALUES ('RT', 0), ('WS', 0), ('DS', 0), ('CP', 0);

CREATE TABLE customers (
    id            BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_code CHAR(10)      NOT NULL,
    name          VARCHAR(150)  NOT NULL,
    email         VARCHAR(100)  NULL,
    phone         VARCHAR(20)   NULL,
    customer_type VARCHAR(16)   NOT NULL,
    credit_limit  DECIMAL(15,2) NOT NULL DEFAULT 0,
    address_line1 VARCHAR(255)  NULL,
    address_line2 VARCHAR(255)  NULL,
    city          VARCHAR(100)  NULL,
    province      VARCHAR(100)  NULL,
    postal_code   VARCHAR(20)   NULL,
    country       CHAR(2)       NULL,
    birthday      DATE          NULL,
    is_active     TINYINT(1)    NOT NULL DEFAULT 1,
    version       BIGINT        NOT NULL DEFAULT 1,
    created_at    DATETIME(6)   NOT NULL,
    updated_at    DATETIME(6)   NOT NULL,
    -- The guide's duplicate-customer fix as real constraints: an email or phone
    -- is unique among *active* customers only (NULL for inactive rows, and
    -- unique indexes allow many NULLs).
    active_email  VARCHAR(100) AS (CASE WHEN is_active = 1 THEN email END) STORED,
    active_phone  VARCHAR(20)  AS (CASE WHEN is_active = 1 THEN phone END) STORED,
    CONSTRAINT uq_customer_code UNIQUE (customer_code),
    CONSTRAINT uq_customer_active_email UNIQUE (active_email),
    CONSTRAINT uq_customer_active_phone UNIQUE (active_phone),
    CONSTRAINT ck_customer_credit_limit CHECK (credit_limit >= 0),
    CONSTRAINT ck_customer_type CHECK (customer_type IN ('RETAIL', 'WHOLESALE', 'DISTRIBUTOR', 'CORPORATE'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The guide's indexes.
CREATE INDEX idx_customer_search ON customers (name, customer_code);
CREATE INDEX idx_customer_type ON customers (customer_type);
CREATE INDEX idx_customer_active ON customers (is_active);
-- Search by email/phone and range filters on creation time.
CREATE INDEX idx_customer_email ON customers (email);
CREATE INDEX idx_customer_phone ON customers (phone);
CREATE INDEX idx_customer_created ON customers (created_at);

CREATE TABLE customer_tags (
    customer_id BIGINT      NOT NULL,
    tag         VARCHAR(50) NOT NULL,
    PRIMARY KEY (customer_id, tag),
    CONSTRAINT fk_customer_tags_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE INDEX idx_customer_tag ON customer_tags (tag, customer_id);
