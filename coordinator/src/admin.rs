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
use quietcount_protocol::completeness::{Arrival, completeness, on_time};
use quietcount_protocol::export::{ExportRow, province_rows, site_rows};
use quietcount_protocol::form::DEFAULT_MONTHLY_TOML;
use quietcount_protocol::{
    FORMAT_VERSION, Form, FormRef, Period, Receipt, SiteId, SiteRegistry, SiteReport, UnixTime,
    aggregate, audit_report, disclosure::check_report, open, sign,
};
use serde::Serialize;

use crate::config::{Config, files};
use crate::error::{CoordinatorError, io};
use crate::ingest::{Ingest, IngestPolicy};
use crate::store::{EnrollOutcome, FormKey, KeyRecord, Store};

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
    /// Older keys of the site revoked by this enrolment.
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
    /// Enrolled sites, expected to report.
    pub sites: Vec<SiteStatus>,
    /// Revoked sites, not expected.
    pub revoked: Vec<SiteStatus>,
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
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(CoordinatorError::NotEmpty {
                    path: dir.to_owned(),
                });
            }
        }
        // The folder holds the coordinator's key and every site's reports: owner-only, as the
        // node's, whatever the umask.
        quietcount_service::files::create_private_dir(dir).map_err(io(dir))?;
        let mut config = Config::new(province);
        if let Some(listen) = listen {
            config.listen = listen;
        }
        let config_path = dir.join(files::CONFIG);
        // Check the text parses before writing it, so `init` never leaves a bad file.
        let text = config.to_documented_toml();
        Config::parse(&text, &config_path)?;
        quietcount_service::files::write_atomic(&config_path, text.as_bytes(), 0o600)?;
        let identity = Identity::generate();
        identity.save(&dir.join(files::KEY))?;
        let public_key_path = dir.join(files::PUBLIC_KEY);
        save_public_key(&public_key_path, &identity.verifying_key())?;
        let database = dir.join(files::DATABASE);
        quietcount_service::files::create_private_file(&database).map_err(io(&database))?;
        let store = Store::create(&database).await?;
        store
            .bind_to_coordinator(&database, &identity.fingerprint())
            .await?;
        store.close().await;
        Ok(InitSummary {
            public_key_path,
            short_fingerprint: short_fingerprint(&identity.fingerprint()),
        })
    }

    /// Opens a coordinator directory made by [`Coordinator::init`].
    pub async fn open(dir: &Path) -> Result<Self> {
        let config = Config::load(dir)?;
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
        let database = dir.join(files::DATABASE);
        let store = Store::open(&database).await?;
        if let Err(e) = store
            .bind_to_coordinator(&database, &identity.fingerprint())
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

    /// Enrolls the key in `key_path` for `site`. With `expect_fingerprint`, refuses unless the
    /// key's short fingerprint is the one the site read out.
    pub async fn enroll(
        &self,
        site: &SiteId,
        name: &str,
        key_path: &Path,
        expect_fingerprint: Option<&str>,
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
        match self.store.enroll(site, name, &key, now).await? {
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

    /// Revokes the active key of `site`.
    pub async fn revoke(&self, site: &SiteId, now: UnixTime) -> Result<()> {
        if self.store.revoke(site, now).await? {
            Ok(())
        } else {
            Err(CoordinatorError::NotEnrolled(site.clone()))
        }
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
        let latest = self.store.latest_reports(&form_key, period).await?;
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
        let mut sites = Vec::new();
        let mut revoked = Vec::new();
        let mut arrivals = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        // Newest key first, so each site is described by its active or last key.
        for key in keys.iter().rev() {
            if !seen.insert(key.site.clone()) {
                continue;
            }
            let report = latest
                .iter()
                .find(|r| r.site == key.site && r.key_id == key.id);
            // Lateness is judged by the time signed into the receipt the site holds.
            let received_at = report.map(|r| self.receipt_time(&r.receipt)).transpose()?;
            if let Some(received_at) = received_at {
                arrivals.push(Arrival {
                    site: key.site.clone(),
                    received_at,
                });
            }
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
            };
            if key.revoked_at.is_none() {
                sites.push(status);
            } else {
                revoked.push(status);
            }
        }
        sites.sort_by(|a, b| a.site.cmp(&b.site));
        revoked.sort_by(|a, b| a.site.cmp(&b.site));
        let expected: BTreeSet<SiteId> = sites.iter().map(|s| s.site.clone()).collect();
        let figures = completeness(period, &expected, &arrivals, days);
        Ok(StatusReport {
            form,
            period,
            on_time_days: days,
            reporting_rate: figures.reporting_rate(),
            on_time_rate: figures.on_time_rate(),
            sites,
            revoked,
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

    /// Assembles the donor package of `period` (latest revision of each site) with
    /// `keys::package::assemble`, and writes it to `out` if given.
    pub async fn publish(
        &self,
        period: Period,
        form_id: Option<&str>,
        out: Option<&Path>,
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
        let reports: Vec<StoredReport> = self
            .store
            .latest_reports(&FormKey::of(&form.form), period)
            .await?
            .into_iter()
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

    /// Long-format rows of `period`: every site's latest report (signed by its active key)
    /// and the provincial totals.
    pub async fn export_rows(
        &self,
        period: Period,
        form_id: Option<&str>,
    ) -> Result<Vec<ExportRow>> {
        let form = &self.form(form_id)?.form;
        let keys = self.store.keys().await?;
        let mut reports: Vec<SiteReport> = Vec::new();
        for record in self
            .store
            .latest_reports(&FormKey::of(form), period)
            .await?
        {
            let Some(key) = keys
                .iter()
                .find(|k| k.id == record.key_id && k.revoked_at.is_none())
            else {
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
