//! `quietcount-coordinator`: parses arguments, sets up logging and calls the library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use quietcount_coordinator::accounts::Role;
use quietcount_coordinator::admin::{rows_as_csv, rows_as_json};
use quietcount_coordinator::exports::mapping::{Mapping, Target};
use quietcount_coordinator::exports::{adx, dhis2, spreadsheet};
use quietcount_coordinator::web;
use quietcount_coordinator::{Clock, Coordinator, CoordinatorError, SystemClock};
use quietcount_keys::package::AssembleError;
use quietcount_keys::short_fingerprint;
use quietcount_keys::verify::key_window;
use quietcount_protocol::completeness::Unpublishable;
use quietcount_protocol::ids::format_utc;
use quietcount_protocol::{Period, UnixTime};
use quietcount_service::logging::LogOutput;
use quietcount_service::shutdown::shutdown_signal;

mod args;
mod cli;

use args::{Cli, Command, ExportFormat, Lang, LogFormat, RoleArg, UserAction};

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
