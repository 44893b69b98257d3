-- Feedback rounds in the spirit of Pol.is: a question on a petition, statements, and colleagues'
-- agree / disagree / pass votes on them, grouped into opinion groups (DESIGN.md rule 12).
--
-- A participant is a random key. Nothing here joins a participant to how they proved they work
-- there (a work address or a printed code), to a signature, or to another round: the commit that
-- accepts a join writes one sealed pending entry and one claim; a batch of at least MIN_CELL_SIZE
-- joins writes the participants, their round dedupe tags and the spent codes' states, each table in
-- the order of its own key, and deletes the pending rows (as rule 11 has it for signatures).

-- A round. id: random (tokens.new_id), its only name outside the database. state: draft, open or
-- closed, as petitions have. results: 'public' or 'organizers' (who may read the results).
-- closes_at: when it closes by itself (seconds), or NULL. participant_count: participants counted
-- by the join batches (never a join that waits). Times are organizers' actions, never a participant's.
CREATE TABLE rounds (
    id TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL REFERENCES petitions (id),
    question TEXT NOT NULL,
    description TEXT NOT NULL,
    state TEXT NOT NULL,
    allow_statements SMALLINT NOT NULL,
    moderate_statements SMALLINT NOT NULL,
    results TEXT NOT NULL,
    closes_at BIGINT,
    created_by TEXT NOT NULL REFERENCES organizers (id),
    created_at BIGINT NOT NULL,
    opened_at BIGINT,
    closed_at BIGINT,
    participant_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rounds_by_petition ON rounds (petition_id);
CREATE INDEX rounds_by_state ON rounds (state);

-- A statement to vote on. id: random. status: 'waiting' (a participant's, not moderated yet),
-- 'approved' (shown and voted on) or 'hidden'. seed: 1 an organizer's, 0 a participant's (no
-- author is stored, ever). votes: how many participants voted on it (the round page shows
-- statements with fewer votes first, so votes spread).
CREATE TABLE round_statements (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds (id),
    text TEXT NOT NULL,
    status TEXT NOT NULL,
    seed SMALLINT NOT NULL,
    votes BIGINT NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX round_statements_by_round ON round_statements (round_id, status, votes);

-- A participant, written by a join batch. participant_key: random (128 bits), the key of their
-- votes. token_hash: SHA-256("participant-token/v1" | token), the bearer token they hold (the
-- token is replaced by changing it in place; the old one then finds nothing).
CREATE TABLE round_participants (
    participant_key TEXT PRIMARY KEY,
    round_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE INDEX round_participants_by_round ON round_participants (round_id);

-- One vote per participant and statement: 1 agree, -1 disagree, 0 pass. No time. Voting again
-- changes it in place. The index covers the results' read of a whole round.
CREATE TABLE round_votes (
    participant_key TEXT NOT NULL,
    statement_id TEXT NOT NULL,
    round_id TEXT NOT NULL,
    vote SMALLINT NOT NULL,
    PRIMARY KEY (participant_key, statement_id)
) WITHOUT ROWID;
CREATE INDEX round_votes_by_round ON round_votes (round_id, statement_id, vote);

-- The participants who voted since the round's results were last computed (a set: one row each,
-- deleted when results are computed). Results are recomputed only once MIN_CELL_SIZE distinct
-- participants are here, so two results never differ by one person's votes.
CREATE TABLE round_fresh_voters (
    participant_key TEXT PRIMARY KEY,
    round_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX round_fresh_voters_by_round ON round_fresh_voters (round_id);

-- The latest results of a round (aggregates only, as JSON, with the opinion map's dots), and
-- when they were computed (seconds; shown rounded down to the petition's timeline_floor).
CREATE TABLE round_results (
    round_id TEXT PRIMARY KEY,
    computed_at BIGINT NOT NULL,
    participants BIGINT NOT NULL,
    body TEXT NOT NULL
);

-- A join that waits for its batch: found through SHA-256("pending-join/v1" | token); sealed
-- (AES-GCM, bound to its key, one padded length) it holds the participant key, the method, and
-- the round dedupe tag or spent code's hash the batch writes.
CREATE TABLE pending_joins (
    pending_key TEXT PRIMARY KEY,
    round_id TEXT NOT NULL,
    sealed TEXT NOT NULL
) WITHOUT ROWID;

-- What a waiting join holds, so a second join with the same address or code is refused at once:
-- HMAC(PEPPER, "join-claim/v1" | round dedupe tag or round code hash). Deleted by the batch.
CREATE TABLE join_claims (
    claim TEXT PRIMARY KEY,
    round_id TEXT NOT NULL
) WITHOUT ROWID;

-- One row per address that joined a round: HMAC(PEPPER, "round-dedupe/v1" | round_id |
-- canonical address). Written by the join batch; destroyed with the petition's identifying data.
CREATE TABLE round_dedupe (
    tag TEXT PRIMARY KEY,
    round_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX round_dedupe_by_round ON round_dedupe (round_id);

-- A colleague who asked for a code at a work address to join a round and has not typed it yet,
-- as sign_attempts are for signing: SHA-256("join-attempt/v1" | attempt id).
CREATE TABLE join_attempts (
    attempt_hash TEXT PRIMARY KEY,
    round_id TEXT NOT NULL,
    sealed TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX join_attempts_by_expiry ON join_attempts (expires_at);

-- Printed codes that join one round (never sign its petition, never enter its log), made in
-- batches as code_batches are; the plaintext only until the one download.
CREATE TABLE round_code_batches (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds (id),
    label TEXT NOT NULL,
    size BIGINT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL REFERENCES organizers (id),
    created_at BIGINT NOT NULL,
    plaintext TEXT,
    downloaded_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX round_code_batches_by_round ON round_code_batches (round_id);

-- One row per round code: HMAC(PEPPER, "round-code/v1" | code) (another label than a petition's
-- codes, so no round code can sign). state: 0 unused, 1 used (written by the join batch).
CREATE TABLE round_codes (
    code_hash TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    state SMALLINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX round_codes_by_batch ON round_codes (batch_id);
