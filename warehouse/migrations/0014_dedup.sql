-- Issue 5: crop-robust near-duplicate search (pipeline/clean/dedup.py) and forum-text PII scrubbing.
-- Views: 0 = the whole image, 1-9 = a 3x3 grid of crops covering 92% of each side. The 64-bit hashes are
-- stored as BIGINT (the same bits read as signed two's complement).
ALTER TABLE clean_images ADD COLUMN dedup_phash BIGINT[];       -- pHash of each view
ALTER TABLE clean_images ADD COLUMN dedup_dhash BIGINT[];       -- dHash of each view
ALTER TABLE clean_texts ADD COLUMN pii_scrubbed INTEGER;        -- emails, phones, handles, URLs replaced (NULL: kind not scrubbed)
ALTER TABLE clean_texts ADD COLUMN language VARCHAR;            -- en | other (offline stopword check; NULL: not checked)
ALTER TABLE clean_texts ADD COLUMN translated_from VARCHAR;     -- the scrubbed original when the text was translated
