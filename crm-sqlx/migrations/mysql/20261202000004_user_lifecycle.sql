-- Users can be disabled, and every change that ends a user's tokens
-- (disable, enable, role, password) raises its token version.
ALTER TABLE users
    ADD COLUMN is_active BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
