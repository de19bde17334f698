-- The true tables each revision was suppressed from (canonical CBOR of the indicators' count
-- tables: counts only, never a record). The next revision of the same form and period is
-- suppressed and audited jointly with every earlier one, which needs their true counts and
-- how many records changed. NULL for revisions built before this migration.
ALTER TABLE outbox ADD COLUMN truth BLOB;
