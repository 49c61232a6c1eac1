-- Outbox events in commit order: `seq` is assigned just before commit from
-- the one `outbox_sequence` row (see `seal_events` in src/mysql.rs), so it
-- is gapless and in commit order; readers follow `seq`, not `id`.
ALTER TABLE outbox_events
    ADD COLUMN seq BIGINT NULL,
    ADD COLUMN tx_token BIGINT NULL;
UPDATE outbox_events SET seq = id;
CREATE UNIQUE INDEX uq_outbox_seq ON outbox_events (seq);
CREATE INDEX idx_outbox_token ON outbox_events (tx_token, seq);

CREATE TABLE outbox_sequence (
    id  TINYINT NOT NULL PRIMARY KEY,
    seq BIGINT  NOT NULL
) ENGINE = InnoDB;
INSERT INTO outbox_sequence (id, seq) SELECT 1, COALESCE(MAX(id), 0) FROM outbox_events;
