-- The device a stage ran its models on (cpu | cuda; Stage.device()), and a note on what it chose to do
-- (a train stage that skipped a CUDA-only recipe on a machine without CUDA says so here).
ALTER TABLE stage_runs ADD COLUMN device VARCHAR DEFAULT 'cpu';
ALTER TABLE stage_runs ADD COLUMN notes VARCHAR;
