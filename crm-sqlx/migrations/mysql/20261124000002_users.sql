-- Staff users (argon2id hashes only) and settings kept with the database.

CREATE TABLE users (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email         VARCHAR(100) NOT NULL,
    password_hash TEXT NOT NULL,
    role          VARCHAR(100) NOT NULL CHECK (role IN ('admin', 'manager', 'cashier', 'analyst')),
    created_at    DATETIME(6) NOT NULL,
    CONSTRAINT uq_users_email UNIQUE (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE app_settings (
    setting_key   VARCHAR(100) NOT NULL PRIMARY KEY,
    setting_value TEXT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
