-- Stage 6, train: external evaluation sets of a training run (what was evaluated and what was removed).
-- Their numbers go to train_metrics with split = the set's name and model_state = trained | untrained |
-- pretrained:<name>.
CREATE TABLE train_eval_sets (
    train_run_id VARCHAR NOT NULL,
    eval_set VARCHAR NOT NULL,          -- configured name, e.g. ham10000
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    layout VARCHAR NOT NULL,            -- ham10000 | pad-ufes-20 | fitzpatrick17k | derm7pt | csv | folder | daffodil | isic-json
    n_images INTEGER NOT NULL,          -- images evaluated (after dedup)
    n_classes INTEGER NOT NULL,
    n_missing INTEGER NOT NULL,         -- listed without an image file
    n_unreadable INTEGER NOT NULL,
    n_duplicates_removed INTEGER NOT NULL,  -- within the phash distance of a training image
    PRIMARY KEY (train_run_id, eval_set)
);
