-- Customer communications: templates, the consent history, campaigns with
-- one row per recipient (claimed before a send, settled after it), and the
-- guide's communication log.
CREATE TABLE message_templates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    locale      TEXT    NOT NULL,
    subject     TEXT    NULL,
    body_text   TEXT    NOT NULL,
    body_html   TEXT    NULL,
    created_by  TEXT    NULL,
    created_at  INTEGER NOT NULL
);

-- Append-only: the latest row per (customer, channel) decides.
CREATE TABLE consent_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    channel     TEXT    NOT NULL,
    granted     BOOLEAN NOT NULL,
    source      TEXT    NOT NULL,
    recorded_by TEXT    NULL,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX ix_consent_customer ON consent_history (customer_id, channel, id);

CREATE TABLE campaigns (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    template_id  INTEGER NOT NULL REFERENCES message_templates (id),
    channel      TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    quiet_hours  TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    scheduled_at INTEGER NULL,
    created_by   TEXT    NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER NULL,
    finished_at  INTEGER NULL
);
CREATE INDEX ix_campaign_status ON campaigns (status, scheduled_at);

CREATE TABLE campaign_recipients (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id         INTEGER NOT NULL REFERENCES campaigns (id),
    customer_id         INTEGER NOT NULL REFERENCES customers (id),
    channel             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    claim_id            TEXT    NULL,
    lease_until         INTEGER NULL,
    reason              TEXT    NULL,
    provider_message_id TEXT    NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (campaign_id, customer_id, channel)
);
CREATE INDEX ix_recipient_due ON campaign_recipients (status, next_attempt_at, id);
CREATE INDEX ix_recipient_claim ON campaign_recipients (claim_id);
CREATE INDEX ix_recipient_progress ON campaign_recipients (campaign_id, status);

CREATE TABLE customer_communications (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id         INTEGER NOT NULL REFERENCES customers (id),
    channel             TEXT    NOT NULL,
    template_id         INTEGER NULL,
    campaign_id         INTEGER NULL,
    status              TEXT    NOT NULL,
    reason              TEXT    NULL,
    subject             TEXT    NULL,
    provider_message_id TEXT    NULL,
    sent_date           INTEGER NOT NULL
);
-- The guide's index.
CREATE INDEX idx_communication_date ON customer_communications (customer_id, sent_date);
