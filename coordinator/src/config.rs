//! The coordinator's `config.toml`: a serde struct with named defaults, refusing unknown keys.
//!
//! [`SAMPLE_CONFIG`] is the documented file `init` writes; a unit test parses it so the sample
//! cannot drift from the struct.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use quietcount_protocol::ZeroPolicy;
use quietcount_service::toml_string;
use serde::{Deserialize, Serialize};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:4433";
/// Default least disclosure threshold accepted.
pub const DEFAULT_MIN_K: u32 = 5;
/// Default on-time window, days after the period's end.
pub const DEFAULT_ON_TIME_DAYS: u32 = 10;
/// Default least share of expected sites, in percent, that must have reported before a period
/// is published without `--allow-incomplete`.
pub const DEFAULT_MIN_REPORTING_PERCENT: u32 = 80;
/// Default oldest period accepted, days after its end.
pub const DEFAULT_MAX_PERIOD_AGE_DAYS: u32 = 400;

/// File names inside the coordinator's directory.
pub mod files {
    /// The configuration.
    pub const CONFIG: &str = "config.toml";
    /// The coordinator's private key (0600).
    pub const KEY: &str = "coordinator.key";
    /// The coordinator's public key, handed to sites and donors.
    pub const PUBLIC_KEY: &str = "coordinator.pub";
    /// The SQLite database.
    pub const DATABASE: &str = "coordinator.db";
    /// Written by `run` once its endpoint is bound: the actual listen address (`IP:PORT`, one
    /// line), so that `--listen 127.0.0.1:0` can be used and the port read back. Replaced
    /// atomically, removed on clean exit; a stale one is removed at start.
    pub const LISTEN_ADDRESS: &str = "run/listen-address";
}

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The coordinator's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The province's name, as signed into provincial reports and the registry.
    pub province: String,
    /// UDP address the QUIC server listens on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Reports whose disclosure threshold k is below this are refused (`policy_too_weak`).
    #[serde(default = "default_min_k")]
    pub min_k: u32,
    /// The weakest zero policy accepted: `published` accepts reports under either policy,
    /// `protected` refuses reports that publish their zeros (`policy_too_weak`).
    #[serde(default = "default_min_zeros")]
    pub min_zeros: ZeroPolicy,
    /// Extra form TOML files accepted besides the built-in default monthly form. Relative
    /// paths are relative to the coordinator's directory.
    #[serde(default)]
    pub extra_forms: Vec<PathBuf>,
    /// Reports received within this many days after the period's end are on time.
    #[serde(default = "default_on_time_days")]
    pub on_time_days: u32,
    /// Reports for periods that ended more than this many days ago are refused.
    #[serde(default = "default_max_period_age_days")]
    pub max_period_age_days: u32,
    /// `publish` refuses a period where fewer than this share of expected sites (percent)
    /// reported, unless `--allow-incomplete` (which the package then states).
    #[serde(default = "default_min_reporting_percent")]
    pub min_reporting_percent: u32,
    /// Resource limits of the QUIC server.
    #[serde(default)]
    pub limits: Limits,
    /// Where the store lives: absent for the SQLite file `coordinator.db` in the coordinator's
    /// directory, or `postgres://USER@HOST:PORT/DATABASE` (never with a password in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// A file holding the PostgreSQL password (one line; owner-only). Relative paths are
    /// relative to the coordinator's directory. Without it the driver's usual sources apply:
    /// the `PGPASSWORD` environment variable, then `~/.pgpass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_password_file: Option<PathBuf>,
    /// The web dashboard `run` serves.
    #[serde(default)]
    pub dashboard: Dashboard,
}

/// Default address of the web dashboard: this machine only.
pub const DEFAULT_DASHBOARD_LISTEN: &str = "127.0.0.1:8480";

/// The `[dashboard]` table: where the web dashboard listens, and its TLS certificate and key
/// (PEM files; relative paths are relative to the coordinator's directory). An address other
/// than a loopback one is refused without both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dashboard {
    /// TCP address the dashboard listens on.
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Minutes without a request after which a dashboard session locks.
    pub idle_minutes: u64,
    /// The DHIS2 mapping file (TOML) the dashboard's DHIS2 JSON and ADX downloads follow;
    /// without one those downloads are not offered.
    pub mapping: Option<PathBuf>,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8480)),
            tls_cert: None,
            tls_key: None,
            idle_minutes: 15,
            mapping: None,
        }
    }
}

impl Dashboard {
    /// Whether TLS is configured (both the certificate and the key).
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            _ => None,
        }
    }

    /// Refuses an address off this machine without TLS, and a certificate without a key (or
    /// the reverse), with one sentence.
    pub fn check(&self) -> Result<(), String> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("[dashboard] needs both tls_cert and tls_key, or neither".to_owned());
        }
        if !self.listen.ip().is_loopback() && self.tls().is_none() {
            return Err(format!(
                "the dashboard will not serve plain HTTP on {}, which other machines can reach: \
                 set tls_cert and tls_key in [dashboard], or listen on 127.0.0.1",
                self.listen
            ));
        }
        Ok(())
    }
}

/// Resource limits of the QUIC server. A `[limits]` table may name only some of them; the
/// others keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Site connections served at once; further ones are refused.
    pub max_connections: usize,
    /// Connections one site key may hold at once; a newer one closes its oldest.
    pub max_connections_per_site: usize,
    /// Concurrent bidirectional streams per connection (one stream per report).
    pub max_streams_per_connection: u32,
    /// TLS handshakes in progress at once; beyond, the oldest in progress is dropped.
    pub max_pending_handshakes: usize,
    /// TLS handshakes in progress from one IP address; beyond, that address's oldest is dropped.
    pub max_pending_handshakes_per_address: usize,
    /// Handshakes in progress above which new peers must prove their address (Retry).
    pub retry_above_pending_handshakes: usize,
    /// Seconds a connection may stay silent before it is closed.
    pub idle_timeout_secs: u64,
    /// Seconds a handshake may take.
    pub handshake_timeout_secs: u64,
    /// Seconds a stream may take to deliver its request.
    pub stream_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_connections_per_site: 2,
            max_streams_per_connection: 4,
            max_pending_handshakes: 256,
            max_pending_handshakes_per_address: 64,
            retry_above_pending_handshakes: 8,
            idle_timeout_secs: 30,
            handshake_timeout_secs: 5,
            stream_timeout_secs: 10,
        }
    }
}

impl Limits {
    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.max(1))
    }
    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs.max(1))
    }
    /// The caps of [`crate::admission::Admission`].
    pub fn admission(&self) -> crate::admission::AdmissionLimits {
        crate::admission::AdmissionLimits {
            max_pending_handshakes: self.max_pending_handshakes,
            max_pending_handshakes_per_address: self.max_pending_handshakes_per_address,
            max_connections: self.max_connections,
            max_connections_per_site: self.max_connections_per_site,
        }
    }
    /// The per-stream timeout.
    pub fn stream_timeout(&self) -> Duration {
        Duration::from_secs(self.stream_timeout_secs.max(1))
    }
}

fn default_listen() -> SocketAddr {
    // A constant, valid socket address.
    SocketAddr::from(([0, 0, 0, 0], 4433))
}
fn default_min_zeros() -> ZeroPolicy {
    ZeroPolicy::Published
}

fn default_min_k() -> u32 {
    DEFAULT_MIN_K
}
fn default_on_time_days() -> u32 {
    DEFAULT_ON_TIME_DAYS
}
fn default_max_period_age_days() -> u32 {
    DEFAULT_MAX_PERIOD_AGE_DAYS
}
fn default_min_reporting_percent() -> u32 {
    DEFAULT_MIN_REPORTING_PERCENT
}

impl Config {
    /// A configuration with every default and the given province.
    pub fn new(province: &str) -> Self {
        Self {
            province: province.to_owned(),
            listen: default_listen(),
            min_k: DEFAULT_MIN_K,
            min_zeros: default_min_zeros(),
            extra_forms: Vec::new(),
            on_time_days: DEFAULT_ON_TIME_DAYS,
            max_period_age_days: DEFAULT_MAX_PERIOD_AGE_DAYS,
            min_reporting_percent: DEFAULT_MIN_REPORTING_PERCENT,
            limits: Limits::default(),
            database: None,
            database_password_file: None,
            dashboard: Dashboard::default(),
        }
    }

    /// Where this coordinator's store lives: `database` from this file, or `over` (the
    /// `--database` option) in its place; the SQLite file in `dir` when neither is set. The
    /// PostgreSQL password is read from `database_password_file` when set.
    pub fn store_location(
        &self,
        dir: &Path,
        over: Option<&str>,
    ) -> Result<crate::store::Location, ConfigError> {
        let config_path = dir.join(files::CONFIG);
        let invalid = |message: String| ConfigError::Invalid {
            path: config_path.clone(),
            message,
        };
        let Some(text) = over.or(self.database.as_deref()) else {
            return Ok(crate::store::Location::Sqlite(dir.join(files::DATABASE)));
        };
        let password = match &self.database_password_file {
            None => None,
            Some(file) => {
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
                    path: path.clone(),
                    source,
                })?;
                let first = text.lines().next().unwrap_or_default().to_owned();
                if first.is_empty() {
                    return Err(invalid(format!(
                        "database_password_file {} is empty",
                        path.display()
                    )));
                }
                Some(first)
            }
        };
        crate::store::Location::parse(text, password, dir).map_err(|e| invalid(e.to_string()))
    }

    /// Parses configuration text.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        if config.min_reporting_percent > 100 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "min_reporting_percent = {} is not a percentage (0 to 100)",
                    config.min_reporting_percent
                ),
            });
        }
        if config.province.trim().is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                message: "province must not be empty".into(),
            });
        }
        Ok(config)
    }

    /// Reads `config.toml` from a coordinator directory.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(files::CONFIG);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// The documented file text for this configuration.
    pub fn to_documented_toml(&self) -> String {
        let forms: Vec<String> = self
            .extra_forms
            .iter()
            .map(|p| toml_string(&p.display().to_string()))
            .collect();
        SAMPLE_CONFIG
            .replace("@PROVINCE@", &toml_string(&self.province))
            .replace("@LISTEN@", &toml_string(&self.listen.to_string()))
            .replace("@MIN_K@", &self.min_k.to_string())
            .replace("@MIN_ZEROS@", self.min_zeros.name())
            .replace("@FORMS@", &forms.join(", "))
            .replace("@ON_TIME@", &self.on_time_days.to_string())
            .replace("@MAX_AGE@", &self.max_period_age_days.to_string())
            .replace("@MIN_REPORTING@", &self.min_reporting_percent.to_string())
            .replace(
                "@MAX_CONNECTIONS@",
                &self.limits.max_connections.to_string(),
            )
            .replace(
                "@PER_SITE@",
                &self.limits.max_connections_per_site.to_string(),
            )
            .replace("@PENDING@", &self.limits.max_pending_handshakes.to_string())
            .replace(
                "@PENDING_PER_ADDRESS@",
                &self.limits.max_pending_handshakes_per_address.to_string(),
            )
            .replace(
                "@MAX_STREAMS@",
                &self.limits.max_streams_per_connection.to_string(),
            )
            .replace(
                "@RETRY_ABOVE@",
                &self.limits.retry_above_pending_handshakes.to_string(),
            )
            .replace("@IDLE@", &self.limits.idle_timeout_secs.to_string())
            .replace(
                "@HANDSHAKE@",
                &self.limits.handshake_timeout_secs.to_string(),
            )
            .replace("@STREAM@", &self.limits.stream_timeout_secs.to_string())
            .replace(
                "@DASHBOARD@",
                &toml_string(&self.dashboard.listen.to_string()),
            )
            .replace(
                "@DASHBOARD_TLS@",
                &match self.dashboard.tls() {
                    Some((cert, key)) => format!(
                        "tls_cert = {}\n# The private key of that certificate (PEM).\ntls_key = {}",
                        toml_string(&cert.display().to_string()),
                        toml_string(&key.display().to_string())
                    ),
                    None => {
                        "# tls_cert = \"dashboard.crt\"\n# tls_key = \"dashboard.key\"".to_owned()
                    }
                },
            )
            .replace("@IDLE_MINUTES@", &self.dashboard.idle_minutes.to_string())
            .replace(
                "@DATABASE@",
                &match (&self.database, &self.database_password_file) {
                    (Some(url), file) => format!(
                        "database = {}\n{}",
                        toml_string(url),
                        match file {
                            Some(file) => format!(
                                "database_password_file = {}",
                                toml_string(&file.display().to_string())
                            ),
                            None => "# database_password_file = \"database.password\"".into(),
                        }
                    ),
                    (None, _) => {
                        "# database = \"postgres://quietcount@db.example:5432/province\"\n\
                                  # database_password_file = \"database.password\""
                            .to_owned()
                    }
                },
            )
            .replace(
                "@DASHBOARD_MAPPING@",
                &match &self.dashboard.mapping {
                    Some(path) => format!("mapping = {}", toml_string(&path.display().to_string())),
                    None => "# mapping = \"dhis2-mapping.toml\"".to_owned(),
                },
            )
    }
}

/// The documented configuration file, with `@NAME@` placeholders filled by
/// [`Config::to_documented_toml`].
pub const SAMPLE_CONFIG: &str = r#"# Quietcount coordinator configuration.
# Unknown keys are refused, so a misspelt setting is an error rather than silently ignored.

# The province's name, as signed into provincial reports and the site registry.
province = @PROVINCE@

# UDP address (IP:port) the QUIC server listens on. `run --listen` overrides it.
listen = @LISTEN@

# Least disclosure threshold accepted: reports published with a smaller k are refused
# with `policy_too_weak`.
min_k = @MIN_K@

# The weakest zero policy accepted: "published" accepts reports that hide zeros or publish
# them; "protected" refuses reports that publish zeros (which tell that a hidden group is not
# empty), with `policy_too_weak`.
min_zeros = "@MIN_ZEROS@"

# Reporting forms accepted besides the built-in default monthly form, as TOML files.
# Relative paths are relative to this directory. Example: ["forms/quarterly.toml"]
extra_forms = [@FORMS@]

# A report received within this many days after its period ends counts as on time.
on_time_days = @ON_TIME@

# Reports for periods that ended more than this many days ago are refused.
max_period_age_days = @MAX_AGE@

# `publish` refuses a period where fewer than this share (percent) of the sites expected for
# it have reported, unless run with --allow-incomplete; the donor package then says it is
# incomplete. A period with no report at all is never published.
min_reporting_percent = @MIN_REPORTING@

# Where reports, receipts and keys are stored. Without `database`, in the SQLite file
# coordinator.db in this folder (back it up with `backup`). With a PostgreSQL URL, in that
# database (back it up with the server's tools: pg_dump, continuous archiving); several
# coordinator processes with this folder's key may share it, as a stand-by or side by side.
# Never put the password in the URL: name a file holding it (owner-only) in
# database_password_file, or set PGPASSWORD in the service's environment.
@DATABASE@

[limits]
# What these protect: the province's server against floods of half-open handshakes, greedy
# sites and stalled streams, so that enrolled sites can always deliver. Missing keys keep
# their defaults.
#
# Site connections served at once (only enrolled sites ever hold one); beyond this, new
# connections are refused.
max_connections = @MAX_CONNECTIONS@
# Connections one site key may hold at once (a site needs one); a newer connection closes
# that site's oldest, so one site can never take the slots of the others.
max_connections_per_site = @PER_SITE@
# Concurrent bidirectional streams per connection (one stream carries one report).
max_streams_per_connection = @MAX_STREAMS@
# TLS handshakes in progress at once. Beyond this the oldest handshake in progress is
# dropped to make room: a peer that starts handshakes and never finishes them displaces its
# own, not the sites' (whose handshakes finish in a round trip or two).
max_pending_handshakes = @PENDING@
# TLS handshakes in progress from one IP address (an IPv6 /64 counts as one); beyond this,
# that address's oldest is dropped, so that one address cannot take the places of all others.
max_pending_handshakes_per_address = @PENDING_PER_ADDRESS@
# When more handshakes than this are in progress, new peers must first prove their address
# with a QUIC Retry (one extra round trip; spoofed source addresses get nowhere).
retry_above_pending_handshakes = @RETRY_ABOVE@
# Seconds a connection may stay silent before it is closed.
idle_timeout_secs = @IDLE@
# Seconds a TLS handshake may take (short: a handshake that stalls holds a place).
handshake_timeout_secs = @HANDSHAKE@
# Seconds a stream may take to deliver its whole request.
stream_timeout_secs = @STREAM@

[dashboard]
# The web dashboard `run` serves (accounts: `quietcount-coordinator user add`). By default
# only this machine can open it. To serve it on the province's network, set a certificate and
# key (PEM; relative paths are relative to this directory): a non-loopback address without
# them is refused at start.
listen = @DASHBOARD@
@DASHBOARD_TLS@
# Minutes without a request after which a dashboard session locks.
idle_minutes = @IDLE_MINUTES@
# The DHIS2 mapping file (see coordinator/mappings/dhis2-sample.toml) for the dashboard's
# DHIS2 JSON and ADX downloads; without it those downloads are not offered.
@DASHBOARD_MAPPING@
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_file_parses_back_to_the_same_config() {
        let mut config = Config::new("Hà Nội \"test\"");
        config.extra_forms.push(PathBuf::from("forms/q.toml"));
        config.limits.max_connections = 7;
        config.limits.max_connections_per_site = 3;
        config.limits.max_pending_handshakes = 9;
        config.limits.max_pending_handshakes_per_address = 4;
        config.dashboard.idle_minutes = 5;
        config.dashboard.mapping = Some(PathBuf::from("dhis2.toml"));
        let placeholder_left = |text: &str| {
            text.split('@').skip(1).step_by(2).any(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
        };
        let text = config.to_documented_toml();
        assert!(!placeholder_left(&text), "placeholder left in:\n{text}");
        let parsed = Config::parse(&text, Path::new("config.toml")).unwrap();
        assert_eq!(parsed, config);
        config.database = Some("postgres://qc@db.example:5432/hanoi".into());
        config.database_password_file = Some(PathBuf::from("database.password"));
        let text = config.to_documented_toml();
        assert!(!placeholder_left(&text), "placeholder left in:\n{text}");
        assert_eq!(
            Config::parse(&text, Path::new("config.toml")).unwrap(),
            config
        );
    }

    #[test]
    fn unknown_keys_are_refused_and_defaults_apply() {
        let err = Config::parse("province = \"x\"\nmin_kk = 3\n", Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("min_kk"), "{err}");
        let minimal = Config::parse("province = \"x\"\n", Path::new("c")).unwrap();
        assert_eq!(minimal, Config::new("x"));
        assert_eq!(minimal.listen.to_string(), DEFAULT_LISTEN);
        // A `[limits]` table written before a limit existed keeps that limit's default.
        let partial = Config::parse(
            "province = \"x\"\n[limits]\nmax_connections = 9\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(partial.limits.max_connections, 9);
        assert_eq!(
            partial.limits.max_connections_per_site,
            Limits::default().max_connections_per_site
        );
    }

    #[test]
    fn the_dashboard_listens_on_loopback_and_refuses_plain_http_off_host() {
        let config = Config::parse("province = \"x\"\n", Path::new("c")).unwrap();
        assert_eq!(
            config.dashboard.listen.to_string(),
            DEFAULT_DASHBOARD_LISTEN
        );
        assert!(config.dashboard.check().is_ok());
        let open = Config::parse(
            "province = \"x\"\n[dashboard]\nlisten = \"0.0.0.0:8480\"\n",
            Path::new("c"),
        )
        .unwrap();
        let refusal = open.dashboard.check().unwrap_err();
        assert!(refusal.contains("tls_cert"), "{refusal}");
        let half = Config::parse(
            "province = \"x\"\n[dashboard]\ntls_cert = \"a.crt\"\n",
            Path::new("c"),
        )
        .unwrap();
        assert!(half.dashboard.check().is_err());
        let tls = Config::parse(
            "province = \"x\"\n[dashboard]\nlisten = \"0.0.0.0:8480\"\ntls_cert = \"a.crt\"\ntls_key = \"a.key\"\n",
            Path::new("c"),
        )
        .unwrap();
        assert!(tls.dashboard.check().is_ok());
        let text = tls.to_documented_toml();
        assert_eq!(Config::parse(&text, Path::new("c")).unwrap(), tls);
    }
}
