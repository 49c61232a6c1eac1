-- Where the last analytics fit placed each customer with purchases: what
-- the customer listing's segment and RFM-score filters read. Replaced at
-- every fit (rows of older fits are deleted after the new ones are in).
CREATE TABLE customer_segments (
    customer_id     INTEGER NOT NULL PRIMARY KEY,
    segment         TEXT    NOT NULL,
    recency_score   INTEGER NOT NULL,
    frequency_score INTEGER NOT NULL,
    monetary_score  INTEGER NOT NULL,
    generation      INTEGER NOT NULL
);
CREATE INDEX ix_segments_segment ON customer_segments (segment, customer_id);
CREATE INDEX ix_segments_cell ON customer_segments (recency_score, frequency_score, customer_id);
CREATE INDEX ix_segments_generation ON customer_segments (generation);
