//! `quietcount-coordinator`: parses arguments, sets up logging and calls the library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use quietcount_coordinator::accounts::Role;
use quietcount_coordinator::admin::{rows_as_csv, rows_as_json};
use quietcount_coordinator::exports::mapping::{Mapping, Target};
use quietcount_coordinator::exports::{Language, adx, dhis2, spreadsheet};
use quietcount_coordinator::web;
use quietcount_coordinator::{Clock, Coordinator, CoordinatorError, SystemClock};
use quietcount_keys::package::AssembleError;
use quietcount_keys::short_fingerprint;
use quietcount_keys::verify::key_window;
use quietcount_protocol::completeness::Unpublishable;
use quietcount_protocol::ids::{format_utc, parse_utc};
use quietcount_protocol::{KeyEndReason, Period, SiteId, UnixTime};
use quietcount_service::logging::LogOutput;
use quietcount_service::shutdown::shutdown_signal;

mod cli;

/// The Quietcount provincial coordinator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    /// The store: a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE, no password in it)
    /// instead of the `database` setting of config.toml; with `init`, written into it.
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
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
enum Lang {
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
enum Command {
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
    /// Enroll a site's public key (re-enrolling with a new key revokes the old one).
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
enum RoleArg {
    /// Reads every page and downloads exports.
    Viewer,
    /// Also enrols, revokes, resolves conflicts and publishes.
    Manager,
}

#[derive(Debug, Subcommand)]
enum UserAction {
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

/// A new password: the first line of standard input, or typed twice on the terminal (never
/// from the command line, where other users could see it).
fn read_new_password(from_stdin: bool) -> Result<zeroize::Zeroizing<String>> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        return Ok(zeroize::Zeroizing::new(password));
    }
    let first = zeroize::Zeroizing::new(
        rpassword::prompt_password("Password: ").context("reading the password")?,
    );
    let second = zeroize::Zeroizing::new(
        rpassword::prompt_password("Password again: ").context("reading the password")?,
    );
    if *first != *second {
        anyhow::bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

async fn user(action: UserAction, now: UnixTime, database: Option<&str>) -> Result<()> {
    match action {
        UserAction::Add {
            dir,
            name,
            role,
            password_stdin,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let password = read_new_password(password_stdin)?;
            let role = match role {
                RoleArg::Viewer => Role::Viewer,
                RoleArg::Manager => Role::Manager,
            };
            coordinator.add_user(&name, role, &password, now).await?;
            println!("Added {} account {name}", role.name());
        }
        UserAction::Remove { dir, name } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            coordinator.remove_user(&name).await?;
            println!("Removed account {name}");
        }
        UserAction::Passwd {
            dir,
            name,
            password_stdin,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let password = read_new_password(password_stdin)?;
            coordinator.set_user_password(&name, &password).await?;
            println!("Changed the password of {name}");
        }
        UserAction::List { dir } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            println!("{:<32} {:<8} created", "name", "role");
            for user in coordinator.users().await? {
                println!(
                    "{:<32} {:<8} {}",
                    user.name,
                    user.role,
                    format_utc(user.created_at)
                );
            }
        }
    }
    Ok(())
}

/// `migrate-store`: opens both stores, copies, and prints what was checked.
async fn migrate_store(
    dir: &Path,
    from: &str,
    to: &str,
    password_file: Option<&Path>,
) -> Result<()> {
    let summary = Coordinator::migrate_store(dir, from, to, password_file).await?;
    println!("Copied {from} to {to} and checked both:");
    for (table, rows) in &summary.rows {
        println!("  {table:<22} {rows:>8} rows");
    }
    println!("  receipt sequence mark  {:>8}", summary.sequence_mark);
    println!("  digest of every row    {}", hex::encode(summary.digest.0));
    println!(
        "Now set database = {to:?} in config.toml (and database_password_file if needed), then \
         start `run` again."
    );
    Ok(())
}

/// `run`: the QUIC server and the dashboard on one runtime; both stop on SIGTERM or SIGINT.
async fn run(
    dir: &Path,
    listen: Option<SocketAddr>,
    dashboard_listen: Option<SocketAddr>,
    database: Option<&str>,
) -> Result<()> {
    let signal = shutdown_signal();
    let coordinator = std::sync::Arc::new(Coordinator::open_with(dir, database).await?);
    let listener = web::bind(&coordinator, dashboard_listen).await?;
    println!("Dashboard: {}", listener.url()?);
    let options = web::WebOptions {
        idle: std::time::Duration::from_secs(coordinator.config.dashboard.idle_minutes.max(1) * 60),
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let dashboard = tokio::spawn(web::serve(
        coordinator.clone(),
        listener,
        options,
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        },
    ));
    let served = quietcount_coordinator::run(&coordinator, listen, signal).await;
    let _ = stop_tx.send(true);
    match dashboard.await {
        Ok(Err(error)) => tracing::error!(%error, "dashboard stopped with an error"),
        Err(error) => tracing::error!(%error, "dashboard task failed"),
        Ok(Ok(())) => {}
    }
    let _ = std::fs::remove_file(dir.join(web::ADDRESS_FILE));
    Ok(served?)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let output = match cli.log_format {
        LogFormat::Human => LogOutput::Text,
        LogFormat::Json => LogOutput::Json,
    };
    quietcount_service::logging::init("info", output);
    let result = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|runtime| {
            runtime
                .block_on(execute(cli.command, cli.database.as_deref()))
                .map_err(with_hint)
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line, each cause once (not `Error: …` then `Caused by:` repeating it).
            eprintln!(
                "error: {}",
                quietcount_keys::message::describe(error.as_ref())
            );
            std::process::ExitCode::FAILURE
        }
    }
}

/// Adds what to type next to errors a command-line user can fix by adding a flag (the library's
/// errors name no flags: a web layer offers a choice instead).
fn with_hint(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<CoordinatorError>() {
        Some(CoordinatorError::FormRequired { accepted }) => {
            let hint = format!("pass --form with one of: {}", accepted.join(", "));
            error.context(hint)
        }
        Some(CoordinatorError::Assemble(AssembleError::Unpublishable(
            Unpublishable::BelowShare { .. },
        ))) => error.context(
            "publish refused; wait for the missing sites (see `status`), or pass \
             --allow-incomplete to publish now with the package marked incomplete",
        ),
        Some(CoordinatorError::Assemble(AssembleError::Unpublishable(
            Unpublishable::NothingReported { .. },
        ))) => error.context("publish refused; see `status` for which sites are expected"),
        _ => error,
    }
}

async fn execute(command: Command, database: Option<&str>) -> Result<()> {
    let now = SystemClock.now();
    match command {
        Command::Init {
            dir,
            province,
            listen,
            database_password_file,
        } => {
            let database = match database {
                Some(url) => {
                    let password_file = database_password_file
                        .map(std::path::absolute)
                        .transpose()
                        .context("--database-password-file")?;
                    Some((url.to_owned(), password_file))
                }
                None => None,
            };
            let summary = Coordinator::init_with(&dir, &province, listen, database).await?;
            println!("Coordinator created in {}", dir.display());
            println!(
                "Give sites this public key file: {}",
                summary.public_key_path.display()
            );
            println!(
                "and read them its short fingerprint: {}",
                summary.short_fingerprint
            );
        }
        Command::Enroll {
            dir,
            site,
            name,
            key,
            expect_fingerprint,
            reports_from,
            contact,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let summary = coordinator
                .enroll(
                    &site,
                    &name,
                    &key,
                    expect_fingerprint.as_deref(),
                    reports_from,
                    now,
                )
                .await?;
            if summary.already_enrolled {
                println!("{site} already enrolled with this key");
            } else {
                println!("Enrolled {site} ({name})");
            }
            println!(
                "Key fingerprint: {}  (check it against what the site reads out)",
                summary.short_fingerprint
            );
            if summary.replaced_keys > 0 {
                println!(
                    "The site's previous key is retired: reports it delivered stay valid; from now on only this key is accepted."
                );
            }
            if let Some(contact) = contact {
                coordinator.set_site_contact(&site, &contact, now).await?;
                println!("Contact for {site}: {}", contact.trim());
            }
        }
        Command::Lock {
            dir,
            period,
            form,
            by,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            if coordinator
                .lock_period(period, form.as_deref(), &by, now)
                .await?
            {
                println!(
                    "Locked {period}: no new report or revision for it is stored until `unlock`."
                );
            } else {
                println!("{period} was already locked; nothing changed.");
            }
        }
        Command::Unlock {
            dir,
            period,
            form,
            by,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            if coordinator
                .unlock_period(period, form.as_deref(), &by, now)
                .await?
            {
                println!("Unlocked {period}: sites' waiting reports are stored at their next try.");
            } else {
                println!("{period} was not locked; nothing changed.");
            }
        }
        Command::Revoke {
            dir,
            site,
            reason,
            since,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let key = coordinator.revoke(&site, reason, since, now).await?;
            println!(
                "Revoked key {} of {site} ({reason}): {}",
                short_fingerprint(&key.fingerprint()),
                key_window(&key.registry_entry())
            );
            println!(
                "Reports received from {} on no longer count; those received before stay valid.",
                format_utc(key.valid_until.unwrap_or(now))
            );
        }
        Command::Sites { dir } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let keys = coordinator.sites().await?;
            let contacts = coordinator.site_contacts().await?;
            println!(
                "{:<24} {:<30} {:<19} validity",
                "site", "name", "fingerprint"
            );
            for key in keys {
                println!(
                    "{:<24} {:<30} {:<19} {}",
                    key.site,
                    key.name,
                    short_fingerprint(&key.fingerprint()),
                    key_window(&key.registry_entry())
                );
            }
            for (site, contact) in contacts {
                println!("contact of {site}: {contact}");
            }
        }
        Command::Run {
            dir,
            listen,
            dashboard_listen,
        } => run(&dir, listen, dashboard_listen, database).await?,
        Command::User { action } => user(action, now, database).await?,
        Command::MigrateStore {
            dir,
            from,
            to,
            password_file,
        } => migrate_store(&dir, &from, &to, password_file.as_deref()).await?,
        Command::Status {
            dir,
            period,
            json,
            form,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let status = coordinator.status(period, form.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", cli::status(&status));
                if let Some(lock) = coordinator.period_lock(period, form.as_deref()).await? {
                    println!(
                        "LOCKED since {} by {}: no new report or revision is stored until `unlock`",
                        format_utc(lock.locked_at),
                        lock.locked_by
                    );
                }
            }
        }
        Command::Publish {
            dir,
            period,
            out,
            form,
            allow_incomplete,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let assembled = coordinator
                .publish(period, form.as_deref(), Some(&out), allow_incomplete, now)
                .await?;
            let c = assembled.provincial.completeness;
            println!("Published {period} to {}", out.display());
            println!(
                "Completeness: {}/{} sites reported, {} on time (within {} days)",
                c.reported, c.expected, c.on_time, c.on_time_days
            );
            if assembled.provincial.incomplete {
                println!(
                    "INCOMPLETE: published below the required {}% of expected sites (--allow-incomplete); the package says so.",
                    coordinator.config.min_reporting_percent
                );
            }
            for (what, why) in &assembled.excluded {
                println!("Excluded {what}: {why}");
            }
        }
        Command::Export {
            dir,
            period,
            out,
            format,
            form,
            mapping,
            lang,
            dry_run,
        } => {
            let request = ExportRequest {
                period,
                out,
                format,
                form,
                mapping,
                lang,
                dry_run,
            };
            export(&dir, request, now, database).await?;
        }
        Command::Backup { dir, out } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            coordinator.backup(&out).await?;
            println!("Wrote a snapshot of the database to {}", out.display());
            println!(
                "To restore: a new folder with this folder's config.toml, coordinator.key, \
                 coordinator.pub and form files, and the snapshot as coordinator.db"
            );
        }
        Command::Conflicts { dir, period } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            print!("{}", cli::conflicts(&coordinator.conflicts(period).await?));
        }
        Command::Resolve {
            dir,
            site,
            period,
            revision,
            accept,
            by,
            note,
        } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let request = quietcount_coordinator::conflicts::ResolveRequest {
                site: &site,
                period,
                revision,
                accept: &accept,
                decided_by: &by,
                note: &note,
            };
            let conflict = coordinator.resolve(&request, now).await?;
            print!("{}", cli::conflicts(std::slice::from_ref(&conflict)));
        }
        Command::ExportRegistry { dir, out } => {
            let coordinator = Coordinator::open_with(&dir, database).await?;
            let bytes = coordinator.signed_registry(now).await?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            println!("Wrote the signed registry to {}", out.display());
        }
    }
    Ok(())
}

/// `--reason` of `revoke`: a revocation reason (not `replaced`: enrolling the new key retires).
fn parse_end_reason(text: &str) -> Result<KeyEndReason, String> {
    match KeyEndReason::parse(text) {
        Some(reason) if !reason.is_retirement() => Ok(reason),
        _ => Err(
            "expected compromised, lost or site-closed (to replace a key, enroll the new one)"
                .to_owned(),
        ),
    }
}

/// `--since` of `revoke`: a UTC date or date and time.
fn parse_since(text: &str) -> Result<UnixTime, String> {
    parse_utc(text).ok_or_else(|| {
        "expected a UTC date (2026-10-15) or date and time (\"2026-10-15 08:00\")".to_owned()
    })
}

/// The options of `export`.
struct ExportRequest {
    period: Option<Period>,
    out: Option<PathBuf>,
    format: ExportFormat,
    form: Option<String>,
    mapping: Option<PathBuf>,
    lang: Lang,
    dry_run: bool,
}

async fn export(
    dir: &Path,
    request: ExportRequest,
    now: UnixTime,
    database: Option<&str>,
) -> Result<()> {
    let target = match request.format {
        ExportFormat::Dhis2Json => Some(Target::DataValueSets),
        ExportFormat::Adx => Some(Target::Adx),
        _ => None,
    };
    let mapping = match (&request.mapping, target) {
        (Some(path), Some(_)) => Some(read_mapping(path)?),
        (None, Some(_)) => anyhow::bail!(
            "--format {} needs --mapping FILE (see coordinator/mappings/dhis2-sample.toml)",
            format_name(request.format)
        ),
        (Some(_), None) => anyhow::bail!(
            "--mapping is for --format dhis2-json or adx, not {}",
            format_name(request.format)
        ),
        (None, None) => None,
    };
    let coordinator = Coordinator::open_with(dir, database).await?;
    if request.dry_run {
        let (Some(mapping), Some(target)) = (mapping, target) else {
            anyhow::bail!(
                "--dry-run checks a mapping: give --format dhis2-json or adx and --mapping FILE"
            );
        };
        let form = &coordinator.form(request.form.as_deref())?.form;
        let sites = coordinator.active_sites().await?;
        let check = mapping.check(form, &sites, target);
        for problem in &check.problems {
            println!("problem: {problem}");
        }
        if !check.problems.is_empty() {
            anyhow::bail!(
                "the mapping has {} problem(s) (listed above); nothing was written",
                check.problems.len()
            );
        }
        println!(
            "The mapping fits form {} v{}: {} cells to {} data element(s), {} org unit(s).",
            form.id, form.version, check.cells_mapped, check.data_elements, check.org_units
        );
        return Ok(());
    }
    let period = request
        .period
        .context("--period is needed unless --dry-run is given")?;
    let form = request.form.as_deref();
    let bytes = match request.format {
        ExportFormat::CsvLong => {
            rows_as_csv(&coordinator.export_rows(period, form).await?).into_bytes()
        }
        ExportFormat::Json => {
            rows_as_json(&coordinator.export_rows(period, form).await?).into_bytes()
        }
        ExportFormat::Csv => {
            let table = coordinator.export_table(period, form).await?;
            spreadsheet::csv_bytes(&table, request.lang.into())
        }
        ExportFormat::Xlsx => {
            if request.out.is_none() {
                anyhow::bail!("an .xlsx workbook is written to a file: give --out FILE.xlsx");
            }
            let table = coordinator.export_table(period, form).await?;
            spreadsheet::xlsx_bytes(&table, request.lang.into())?
        }
        ExportFormat::Dhis2Json | ExportFormat::Adx => {
            let table = coordinator.export_table(period, form).await?;
            // Checked above: both formats carry a mapping.
            let Some(mapping) = &mapping else {
                anyhow::bail!("--mapping FILE is needed");
            };
            let (bytes, summary) = if request.format == ExportFormat::Adx {
                adx::adx_bytes(&table, mapping, now)?
            } else {
                dhis2::data_value_sets_bytes(&table, mapping)?
            };
            eprint!("{}", cli::send_summary(&summary));
            bytes
        }
    };
    write_output(request.out.as_deref(), &bytes)
}

fn format_name(format: ExportFormat) -> String {
    format
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

fn read_mapping(path: &Path) -> Result<Mapping> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the mapping file {}", path.display()))?;
    Mapping::from_toml(&text).with_context(|| path.display().to_string())
}

/// Writes to `out` through a temporary file renamed into place (nothing half-written), or to
/// standard output.
fn write_output(out: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(path) => quietcount_service::files::write_atomic(path, bytes, 0o644)
            .with_context(|| format!("writing {}", path.display())),
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}
