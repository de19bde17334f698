//! `quietcount-node`: the site node's command line. Parses arguments, sets up logging,
//! calls the library and renders its results ([`cli`]).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use cli::progress::ProgressBar;
use quietcount_node::simulate::SimulateOptions;
use quietcount_node::{InitOptions, LogFormat, Node, NodeError, OpenPeriod, QueueOutcome};
use quietcount_protocol::{Period, PeriodType, SiteId};
use quietcount_service::clock::{Clock, SystemClock};
use quietcount_service::logging::LogOutput;

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
    /// Import a clients or services CSV file (whole file or nothing).
    Import {
        #[arg(long)]
        dir: PathBuf,
        file: PathBuf,
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
    /// Copy the whole data directory (database snapshot, config, keys) into a new directory.
    Backup {
        #[arg(long)]
        dir: PathBuf,
        /// A directory that does not exist yet; it is created readable by its owner only.
        #[arg(long)]
        out: PathBuf,
    },
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
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn command_dir(command: &Command) -> Option<&PathBuf> {
    match command {
        Command::Init { .. } => None,
        Command::Import { dir, .. }
        | Command::Simulate { dir, .. }
        | Command::Report { dir, .. }
        | Command::Submit { dir }
        | Command::Run { dir }
        | Command::Status { dir }
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
        }
        Command::Import { dir, file } => {
            let node = Node::open(&dir).await?;
            let mut bar = ProgressBar::default();
            let summary = node.import_file(&file, |p| bar.update(p)).await;
            bar.finish();
            println!("{}", cli::render::import_summary(&summary?));
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
            let node = Node::open(&dir).await?;
            quietcount_node::service::run(
                &node,
                &clock,
                quietcount_service::shutdown::shutdown_signal(),
            )
            .await?;
        }
        Command::Status { dir } => {
            let node = Node::open(&dir).await?;
            print!("{}", cli::render::status(&node.status().await?));
        }
        Command::Backup { dir, out } => {
            let node = Node::open(&dir).await?;
            node.backup(&out).await?;
            println!("Backed up {} to {}", dir.display(), out.display());
            println!("The copy holds client records and the site key: keep it encrypted.");
        }
    }
    Ok(ExitCode::SUCCESS)
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
