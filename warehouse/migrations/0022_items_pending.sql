-- Units an external service failed for (the LLM server down, a network outage) are neither output nor
-- rejects: nothing of them is committed, they stay pending and the next run retries them. A stage run with
-- such units ends `degraded` (its error says why) and the build exits non-zero.
ALTER TABLE stage_runs ADD COLUMN items_pending INTEGER DEFAULT 0;
