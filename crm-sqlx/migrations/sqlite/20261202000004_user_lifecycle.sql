-- Users can be disabled, and every change that ends a user's tokens
-- (disable, enable, role, password) raises its token version.
ALTER TABLE users ADD COLUMN is_active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
