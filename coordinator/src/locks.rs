//! `lock` and `unlock`: a manager closes a period (of one form) before publishing it, so that
//! what is published cannot change under the province's feet; while it is locked no new report
//! or revision for it is stored (sites keep theirs and send again: the refusal is
//! `period_locked`, which they retry). Also whom the province calls about each site.
//! Every lock and unlock goes to the audit trail with who and when.

use quietcount_protocol::{Period, SiteId, UnixTime};

use crate::admin::Coordinator;
use crate::error::CoordinatorError;
use crate::store::{AuditEntry, FormKey, PeriodLock};

impl Coordinator {
    /// Locks `period` of the form `form_id` (the only form when `None`); `false` when it was
    /// locked already (the first lock stands).
    pub async fn lock_period(
        &self,
        period: Period,
        form_id: Option<&str>,
        by: &str,
        now: UnixTime,
    ) -> Result<bool, CoordinatorError> {
        let by = who(by)?;
        let form = FormKey::of(&self.form(form_id)?.form);
        let locked = self.store.lock_period(period, &form, by, now).await?;
        if locked {
            self.audit_lock(by, "lock", period, &form, now).await?;
            tracing::info!(%period, form = %form.id, by, "period locked");
        }
        Ok(locked)
    }

    /// Unlocks `period` of the form `form_id`; `false` when it was not locked.
    pub async fn unlock_period(
        &self,
        period: Period,
        form_id: Option<&str>,
        by: &str,
        now: UnixTime,
    ) -> Result<bool, CoordinatorError> {
        let by = who(by)?;
        let form = FormKey::of(&self.form(form_id)?.form);
        let unlocked = self.store.unlock_period(period, &form).await?;
        if unlocked {
            self.audit_lock(by, "unlock", period, &form, now).await?;
            tracing::info!(%period, form = %form.id, by, "period unlocked");
        }
        Ok(unlocked)
    }

    /// The lock on `period` of the form `form_id`, if any.
    pub async fn period_lock(
        &self,
        period: Period,
        form_id: Option<&str>,
    ) -> Result<Option<PeriodLock>, CoordinatorError> {
        let form = FormKey::of(&self.form(form_id)?.form);
        Ok(self.store.period_lock(period, &form).await?)
    }

    /// Every lock in force.
    pub async fn period_locks(&self) -> Result<Vec<PeriodLock>, CoordinatorError> {
        Ok(self.store.period_locks().await?)
    }

    /// Records whom the province calls about `site` (a staff member's name and phone).
    pub async fn set_site_contact(
        &self,
        site: &SiteId,
        contact: &str,
        now: UnixTime,
    ) -> Result<(), CoordinatorError> {
        let contact = contact.trim();
        if contact.is_empty() || contact.chars().count() > 200 || contact.contains('\n') {
            return Err(CoordinatorError::Refused(
                "a site contact is one line of at most 200 characters (a name and a phone)".into(),
            ));
        }
        Ok(self.store.set_site_contact(site, contact, now).await?)
    }

    /// Whom to call about each site that has a contact recorded.
    pub async fn site_contacts(
        &self,
    ) -> Result<std::collections::BTreeMap<SiteId, String>, CoordinatorError> {
        Ok(self.store.site_contacts().await?)
    }

    async fn audit_lock(
        &self,
        by: &str,
        action: &str,
        period: Period,
        form: &FormKey,
        now: UnixTime,
    ) -> Result<(), CoordinatorError> {
        Ok(self
            .store
            .audit(&AuditEntry {
                at: now,
                who: by.to_owned(),
                action: action.to_owned(),
                detail: format!("{period} {} v{}", form.id, form.version),
            })
            .await?)
    }
}

fn who(by: &str) -> Result<&str, CoordinatorError> {
    let by = by.trim();
    if by.is_empty() {
        return Err(CoordinatorError::Refused("say who decides (--by)".into()));
    }
    Ok(by)
}
