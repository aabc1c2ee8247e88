-- Users, their login sessions (each a chain of rotating refresh tokens), API tokens,
-- failed logins (the rate limit every replica shares) and the audit log.
-- Only hashes of tokens are kept: a copy of the database lets no one log in.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    username text NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    display_name text NOT NULL DEFAULT '',
    role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash text NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
-- Names are unique regardless of case: "Alice" and "alice" are one person.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE auth_sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- No refresh extends a session past this.
    expires_at timestamptz NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    revoked_reason text,
    address text,
    user_agent text NOT NULL DEFAULT ''
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

-- Every refresh token a session was given. A token is good once: presenting one that was
-- already replaced means it was stolen (or the client is broken) and ends the session.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    replaced_at timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_hash bytea NOT NULL UNIQUE,
    -- The first characters of the token, so its owner can tell tokens apart.
    prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    UNIQUE (user_id, name)
);

CREATE TABLE login_failures (
    -- 'user:<lower(username)>' or 'address:<ip>'.
    key text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
CREATE INDEX login_failures_age ON login_failures (failed_at);

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    -- 'user', 'api_token' or 'system'.
    actor_kind text NOT NULL,
    actor_id uuid,
    actor_name text NOT NULL,
    action text NOT NULL,
    target_kind text NOT NULL,
    target_id text NOT NULL DEFAULT '',
    -- What changed: names, versions, before/after of the fields that matter. Never secrets.
    summary jsonb NOT NULL DEFAULT '{}',
    address text
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor_name, id DESC);
