//! The Quietcount site node: the service each community treatment site runs.
//!
//! Identifiable client records live only here, in the node's SQLite database. What leaves
//! is a signed site report whose tables passed disclosure control, and nothing else.
//!
//! - [`config`]: the data directory and `config.toml`.
//! - [`db`]: the database (WAL, `synchronous=FULL`, versioned migrations).
//! - [`import`] and [`vocab`]: CSV import with English and Vietnamese labels, whole or not at all.
//! - [`simulate`]: deterministic synthetic records for demos, training and benchmarks.
//! - [`report`]: indicators computed in SQL, suppression, preview, content hashes.
//! - [`outbox`]: committed reports, receipts, backoff, and the delivery of one entry.
//! - [`deliver`]: the QUIC transport with pinned mutual TLS.
//! - [`service`]: the `run` loop: schedule, retries, clean shutdown.
//!
//! [`Node`] ties them together; the binary only parses arguments and calls it.
#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod dates;
pub mod db;
pub mod deliver;
pub mod error;
pub mod import;
pub mod outbox;
pub mod report;
pub mod service;
pub mod simulate;
pub mod vocab;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use quietcount_keys::{Identity, load_public_key, save_public_key, short_fingerprint};
use quietcount_protocol::{
    EnvelopeHash, Form, Period, SiteId, SiteReport, UnixTime, fingerprint_of,
};

pub use clock::{Clock, FixedClock, SystemClock};
pub use config::{Config, DataDir, LogFormat};
pub use db::Db;
pub use error::NodeError;
pub use import::{ImportError, ImportSummary, Problem, RowProblem};
pub use outbox::{Backoff, EntryState, OutboxEntry, Outcome, StoredReceipt};

/// What `init` needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The data directory to create (must not exist, or be empty).
    pub dir: PathBuf,
    /// This site's id.
    pub site: SiteId,
    /// The coordinator's `HOST:PORT`.
    pub coordinator: String,
    /// The coordinator's public key file (PEM), copied into the data directory.
    pub coordinator_key: PathBuf,
    /// Disclosure threshold, if stricter than the default.
    pub k: Option<u32>,
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct InitSummary {
    /// The site key's short fingerprint, to read to the province.
    pub short_fingerprint: String,
    /// The public key file to give to the province.
    pub site_pub: PathBuf,
}

/// Creates a data directory: configuration, site key, pinned coordinator key, database.
pub async fn init(options: &InitOptions) -> Result<InitSummary, NodeError> {
    let dir = DataDir::new(&options.dir);
    match std::fs::read_dir(&dir.root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(NodeError::DirectoryNotEmpty {
                    dir: dir.root.clone(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&dir.root).map_err(|e| NodeError::io(&dir.root, e))?;
        }
        Err(e) => return Err(NodeError::io(&dir.root, e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir.root, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| NodeError::io(&dir.root, e))?;
    }
    let coordinator_key = load_public_key(&options.coordinator_key)?;
    let mut config = Config::new(
        options.site.clone(),
        options.coordinator.clone(),
        vec![PathBuf::from(config::COORDINATOR_KEY_FILE)],
    );
    if let Some(k) = options.k {
        config.k = k;
    }
    let text = config.to_documented_toml();
    // Check what we are about to write, so a bad --k or address fails before any file exists.
    Config::from_toml(&text, &dir.config())?;
    save_public_key(
        &dir.root.join(config::COORDINATOR_KEY_FILE),
        &coordinator_key,
    )?;
    let identity = Identity::generate();
    identity.save(&dir.site_key())?;
    save_public_key(&dir.site_pub(), &identity.verifying_key())?;
    quietcount_service::files::write_atomic(&dir.config(), text.as_bytes(), 0o600)?;
    // The database holds identifiable records: create it owner-only before SQLite opens it
    // (SQLite gives its -wal and -shm files the same mode).
    create_private_file(&dir.database())?;
    let db = Db::open(&dir.database(), true).await?;
    db.close().await;
    tracing::info!(site = %options.site, "data directory initialised");
    Ok(InitSummary {
        short_fingerprint: short_fingerprint(&identity.fingerprint()),
        site_pub: dir.site_pub(),
    })
}

fn create_private_file(path: &Path) -> Result<(), NodeError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|e| NodeError::io(path, e))
}

/// An opened data directory: configuration, identity, database and form.
#[derive(Debug)]
pub struct Node {
    /// The data directory.
    pub dir: DataDir,
    /// Its configuration.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// The form reported.
    pub form: Form,
    identity: Identity,
    coordinator_keys: Vec<VerifyingKey>,
}

/// What `report` did.
#[derive(Debug, Clone)]
pub enum ReportOutcome {
    /// `--preview`: the report as it would leave the site; nothing was written.
    Preview {
        /// The report (unsigned).
        report: Box<SiteReport>,
        /// The rendered tables.
        text: String,
    },
    /// The published content equals the latest revision's: nothing was done.
    Unchanged {
        /// Period.
        period: Period,
        /// The latest revision.
        revision: u32,
    },
    /// Signed and committed to the outbox.
    Queued {
        /// Period.
        period: Period,
        /// Revision.
        revision: u32,
        /// The envelope's hash.
        envelope_hash: EnvelopeHash,
    },
}

impl fmt::Display for ReportOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportOutcome::Preview { text, .. } => f.write_str(text),
            ReportOutcome::Unchanged { period, revision } => write!(
                f,
                "report for {period} unchanged since revision {revision}; nothing to do"
            ),
            ReportOutcome::Queued {
                period,
                revision,
                envelope_hash,
            } => write!(
                f,
                "report for {period} revision {revision} signed and queued in the outbox ({})",
                &envelope_hash.to_hex()[..16]
            ),
        }
    }
}

/// What a delivery round did.
#[derive(Debug, Clone, Default)]
pub struct SubmitSummary {
    /// One outcome per entry tried.
    pub outcomes: Vec<Outcome>,
}

impl SubmitSummary {
    /// Whether every entry tried was delivered.
    pub fn all_delivered(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Delivered { .. }))
    }
}

impl fmt::Display for SubmitSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.outcomes.is_empty() {
            return f.write_str("nothing to deliver");
        }
        for (i, o) in self.outcomes.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match o {
                Outcome::Delivered {
                    period,
                    revision,
                    sequence,
                    duplicate,
                } => write!(
                    f,
                    "{period} revision {revision}: delivered, receipt #{sequence}{}",
                    if *duplicate {
                        " (coordinator already had it)"
                    } else {
                        ""
                    }
                )?,
                Outcome::Refused {
                    period,
                    revision,
                    code,
                } => write!(
                    f,
                    "{period} revision {revision}: REFUSED by the coordinator: {code}"
                )?,
                Outcome::Retry {
                    period,
                    revision,
                    error,
                    next_attempt_at,
                } => write!(
                    f,
                    "{period} revision {revision}: not delivered ({error}); next attempt at {}",
                    format_time(*next_attempt_at)
                )?,
            }
        }
        Ok(())
    }
}

impl Node {
    /// Opens a data directory made by [`init`].
    pub async fn open(dir: &Path) -> Result<Self, NodeError> {
        let dir = DataDir::new(dir);
        let config = Config::load(&dir.root)?;
        let identity = Identity::load(&dir.site_key())?;
        let coordinator_keys = config
            .coordinator_keys
            .iter()
            .map(|p| load_public_key(&dir.root.join(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let db = Db::open(&dir.database(), false).await?;
        Ok(Self {
            dir,
            config,
            db,
            form: Form::default_monthly(),
            identity,
            coordinator_keys,
        })
    }

    /// The site identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The pinned coordinator keys.
    pub fn coordinator_keys(&self) -> &[VerifyingKey] {
        &self.coordinator_keys
    }

    /// Imports a CSV file.
    pub async fn import(
        &self,
        file: &Path,
        show_progress: bool,
    ) -> Result<ImportSummary, NodeError> {
        import::import_file(&self.db, file, show_progress).await
    }

    /// Builds the report for `period`: a preview, or signed into the outbox as the next
    /// revision if its content changed.
    pub async fn report(
        &self,
        period: Period,
        preview: bool,
        allow_open_period: bool,
        now: UnixTime,
    ) -> Result<ReportOutcome, NodeError> {
        if period.period_type() != self.form.period {
            return Err(NodeError::WrongPeriodType {
                period,
                expected: self.form.period,
            });
        }
        if !allow_open_period && !period.is_over(now) {
            return Err(NodeError::PeriodNotOver { period });
        }
        let counts = report::compute_counts(&self.db, &self.form, period).await?;
        // The chain continues from what the coordinator holds or may still accept; a refused
        // envelope is not part of it, and building again after a refusal sends afresh.
        let latest = outbox::latest_live_for_period(&self.db, period).await?;
        let (revision, supersedes) = latest
            .as_ref()
            .map_or((1, None), |e| (e.revision + 1, Some(e.envelope_hash)));
        let built = report::build_report(
            &self.form,
            &self.config.site,
            period,
            &counts,
            self.config.policy(),
            revision,
            supersedes,
            now,
        )?;
        if preview {
            let text = report::render_preview(&self.form, &built);
            return Ok(ReportOutcome::Preview {
                report: Box::new(built),
                text,
            });
        }
        let content = report::content_hash(&built)?;
        if let Some(latest) = &latest {
            if latest.content_hash == content {
                tracing::info!(%period, revision = latest.revision, "report content unchanged");
                return Ok(ReportOutcome::Unchanged {
                    period,
                    revision: latest.revision,
                });
            }
        }
        let envelope = quietcount_protocol::sign(&built, self.identity.signing_key())?;
        let entry = outbox::commit(&self.db, &built, &envelope, content, now).await?;
        tracing::info!(%period, revision, envelope = %&entry.envelope_hash.to_hex()[..16], "report queued");
        Ok(ReportOutcome::Queued {
            period,
            revision,
            envelope_hash: entry.envelope_hash,
        })
    }

    /// Delivers pending reports (all of them, or with `only_due` those whose retry time has
    /// come). An unreachable coordinator is an error; every entry tried stays pending with
    /// its next attempt scheduled.
    pub async fn submit(&self, now: UnixTime, only_due: bool) -> Result<SubmitSummary, NodeError> {
        let entries = outbox::pending(&self.db, only_due.then_some(now)).await?;
        if entries.is_empty() {
            return Ok(SubmitSummary::default());
        }
        let context = self.delivery_context();
        let pinned: Vec<_> = self.coordinator_keys.iter().map(fingerprint_of).collect();
        let timeout = Duration::from_secs(self.config.connect_timeout_secs);
        let mut transport = match deliver::QuicTransport::connect(
            &self.config.coordinator,
            &self.identity,
            &pinned,
            timeout,
        )
        .await
        {
            Ok(t) => t,
            Err(error) => {
                for entry in &entries {
                    outbox::retry(&context, entry, error.to_string(), now, rand::random()).await?;
                }
                return Err(error.into());
            }
        };
        let mut summary = SubmitSummary::default();
        for entry in &entries {
            let outcome =
                outbox::deliver_entry(&context, &mut transport, entry, now, rand::random()).await?;
            summary.outcomes.push(outcome);
        }
        transport.close().await;
        Ok(summary)
    }

    fn delivery_context(&self) -> outbox::DeliveryContext<'_> {
        outbox::DeliveryContext {
            db: &self.db,
            site: &self.config.site,
            coordinator_keys: &self.coordinator_keys,
            backoff: Backoff {
                base_secs: self.config.retry_base_secs,
                max_secs: self.config.retry_max_secs,
            },
        }
    }

    /// Writes a complete copy of the data directory into `out`, which must not exist: a
    /// consistent snapshot of the database (`VACUUM INTO`, safe while the service runs) and
    /// every other file (configuration, keys). The copy is itself a data directory that
    /// `run` accepts. It holds identifiable records and the site key, so it is created
    /// readable by its owner only; keep it encrypted.
    pub async fn backup(&self, out: &Path) -> Result<(), NodeError> {
        let io = |path: &Path, source: std::io::Error| NodeError::Io {
            path: path.to_owned(),
            source,
        };
        if out.exists() {
            return Err(io(
                out,
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "already exists; choose a new directory",
                ),
            ));
        }
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(out).map_err(|e| io(out, e))?;
        let snapshot = out.join(config::DATABASE_FILE);
        sqlx::query("VACUUM INTO ?1")
            .bind(snapshot.to_string_lossy().into_owned())
            .execute(self.db.pool())
            .await?;
        set_owner_only(&snapshot).map_err(|e| io(&snapshot, e))?;
        for entry in std::fs::read_dir(&self.dir.root).map_err(|e| io(&self.dir.root, e))? {
            let entry = entry.map_err(|e| io(&self.dir.root, e))?;
            let name = entry.file_name();
            let is_database = name.to_string_lossy().starts_with(config::DATABASE_FILE);
            if is_database || !entry.path().is_file() {
                continue;
            }
            let target = out.join(&name);
            std::fs::copy(entry.path(), &target).map_err(|e| io(&target, e))?;
            set_owner_only(&target).map_err(|e| io(&target, e))?;
        }
        Ok(())
    }

    /// The state of the outbox and the last receipts.
    pub async fn status(&self) -> Result<Status, NodeError> {
        let (pending, refused): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'refused'), 0) FROM outbox",
        )
        .fetch_one(self.db.pool())
        .await?;
        Ok(Status {
            pending: u64::try_from(pending).unwrap_or(0),
            refused: u64::try_from(refused).unwrap_or(0),
            site: self.config.site.clone(),
            fingerprint: short_fingerprint(&self.identity.fingerprint()),
            entries: outbox::entries(&self.db, 20).await?,
            receipts: outbox::receipts(&self.db, 10).await?,
        })
    }
}

/// What `status` shows.
#[derive(Debug, Clone)]
pub struct Status {
    /// This site.
    pub site: SiteId,
    /// Its short key fingerprint.
    pub fingerprint: String,
    /// The latest outbox entries, newest first.
    pub entries: Vec<OutboxEntry>,
    /// Entries waiting to be delivered (all of them, not only those listed).
    pub pending: u64,
    /// Entries refused for good.
    pub refused: u64,
    /// The latest receipts, newest first.
    pub receipts: Vec<StoredReceipt>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "site {}  key {}", self.site, self.fingerprint)?;
        writeln!(f, "\nReports (newest first):")?;
        if self.entries.is_empty() {
            writeln!(f, "  none built yet")?;
        }
        for e in &self.entries {
            let state = match e.state {
                EntryState::Delivered => "delivered".to_owned(),
                EntryState::Refused => {
                    format!("REFUSED ({})", e.refusal_code.as_deref().unwrap_or("?"))
                }
                EntryState::Pending => format!(
                    "pending, {} failed attempt(s), next at {}{}",
                    e.attempts,
                    format_time(e.next_attempt_at),
                    e.last_error
                        .as_ref()
                        .map(|m| format!("; last error: {m}"))
                        .unwrap_or_default()
                ),
            };
            writeln!(
                f,
                "  {}  rev {}  built {}  {}  {}",
                e.period,
                e.revision,
                format_time(e.built_at),
                &e.envelope_hash.to_hex()[..12],
                state
            )?;
        }
        writeln!(f, "\nPending: {}  Refused: {}", self.pending, self.refused)?;
        writeln!(f, "\nLast receipts:")?;
        if self.receipts.is_empty() {
            writeln!(f, "  none yet")?;
        }
        for r in &self.receipts {
            writeln!(
                f,
                "  #{}  {} rev {}  received {}  {}",
                r.sequence,
                r.period,
                r.revision,
                format_time(r.received_at),
                &r.envelope_hash.to_hex()[..12]
            )?;
        }
        Ok(())
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (the one formatter lives in `protocol`).
pub use quietcount_protocol::ids::format_utc as format_time;

/// Restricts a file to its owner (mode 0600).
fn set_owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
