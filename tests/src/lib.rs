//! End-to-end test harness: starts the real `quietcount-coordinator`, `quietcount-node` and
//! `quietcount-keys` binaries as separate processes on loopback, as an operator would.
//!
//! The binaries are the ones `cargo test --workspace` builds beside the test executables
//! (`target/<profile>/`). Every helper here drives a command line; none calls into the
//! services' libraries, so the tests see exactly what an operator sees.

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

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

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
    socket.local_addr().expect("local address").port()
}

/// The most recent closed month, as `YYYY-MM`, by the system clock.
pub fn last_closed_month() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    quietcount_protocol::Period::latest_closed(quietcount_protocol::PeriodType::Month, now)
        .expect("a closed month exists")
        .to_string()
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

/// A provincial coordinator's directory and, when running, its process.
#[derive(Debug)]
pub struct Coordinator {
    /// Its data directory.
    pub dir: PathBuf,
    /// Its loopback address.
    pub addr: SocketAddr,
    /// The running service, if started.
    pub service: Option<Service>,
    logs: PathBuf,
}

impl Coordinator {
    /// `quietcount-coordinator init` in `root/coordinator`, listening on a free loopback port.
    pub fn init(root: &Path, province: &str) -> Result<Self> {
        let dir = root.join("coordinator");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse()?;
        run_ok(
            Command::new(binary("quietcount-coordinator"))
                .arg("init")
                .arg("--dir")
                .arg(&dir)
                .arg("--province")
                .arg(province)
                .arg("--listen")
                .arg(addr.to_string()),
        )?;
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs)?;
        Ok(Self {
            dir,
            addr,
            service: None,
            logs,
        })
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

    /// Enrols a site, checking the fingerprint it printed at init.
    pub fn enroll(&self, site: &Site) -> Result<Output> {
        run_ok(
            self.command("enroll")
                .arg("--site")
                .arg(&site.id)
                .arg("--name")
                .arg(format!("Site {}", site.id))
                .arg("--key")
                .arg(site.public_key())
                .arg("--expect-fingerprint")
                .arg(&site.short_fingerprint),
        )
    }

    /// Starts `run` with logs at `level` (an `RUST_LOG` filter), and waits until it listens.
    pub fn start(&mut self, level: &str) -> Result<()> {
        let mut command = self.command("run");
        command.env("RUST_LOG", level).env("QUIETCOUNT_LOG", level);
        let log = self.logs.join("coordinator.log");
        self.service = Some(Service::spawn(command, log)?);
        // The UDP port is bound once the process logs that it listens; give it a moment.
        wait_until(Duration::from_secs(20), || {
            let log = self
                .service
                .as_ref()
                .map(Service::log_text)
                .unwrap_or_default();
            log.contains("listening") || log.contains("Listening")
        })
        .context("coordinator did not report listening")
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
    log: PathBuf,
}

impl Site {
    /// `quietcount-node init` for `id` in `root/sites/<id>`, pointed at `coordinator`.
    pub fn init(root: &Path, id: &str, coordinator: &Coordinator) -> Result<Self> {
        let dir = root.join("sites").join(id);
        let output = run_ok(
            Command::new(binary("quietcount-node"))
                .arg("init")
                .arg("--dir")
                .arg(&dir)
                .arg("--site")
                .arg(id)
                .arg("--coordinator")
                .arg(coordinator.addr.to_string())
                .arg("--coordinator-key")
                .arg(coordinator.public_key()),
        )?;
        let short_fingerprint = find_short_fingerprint(&text(&output))
            .ok_or_else(|| anyhow!("init printed no short fingerprint:\n{}", text(&output)))?;
        let log = root.join("logs").join(format!("node-{id}.log"));
        std::fs::create_dir_all(root.join("logs"))?;
        Ok(Self {
            id: id.to_owned(),
            dir,
            short_fingerprint,
            service: None,
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

    /// Starts the background service `run` with logs at `level`.
    pub fn start(&mut self, level: &str) -> Result<()> {
        let mut command = self.command("run");
        command.env("RUST_LOG", level).env("QUIETCOUNT_LOG", level);
        self.service = Some(Service::spawn(command, self.log.clone())?);
        Ok(())
    }

    /// Everything the node service has logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("condition not met within {timeout:?}")
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
