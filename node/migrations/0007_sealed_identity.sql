-- Sealed records: identifying fields are stored only sealed to the site's records key (see
-- node/src/sealed.rs), in their own table so that the clients table the reports join stays
-- narrow. Reports need birth year and month only, which stay clear in `clients`. The clear
-- identity columns of `clients` (full_name, date_of_birth, phone, national_id, address) are
-- dropped by `quietcount-node seal` once every row is sealed (sealing needs code, not SQL),
-- followed by VACUUM and a WAL checkpoint so no clear page survives. A new database is sealed
-- at `init`.
ALTER TABLE clients ADD COLUMN birth_year INTEGER;
ALTER TABLE clients ADD COLUMN birth_month INTEGER;
UPDATE clients SET
    birth_year = CAST(substr(date_of_birth, 1, 4) AS INTEGER),
    birth_month = CAST(substr(date_of_birth, 6, 2) AS INTEGER)
WHERE date_of_birth IS NOT NULL;

-- One row per client: each field sealed to the records public key, bound to the client code
-- and the field (HPKE encapsulation, then ChaCha20-Poly1305; padded to 32-byte blocks).
CREATE TABLE sealed_identity (
    client_code   TEXT PRIMARY KEY NOT NULL REFERENCES clients (client_code),
    full_name     BLOB NOT NULL,
    date_of_birth BLOB NOT NULL,
    phone         BLOB NOT NULL,
    national_id   BLOB NOT NULL,
    address       BLOB NOT NULL
);
