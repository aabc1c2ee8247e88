-- The SQLite schema of standalone mode: the tables, keys and rules of the PostgreSQL schema
-- (migrations/postgres, where the reasons for each are written down) in SQLite's terms.
--
-- Representation (src/sqlite/mod.rs): ids are 16-byte BLOB UUIDs; times are TEXT, RFC 3339
-- in UTC with six fractional digits (`2026-05-01T12:00:00.123456Z`), fixed width so that
-- text order is time order; JSON documents and arrays are TEXT; booleans INTEGER 0 / 1.
-- The store writes every time itself, so no column has a SQL time default (SQLite's own
-- `CURRENT_TIMESTAMP` has another form, which would not compare with ours).
--
-- Tables are STRICT: a value of the wrong type is refused, not stored.

CREATE TABLE segments (
    name       TEXT PRIMARY KEY,
    -- JSON array of CIDR strings.
    cidrs      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(cidrs)),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE agents (
    id            BLOB PRIMARY KEY,
    name          TEXT NOT NULL,
    segment       TEXT NOT NULL REFERENCES segments (name),
    version       TEXT NOT NULL,
    -- JSON array of action kinds.
    capabilities  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(capabilities)),
    secret_sha256 BLOB NOT NULL,
    registered_at TEXT NOT NULL,
    last_seen_at  TEXT,
    online        INTEGER NOT NULL DEFAULT 0,
    heartbeat     TEXT,
    revoked_at    TEXT
) STRICT;

CREATE TABLE enrollment_tokens (
    token_sha256  BLOB PRIMARY KEY,
    segment       TEXT NOT NULL REFERENCES segments (name),
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT,
    used_by_agent BLOB
) STRICT;

CREATE TABLE jobs (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    version    INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    spec       TEXT NOT NULL CHECK (json_valid(spec)),
    enabled    INTEGER NOT NULL,
    -- Dry-run vehicles, left out of job lists.
    hidden     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE runs (
    id             BLOB PRIMARY KEY,
    job_id         BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    job_version    INTEGER NOT NULL,
    status         TEXT NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'completed', 'cancelled', 'failed')),
    trigger        TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'catch_up')),
    scheduled_for  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    finished_at    TEXT,
    deadline_at    TEXT NOT NULL,
    total          INTEGER NOT NULL CHECK (total >= 0),
    ok             INTEGER NOT NULL DEFAULT 0 CHECK (ok >= 0),
    warn           INTEGER NOT NULL DEFAULT 0 CHECK (warn >= 0),
    fail           INTEGER NOT NULL DEFAULT 0 CHECK (fail >= 0),
    error          INTEGER NOT NULL DEFAULT 0 CHECK (error >= 0),
    timeout        INTEGER NOT NULL DEFAULT 0 CHECK (timeout >= 0),
    reason         TEXT,
    job_spec       TEXT NOT NULL,
    -- The latest start of the run's results (bounds time-range reads).
    last_result_at TEXT,
    -- When retention deleted the run's results: results arriving later are refused, as on
    -- PostgreSQL, whose partition for them is gone.
    results_dropped_at TEXT
) STRICT;

-- A stale scheduler must not fire the same schedule slot twice (on time or caught up).
CREATE UNIQUE INDEX runs_one_per_schedule_slot ON runs (job_id, scheduled_for)
    WHERE trigger IN ('schedule', 'catch_up');
CREATE INDEX runs_active_by_deadline ON runs (deadline_at)
    WHERE status IN ('queued', 'running');
CREATE INDEX runs_active_by_job ON runs (job_id)
    WHERE status IN ('queued', 'running');
CREATE INDEX runs_by_job_newest ON runs (job_id, created_at DESC, id DESC);
CREATE INDEX runs_newest ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE chunks (
    id           BLOB PRIMARY KEY,
    run_id       BLOB NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    segment      TEXT NOT NULL,
    seq          INTEGER NOT NULL CHECK (seq >= 0),
    -- JSON array of target strings.
    targets      TEXT NOT NULL CHECK (json_valid(targets)),
    action_count INTEGER NOT NULL CHECK (action_count >= 0),
    payload      BLOB NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'published', 'running', 'done', 'dead', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    agent_id     BLOB,
    created_at   TEXT NOT NULL,
    published_at TEXT,
    finished_at  TEXT,
    dead_reason  TEXT,
    UNIQUE (run_id, seq)
) STRICT;

-- The transactional outbox. AUTOINCREMENT: an id is never handed out twice, so a relay
-- holding a claimed id cannot mark another chunk's row published.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id      BLOB NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    segment       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    claimed_until TEXT
) STRICT;
CREATE INDEX outbox_by_chunk ON outbox (chunk_id);

-- One row per (run, target, action index): a result delivered twice collapses into one.
-- Clustered on that key (WITHOUT ROWID), so a run's results are one range in key order.
-- Text compares bytewise, as PostgreSQL's COLLATE "C" column does.
CREATE TABLE results (
    run_id       BLOB NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    target       TEXT NOT NULL,
    action_index INTEGER NOT NULL CHECK (action_index >= 0),
    status       TEXT NOT NULL CHECK (status IN ('ok', 'warn', 'fail', 'error', 'timeout')),
    started_at   TEXT NOT NULL,
    duration_ms  REAL NOT NULL,
    -- NULL instead of an empty object / array.
    timings      TEXT,
    fields       TEXT,
    rows         TEXT,
    raw_excerpt  TEXT,
    reason       TEXT,
    agent_id     BLOB,
    chunk_id     BLOB,
    stored_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, target, action_index)
) STRICT, WITHOUT ROWID;
-- One target across every job.
CREATE INDEX results_by_target ON results (target);

-- The watermark the scheduler leader hands over (see the PostgreSQL scheduler migration).
CREATE TABLE scheduler_state (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    checked_until TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE job_templates (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    spec        TEXT NOT NULL CHECK (json_valid(spec)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE settings (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    version    INTEGER NOT NULL DEFAULT 1,
    document   TEXT NOT NULL CHECK (json_valid(document)),
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE library_entries (
    kind       TEXT NOT NULL CHECK (kind IN ('commands', 'parsers', 'target_sources')),
    id         TEXT NOT NULL,
    document   TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;

CREATE TABLE credentials (
    id                BLOB PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL CHECK (kind IN ('snmp_community', 'snmp_v3', 'ssh_password',
                                                    'ssh_key', 'http_basic', 'http_bearer')),
    description       TEXT NOT NULL DEFAULT '',
    version           INTEGER NOT NULL DEFAULT 1,
    nonce             BLOB NOT NULL CHECK (length(nonce) = 12),
    sealed            BLOB NOT NULL,
    key_id            TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    secret_updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE ssh_host_keys (
    id                  BLOB PRIMARY KEY,
    host                TEXT NOT NULL,
    port                INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    algorithm           TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    first_seen_by       BLOB,
    last_seen_at        TEXT NOT NULL,
    refused_algorithm   TEXT,
    refused_fingerprint TEXT,
    refused_at          TEXT,
    UNIQUE (host, port)
) STRICT;

CREATE TABLE users (
    id                  BLOB PRIMARY KEY,
    username            TEXT NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    -- The name in lower case (Rust's Unicode lowering; SQLite's lower() knows only ASCII):
    -- names are unique regardless of case, as PostgreSQL's index on lower(username) makes
    -- them.
    username_key        TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL DEFAULT '',
    role                TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash       TEXT NOT NULL,
    disabled            INTEGER NOT NULL DEFAULT 0,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    last_login_at       TEXT
) STRICT;

CREATE TABLE auth_sessions (
    id             BLOB PRIMARY KEY,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    refreshed_at   TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT,
    address        TEXT,
    user_agent     TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY,
    session_id  BLOB NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    replaced_at TEXT
) STRICT;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_hash   BLOB NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT,
    UNIQUE (user_id, name)
) STRICT;

CREATE TABLE login_failures (
    key       TEXT NOT NULL,
    failed_at TEXT NOT NULL
) STRICT;
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
CREATE INDEX login_failures_age ON login_failures (failed_at);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    BLOB,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(summary)),
    address     TEXT
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_name, id DESC);
