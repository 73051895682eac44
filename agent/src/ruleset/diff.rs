//! Set-element changes between what the kernel holds and what the index wants.

use std::net::{Ipv4Addr, Ipv6Addr};

use verdict_engine::SelectedIps;

/// Elements to add and delete, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElementDiff {
    /// IPv4 addresses to add to `pods4`.
    pub add_v4: Vec<Ipv4Addr>,
    /// IPv4 addresses to delete from `pods4`.
    pub del_v4: Vec<Ipv4Addr>,
    /// IPv6 addresses to add to `pods6`.
    pub add_v6: Vec<Ipv6Addr>,
    /// IPv6 addresses to delete from `pods6`.
    pub del_v6: Vec<Ipv6Addr>,
}

impl ElementDiff {
    /// What turns `current` into `desired`.
    pub fn between(current: &SelectedIps, desired: &SelectedIps) -> ElementDiff {
        ElementDiff {
            add_v4: desired.v4.difference(&current.v4).copied().collect(),
            del_v4: current.v4.difference(&desired.v4).copied().collect(),
            add_v6: desired.v6.difference(&current.v6).copied().collect(),
            del_v6: current.v6.difference(&desired.v6).copied().collect(),
        }
    }

    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.add_v4.is_empty()
            && self.del_v4.is_empty()
            && self.add_v6.is_empty()
            && self.del_v6.is_empty()
    }

    /// Number of element changes.
    pub fn len(&self) -> usize {
        self.add_v4.len() + self.del_v4.len() + self.add_v6.len() + self.del_v6.len()
    }
}
