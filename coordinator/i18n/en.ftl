# The province's dashboard (Quietcount): English. Every key here is also in vi.ftl.

nav-grid = Completeness
nav-sites = Sites
nav-conflicts = Conflicts
nav-period = Period
nav-totals = Totals
nav-audit = Audit
nav-logout = Log out

action-continue = Continue
action-show = Show

login-title = Log in
login-locked = Your session locked itself after a while without use. Log in again to continue.
login-name = Account name
login-password = Password
login-submit = Log in
login-hint = Accounts are created with quietcount-coordinator user add. After each wrong password the next try waits a little longer.
login-refused = Wrong name or password. Check them and try again.

role-viewer = viewer
role-manager = manager

error-heading = Could not be done
error-csrf = This form has expired or did not come from the dashboard. Go back, reload the page and try again.
error-bad-request = The dashboard did not send this request. Go back and use the buttons on the page.
error-managers-only = Only managers may do this. Your account may only read.
done-heading = Done

grid-title = Completeness
grid-site = Site
grid-reporting = Reporting rate
grid-on-time = On-time rate
grid-cell-detail = rev. { $revision }, { $when }
grid-empty = No site is enrolled yet.
grid-rates-hint = Reporting rate = reports received ÷ reports expected; on-time rate = reports received on time ÷ reports expected (as in DHIS2).
grid-remind-heading = Sites to remind for { $period }
grid-remind-none = Every expected site has reported.
grid-remind-text = Dear { $site }: the province has not received your report for { $period }. Please open Quietcount, approve and send the report as soon as you can. Thank you.

state-on-time = On time
state-late = Late
state-missing = Missing
state-conflict = Conflict
state-not-expected = Not expected

sites-title = Sites
site-title = Site
sites-name = Name
sites-fingerprint = Key fingerprint
sites-window = Validity
sites-enrol = Enrol a site
sites-fingerprint-read = Fingerprint read out by the site
sites-reports-from = Reports from period (if not the current one)
sites-key = The site's public key (.pub file, pasted here)
sites-enrol-hint = The fingerprint must be the one the site reads out on the phone; if it differs, the enrolment is refused.
sites-revoke = Revoke a key
sites-reason = Reason
sites-revoke-hint = From now on, reports signed with this key no longer count; reports received before stay valid. To replace a key (new computer), enrol the new key instead.
reason-compromised = Compromised
reason-lost = Lost
reason-site-closed = Site closed
reason-replaced = Replaced by a newer key
key-window-enrolled = enrolled { $time }
key-window-retired = { $enrolled }, retired { $time } (replaced by a newer key)
key-window-revoked-since = { $enrolled }, revoked since { $since } ({ $reason }, recorded { $recorded })
key-window-revoked = { $enrolled }, revoked { $time } ({ $reason })
key-window-valid-until = { $enrolled }, valid until { $time }
viewer-hint = Viewer accounts only read; managers enrol, revoke, resolve conflicts and publish.
sites-enrolled = Enrolled { $site }, fingerprint { $fingerprint }.
sites-replaced = The site's previous key is retired: reports it delivered stay valid; from now on only this key is accepted.
sites-revoked = Revoked the key of { $site }: { $window }

site-enrolled = First enrolled
site-state = State
site-active = Active
site-inactive = No valid key
site-keys = Key history
site-reports = Reports received (last 12 periods)
site-no-reports = No report received in the last 12 periods.
site-period = Period
site-form = Form
site-revision = Revision
site-received = Received
site-hash = Report hash
site-receipt = Receipt
site-changes = Changes since the previous revision
site-first-revision = First revision
site-changed-records = The site says { $count } client record(s) changed.
site-changed-records-unstated = The site did not state how many records changed.
site-changed-cells = { $count } cell(s) changed value
site-changed-more = … and { $count } more cell(s)
site-cell-number = cell { $number }
site-cell-total = Total

conflicts-title = Conflicts
conflicts-none = No conflicts: no site signed two different reports for one revision.
conflicts-stored = Stored report
conflicts-evidence = Conflicting report (evidence)
conflicts-later = { $count } further conflicting deliveries
conflicts-accept = The province accepts
conflicts-note = Note
conflicts-resolve = Record decision
conflicts-decided = Accepted { $hash } — { $who }
conflicts-resolved = Recorded the decision for { $site }, period { $period }.

period-title = Period
period-expected = Sites expected
period-reported = Reported
period-on-time = On time
period-published-at = Last published
period-not-published = Not published
period-newer-heading = Newer reports after publication
period-newer = { $site } sent revision { $revision } after the last publication: publish again if needed.
period-download = Download the donor package (.zip)
period-publish = Publish
period-allow-incomplete = Publish even if fewer than { $percent }% of sites reported (the package will say it is incomplete)
period-published = Published { $period }: { $sites } sites reported.
period-incomplete = INCOMPLETE: published below the required share of sites; the package says so.

totals-title = Provincial totals
totals-downloads = Downloads
totals-no-mapping = No DHIS2 mapping file is configured ([dashboard] mapping), so DHIS2 JSON and ADX downloads are not offered.
totals-trend = 12-period trend
totals-chart-hint = Hollow points: bounded totals (some cells hidden), drawn at their least value.
totals-by-site = By site
totals-cells = Provincial cells
totals-indicator = Indicator
totals-breakdown = Breakdown
totals-value = Value
totals-total = Total
totals-bounded = Only an interval is known
totals-bounded-hint = Grey cells are known only as an interval (some site cells are hidden to protect clients), not an exact number.

audit-title = Audit trail
audit-empty = No manager action yet.
audit-when = When
audit-who = Who
audit-action = Action
audit-detail = Detail
audit-enrol = Enrol site
audit-revoke = Revoke key
audit-resolve = Resolve conflict
audit-publish = Publish
