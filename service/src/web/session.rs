//! Who is logged in to a web app: in-memory sessions keyed by random ids (the cookie), each
//! holding what the app keeps for its holder (the site app: the staff member and the records
//! key their passphrase unlocked; the dashboard: the account and its role), a CSRF token and
//! when it was last used. Sessions idle longer than the configured time are locked (dropped,
//! with what they held). Failed logins are slowed per name and overall.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore as _;

/// A random token: 32 bytes from the operating system, as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// One logged-in person: what the app keeps for them (reachable through `Deref`), and the
/// token every form of this session carries.
#[derive(Debug, Clone)]
pub struct Session<T> {
    /// What the app keeps for the session's holder.
    pub holder: T,
    /// The token every form of this session carries.
    pub csrf: String,
    last_seen: Instant,
}

impl<T> Deref for Session<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.holder
    }
}

/// What looking a session up found.
#[derive(Debug)]
pub enum Lookup<T> {
    /// Active (and now touched).
    Active(Session<T>),
    /// It existed but was idle too long: now locked (removed).
    Locked,
    /// No such session.
    None,
}

/// Every session of this process.
#[derive(Debug)]
pub struct Sessions<T> {
    idle: Duration,
    sessions: Mutex<HashMap<String, Session<T>>>,
    /// Ids of sessions the sweep locked, so that their next request can say so (ids only:
    /// what the session held is gone). Emptied as they come back, and when it grows past a
    /// bound.
    locked: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a map that is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Clone> Sessions<T> {
    /// Sessions that lock after `idle` without a request.
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            sessions: Mutex::new(HashMap::new()),
            locked: Mutex::new(HashSet::new()),
        }
    }

    /// Starts a session for `holder`; returns its id.
    pub fn start(&self, holder: T) -> String {
        let id = random_token();
        lock(&self.sessions).insert(
            id.clone(),
            Session {
                holder,
                csrf: random_token(),
                last_seen: Instant::now(),
            },
        );
        id
    }

    /// The session `id`, touched; locked if it was idle too long.
    pub fn get(&self, id: &str) -> Lookup<T> {
        let mut map = lock(&self.sessions);
        let Some(session) = map.get_mut(id) else {
            return if lock(&self.locked).remove(id) {
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
        lock(&self.sessions).remove(id);
    }

    /// Ends every session whose holder `matches` (an account removed, a password changed).
    pub fn end_where(&self, matches: impl Fn(&T) -> bool) {
        lock(&self.sessions).retain(|_, s| !matches(&s.holder));
    }

    /// Locks every idle session (called periodically, so that what a session holds does not
    /// stay in memory after the idle time even when nobody comes back). Returns how many.
    pub fn lock_idle(&self) -> usize {
        let mut map = lock(&self.sessions);
        let idle: Vec<String> = map
            .iter()
            .filter(|(_, s)| s.last_seen.elapsed() > self.idle)
            .map(|(id, _)| id.clone())
            .collect();
        let mut locked = lock(&self.locked);
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
    inner: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    by_name: HashMap<String, (u32, Instant)>,
    recent: VecDeque<Instant>,
}

/// Failures across all names in a minute above which every login waits.
pub const OVERALL_LIMIT: usize = 10;

impl Throttle {
    /// How long a login attempt for `name` waits before it is tried.
    pub fn delay(&self, name: &str) -> Duration {
        let mut state = lock(&self.inner);
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
        let mut state = lock(&self.inner);
        state.recent.push_back(Instant::now());
        if state.by_name.len() > 10_000 {
            state.by_name.clear();
        }
        let entry = state
            .by_name
            .entry(name.to_owned())
            .or_insert((0, Instant::now()));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    /// Notes a successful login for `name`.
    pub fn succeeded(&self, name: &str) {
        lock(&self.inner).by_name.remove(name);
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
    fn idle_sessions_lock_and_say_so_once() {
        let sessions = Sessions::new(Duration::from_millis(30));
        let id = sessions.start(("lan", 1));
        match sessions.get(&id) {
            Lookup::Active(session) => {
                assert_eq!(session.0, "lan");
                assert_eq!(session.csrf.len(), 64);
            }
            other => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(sessions.get(&id), Lookup::Locked));
        assert!(matches!(sessions.get(&id), Lookup::None));
        // Locked by the periodic sweep: the next request still hears it was locked.
        let id = sessions.start(("lan", 2));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(sessions.lock_idle(), 1);
        assert!(matches!(sessions.get(&id), Lookup::Locked));
        assert!(matches!(sessions.get(&id), Lookup::None));
        let id = sessions.start(("minh", 3));
        sessions.end_where(|(name, _)| *name == "minh");
        assert!(matches!(sessions.get(&id), Lookup::None));
    }
}
