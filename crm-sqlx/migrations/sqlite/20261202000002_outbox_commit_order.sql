-- Shared insert SQL with MySQL; SQLite's ids are in commit order already,
-- so the column stays NULL.
ALTER TABLE outbox_events ADD COLUMN tx_token INTEGER;
