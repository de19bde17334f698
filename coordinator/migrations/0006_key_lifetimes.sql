-- Key lifetimes: a key's validity window closes either because a newer key of the site took
-- over (retired, reason 'replaced') or because it was revoked from a given time on (reason
-- 'compromised', 'lost' or 'site-closed'). `revoked_at` keeps its name and is the window's end;
-- reports received before it stay valid. `end_recorded_at` is when the coordinator recorded
-- the end (later than the end for a revocation --since an earlier date).
ALTER TABLE site_keys ADD COLUMN end_reason TEXT
    CHECK (end_reason IN ('replaced', 'compromised', 'lost', 'site-closed'));
ALTER TABLE site_keys ADD COLUMN end_recorded_at INTEGER;

-- Before this version, enrolling a new key revoked the old one at that moment, and `revoke`
-- revoked the active key at that moment: the first became a retirement, the second a
-- revocation with no stated reason other than that it was not a replacement.
UPDATE site_keys SET end_reason = 'replaced', end_recorded_at = revoked_at
WHERE revoked_at IS NOT NULL AND EXISTS (
    SELECT 1 FROM site_keys AS newer
    WHERE newer.site = site_keys.site AND newer.id > site_keys.id
      AND newer.enrolled_at = site_keys.revoked_at
);
UPDATE site_keys SET end_reason = 'compromised', end_recorded_at = revoked_at
WHERE revoked_at IS NOT NULL AND end_reason IS NULL;

-- The start of the first period a site is expected to report for, when the province set one
-- at enrolment (`enroll --reports-from`); NULL: from the enrolment on.
ALTER TABLE site_keys ADD COLUMN reports_from INTEGER;
