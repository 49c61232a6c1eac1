-- Staff users (argon2id hashes only) and settings kept with the database.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'cashier', 'analyst')),
    created_at    INTEGER NOT NULL,
    CONSTRAINT uq_users_email UNIQUE (email)
);

CREATE TABLE app_settings (
    setting_key   TEXT NOT NULL PRIMARY KEY,
    setting_value TEXT NOT NULL
);
