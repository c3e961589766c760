-- Live events for the studio's streams (Server-Sent Events): append-only, ids increase, so a
-- client that reconnects with the last id it saw gets every later event once.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    -- NULL for events of no one experiment.
    experiment_id INTEGER REFERENCES experiments (id) ON DELETE CASCADE,
    -- stage | step | epoch | student | status
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX events_experiment ON events (experiment_id, id);
CREATE INDEX events_kind ON events (kind, id);
