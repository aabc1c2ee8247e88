-- The credential vault: SNMP communities and v3 keys, SSH passwords and keys, HTTP
-- tokens. The secret is sealed by the controller (AES-256-GCM under a master key that is
-- never in the database; the id and kind are bound in as associated data), so a database
-- dump or backup alone does not reveal it. Everything else is metadata the API may show.
CREATE TABLE credentials (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('snmp_community', 'snmp_v3', 'ssh_password',
                                              'ssh_key', 'http_basic', 'http_bearer')),
    description text NOT NULL DEFAULT '',
    version     bigint NOT NULL DEFAULT 1,
    -- 96-bit GCM nonce, fresh for every sealing.
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    -- Ciphertext with its 16-byte tag.
    sealed      bytea NOT NULL,
    -- Which master key sealed it (a fingerprint, not the key): a controller started with
    -- another key says so instead of failing to decrypt.
    key_id      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- When the secret itself last changed (a rotation), apart from renames.
    secret_updated_at timestamptz NOT NULL DEFAULT now()
);
