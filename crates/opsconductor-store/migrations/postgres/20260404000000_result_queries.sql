-- Indexes for the result queries that the run-by-run shape (queries.rs) cannot serve,
-- sized by the REST benchmark (bench/src/bin/rest.rs; docs/BENCHMARKS.md, REST API).

-- One target across every job (a device's history): without it every partition is read
-- (≈ 0.8 s for 1,000,000 results). It costs ingest throughput (each result adds a key at
-- a random place in a second B-tree); the figure with it is in docs/BENCHMARKS.md. Its
-- order is the page's once the target is fixed, so a page is an index range.
CREATE INDEX results_by_target
    ON results (target, run_created_at DESC, run_id DESC, action_index);

-- A status other than ok within a run ("what failed"): without it a run of 5,000 results
-- is read to find its 200 failures. Partial, so the ok results (most of them) cost ingest
-- nothing here. Queries name the status as a literal so the planner can use it. The
-- partition key is in it so that it matches more of the per-run condition than the
-- primary key does, and the planner prefers it.
CREATE INDEX results_problems
    ON results (run_id, run_created_at, status, target, action_index)
    WHERE status <> 'ok';

-- The latest start of a run's results, kept by every result-writing statement: a time
-- range skips the runs that ended before it instead of reading each of their results.
ALTER TABLE runs ADD COLUMN last_result_at timestamptz;
UPDATE runs AS r SET last_result_at = m.last
FROM (SELECT run_id, max(started_at) AS last FROM results GROUP BY run_id) AS m
WHERE r.id = m.run_id;

-- Result time ranges are read run by run (the runs of the range, by `last_result_at`
-- and creation time, then each run's results by primary key), so the start-time index
-- of 20260402000000_api_indexes.sql serves nothing any more; worse, the planner picked it
-- inside the per-run page and then sorted whole runs.
DROP INDEX results_by_started_at;
