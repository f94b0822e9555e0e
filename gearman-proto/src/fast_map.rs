//! The hash maps and sets of the state machines.
//!
//! They are hit several times per job, so the hasher matters: foldhash runs
//! at a fraction of SipHash's cost (std's default), and its seeds are drawn
//! per process and per map, so a peer cannot prepare keys that collide
//! (unique ids, function names and job handles are chosen by peers; their
//! length and count are bounded by the configured limits besides).

use std::collections::{HashMap, HashSet};

/// A `HashMap` with foldhash's randomly seeded hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A `HashSet` with foldhash's randomly seeded hasher.
pub(crate) type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;
