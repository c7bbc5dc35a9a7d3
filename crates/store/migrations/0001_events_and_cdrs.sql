-- The event log and the call detail records derived from it.
-- Portable SQL (SQLite and PostgreSQL): BIGINT, TEXT, no AUTOINCREMENT,
-- no SQLite-only types; JSON kept as TEXT.

-- One row per event, seq contiguous from 1 (the store refuses gaps).
CREATE TABLE events (
    seq BIGINT NOT NULL PRIMARY KEY,
    tenant BIGINT NOT NULL,
    at_unix_ms BIGINT NOT NULL,
    interaction TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);

CREATE INDEX events_by_interaction ON events (interaction, seq);

-- One row per completed call, written in the transaction of the event
-- that completed it.
CREATE TABLE cdrs (
    interaction TEXT NOT NULL PRIMARY KEY,
    completed_seq BIGINT NOT NULL UNIQUE,
    tenant BIGINT NOT NULL,
    started_at_unix_ms BIGINT NOT NULL,
    ended_at_unix_ms BIGINT NOT NULL,
    caller TEXT,
    did TEXT,
    flow_path TEXT NOT NULL,
    queue BIGINT,
    wait_ms BIGINT,
    agent BIGINT,
    talk_ms BIGINT,
    hold_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    transfer_target TEXT
);

CREATE INDEX cdrs_by_end ON cdrs (ended_at_unix_ms, completed_seq);
