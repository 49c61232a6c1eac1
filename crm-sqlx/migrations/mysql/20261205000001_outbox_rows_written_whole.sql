-- Outbox rows are written whole. `seq` was NULL until the transaction
-- sealed its events, so every row grew by 8 bytes right after its insert
-- and InnoDB split the pages the inserts had just filled: about 290 bytes
-- per thin event where 120 do. It is now 0 until sealed (readers follow
-- `seq > last seen`, so an unsealed row is still never read), and the
-- sealing transaction finds its own rows through the `seq` index, which
-- makes the `(tx_token, seq)` index redundant. The sequence row keeps
-- `seq` unique, as before.
UPDATE outbox_events SET seq = 0 WHERE seq IS NULL;
ALTER TABLE outbox_events
    MODIFY seq BIGINT NOT NULL DEFAULT 0,
    DROP INDEX uq_outbox_seq,
    DROP INDEX idx_outbox_token,
    ADD INDEX idx_outbox_seq (seq);
