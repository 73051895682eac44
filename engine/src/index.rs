//! The cluster index: a synchronous `apply`/`delete` structure fed by watches (agent) or files
//! (CLI), and the [`Index::evaluate`] entry point.
//!
//! Every pod record carries the policies that select it (NetworkPolicies per direction, ANPs
//! in evaluation order, the BANP). Those lists are kept up to date incrementally: a pod
//! change recomputes that pod against the policies of its namespace and the ANPs; a policy
//! change touches only the pods of its namespace (NetworkPolicy) or walks the pods once
//! (ANP/BANP); a namespace relabel re-checks the ANP/BANP subjects of its pods. Evaluation then
//! costs two IP lookups plus the rules of the policies that select the two pods.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rustc_hash::FxHashMap;
use verdict_crds::{AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy};

use crate::admin_policy::AdminPolicy;
use crate::decision::{PolicyKind, PolicyTier};
use crate::dns::Dns;
use crate::labels::Labels;
use crate::model::{NodeRecord, PodFacts, PodRecord};
use crate::network_policy::NetworkPolicyRules;
use crate::slab::{Owners, PodId, PodSlab};
use crate::{Decision, Direction, DirectionDecision, Endpoint, Flow, Result};

/// Any object the index understands.
// Boxing the variants would change a public contract other crates build against; values are
// short-lived (one per watch event or file document), so the size costs little.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum ClusterObject {
    /// A Namespace.
    Namespace(Namespace),
    /// A Pod.
    Pod(Pod),
    /// A Node.
    Node(Node),
    /// A NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// An AdminNetworkPolicy.
    AdminNetworkPolicy(AdminNetworkPolicy),
    /// A BaselineAdminNetworkPolicy.
    BaselineAdminNetworkPolicy(BaselineAdminNetworkPolicy),
    /// A ClusterNetworkPolicy (v1beta1; v1alpha2 objects convert with `From`).
    ClusterNetworkPolicy(ClusterNetworkPolicy),
}

/// Addresses of the pods on one node that at least one policy (any tier, any direction) selects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectedIps {
    /// IPv4 pod addresses.
    pub v4: BTreeSet<Ipv4Addr>,
    /// IPv6 pod addresses.
    pub v6: BTreeSet<Ipv6Addr>,
}

/// Object counts, for metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Namespaces known from Namespace objects.
    pub namespaces: usize,
    /// Pods, with or without an IP.
    pub pods: usize,
    /// Nodes.
    pub nodes: usize,
    /// NetworkPolicies.
    pub network_policies: usize,
    /// AdminNetworkPolicies.
    pub admin_network_policies: usize,
    /// 1 when the BaselineAdminNetworkPolicy exists.
    pub baseline_admin_network_policies: usize,
    /// ClusterNetworkPolicies, both tiers.
    pub cluster_network_policies: usize,
}

/// The cluster state, indexed for evaluation. `Clone + Send + Sync` so callers can publish
/// snapshots; a clone copies maps of `Arc`s, never the records themselves.
#[derive(Clone, Debug, Default)]
pub struct Index {
    generation: u64,
    /// Copy-on-write, so snapshots share untouched namespaces.
    namespaces: HashMap<Arc<str>, Arc<NamespaceEntry>>,
    pods: PodSlab,
    /// Non-hostNetwork pod addresses. Several pods may claim one address for a moment (a
    /// deleted pod's IP reused before its delete arrives): the newest running claim wins, a
    /// terminating pod only when no claimant is running (see [`Owners`]).
    pod_by_ip: FxHashMap<IpAddr, Owners>,
    /// hostNetwork pod addresses: node addresses even when the Node object is unknown.
    host_ips: FxHashMap<IpAddr, Owners>,
    pods_by_node: HashMap<Arc<str>, Arc<BTreeSet<PodId>>>,
    nodes: HashMap<Arc<str>, Arc<NodeRecord>>,
    node_by_ip: FxHashMap<IpAddr, Vec<Arc<str>>>,
    /// AdminNetworkPolicies by name.
    admin: BTreeMap<Arc<str>, Arc<AdminPolicy>>,
    /// ClusterNetworkPolicies (both tiers) by name.
    cluster: BTreeMap<Arc<str>, Arc<AdminPolicy>>,
    /// The Admin tier in evaluation order: ANPs and Admin-tier CNPs by `order_key`.
    admin_order: Vec<Arc<AdminPolicy>>,
    /// The BaselineAdminNetworkPolicy.
    baseline: Option<Arc<AdminPolicy>>,
    /// The Baseline tier in evaluation order: Baseline-tier CNPs by `order_key`, then the BANP.
    baseline_order: Vec<Arc<AdminPolicy>>,
}

#[derive(Clone, Debug)]
struct NamespaceEntry {
    /// True once a Namespace object was applied (entries also exist for pods and policies
    /// whose namespace has not arrived yet).
    known: bool,
    labels: Arc<Labels>,
    pods: BTreeMap<Arc<str>, PodId>,
    policies: BTreeMap<Arc<str>, Arc<NetworkPolicyRules>>,
}

impl NamespaceEntry {
    fn new(name: &str) -> Self {
        NamespaceEntry {
            known: false,
            labels: Arc::new(Labels::for_namespace(name, None)),
            pods: BTreeMap::new(),
            policies: BTreeMap::new(),
        }
    }

    fn is_unused(&self) -> bool {
        !self.known && self.pods.is_empty() && self.policies.is_empty()
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies (creates or replaces) any object.
    ///
    /// # Errors
    /// See the per-kind `apply_*` methods.
    pub fn apply(&mut self, object: &ClusterObject) -> Result<()> {
        match object {
            ClusterObject::Namespace(o) => self.apply_namespace(o),
            ClusterObject::Pod(o) => self.apply_pod(o),
            ClusterObject::Node(o) => self.apply_node(o),
            ClusterObject::NetworkPolicy(o) => self.apply_network_policy(o),
            ClusterObject::AdminNetworkPolicy(o) => self.apply_admin_network_policy(o),
            ClusterObject::BaselineAdminNetworkPolicy(o) => {
                self.apply_baseline_admin_network_policy(o)
            }
            ClusterObject::ClusterNetworkPolicy(o) => self.apply_cluster_network_policy(o),
        }
    }

    /// Deletes the object `object` names (its kind, namespace and name; the rest is ignored).
    /// Returns whether it was known.
    pub fn delete(&mut self, object: &ClusterObject) -> bool {
        fn name(meta: &ObjectMeta) -> &str {
            meta.name.as_deref().unwrap_or_default()
        }
        fn namespace(meta: &ObjectMeta) -> &str {
            meta.namespace.as_deref().unwrap_or("default")
        }
        match object {
            ClusterObject::Namespace(o) => self.delete_namespace(name(&o.metadata)),
            ClusterObject::Pod(o) => self.delete_pod(namespace(&o.metadata), name(&o.metadata)),
            ClusterObject::Node(o) => self.delete_node(name(&o.metadata)),
            ClusterObject::NetworkPolicy(o) => {
                self.delete_network_policy(namespace(&o.metadata), name(&o.metadata))
            }
            ClusterObject::AdminNetworkPolicy(o) => {
                self.delete_admin_network_policy(name(&o.metadata))
            }
            ClusterObject::BaselineAdminNetworkPolicy(o) => {
                self.delete_baseline_admin_network_policy(name(&o.metadata))
            }
            ClusterObject::ClusterNetworkPolicy(o) => {
                self.delete_cluster_network_policy(name(&o.metadata))
            }
        }
    }

    /// Applies a Namespace. Its labels always include `kubernetes.io/metadata.name`.
    ///
    /// # Errors
    /// None today; the signature leaves room for validation.
    pub fn apply_namespace(&mut self, ns: &Namespace) -> Result<()> {
        let name = ns.metadata.name.as_deref().unwrap_or_default();
        let labels = Labels::for_namespace(name, ns.metadata.labels.as_ref());
        if self
            .namespaces
            .get(name)
            .is_some_and(|e| e.known && *e.labels == labels)
        {
            return Ok(());
        }
        self.namespace_entry(name).known = true;
        self.set_namespace_labels(name, labels);
        self.generation += 1;
        Ok(())
    }

    /// Forgets a Namespace's labels (its pods and policies stay until their own deletes
    /// arrive). Returns whether it was known.
    pub fn delete_namespace(&mut self, name: &str) -> bool {
        if !self.namespaces.get(name).is_some_and(|e| e.known) {
            return false;
        }
        self.namespace_entry(name).known = false;
        self.set_namespace_labels(name, Labels::for_namespace(name, None));
        self.drop_namespace_if_unused(name);
        self.generation += 1;
        true
    }

    /// Applies a Pod. Pods without an IP (or in phase Succeeded/Failed) are indexed so
    /// policies can select them, but no address maps to them.
    ///
    /// # Errors
    /// An IP address or container port that does not parse.
    pub fn apply_pod(&mut self, pod: &Pod) -> Result<()> {
        let mut facts = PodFacts::from_pod(pod)?;
        // Share one name allocation per namespace and node: fewer cache lines to touch when
        // decisions clone them.
        if !self.namespaces.contains_key(&facts.namespace) {
            self.namespace_entry(&facts.namespace);
        }
        facts.namespace = self.namespace_name(&facts.namespace);
        if let Some(node) = &facts.node
            && let Some((shared, _)) = self.pods_by_node.get_key_value(node)
        {
            facts.node = Some(shared.clone());
        }
        let existing = self
            .namespaces
            .get(&facts.namespace)
            .and_then(|ns| ns.pods.get(&facts.name))
            .copied();
        // An update that keeps the addresses keeps the pod's place among owners of a reused
        // IP: only gaining an address makes a pod its newest owner.
        let mut relink = true;
        let mut running_changed = false;
        if let Some(id) = existing {
            let old = self.pod(id);
            if old.same_facts(&facts) {
                return Ok(());
            }
            relink = old.ips != facts.ips || old.host_network != facts.host_network;
            running_changed = old.running != facts.running;
            self.unlink_pod(id, relink);
        }
        let namespace = facts.namespace.clone();
        let name = facts.name.clone();
        let ns_labels = self.namespaces[&namespace].labels.clone();
        let mut record = PodRecord::new(facts, ns_labels);
        self.compute_selection(&mut record);
        // Only a new pod changes its namespace's entry (so a snapshot keeps sharing it).
        let id = match existing {
            Some(id) => {
                self.pods.replace(id, record);
                id
            }
            None => {
                let id = self.pods.insert(record);
                self.namespace_entry(&namespace).pods.insert(name, id);
                id
            }
        };
        self.link_pod(id, relink);
        if !relink && running_changed {
            self.set_claims_running(id);
        }
        self.generation += 1;
        Ok(())
    }

    /// Deletes a Pod. Returns whether it was known.
    pub fn delete_pod(&mut self, namespace: &str, name: &str) -> bool {
        let Some(id) = self
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.pods.get(name))
            .copied()
        else {
            return false;
        };
        self.namespace_entry(namespace).pods.remove(name);
        self.unlink_pod(id, true);
        self.pods.remove(id);
        self.drop_namespace_if_unused(namespace);
        self.generation += 1;
        true
    }

    /// Applies a Node: its labels (for ANP `nodes` peers) and InternalIP/ExternalIP
    /// addresses.
    ///
    /// # Errors
    /// None today; addresses that do not parse as IPs are skipped.
    pub fn apply_node(&mut self, node: &Node) -> Result<()> {
        let record = NodeRecord::from_node(node);
        if self
            .nodes
            .get(&record.name)
            .is_some_and(|old| **old == record)
        {
            return Ok(());
        }
        self.delete_node_addresses(&record.name);
        for ip in &record.ips {
            self.node_by_ip
                .entry(*ip)
                .or_default()
                .push(record.name.clone());
        }
        self.nodes.insert(record.name.clone(), Arc::new(record));
        self.generation += 1;
        Ok(())
    }

    /// Deletes a Node. Returns whether it was known.
    pub fn delete_node(&mut self, name: &str) -> bool {
        if !self.nodes.contains_key(name) {
            return false;
        }
        self.delete_node_addresses(name);
        self.nodes.remove(name);
        self.generation += 1;
        true
    }

    /// Applies a NetworkPolicy, updating the selection of the pods in its namespace.
    ///
    /// # Errors
    /// Any field the API server would reject (selectors, CIDRs, ports, protocols,
    /// policyTypes), naming the object and the field's JSON path.
    pub fn apply_network_policy(&mut self, np: &NetworkPolicy) -> Result<()> {
        let mut policy = NetworkPolicyRules::compile(np)?;
        if self
            .namespaces
            .get(&policy.namespace)
            .and_then(|e| e.policies.get(&policy.name))
            .is_some_and(|old| **old == policy)
        {
            return Ok(());
        }
        self.namespace_entry(&policy.namespace);
        policy.set_namespace(self.namespace_name(&policy.namespace));
        let policy = Arc::new(policy);
        let entry = self.namespace_entry(&policy.namespace);
        entry.policies.insert(policy.name.clone(), policy.clone());
        let ids: Vec<PodId> = entry.pods.values().copied().collect();
        for id in ids {
            self.update_np_selection(id, &policy.name, Some(&policy));
        }
        self.generation += 1;
        Ok(())
    }

    /// Deletes a NetworkPolicy. Returns whether it was known.
    pub fn delete_network_policy(&mut self, namespace: &str, name: &str) -> bool {
        if !self
            .namespaces
            .get(namespace)
            .is_some_and(|e| e.policies.contains_key(name))
        {
            return false;
        }
        let entry = self.namespace_entry(namespace);
        let Some(old) = entry.policies.remove(name) else {
            return false;
        };
        let ids: Vec<PodId> = entry.pods.values().copied().collect();
        for id in ids {
            self.update_np_selection(id, &old.name, None);
        }
        self.drop_namespace_if_unused(namespace);
        self.generation += 1;
        true
    }

    /// Applies an AdminNetworkPolicy.
    ///
    /// # Errors
    /// Priority outside 0..=1000, a subject with not exactly one field, or any invalid
    /// selector, CIDR, port or protocol.
    pub fn apply_admin_network_policy(&mut self, anp: &AdminNetworkPolicy) -> Result<()> {
        let policy = Arc::new(AdminPolicy::compile_anp(anp)?);
        if self
            .admin
            .get(policy.name())
            .is_some_and(|old| **old == *policy)
        {
            return Ok(());
        }
        let old = self.admin.insert(policy.name().clone(), policy.clone());
        self.rebuild_tier_order();
        self.update_tier_selection(
            PolicyKind::AdminNetworkPolicy,
            policy.name(),
            old.as_deref(),
            Some(&policy),
        );
        self.generation += 1;
        Ok(())
    }

    /// Deletes an AdminNetworkPolicy. Returns whether it was known.
    pub fn delete_admin_network_policy(&mut self, name: &str) -> bool {
        let Some(old) = self.admin.remove(name) else {
            return false;
        };
        self.rebuild_tier_order();
        self.update_tier_selection(PolicyKind::AdminNetworkPolicy, name, Some(&old), None);
        self.generation += 1;
        true
    }

    /// Applies the BaselineAdminNetworkPolicy.
    ///
    /// # Errors
    /// A name other than `default`, or any invalid subject, selector, CIDR, port or protocol.
    pub fn apply_baseline_admin_network_policy(
        &mut self,
        banp: &BaselineAdminNetworkPolicy,
    ) -> Result<()> {
        let policy = Arc::new(AdminPolicy::compile_banp(banp)?);
        if self.baseline.as_ref().is_some_and(|old| **old == *policy) {
            return Ok(());
        }
        let old = self.baseline.replace(policy.clone());
        self.rebuild_tier_order();
        self.update_tier_selection(
            PolicyKind::BaselineAdminNetworkPolicy,
            policy.name(),
            old.as_deref(),
            Some(&policy),
        );
        self.generation += 1;
        Ok(())
    }

    /// Deletes the BaselineAdminNetworkPolicy. Returns whether it was known.
    pub fn delete_baseline_admin_network_policy(&mut self, name: &str) -> bool {
        if self
            .baseline
            .as_ref()
            .is_none_or(|b| &*b.reference.name != name)
        {
            return false;
        }
        let old = self.baseline.take();
        self.rebuild_tier_order();
        self.update_tier_selection(
            PolicyKind::BaselineAdminNetworkPolicy,
            name,
            old.as_deref(),
            None,
        );
        self.generation += 1;
        true
    }

    /// Applies a ClusterNetworkPolicy (v1beta1; read a v1alpha2 object into the same type, or
    /// convert it with `From`). An Admin-tier policy joins the AdminNetworkPolicies' order, a
    /// Baseline-tier one goes before the BaselineAdminNetworkPolicy (see
    /// `AdminPolicy::order_key`); a tier change moves it.
    ///
    /// # Errors
    /// Priority outside 0..=1000, a subject with not exactly one field, or any invalid
    /// selector, CIDR, protocol, port or domain name (see the engine's admin_policy module).
    pub fn apply_cluster_network_policy(&mut self, cnp: &ClusterNetworkPolicy) -> Result<()> {
        let policy = Arc::new(AdminPolicy::compile_cnp(cnp)?);
        if self
            .cluster
            .get(policy.name())
            .is_some_and(|old| **old == *policy)
        {
            return Ok(());
        }
        let old = self.cluster.insert(policy.name().clone(), policy.clone());
        self.rebuild_tier_order();
        self.update_tier_selection(
            PolicyKind::ClusterNetworkPolicy,
            policy.name(),
            old.as_deref(),
            Some(&policy),
        );
        self.generation += 1;
        Ok(())
    }

    /// Deletes a ClusterNetworkPolicy. Returns whether it was known.
    pub fn delete_cluster_network_policy(&mut self, name: &str) -> bool {
        let Some(old) = self.cluster.remove(name) else {
            return false;
        };
        self.rebuild_tier_order();
        self.update_tier_selection(PolicyKind::ClusterNetworkPolicy, name, Some(&old), None);
        self.generation += 1;
        true
    }

    /// Judges a flow in both directions. Allowed only if the source's egress and the
    /// destination's ingress both allow it.
    ///
    /// # Guarantees
    /// Costs two address lookups plus the rules of the policies that select the source or
    /// the destination pod; policies that select neither are never looked at.
    pub fn evaluate(&self, flow: &Flow) -> Decision {
        self.evaluate_with(flow, None)
    }

    /// [`Index::evaluate`] with DNS bindings, which ClusterNetworkPolicy `domainNames` egress
    /// peers match through (without them, such peers match nothing).
    pub fn evaluate_with(&self, flow: &Flow, dns: Option<Dns<'_>>) -> Decision {
        let src = self.resolve(flow.src_ip);
        let dst = self.resolve(flow.dst_ip);
        let egress = crate::evaluate::judge(Direction::Egress, flow, &src, &dst, dns);
        let ingress = crate::evaluate::judge(Direction::Ingress, flow, &dst, &src, dns);
        let verdict = if egress.verdict == crate::Verdict::Allow
            && ingress.verdict == crate::Verdict::Allow
        {
            crate::Verdict::Allow
        } else {
            crate::Verdict::Deny
        };
        Decision {
            flow: *flow,
            src: src.endpoint(),
            dst: dst.endpoint(),
            verdict,
            egress,
            ingress,
        }
    }

    /// Judges one direction only (the agent judges the direction its node owns).
    pub fn evaluate_direction(&self, flow: &Flow, direction: Direction) -> DirectionDecision {
        self.evaluate_direction_with(flow, direction, None)
    }

    /// [`Index::evaluate_direction`] with DNS bindings (see [`Index::evaluate_with`]).
    pub fn evaluate_direction_with(
        &self,
        flow: &Flow,
        direction: Direction,
        dns: Option<Dns<'_>>,
    ) -> DirectionDecision {
        let src = self.resolve(flow.src_ip);
        let dst = self.resolve(flow.dst_ip);
        match direction {
            Direction::Egress => crate::evaluate::judge(direction, flow, &src, &dst, dns),
            Direction::Ingress => crate::evaluate::judge(direction, flow, &dst, &src, dns),
        }
    }

    /// What an address is: a pod IP gives [`Endpoint::Pod`]; a node address (and so a
    /// hostNetwork pod's) gives [`Endpoint::Node`]; anything else [`Endpoint::External`].
    pub fn endpoint(&self, ip: IpAddr) -> Endpoint {
        self.resolve(ip).endpoint()
    }

    /// The addresses of a pod (empty when it has none yet), or `None` if the pod is unknown.
    pub fn pod_ips(&self, namespace: &str, name: &str) -> Option<Vec<IpAddr>> {
        let id = *self.namespaces.get(namespace)?.pods.get(name)?;
        Some(self.pod(id).ips.clone())
    }

    /// The `metadata.uid` of the pod that `ip` resolves to (the pod [`Index::endpoint`] names
    /// as [`Endpoint::Pod`]), or `None` when `ip` is not a pod address or that pod's object
    /// had no uid. hostNetwork pods share their node's address and are never named here.
    ///
    /// # Guarantees
    /// One hash lookup and an `Arc` clone; no allocation.
    pub fn pod_uid(&self, ip: IpAddr) -> Option<Arc<str>> {
        let owners = self.pod_by_ip.get(&ip)?;
        self.pod(owners.current()).uid.clone()
    }

    /// Addresses of the non-hostNetwork pods on `node` that at least one policy selects (an
    /// NP of their namespace, an ANP or the BANP subject), in any direction.
    pub fn selected_pod_ips(&self, node: &str) -> SelectedIps {
        let mut out = SelectedIps::default();
        for id in self
            .pods_by_node
            .get(node)
            .into_iter()
            .flat_map(|s| s.iter())
        {
            let pod = self.pod(*id);
            if pod.host_network || !pod.is_selected() {
                continue;
            }
            for ip in &pod.ips {
                // Only addresses this pod currently owns (see `Owners` for a reused IP).
                if self.pod_by_ip.get(ip).map(Owners::current) != Some(*id) {
                    continue;
                }
                match ip {
                    IpAddr::V4(v4) => out.v4.insert(*v4),
                    IpAddr::V6(v6) => out.v6.insert(*v6),
                };
            }
        }
        out
    }

    /// Increments on every change that can alter a decision or a selection.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many objects of each kind the index holds.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            namespaces: self.namespaces.values().filter(|n| n.known).count(),
            pods: self.pods.len(),
            nodes: self.nodes.len(),
            network_policies: self.namespaces.values().map(|n| n.policies.len()).sum(),
            admin_network_policies: self.admin.len(),
            baseline_admin_network_policies: usize::from(self.baseline.is_some()),
            cluster_network_policies: self.cluster.len(),
        }
    }

    // ---- internals ------------------------------------------------------------------

    fn pod(&self, id: PodId) -> &PodRecord {
        self.pods
            .get(id)
            .expect("pod ids in the maps always point at live records")
    }

    fn pod_mut(&mut self, id: PodId) -> &mut PodRecord {
        self.pods
            .get_mut(id)
            .expect("pod ids in the maps always point at live records")
    }

    pub(crate) fn resolve(&self, ip: IpAddr) -> crate::evaluate::Resolved<'_> {
        use crate::evaluate::Resolved;
        if let Some(owners) = self.pod_by_ip.get(&ip) {
            return Resolved::Pod(ip, self.pod(owners.current()));
        }
        if let Some(name) = self.node_by_ip.get(&ip).and_then(|n| n.last()) {
            return Resolved::Node(ip, name, self.nodes.get(name).map(|n| &n.labels));
        }
        if let Some(owners) = self.host_ips.get(&ip)
            && let Some(node) = &self.pod(owners.current()).node
        {
            return Resolved::Node(ip, node, self.nodes.get(node).map(|n| &n.labels));
        }
        Resolved::External(ip)
    }

    /// The namespace's entry, created if missing and unshared from snapshots.
    fn namespace_entry(&mut self, name: &str) -> &mut NamespaceEntry {
        if !self.namespaces.contains_key(name) {
            self.namespaces
                .insert(Arc::from(name), Arc::new(NamespaceEntry::new(name)));
        }
        Arc::make_mut(self.namespaces.get_mut(name).expect("inserted just above"))
    }

    /// The shared `Arc` of a namespace name that has an entry.
    fn namespace_name(&self, name: &str) -> Arc<str> {
        self.namespaces
            .get_key_value(name)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(name))
    }

    fn drop_namespace_if_unused(&mut self, name: &str) {
        if self.namespaces.get(name).is_some_and(|e| e.is_unused()) {
            self.namespaces.remove(name);
        }
    }

    /// Sets a namespace's labels and re-checks the ANP/BANP subjects of its pods (NetworkPolicy
    /// pod selectors do not look at namespace labels).
    fn set_namespace_labels(&mut self, name: &str, labels: Labels) {
        if self
            .namespaces
            .get(name)
            .is_some_and(|e| *e.labels == labels)
        {
            return;
        }
        let entry = self.namespace_entry(name);
        let labels = Arc::new(labels);
        entry.labels = labels.clone();
        let ids: Vec<PodId> = entry.pods.values().copied().collect();
        let admin = self.admin_order.clone();
        let baseline = self.baseline_order.clone();
        for id in ids {
            let pod = self.pod_mut(id);
            pod.namespace_labels = labels.clone();
            compute_admin(pod, &admin, &baseline);
        }
    }

    /// Fills a fresh record's selection lists from the current policies.
    fn compute_selection(&self, pod: &mut PodRecord) {
        pod.np_ingress.clear();
        pod.np_egress.clear();
        if !pod.host_network
            && let Some(ns) = self.namespaces.get(&pod.namespace)
        {
            for np in ns.policies.values() {
                if np.isolates(&pod.labels, Direction::Ingress) {
                    pod.np_ingress.push(np.clone());
                }
                if np.isolates(&pod.labels, Direction::Egress) {
                    pod.np_egress.push(np.clone());
                }
            }
        }
        compute_admin(pod, &self.admin_order, &self.baseline_order);
    }

    /// Replaces (or removes, with `None`) one NetworkPolicy in a pod's lists.
    fn update_np_selection(
        &mut self,
        id: PodId,
        name: &Arc<str>,
        policy: Option<&Arc<NetworkPolicyRules>>,
    ) {
        let pod = self.pod(id);
        let had = pod
            .np_ingress
            .iter()
            .chain(&pod.np_egress)
            .any(|p| p.name == *name);
        let ingress = !pod.host_network
            && policy.is_some_and(|p| p.isolates(&pod.labels, Direction::Ingress));
        let egress =
            !pod.host_network && policy.is_some_and(|p| p.isolates(&pod.labels, Direction::Egress));
        if !had && !ingress && !egress {
            return;
        }
        let pod = self.pod_mut(id);
        for (list, selected) in [(&mut pod.np_ingress, ingress), (&mut pod.np_egress, egress)] {
            list.retain(|p| p.name != *name);
            if selected && let Some(policy) = policy {
                let at = list.partition_point(|p| p.name < *name);
                list.insert(at, policy.clone());
            }
        }
    }

    /// Rebuilds both tiers' evaluation orders from the policy maps.
    fn rebuild_tier_order(&mut self) {
        let mut admin: Vec<Arc<AdminPolicy>> = Vec::new();
        let mut baseline: Vec<Arc<AdminPolicy>> = Vec::new();
        for p in self
            .admin
            .values()
            .chain(self.cluster.values())
            .chain(self.baseline.iter())
        {
            match p.tier {
                PolicyTier::Admin => admin.push(p.clone()),
                PolicyTier::Baseline => baseline.push(p.clone()),
            }
        }
        admin.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        baseline.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        self.admin_order = admin;
        self.baseline_order = baseline;
    }

    /// Pods of the namespaces where `old` or `new` could select anything: by the invariant
    /// that a pod's lists hold exactly the policies selecting it, pods elsewhere neither had
    /// the old version nor get the new one.
    fn candidate_pods(&self, old: Option<&AdminPolicy>, new: Option<&AdminPolicy>) -> Vec<PodId> {
        let mut ids = Vec::new();
        for entry in self.namespaces.values() {
            let may = |p: Option<&AdminPolicy>| p.is_some_and(|p| p.may_select_in(&entry.labels));
            if may(old) || may(new) {
                ids.extend(entry.pods.values().copied());
            }
        }
        ids
    }

    /// Replaces `old` with `new` (either may be absent; both are the object of `kind` named
    /// `name`) in the tier lists of the pods they select. The new version goes into its own
    /// tier's list, so a ClusterNetworkPolicy whose tier changed moves.
    fn update_tier_selection(
        &mut self,
        kind: PolicyKind,
        name: &str,
        old: Option<&AdminPolicy>,
        policy: Option<&Arc<AdminPolicy>>,
    ) {
        for id in self.candidate_pods(old, policy.map(|p| &**p)) {
            let pod = self.pod(id);
            let had = pod
                .admin
                .iter()
                .chain(&pod.baseline)
                .any(|p| p.is(kind, name));
            let selected = policy
                .is_some_and(|p| p.selects(&pod.labels, &pod.namespace_labels, pod.host_network));
            if !had && !selected {
                continue;
            }
            let pod = self.pod_mut(id);
            pod.admin.retain(|p| !p.is(kind, name));
            pod.baseline.retain(|p| !p.is(kind, name));
            if selected && let Some(policy) = policy {
                let list = match policy.tier {
                    PolicyTier::Admin => &mut pod.admin,
                    PolicyTier::Baseline => &mut pod.baseline,
                };
                let key = policy.order_key();
                let at = list.partition_point(|p| p.order_key() < key);
                list.insert(at, policy.clone());
            }
        }
    }

    /// Adds a pod's node membership, and its addresses when `addresses`, to the lookup maps.
    fn link_pod(&mut self, id: PodId, addresses: bool) {
        let pod = self.pod(id);
        let (ips, host_network, node) = (pod.ips.clone(), pod.host_network, pod.node.clone());
        let running = pod.running;
        let map = if host_network {
            &mut self.host_ips
        } else {
            &mut self.pod_by_ip
        };
        for ip in ips.iter().filter(|_| addresses) {
            match map.get_mut(ip) {
                Some(owners) => owners.push(id, running),
                None => {
                    map.insert(*ip, Owners::new(id, running));
                }
            }
        }
        if let Some(node) = node {
            Arc::make_mut(self.pods_by_node.entry(node).or_default()).insert(id);
        }
    }

    /// Copies a pod's running flag to its claims on its addresses, keeping their places.
    fn set_claims_running(&mut self, id: PodId) {
        let pod = self.pod(id);
        let (ips, running, host_network) = (pod.ips.clone(), pod.running, pod.host_network);
        let map = if host_network {
            &mut self.host_ips
        } else {
            &mut self.pod_by_ip
        };
        for ip in &ips {
            if let Some(owners) = map.get_mut(ip) {
                owners.set_running(id, running);
            }
        }
    }

    /// Removes a pod's node membership, and its addresses when `addresses`, from the lookup
    /// maps.
    fn unlink_pod(&mut self, id: PodId, addresses: bool) {
        let pod = self.pod(id);
        let (ips, host_network, node) = (pod.ips.clone(), pod.host_network, pod.node.clone());
        let map = if host_network {
            &mut self.host_ips
        } else {
            &mut self.pod_by_ip
        };
        for ip in ips.iter().filter(|_| addresses) {
            if map.get_mut(ip).is_some_and(|owners| owners.remove(id)) {
                map.remove(ip);
            }
        }
        if let Some(node) = &node
            && let Some(set) = self.pods_by_node.get_mut(node)
        {
            let set = Arc::make_mut(set);
            set.remove(&id);
            if set.is_empty() {
                self.pods_by_node.remove(node);
            }
        }
    }

    fn delete_node_addresses(&mut self, name: &str) {
        let Some(old) = self.nodes.get(name).cloned() else {
            return;
        };
        for ip in &old.ips {
            if let Some(names) = self.node_by_ip.get_mut(ip) {
                names.retain(|n| &**n != name);
                if names.is_empty() {
                    self.node_by_ip.remove(ip);
                }
            }
        }
    }
}

/// Recomputes a pod's Admin-tier and Baseline-tier lists.
fn compute_admin(
    pod: &mut PodRecord,
    admin_order: &[Arc<AdminPolicy>],
    baseline_order: &[Arc<AdminPolicy>],
) {
    pod.admin.clear();
    pod.baseline.clear();
    for p in admin_order {
        if p.selects(&pod.labels, &pod.namespace_labels, pod.host_network) {
            pod.admin.push(p.clone());
        }
    }
    for p in baseline_order {
        if p.selects(&pod.labels, &pod.namespace_labels, pod.host_network) {
            pod.baseline.push(p.clone());
        }
    }
}

// ---- read access for the policy catalog (catalog.rs) ----------------------------------

impl Index {
    /// Every compiled NetworkPolicy, by namespace then name.
    pub(crate) fn network_policy_records(&self) -> Vec<&NetworkPolicyRules> {
        let mut namespaces: Vec<_> = self.namespaces.iter().collect();
        namespaces.sort_by(|a, b| a.0.cmp(b.0));
        namespaces
            .into_iter()
            .flat_map(|(_, ns)| ns.policies.values().map(|p| &**p))
            .collect()
    }

    /// The Admin tier (ANPs and Admin-tier CNPs) and the Baseline tier (Baseline-tier CNPs,
    /// then the BANP), each in evaluation order.
    pub(crate) fn admin_records(&self) -> (&[Arc<AdminPolicy>], &[Arc<AdminPolicy>]) {
        (&self.admin_order, &self.baseline_order)
    }

    /// The pods scheduled on `node`.
    pub(crate) fn pods_on_node(&self, node: &str) -> impl Iterator<Item = &PodRecord> {
        self.pods_by_node
            .get(node)
            .into_iter()
            .flat_map(|s| s.iter())
            .map(|id| self.pod(*id))
    }
}
