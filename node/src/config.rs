//! The node's data directory and its `config.toml`.
//!
//! A data directory holds `config.toml`, the site key `site.key` (mode 0600) and its public
//! half `site.pub`, the pinned coordinator key(s), and the SQLite database `node.db`.

use std::path::{Path, PathBuf};

use quietcount_protocol::{DisclosurePolicy, Form, SiteId, ZeroPolicy};
use quietcount_service::toml_string;
use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// Name of the configuration file in the data directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Name of the site's private key file.
pub const SITE_KEY_FILE: &str = "site.key";
/// Name of the site's public key file (given to the province).
pub const SITE_PUB_FILE: &str = "site.pub";
/// Name of the copied coordinator public key.
pub const COORDINATOR_KEY_FILE: &str = "coordinator.pem";
/// Name of the database file.
pub const DATABASE_FILE: &str = "node.db";

/// Default disclosure threshold (the province's default).
pub const DEFAULT_K: u32 = DisclosurePolicy::DEFAULT.k;
/// Default day of the month, after a period closes, on which `run` builds its report.
pub const DEFAULT_REPORT_DAY: u32 = 5;
/// Default first retry delay, seconds.
pub const DEFAULT_RETRY_BASE_SECS: u64 = 60;
/// Default longest retry delay, seconds.
pub const DEFAULT_RETRY_MAX_SECS: u64 = 6 * 3600;
/// Default time allowed to reach the coordinator, seconds.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 15;
/// Default interval at which `run` wakes up to check its schedule, seconds.
pub const DEFAULT_CHECK_INTERVAL_SECS: u64 = 600;
/// Default port of the staff web app that `run` serves on 127.0.0.1.
pub const DEFAULT_WEB_PORT: u16 = 8470;
/// Default idle time after which a web app session locks itself, seconds (15 minutes).
pub const DEFAULT_WEB_IDLE_SECS: u64 = 15 * 60;
/// Default time zone of the times the web app shows (IANA name).
pub const DEFAULT_TIME_ZONE: &str = quietcount_service::web::i18n::DEFAULT_TIME_ZONE;

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// The node's configuration (`config.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This site's id, as enrolled at the coordinator.
    pub site: SiteId,
    /// The coordinator's address, `HOST:PORT`.
    pub coordinator: String,
    /// Pinned coordinator public key files (PEM), relative to the data directory: the current
    /// key, and during a rotation the next one too.
    pub coordinator_keys: Vec<PathBuf>,
    /// Disclosure threshold: may be stricter than the province's 5, never below 2.
    #[serde(default = "default_k")]
    pub k: u32,
    /// Whether zeros may be hidden (`protected`, the default) or are always published
    /// (`published`); see README's guarantee section.
    #[serde(default)]
    pub zeros: ZeroPolicy,
    /// Day of the month after a period closes on which `run` builds and sends its report.
    #[serde(default = "default_report_day")]
    pub report_day: u32,
    /// Log format: `human` or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// First retry delay after a failed delivery, seconds (doubles each attempt, with jitter).
    #[serde(default = "default_retry_base_secs")]
    pub retry_base_secs: u64,
    /// Longest retry delay, seconds.
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: u64,
    /// Time allowed to connect to the coordinator, seconds.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
    /// How often `run` wakes up to check its schedule, seconds.
    #[serde(default = "default_check_interval_secs")]
    pub check_interval_secs: u64,
    /// The forms this site reports: the built-in default form by its id, or form files
    /// (TOML, relative to the data directory).
    #[serde(default = "default_forms")]
    pub forms: Vec<String>,
    /// Port of the staff web app served by `run` (0: any free port, written to
    /// `run/web-address`).
    #[serde(default = "default_web_port")]
    pub web_port: u16,
    /// The address the web app binds instead of 127.0.0.1 (an explicit choice: the app then
    /// answers other computers on that network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_listen: Option<std::net::IpAddr>,
    /// Seconds without a request after which a web app session locks itself.
    #[serde(default = "default_web_idle_secs")]
    pub web_idle_secs: u64,
    /// Whether one staff member may approve a report alone (single-staff sites); otherwise a
    /// second staff member must confirm before it is queued.
    #[serde(default)]
    pub approve_alone: bool,
    /// Whether `run` builds and queues each closed period's report by itself on `report_day`
    /// (the default). `false`: reports leave only once approved in the web app (four eyes).
    #[serde(default = "default_scheduled_reports")]
    pub scheduled_reports: bool,
    /// The site's time zone (an IANA name such as `Asia/Ho_Chi_Minh`), in which the web app
    /// shows every date and time; the time zone database is built into the program.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
}

fn default_k() -> u32 {
    DEFAULT_K
}
fn default_report_day() -> u32 {
    DEFAULT_REPORT_DAY
}
fn default_retry_base_secs() -> u64 {
    DEFAULT_RETRY_BASE_SECS
}
fn default_retry_max_secs() -> u64 {
    DEFAULT_RETRY_MAX_SECS
}
fn default_connect_timeout_secs() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_SECS
}
fn default_check_interval_secs() -> u64 {
    DEFAULT_CHECK_INTERVAL_SECS
}
fn default_scheduled_reports() -> bool {
    false
}
fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_owned()
}
fn default_web_port() -> u16 {
    DEFAULT_WEB_PORT
}
fn default_web_idle_secs() -> u64 {
    DEFAULT_WEB_IDLE_SECS
}
fn default_forms() -> Vec<String> {
    vec![DEFAULT_FORM_ID.to_owned()]
}

/// The id of the built-in default form ([`Form::default_monthly`]), reported unless the
/// configuration lists other forms.
pub const DEFAULT_FORM_ID: &str = "vn-community-treatment-monthly";

impl Config {
    /// A configuration with every default.
    pub fn new(site: SiteId, coordinator: String, coordinator_keys: Vec<PathBuf>) -> Self {
        Self {
            site,
            coordinator,
            coordinator_keys,
            k: DEFAULT_K,
            zeros: ZeroPolicy::default(),
            report_day: DEFAULT_REPORT_DAY,
            log_format: LogFormat::Human,
            retry_base_secs: DEFAULT_RETRY_BASE_SECS,
            retry_max_secs: DEFAULT_RETRY_MAX_SECS,
            connect_timeout_secs: DEFAULT_CONNECT_TIMEOUT_SECS,
            check_interval_secs: DEFAULT_CHECK_INTERVAL_SECS,
            forms: default_forms(),
            web_port: DEFAULT_WEB_PORT,
            web_listen: None,
            web_idle_secs: DEFAULT_WEB_IDLE_SECS,
            approve_alone: false,
            scheduled_reports: default_scheduled_reports(),
            time_zone: default_time_zone(),
        }
    }

    /// The address the web app listens on: `web_listen` (127.0.0.1 unless set) and `web_port`.
    pub fn web_address(&self) -> std::net::SocketAddr {
        let ip = self
            .web_listen
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        std::net::SocketAddr::new(ip, self.web_port)
    }

    /// Loads the forms this site reports, in the order listed: an entry naming the built-in
    /// form's id is that form; any other entry is a form file, relative to `dir`. Two forms
    /// with the same id are refused.
    pub fn load_forms(&self, dir: &Path) -> Result<Vec<Form>, NodeError> {
        let builtin = Form::default_monthly();
        let mut forms: Vec<Form> = Vec::with_capacity(self.forms.len());
        for entry in &self.forms {
            let problem = |problem: String| NodeError::Form {
                path: dir.join(CONFIG_FILE),
                entry: entry.clone(),
                problem,
            };
            let form = if *entry == builtin.id {
                builtin.clone()
            } else {
                let path = dir.join(entry);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    problem(format!(
                        "not the built-in form's id, and not a readable form file: {e}"
                    ))
                })?;
                Form::from_toml(&text).map_err(|e| problem(e.to_string()))?
            };
            if forms.iter().any(|f| f.id == form.id) {
                return Err(problem(format!("form {} is listed twice", form.id)));
            }
            forms.push(form);
        }
        Ok(forms)
    }

    /// Parses and checks a configuration. `path` only names the file in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, NodeError> {
        let config: Config = toml::from_str(text).map_err(|e| NodeError::Config {
            path: path.to_owned(),
            problem: e.message().to_owned(),
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Reads `config.toml` from a data directory.
    pub fn load(dir: &Path) -> Result<Self, NodeError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| NodeError::io(&path, e))?;
        Self::from_toml(&text, &path)
    }

    /// The disclosure policy this site applies.
    pub fn policy(&self) -> DisclosurePolicy {
        // `check` refused k below the minimum, so this cannot fall back in practice.
        DisclosurePolicy::new(self.k)
            .unwrap_or(DisclosurePolicy::DEFAULT)
            .with_zeros(self.zeros)
    }

    fn check(&self, path: &Path) -> Result<(), NodeError> {
        let problem = |problem: String| NodeError::Config {
            path: path.to_owned(),
            problem,
        };
        if self.k < DisclosurePolicy::MIN_K {
            return Err(problem(format!(
                "k = {} is below the minimum of {}",
                self.k,
                DisclosurePolicy::MIN_K
            )));
        }
        if !(1..=28).contains(&self.report_day) {
            return Err(problem("report_day must be between 1 and 28".into()));
        }
        if self.coordinator_keys.is_empty() {
            return Err(problem(
                "coordinator_keys must name at least one key".into(),
            ));
        }
        if self.coordinator.rsplit_once(':').is_none() {
            return Err(problem("coordinator must be HOST:PORT".into()));
        }
        if self.retry_base_secs == 0 || self.retry_max_secs < self.retry_base_secs {
            return Err(problem(
                "retry_base_secs must be positive and at most retry_max_secs".into(),
            ));
        }
        if self.connect_timeout_secs == 0 || self.check_interval_secs == 0 {
            return Err(problem(
                "connect_timeout_secs and check_interval_secs must be positive".into(),
            ));
        }
        if self.forms.is_empty() {
            return Err(problem("forms must name at least one form".into()));
        }
        if self.web_idle_secs == 0 {
            return Err(problem("web_idle_secs must be positive".into()));
        }
        if jiff::tz::db().get(&self.time_zone).is_err() {
            return Err(problem(format!(
                "time_zone {:?} is not a known time zone name (for example \"{DEFAULT_TIME_ZONE}\")",
                self.time_zone
            )));
        }
        Ok(())
    }

    /// The documented `config.toml` text for this configuration: every field commented.
    pub fn to_documented_toml(&self) -> String {
        let keys = self
            .coordinator_keys
            .iter()
            .map(|p| toml_string(&p.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(", ");
        let forms = self
            .forms
            .iter()
            .map(|f| toml_string(f.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let log_format = match self.log_format {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        };
        format!(
            r#"# Quietcount site node configuration.
# Cấu hình máy chủ cơ sở Quietcount.
#
# Client records never leave this machine: only the signed, suppressed site report does.

# This site's id, exactly as enrolled at the province's coordinator.
site = {site}

# The coordinator's address, HOST:PORT (QUIC over UDP).
coordinator = {coordinator}

# Pinned coordinator public keys (PEM files, relative to this directory). Only a coordinator
# holding one of these keys is spoken to, and only its receipts are accepted. During a key
# rotation list the current key and the next one.
coordinator_keys = [{keys}]

# Disclosure threshold k: counts from 1 to k-1 are never published. A site may be stricter
# than the province's default of 5, never below 2.
k = {k}

# Zeros: "protected" (the default) lets empty cells be hidden too, so a hidden cell may be
# empty and every small cell's possible values include 0 and reach k; "published" always shows
# zeros (the statistical agencies' habit), which tells that a hidden group is not empty.
zeros = "{zeros}"

# Day of the month, after a period closes, on which `quietcount-node run` builds the report
# for that period and sends it (1 to 28).
report_day = {report_day}

# Log format: "human" or "json". Logs never contain client records.
log_format = "{log_format}"

# First delay before retrying a failed delivery, in seconds; it doubles with each attempt,
# with random jitter, up to retry_max_secs.
retry_base_secs = {retry_base}

# Longest delay between delivery attempts, in seconds.
retry_max_secs = {retry_max}

# Time allowed to reach the coordinator, in seconds.
connect_timeout_secs = {connect}

# How often `run` wakes up to check its schedule and pending deliveries, in seconds.
check_interval_secs = {check}

# The forms this site reports, each with its own report and revision chain per period: the
# built-in default form by its id ("{default_form}"), or a form file (TOML, relative to this
# directory) that the province gave you.
forms = [{forms}]

# The staff web app that `run` serves, on this computer only (127.0.0.1) at this port: open
# http://127.0.0.1:PORT/ in a browser. To answer other computers, add web_listen = "ADDRESS"
# (an explicit choice: anyone on that network can then reach the login page).
web_port = {web_port}
{web_listen}
# Seconds without activity after which a web app session locks itself (900: 15 minutes).
web_idle_secs = {web_idle}

# Reports approved in the web app need a second staff member's confirmation (four eyes);
# true lets one person approve alone, for a site with a single staff member.
approve_alone = {approve_alone}

# Whether `run` builds and sends each closed month's report by itself on report_day (true,
# skipping the four-eyes approval), or reports leave only once approved in the web app, or
# built with `quietcount-node report` by an operator (false, the default).
scheduled_reports = {scheduled_reports}

# The site's time zone, in which the web app shows every date and time (an IANA name; the
# time zone database is built into the program).
time_zone = {time_zone}
"#,
            site = toml_string(self.site.as_str()),
            coordinator = toml_string(&self.coordinator),
            k = self.k,
            zeros = self.zeros.name(),
            report_day = self.report_day,
            retry_base = self.retry_base_secs,
            retry_max = self.retry_max_secs,
            connect = self.connect_timeout_secs,
            check = self.check_interval_secs,
            default_form = DEFAULT_FORM_ID,
            web_port = self.web_port,
            web_listen = match self.web_listen {
                Some(ip) => format!(
                    "# Address the web app binds instead of 127.0.0.1.\nweb_listen = {}\n",
                    toml_string(&ip.to_string())
                ),
                None => String::new(),
            },
            web_idle = self.web_idle_secs,
            approve_alone = self.approve_alone,
            scheduled_reports = self.scheduled_reports,
            time_zone = toml_string(&self.time_zone),
        )
    }
}

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The directory.
    pub root: PathBuf,
}

impl DataDir {
    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    /// `site.key`.
    pub fn site_key(&self) -> PathBuf {
        self.root.join(SITE_KEY_FILE)
    }
    /// `site.pub`.
    pub fn site_pub(&self) -> PathBuf {
        self.root.join(SITE_PUB_FILE)
    }
    /// `node.db`.
    pub fn database(&self) -> PathBuf {
        self.root.join(DATABASE_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_sample_parses_back_to_the_same_config() {
        let mut config = Config::new(
            SiteId::new("hn-bd-01").unwrap(),
            "coord.example.vn:4433".into(),
            vec!["coordinator.pem".into(), "coordinator-next.pem".into()],
        );
        config.k = 7;
        config.forms = vec![DEFAULT_FORM_ID.into(), "forms/second.toml".into()];
        config.web_listen = Some("192.168.1.5".parse().unwrap());
        config.approve_alone = true;
        assert!(
            !config.scheduled_reports,
            "by default reports leave only once approved (four eyes)"
        );
        config.scheduled_reports = true;
        assert_eq!(config.time_zone, "Asia/Ho_Chi_Minh");
        config.time_zone = "Europe/Paris".into();
        let text = config.to_documented_toml();
        let back = Config::from_toml(&text, Path::new("config.toml")).unwrap();
        assert_eq!(back, config);
        // Every setting line is preceded by a comment.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(lines[i - 1].starts_with('#'), "uncommented field: {line}");
            }
        }
    }

    #[test]
    fn the_default_form_id_is_the_built_in_form_and_is_the_default() {
        assert_eq!(Form::default_monthly().id, DEFAULT_FORM_ID);
        let config = Config::new(
            SiteId::new("a").unwrap(),
            "h:1".into(),
            vec!["c.pem".into()],
        );
        let text = config.to_documented_toml();
        let without_forms: String = text
            .lines()
            .filter(|l| !l.starts_with("forms = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let back = Config::from_toml(&without_forms, Path::new("c")).unwrap();
        assert_eq!(back.forms, vec![DEFAULT_FORM_ID.to_owned()]);
        let forms = back.load_forms(Path::new("/nonexistent")).unwrap();
        assert_eq!(forms, vec![Form::default_monthly()]);
    }

    #[test]
    fn refuses_unknown_fields_and_weak_k() {
        let base = Config::new(
            SiteId::new("a").unwrap(),
            "h:1".into(),
            vec!["c.pem".into()],
        )
        .to_documented_toml();
        let extra = format!("{base}\nsurprise = 1\n");
        assert!(Config::from_toml(&extra, Path::new("c")).is_err());
        let weak = base.replace("k = 5", "k = 1");
        let err = Config::from_toml(&weak, Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("k = 1"), "{err}");
        let zone = base.replace("\"Asia/Ho_Chi_Minh\"", "\"Mars/Olympus_Mons\"");
        assert_ne!(zone, base);
        let err = Config::from_toml(&zone, Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus_Mons"), "{err}");
    }
}
