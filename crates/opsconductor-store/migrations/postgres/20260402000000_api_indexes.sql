-- Indexes for the client API's list and results queries, sized by the REST benchmark
-- (bench/src/bin/rest.rs: 10,000 jobs, 1,000,000 results; figures in docs/BENCHMARKS.md).

-- No (target, …) index on results: it served "one target across every job" (83 ms →
-- 0.2 ms) but cost about 15 % of ingest throughput; a target within a job or run is fast
-- without it (docs/BENCHMARKS.md, REST API).

-- Result time ranges: without it every partition the range can touch (8 days of run
-- creation, see queries.rs) was read in full.
CREATE INDEX results_by_started_at ON results (started_at);

-- Job search (`text`: a case-insensitive substring of the name or description) read every
-- job's spec. Trigram indexes serve ILIKE '%…%'; pg_trgm is a trusted extension (any user
-- with CREATE on the database may install it) shipped with PostgreSQL.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX jobs_name_trgm ON jobs USING gin (name gin_trgm_ops);
CREATE INDEX jobs_description_trgm ON jobs USING gin ((spec ->> 'description') gin_trgm_ops);
