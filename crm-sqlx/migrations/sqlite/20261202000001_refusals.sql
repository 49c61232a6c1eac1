-- Business refusals remembered under their idempotency key (an idempotent
-- outcome is final): a replay answers the first refusal.
CREATE TABLE loyalty_refusals (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    reference_type TEXT    NOT NULL,
    reference_id   TEXT    NOT NULL,
    customer_id    INTEGER NOT NULL,
    operation      TEXT    NOT NULL,
    points         INTEGER NOT NULL,
    amount         TEXT,
    outcome        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    CONSTRAINT uq_refusal_reference UNIQUE (reference_type, reference_id)
);
