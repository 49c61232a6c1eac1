-- Where the last analytics fit placed each customer with purchases: what
-- the customer listing's segment and RFM-score filters read. Replaced at
-- every fit (rows of older fits are deleted after the new ones are in).
CREATE TABLE customer_segments (
    customer_id     BIGINT NOT NULL PRIMARY KEY,
    segment         VARCHAR(20) NOT NULL,
    recency_score   TINYINT NOT NULL,
    frequency_score TINYINT NOT NULL,
    monetary_score  TINYINT NOT NULL,
    generation      BIGINT NOT NULL,
    INDEX ix_segments_segment (segment, customer_id),
    INDEX ix_segments_cell (recency_score, frequency_score, customer_id),
    INDEX ix_segments_generation (generation)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
