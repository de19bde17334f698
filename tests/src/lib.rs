//! End-to-end test harness: starts the real `quietcount-coordinator`, `quietcount-node` and
//! `quietcount-keys` binaries as separate processes on loopback, as an operator would.
//!
//! The binaries are the ones `cargo test --workspace` builds beside the test executables
//! (`target/<profile>/`). Every helper here drives a command line; none calls into the
//! services' libraries, so the tests see exactly what an operator sees.
//!
//! Helpers are named for what the operator does: [`start_coordinator`], [`enroll_site`],
//! [`Coordinator::revoke`]. No port is guessed: the coordinator listens on `127.0.0.1:0` and the
//! harness reads the address it bound back from its `run/listen-address` file. Nothing waits a
//! fixed time: each step waits, with a timeout, for something observable ([`wait_until`]) —
//! the address file, a line in a log (an enrolment reaching the coordinator's key directory,
//! a service starting), a status answer.
//!
//! [`browser`] is what the two browser tests share to drive headless Chromium over WebDriver.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

pub mod browser;

/// The web app port `quietcount-node init` writes (`quietcount_node::config::DEFAULT_WEB_PORT`;
/// the harness drives binaries only, so it is repeated here).
pub const DEFAULT_WEB_PORT: u16 = 8470;

/// The path of one of the workspace's binaries, built beside the test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-exe> -> target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds every binary",
        path.display()
    );
    path
}

/// The most recent closed month, as `YYYY-MM`, by the system clock.
pub fn last_closed_month() -> String {
    quietcount_protocol::Period::latest_closed(quietcount_protocol::PeriodType::Month, unix_now())
        .expect("a closed month exists")
        .to_string()
}

/// The machine's clock, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The first period sites enrolled by the harness are expected to report for: January of the
/// year before last, so every period the tests report (at most two years back) is expected
/// although the sites are enrolled today.
pub fn reports_from() -> String {
    let year = &quietcount_protocol::ids::format_utc(unix_now())[..4];
    let year: u32 = year.parse().expect("a four-digit year");
    format!("{}-01", year - 2)
}

/// Runs a command to completion, with output captured, failing on a non-zero exit.
pub fn run_ok(command: &mut Command) -> Result<Output> {
    let output = run(command)?;
    if !output.status.success() {
        bail!(
            "{:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            command,
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Runs a command to completion, with output captured, whatever its exit status.
pub fn run(command: &mut Command) -> Result<Output> {
    command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {command:?}"))
}

/// Text of stdout and stderr together.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A service process whose stdout and stderr go to a log file.
#[derive(Debug)]
pub struct Service {
    child: Option<Child>,
    log: PathBuf,
}

impl Service {
    fn spawn(mut command: Command, log: PathBuf) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("open {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {command:?}"))?;
        Ok(Self {
            child: Some(child),
            log,
        })
    }

    /// Starts `command` with its output appended to `log` (for tests that kill processes).
    pub fn spawn_for_test(command: Command, log: PathBuf) -> Result<Self> {
        Self::spawn(command, log)
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the process has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `timeout` until the log has a line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        wait_until(timeout, || self.log_text().contains(needle))
            .with_context(|| format!("no log line with {needle:?}:\n{}", self.log_text()))
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait up to `grace` for a clean exit.
    pub fn terminate(&mut self, grace: Duration) -> Result<ExitStatus> {
        let mut child = self.child.take().ok_or_else(|| anyhow!("not running"))?;
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("did not exit within {grace:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(Some(_))),
            None => true,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How long a service may take to start, or a change to reach it.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `quietcount-coordinator init` in `root/coordinator`, then `run` with logs at `level`: a
/// coordinator listening on a loopback port of its choosing ([`Coordinator::addr`]).
pub fn start_coordinator(root: &Path, province: &str, level: &str) -> Result<Coordinator> {
    let mut coordinator = Coordinator::init(root, province)?;
    coordinator.start(level)?;
    Ok(coordinator)
}

/// `quietcount-node init` for site `id` pointed at `coordinator` (which must have been started
/// once, so that its address is known), then the province enrols it, checking the fingerprint.
pub fn enroll_site(root: &Path, id: &str, coordinator: &Coordinator) -> Result<Site> {
    let site = Site::init(root, id, coordinator)?;
    coordinator.enroll(&site)?;
    Ok(site)
}

/// A provincial coordinator's directory and, when running, its process.
#[derive(Debug)]
pub struct Coordinator {
    /// Its data directory.
    pub dir: PathBuf,
    /// The running service, if started.
    pub service: Option<Service>,
    /// The address its first `run` bound; later runs listen there again.
    addr: Option<SocketAddr>,
    logs: PathBuf,
}

impl Coordinator {
    /// `quietcount-coordinator init` in `root/coordinator`, configured to listen on loopback
    /// port 0 (a free port chosen when it starts).
    pub fn init(root: &Path, province: &str) -> Result<Self> {
        let dir = root.join("coordinator");
        run_ok(
            Command::new(binary("quietcount-coordinator"))
                .arg("init")
                .arg("--dir")
                .arg(&dir)
                .arg("--province")
                .arg(province)
                .arg("--listen")
                .arg("127.0.0.1:0"),
        )?;
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs)?;
        Ok(Self {
            dir,
            service: None,
            addr: None,
            logs,
        })
    }

    /// The address the coordinator listens on, known once it has been started.
    pub fn addr(&self) -> Result<SocketAddr> {
        self.addr
            .ok_or_else(|| anyhow!("the coordinator has not been started: its port is unknown"))
    }

    /// The coordinator's public key file, handed to sites and donors.
    pub fn public_key(&self) -> PathBuf {
        self.dir.join("coordinator.pub")
    }

    /// A `quietcount-coordinator` command with `--dir` set after the subcommand.
    pub fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new(binary("quietcount-coordinator"));
        command.arg(subcommand).arg("--dir").arg(&self.dir);
        command
    }

    /// Enrols a site, checking the fingerprint it printed at init. If the coordinator is
    /// running, waits until its key directory accepts the new key (it refreshes every second).
    pub fn enroll(&self, site: &Site) -> Result<Output> {
        let accepted_before = self.key_log_count("site key accepted", &site.id);
        let output = run_ok(
            self.command("enroll")
                .arg("--site")
                .arg(&site.id)
                .arg("--name")
                .arg(format!("Site {}", site.id))
                .arg("--key")
                .arg(site.public_key())
                .arg("--expect-fingerprint")
                .arg(&site.short_fingerprint)
                .arg("--reports-from")
                .arg(reports_from()),
        )?;
        self.wait_for_key_log("site key accepted", &site.id, accepted_before)?;
        Ok(output)
    }

    /// Revokes a site's key. If the coordinator is running, waits until its key directory
    /// no longer accepts the key.
    pub fn revoke(&self, site: &Site, reason: &str, since: Option<u64>) -> Result<Output> {
        let revoked_before = self.key_log_count("site key no longer accepted", &site.id);
        let mut command = self.command("revoke");
        command
            .arg("--site")
            .arg(&site.id)
            .arg("--reason")
            .arg(reason);
        if let Some(since) = since {
            command
                .arg("--since")
                .arg(quietcount_protocol::ids::format_utc(since));
        }
        let output = run_ok(&mut command)?;
        self.wait_for_key_log("site key no longer accepted", &site.id, revoked_before)?;
        Ok(output)
    }

    /// How many lines of the log say `message` for `site`.
    fn key_log_count(&self, message: &str, site: &str) -> usize {
        let field = format!("site={site}");
        self.log_text()
            .lines()
            .filter(|line| {
                line.contains(message) && line.split_whitespace().any(|word| word == field)
            })
            .count()
    }

    fn wait_for_key_log(&self, message: &str, site: &str, before: usize) -> Result<()> {
        if self.service.is_none() {
            return Ok(());
        }
        wait_until(READY_TIMEOUT, || self.key_log_count(message, site) > before)
            .with_context(|| format!("the coordinator never logged {message:?} for {site}"))
    }

    /// Starts `run` with logs at `level` (an `RUST_LOG` filter) and waits until it is bound.
    /// The first start listens on a free loopback port; later ones listen on the same address
    /// again, where the sites' configurations point.
    pub fn start(&mut self, level: &str) -> Result<()> {
        let address_file = self.dir.join("run").join("listen-address");
        // A killed run leaves its file behind: only a new one says this run is bound.
        match std::fs::remove_file(&address_file) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(error).context("remove the old listen-address file");
            }
            _ => {}
        }
        let listen = self
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let mut command = self.command("run");
        command
            .arg("--listen")
            .arg(listen.to_string())
            // The dashboard on any free port, so that coordinators of parallel tests coexist.
            .arg("--dashboard-listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", level)
            .env("QUIETCOUNT_LOG", level);
        let log = self.logs.join("coordinator.log");
        let mut service = Service::spawn(command, log)?;
        let mut bound = None;
        let ready = wait_until(READY_TIMEOUT, || {
            bound = std::fs::read_to_string(&address_file)
                .ok()
                .and_then(|text| text.trim().parse::<SocketAddr>().ok());
            bound.is_some() || service.has_exited()
        });
        let Some(bound) = bound.filter(|_| ready.is_ok()) else {
            bail!(
                "the coordinator did not start listening:\n{}",
                self.log_text()
            );
        };
        self.addr = Some(bound);
        self.service = Some(service);
        Ok(())
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut service) = self.service.take() {
            service.kill();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let mut service = self.service.take().ok_or_else(|| anyhow!("not running"))?;
        service.terminate(Duration::from_secs(20))
    }

    /// `status --period P --json`, parsed.
    pub fn status_json(&self, period: &str) -> Result<serde_json::Value> {
        let output = run_ok(
            self.command("status")
                .arg("--period")
                .arg(period)
                .arg("--json"),
        )?;
        serde_json::from_slice(&output.stdout).context("status --json is not JSON")
    }

    /// `publish --period P --out DIR`.
    pub fn publish(&self, period: &str, out: &Path) -> Result<Output> {
        run_ok(
            self.command("publish")
                .arg("--period")
                .arg(period)
                .arg("--out")
                .arg(out),
        )
    }

    /// `publish --allow-incomplete`: below the configured share of expected sites.
    pub fn publish_incomplete(&self, period: &str, out: &Path) -> Result<Output> {
        run_ok(
            self.command("publish")
                .arg("--period")
                .arg(period)
                .arg("--out")
                .arg(out)
                .arg("--allow-incomplete"),
        )
    }

    /// Everything the coordinator has logged, in every run so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.logs.join("coordinator.log")).unwrap_or_default()
    }
}

/// A site node's directory.
#[derive(Debug)]
pub struct Site {
    /// Its site id.
    pub id: String,
    /// Its data directory.
    pub dir: PathBuf,
    /// The short fingerprint `init` printed.
    pub short_fingerprint: String,
    /// The running service, if started.
    pub service: Option<Service>,
    /// The recovery key `init` showed once (it adds the first staff member).
    pub recovery_key: Option<String>,
    log: PathBuf,
}

impl Site {
    /// `quietcount-node init` for `id` in `root/sites/<id>`, pointed at `coordinator` (which
    /// must have been started once: its address is written into the site's configuration).
    pub fn init(root: &Path, id: &str, coordinator: &Coordinator) -> Result<Self> {
        let dir = root.join("sites").join(id);
        let addr = coordinator.addr()?;
        let output = run_ok(
            Command::new(binary("quietcount-node"))
                .arg("init")
                .arg("--dir")
                .arg(&dir)
                .arg("--site")
                .arg(id)
                .arg("--coordinator")
                .arg(addr.to_string())
                .arg("--coordinator-key")
                .arg(coordinator.public_key()),
        )?;
        let short_fingerprint = find_short_fingerprint(&text(&output))
            .ok_or_else(|| anyhow!("init printed no short fingerprint:\n{}", text(&output)))?;
        // Several sites run at once on this machine: each web app takes a free port (written
        // to run/web-address) instead of the default one.
        let config = dir.join("config.toml");
        let configured = std::fs::read_to_string(&config)?;
        let web_port = format!("web_port = {}", DEFAULT_WEB_PORT);
        if !configured.contains(&web_port) {
            bail!("init wrote no {web_port:?} line:\n{configured}");
        }
        std::fs::write(&config, configured.replace(&web_port, "web_port = 0"))?;
        let log = root.join("logs").join(format!("node-{id}.log"));
        std::fs::create_dir_all(root.join("logs"))?;
        let recovery_key = text(&output)
            .lines()
            .skip_while(|l| !l.contains("RECOVERY KEY"))
            .skip(1)
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned);
        Ok(Self {
            id: id.to_owned(),
            dir,
            short_fingerprint,
            service: None,
            recovery_key,
            log,
        })
    }

    /// The site's public key file, handed to the province.
    pub fn public_key(&self) -> PathBuf {
        self.dir.join("site.pub")
    }

    /// A `quietcount-node` command with `--dir` set after the subcommand.
    pub fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new(binary("quietcount-node"));
        command.arg(subcommand).arg("--dir").arg(&self.dir);
        command
    }

    /// Synthetic records up to `until` (a month).
    pub fn simulate(&self, clients: u32, months: u32, seed: u64, until: &str) -> Result<Output> {
        run_ok(
            self.command("simulate")
                .arg("--clients")
                .arg(clients.to_string())
                .arg("--months")
                .arg(months.to_string())
                .arg("--seed")
                .arg(seed.to_string())
                .arg("--until")
                .arg(until),
        )
    }

    /// Imports a CSV file.
    pub fn import(&self, file: &Path) -> Result<Output> {
        run_ok(self.command("import").arg(file))
    }

    /// Builds, signs and queues the report for `period`.
    pub fn report(&self, period: &str) -> Result<Output> {
        run_ok(self.command("report").arg("--period").arg(period))
    }

    /// Delivers everything pending; the exit status says whether all was delivered.
    pub fn submit(&self) -> Result<Output> {
        run(&mut self.command("submit"))
    }

    /// Starts the background service `run` with logs at `level` (at least `info`), and waits
    /// until it logs that it started.
    pub fn start(&mut self, level: &str) -> Result<()> {
        let started_before = self.log_text().matches("service started").count();
        let mut command = self.command("run");
        command.env("RUST_LOG", level).env("QUIETCOUNT_LOG", level);
        self.service = Some(Service::spawn(command, self.log.clone())?);
        wait_until(READY_TIMEOUT, || {
            self.log_text().matches("service started").count() > started_before
        })
        .with_context(|| {
            format!(
                "{}: the service did not start:\n{}",
                self.id,
                self.log_text()
            )
        })
    }

    /// Everything the node service has logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the node service's log has a line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> Result<()> {
        wait_until(READY_TIMEOUT, || self.log_text().contains(needle)).with_context(|| {
            format!(
                "{}: no log line with {needle:?}:\n{}",
                self.id,
                self.log_text()
            )
        })
    }
}

/// Finds a short fingerprint (`XXXX-XXXX-XXXX-XXXX`, Crockford base32) in command output.
pub fn find_short_fingerprint(output: &str) -> Option<String> {
    const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    output
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ':' || c == ',')
        .find(|word| {
            word.len() == 19
                && word.split('-').count() == 4
                && word
                    .split('-')
                    .all(|g| g.len() == 4 && g.chars().all(|c| ALPHABET.contains(c)))
        })
        .map(str::to_owned)
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes (checking once more at the
/// deadline).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file below `dir` (recursively), as (path, bytes).
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(mut file) = std::fs::File::open(&path) {
                let mut bytes = Vec::new();
                if file.read_to_end(&mut bytes).is_ok() {
                    out.push((path, bytes));
                }
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
