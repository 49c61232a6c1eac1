-- The audit trail: who changed what, written in the change's transaction.
-- Ids, amounts and field names only, never personal data.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  INTEGER NOT NULL,
    actor       TEXT    NULL,
    role        TEXT    NULL,
    action      TEXT    NOT NULL,
    customer_id INTEGER NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX ix_audit_customer ON audit_log (customer_id, id);
