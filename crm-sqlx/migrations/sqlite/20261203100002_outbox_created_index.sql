-- The outbox retention prune finds the newest event older than the
-- retention by `created_at`: without an index it read the whole outbox.
CREATE INDEX idx_outbox_created ON outbox_events (created_at);
