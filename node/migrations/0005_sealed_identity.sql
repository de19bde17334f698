-- Sealed records: identifying fields are stored only sealed to the site's records key (see
-- node/src/sealed.rs). Reports need birth year and month only, which stay clear. The clear
-- identity columns (full_name, date_of_birth, phone, national_id, address) are dropped by
-- `quietcount-node seal` once every row is sealed (sealing needs code, not SQL), followed by
-- VACUUM and a WAL checkpoint so no clear page survives. A new database is sealed at `init`.
ALTER TABLE clients ADD COLUMN birth_year INTEGER;
ALTER TABLE clients ADD COLUMN birth_month INTEGER;
ALTER TABLE clients ADD COLUMN sealed_full_name BLOB;
ALTER TABLE clients ADD COLUMN sealed_date_of_birth BLOB;
ALTER TABLE clients ADD COLUMN sealed_phone BLOB;
ALTER TABLE clients ADD COLUMN sealed_national_id BLOB;
ALTER TABLE clients ADD COLUMN sealed_address BLOB;
UPDATE clients SET
    birth_year = CAST(substr(date_of_birth, 1, 4) AS INTEGER),
    birth_month = CAST(substr(date_of_birth, 6, 2) AS INTEGER)
WHERE date_of_birth IS NOT NULL;
