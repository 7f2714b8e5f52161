-- Stage 2, preprocess: how a compound-figure panel got its subcaption key: letter_read (the letter printed
-- on the panel, read by Tesseract), reading_order (lettered subcaptions dealt out row by row), position
-- ("left", "top right"); NULL when the panel keeps the whole caption.
ALTER TABLE preprocess_subfigures ADD COLUMN key_source VARCHAR;
