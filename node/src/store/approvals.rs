//! Reports approved by one staff member and waiting for a second one's confirmation.

use quietcount_protocol::{Period, Sha256Hash};

use super::{FormKey, Result, Store, db, to_i64, to_u64};

/// An approval waiting for a second staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApproval {
    /// The form.
    pub form: FormKey,
    /// The period.
    pub period: Period,
    /// The content hash of the report as it was approved.
    pub content_hash: Sha256Hash,
    /// The staff member who approved it first.
    pub approved_by: String,
    /// When (Unix time).
    pub approved_at: u64,
}

impl Store {
    /// The approval waiting for `form` and `period`, if any.
    pub async fn pending_approval(
        &self,
        form: &FormKey,
        period: Period,
    ) -> Result<Option<PendingApproval>> {
        let row: Option<(Vec<u8>, String, i64)> = sqlx::query_as(
            "SELECT content_hash, approved_by, approved_at FROM approvals \
             WHERE form_id = ?1 AND form_version = ?2 AND period = ?3",
        )
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("pending_approval"))?;
        Ok(row.and_then(|(hash, approved_by, approved_at)| {
            let hash: [u8; 32] = hash.try_into().ok()?;
            Some(PendingApproval {
                form: form.clone(),
                period,
                content_hash: Sha256Hash(hash),
                approved_by,
                approved_at: to_u64(approved_at),
            })
        }))
    }

    /// Records (or replaces) the approval waiting for its form and period.
    pub async fn set_pending_approval(&self, approval: &PendingApproval) -> Result<()> {
        sqlx::query(
            "INSERT INTO approvals \
             (form_id, form_version, period, content_hash, approved_by, approved_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (form_id, form_version, period) DO UPDATE SET \
             content_hash = ?4, approved_by = ?5, approved_at = ?6",
        )
        .bind(&approval.form.id)
        .bind(i64::from(approval.form.version))
        .bind(approval.period.to_string())
        .bind(approval.content_hash.0.as_slice())
        .bind(&approval.approved_by)
        .bind(to_i64(approval.approved_at))
        .execute(&self.pool)
        .await
        .map_err(db("set_pending_approval"))?;
        Ok(())
    }

    /// Removes the approval waiting for `form` and `period` (confirmed, or withdrawn).
    pub async fn clear_pending_approval(&self, form: &FormKey, period: Period) -> Result<()> {
        sqlx::query(
            "DELETE FROM approvals WHERE form_id = ?1 AND form_version = ?2 AND period = ?3",
        )
        .bind(&form.id)
        .bind(i64::from(form.version))
        .bind(period.to_string())
        .execute(&self.pool)
        .await
        .map_err(db("clear_pending_approval"))?;
        Ok(())
    }
}
