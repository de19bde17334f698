//! `quietcount-node`: the site node's command line. Parses arguments, sets up logging,
//! calls the library and renders its results ([`cli`]).

/// `println!` for a command line whose output may go to `| head`: when the reader has gone,
/// the command ends quietly (as a Unix tool killed by SIGPIPE would) instead of panicking.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            crate::stdout_failed(&error);
        }
    }};
}

/// `print!`, likewise.
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = write!(std::io::stdout().lock(), $($arg)*) {
            crate::stdout_failed(&error);
        }
    }};
}

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use cli::progress::ProgressBar;
use quietcount_node::fetch::FetchOutcome;
use quietcount_node::simulate::SimulateOptions;
use quietcount_node::vocab::Lang;
use quietcount_node::{
    DateOrder, ImportOptions, InitOptions, KdfParams, LogFormat, Node, NodeError, OpenPeriod,
    QueueOutcome, RecordKind, RecoveryKey, Unlock,
};
use quietcount_protocol::ids::format_utc;
use quietcount_protocol::{Period, PeriodType, SiteId};
use quietcount_service::clock::{Clock, SystemClock};
use quietcount_service::logging::LogOutput;
use zeroize::Zeroizing;

#[derive(Debug, Parser)]
#[command(
    name = "quietcount-node",
    version,
    about = "Quietcount site node: local records, signed site reports, delivery"
)]
struct Cli {
    /// Log format (default: the data directory's `log_format`, else human).
    #[arg(long, global = true, value_enum, env = "QUIETCOUNT_LOG_FORMAT")]
    log_format: Option<Format>,
    /// Log filter, e.g. `info` or `quietcount_node=debug` (also RUST_LOG).
    #[arg(long, global = true, env = "QUIETCOUNT_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DateOrderArg {
    /// Day first: 07/08/2001 is 7 August.
    Dmy,
    /// Month first: 07/08/2001 is 8 July.
    Mdy,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LangArg {
    En,
    Vi,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    Clients,
    Services,
}

fn lang_of(arg: Option<LangArg>) -> Lang {
    match arg {
        Some(LangArg::En) => Lang::En,
        Some(LangArg::Vi) => Lang::Vi,
        None => cli::import_text::locale_lang(),
    }
}

/// How a command that reads names unlocks the records key.
#[derive(Debug, clap::Args)]
struct UnlockArgs {
    /// Unlock as this staff member (the passphrase is asked for, never given here).
    #[arg(long)]
    staff: Option<String>,
    /// Read the staff passphrase from this file (its first line) instead of asking.
    #[arg(long, requires = "staff")]
    passphrase_file: Option<PathBuf>,
    /// Unlock with the recovery key instead (asked for, or read from --recovery-key-file).
    #[arg(long, conflicts_with = "staff")]
    recovery: bool,
    /// Read the recovery key from this file instead of asking.
    #[arg(long, conflicts_with = "staff")]
    recovery_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Give a staff member their own passphrase to the records (unlock as another member or
    /// with the recovery key first).
    Add {
        #[arg(long)]
        dir: PathBuf,
        /// The new member's name.
        #[arg(long)]
        name: String,
        /// Read the new member's passphrase from this file instead of asking twice.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        unlock: UnlockArgs,
    },
    /// Remove a staff member's passphrase (unlock as another member or with the recovery key).
    Remove {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        unlock: UnlockArgs,
    },
    /// Change a staff member's passphrase (unlock as that member, or with the recovery key
    /// when the passphrase is forgotten).
    Passwd {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        name: String,
        /// Read the new passphrase from this file instead of asking twice.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        unlock: UnlockArgs,
    },
    /// List the staff members who can unlock the records.
    List {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: config, site key, pinned coordinator key, database.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// This site's id, as enrolled at the province.
        #[arg(long)]
        site: SiteId,
        /// The coordinator's HOST:PORT.
        #[arg(long)]
        coordinator: String,
        /// The coordinator's public key (PEM), received from the province.
        #[arg(long)]
        coordinator_key: PathBuf,
        /// Disclosure threshold, if stricter than the default 5 (never below 2).
        #[arg(long)]
        k: Option<u32>,
    },
    /// Import a clients or services file (whole file or nothing): CSV as Excel saves it
    /// (UTF-8, UTF-16 or Windows-1258; `,`, `;` or tab) or an .xlsx/.xls workbook.
    Import {
        #[arg(long)]
        dir: PathBuf,
        file: PathBuf,
        /// Order of day and month in dates written with slashes, when the file leaves it
        /// open: dmy (07/08/2001 is 7 August) or mdy (8 July).
        #[arg(long, value_enum)]
        date_order: Option<DateOrderArg>,
        /// Language of the messages (default: from LC_ALL / LANG, else English).
        #[arg(long, value_enum)]
        lang: Option<LangArg>,
    },
    /// Write an Excel workbook to fill in: the right headers, drop-down lists, date columns
    /// and an instructions sheet.
    Template {
        /// Which records the workbook is for.
        #[arg(long, value_enum, default_value = "clients")]
        kind: KindArg,
        /// Language of the headers, lists and instructions (default: from LC_ALL / LANG).
        #[arg(long, value_enum)]
        lang: Option<LangArg>,
        /// The .xlsx file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write deterministic synthetic records.
    Simulate {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        clients: u32,
        #[arg(long, default_value_t = 12)]
        months: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Last month generated (default: the last closed month).
        #[arg(long)]
        until: Option<Period>,
    },
    /// Build the reports for a period (one per form): preview them, or sign them into the outbox.
    Report {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        period: Period,
        /// Only this form (by id); by default every form the site reports for the period's kind.
        #[arg(long)]
        form: Option<String>,
        /// Show the tables exactly as they would leave the site; write nothing.
        #[arg(long)]
        preview: bool,
        /// Allow a period that has not ended yet.
        #[arg(long)]
        allow_open_period: bool,
    },
    /// Deliver every pending report now.
    Submit {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Fetch back the reports the coordinator holds for this site (after restoring an old
    /// backup): each is checked and recorded as delivered, and the next revision builds on
    /// the coordinator's latest.
    Fetch {
        #[arg(long)]
        dir: PathBuf,
        /// The period (e.g. 2026-10).
        #[arg(long)]
        period: Period,
        /// Form id (needed when the site reports several forms).
        #[arg(long)]
        form: Option<String>,
    },
    /// Run the background service.
    Run {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show the last reports, pending deliveries and receipts.
    Status {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Delete a client and all their service events (an erasure request, or a client entered
    /// by mistake), in one transaction. The next report of each affected month is a new revision.
    Erase {
        #[arg(long)]
        dir: PathBuf,
        /// The client's code.
        #[arg(long)]
        client: String,
    },
    /// Delete one service event (typed by mistake), found by client code, date and service.
    DeleteEvent {
        #[arg(long)]
        dir: PathBuf,
        /// The client's code.
        #[arg(long)]
        client: String,
        /// The event's date (YYYY-MM-DD or DD/MM/YYYY).
        #[arg(long)]
        date: String,
        /// The service (code or label, English or Vietnamese).
        #[arg(long)]
        service: String,
        /// The outcome, when several events of that service on that day differ by it.
        #[arg(long)]
        outcome: Option<String>,
        /// Delete every matching event.
        #[arg(long)]
        all: bool,
    },
    /// Staff who can read names: add, remove, change a passphrase, list.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Show one client's record with its identifying fields (asks for a staff passphrase).
    Show {
        #[arg(long)]
        dir: PathBuf,
        /// The client code.
        #[arg(long)]
        client: String,
        #[command(flatten)]
        unlock: UnlockArgs,
    },
    /// Seal the records of a data directory made before sealed records (once, with the
    /// service stopped): makes the records key, asks for the first staff member's
    /// passphrase, shows the recovery key once, seals every name and rewrites the database.
    Seal {
        #[arg(long)]
        dir: PathBuf,
        /// The first staff member's name.
        #[arg(long)]
        staff: Option<String>,
        /// Read the first staff member's passphrase from this file instead of asking twice.
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Copy the whole data directory (database snapshot, config, keys) into a new directory.
    Backup {
        #[arg(long)]
        dir: PathBuf,
        /// A directory that does not exist yet; it is created readable by its owner only.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Output could not be written: a closed pipe ends the command quietly; anything else is
/// said on stderr, and the command fails.
fn stdout_failed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("Error: writing the output failed: {error}");
    std::process::exit(1);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "error: {}",
                quietcount_keys::message::describe(error.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

fn command_dir(command: &Command) -> Option<&PathBuf> {
    match command {
        Command::Init { .. } | Command::Template { .. } => None,
        Command::Staff { command } => match command {
            StaffCommand::Add { dir, .. }
            | StaffCommand::Remove { dir, .. }
            | StaffCommand::Passwd { dir, .. }
            | StaffCommand::List { dir } => Some(dir),
        },
        Command::Show { dir, .. } | Command::Seal { dir, .. } => Some(dir),
        Command::Import { dir, .. }
        | Command::Simulate { dir, .. }
        | Command::Report { dir, .. }
        | Command::Submit { dir }
        | Command::Fetch { dir, .. }
        | Command::Run { dir }
        | Command::Status { dir }
        | Command::Erase { dir, .. }
        | Command::DeleteEvent { dir, .. }
        | Command::Backup { dir, .. } => Some(dir),
    }
}

fn setup_logging(cli: &Cli) {
    let configured = command_dir(&cli.command)
        .and_then(|dir| quietcount_node::Config::load(dir).ok())
        .map(|c| c.log_format);
    let format = match cli.log_format {
        Some(Format::Json) => LogFormat::Json,
        Some(Format::Human) => LogFormat::Human,
        None => configured.unwrap_or_default(),
    };
    let output = match format {
        LogFormat::Json => LogOutput::Json,
        LogFormat::Human => LogOutput::Text,
    };
    quietcount_service::logging::init(&cli.log, output);
}

async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    setup_logging(&cli);
    let clock = SystemClock;
    match cli.command {
        Command::Init {
            dir,
            site,
            coordinator,
            coordinator_key,
            k,
        } => {
            let summary = quietcount_node::init(&InitOptions {
                dir,
                site,
                coordinator,
                coordinator_key,
                k,
            })
            .await?;
            println!("Data directory ready.");
            println!(
                "Site key fingerprint (read it to the province): {}",
                summary.short_fingerprint
            );
            println!(
                "Public key file to give to the province: {}",
                summary.site_pub.display()
            );
            print_recovery_key(&summary.recovery_key);
            println!(
                "Next, give each staff member who reads names a passphrase:\n  quietcount-node staff add --dir {} --name NAME --recovery",
                dir_display(&summary.site_pub)
            );
        }
        Command::Staff { command } => staff(command)?,
        Command::Show {
            dir,
            client,
            unlock,
        } => {
            let node = Node::open(&dir).await?;
            let how = read_unlock(&unlock)?;
            let key = node.unlock(&how)?;
            match node.client(&key, &client).await? {
                Some(record) => print!("{}", cli::render::client(&record)),
                None => {
                    eprintln!("error: no client {client}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Seal {
            dir,
            staff,
            new_passphrase_file,
        } => {
            let mut node = Node::open(&dir).await?;
            if node.is_sealed() {
                println!("The records are already sealed; nothing to do.");
                return Ok(ExitCode::SUCCESS);
            }
            let first = if node.keyring().is_ok() {
                None
            } else if !node.store().needs_sealing().await? {
                // A lost keyring: `seal` says so before asking anything.
                node.seal(None, staff_kdf()).await?;
                None
            } else {
                let name = staff.context(
                    "this data directory has no records key yet: name its first staff member with --staff NAME",
                )?;
                let passphrase = read_new_passphrase(new_passphrase_file.as_deref())?;
                Some((name, passphrase))
            };
            let summary = node
                .seal(
                    first.as_ref().map(|(n, p)| (n.as_str(), p.as_str())),
                    staff_kdf(),
                )
                .await?;
            println!(
                "Sealed the identifying fields of {} clients; the database was rewritten without them.",
                summary.clients_sealed
            );
            if let Some(recovery) = &summary.recovery_key {
                print_recovery_key(recovery);
            }
            for path in &summary.snapshots_removed {
                println!(
                    "Removed {}: the copy kept before the last schema change still held names in clear.",
                    path.display()
                );
            }
            println!("Delete or re-encrypt old backups: they still hold names in clear.");
        }
        Command::Import {
            dir,
            file,
            date_order,
            lang,
        } => {
            let lang = lang_of(lang);
            let node = Node::open(&dir).await?;
            let options = ImportOptions {
                date_order: date_order.map(|o| match o {
                    DateOrderArg::Dmy => DateOrder::DayMonthYear,
                    DateOrderArg::Mdy => DateOrder::MonthDayYear,
                }),
                ..ImportOptions::at(clock.now())
            };
            let mut bar = ProgressBar::default();
            let result = node
                .import_file_with(&file, &options, |p| bar.update(p))
                .await;
            bar.finish();
            match result {
                Ok(imported) => println!("{}", cli::import_text::imported(&imported, lang)),
                Err(NodeError::Import(error)) => {
                    match cli::import_text::refusal(&error, lang) {
                        Some(text) => eprintln!("error: {text}"),
                        None => eprintln!("error: {error}"),
                    }
                    return Ok(ExitCode::FAILURE);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Command::Template { kind, lang, out } => {
            let lang = lang_of(lang);
            let kind = match kind {
                KindArg::Clients => RecordKind::Clients,
                KindArg::Services => RecordKind::Events,
            };
            let bytes = quietcount_node::import::template::template(kind, lang)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .with_context(|| {
                    format!("{}: cannot create (it must not exist yet)", out.display())
                })?;
            std::io::Write::write_all(&mut file, &bytes)
                .with_context(|| format!("{}: cannot write", out.display()))?;
            println!("wrote {}", out.display());
        }
        Command::Simulate {
            dir,
            clients,
            months,
            seed,
            until,
        } => {
            let node = Node::open(&dir).await?;
            let until = match until {
                Some(p) => p,
                None => Period::latest_closed(PeriodType::Month, clock.now())
                    .context("no closed month before now")?,
            };
            let mut bar = ProgressBar::default();
            let summary = node
                .simulate(
                    SimulateOptions {
                        clients,
                        months,
                        seed,
                        until,
                    },
                    |p| bar.update(p),
                )
                .await;
            bar.finish();
            let summary = summary?;
            println!(
                "simulated {} clients and {} service events ({} new) up to {until}",
                summary.clients, summary.events, summary.events_inserted
            );
        }
        Command::Report {
            dir,
            period,
            form,
            preview,
            allow_open_period,
        } => {
            let node = Node::open(&dir).await?;
            let open = if allow_open_period {
                OpenPeriod::Allow
            } else {
                OpenPeriod::Refuse
            };
            let forms: Vec<String> = match form {
                Some(id) => vec![id],
                None => node
                    .forms_for(period)
                    .map_err(with_hint)?
                    .iter()
                    .map(|f| f.id.clone())
                    .collect(),
            };
            let mut queued = false;
            for id in &forms {
                if preview {
                    let shown = node
                        .preview_report(id, period, clock.now(), open)
                        .await
                        .map_err(with_hint)?;
                    println!("{}", cli::render::preview(node.form(id)?, &shown.report));
                } else {
                    let outcome = node
                        .queue_report(id, period, clock.now(), open)
                        .await
                        .map_err(with_hint)?;
                    println!("{}", cli::render::queue_outcome(&outcome));
                    queued |= matches!(outcome, QueueOutcome::Queued { .. });
                }
            }
            if queued {
                println!(
                    "Deliver it with: quietcount-node submit --dir {}",
                    dir.display()
                );
            }
        }
        Command::Fetch { dir, period, form } => {
            let node = Node::open(&dir).await?;
            let summary = node.fetch_own(period, form.as_deref(), clock.now()).await;
            node.close().await;
            let summary = summary?;
            if summary.revisions.is_empty() {
                println!(
                    "The coordinator holds no report of this site for {} ({} v{}).",
                    summary.period, summary.form.id, summary.form.version
                );
            }
            for r in &summary.revisions {
                let what = match &r.outcome {
                    FetchOutcome::AlreadyKnown => "already known here".to_owned(),
                    FetchOutcome::Recorded => "recorded here as delivered".to_owned(),
                    FetchOutcome::Skipped(why) => format!("not recorded: {why}"),
                };
                println!(
                    "{} revision {}: received by the coordinator {} (receipt #{}): {what}",
                    summary.period,
                    r.revision,
                    format_utc(r.received_at),
                    r.sequence
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Submit { dir } => {
            let node = Node::open(&dir).await?;
            let summary = node.submit_all(clock.now()).await?;
            println!("{}", cli::render::submit_summary(&summary));
            if !summary.all_delivered() {
                eprintln!(
                    "error: not every report was delivered; see `quietcount-node status --dir {}`",
                    dir.display()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Run { dir } => {
            let node = std::sync::Arc::new(Node::open(&dir).await?);
            // The staff web app, on the same runtime; stopped after the service loop.
            let listener = quietcount_node::web::bind(&node).await?;
            println!(
                "Web app: {}",
                quietcount_node::web::web_url(listener.local_addr()?)
            );
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let web = tokio::spawn(quietcount_node::web::serve(
                node.clone(),
                listener,
                web_options(node.config()),
                async move {
                    let mut stopped = stopped;
                    let _ = stopped.wait_for(|s| *s).await;
                },
            ));
            let result = quietcount_node::service::run(
                &node,
                &clock,
                quietcount_service::shutdown::shutdown_signal(),
            )
            .await;
            let _ = stop.send(true);
            match tokio::time::timeout(std::time::Duration::from_secs(5), web).await {
                Ok(Ok(Err(error))) => tracing::warn!(%error, "web app stopped with an error"),
                Ok(_) => {}
                Err(_) => tracing::warn!("web app did not stop within 5 s"),
            }
            let _ = std::fs::remove_file(dir.join("run").join(quietcount_node::web::ADDRESS_FILE));
            result?;
        }
        Command::Status { dir } => {
            let node = Node::open(&dir).await?;
            print!("{}", cli::render::status(&node.status().await?));
            match quietcount_node::web::running_url(&dir) {
                Some(url) => println!("Web app: {url}"),
                None => println!(
                    "Web app (while `run` runs): {}",
                    quietcount_node::web::web_url(node.config().web_address())
                ),
            }
        }
        Command::Erase { dir, client } => {
            let node = Node::open(&dir).await?;
            let erased = node.erase_client(&client, clock.now()).await?;
            println!(
                "Erased the client's record and {} service event(s).",
                erased.events
            );
            print_rebuild_hint(&dir, &erased.periods);
        }
        Command::DeleteEvent {
            dir,
            client,
            date,
            service,
            outcome,
            all,
        } => {
            let node = Node::open(&dir).await?;
            let event = quietcount_node::corrections::EventToDelete {
                client: &client,
                date: &date,
                service: &service,
                outcome: outcome.as_deref(),
                all,
            };
            let (deleted, period) = node.delete_event(&event, clock.now()).await?;
            println!("Deleted {deleted} service event(s).");
            print_rebuild_hint(&dir, &[period]);
        }
        Command::Backup { dir, out } => {
            let node = Node::open(&dir).await?;
            node.backup(&out).await?;
            println!("Backed up {} to {}", dir.display(), out.display());
            println!(
                "Names in the copy are sealed (reading them needs a staff passphrase or the recovery key); it holds the site key: keep it safe."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says which reports a correction changes and how to send them.
fn print_rebuild_hint(dir: &std::path::Path, periods: &[Period]) {
    if periods.is_empty() {
        return;
    }
    let list: Vec<String> = periods.iter().map(ToString::to_string).collect();
    println!(
        "The next report of {} will be a new revision. For a period already reported, send the \
         correction with: quietcount-node report --dir {} --period PERIOD, then submit.",
        list.join(", "),
        dir.display()
    );
}

/// How the web app behaves: the configured idle lock and the staff KDF.
fn web_options(config: &quietcount_node::Config) -> quietcount_node::web::WebOptions {
    quietcount_node::web::WebOptions {
        idle: std::time::Duration::from_secs(config.web_idle_secs),
        staff_kdf: staff_kdf(),
    }
}

/// The Argon2id parameters for new staff passphrases: the real ones. (Builds with the
/// `test-util` feature accept `QUIETCOUNT_TEST_CHEAP_KDF=1`, for the tests only.)
fn staff_kdf() -> KdfParams {
    #[cfg(feature = "test-util")]
    if std::env::var_os("QUIETCOUNT_TEST_CHEAP_KDF").is_some() {
        return KdfParams::for_tests();
    }
    KdfParams::default()
}

fn dir_display(site_pub: &std::path::Path) -> String {
    site_pub
        .parent()
        .map_or_else(String::new, |d| d.display().to_string())
}

fn print_recovery_key(key: &RecoveryKey) {
    println!();
    println!("RECOVERY KEY (shown this once; print it or write it down, and keep it offline):");
    println!();
    println!("    {}", key.display().as_str());
    println!();
    println!(
        "With it, names can be read when every staff passphrase is lost. Without it or a staff\n\
         passphrase, nobody can read them: not the province, not Quietcount."
    );
    println!();
}

/// The first line of `path`, as a secret.
fn read_secret_file(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?,
    );
    Ok(Zeroizing::new(text.lines().next().unwrap_or("").to_owned()))
}

fn prompt(text: &str) -> anyhow::Result<Zeroizing<String>> {
    Ok(Zeroizing::new(
        rpassword::prompt_password(text).context("cannot read from the terminal")?,
    ))
}

/// A new passphrase: from `file`, or asked twice.
fn read_new_passphrase(file: Option<&std::path::Path>) -> anyhow::Result<Zeroizing<String>> {
    if let Some(path) = file {
        return read_secret_file(path);
    }
    let first = prompt("New passphrase: ")?;
    let again = prompt("The same passphrase again: ")?;
    anyhow::ensure!(
        *first == *again,
        "the two passphrases differ; nothing was changed"
    );
    Ok(first)
}

fn read_unlock(args: &UnlockArgs) -> anyhow::Result<Unlock> {
    if let Some(path) = &args.recovery_key_file {
        return Ok(Unlock::Recovery(RecoveryKey::parse(&read_secret_file(
            path,
        )?)?));
    }
    if args.recovery {
        return Ok(Unlock::Recovery(RecoveryKey::parse(&prompt(
            "Recovery key: ",
        )?)?));
    }
    let name = args
        .staff
        .clone()
        .context("reading names needs an unlock: give --staff NAME (or --recovery)")?;
    let passphrase = match &args.passphrase_file {
        Some(path) => read_secret_file(path)?,
        None => prompt(&format!("Passphrase for {name}: "))?,
    };
    Ok(Unlock::Staff { name, passphrase })
}

fn staff(command: StaffCommand) -> anyhow::Result<()> {
    match command {
        StaffCommand::List { dir } => {
            let keyring = quietcount_node::Keyring::load(&dir)?;
            print!("{}", cli::render::staff_list(keyring.staff()));
        }
        StaffCommand::Add {
            dir,
            name,
            new_passphrase_file,
            unlock,
        } => {
            let node = quietcount_node::RecordsKeys::new(&dir);
            let how = read_unlock(&unlock)?;
            let passphrase = read_new_passphrase(new_passphrase_file.as_deref())?;
            node.add_staff(&how, &name, &passphrase, staff_kdf())?;
            println!("{name} can now unlock the records with their passphrase.");
        }
        StaffCommand::Remove { dir, name, unlock } => {
            let node = quietcount_node::RecordsKeys::new(&dir);
            let how = read_unlock(&unlock)?;
            node.remove_staff(&how, &name)?;
            println!(
                "{name} can no longer unlock the records on this computer (copies of the data directory taken before still open with the old passphrase)."
            );
        }
        StaffCommand::Passwd {
            dir,
            name,
            new_passphrase_file,
            unlock,
        } => {
            let node = quietcount_node::RecordsKeys::new(&dir);
            let how = read_unlock(&unlock)?;
            let passphrase = read_new_passphrase(new_passphrase_file.as_deref())?;
            node.change_passphrase(&how, &name, &passphrase, staff_kdf())?;
            println!("The passphrase of {name} was changed.");
        }
    }
    Ok(())
}

/// Adds the command-line hint to library errors that a flag can get past.
fn with_hint(error: NodeError) -> anyhow::Error {
    match error {
        NodeError::PeriodNotOver { .. } => {
            anyhow::anyhow!("{error}; pass --allow-open-period to build it anyway")
        }
        other => other.into(),
    }
}
