-- Identifiable client records. They never leave this database.
CREATE TABLE clients (
    client_code       TEXT PRIMARY KEY NOT NULL,
    full_name         TEXT NOT NULL,
    date_of_birth     TEXT,             -- ISO YYYY-MM-DD, NULL when unknown
    sex               TEXT NOT NULL,    -- male | female | other
    phone             TEXT NOT NULL,
    national_id       TEXT NOT NULL,
    address           TEXT NOT NULL,
    primary_substance TEXT,             -- opioids | methamphetamine | cannabis | other, NULL = unknown
    referral_source   TEXT NOT NULL,    -- police | peer | family | self | health_facility | other
    enrolled_on       TEXT NOT NULL,    -- ISO YYYY-MM-DD
    modality          TEXT NOT NULL     -- voluntary | compulsory
) WITHOUT ROWID;

CREATE INDEX clients_enrolled_on ON clients (enrolled_on);

-- Dated service events. `outcome` is '' (not NULL) when the service has none, so that the
-- UNIQUE constraint, which treats NULLs as distinct, makes re-imports idempotent. `ordinal`
-- tells apart identical events of one client on one day (the 2nd, 3rd... such row of a file).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    client_code TEXT NOT NULL REFERENCES clients (client_code),
    date        TEXT NOT NULL,          -- ISO YYYY-MM-DD
    service     TEXT NOT NULL,
    outcome     TEXT NOT NULL DEFAULT '',
    ordinal     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (client_code, date, service, outcome, ordinal)
);

CREATE INDEX events_date_service ON events (date, service, client_code, outcome);

-- Signed site reports, committed here before any attempt to send: the outbox.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    period         TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    envelope       BLOB NOT NULL,
    envelope_hash  BLOB NOT NULL UNIQUE,
    content_hash   BLOB NOT NULL,       -- SHA-256 of the published content without its timestamps
    built_at       INTEGER NOT NULL,
    state          TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'refused')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error     TEXT,
    refusal_code   TEXT,
    delivered_at   INTEGER
);

-- One live envelope per period and revision. A refused envelope was never stored by the
-- coordinator, so its revision number is free again: the next report for the period takes it,
-- superseding the latest envelope that was not refused. Refused entries stay, for `status`.
CREATE UNIQUE INDEX outbox_live_revision ON outbox (period, revision) WHERE state <> 'refused';

-- Verified receipts from the coordinator, one per delivered envelope.
CREATE TABLE receipts (
    envelope_hash BLOB PRIMARY KEY NOT NULL REFERENCES outbox (envelope_hash),
    receipt       BLOB NOT NULL,
    sequence      INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    stored_at     INTEGER NOT NULL,
    duplicate     INTEGER NOT NULL
);
