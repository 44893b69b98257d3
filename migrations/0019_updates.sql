-- Updates organizers post on a petition, and the email that carries each to the signers who
-- asked for updates.
--
-- id: random (tokens.new_id), the update's only name outside the database. posted_at: seconds
-- (an organizer's action, never a signer's), shown only rounded down to the petition's
-- timeline_floor. emailed: 1 when the organizer asked to email it. recipients: how many
-- contacts the petition had when it was posted, then how many messages were queued once the
-- job is done. queueing: 1 while the background job still walks the petition's contacts;
-- queue_after: the last contact_key it queued a message for (contacts are walked in key order,
-- so a restart resumes there and never queues one twice; cleared when done, so no contact key
-- outlives the purge of the contacts); queued: how many it queued. sent:
-- messages a mail server accepted; given_up: messages that expired unsent; dropped: messages
-- not sent because their signer withdrew or unsubscribed before their turn (recipients are
-- shown as recipients - dropped).
CREATE TABLE petition_updates (
    id TEXT PRIMARY KEY,
    petition_id TEXT NOT NULL REFERENCES petitions (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    posted_at BIGINT NOT NULL,
    emailed SMALLINT NOT NULL DEFAULT 0,
    recipients BIGINT NOT NULL DEFAULT 0,
    queueing SMALLINT NOT NULL DEFAULT 0,
    queue_after TEXT NOT NULL DEFAULT '',
    queued BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    given_up BIGINT NOT NULL DEFAULT 0,
    dropped BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX petition_updates_by_petition ON petition_updates (petition_id, posted_at);
CREATE INDEX petition_updates_queueing ON petition_updates (queueing);

-- The one pace every update email of the service shares (UPDATE_EMAILS_PER_MINUTE): the
-- millisecond from which the next one may be scheduled. Queueing locks this row, so two
-- processes queueing two updates at once schedule their messages one after the other.
CREATE TABLE update_pace (
    id SMALLINT PRIMARY KEY,
    next_at_ms BIGINT NOT NULL
);
INSERT INTO update_pace (id, next_at_ms) VALUES (1, 0);

-- An update email's outbox row names its update (NULL for every other message): sent one at a
-- time and counted in its update's progress. failures: how many times a mail server refused it
-- or could not be reached (an update's progress says how many are "failed, retrying").
ALTER TABLE outbox ADD COLUMN update_id TEXT;
ALTER TABLE outbox ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_by_update ON outbox (update_id);
