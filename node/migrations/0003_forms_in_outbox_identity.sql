-- Forms are part of a report's identity: a site may report several forms for one period, each
-- with its own revision chain. Entries made before this migration answered the default form.
ALTER TABLE outbox ADD COLUMN form_id TEXT NOT NULL DEFAULT 'vn-community-treatment-monthly';
ALTER TABLE outbox ADD COLUMN form_version INTEGER NOT NULL DEFAULT 1;

-- One live envelope per form, period and revision (refused entries free their revision).
DROP INDEX outbox_live_revision;
CREATE UNIQUE INDEX outbox_live_revision ON outbox (form_id, form_version, period, revision)
    WHERE state <> 'refused';
