//! Who is logged in to the site app: login = unlock, so a session holds the staff member's name
//! and the records key their passphrase unlocked. The sessions themselves (random ids in the
//! cookie, CSRF token, idle lock that drops the key) and the failed-login throttle are
//! `quietcount_service::web::session`'s, shared with the province's dashboard.

use std::sync::Arc;

use crate::RecordsKey;

pub use quietcount_service::web::session::{Throttle, name_delay, random_token};

/// What a site app session holds.
#[derive(Debug, Clone)]
pub struct StaffSession {
    /// The staff member's name.
    pub staff: String,
    /// The records key their passphrase unlocked.
    pub key: Arc<RecordsKey>,
}

/// One logged-in staff member (its fields through `Deref`: `session.staff`, `session.key`).
pub type Session = quietcount_service::web::session::Session<StaffSession>;
/// What looking a session up found.
pub type Lookup = quietcount_service::web::session::Lookup<StaffSession>;
/// Every session of this process.
pub type Sessions = quietcount_service::web::session::Sessions<StaffSession>;

/// A session for `staff` holding `key`.
pub fn staff_session(staff: &str, key: RecordsKey) -> StaffSession {
    StaffSession {
        staff: staff.to_owned(),
        key: Arc::new(key),
    }
}
