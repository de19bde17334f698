-- Period locks: a manager locks a (period, form) before publishing it; while locked, no new
-- report or revision for it is stored (sites keep theirs and send again after an unlock).
-- Locking and unlocking are written to the audit trail by whoever does them.
CREATE TABLE period_locks (
    period       TEXT    NOT NULL,
    form_id      TEXT    NOT NULL,
    form_version INTEGER NOT NULL,
    locked_by    TEXT    NOT NULL,
    locked_at    INTEGER NOT NULL,
    PRIMARY KEY (period, form_id, form_version)
);

-- Whom the province calls about a site (a staff member's name and phone, as the site gave
-- them at enrolment): the reminders of the completeness grid name them. Site staff only, never
-- a client.
CREATE TABLE site_contacts (
    site       TEXT    PRIMARY KEY,
    contact    TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
