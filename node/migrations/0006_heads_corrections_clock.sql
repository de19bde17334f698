-- The latest revision the coordinator said it holds for a (form, period), learnt from a refusal
-- for staleness or conflict (e.g. after this node was restored from a backup older than its
-- last delivery). The next report of that form and period is built on it.
CREATE TABLE coordinator_heads (
    form_id       TEXT NOT NULL,
    form_version  INTEGER NOT NULL,
    period        TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    envelope_hash BLOB NOT NULL,
    learnt_at     INTEGER NOT NULL,
    PRIMARY KEY (form_id, form_version, period)
);

-- Days whose records were corrected or erased (`erase`, `delete-event`), and when. The next
-- report of a period holding such a day, built after the change, is a new revision even if the
-- published tables happen not to change. No client code or other record value is kept here.
CREATE TABLE record_changes (
    id         INTEGER PRIMARY KEY,
    day        TEXT NOT NULL,      -- ISO YYYY-MM-DD
    changed_at INTEGER NOT NULL
);
CREATE INDEX record_changes_by_day ON record_changes (day, changed_at);

-- The last time the coordinator told its clock (every response carries it): this computer's
-- clock then, and the coordinator's. One row. `status` says when the two differ by minutes.
CREATE TABLE clock_checks (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at       INTEGER NOT NULL,
    coordinator_time INTEGER NOT NULL
);
