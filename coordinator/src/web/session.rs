//! Who is logged in to the dashboard: a session holds the account and its role. The sessions
//! themselves (random ids in the cookie, CSRF token, idle lock) and the failed-login throttle
//! are `quietcount_service::web::session`'s, shared with the site app.

use crate::accounts::Role;

pub use quietcount_service::web::session::{Throttle, name_delay, random_token};

/// What a dashboard session holds.
#[derive(Debug, Clone)]
pub struct AccountSession {
    /// The account name.
    pub user: String,
    /// Its role.
    pub role: Role,
}

/// One logged-in account (its fields through `Deref`: `session.user`, `session.role`).
pub type Session = quietcount_service::web::session::Session<AccountSession>;
/// What looking a session up found.
pub type Lookup = quietcount_service::web::session::Lookup<AccountSession>;
/// Every session of this process.
pub type Sessions = quietcount_service::web::session::Sessions<AccountSession>;

/// A session for `user` with `role`.
pub fn account_session(user: &str, role: Role) -> AccountSession {
    AccountSession {
        user: user.to_owned(),
        role,
    }
}

/// Ends every session of `user` (its account was removed or its password changed).
pub fn end_user(sessions: &Sessions, user: &str) {
    sessions.end_where(|s| s.user == user);
}

#[cfg(test)]
mod tests {
    use super::*;
    use quietcount_service::web::session::Lookup as Found;
    use std::time::Duration;

    #[test]
    fn sessions_of_a_removed_account_end() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let lan = sessions.start(account_session("lan", Role::Viewer));
        let minh = sessions.start(account_session("minh", Role::Manager));
        end_user(&sessions, "minh");
        assert!(matches!(sessions.get(&minh), Found::None));
        match sessions.get(&lan) {
            Found::Active(session) => assert_eq!(session.role, Role::Viewer),
            other => panic!("{other:?}"),
        }
    }
}
