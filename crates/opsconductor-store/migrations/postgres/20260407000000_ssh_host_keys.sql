-- SSH host keys, trusted on first use for the whole deployment: the first key any agent
-- sees for host:port is recorded; a different key later is refused (and noted here for
-- the admin) until the record is deleted.
CREATE TABLE ssh_host_keys (
    id                uuid PRIMARY KEY,
    host              text NOT NULL,
    port              integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    algorithm         text NOT NULL,
    fingerprint       text NOT NULL,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    first_seen_by     uuid,
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    -- The last key refused because it differed, and when: what an admin checks before
    -- resetting the record.
    refused_algorithm   text,
    refused_fingerprint text,
    refused_at          timestamptz,
    UNIQUE (host, port)
);
