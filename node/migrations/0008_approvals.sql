-- Four eyes: a report approved by one staff member waits here until a second one confirms it
-- (the web app's Report page). One waiting approval per form and period; it names the content
-- approved, so a change to the records before the confirmation starts the approval again.
CREATE TABLE approvals (
    form_id      TEXT    NOT NULL,
    form_version INTEGER NOT NULL,
    period       TEXT    NOT NULL,
    content_hash BLOB    NOT NULL,
    approved_by  TEXT    NOT NULL,
    approved_at  INTEGER NOT NULL,
    PRIMARY KEY (form_id, form_version, period)
);
