//! How a client picks a server for a request: the routing policies and the
//! failover order they share.
//!
//! Every policy yields a preferred server and then fails over, in a fixed
//! order, to the next server that is up. What "up" means is the caller's
//! business (the client treats a server as down while it backs off after a
//! failed connection); the router only asks.

use crate::endpoint::ServerId;

/// Default number of points each server gets on the consistent-hash ring.
pub const DEFAULT_VIRTUAL_NODES: u32 = 160;

/// Which server a request goes to first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RoutingPolicy {
    /// Always the first configured server; the others, in configuration
    /// order, only while it is down.
    Single,
    /// Each request goes to the server after the previous one's (the original
    /// Go library's behaviour), skipping servers that are down.
    #[default]
    RoundRobin,
    /// Consistent hashing on the unique id: the same unique always goes to the
    /// same server, so the server can coalesce duplicate submits even across
    /// a pool of servers and across client processes. Each server owns
    /// `virtual_nodes` points on a hash ring placed by hashing its address, so
    /// no randomness is involved and every process with the same server list
    /// builds the same ring; when one server is down only the uniques it owned
    /// move (to the next server clockwise on the ring). Requests without a
    /// unique id are spread round robin.
    ConsistentHash {
        /// Points per server on the ring; more points give a more even share.
        virtual_nodes: u32,
    },
}

impl RoutingPolicy {
    /// Consistent hashing with [`DEFAULT_VIRTUAL_NODES`] points per server.
    pub const fn consistent_hash() -> RoutingPolicy {
        RoutingPolicy::ConsistentHash {
            virtual_nodes: DEFAULT_VIRTUAL_NODES,
        }
    }
}

/// Picks servers according to a [`RoutingPolicy`].
///
/// ```
/// use gearman_proto::client::{Router, RoutingPolicy};
///
/// let servers = ["10.0.0.1:4730", "10.0.0.2:4730", "10.0.0.3:4730"];
/// let mut router = Router::new(RoutingPolicy::consistent_hash(), &servers);
/// let home = router.route(Some(b"order-17"), |_| true).unwrap();
/// // The same unique always lands on the same server...
/// assert_eq!(router.route(Some(b"order-17"), |_| true), Some(home));
/// // ...and fails over to another one while its home is down.
/// let other = router.route(Some(b"order-17"), |s| s != home).unwrap();
/// assert_ne!(other, home);
/// assert_eq!(router.route(Some(b"order-17"), |_| false), None);
/// ```
#[derive(Debug, Clone)]
pub struct Router {
    policy: RoutingPolicy,
    servers: usize,
    /// Round-robin cursor: the server the next unkeyed request prefers.
    next: usize,
    /// Consistent-hash ring: (point, owner), sorted by point.
    ring: Vec<(u64, ServerId)>,
}

impl Router {
    /// A router over `servers` (addresses as configured, `host:port`).
    pub fn new<S: AsRef<str>>(policy: RoutingPolicy, servers: &[S]) -> Router {
        let mut ring = Vec::new();
        if let RoutingPolicy::ConsistentHash { virtual_nodes } = policy {
            let points = virtual_nodes.max(1);
            ring.reserve(servers.len() * points as usize);
            for (index, addr) in servers.iter().enumerate() {
                for point in 0..points {
                    let mut key = Vec::with_capacity(addr.as_ref().len() + 12);
                    key.extend_from_slice(addr.as_ref().as_bytes());
                    key.push(b'#');
                    key.extend_from_slice(point.to_string().as_bytes());
                    ring.push((stable_hash(&key), ServerId(index)));
                }
            }
            // Ties (vanishingly rare) are broken by address, so the ring does
            // not depend on the order the servers were listed in.
            ring.sort_unstable_by(|&(a, sa), &(b, sb)| {
                a.cmp(&b)
                    .then_with(|| servers[sa.0].as_ref().cmp(servers[sb.0].as_ref()))
            });
        }
        Router {
            policy,
            servers: servers.len(),
            next: 0,
            ring,
        }
    }

    /// The policy in use.
    pub fn policy(&self) -> RoutingPolicy {
        self.policy
    }

    /// Number of servers routed over.
    pub fn server_count(&self) -> usize {
        self.servers
    }

    /// The server a request should go to: the policy's preferred server if
    /// `is_up` says it is up, else the first up server in failover order;
    /// `None` when none is up. `key` is the request's unique id, if it has
    /// one (only consistent hashing looks at it). Advances the round-robin
    /// cursor when the request is not routed by key.
    pub fn route(
        &mut self,
        key: Option<&[u8]>,
        mut is_up: impl FnMut(ServerId) -> bool,
    ) -> Option<ServerId> {
        if self.servers == 0 {
            return None;
        }
        match (self.policy, key) {
            (RoutingPolicy::Single, _) => (0..self.servers).map(ServerId).find(|&s| is_up(s)),
            (RoutingPolicy::ConsistentHash { .. }, Some(key)) if !self.ring.is_empty() => {
                self.ring_order(key).find(|&s| is_up(s))
            }
            _ => {
                let start = self.next % self.servers;
                self.next = (start + 1) % self.servers;
                (0..self.servers)
                    .map(|offset| ServerId((start + offset) % self.servers))
                    .find(|&s| is_up(s))
            }
        }
    }

    /// Consistent hashing only: the server that owns `key` when every server
    /// is up (`None` for other policies).
    pub fn owner(&self, key: &[u8]) -> Option<ServerId> {
        match self.policy {
            RoutingPolicy::ConsistentHash { .. } => self.ring_order(key).next(),
            _ => None,
        }
    }

    /// Distinct servers clockwise from `key`'s point on the ring.
    fn ring_order(&self, key: &[u8]) -> impl Iterator<Item = ServerId> + '_ {
        let hash = stable_hash(key);
        let start = self.ring.partition_point(|&(point, _)| point < hash);
        let len = self.ring.len();
        let mut seen = SeenSet::new(self.servers);
        (0..len)
            .map(move |offset| self.ring[(start + offset) % len].1)
            .filter(move |&server| seen.insert(server))
    }
}

/// Which servers a ring walk has yielded; a bitmap, small and allocation-free
/// for pools of up to 128 servers.
struct SeenSet {
    small: u128,
    large: Vec<bool>,
}

impl SeenSet {
    fn new(servers: usize) -> SeenSet {
        SeenSet {
            small: 0,
            large: if servers > 128 {
                vec![false; servers]
            } else {
                Vec::new()
            },
        }
    }

    /// True the first time `server` is inserted.
    fn insert(&mut self, server: ServerId) -> bool {
        if self.large.is_empty() {
            let bit = 1u128 << server.0;
            let fresh = self.small & bit == 0;
            self.small |= bit;
            fresh
        } else {
            !std::mem::replace(&mut self.large[server.0], true)
        }
    }
}

/// A hash that is the same in every process and on every platform (FNV-1a,
/// then a 64-bit finalizer so nearby inputs spread over the whole ring).
fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVERS: [&str; 4] = ["a:4730", "b:4730", "c:4730", "d:4730"];

    #[test]
    fn single_prefers_first_and_fails_over_in_order() {
        let mut r = Router::new(RoutingPolicy::Single, &SERVERS);
        assert_eq!(r.route(None, |_| true), Some(ServerId(0)));
        assert_eq!(r.route(Some(b"x"), |_| true), Some(ServerId(0)));
        assert_eq!(r.route(None, |s| s.0 >= 2), Some(ServerId(2)));
        assert_eq!(r.route(None, |_| false), None);
    }

    #[test]
    fn round_robin_rotates_and_skips_down_servers() {
        let mut r = Router::new(RoutingPolicy::RoundRobin, &SERVERS);
        let picks: Vec<_> = (0..5).map(|_| r.route(None, |_| true).unwrap().0).collect();
        assert_eq!(picks, [0, 1, 2, 3, 0]);
        // Cursor at 1; 1 is down, so 2 serves it.
        assert_eq!(r.route(None, |s| s.0 != 1), Some(ServerId(2)));
        assert_eq!(r.route(None, |s| s.0 == 0), Some(ServerId(0)));
    }

    #[test]
    fn empty_router_routes_nowhere() {
        let mut r = Router::new(RoutingPolicy::consistent_hash(), &[] as &[&str]);
        assert_eq!(r.route(Some(b"k"), |_| true), None);
        assert_eq!(r.route(None, |_| true), None);
    }

    #[test]
    fn consistent_hash_is_stable_and_independent_of_listing_order() {
        let r1 = Router::new(RoutingPolicy::consistent_hash(), &SERVERS);
        let reversed: Vec<&str> = SERVERS.iter().rev().copied().collect();
        let r2 = Router::new(RoutingPolicy::consistent_hash(), &reversed);
        for i in 0..500 {
            let key = format!("job-{i}");
            let a = r1.owner(key.as_bytes()).unwrap();
            let b = r2.owner(key.as_bytes()).unwrap();
            assert_eq!(SERVERS[a.0], reversed[b.0], "{key}");
        }
    }

    #[test]
    fn consistent_hash_moves_only_the_down_servers_share() {
        let mut r = Router::new(RoutingPolicy::consistent_hash(), &SERVERS);
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            let key = format!("u{i}");
            let home = r.route(Some(key.as_bytes()), |_| true).unwrap();
            counts[home.0] += 1;
            let with_c_down = r.route(Some(key.as_bytes()), |s| s.0 != 2).unwrap();
            if home.0 == 2 {
                assert_ne!(with_c_down.0, 2);
            } else {
                assert_eq!(with_c_down, home, "{key} moved although its server is up");
            }
        }
        for count in counts {
            assert!((600..1400).contains(&count), "uneven share: {counts:?}");
        }
    }

    #[test]
    fn consistent_hash_without_key_is_round_robin() {
        let mut r = Router::new(RoutingPolicy::consistent_hash(), &SERVERS);
        let picks: Vec<_> = (0..4).map(|_| r.route(None, |_| true).unwrap().0).collect();
        assert_eq!(picks, [0, 1, 2, 3]);
    }

    #[test]
    fn seen_set_handles_large_pools() {
        let servers: Vec<String> = (0..200).map(|i| format!("h{i}:1")).collect();
        let r = Router::new(RoutingPolicy::ConsistentHash { virtual_nodes: 4 }, &servers);
        let order: Vec<_> = r.ring_order(b"key").collect();
        assert_eq!(order.len(), 200);
        let mut sorted = order.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 200);
    }
}
