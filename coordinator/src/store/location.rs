//! Where a coordinator's store lives: a SQLite file (the embedded default) or a PostgreSQL
//! database named by a URL. A password is never part of the URL (it would sit in config.toml or
//! on a command line, where any user of the machine can read it): it comes from a file, or from
//! the driver's usual sources (the `PGPASSWORD` environment variable, `~/.pgpass`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use super::StoreError;

/// Where a store lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PostgresTarget>),
}

impl Location {
    /// Reads a database location as written in config.toml, `--database`, or `migrate-store`:
    /// `postgres://USER@HOST:PORT/DATABASE` (or `postgresql://`), or `sqlite:PATH` (relative to
    /// `base`). `password` is used for PostgreSQL only.
    pub fn parse(text: &str, password: Option<String>, base: &Path) -> Result<Self, StoreError> {
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::BadLocation(
                    "sqlite: needs a file path, as in sqlite:coordinator.db".into(),
                ));
            }
            return Ok(Self::Sqlite(base.join(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(Box::new(PostgresTarget::parse(
                text, password,
            )?)));
        }
        Err(StoreError::BadLocation(format!(
            "{:?} is not a database location: write postgres://USER@HOST:PORT/DATABASE or \
             sqlite:PATH",
            shown_prefix(text)
        )))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(target) => f.write_str(&target.shown),
        }
    }
}

/// The first characters of a refused location, so an error never echoes a whole secret.
fn shown_prefix(text: &str) -> String {
    text.chars().take(12).collect::<String>() + if text.chars().count() > 12 { "…" } else { "" }
}

/// A PostgreSQL database: its connection options and the URL shown in messages (which never
/// holds a password).
#[derive(Clone)]
pub struct PostgresTarget {
    pub(super) options: PgConnectOptions,
    shown: String,
}

impl fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresTarget").field(&self.shown).finish()
    }
}

impl PostgresTarget {
    /// Reads `url`, refusing one that carries a password, and sets `password` if given.
    pub fn parse(url: &str, password: Option<String>) -> Result<Self, StoreError> {
        let authority = url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
            .unwrap_or_default();
        let password_in_url = authority
            .rsplit_once('@')
            .is_some_and(|(user_info, _)| user_info.contains(':'))
            || url
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("password=")));
        if password_in_url {
            return Err(StoreError::BadLocation(
                "the database URL carries a password; remove it from the URL and put it in a \
                 file named by database_password_file in config.toml (owner-only), or in the \
                 PGPASSWORD environment variable"
                    .into(),
            ));
        }
        let mut options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::BadLocation(format!("the PostgreSQL URL cannot be read: {e}"))
        })?;
        if let Some(password) = password {
            options = options.password(password.trim_end_matches(['\r', '\n']));
        }
        let shown = format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        );
        Ok(Self { options, shown })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_password_in_the_url_is_refused_without_being_echoed() {
        for url in [
            "postgres://qc:s3cretpass@db.example/province",
            "postgresql://qc@db.example/province?password=s3cretpass",
        ] {
            let error = Location::parse(url, None, Path::new("/x")).unwrap_err();
            let text = error.to_string();
            assert!(text.contains("database_password_file"), "{text}");
            assert!(!text.contains("s3cretpass"), "{text}");
        }
    }

    #[test]
    fn locations_read_as_written() {
        let base = Path::new("/srv/coordinator");
        match Location::parse("sqlite:coordinator.db", None, base).unwrap() {
            Location::Sqlite(path) => assert_eq!(path, base.join("coordinator.db")),
            other => panic!("{other:?}"),
        }
        let location = Location::parse(
            "postgres://qc@127.0.0.1:5544/hanoi",
            Some("pw\n".into()),
            base,
        )
        .unwrap();
        assert_eq!(location.to_string(), "postgres://qc@127.0.0.1:5544/hanoi");
        assert!(!format!("{location:?}").contains("pw"));
        let error = Location::parse("mysql://x/y", None, base).unwrap_err();
        assert!(error.to_string().contains("postgres://"), "{error}");
    }
}
