-- Resumable imports: each run's checkpoint (the last line of its file
-- done) and totals, saved in the same transaction as the batch it covers,
-- so a run cut off resumes without writing a row twice. Any server can
-- report on a run another one is doing.
CREATE TABLE import_runs (
    id         VARCHAR(100) NOT NULL PRIMARY KEY,
    kind       VARCHAR(20)  NOT NULL,
    source     VARCHAR(255) NOT NULL,
    status     VARCHAR(16)  NOT NULL,
    line       BIGINT       NOT NULL,
    detail     LONGTEXT     NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
