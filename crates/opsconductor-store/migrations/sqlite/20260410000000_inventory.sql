-- The device inventory, device groups and network scans: migrations/postgres'
-- 20260410000000_inventory.sql (where the reasons are written down) in SQLite's terms.

CREATE TABLE devices (
    address      TEXT PRIMARY KEY,
    sort_key     BLOB NOT NULL,
    hostname     TEXT,
    segment      TEXT,
    attributes   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
    tags         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    notes        TEXT NOT NULL DEFAULT '',
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    last_scan_id BLOB
) STRICT;
CREATE INDEX devices_by_sort_key ON devices (sort_key);

CREATE TABLE device_groups (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    filter      TEXT,
    members     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(members)),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CHECK ((filter IS NULL) <> (members = '[]'))
) STRICT;

CREATE TABLE scans (
    id               BLOB PRIMARY KEY,
    run_id           BLOB NOT NULL UNIQUE,
    job_id           BLOB NOT NULL,
    label            TEXT NOT NULL,
    range_key        TEXT NOT NULL,
    spec             TEXT NOT NULL CHECK (json_valid(spec)),
    state            TEXT NOT NULL DEFAULT 'running'
                     CHECK (state IN ('running', 'completed', 'cancelled', 'failed')),
    counts           TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts)),
    previous_scan_id BLOB,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT,
    reason           TEXT
) STRICT;
CREATE INDEX scans_by_range ON scans (range_key, created_at DESC);
CREATE INDEX scans_by_created ON scans (created_at DESC, id DESC);
CREATE INDEX scans_running ON scans (created_at) WHERE state = 'running';

CREATE TABLE scan_hosts (
    scan_id    BLOB NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    attributes TEXT NOT NULL CHECK (json_valid(attributes)),
    PRIMARY KEY (scan_id, address)
) STRICT, WITHOUT ROWID;
