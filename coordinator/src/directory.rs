//! The in-memory snapshot of enrolled, unrevoked keys that the TLS handshake consults.
//!
//! The TLS verifier runs synchronously inside the handshake, so it cannot ask the database.
//! This snapshot is refreshed from the store every second (enrolment and revocation are done by
//! separate processes writing the same database); the server also asks the store again after
//! every handshake, so a revocation takes effect at once even before the next refresh.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use quietcount_protocol::SiteId;
use quietcount_service::tls::SiteDirectory;

use crate::store::{KeyRecord, Store, StoreError};

/// How often the snapshot is refreshed from the store.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Active site keys by their 32 key bytes.
#[derive(Debug, Default)]
pub struct EnrolledKeys {
    keys: RwLock<HashMap<[u8; 32], SiteId>>,
}

impl EnrolledKeys {
    /// Replaces the snapshot with the keys among `records` whose window is open, logging each site key
    /// that starts or stops being accepted (operators, and tests, see when an enrolment or a
    /// revocation has reached the handshake).
    pub fn replace(&self, records: &[KeyRecord]) {
        let fresh: HashMap<[u8; 32], SiteId> = records
            .iter()
            .filter(|r| r.is_open())
            .map(|r| (r.public_key.to_bytes(), r.site.clone()))
            .collect();
        // A poisoned lock only means a panic elsewhere while writing; the map is replaced whole.
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        for (key, site) in &fresh {
            if keys.get(key) != Some(site) {
                tracing::info!(%site, "site key accepted");
            }
        }
        for (key, site) in keys.iter() {
            if fresh.get(key) != Some(site) {
                tracing::info!(%site, "site key no longer accepted");
            }
        }
        *keys = fresh;
    }

    /// Reloads the snapshot from the store.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let records = store.keys().await?;
        self.replace(&records);
        Ok(())
    }

    /// Refreshes the snapshot every [`REFRESH_INTERVAL`] until the task is aborted.
    pub fn spawn_refresher(self: Arc<Self>, store: Store) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(REFRESH_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = self.refresh(&store).await {
                    tracing::error!(%error, "could not refresh the enrolled keys");
                }
            }
        })
    }
}

impl SiteDirectory for EnrolledKeys {
    fn site_for_key(&self, key: &VerifyingKey) -> Option<SiteId> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.get(key.as_bytes()).cloned()
    }
}
