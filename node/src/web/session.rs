//! Who is logged in: in-memory sessions keyed by random ids (the cookie), each holding the
//! unlocked records key, its CSRF token and when it was last used; sessions idle longer than
//! the configured time are locked (dropped, key and all). Failed logins are slowed per staff
//! name and overall.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore as _;

use crate::RecordsKey;

/// A random token: 32 bytes from the operating system, as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// One logged-in staff member.
#[derive(Debug, Clone)]
pub struct Session {
    /// The staff member's name.
    pub staff: String,
    /// The records key their passphrase unlocked.
    pub key: Arc<RecordsKey>,
    /// The token every form of this session carries.
    pub csrf: String,
    last_seen: Instant,
}

/// What looking a session up found.
#[derive(Debug)]
pub enum Lookup {
    /// Active (and now touched).
    Active(Session),
    /// It existed but was idle too long: now locked (removed).
    Locked,
    /// No such session.
    None,
}

/// Every session of this process.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    sessions: std::sync::Mutex<HashMap<String, Session>>,
    /// Ids of sessions the sweep locked, so that their next request can say so (ids only:
    /// the key is gone). Emptied as they come back, and when it grows past a bound.
    locked: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Sessions {
    /// Sessions that lock after `idle` without a request.
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            sessions: std::sync::Mutex::new(HashMap::new()),
            locked: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session for `staff` with `key`; returns its id.
    pub fn start(&self, staff: &str, key: RecordsKey) -> String {
        let id = random_token();
        self.map().insert(
            id.clone(),
            Session {
                staff: staff.to_owned(),
                key: Arc::new(key),
                csrf: random_token(),
                last_seen: Instant::now(),
            },
        );
        id
    }

    /// The session `id`, touched; locked if it was idle too long.
    pub fn get(&self, id: &str) -> Lookup {
        let mut map = self.map();
        let Some(session) = map.get_mut(id) else {
            let was_locked = self
                .locked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(id);
            return if was_locked {
                Lookup::Locked
            } else {
                Lookup::None
            };
        };
        if session.last_seen.elapsed() > self.idle {
            map.remove(id);
            return Lookup::Locked;
        }
        session.last_seen = Instant::now();
        Lookup::Active(session.clone())
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.map().remove(id);
    }

    /// Locks every idle session (called periodically, so an unlocked key does not stay in
    /// memory after the idle time even when nobody comes back).
    pub fn lock_idle(&self) -> usize {
        let mut map = self.map();
        let idle: Vec<String> = map
            .iter()
            .filter(|(_, s)| s.last_seen.elapsed() > self.idle)
            .map(|(id, _)| id.clone())
            .collect();
        let mut locked = self
            .locked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if locked.len() > 10_000 {
            locked.clear();
        }
        for id in &idle {
            map.remove(id);
            locked.insert(id.clone());
        }
        idle.len()
    }
}

/// Slows failed logins: each failure for a name doubles that name's wait (from 1 s, at most
/// 30 s), and many failures across all names in a minute add a wait for everyone.
#[derive(Debug, Default)]
pub struct Throttle {
    inner: std::sync::Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    by_name: HashMap<String, (u32, Instant)>,
    recent: VecDeque<Instant>,
}

/// Failures across all names in a minute above which every login waits.
const OVERALL_LIMIT: usize = 10;

impl Throttle {
    fn state(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long a login attempt for `name` waits before it is tried.
    pub fn delay(&self, name: &str) -> Duration {
        let mut state = self.state();
        while state
            .recent
            .front()
            .is_some_and(|t| t.elapsed() > Duration::from_secs(60))
        {
            state.recent.pop_front();
        }
        let overall = if state.recent.len() >= OVERALL_LIMIT {
            Duration::from_secs(2)
        } else {
            Duration::ZERO
        };
        let per_name = match state.by_name.get(name) {
            Some((failures, at)) if at.elapsed() < Duration::from_secs(15 * 60) => {
                name_delay(*failures)
            }
            _ => Duration::ZERO,
        };
        overall + per_name
    }

    /// Notes a failed login for `name`.
    pub fn failed(&self, name: &str) {
        let mut state = self.state();
        state.recent.push_back(Instant::now());
        let entry = state
            .by_name
            .entry(name.to_owned())
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    /// Notes a successful login for `name`.
    pub fn succeeded(&self, name: &str) {
        self.state().by_name.remove(name);
    }
}

/// The wait after `failures` failed logins for one name.
pub fn name_delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_logins_wait_longer_and_longer_per_name() {
        assert_eq!(name_delay(0), Duration::ZERO);
        assert_eq!(name_delay(1), Duration::from_secs(1));
        assert_eq!(name_delay(2), Duration::from_secs(2));
        assert_eq!(name_delay(4), Duration::from_secs(8));
        assert_eq!(name_delay(50), Duration::from_secs(30));
        let throttle = Throttle::default();
        assert_eq!(throttle.delay("lan"), Duration::ZERO);
        throttle.failed("lan");
        throttle.failed("lan");
        assert_eq!(throttle.delay("lan"), Duration::from_secs(2));
        assert_eq!(throttle.delay("minh"), Duration::ZERO);
        throttle.succeeded("lan");
        assert_eq!(throttle.delay("lan"), Duration::ZERO);
    }

    #[test]
    fn many_failures_overall_slow_every_name() {
        let throttle = Throttle::default();
        for i in 0..OVERALL_LIMIT {
            throttle.failed(&format!("guess{i}"));
        }
        assert_eq!(throttle.delay("anyone"), Duration::from_secs(2));
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
    }

    #[test]
    fn idle_sessions_lock() {
        let sessions = Sessions::new(Duration::from_millis(30));
        let (keyring, recovery) = crate::Keyring::generate();
        let recovery = crate::RecoveryKey::parse(&recovery.display()).unwrap();
        let key = keyring.unlock(&crate::Unlock::Recovery(recovery)).unwrap();
        let id = sessions.start("lan", key);
        assert!(matches!(sessions.get(&id), Lookup::Active(_)));
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(sessions.get(&id), Lookup::Locked));
        assert!(matches!(sessions.get(&id), Lookup::None));
        // Locked by the periodic sweep: the next request still hears it was locked.
        let (keyring, recovery) = crate::Keyring::generate();
        let recovery = crate::RecoveryKey::parse(&recovery.display()).unwrap();
        let id = sessions.start(
            "lan",
            keyring.unlock(&crate::Unlock::Recovery(recovery)).unwrap(),
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sessions.lock_idle(), 1);
        assert!(matches!(sessions.get(&id), Lookup::Locked));
        assert!(matches!(sessions.get(&id), Lookup::None));
    }
}
