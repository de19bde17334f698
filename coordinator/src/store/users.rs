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
        let rows =
            sqlx::query("SELECT name, role, password_hash, created_at FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(db(QUERY))?;
        rows.iter()
            .map(|row| {
                Ok(UserRecord {
                    name: row.get(0),
                    role: row.get(1),
                    password_hash: row.get(2),
                    created_at: to_u64(row.get(3))?,
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
        let mut tx = self.begin(TX).await?;
        let done = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&user.name)
        .bind(&user.role)
        .bind(&user.password_hash)
        .bind(to_i64(user.created_at)?)
        .execute(&mut *tx)
        .await
        .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes account `name`; `false` if there was none.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        const TX: &str = "remove_user";
        let mut tx = self.begin(TX).await?;
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the password hash of `name`; `false` if there is no such account.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> Result<bool> {
        const TX: &str = "set_user_password";
        let mut tx = self.begin(TX).await?;
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE name = ?")
            .bind(password_hash)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds an audit row.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<()> {
        const TX: &str = "write_audit";
        let mut tx = self.begin(TX).await?;
        sqlx::query("INSERT INTO audit (at, who, action, detail) VALUES (?, ?, ?, ?)")
            .bind(to_i64(entry.at)?)
            .bind(&entry.who)
            .bind(&entry.action)
            .bind(&entry.detail)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        tx.commit().await.map_err(db(TX))?;
        Ok(())
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        const QUERY: &str = "list_audit";
        let rows =
            sqlx::query("SELECT at, who, action, detail FROM audit ORDER BY id DESC LIMIT ?")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db(QUERY))?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: to_u64(row.get(0))?,
                    who: row.get(1),
                    action: row.get(2),
                    detail: row.get(3),
                })
            })
            .collect()
    }
}
