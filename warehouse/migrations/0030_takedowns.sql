-- Takedowns and retractions (pipeline/takedowns.py). A request names an item by id (item id, or the source's own
-- id: a video id, a PMC id, a post id), by URL, or by sha256 (of a source file or of an image); every build syncs
-- them from the profile's `takedowns:` file. Before each stage plans, everything derived from a requested item or
-- image (and the pairs of its near-duplicates) is removed, and each removal is a row here with its reason.
-- The removed images' perceptual hashes and cluster rows are kept (clean_image_scores, clean_clusters): a later
-- near-duplicate joins their cluster and is removed too, so a taken-down picture does not come back reposted.
CREATE TABLE takedown_requests (
    kind VARCHAR NOT NULL,              -- id | url | sha256
    value VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,            -- as given: "owner request 2026-12-01", "retracted", ...
    requested_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, value)
);

CREATE TABLE takedown_removals (
    what VARCHAR NOT NULL,              -- item | image | pair
    key VARCHAR NOT NULL,               -- item_id, image_id or pair_id
    request_kind VARCHAR NOT NULL,
    request_value VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    via VARCHAR NOT NULL,               -- direct | item | near_duplicate
    run_id VARCHAR,
    removed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (what, key)
);
