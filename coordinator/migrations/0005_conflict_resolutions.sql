-- The province's decisions on equivocation: for a contested slot (site, form, period, revision),
-- which envelope it accepts (the stored report's or the kept evidence's), who decided and when.
-- Rows are only ever added; the latest decision for a slot stands. Evidence is never deleted.
CREATE TABLE conflict_resolutions (
    id            INTEGER PRIMARY KEY,
    site          TEXT NOT NULL,
    form_id       TEXT NOT NULL,
    form_version  INTEGER NOT NULL,
    period        TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    accepted_hash BLOB NOT NULL CHECK (length(accepted_hash) = 32),
    decided_by    TEXT NOT NULL,
    decided_at    INTEGER NOT NULL,
    note          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX conflict_resolutions_by_slot
    ON conflict_resolutions (site, form_id, form_version, period, revision);
