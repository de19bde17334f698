//! Who may hold the QUIC server's resources, as pure bookkeeping (no I/O, no clock): TLS
//! handshakes in progress and established site connections, each under caps. The server
//! (`server.rs`) asks before it starts a handshake and when one completes, and carries out what
//! it is told: drop a handshake, close a connection.
//!
//! - **Handshakes in progress** are capped overall and per source IP address. Beyond a cap the
//!   *oldest* handshake in progress (of that address, or overall) is dropped to make room. An
//!   honest site's handshake takes a round trip or two, so a flood of handshakes that never
//!   finish mostly displaces itself: to displace an honest handshake it must start more than
//!   the cap's worth of new ones within that handshake's few round trips. Refusing new
//!   handshakes instead would let a flood that keeps the cap full lock every site out.
//! - **Established connections** are capped per site key (a site's oldest connection is closed
//!   when a newer one would exceed its share) and overall (a connection is refused when all
//!   slots are taken). Only enrolled, unrevoked sites ever get a slot, and one site holds at
//!   most its share: neither a flood nor one greedy site can take every slot.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use quietcount_protocol::SiteId;

/// Names one handshake, and then the connection it became. Ids increase: a smaller id is older.
pub type AdmissionId = u64;

/// The caps, from the coordinator's `[limits]` (each at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Handshakes in progress, overall.
    pub max_pending_handshakes: usize,
    /// Handshakes in progress from one IP address.
    pub max_pending_handshakes_per_address: usize,
    /// Established connections, overall.
    pub max_connections: usize,
    /// Established connections of one site key.
    pub max_connections_per_site: usize,
}

/// What to do with a new handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeAdmission {
    /// Every connection slot is taken: refuse it without any handshake work.
    Refused,
    /// Go ahead as `id`, after dropping the handshakes in `dropped` (oldest first).
    Admitted {
        /// The new handshake.
        id: AdmissionId,
        /// Older handshakes in progress to drop to make room for it.
        dropped: Vec<AdmissionId>,
    },
}

/// What to do with a connection whose handshake has just completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionAdmission {
    /// Every connection slot is taken by other sites: close it.
    Refused,
    /// Serve it, after closing this site's older connections in `replaced` (oldest first).
    Admitted {
        /// Older connections of the same site to close.
        replaced: Vec<AdmissionId>,
    },
}

/// The bookkeeping itself.
#[derive(Debug)]
pub struct Admission {
    limits: AdmissionLimits,
    next_id: AdmissionId,
    pending: BTreeMap<AdmissionId, IpAddr>,
    pending_by_address: HashMap<IpAddr, BTreeSet<AdmissionId>>,
    established: BTreeMap<AdmissionId, SiteId>,
    established_by_site: HashMap<SiteId, BTreeSet<AdmissionId>>,
}

impl Admission {
    /// Empty, with `limits` (a cap of 0 counts as 1).
    pub fn new(limits: AdmissionLimits) -> Self {
        Self {
            limits: AdmissionLimits {
                max_pending_handshakes: limits.max_pending_handshakes.max(1),
                max_pending_handshakes_per_address: limits
                    .max_pending_handshakes_per_address
                    .max(1),
                max_connections: limits.max_connections.max(1),
                max_connections_per_site: limits.max_connections_per_site.max(1),
            },
            next_id: 0,
            pending: BTreeMap::new(),
            pending_by_address: HashMap::new(),
            established: BTreeMap::new(),
            established_by_site: HashMap::new(),
        }
    }

    /// Handshakes in progress.
    pub fn pending_handshakes(&self) -> usize {
        self.pending.len()
    }

    /// Established connections.
    pub fn connections(&self) -> usize {
        self.established.len()
    }

    /// Whether every connection slot is taken (a new handshake would be refused).
    pub fn connections_full(&self) -> bool {
        self.established.len() >= self.limits.max_connections
    }

    /// A peer at `address` starts a handshake. (IPv6 addresses count per /64 network, which
    /// one subscriber typically holds whole; an IPv4-mapped address counts as its IPv4 one.)
    pub fn handshake_started(&mut self, address: IpAddr) -> HandshakeAdmission {
        let address = source_of(address);
        if self.connections_full() {
            return HandshakeAdmission::Refused;
        }
        let mut dropped = Vec::new();
        let oldest_of_address = self
            .pending_by_address
            .get(&address)
            .filter(|ids| ids.len() >= self.limits.max_pending_handshakes_per_address)
            .and_then(|ids| ids.first().copied());
        if let Some(oldest) = oldest_of_address {
            self.handshake_ended(oldest);
            dropped.push(oldest);
        }
        if self.pending.len() >= self.limits.max_pending_handshakes {
            if let Some(oldest) = self.pending.keys().next().copied() {
                self.handshake_ended(oldest);
                dropped.push(oldest);
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, address);
        self.pending_by_address
            .entry(address)
            .or_default()
            .insert(id);
        HandshakeAdmission::Admitted { id, dropped }
    }

    /// Handshake `id` is over (failed, timed out or dropped); nothing if it was not in progress.
    pub fn handshake_ended(&mut self, id: AdmissionId) {
        let Some(address) = self.pending.remove(&id) else {
            return;
        };
        if let Some(ids) = self.pending_by_address.get_mut(&address) {
            ids.remove(&id);
            if ids.is_empty() {
                self.pending_by_address.remove(&address);
            }
        }
    }

    /// Handshake `id` completed and its key belongs to `site`.
    pub fn connection_established(
        &mut self,
        id: AdmissionId,
        site: &SiteId,
    ) -> ConnectionAdmission {
        self.handshake_ended(id);
        let mut replaced = Vec::new();
        let over_share = self.established_by_site.get(site).map_or(0, |ids| {
            (ids.len() + 1).saturating_sub(self.limits.max_connections_per_site)
        });
        let oldest: Vec<AdmissionId> = self
            .established_by_site
            .get(site)
            .map(|ids| ids.iter().take(over_share).copied().collect())
            .unwrap_or_default();
        for old in oldest {
            self.connection_closed(old);
            replaced.push(old);
        }
        if self.connections_full() {
            return ConnectionAdmission::Refused;
        }
        self.established.insert(id, site.clone());
        self.established_by_site
            .entry(site.clone())
            .or_default()
            .insert(id);
        ConnectionAdmission::Admitted { replaced }
    }

    /// Connection `id` closed; nothing if it was not established.
    pub fn connection_closed(&mut self, id: AdmissionId) {
        let Some(site) = self.established.remove(&id) else {
            return;
        };
        if let Some(ids) = self.established_by_site.get_mut(&site) {
            ids.remove(&id);
            if ids.is_empty() {
                self.established_by_site.remove(&site);
            }
        }
    }
}

/// The source a per-address cap counts: an IPv4 address, or an IPv6 /64 network.
fn source_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(network.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const LIMITS: AdmissionLimits = AdmissionLimits {
        max_pending_handshakes: 4,
        max_pending_handshakes_per_address: 2,
        max_connections: 3,
        max_connections_per_site: 2,
    };

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn admitted(decision: HandshakeAdmission) -> (AdmissionId, Vec<AdmissionId>) {
        match decision {
            HandshakeAdmission::Admitted { id, dropped } => (id, dropped),
            HandshakeAdmission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn beyond_an_address_cap_its_oldest_handshake_is_dropped_and_others_are_untouched() {
        let mut admission = Admission::new(LIMITS);
        let (other, _) = admitted(admission.handshake_started(ip(2)));
        let (first, _) = admitted(admission.handshake_started(ip(1)));
        let (second, none) = admitted(admission.handshake_started(ip(1)));
        assert!(none.is_empty());
        let (_, dropped) = admitted(admission.handshake_started(ip(1)));
        assert_eq!(dropped, [first]);
        let (_, dropped) = admitted(admission.handshake_started(ip(1)));
        assert_eq!(dropped, [second]);
        assert_eq!(admission.pending_handshakes(), 3);
        // The other address's handshake is still there and completes.
        assert_eq!(
            admission.connection_established(other, &SiteId::new("a").unwrap()),
            ConnectionAdmission::Admitted { replaced: vec![] }
        );
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address_and_mapped_ipv4_as_its_ipv4() {
        let mut admission = Admission::new(LIMITS);
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let (oldest, _) = admitted(admission.handshake_started(first));
        admitted(admission.handshake_started("2001:db8:1:2::2".parse().unwrap()));
        let (_, dropped) =
            admitted(admission.handshake_started("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_eq!(dropped, [oldest], "the same /64");
        let (_, dropped) =
            admitted(admission.handshake_started("2001:db8:1:3::1".parse().unwrap()));
        assert!(dropped.is_empty(), "another /64");

        let mut admission = Admission::new(LIMITS);
        let (oldest, _) = admitted(admission.handshake_started(ip(7)));
        admitted(admission.handshake_started(ip(7)));
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        let (_, dropped) = admitted(admission.handshake_started(mapped));
        assert_eq!(dropped, [oldest]);
    }

    #[test]
    fn beyond_the_overall_cap_the_oldest_handshake_of_all_is_dropped() {
        let mut admission = Admission::new(LIMITS);
        let ids: Vec<_> = (1..=4)
            .map(|n| admitted(admission.handshake_started(ip(n))).0)
            .collect();
        let (_, dropped) = admitted(admission.handshake_started(ip(5)));
        assert_eq!(dropped, [ids[0]]);
        assert_eq!(admission.pending_handshakes(), 4);
        // A dropped or finished handshake frees its place; ending it twice changes nothing.
        admission.handshake_ended(ids[1]);
        admission.handshake_ended(ids[1]);
        admission.handshake_ended(ids[0]);
        assert_eq!(admission.pending_handshakes(), 3);
    }

    #[test]
    fn a_site_beyond_its_share_loses_its_oldest_connection_and_cannot_fill_the_server() {
        let mut admission = Admission::new(LIMITS);
        let greedy = SiteId::new("greedy").unwrap();
        let mut held = Vec::new();
        for n in 0..10 {
            let (id, _) = admitted(admission.handshake_started(ip(1)));
            let replaced = match admission.connection_established(id, &greedy) {
                ConnectionAdmission::Admitted { replaced } => replaced,
                ConnectionAdmission::Refused => panic!("refused"),
            };
            if n >= 2 {
                assert_eq!(replaced, [held[n - 2]]);
            }
            held.push(id);
        }
        assert_eq!(admission.connections(), 2);
        let (id, _) = admitted(admission.handshake_started(ip(2)));
        assert_eq!(
            admission.connection_established(id, &SiteId::new("other").unwrap()),
            ConnectionAdmission::Admitted { replaced: vec![] }
        );
    }

    #[test]
    fn when_every_slot_is_taken_new_handshakes_and_connections_are_refused() {
        let mut admission = Admission::new(LIMITS);
        let waiting = admitted(admission.handshake_started(ip(9))).0;
        for name in ["a", "b", "c"] {
            let (id, _) = admitted(admission.handshake_started(ip(1)));
            admission.connection_established(id, &SiteId::new(name).unwrap());
        }
        assert!(admission.connections_full());
        assert_eq!(
            admission.handshake_started(ip(2)),
            HandshakeAdmission::Refused
        );
        assert_eq!(
            admission.connection_established(waiting, &SiteId::new("d").unwrap()),
            ConnectionAdmission::Refused
        );
        assert_eq!(admission.pending_handshakes(), 0);
        // A closed connection frees its slot.
        let a = *admission.established.keys().next().unwrap();
        admission.connection_closed(a);
        let (id, _) = admitted(admission.handshake_started(ip(2)));
        assert_eq!(
            admission.connection_established(id, &SiteId::new("d").unwrap()),
            ConnectionAdmission::Admitted { replaced: vec![] }
        );
    }
}
