-- Quietcount coordinator store, version 1.
-- Times are Unix seconds (UTC); periods are their text form (2026-10, 2026-Q4, 2026).

-- Every key ever enrolled for a site. A site has at most one unrevoked key.
CREATE TABLE site_keys (
    id          INTEGER PRIMARY KEY,
    site        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    public_key  BLOB    NOT NULL UNIQUE CHECK (length(public_key) = 32),
    fingerprint BLOB    NOT NULL UNIQUE CHECK (length(fingerprint) = 32),
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE UNIQUE INDEX site_keys_one_active ON site_keys (site) WHERE revoked_at IS NULL;

-- Accepted site reports: the exact envelope bytes. `sequence` is the ingest sequence number
-- signed into the receipt; AUTOINCREMENT never reuses a value, so it only grows.
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
    UNIQUE (site, period, revision)
);

-- The decoded cells of each report; `value` is NULL for a suppressed cell.
CREATE TABLE cells (
    sequence    INTEGER NOT NULL REFERENCES reports (sequence),
    indicator   TEXT    NOT NULL,
    table_index INTEGER NOT NULL,
    cell_index  INTEGER NOT NULL,
    value       INTEGER,
    PRIMARY KEY (sequence, indicator, table_index, cell_index)
) WITHOUT ROWID;

-- The exact signed receipt bytes returned for each report.
CREATE TABLE receipts (
    sequence INTEGER PRIMARY KEY REFERENCES reports (sequence),
    receipt  BLOB    NOT NULL
);

-- Evidence of equivocation: a validly signed envelope conflicting with a stored one.
CREATE TABLE equivocations (
    id            INTEGER PRIMARY KEY,
    envelope_hash BLOB    NOT NULL UNIQUE,
    site          TEXT    NOT NULL,
    period        TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    envelope      BLOB    NOT NULL,
    received_at   INTEGER NOT NULL
);
CREATE INDEX equivocations_by_period ON equivocations (period, site);
