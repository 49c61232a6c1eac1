-- Resumable imports: each run's checkpoint (the last line of its file
-- done) and totals, saved in the same transaction as the batch it covers,
-- so a run cut off resumes without writing a row twice.
CREATE TABLE import_runs (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    line       INTEGER NOT NULL,
    detail     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
