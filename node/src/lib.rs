//! The Quietcount site node: the service each community treatment site runs.
//!
//! Identifiable client records live only here, in the node's SQLite database. What leaves
//! is a signed site report whose tables passed disclosure control, and nothing else.
//!
//! - [`config`]: the data directory and `config.toml` (including the forms reported).
//! - [`store`]: the database, the only place with SQL (WAL, `synchronous=FULL`, versioned
//!   migrations, named transactions).
//! - [`import`] and [`vocab`]: import of CSV files and Excel workbooks with English and
//!   Vietnamese headers and labels (from one data file), whole or not at all; the template
//!   workbook.
//! - [`simulate`]: deterministic synthetic records for demos, training and benchmarks (refused
//!   in a database holding imported records).
//! - [`clock_check`]: whether this computer's clock agrees with the coordinator's.
//! - [`corrections`]: erasing a client and deleting an event, each in one transaction.
//! - [`sealed`]: the records key pair: identifying fields sealed to its public key, the
//!   private key wrapped per staff member (Argon2id) and under a recovery key.
//! - [`entry`]: one client or one service entered by hand (the web app's forms), checked by
//!   the import's rules as a one-row file.
//! - [`approval`]: approving a report before it is queued, with four eyes.
//! - [`web`]: the staff web app that `run` serves on 127.0.0.1.
//! - [`report`]: indicators classified into a form's categories, suppression, content hashes.
//! - [`outbox`]: backoff, and the delivery of one committed entry.
//! - [`deliver`]: the QUIC transport with pinned mutual TLS.
//! - [`service`]: the `run` loop: schedule, retries, clean shutdown.
//!
//! [`Node`] ties them together behind intention-named methods (`preview_report`,
//! `queue_report`, `submit_due`, ...) that a CLI or a web layer calls; rendering results for
//! people is the caller's job.
#![warn(missing_docs)]

pub mod approval;
pub mod clock_check;
pub mod config;
pub mod corrections;
pub mod dates;
pub mod deliver;
pub mod entry;
pub mod error;
pub mod fetch;
pub mod import;
pub mod outbox;
pub mod report;
pub mod sealed;
pub mod service;
pub mod simulate;
pub mod store;
pub mod vocab;
pub mod web;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use quietcount_keys::{Identity, load_public_key, save_public_key, short_fingerprint};
use quietcount_protocol::{
    ChainHead, CountTable, EnvelopeHash, Form, Period, SiteId, SiteReport, SuppressionSecret,
    Table, UnixTime, fingerprint_of, next_revision,
};

pub use clock_check::ClockCheck;
pub use config::{Config, DataDir, LogFormat};
pub use error::NodeError;
pub use import::{
    DateOrder, ImportError, ImportOptions, ImportSummary, Imported, Problem, ProblemGroup,
    Progress, RecordKind, RowProblem, Warning, WarningGroup,
};
pub use outbox::{Backoff, Outcome};
pub use quietcount_service::clock::{Clock, FixedClock, SystemClock};
pub use sealed::{KdfParams, Keyring, RecordsKey, RecoveryKey, SealError, Unlock};
pub use store::outbox::KeyRefusal;
pub use store::{EntryState, FormKey, OutboxEntry, Store, StoreError, StoredClient, StoredReceipt};

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
    /// The recovery key of the records key pair: shown once, to print and store offline. It
    /// is the only way to read names when no staff passphrase is known.
    pub recovery_key: RecoveryKey,
}

/// What sealing a data directory did.
#[derive(Debug)]
pub struct SealSummary {
    /// Clients whose clear identity values were sealed.
    pub clients_sealed: u64,
    /// The recovery key, when the records key pair was made now (show it once).
    pub recovery_key: Option<RecoveryKey>,
    /// Copies of the database taken before schema changes, removed because they held the
    /// clear identity values sealing removed.
    pub snapshots_removed: Vec<PathBuf>,
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(NodeError::io(&dir.root, e)),
    }
    quietcount_service::files::create_private_dir(&dir.root)
        .map_err(|e| NodeError::io(&dir.root, e))?;
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
    quietcount_service::files::create_private_file(&dir.database())
        .map_err(|e| NodeError::io(dir.database(), e))?;
    let (keyring, recovery_key) = Keyring::generate();
    keyring.save(&dir.root)?;
    let store = Store::create(&dir.database()).await?;
    store.seal_clear_identity(&keyring.sealer()?).await?;
    store.close().await;
    tracing::info!(site = %options.site, "data directory initialised");
    Ok(InitSummary {
        short_fingerprint: short_fingerprint(&identity.fingerprint()),
        site_pub: dir.site_pub(),
        recovery_key,
    })
}

/// Whether a report may be built for a period that has not ended yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenPeriod {
    /// Only periods that are over (the normal case).
    Refuse,
    /// Also a period still open (a mid-month check, training).
    Allow,
}

/// An opened data directory: configuration, identity, store and the forms reported.
#[derive(Debug)]
pub struct Node {
    dir: DataDir,
    config: Config,
    store: Store,
    forms: Vec<Form>,
    identity: Identity,
    coordinator_keys: Vec<VerifyingKey>,
    /// The records public key; `None` until the records are sealed.
    sealer: Option<sealed::Sealer>,
}

/// A report as it would leave the site; nothing was written.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The form it answers.
    pub form: FormKey,
    /// The report (unsigned), with the revision it would take.
    pub report: Box<SiteReport>,
}

/// What queueing a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOutcome {
    /// The published content equals the latest revision's: nothing was done.
    Unchanged {
        /// The form.
        form: FormKey,
        /// Period.
        period: Period,
        /// The latest revision.
        revision: u32,
    },
    /// A correction that cannot be published yet without singling people out together with
    /// the revisions already sent: nothing was queued (see [`NodeError::CorrectionHeld`]).
    Held {
        /// The form.
        form: FormKey,
        /// Period.
        period: Period,
        /// Client records changed since the last revision sent.
        changed: u64,
    },
    /// Signed and committed to the outbox.
    Queued {
        /// The form.
        form: FormKey,
        /// Period.
        period: Period,
        /// Revision.
        revision: u32,
        /// The envelope's hash.
        envelope_hash: EnvelopeHash,
    },
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
    /// Set when delivery is held because the coordinator refused this site's key.
    pub held: Option<KeyRefusal>,
    /// The last comparison of this computer's clock with the coordinator's, if any.
    pub clock: Option<ClockCheck>,
}

/// A report built and hashed but not yet signed or stored.
struct Built {
    report: SiteReport,
    latest: Option<OutboxEntry>,
    /// The true tables the report was suppressed from (canonical CBOR), kept with it.
    truth: Vec<u8>,
}

impl Node {
    /// Opens a data directory made by [`init`].
    pub async fn open(dir: &Path) -> Result<Self, NodeError> {
        let dir = DataDir::new(dir);
        let config = Config::load(&dir.root)?;
        let forms = config.load_forms(&dir.root)?;
        let identity = Identity::load(&dir.site_key())?;
        let coordinator_keys = config
            .coordinator_keys
            .iter()
            .map(|p| load_public_key(&dir.root.join(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let store = Store::open(&dir.database()).await?;
        let needs_sealing = store.needs_sealing().await?;
        let sealer = match Keyring::load(&dir.root) {
            Ok(keyring) if !needs_sealing => Some(keyring.sealer()?),
            Err(SealError::NoKeyring { path }) if !needs_sealing => {
                // Reports need no key; writing records and reading names do.
                tracing::error!("{}", SealError::KeyringLost { path });
                None
            }
            Ok(_) | Err(SealError::NoKeyring { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if sealer.is_none() {
            tracing::warn!("client records are not sealed yet: run `quietcount-node seal`");
        }
        Ok(Self {
            dir,
            config,
            store,
            forms,
            identity,
            coordinator_keys,
            sealer,
        })
    }

    /// Whether the client records are sealed (always, except in a data directory from before
    /// sealed records until `seal` ran).
    pub fn is_sealed(&self) -> bool {
        self.sealer.is_some()
    }

    fn sealer(&self) -> Result<&sealed::Sealer, NodeError> {
        self.sealer.as_ref().ok_or(NodeError::NotSealed)
    }

    /// The records keyring of this data directory: unlocking and staff.
    pub fn records_keys(&self) -> RecordsKeys {
        RecordsKeys::new(&self.dir.root)
    }

    /// The records keyring (public key and wrapped private keys), read afresh.
    pub fn keyring(&self) -> Result<Keyring, NodeError> {
        self.records_keys().keyring()
    }

    /// Unlocks the records private key (see [`RecordsKeys::unlock`]).
    pub fn unlock(&self, how: &Unlock) -> Result<RecordsKey, NodeError> {
        self.records_keys().unlock(how)
    }

    /// The client with this code, identifying fields opened with `key`.
    pub async fn client(
        &self,
        key: &RecordsKey,
        client_code: &str,
    ) -> Result<Option<import::ClientRecord>, NodeError> {
        match self.store.client(client_code).await? {
            Some(stored) => Ok(Some(stored.open(key)?)),
            None => Ok(None),
        }
    }

    /// Every client, by client code, identifying fields opened with `key`.
    pub async fn clients(&self, key: &RecordsKey) -> Result<Vec<import::ClientRecord>, NodeError> {
        let stored = self.store.clients().await?;
        stored
            .iter()
            .map(|c| c.open(key).map_err(NodeError::from))
            .collect()
    }

    /// Seals a data directory from before sealed records: makes the records key pair if there
    /// is none (with `first_staff`'s name and passphrase, which it then needs; the recovery
    /// key comes back to be shown once), seals every clear identity value, drops the clear
    /// columns and rewrites the database so no clear page survives. Stop the service first.
    /// Running it on a sealed directory does nothing.
    pub async fn seal(
        &mut self,
        first_staff: Option<(&str, &str)>,
        kdf: KdfParams,
    ) -> Result<SealSummary, NodeError> {
        let (keyring, recovery_key) = match Keyring::load(&self.dir.root) {
            Ok(keyring) => (keyring, None),
            Err(SealError::NoKeyring { path }) if !self.store.needs_sealing().await? => {
                return Err(SealError::KeyringLost { path }.into());
            }
            Err(SealError::NoKeyring { .. }) => {
                let Some((name, passphrase)) = first_staff else {
                    return Err(SealError::FirstStaffNeeded.into());
                };
                let (mut keyring, recovery) = Keyring::generate();
                let key =
                    keyring.unlock(&Unlock::Recovery(RecoveryKey::parse(&recovery.display())?))?;
                keyring.add_staff(&key, name, passphrase, kdf)?;
                keyring.save(&self.dir.root)?;
                tracing::info!(staff = %name, "records key pair made");
                (keyring, Some(recovery))
            }
            Err(e) => return Err(e.into()),
        };
        let sealer = keyring.sealer()?;
        let clients_sealed = self.store.seal_clear_identity(&sealer).await?;
        self.sealer = Some(sealer);
        let snapshots_removed = self.remove_schema_snapshots()?;
        Ok(SealSummary {
            clients_sealed,
            recovery_key,
            snapshots_removed,
        })
    }

    /// Closes the store (checkpointing the WAL).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Removes the copies of the database kept before schema changes
    /// (`node.db.before-schema-N`, see `service::sqlite::migrate`): taken before sealing, they
    /// still hold the clear names, phones and IDs that sealing has just removed.
    fn remove_schema_snapshots(&self) -> Result<Vec<PathBuf>, NodeError> {
        let prefix = format!("{}.before-schema-", config::DATABASE_FILE);
        let mut removed = Vec::new();
        let entries =
            std::fs::read_dir(&self.dir.root).map_err(|e| NodeError::io(&self.dir.root, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| NodeError::io(&self.dir.root, e))?;
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| NodeError::io(&path, e))?;
                tracing::info!(
                    snapshot = %path.display(),
                    "removed a pre-sealing copy of the database"
                );
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// The data directory.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The forms this site reports, in configuration order.
    pub fn forms(&self) -> &[Form] {
        &self.forms
    }

    /// A form this site reports, by id.
    pub fn form(&self, id: &str) -> Result<&Form, NodeError> {
        self.forms
            .iter()
            .find(|f| f.id == id)
            .ok_or_else(|| NodeError::UnknownForm {
                form: id.to_owned(),
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

    /// Imports one file read from `reader` (CSV in any encoding and separator Excel writes,
    /// or an `.xlsx`/`.xls` workbook), whole or not at all, with today's date from the system
    /// clock and the file's own date order; `name` names it in errors, and `progress` is
    /// called as rows are written. See [`Node::import_bytes`] for the options and the
    /// warnings.
    pub async fn import(
        &self,
        mut reader: impl std::io::Read,
        name: &Path,
        progress: impl FnMut(Progress) + Send,
    ) -> Result<ImportSummary, NodeError> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|source| ImportError::Io {
                file: name.to_owned(),
                source,
            })?;
        let options = ImportOptions::at(SystemClock.now());
        Ok(self
            .import_bytes(&bytes, name, &options, progress)
            .await?
            .summary)
    }

    /// Imports the file at `path` (see [`Node::import`]).
    pub async fn import_file(
        &self,
        path: &Path,
        progress: impl FnMut(Progress) + Send,
    ) -> Result<ImportSummary, NodeError> {
        let options = ImportOptions::at(SystemClock.now());
        Ok(self
            .import_file_with(path, &options, progress)
            .await?
            .summary)
    }

    /// Imports the file at `path` with `options` (see [`Node::import_bytes`]).
    pub async fn import_file_with(
        &self,
        path: &Path,
        options: &ImportOptions,
        progress: impl FnMut(Progress) + Send,
    ) -> Result<Imported, NodeError> {
        let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
            file: path.to_owned(),
            source,
        })?;
        self.import_bytes(&bytes, path, options, progress).await
    }

    /// Imports one file given as its bytes, whole or not at all: checks every row (errors
    /// come back grouped by column and problem in [`ImportError::BadRows`]), then writes
    /// them in one transaction and returns what was written, how the file was read, the
    /// columns ignored and the implausible values imported anyway.
    pub async fn import_bytes(
        &self,
        bytes: &[u8],
        name: &Path,
        options: &ImportOptions,
        mut progress: impl FnMut(Progress) + Send,
    ) -> Result<Imported, NodeError> {
        import::import(
            &self.store,
            self.sealer.as_ref(),
            bytes,
            name,
            options,
            &mut progress,
        )
        .await
    }

    /// Writes deterministic synthetic records (see [`simulate`]).
    pub async fn simulate(
        &self,
        options: simulate::SimulateOptions,
        mut progress: impl FnMut(Progress),
    ) -> Result<simulate::SimulateSummary, NodeError> {
        // Invented clients must never go into a real site's reports.
        let imported = self.store.count_imported_clients().await?;
        if imported > 0 {
            return Err(NodeError::Simulate(format!(
                "this database holds {imported} imported client record(s): simulated clients \
                 would go into the site's real reports. Simulate in a separate folder \
                 (`quietcount-node init --dir OTHER ...`)"
            )));
        }
        simulate::simulate(&self.store, self.sealer()?, options, &mut progress).await
    }

    /// The forms this site reports whose period type is `period`'s. Refused when there is none.
    pub fn forms_for(&self, period: Period) -> Result<Vec<&Form>, NodeError> {
        let forms: Vec<&Form> = self
            .forms
            .iter()
            .filter(|f| f.period == period.period_type())
            .collect();
        match forms.first() {
            Some(_) => Ok(forms),
            None => Err(NodeError::WrongPeriodType {
                period,
                expected: self
                    .forms
                    .first()
                    .map_or(period.period_type(), |f| f.period),
            }),
        }
    }

    /// The report of form `form` for `period` exactly as it would leave the site, with the
    /// revision it would take. Nothing is written.
    pub async fn preview_report(
        &self,
        form: &str,
        period: Period,
        now: UnixTime,
        open: OpenPeriod,
    ) -> Result<Preview, NodeError> {
        let form = self.form(form)?;
        let built = self.build(form, period, now, open).await?;
        Ok(Preview {
            form: FormKey::of(form),
            report: Box::new(built.report),
        })
    }

    /// Previews every form this site reports for `period`'s period type.
    pub async fn preview_reports(
        &self,
        period: Period,
        now: UnixTime,
        open: OpenPeriod,
    ) -> Result<Vec<Preview>, NodeError> {
        let mut out = Vec::new();
        for form in self.forms_for(period)? {
            out.push(self.preview_report(&form.id, period, now, open).await?);
        }
        Ok(out)
    }

    /// Builds the report of form `form` for `period` and, if its content changed since the
    /// form's latest revision for the period, signs it and commits it to the outbox as the
    /// next revision of that form's chain.
    pub async fn queue_report(
        &self,
        form: &str,
        period: Period,
        now: UnixTime,
        open: OpenPeriod,
    ) -> Result<QueueOutcome, NodeError> {
        let form = self.form(form)?;
        let key = FormKey::of(form);
        let Built {
            report,
            latest,
            truth,
        } = match self.build(form, period, now, open).await {
            Ok(built) => built,
            Err(NodeError::CorrectionHeld {
                form,
                period,
                changed,
            }) => {
                tracing::warn!(form = %form, %period, changed, "correction held: it would single people out together with the report already sent");
                return Ok(QueueOutcome::Held {
                    form,
                    period,
                    changed,
                });
            }
            Err(other) => return Err(other),
        };
        let content = report::content_hash(&report)?;
        if let Some(latest) = &latest {
            // Records of the period corrected or erased since the latest entry was built make
            // a new revision even when the published tables do not change.
            let corrected = self
                .store
                .records_changed_since(
                    dates::Date::from_civil(period.first_day()),
                    dates::Date::from_civil(period.last_day()),
                    latest.built_at,
                )
                .await?;
            if latest.content_hash == content && !corrected {
                tracing::info!(form = %key, %period, revision = latest.revision, "report content unchanged");
                return Ok(QueueOutcome::Unchanged {
                    form: key,
                    period,
                    revision: latest.revision,
                });
            }
        }
        let envelope = quietcount_protocol::sign(&report, self.identity.signing_key())?;
        let entry = self
            .store
            .insert_outbox_entry(store::NewEntry {
                form: &key,
                period,
                revision: report.revision,
                envelope: &envelope,
                content_hash: content,
                built_at: now,
                truth: &truth,
            })
            .await?;
        tracing::info!(form = %key, %period, revision = entry.revision, envelope = %&entry.envelope_hash.to_hex()[..16], "report queued");
        Ok(QueueOutcome::Queued {
            form: key,
            period,
            revision: entry.revision,
            envelope_hash: entry.envelope_hash,
        })
    }

    /// Queues the report of every form this site reports for `period`'s period type, each in
    /// its own revision chain (see [`Node::queue_report`]).
    pub async fn queue_reports(
        &self,
        period: Period,
        now: UnixTime,
        open: OpenPeriod,
    ) -> Result<Vec<QueueOutcome>, NodeError> {
        let mut out = Vec::new();
        for form in self.forms_for(period)? {
            out.push(self.queue_report(&form.id, period, now, open).await?);
        }
        Ok(out)
    }

    async fn build(
        &self,
        form: &Form,
        period: Period,
        now: UnixTime,
        open: OpenPeriod,
    ) -> Result<Built, NodeError> {
        if period.period_type() != form.period {
            return Err(NodeError::WrongPeriodType {
                period,
                expected: form.period,
            });
        }
        if open == OpenPeriod::Refuse {
            // A clock found off at the last delivery is believed less than the coordinator's:
            // no report for a period that is not over by the coordinator's clock (a computer
            // whose clock is ahead would sign future months), and a plain explanation, not
            // "not over yet", for a computer whose clock is behind.
            let off = self.store.clock_check().await?.filter(ClockCheck::is_off);
            if let Some(check) = off {
                let over_here = period.is_over(now);
                if over_here != period.is_over(check.coordinator_now(now)) {
                    return Err(NodeError::ClockWrong {
                        period,
                        over_here,
                        warning: check.warning().unwrap_or_default(),
                    });
                }
            }
            if !period.is_over(now) {
                return Err(NodeError::PeriodNotOver { period });
            }
        }
        let counts = report::compute_counts(&self.store, form, period).await?;
        // The chain continues from what the coordinator holds or may still accept; a refused
        // envelope is not part of it, and building again after a refusal sends afresh. When a
        // refusal told the coordinator's own head (this node was restored from an older
        // backup, or lost entries) and it is not behind this node's, the chain continues
        // from the coordinator's head instead.
        let key = FormKey::of(form);
        let latest = self.store.latest_live_outbox_entry(&key, period).await?;
        let local = latest.as_ref().map(|e| ChainHead {
            revision: e.revision,
            envelope_hash: e.envelope_hash,
        });
        let coordinator = self.store.coordinator_head(&key, period).await?;
        let head = match (local, coordinator) {
            (Some(local), Some(theirs)) if theirs.revision < local.revision => Some(local),
            (local, None) => local,
            (_, theirs) => theirs,
        };
        let next = next_revision(head.as_ref());
        // Content is compared with this node's latest entry only when the chain continues
        // from it: the coordinator's later head may say something else.
        let latest = latest.filter(|e| head.is_some_and(|h| h.envelope_hash == e.envelope_hash));
        // Only the cells are kept: shapes and dimension names come from the form.
        let cells: Vec<Vec<&[u64]>> = counts
            .iter()
            .map(|c| c.tables.iter().map(|t| t.cells.as_slice()).collect())
            .collect();
        let truth = quietcount_protocol::cbor::to_canonical(&cells)?;
        let earlier = self.earlier_revisions(form, period, &truth).await?;
        let earlier: Vec<report::Earlier<'_>> = earlier
            .iter()
            .map(|(truth, published)| report::Earlier {
                truth: truth.as_deref(),
                published,
            })
            .collect();
        let report = report::build_report(
            form,
            &self.config.site,
            period,
            &counts,
            self.config.policy(),
            &SuppressionSecret::for_report(
                &self.identity.disclosure_secret(),
                &form.reference(),
                period,
            ),
            &earlier,
            next.revision,
            next.supersedes,
            now,
        )?;
        Ok(Built {
            report,
            latest,
            truth,
        })
    }

    /// Every live revision of `form` for `period` with the true tables it was built from (when
    /// kept) and the tables it published, oldest first: what the next revision is audited
    /// with. A revision without true tables (fetched back from the coordinator after a
    /// restore, or built before they were kept) enters with its published cells only. The latest
    /// revisions built from the same true tables as now (`current`) are left out too, so that
    /// building again from unchanged records gives the very same report (the one they gave).
    async fn earlier_revisions(
        &self,
        form: &Form,
        period: Period,
        current: &[u8],
    ) -> Result<Vec<(Option<Vec<Vec<CountTable>>>, Vec<Vec<Table>>)>, NodeError> {
        let key = self.identity.verifying_key();
        let mut out = Vec::new();
        let mut live = self
            .store
            .live_revisions(&FormKey::of(form), period)
            .await?;
        while live
            .last()
            .is_some_and(|(_, truth)| truth.as_deref() == Some(current))
        {
            live.pop();
        }
        for (entry, truth) in live {
            let unreadable = |problem: String| NodeError::EarlierRevision {
                period,
                revision: entry.revision,
                problem,
            };
            let report = quietcount_protocol::open::<SiteReport>(&entry.envelope, &key)
                .map_err(|e| unreadable(format!("envelope: {e}")))?
                .payload;
            let published = report.indicators.into_iter().map(|i| i.tables).collect();
            let Some(truth) = truth else {
                tracing::info!(form = %entry.form, %period, revision = entry.revision, "an earlier revision has no true tables kept (fetched back from the coordinator?): the next one is audited with its published cells as constants");
                out.push((None, published));
                continue;
            };
            let cells: Vec<Vec<Vec<u64>>> = quietcount_protocol::cbor::from_canonical(&truth)
                .map_err(|e| unreadable(format!("true tables: {e}")))?;
            let truth = form
                .indicators
                .iter()
                .zip(cells)
                .map(|(indicator, tables)| {
                    indicator
                        .tables
                        .iter()
                        .zip(form.shapes(indicator))
                        .zip(tables)
                        .map(|((dimensions, shape), cells)| CountTable {
                            dimensions: dimensions.clone(),
                            shape,
                            cells,
                        })
                        .collect()
                })
                .collect();
            out.push((Some(truth), published));
        }
        Ok(out)
    }

    /// Delivers the pending reports whose retry time has come (what `run` does). Does not try
    /// while delivery is held ([`Node::delivery_held`]).
    pub async fn submit_due(&self, now: UnixTime) -> Result<SubmitSummary, NodeError> {
        let entries = self.store.due_entries(now).await?;
        if entries.is_empty() {
            return Ok(SubmitSummary::default());
        }
        if let Some(held) = self.delivery_held().await? {
            return Err(deliver::DeliveryError::KeyHeld(held.message).into());
        }
        self.submit(entries, now).await
    }

    /// Delivers every pending report now, whatever its retry time, and even while delivery is
    /// held (staff run this once the province says the key is enrolled).
    pub async fn submit_all(&self, now: UnixTime) -> Result<SubmitSummary, NodeError> {
        let entries = self.store.pending_entries().await?;
        self.submit(entries, now).await
    }

    /// The coordinator's refusal of this site's current key, if one is recorded: while it is,
    /// the service does not try to deliver (retrying changes nothing until the province enrols
    /// the key). A new site key, or a delivery the coordinator answers, lifts it.
    pub async fn delivery_held(&self) -> Result<Option<KeyRefusal>, NodeError> {
        Ok(self.store.key_refusal(&self.identity.fingerprint()).await?)
    }

    /// Delivers `entries`. An unreachable coordinator is an error; every entry tried stays
    /// pending with its next attempt scheduled. A coordinator that refuses this site's key
    /// ends the round and holds delivery until the key changes or `submit` is run again.
    async fn submit(
        &self,
        entries: Vec<OutboxEntry>,
        now: UnixTime,
    ) -> Result<SubmitSummary, NodeError> {
        if entries.is_empty() {
            return Ok(SubmitSummary::default());
        }
        let context = self.delivery_context();
        let fingerprint = self.identity.fingerprint();
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
                if let deliver::DeliveryError::KeyNotAccepted(message) = &error {
                    self.hold_delivery(&fingerprint, message, now).await?;
                }
                return Err(error.into());
            }
        };
        let mut summary = SubmitSummary::default();
        let mut key_accepted = false;
        for entry in &entries {
            let outcome =
                outbox::deliver_entry(&context, &mut transport, entry, now, rand::random()).await?;
            if let Some(message) = transport.key_refused().map(str::to_owned) {
                transport.close().await;
                self.hold_delivery(&fingerprint, &message, now).await?;
                return Err(deliver::DeliveryError::KeyNotAccepted(message).into());
            }
            key_accepted |= !matches!(outcome, Outcome::Retry { .. });
            summary.outcomes.push(outcome);
        }
        transport.close().await;
        if key_accepted {
            self.store.clear_key_refusals().await?;
        }
        Ok(summary)
    }

    async fn hold_delivery(
        &self,
        fingerprint: &quietcount_protocol::Fingerprint,
        message: &str,
        now: UnixTime,
    ) -> Result<(), NodeError> {
        tracing::warn!(%message, "the coordinator refused this site's key: delivery held until the key is enrolled or changed");
        self.store
            .record_key_refusal(fingerprint, message, now)
            .await?;
        Ok(())
    }

    fn delivery_context(&self) -> outbox::DeliveryContext<'_> {
        outbox::DeliveryContext {
            store: &self.store,
            site: &self.config.site,
            coordinator_keys: &self.coordinator_keys,
            site_key: self.identity.verifying_key(),
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
    /// readable by its owner only. Identifying fields in it are sealed, and the records key is
    /// in it only wrapped (reading names from it needs a staff passphrase or the recovery key;
    /// reporting from it needs neither); it holds the site's signing key, so keep it safe.
    /// Refused until the records are sealed.
    pub async fn backup(&self, out: &Path) -> Result<(), NodeError> {
        self.sealer()?;
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
        self.store.snapshot_into(&snapshot).await?;
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
        // Form files kept in a subfolder of the data directory go along, so the copy opens.
        // (A form named by an absolute path stays where it is, and the copy names it too.)
        for entry in &self.config.forms {
            let inside = Path::new(entry)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            let source = self.dir.root.join(entry);
            let target = out.join(entry);
            if !inside || entry == config::DEFAULT_FORM_ID || target.exists() || !source.is_file() {
                continue;
            }
            if let Some(parent) = target.parent() {
                builder.recursive(true);
                builder.create(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::copy(&source, &target).map_err(|e| io(&target, e))?;
            set_owner_only(&target).map_err(|e| io(&target, e))?;
        }
        Ok(())
    }

    /// The state of the outbox and the last receipts.
    pub async fn status(&self) -> Result<Status, NodeError> {
        let counts = self.store.outbox_counts().await?;
        Ok(Status {
            pending: counts.pending,
            refused: counts.refused,
            site: self.config.site.clone(),
            fingerprint: short_fingerprint(&self.identity.fingerprint()),
            entries: self.store.recent_outbox_entries(20).await?,
            receipts: self.store.recent_receipts(10).await?,
            held: self.delivery_held().await?,
            clock: self.store.clock_check().await?,
        })
    }
}

/// The records keyring of a data directory, for unlocking and for managing staff. Needs no
/// database: staff commands work while the service runs.
#[derive(Debug, Clone)]
pub struct RecordsKeys {
    root: PathBuf,
}

impl RecordsKeys {
    /// The keyring of the data directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            root: dir.to_owned(),
        }
    }

    /// The records keyring (public key and wrapped private keys), read afresh.
    pub fn keyring(&self) -> Result<Keyring, NodeError> {
        Ok(Keyring::load(&self.root)?)
    }

    /// Unlocks the records private key with a staff passphrase or the recovery key. Wrong
    /// answers cost the Argon2 time of a right one and say only that they were not accepted.
    pub fn unlock(&self, how: &Unlock) -> Result<RecordsKey, NodeError> {
        let key = self.keyring()?.unlock(how);
        match (&key, how) {
            (Ok(_), Unlock::Staff { name, .. }) => {
                tracing::info!(staff = %name, "records key unlocked");
            }
            (Ok(_), Unlock::Recovery(_)) => {
                tracing::info!("records key unlocked with the recovery key");
            }
            (Err(_), _) => tracing::warn!("an unlock of the records key was not accepted"),
        }
        Ok(key?)
    }

    /// Adds staff member `name` with `passphrase` (Argon2id with `kdf`), after an unlock by
    /// another member or the recovery key.
    pub fn add_staff(
        &self,
        how: &Unlock,
        name: &str,
        passphrase: &str,
        kdf: KdfParams,
    ) -> Result<(), NodeError> {
        let mut keyring = self.keyring()?;
        let key = self.unlock(how)?;
        keyring.add_staff(&key, name, passphrase, kdf)?;
        keyring.save(&self.root)?;
        tracing::info!(staff = %name, "staff member added");
        Ok(())
    }

    /// Changes staff member `name`'s passphrase: `how` unlocks as that member (or with the
    /// recovery key, for a forgotten passphrase).
    pub fn change_passphrase(
        &self,
        how: &Unlock,
        name: &str,
        passphrase: &str,
        kdf: KdfParams,
    ) -> Result<(), NodeError> {
        if let Unlock::Staff { name: who, .. } = how {
            if who != name {
                return Err(SealError::NotAccepted.into());
            }
        }
        let mut keyring = self.keyring()?;
        let key = self.unlock(how)?;
        keyring.set_passphrase(&key, name, passphrase, kdf)?;
        keyring.save(&self.root)?;
        tracing::info!(staff = %name, "staff passphrase changed");
        Ok(())
    }

    /// Removes staff member `name`'s wrapped key, after an unlock by a member or the recovery
    /// key. (A copy of the keyring taken before still opens with the old passphrase.)
    pub fn remove_staff(&self, how: &Unlock, name: &str) -> Result<(), NodeError> {
        let mut keyring = self.keyring()?;
        self.unlock(how)?;
        keyring.remove_staff(name)?;
        keyring.save(&self.root)?;
        tracing::info!(staff = %name, "staff member removed");
        Ok(())
    }
}

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
