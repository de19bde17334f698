//! What both browser tests (`web_site`, `web_province`) need to drive headless Chromium over
//! WebDriver: whether the browser is here (outside CI its absence skips a test with a reason;
//! under `CI=true` it fails), a `chromedriver` process on a free loopback port, a browser
//! session with a throw-away profile, a click that waits for the next page, and where
//! screenshots go.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::{Service, wait_until};

/// Debian's `chromium`.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The screen sizes every page is photographed at: a laptop and a phone.
pub const SCREEN_SIZES: [(u32, u32); 2] = [(1366, 768), (390, 844)];

/// Whether the browser is here. Outside CI its absence skips `test` with a reason; under
/// `CI=true` it fails (`.ci/run` installs it).
pub fn browser_available(test: &str) -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: .ci/run installs them"
        );
        eprintln!(
            "SKIPPED {test}: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
    }
    present
}

/// `target/screenshots/`, beside the test executable's profile folder.
pub fn screenshot_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("test executable outside target/<profile>/deps"))?;
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A chromedriver process on a free loopback port, stopped when dropped.
#[derive(Debug)]
pub struct Driver {
    service: Service,
    port: u16,
}

impl Driver {
    /// Starts chromedriver, its log in `root/logs/chromedriver.log`, and waits until it answers.
    pub fn start(root: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={port}"));
        let service = Service::spawn_for_test(command, root.join("logs").join("chromedriver.log"))?;
        wait_until(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .context("chromedriver did not start")?;
        Ok(Self { service, port })
    }

    /// A headless Chromium session with its profile in `profile` (nothing from the network:
    /// no sync, updates or background requests), at the laptop size.
    pub async fn open_browser(&self, profile: &Path) -> Result<Client> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .context("cannot start a browser session")?;
        let (width, height) = SCREEN_SIZES[0];
        browser.set_window_size(width, height).await?;
        Ok(browser)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.service.kill();
    }
}

/// Clicks what `css` finds and waits until the next page has loaded (the old page's marker
/// gone and the new one complete).
pub async fn click_and_wait(browser: &Client, css: &str) -> Result<()> {
    browser.execute("window.qcOldPage = 1;", vec![]).await?;
    browser.find(Locator::Css(css)).await?.click().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let loaded = browser
            .execute(
                "return typeof window.qcOldPage === 'undefined' && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "no page after clicking {css}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Types `text` into the field with id `id`, replacing what it held.
pub async fn type_into(browser: &Client, id: &str, text: &str) -> Result<()> {
    let field = browser.find(Locator::Id(id)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

/// `path` asking for language `lang` (`?lang=` or `&lang=`).
pub fn with_lang(path: &str, lang: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}lang={lang}")
}
