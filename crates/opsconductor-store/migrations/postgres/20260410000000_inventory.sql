-- The device inventory, device groups and network scans (issue: scans and inventory).

-- One row per address. `sort_key` is the address as 16 bytes (IPv4 mapped into IPv6), so
-- listing in key order is numeric address order (10.0.0.2 before 10.0.0.10).
CREATE TABLE devices (
    address      text COLLATE "C" PRIMARY KEY,
    sort_key     bytea NOT NULL,
    hostname     text,
    segment      text,
    -- What scans learned (inventory::Attributes as JSON).
    attributes   jsonb NOT NULL DEFAULT '{}',
    -- Operator tags: a sorted JSON array of strings.
    tags         jsonb NOT NULL DEFAULT '[]',
    notes        text NOT NULL DEFAULT '',
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    last_scan_id uuid
);
CREATE INDEX devices_by_sort_key ON devices (sort_key);

-- Static groups list members; dynamic groups hold a filter evaluated when a run starts.
CREATE TABLE device_groups (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    filter      text,
    members     jsonb NOT NULL DEFAULT '[]',
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK ((filter IS NULL) <> (members = '[]'::jsonb))
);

-- A scan is a run of a hidden job made of library probes; this row is what it means.
-- `range_key` (the targets as canonical JSON) pairs scans of the same range for diffs.
CREATE TABLE scans (
    id               uuid PRIMARY KEY,
    run_id           uuid NOT NULL UNIQUE,
    job_id           uuid NOT NULL,
    label            text NOT NULL,
    range_key        text NOT NULL,
    spec             jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'running'
                     CHECK (state IN ('running', 'completed', 'cancelled', 'failed')),
    counts           jsonb NOT NULL DEFAULT '{}',
    previous_scan_id uuid,
    created_by       text,
    created_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    reason           text
);
CREATE INDEX scans_by_range ON scans (range_key, created_at DESC);
CREATE INDEX scans_by_created ON scans (created_at DESC, id DESC);
CREATE INDEX scans_running ON scans (created_at) WHERE state = 'running';

-- What each finished scan found alive: the snapshot the next scan of the range is
-- compared with. Kept when the run's results age out.
CREATE TABLE scan_hosts (
    scan_id    uuid NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    address    text COLLATE "C" NOT NULL,
    attributes jsonb NOT NULL,
    PRIMARY KEY (scan_id, address)
);
