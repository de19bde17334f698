-- The coordinator refused this site's key (not, or no longer, enrolled there). While the site's
-- key is one recorded here, the service does not try to deliver: retrying changes nothing
-- until the province enrols the key. A delivery with the key accepted clears the table.
CREATE TABLE key_refusals (
    fingerprint BLOB PRIMARY KEY NOT NULL,
    refused_at INTEGER NOT NULL,
    message TEXT NOT NULL
);
