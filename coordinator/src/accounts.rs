//! Dashboard accounts and the audit trail: roles, Argon2id password hashing and checking, and
//! the [`Coordinator`] methods the `user` command and the dashboard call. Passwords never
//! leave this module except as PHC hash strings; the store keeps the hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use quietcount_protocol::UnixTime;

use crate::admin::Coordinator;
use crate::error::CoordinatorError;
use crate::store::{AuditEntry, UserRecord};

/// What an account may do in the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads every page, downloads exports; changes nothing.
    Viewer,
    /// Also enrols and revokes site keys, resolves conflicts and publishes.
    Manager,
}

impl Role {
    /// `viewer` or `manager`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Manager => "manager",
        }
    }

    /// The role named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "manager" => Some(Role::Manager),
            _ => None,
        }
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The Argon2id hash of `password` (PHC string, random salt, the crate's default parameters).
pub fn hash_password(password: &str) -> Result<String, CoordinatorError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CoordinatorError::Account(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| CoordinatorError::Account(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC hash `hash` (false for a malformed hash).
pub fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid account name: 1 to 64 letters, digits, `.`, `_` or `-`.
fn check_name(name: &str) -> Result<(), CoordinatorError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(CoordinatorError::Account(
            "an account name is 1 to 64 letters, digits, '.', '_' or '-'".into(),
        ))
    }
}

impl Coordinator {
    /// Adds account `name` with `role` and `password` (refused if the name is taken).
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password: &str,
        now: UnixTime,
    ) -> Result<(), CoordinatorError> {
        check_name(name)?;
        let password_hash = hash_password(password)?;
        let added = self
            .store
            .add_user(&UserRecord {
                name: name.to_owned(),
                role: role.name().to_owned(),
                password_hash,
                created_at: now,
            })
            .await?;
        if added {
            Ok(())
        } else {
            Err(CoordinatorError::Account(format!(
                "an account named {name} already exists (use `user passwd` to change its password)"
            )))
        }
    }

    /// Removes account `name`.
    pub async fn remove_user(&self, name: &str) -> Result<(), CoordinatorError> {
        if self.store.remove_user(name).await? {
            Ok(())
        } else {
            Err(CoordinatorError::Account(format!(
                "no account named {name}"
            )))
        }
    }

    /// Sets a new password for account `name`.
    pub async fn set_user_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<(), CoordinatorError> {
        let hash = hash_password(password)?;
        if self.store.set_password(name, &hash).await? {
            Ok(())
        } else {
            Err(CoordinatorError::Account(format!(
                "no account named {name}"
            )))
        }
    }

    /// Every account.
    pub async fn users(&self) -> Result<Vec<UserRecord>, CoordinatorError> {
        Ok(self.store.users().await?)
    }

    /// The role of `name` if `password` is its password (Argon2id: call off the async threads
    /// or accept a fraction of a second).
    pub async fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<Role>, CoordinatorError> {
        let Some(user) = self.store.user(name).await? else {
            // Same work as for a real account, so that timing does not tell names apart.
            let _ = password_matches(DUMMY_HASH, password);
            return Ok(None);
        };
        if password_matches(&user.password_hash, password) {
            Ok(Role::parse(&user.role))
        } else {
            Ok(None)
        }
    }

    /// Writes a manager action to the audit table.
    pub async fn audit(
        &self,
        who: &str,
        action: &str,
        detail: &str,
        now: UnixTime,
    ) -> Result<(), CoordinatorError> {
        self.store
            .audit(&AuditEntry {
                at: now,
                who: who.to_owned(),
                action: action.to_owned(),
                detail: detail.to_owned(),
            })
            .await?;
        Ok(())
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, CoordinatorError> {
        Ok(self.store.audit_log(limit).await?)
    }
}

/// The hash of a password nobody has, checked when the account does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2pqjsrVX4gdGLr1/0rJaKQzbjqyfXxPz5B4cBxE+Fn0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_with_argon2id_and_checked() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches(&hash, "correct horse battery"));
        assert!(!password_matches(&hash, "correct horse batterY"));
        assert!(!password_matches("not a hash", "x"));
        assert!(hash_password("short").is_err());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn roles_and_names() {
        assert_eq!(Role::parse("manager"), Some(Role::Manager));
        assert_eq!(Role::parse(Role::Viewer.name()), Some(Role::Viewer));
        assert_eq!(Role::parse("admin"), None);
        assert!(check_name("lan.nguyen").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
    }
}
