//! The coordinator binary's command line: every subcommand, option and their help texts
//! (clap), and the parsers of the values clap cannot read by itself.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use quietcount_coordinator::exports::Language;
use quietcount_protocol::ids::parse_utc;
use quietcount_protocol::{KeyEndReason, Period, SiteId, UnixTime};

/// The Quietcount provincial coordinator.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub(crate) log_format: LogFormat,
    /// The store: a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE, no password in it)
    /// instead of the `database` setting of config.toml; with `init`, written into it.
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// For spreadsheets: UTF-8 with BOM, labels next to codes, site names, one column per
    /// dimension.
    Csv,
    /// The long machine format: period,scope,indicator,disaggregation,value,lower,upper,status.
    CsvLong,
    /// The long format as JSON.
    Json,
    /// An Excel workbook, one sheet per indicator (needs --out).
    Xlsx,
    /// DHIS2 dataValueSets JSON (needs --mapping).
    Dhis2Json,
    /// IHE ADX XML (needs --mapping).
    Adx,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Lang {
    /// Vietnamese.
    Vi,
    /// English.
    En,
}

impl From<Lang> for Language {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::Vi => Language::Vietnamese,
            Lang::En => Language::English,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a coordinator directory: config, identity key and database.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// The province's name.
        #[arg(long)]
        province: String,
        /// UDP address to listen on (default 0.0.0.0:4433).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// With --database: a file holding the PostgreSQL password (owner-only), written into
        /// config.toml as database_password_file.
        #[arg(long, requires = "database", value_name = "FILE")]
        database_password_file: Option<PathBuf>,
    },
    /// Enroll a site's public key (a new key for an enrolled site retires the old one: what it
    /// delivered stays valid).
    Enroll {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        site: SiteId,
        /// Display name.
        #[arg(long)]
        name: String,
        /// The site's public key file (PEM).
        #[arg(long)]
        key: PathBuf,
        /// Refuse unless the key's short fingerprint is this one (as read out by the site).
        #[arg(long)]
        expect_fingerprint: Option<String>,
        /// The first period the site is expected to report for (e.g. 2026-10), when it is not
        /// the current one: a site enrolled in November that must still send October.
        #[arg(long, value_name = "PERIOD")]
        reports_from: Option<Period>,
        /// Whom the province calls about this site: a staff member's name and phone, shown
        /// with the reminders of the completeness grid (never a client's).
        #[arg(long, value_name = "NAME AND PHONE")]
        contact: Option<String>,
    },
    /// Lock a period before publishing it: no new report or revision for it is stored until
    /// it is unlocked (sites keep theirs and send them again after the unlock).
    Lock {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        period: Period,
        /// The form, when the province accepts more than one.
        #[arg(long)]
        form: Option<String>,
        /// Who locks it (written to the audit trail).
        #[arg(long)]
        by: String,
    },
    /// Unlock a locked period: sites' waiting reports are stored again.
    Unlock {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        period: Period,
        #[arg(long)]
        form: Option<String>,
        #[arg(long)]
        by: String,
    },
    /// Revoke a site's key: reports received from --since on no longer count (those received
    /// before stay valid). To replace a key (new laptop, reinstalled node), enroll the new key
    /// instead: that retires the old one.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        site: SiteId,
        /// Why: compromised, lost or site-closed.
        #[arg(long, value_parser = parse_end_reason)]
        reason: KeyEndReason,
        /// From when (UTC: 2026-10-15 or "2026-10-15 08:00"); default now. The key valid at
        /// that time is revoked.
        #[arg(long, value_parser = parse_since)]
        since: Option<UnixTime>,
    },
    /// List every site key with its validity window.
    Sites {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Serve sites over QUIC, and the web dashboard, until SIGTERM or SIGINT.
    Run {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// TCP address of the dashboard (default: [dashboard] listen, 127.0.0.1:8480).
        #[arg(long)]
        dashboard_listen: Option<SocketAddr>,
    },
    /// Dashboard accounts: add, remove, passwd, list.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Completeness of a period: who reported, when, reporting and on-time rates.
    Status {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        period: Period,
        #[arg(long)]
        json: bool,
        /// Form id (needed when the province accepts more than one form).
        #[arg(long)]
        form: Option<String>,
    },
    /// Write the signed donor package of a period.
    Publish {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        period: Period,
        /// Package directory (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Form id (needed when the province accepts more than one form).
        #[arg(long)]
        form: Option<String>,
        /// Publish although fewer sites reported than `min_reporting_percent` requires; the
        /// package then states it is incomplete.
        #[arg(long)]
        allow_incomplete: bool,
    },
    /// Every site's latest report and the provincial totals of a period, for spreadsheets
    /// (csv, xlsx), for DHIS2 (dhis2-json, adx, with a mapping file) or in the long format
    /// (csv-long, json).
    Export {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, required_unless_present = "dry_run")]
        period: Option<Period>,
        /// Output file, replaced whole or not at all (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Form id (needed when the province accepts more than one form).
        #[arg(long)]
        form: Option<String>,
        /// The mapping file (TOML) for dhis2-json and adx.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Language of labels in csv and xlsx.
        #[arg(long, value_enum, default_value_t = Lang::Vi)]
        lang: Lang,
        /// Check the mapping against the form and the enrolled sites, naming every problem;
        /// write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a consistent snapshot of the database (safe while `run` serves) to a new file.
    Backup {
        #[arg(long)]
        dir: PathBuf,
        /// The snapshot file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// List conflicting reports (equivocation evidence) and the province's decisions on them.
    Conflicts {
        #[arg(long)]
        dir: PathBuf,
        /// Only this period.
        #[arg(long)]
        period: Option<Period>,
    },
    /// Record which of a contested slot's two envelopes the province accepts (nothing is
    /// deleted; the latest decision stands).
    Resolve {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        site: SiteId,
        #[arg(long)]
        period: Period,
        /// The contested revision (needed when the site has several for the period).
        #[arg(long)]
        revision: Option<u32>,
        /// The accepted envelope's hash as `conflicts` shows it (at least 8 hex digits).
        #[arg(long)]
        accept: String,
        /// Who decides (name or role), recorded with the decision.
        #[arg(long)]
        by: String,
        /// Why, recorded with the decision.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Copy this province's whole store into a new, empty one (SQLite to PostgreSQL or back):
    /// every key, report, receipt and piece of evidence, byte for byte under the same sequence
    /// numbers, then compare counts and digests. Stop `run` first; afterwards point `database`
    /// in config.toml at the new store.
    MigrateStore {
        #[arg(long)]
        dir: PathBuf,
        /// The store to copy: sqlite:PATH (relative to --dir) or postgres://USER@HOST/DB.
        #[arg(long, value_name = "LOCATION")]
        from: String,
        /// The new store, which must be empty: postgres://USER@HOST/DB or sqlite:PATH (a file
        /// that must not exist yet).
        #[arg(long, value_name = "LOCATION")]
        to: String,
        /// A file holding the PostgreSQL password (for whichever side is PostgreSQL);
        /// otherwise PGPASSWORD or ~/.pgpass.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Write the signed site registry.
    ExportRegistry {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// Reads every page and downloads exports.
    Viewer,
    /// Also enrols, revokes, resolves conflicts and publishes.
    Manager,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserAction {
    /// Add an account (the password is asked twice on the terminal).
    Add {
        #[arg(long)]
        dir: PathBuf,
        /// Account name.
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from the first line of standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account (its open sessions end when `run` next checks it).
    Remove {
        #[arg(long)]
        dir: PathBuf,
        name: String,
    },
    /// Set a new password for an account.
    Passwd {
        #[arg(long)]
        dir: PathBuf,
        name: String,
        /// Read the password from the first line of standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts and their roles.
    List {
        #[arg(long)]
        dir: PathBuf,
    },
}

/// `--reason` of `revoke`: a revocation reason (not `replaced`: enrolling the new key retires).
pub(crate) fn parse_end_reason(text: &str) -> Result<KeyEndReason, String> {
    match KeyEndReason::parse(text) {
        Some(reason) if !reason.is_retirement() => Ok(reason),
        _ => Err(
            "expected compromised, lost or site-closed (to replace a key, enroll the new one)"
                .to_owned(),
        ),
    }
}

/// `--since` of `revoke`: a UTC date or date and time.
pub(crate) fn parse_since(text: &str) -> Result<UnixTime, String> {
    parse_utc(text).ok_or_else(|| {
        "expected a UTC date (2026-10-15) or date and time (\"2026-10-15 08:00\")".to_owned()
    })
}
