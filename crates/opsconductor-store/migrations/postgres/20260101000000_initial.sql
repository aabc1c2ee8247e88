-- The initial schema: segments, agents and their enrollment, jobs, runs with their chunks
-- and outbox, and results partitioned by day.
--
-- Status columns are text with CHECK constraints (not enums) so a new state is a one-line
-- migration that never rewrites a table.

CREATE TABLE segments (
    name       text PRIMARY KEY,
    cidrs      cidr[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    segment       text NOT NULL REFERENCES segments (name),
    version       text NOT NULL,
    capabilities  text[] NOT NULL DEFAULT '{}',
    -- Only the hash is kept: a database leak must not hand out agent identities.
    secret_sha256 bytea NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz,
    online        boolean NOT NULL DEFAULT false,
    heartbeat     jsonb
);

CREATE TABLE enrollment_tokens (
    token_sha256  bytea PRIMARY KEY,
    segment       text NOT NULL REFERENCES segments (name),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    -- No foreign key: the token row stays as an audit record if the agent is removed.
    used_by_agent uuid
);

CREATE TABLE jobs (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    version    bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    spec       jsonb NOT NULL,
    enabled    boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Status and trigger names are the serde names of opsconductor-core's RunStatus and
-- RunTrigger.
CREATE TABLE runs (
    id            uuid PRIMARY KEY,
    job_id        uuid NOT NULL REFERENCES jobs (id),
    job_version   bigint NOT NULL,
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'completed', 'cancelled', 'failed')),
    trigger       text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'catch_up')),
    scheduled_for timestamptz NOT NULL,
    -- Also the partition key of the run's results (copied onto every result row).
    created_at    timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    deadline_at   timestamptz NOT NULL,
    total         bigint NOT NULL CHECK (total >= 0),
    ok            bigint NOT NULL DEFAULT 0 CHECK (ok >= 0),
    warn          bigint NOT NULL DEFAULT 0 CHECK (warn >= 0),
    fail          bigint NOT NULL DEFAULT 0 CHECK (fail >= 0),
    error         bigint NOT NULL DEFAULT 0 CHECK (error >= 0),
    timeout       bigint NOT NULL DEFAULT 0 CHECK (timeout >= 0),
    reason        text,
    -- The job as it was when the run fired: later edits must not change what a run means.
    job_spec      jsonb NOT NULL
);

-- A stale scheduler leader must not fire the same schedule slot twice.
CREATE UNIQUE INDEX runs_one_per_schedule_slot ON runs (job_id, scheduled_for)
    WHERE trigger = 'schedule';
-- The deadline sweep and the active-run listing read only unfinished runs.
CREATE INDEX runs_active_by_deadline ON runs (deadline_at)
    WHERE status IN ('queued', 'running');

CREATE TABLE chunks (
    id           uuid PRIMARY KEY,
    run_id       uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    -- No foreign key: routing may name a segment no agent has enrolled in yet.
    segment      text NOT NULL,
    seq          integer NOT NULL CHECK (seq >= 0),
    targets      text[] NOT NULL,
    action_count integer NOT NULL CHECK (action_count >= 0),
    -- The protobuf ChunkWork message, published as is; opaque to the store.
    payload      bytea NOT NULL,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'published', 'running', 'done', 'dead', 'cancelled')),
    attempts     integer NOT NULL DEFAULT 0,
    agent_id     uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    finished_at  timestamptz,
    dead_reason  text,
    UNIQUE (run_id, seq)
);

-- The transactional outbox: a row per chunk still to be published. `claimed_until` is the
-- relay's lease, so two controllers do not publish the same chunk at the same time and a
-- relay that dies mid-publish does not strand its rows.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    chunk_id      uuid NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    segment       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz
);
CREATE INDEX outbox_by_chunk ON outbox (chunk_id);

-- Results are partitioned by the day their run was created, so retention drops whole
-- partitions instead of deleting rows. `run_created_at` is the same for every result of a
-- run, so the primary key is effectively (run, target, action index): a result delivered
-- twice collapses into one row. No foreign key to runs: the ingest path checks the run
-- itself, once per batch instead of once per row.
CREATE TABLE results (
    run_id         uuid NOT NULL,
    run_created_at timestamptz NOT NULL,
    -- Byte order ("C"): key comparisons are memcmp instead of locale-aware, which makes
    -- the primary key cheaper to maintain at ingest rates, and the order does not depend
    -- on the server's locale.
    target         text COLLATE "C" NOT NULL,
    action_index   integer NOT NULL CHECK (action_index >= 0),
    status         text NOT NULL CHECK (status IN ('ok', 'warn', 'fail', 'error', 'timeout')),
    started_at     timestamptz NOT NULL,
    duration_ms    double precision NOT NULL,
    -- NULL instead of an empty object/array: most results have no timings or rows.
    timings        jsonb,
    fields         jsonb,
    rows           jsonb,
    raw_excerpt    text,
    reason         text,
    agent_id       uuid,
    chunk_id       uuid,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, target, action_index, run_created_at)
) PARTITION BY RANGE (run_created_at);

-- Creates the partition holding results of runs created on `day` (UTC) unless it exists.
-- Returns true when it created it. The advisory lock serialises controllers creating the
-- same day at once, which CREATE TABLE IF NOT EXISTS alone does not.
CREATE FUNCTION oc_ensure_results_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'results_' || to_char(day, 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('opsconductor.results_partitions'));
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format(
        'CREATE TABLE %I PARTITION OF results FOR VALUES FROM (%L) TO (%L)',
        part,
        day::timestamp AT TIME ZONE 'UTC',
        (day + 1)::timestamp AT TIME ZONE 'UTC'
    );
    RETURN true;
END
$$;

-- Drops every daily results partition that ends at or before `cutoff` and returns the
-- names of the dropped tables.
CREATE FUNCTION oc_drop_results_partitions_before(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('opsconductor.results_partitions'));
    FOR part IN
        SELECT c.relname::text
        FROM pg_inherits AS i
        JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'results'::regclass
          AND c.relname ~ '^results_[0-9]{8}$'
          AND (to_date(substr(c.relname, 9), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC'
              <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END
$$;
