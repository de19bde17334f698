//! Dashboard accounts and the audit table: who may log in with which role (the password kept
//! only as an Argon2id hash), and every manager action written with who and when. Audit rows
//! are only ever added.

use super::*;

/// A dashboard account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The login name.
    pub name: String,
    /// `viewer` or `manager`.
    pub role: String,
    /// The Argon2id hash in PHC string form.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: UnixTime,
}

/// One audited manager action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When, Unix seconds.
    pub at: UnixTime,
    /// Who (the account name).
    pub who: String,
    /// What, as a short code (`enrol`, `revoke`, `resolve`, `publish`).
    pub action: String,
    /// The object acted on (site, period, ...), never an identifying client field.
    pub detail: String,
}

impl Store {
    /// Every account, by name.
    pub async fn users(&self) -> Result<Vec<UserRecord>> {
        const QUERY: &str = "list_users";
        let rows: Vec<(String, String, String, i64)> = with_pool!(&self.pool, |pool| {
            sqlx::query_as("SELECT name, role, password_hash, created_at FROM users ORDER BY name")
                .fetch_all(pool)
                .await
        })
        .map_err(db(QUERY))?;
        rows.into_iter()
            .map(|(name, role, password_hash, created_at)| {
                Ok(UserRecord {
                    name,
                    role,
                    password_hash,
                    created_at: to_u64(created_at)?,
                })
            })
            .collect()
    }

    /// The account `name`, if any.
    pub async fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        Ok(self.users().await?.into_iter().find(|u| u.name == name))
    }

    /// Adds an account; `false` if the name is taken (nothing changed).
    pub async fn add_user(&self, user: &UserRecord) -> Result<bool> {
        const TX: &str = "add_user";
        let created_at = to_i64(user.created_at)?;
        in_transaction!(self, TX, |tx| {
            let done = sqlx::query(
                "INSERT INTO users (name, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&user.name)
            .bind(&user.role)
            .bind(&user.password_hash)
            .bind(created_at)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Removes account `name`; `false` if there was none.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        const TX: &str = "remove_user";
        in_transaction!(self, TX, |tx| {
            let done = sqlx::query("DELETE FROM users WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Replaces the password hash of `name`; `false` if there is no such account.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        const TX: &str = "set_user_password";
        in_transaction!(self, TX, |tx| {
            let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
                .bind(password_hash)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Adds an audit row.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<()> {
        const TX: &str = "write_audit";
        let at = to_i64(entry.at)?;
        in_transaction!(self, TX, |tx| {
            sqlx::query("INSERT INTO audit (at, who, action, detail) VALUES ($1, $2, $3, $4)")
                .bind(at)
                .bind(&entry.who)
                .bind(&entry.action)
                .bind(&entry.detail)
                .execute(&mut *tx)
                .await
                .map_err(db(TX))?;
            tx.commit().await.map_err(db(TX))?;
            Ok(())
        })
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        const QUERY: &str = "list_audit";
        let rows: Vec<(i64, String, String, String)> = with_pool!(&self.pool, |pool| {
            sqlx::query_as("SELECT at, who, action, detail FROM audit ORDER BY id DESC LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })
        .map_err(db(QUERY))?;
        rows.into_iter()
            .map(|(at, who, action, detail)| {
                Ok(AuditEntry {
                    at: to_u64(at)?,
                    who,
                    action,
                    detail,
                })
            })
            .collect()
    }
}
