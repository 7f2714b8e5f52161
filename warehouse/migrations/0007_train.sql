-- Stage 6, train: the Derm1M-format export, its split, and the validation model's results.
CREATE TABLE train_exports (
    export_id VARCHAR PRIMARY KEY,      -- fingerprint of the exported rows and the train config
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    out_dir VARCHAR NOT NULL,
    n_train INTEGER NOT NULL,
    n_validation INTEGER NOT NULL,
    n_images INTEGER NOT NULL,
    n_shards INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE train_splits (
    export_id VARCHAR NOT NULL,
    pair_id VARCHAR NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    split VARCHAR NOT NULL,             -- train | validation
    filename VARCHAR NOT NULL,
    group_id VARCHAR NOT NULL,          -- source item: never on both sides
    cluster_id VARCHAR NOT NULL,        -- near-duplicate cluster: never on both sides
    PRIMARY KEY (export_id, pair_id)
);

CREATE TABLE train_runs (
    train_run_id VARCHAR PRIMARY KEY,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    export_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    epochs INTEGER NOT NULL,
    batch_size INTEGER NOT NULL,
    lr DOUBLE NOT NULL,
    n_train INTEGER NOT NULL,
    n_params BIGINT NOT NULL,
    seconds DOUBLE NOT NULL,
    images_per_s DOUBLE NOT NULL,
    checkpoint VARCHAR NOT NULL
);

CREATE TABLE train_epochs (
    train_run_id VARCHAR NOT NULL,
    epoch INTEGER NOT NULL,
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    loss DOUBLE NOT NULL,
    PRIMARY KEY (train_run_id, epoch)
);

CREATE TABLE train_metrics (
    train_run_id VARCHAR NOT NULL,
    model_state VARCHAR NOT NULL,       -- trained | untrained
    split VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,            -- zero_shot_top1, i2t_R@1, ...
    unit_key VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    PRIMARY KEY (train_run_id, model_state, split, metric)
);
