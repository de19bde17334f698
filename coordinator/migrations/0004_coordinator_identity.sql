-- Which coordinator this database belongs to: the fingerprint of its signing key, recorded at
-- `init` (or at the first start after this migration). A database copied from another
-- coordinator's folder is refused at start instead of being served under the wrong key.
CREATE TABLE coordinator_identity (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint BLOB    NOT NULL CHECK (length(fingerprint) = 32)
);
