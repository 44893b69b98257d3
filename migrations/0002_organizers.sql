-- Organizers: the people who run campaigns. Never signers: nothing here is about who signed.
-- Keys are random; times are whole seconds since the epoch.
CREATE TABLE organizers (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin SMALLINT NOT NULL DEFAULT 0,
    is_active SMALLINT NOT NULL DEFAULT 1,
    -- The TOTP secret, encrypted with ENCRYPTION_KEY; NULL while two-factor is off.
    totp_secret TEXT,
    created_at BIGINT NOT NULL
);

-- Server-side sessions: the cookie holds a random token; only its SHA-256 is kept.
CREATE TABLE organizer_sessions (
    token_hash TEXT PRIMARY KEY,
    organizer_id TEXT NOT NULL REFERENCES organizers (id),
    -- 1 while the password was right but the second factor is still to be given.
    needs_second_factor SMALLINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX organizer_sessions_by_organizer ON organizer_sessions (organizer_id);

-- API tokens: shown once, stored as SHA-256; last use kept to the day.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    organizer_id TEXT NOT NULL REFERENCES organizers (id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_day TEXT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_by_organizer ON api_tokens (organizer_id);

-- Single-use links: the first organizer's setup, invitations, password resets.
CREATE TABLE organizer_links (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    organizer_id TEXT,
    email TEXT,
    make_admin SMALLINT NOT NULL DEFAULT 0,
    created_by TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Recovery codes for two-factor, each usable once, stored as SHA-256.
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY,
    organizer_id TEXT NOT NULL REFERENCES organizers (id)
);

-- What organizers did (never from where): logins, failures, two-factor, invitations, tokens.
-- at_micros: microseconds since the epoch, so entries keep their order within a second.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    organizer_id TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    at_micros BIGINT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at_micros);

-- Instance-wide switches an admin can turn, such as requiring two-factor for everyone.
CREATE TABLE instance_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
