-- A report's identity is (site, form id, form version, period, revision): each form a site
-- reports has its own revision chain. Version 1 keyed slots by (site, period, revision) only,
-- so a second form for the same month was taken for an equivocation.
--
-- SQLite cannot drop a table constraint, so `reports` is rebuilt, inside the migration's one
-- transaction. Renaming a table rewrites the foreign keys that point at it, so `cells` and
-- `receipts`, which point at `reports`, are rebuilt with it: each old table is renamed away,
-- the new one created under the old name and filled, and the old ones dropped, children first.
ALTER TABLE receipts RENAME TO receipts_v1;
ALTER TABLE cells RENAME TO cells_v1;
ALTER TABLE reports RENAME TO reports_v1;

CREATE TABLE reports (
    sequence      INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope_hash BLOB    NOT NULL UNIQUE CHECK (length(envelope_hash) = 32),
    site          TEXT    NOT NULL,
    period        TEXT    NOT NULL,
    revision      INTEGER NOT NULL CHECK (revision >= 1),
    key_id        INTEGER NOT NULL REFERENCES site_keys (id),
    form_id       TEXT    NOT NULL,
    form_version  INTEGER NOT NULL,
    envelope      BLOB    NOT NULL,
    received_at   INTEGER NOT NULL,
    UNIQUE (site, form_id, form_version, period, revision)
);

CREATE TABLE cells (
    sequence    INTEGER NOT NULL REFERENCES reports (sequence),
    indicator   TEXT    NOT NULL,
    table_index INTEGER NOT NULL,
    cell_index  INTEGER NOT NULL,
    value       INTEGER,
    PRIMARY KEY (sequence, indicator, table_index, cell_index)
) WITHOUT ROWID;

CREATE TABLE receipts (
    sequence INTEGER PRIMARY KEY REFERENCES reports (sequence),
    receipt  BLOB    NOT NULL
);

INSERT INTO reports (sequence, envelope_hash, site, period, revision, key_id, form_id,
                     form_version, envelope, received_at)
    SELECT sequence, envelope_hash, site, period, revision, key_id, form_id, form_version,
           envelope, received_at
    FROM reports_v1;
INSERT INTO cells (sequence, indicator, table_index, cell_index, value)
    SELECT sequence, indicator, table_index, cell_index, value FROM cells_v1;
INSERT INTO receipts (sequence, receipt) SELECT sequence, receipt FROM receipts_v1;

-- Keep AUTOINCREMENT's high-water mark: sequence numbers signed into receipts never repeat.
UPDATE sqlite_sequence
    SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'reports_v1'), 0))
    WHERE name = 'reports';

DROP TABLE receipts_v1;
DROP TABLE cells_v1;
DROP TABLE reports_v1;

CREATE INDEX reports_by_period_form ON reports (period, form_id, form_version, site, revision);

-- Equivocation evidence names the chain it conflicts with. Evidence kept by version 1 did not
-- record it: '' marks such rows (their envelopes, kept whole, name the form), and they are
-- shown with every form of their period.
ALTER TABLE equivocations ADD COLUMN form_id TEXT NOT NULL DEFAULT '';
ALTER TABLE equivocations ADD COLUMN form_version INTEGER NOT NULL DEFAULT 0;
DROP INDEX equivocations_by_period;
CREATE INDEX equivocations_by_period ON equivocations (period, form_id, form_version, site);
