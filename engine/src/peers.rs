//! The other end of a flow as rules see it, and CIDR blocks.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::Result;
use crate::labels::Labels;
use crate::model::PodRecord;
use crate::object::ObjectName;

/// What a rule's peer is matched against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerView<'a> {
    pub(crate) ip: IpAddr,
    pub(crate) kind: PeerKind<'a>,
}

/// What the peer address belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PeerKind<'a> {
    /// A pod with its own network namespace (never a hostNetwork pod).
    Pod(&'a PodRecord),
    /// A node address, or a hostNetwork pod's. `labels` is `None` when the Node object is not
    /// known (only a hostNetwork pod told us the address belongs to a node).
    Node { labels: Option<&'a Labels> },
    /// Anything else.
    External,
}

impl<'a> PeerView<'a> {
    /// The pod, when the peer is one.
    pub(crate) fn pod(&self) -> Option<&'a PodRecord> {
        match self.kind {
            PeerKind::Pod(p) => Some(p),
            _ => None,
        }
    }
}

/// A CIDR with exceptions (NetworkPolicy `ipBlock`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IpBlock {
    cidr: IpNet,
    except: Box<[IpNet]>,
}

impl IpBlock {
    /// Parses `cidr` and `except` the way the API server validates them: host bits are
    /// tolerated (and masked), each `except` must be a strict subset of `cidr`.
    pub(crate) fn parse(
        cidr: &str,
        except: &[String],
        object: &ObjectName,
        field: &str,
    ) -> Result<Self> {
        let net = parse_cidr(cidr, object, &format!("{field}.cidr"))?;
        let mut out = Vec::with_capacity(except.len());
        for (i, e) in except.iter().enumerate() {
            let path = format!("{field}.except[{i}]");
            let inner = parse_cidr(e, object, &path)?;
            let strict_subset = net.contains(&inner.network())
                && inner.prefix_len() > net.prefix_len()
                && same_family(&net, &inner);
            if !strict_subset {
                return Err(object.field(
                    &path,
                    format!("{e:?} must be a strict subset of `cidr` {cidr:?}"),
                ));
            }
            out.push(inner);
        }
        Ok(IpBlock {
            cidr: net,
            except: out.into(),
        })
    }

    /// True when `ip` is inside the CIDR and outside every exception.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }
}

fn same_family(a: &IpNet, b: &IpNet) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
    )
}

/// Parses a CIDR (host bits allowed and masked off).
pub(crate) fn parse_cidr(value: &str, object: &ObjectName, field: &str) -> Result<IpNet> {
    value
        .trim()
        .parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| object.cidr(field, value))
}
