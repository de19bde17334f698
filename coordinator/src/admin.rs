//! Administration: creating a coordinator directory, enrolling and revoking sites, completeness,
//! publication of the donor package and long-format export.
//!
//! Each command is a method of [`Coordinator`], an opened coordinator directory; `main.rs` only
//! parses arguments and prints what these return.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeSet;

use quietcount_keys::package::{Assembled, Publication, StoredReport, assemble, rows_to_csv};
use quietcount_keys::{Identity, load_public_key, save_public_key, short_fingerprint};
use quietcount_protocol::completeness::{Arrival, completeness, expected_sites, on_time};
use quietcount_protocol::export::{ExportRow, province_rows, site_rows};
use quietcount_protocol::form::DEFAULT_MONTHLY_TOML;
use quietcount_protocol::{
    FORMAT_VERSION, Form, FormRef, KeyEndReason, Period, Receipt, RegistryEntry, SiteId,
    SiteRegistry, SiteReport, UnixTime, aggregate, audit_report, disclosure::check_report, open,
    sign,
};
use serde::Serialize;

use crate::config::{Config, files};
use crate::error::{CoordinatorError, io};
use crate::ingest::{Ingest, IngestPolicy};
use crate::store::{EnrollOutcome, FormKey, KeyRecord, Location, ReportRecord, Store};

type Result<T, E = CoordinatorError> = std::result::Result<T, E>;

/// A form the coordinator accepts, with the TOML text it was read from.
#[derive(Debug, Clone)]
pub struct AcceptedForm {
    /// The parsed form.
    pub form: Form,
    /// Its TOML text (shipped in donor packages).
    pub toml: String,
}

/// An opened coordinator directory: configuration, identity, forms and store.
#[derive(Debug, Clone)]
pub struct Coordinator {
    /// The directory.
    pub dir: PathBuf,
    /// Its configuration.
    pub config: Config,
    /// The coordinator's signing identity.
    pub identity: Identity,
    /// The accepted forms; the built-in default form first.
    pub forms: Vec<AcceptedForm>,
    /// The store.
    pub store: Store,
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct InitSummary {
    /// The public key file to hand to sites.
    pub public_key_path: PathBuf,
    /// The short fingerprint sites check by eye.
    pub short_fingerprint: String,
}

/// What `enroll` did.
#[derive(Debug, Clone)]
pub struct EnrollSummary {
    /// The enrolled key's short fingerprint.
    pub short_fingerprint: String,
    /// Older keys of the site retired by this enrolment (what they signed while valid stays
    /// valid).
    pub replaced_keys: u64,
    /// True if this key was already the site's active key (nothing changed).
    pub already_enrolled: bool,
}

/// One site in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteStatus {
    /// The site.
    pub site: SiteId,
    /// Its display name.
    pub name: String,
    /// Short fingerprint of its active (or last) key.
    pub fingerprint: String,
    /// Whether a report signed by its active key is stored.
    pub reported: bool,
    /// The latest revision stored.
    pub revision: Option<u32>,
    /// When it was received (the receipt time), Unix seconds.
    pub received_at: Option<UnixTime>,
    /// Whether it arrived within the on-time window.
    pub on_time: Option<bool>,
    /// Whether the site sent conflicting reports for this period.
    pub equivocation: bool,
    /// Whether the province has decided, for every contested revision, which envelope it
    /// accepts (`resolve`); the evidence stays, and `equivocation` with it.
    pub equivocation_resolved: bool,
    /// The site's key history where it matters for this period: a key retired or revoked,
    /// in words (`None` when the site's only key is still valid).
    pub key_note: Option<String>,
    /// Reports of this site for the period that do not count, and why (received outside
    /// their key's validity window).
    pub not_counted: Vec<String>,
}

/// Completeness of one form for one period, as DHIS2 users know it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// The form.
    pub form: FormRef,
    /// The period.
    pub period: Period,
    /// Days after the period's end within which a report is on time.
    pub on_time_days: u32,
    /// Sites expected to report: a key of theirs was valid during the period.
    pub sites: Vec<SiteStatus>,
    /// Sites not expected for this period: enrolled after it ended, or whose keys all ended
    /// before it began.
    pub not_expected: Vec<SiteStatus>,
    /// Number of sites expected.
    pub expected: u32,
    /// Number of expected sites that reported.
    pub reported: u32,
    /// Number of those on time.
    pub on_time: u32,
    /// reported / expected, in percent (0 when none expected).
    pub reporting_rate: f64,
    /// on time / expected, in percent (0 when none expected).
    pub on_time_rate: f64,
}

impl Coordinator {
    /// Creates a coordinator directory: documented `config.toml`, identity key (0600), public
    /// key and database. Refuses a directory that exists and is not empty.
    pub async fn init(
        dir: &Path,
        province: &str,
        listen: Option<SocketAddr>,
    ) -> Result<InitSummary> {
        Self::init_with(dir, province, listen, None).await
    }

    /// [`Coordinator::init`] with the store in a PostgreSQL database: `database` is its URL
    /// (without a password) and the file holding the password, if any, both written into
    /// `config.toml`. The database must be empty; its schema is created here.
    pub async fn init_with(
        dir: &Path,
        province: &str,
        listen: Option<SocketAddr>,
        database: Option<(String, Option<PathBuf>)>,
    ) -> Result<InitSummary> {
        let existed = dir.exists();
        if existed {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(CoordinatorError::NotEmpty {
                    path: dir.to_owned(),
                });
            }
        }
        let mut config = Config::new(province);
        if let Some(listen) = listen {
            config.listen = listen;
        }
        if let Some((url, password_file)) = database {
            config.database = Some(url);
            config.database_password_file = password_file;
        }
        // A bad URL or an unreadable password file is refused before anything is written.
        let location = config.store_location(dir, None)?;
        // The folder holds the coordinator's key and every site's reports: owner-only, as the
        // node's, whatever the umask.
        quietcount_service::files::create_private_dir(dir).map_err(io(dir))?;
        let made = Self::fill_new_dir(dir, &config, &location).await;
        if made.is_err() {
            // Nothing half-made is kept: the folder is left as it was (absent, or empty).
            let cleared = if existed {
                std::fs::read_dir(dir).and_then(|entries| {
                    entries.flatten().try_for_each(|e| {
                        let path = e.path();
                        if path.is_dir() {
                            std::fs::remove_dir_all(path)
                        } else {
                            std::fs::remove_file(path)
                        }
                    })
                })
            } else {
                std::fs::remove_dir_all(dir)
            };
            if let Err(error) = cleared {
                tracing::warn!(%error, dir = %dir.display(), "could not remove a half-made coordinator folder");
            }
        }
        made
    }

    async fn fill_new_dir(dir: &Path, config: &Config, location: &Location) -> Result<InitSummary> {
        let config_path = dir.join(files::CONFIG);
        // Check the text parses before writing it, so `init` never leaves a bad file.
        let text = config.to_documented_toml();
        Config::parse(&text, &config_path)?;
        quietcount_service::files::write_atomic(&config_path, text.as_bytes(), 0o600)?;
        let identity = Identity::generate();
        identity.save(&dir.join(files::KEY))?;
        let public_key_path = dir.join(files::PUBLIC_KEY);
        save_public_key(&public_key_path, &identity.verifying_key())?;
        if let Location::Sqlite(database) = location {
            quietcount_service::files::create_private_file(database).map_err(io(database))?;
        }
        let store = Store::create(location).await?;
        let bound = store
            .bind_to_coordinator(location, &identity.fingerprint())
            .await;
        store.close().await;
        bound?;
        Ok(InitSummary {
            public_key_path,
            short_fingerprint: short_fingerprint(&identity.fingerprint()),
        })
    }

    /// Opens a coordinator directory made by [`Coordinator::init`].
    pub async fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, None).await
    }

    /// Opens a coordinator directory with its store at `database` (a `--database` URL) instead
    /// of where `config.toml` says.
    pub async fn open_with(dir: &Path, database: Option<&str>) -> Result<Self> {
        let config = Config::load(dir)?;
        let location = config.store_location(dir, database)?;
        let identity = Identity::load(&dir.join(files::KEY))?;
        let mut forms = vec![AcceptedForm {
            form: Form::default_monthly(),
            toml: DEFAULT_MONTHLY_TOML.to_owned(),
        }];
        for relative in &config.extra_forms {
            let path = dir.join(relative);
            let toml = std::fs::read_to_string(&path).map_err(io(&path))?;
            let form = Form::from_toml(&toml).map_err(|source| CoordinatorError::Form {
                path: path.clone(),
                source,
            })?;
            forms.push(AcceptedForm { form, toml });
        }
        let store = Store::open(&location).await?;
        if let Err(e) = store
            .bind_to_coordinator(&location, &identity.fingerprint())
            .await
        {
            store.close().await;
            return Err(e.into());
        }
        Ok(Self {
            dir: dir.to_owned(),
            config,
            identity,
            forms,
            store,
        })
    }

    /// The ingest procedure for this coordinator.
    pub fn ingest(&self) -> Ingest {
        Ingest::new(
            self.store.clone(),
            self.identity.clone(),
            IngestPolicy {
                forms: self.forms.iter().map(|f| f.form.clone()).collect(),
                min_k: self.config.min_k,
                min_zeros: self.config.min_zeros,
                max_period_age_days: self.config.max_period_age_days,
            },
        )
    }

    /// Enrolls the key in `key_path` for `site`, retiring the site's previous key. With
    /// `expect_fingerprint`, refuses unless the key's short fingerprint is the one the site
    /// read out. The site is expected to report from `reports_from` (a period; default: from
    /// the enrolment on, so a site enrolled on 2 October is expected for October, not
    /// September).
    pub async fn enroll(
        &self,
        site: &SiteId,
        name: &str,
        key_path: &Path,
        expect_fingerprint: Option<&str>,
        reports_from: Option<Period>,
        now: UnixTime,
    ) -> Result<EnrollSummary> {
        let key = load_public_key(key_path)?;
        let short = short_fingerprint(&quietcount_protocol::fingerprint_of(&key));
        if let Some(expected) = expect_fingerprint {
            let expected = quietcount_keys::normalize_short_fingerprint(expected);
            if expected != quietcount_keys::normalize_short_fingerprint(&short) {
                return Err(CoordinatorError::FingerprintMismatch {
                    actual: short,
                    expected,
                });
            }
        }
        let reports_from = reports_from.map(|p| p.start());
        match self
            .store
            .enroll(site, name, &key, reports_from, now)
            .await?
        {
            EnrollOutcome::Enrolled { replaced_keys } => Ok(EnrollSummary {
                short_fingerprint: short,
                replaced_keys,
                already_enrolled: false,
            }),
            EnrollOutcome::AlreadyEnrolled => Ok(EnrollSummary {
                short_fingerprint: short,
                replaced_keys: 0,
                already_enrolled: true,
            }),
            EnrollOutcome::KeyWasRevoked => Err(CoordinatorError::KeyRevoked(site.clone())),
            EnrollOutcome::KeyUsedByOtherSite(other) => {
                Err(CoordinatorError::KeyOfAnotherSite(other))
            }
        }
    }

    /// Revokes, for `reason`, the key of `site` that was valid at `since` (now when `None`):
    /// reports received from `since` on no longer count; those received before stay valid.
    /// `since` may not be in the future. Replacing a key is not a revocation: enrolling the
    /// new key retires the old one.
    pub async fn revoke(
        &self,
        site: &SiteId,
        reason: KeyEndReason,
        since: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<KeyRecord> {
        if reason.is_retirement() {
            return Err(CoordinatorError::RevokeReplaced);
        }
        let since = since.unwrap_or(now);
        if since > now {
            return Err(CoordinatorError::RevokeInFuture {
                since: quietcount_protocol::ids::format_utc(since),
            });
        }
        self.store
            .revoke(site, since, reason, now)
            .await?
            .ok_or_else(|| CoordinatorError::NotEnrolled(site.clone()))
    }

    /// Every key ever enrolled.
    pub async fn sites(&self) -> Result<Vec<KeyRecord>> {
        Ok(self.store.keys().await?)
    }

    /// Completeness of `form` (by id; may be omitted when one form is accepted) for `period`:
    /// who reported, when, and the reporting and on-time rates
    /// (`protocol::completeness`, as in the donor package).
    pub async fn status(&self, period: Period, form_id: Option<&str>) -> Result<StatusReport> {
        let form = self.form(form_id)?.form.reference();
        let form_key = form.key();
        let keys = self.store.keys().await?;
        let equivocating = self.store.equivocating_sites(&form_key, period).await?;
        let unresolved: BTreeSet<SiteId> = self
            .store
            .conflicts(Some(period))
            .await?
            .into_iter()
            .filter(|c| c.form.as_ref().is_none_or(|f| *f == form_key) && c.resolution.is_none())
            .map(|c| c.site)
            .collect();
        let days = self.config.on_time_days;
        let entries: Vec<RegistryEntry> = keys.iter().map(KeyRecord::registry_entry).collect();
        let expected = expected_sites(&entries, period);
        let all = self.store.reports_of_period(period).await?;
        let mut sites = Vec::new();
        let mut not_expected = Vec::new();
        let mut arrivals = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        // Newest key first, so each site is described by its active or last key.
        for key in keys.iter().rev() {
            if !seen.insert(key.site.clone()) {
                continue;
            }
            let own: Vec<&ReportRecord> = all
                .iter()
                .filter(|r| r.site == key.site && r.form == form_key)
                .collect();
            let (report, not_counted) = counted_report(&own, &keys);
            // Lateness is judged by the time signed into the receipt the site holds.
            let received_at = report.map(|r| self.receipt_time(&r.receipt)).transpose()?;
            if let Some(received_at) = received_at {
                arrivals.push(Arrival {
                    site: key.site.clone(),
                    received_at,
                });
            }
            let site_keys: Vec<&KeyRecord> = keys.iter().filter(|k| k.site == key.site).collect();
            let key_note = key_history_note(&site_keys);
            let status = SiteStatus {
                site: key.site.clone(),
                name: key.name.clone(),
                fingerprint: short_fingerprint(&key.fingerprint()),
                reported: report.is_some(),
                revision: report.map(|r| r.revision),
                received_at,
                on_time: received_at.map(|t| on_time(period, t, days)),
                equivocation: equivocating.contains(&key.site),
                equivocation_resolved: equivocating.contains(&key.site)
                    && !unresolved.contains(&key.site),
                key_note,
                not_counted,
            };
            if expected.contains(&key.site) {
                sites.push(status);
            } else {
                not_expected.push(status);
            }
        }
        sites.sort_by(|a, b| a.site.cmp(&b.site));
        not_expected.sort_by(|a, b| a.site.cmp(&b.site));
        let figures = completeness(period, &expected, &arrivals, days);
        Ok(StatusReport {
            form,
            period,
            on_time_days: days,
            reporting_rate: figures.reporting_rate(),
            on_time_rate: figures.on_time_rate(),
            sites,
            not_expected,
            expected: figures.expected,
            reported: figures.reported,
            on_time: figures.on_time,
        })
    }

    /// The reception time signed into a stored receipt.
    fn receipt_time(&self, receipt: &[u8]) -> Result<UnixTime> {
        open::<Receipt>(receipt, &self.identity.verifying_key())
            .map(|opened| opened.payload.received_at)
            .map_err(|e| {
                CoordinatorError::Store(crate::store::StoreError::Corrupt(format!(
                    "stored receipt does not verify: {e}"
                )))
            })
    }

    /// The accepted form with `id`; without an id, the one accepted form, and an error naming
    /// them all when there are several.
    pub fn form(&self, id: Option<&str>) -> Result<&AcceptedForm> {
        match id {
            None => match self.forms.as_slice() {
                [only] => Ok(only),
                forms => Err(CoordinatorError::FormRequired {
                    accepted: forms.iter().map(|f| f.form.id.clone()).collect(),
                }),
            },
            Some(id) => self
                .forms
                .iter()
                .find(|f| f.form.id == id)
                .ok_or_else(|| CoordinatorError::UnknownForm(id.to_owned())),
        }
    }

    /// Assembles the donor package of `period` (latest revision of each site received inside
    /// its key's validity window) with `keys::package::assemble`, and writes it to `out` if
    /// given. Refuses a period with no report, and one below the configured reporting share
    /// unless `allow_incomplete` (the package then says it is incomplete).
    pub async fn publish(
        &self,
        period: Period,
        form_id: Option<&str>,
        out: Option<&Path>,
        allow_incomplete: bool,
        now: UnixTime,
    ) -> Result<Assembled> {
        let form = self.form(form_id)?;
        let registry: Vec<_> = self
            .store
            .keys()
            .await?
            .iter()
            .map(KeyRecord::registry_entry)
            .collect();
        // Every revision: where a site's latest was received outside its key's window (a key
        // revoked since an earlier date), its latest valid one counts.
        let form_key = FormKey::of(&form.form);
        let reports: Vec<StoredReport> = self
            .store
            .reports_of_period(period)
            .await?
            .into_iter()
            .filter(|r| r.form == form_key)
            .map(|r| StoredReport {
                envelope: r.envelope,
                received_at: r.received_at,
            })
            .collect();
        let publication = Publication {
            form: &form.form,
            form_toml: &form.toml,
            province: &self.config.province,
            period,
            published_at: now,
            on_time_days: self.config.on_time_days,
            registry: &registry,
            min_reporting_percent: self.config.min_reporting_percent,
            allow_incomplete,
        };
        let assembled = assemble(&publication, &reports, &self.identity)?;
        if let Some(out) = out {
            assembled.package.write_to(out)?;
        }
        Ok(assembled)
    }

    /// The signed site registry (every key ever enrolled), as COSE_Sign1 bytes.
    pub async fn signed_registry(&self, now: UnixTime) -> Result<Vec<u8>> {
        let registry = SiteRegistry {
            format: FORMAT_VERSION,
            province: self.config.province.clone(),
            issued_at: now,
            entries: self
                .store
                .keys()
                .await?
                .iter()
                .map(KeyRecord::registry_entry)
                .collect(),
        };
        Ok(sign(&registry, self.identity.signing_key())?)
    }

    /// Long-format rows of `period`: every site's latest report received inside its key's
    /// validity window, and the provincial totals; no rows at all when no site reported.
    pub async fn export_rows(
        &self,
        period: Period,
        form_id: Option<&str>,
    ) -> Result<Vec<ExportRow>> {
        let form = &self.form(form_id)?.form;
        let keys = self.store.keys().await?;
        let form_key = FormKey::of(form);
        let all = self.store.reports_of_period(period).await?;
        let mut counted = Vec::new();
        for site in all.iter().map(|r| &r.site).collect::<BTreeSet<_>>() {
            let own: Vec<&ReportRecord> = all
                .iter()
                .filter(|r| &r.site == site && r.form == form_key)
                .collect();
            if let (Some(record), _) = counted_report(&own, &keys) {
                counted.push(record);
            }
        }
        let mut reports: Vec<SiteReport> = Vec::new();
        for record in counted {
            let Some(key) = keys.iter().find(|k| k.id == record.key_id) else {
                continue;
            };
            let opened = open::<SiteReport>(&record.envelope, &key.public_key).map_err(|e| {
                CoordinatorError::Export(format!("stored report of {} fails: {e}", record.site))
            })?;
            let report = opened.payload;
            // As in publication: a report the donor's verifier would reject is left out (with a
            // warning naming the site), and the other sites' rows and totals still export.
            let usable = report.form == form.reference()
                && report.check_against(form).is_ok()
                && check_report(form, &report.indicators, &report.policy).is_ok();
            if usable {
                reports.push(report);
            } else if report.form == form.reference() {
                tracing::warn!(site = %report.site, %period, "export leaves out a report that breaks the disclosure rule");
            }
        }
        // A period without data exports nothing: no row of exact zeros nobody reported.
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::new();
        for report in &reports {
            // One audit of the whole report: relations between indicators narrow intervals.
            let audits = audit_report(form, &report.indicators, &report.policy)
                .map_err(|e| CoordinatorError::Export(format!("audit of {}: {e}", report.site)))?
                .indicators;
            rows.extend(site_rows(form, report, &audits));
        }
        let totals = aggregate(form, period, &reports)
            .map_err(|e| CoordinatorError::Export(e.to_string()))?;
        rows.extend(province_rows(form, period, &totals));
        Ok(rows)
    }
}

/// The report of one site (its stored revisions for a form and period) that counts: the
/// latest revision received inside its key's validity window; and, in words, each later one
/// that does not count.
fn counted_report<'r>(
    revisions: &[&'r ReportRecord],
    keys: &[KeyRecord],
) -> (Option<&'r ReportRecord>, Vec<String>) {
    let key_of = |record: &ReportRecord| keys.iter().find(|k| k.id == record.key_id);
    let best = revisions
        .iter()
        .copied()
        .filter(|r| key_of(r).is_some_and(|k| k.valid_at(r.received_at)))
        .max_by_key(|r| r.revision);
    let counted_revision = best.map_or(0, |b| b.revision);
    // Only what is newer than the counted revision is worth telling.
    let not_counted = revisions
        .iter()
        .filter(|r| r.revision > counted_revision)
        .map(|r| match key_of(r) {
            Some(key) => format!(
                "revision {} received {}, outside its key's validity window ({})",
                r.revision,
                quietcount_protocol::ids::format_utc(r.received_at),
                quietcount_keys::verify::key_window(&key.registry_entry())
            ),
            None => format!(
                "revision {}: signed by a key the store does not list",
                r.revision
            ),
        })
        .collect();
    (best, not_counted)
}

/// The site's key history in words, when a key of it was retired or revoked.
fn key_history_note(keys: &[&KeyRecord]) -> Option<String> {
    let notes: Vec<String> = keys
        .iter()
        .filter(|k| k.valid_until.is_some())
        .map(|k| {
            format!(
                "key {}: {}",
                short_fingerprint(&k.fingerprint()),
                quietcount_keys::verify::key_window(&k.registry_entry())
            )
        })
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Rows as CSV with the standard header.
pub fn rows_as_csv(rows: &[ExportRow]) -> String {
    rows_to_csv(rows)
}

/// Rows as a JSON array of objects with the CSV's field names (numbers as numbers, absent
/// values as null: `value` unless exact, `upper` when nothing bounds the cell from above).
pub fn rows_as_json(rows: &[ExportRow]) -> String {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "period": row.period.to_string(),
                "scope": row.scope,
                "indicator": row.indicator,
                "disaggregation": row.disaggregation,
                "value": row.value,
                "lower": row.lower,
                "upper": row.upper,
                "status": row.status.as_str(),
            })
        })
        .collect();
    serde_json::Value::Array(values).to_string()
}
