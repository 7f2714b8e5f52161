-- Issue 5, compound figures: panels cut from JATS and PDF figures at their gutters
-- (pipeline.preprocess.subfigures), each with the subcaption aligned to it (pipeline.preprocess.subcaptions).
-- Every panel is also an image ref of its figure's kind (locator '<figure locator>/p<index>', text = its
-- subcaption or the whole caption), so clean and pair treat it like any figure.
CREATE TABLE preprocess_subfigures (
    ref_id VARCHAR PRIMARY KEY,         -- the panel's preprocess_image_refs row
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    parent_ref_id VARCHAR NOT NULL,     -- the whole figure's ref
    parent_image_id VARCHAR NOT NULL,   -- sha256 of the whole figure
    panel_index INTEGER NOT NULL,       -- reading order (rows top to bottom, left to right), 0-based
    image_id VARCHAR NOT NULL,          -- sha256 of the panel image
    x0 INTEGER NOT NULL,                -- bbox in the stored parent image's pixels, end exclusive
    y0 INTEGER NOT NULL,
    x1 INTEGER NOT NULL,
    y1 INTEGER NOT NULL,
    panel_key VARCHAR,                  -- 'a', 'b', ... or 'left', 'top right' when the caption aligned
    caption_scope VARCHAR NOT NULL,     -- panel: its subcaption | whole: the figure's whole caption
    has_label_glyph BOOLEAN NOT NULL,   -- a small high-contrast label box in the panel's top-left corner
    detector VARCHAR NOT NULL           -- gutter_xycut, or a learned detector's name
);

-- compound-figure panels only (NULL for every other pair): the caption scope and the whole figure
ALTER TABLE pair_image_texts ADD COLUMN caption_scope VARCHAR;
ALTER TABLE pair_image_texts ADD COLUMN parent_image_id VARCHAR;
