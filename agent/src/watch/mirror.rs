//! The pure half of the watch loop: watcher events in, index mutations out.
//!
//! A [`Mirror`] remembers which objects of each kind it has handed to the index, so that a relist
//! (`Init` … `InitApply` … `InitDone`, which kube-runtime emits at start and after a watch gap
//! such as an API server outage) deletes exactly the objects that vanished meanwhile. It also
//! tracks which kinds have completed their first list, which gates readiness.

use std::collections::{BTreeMap, BTreeSet};

use verdict_engine::{ClusterObject, Index};

use super::{Kind, ObjectKey, Update};

/// What a [`Mirror`] drives. [`Index`] is the real one; tests record calls.
pub trait IndexSink {
    /// Adds or replaces one object.
    ///
    /// # Errors
    /// The engine's reason for rejecting an invalid object.
    fn apply(&mut self, object: &ClusterObject) -> verdict_engine::Result<()>;
    /// Removes one object; false if it was not there.
    fn delete(&mut self, kind: Kind, key: &ObjectKey) -> bool;
}

impl IndexSink for Index {
    fn apply(&mut self, object: &ClusterObject) -> verdict_engine::Result<()> {
        Index::apply(self, object)
    }

    fn delete(&mut self, kind: Kind, key: &ObjectKey) -> bool {
        let ns = key.namespace.as_deref().unwrap_or("");
        match kind {
            Kind::Namespace => self.delete_namespace(&key.name),
            Kind::Pod => self.delete_pod(ns, &key.name),
            Kind::Node => self.delete_node(&key.name),
            Kind::NetworkPolicy => self.delete_network_policy(ns, &key.name),
            Kind::AdminNetworkPolicy => self.delete_admin_network_policy(&key.name),
            Kind::BaselineAdminNetworkPolicy => {
                self.delete_baseline_admin_network_policy(&key.name)
            }
            Kind::ClusterNetworkPolicy => self.delete_cluster_network_policy(&key.name),
        }
    }
}

/// What handling one update did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The index changed (an apply, even a rejected one, counts: the engine may have dropped the
    /// old version).
    pub changed: bool,
    /// This update completed the kind's first list.
    pub first_sync: Option<Kind>,
    /// The engine rejected the object; `(kind, key, reason)`.
    pub rejected: Option<(Kind, ObjectKey, String)>,
}

/// The event-to-index state machine. See the module doc.
#[derive(Debug)]
pub struct Mirror<S> {
    sink: S,
    known: BTreeMap<Kind, BTreeSet<ObjectKey>>,
    /// Keys listed so far in a relist in progress, per kind.
    relisting: BTreeMap<Kind, BTreeSet<ObjectKey>>,
    synced: BTreeSet<Kind>,
}

impl<S: IndexSink> Mirror<S> {
    /// A mirror over `sink`, which must be empty.
    pub fn new(sink: S) -> Self {
        Mirror {
            sink,
            known: BTreeMap::new(),
            relisting: BTreeMap::new(),
            synced: BTreeSet::new(),
        }
    }

    /// The index being driven.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Whether every kind in `kinds` has completed its first list.
    pub fn synced(&self, kinds: &[Kind]) -> bool {
        kinds.iter().all(|k| self.synced.contains(k))
    }

    /// How many objects of `kind` the index holds.
    pub fn count(&self, kind: Kind) -> usize {
        self.known.get(&kind).map_or(0, BTreeSet::len)
    }

    /// Handles one update.
    pub fn handle(&mut self, update: Update) -> Outcome {
        let mut out = Outcome::default();
        match update {
            Update::Init(kind) => {
                self.relisting.insert(kind, BTreeSet::new());
            }
            Update::InitApply(object) => {
                let (kind, key) = identify(&object);
                if let Some(seen) = self.relisting.get_mut(&kind) {
                    seen.insert(key.clone());
                }
                self.apply(kind, key, &object, &mut out);
            }
            Update::InitDone(kind) => self.finish_relist(kind, &mut out),
            Update::Absent(kind) => {
                // Same as an empty relist: everything of this kind goes.
                self.relisting.insert(kind, BTreeSet::new());
                self.finish_relist(kind, &mut out);
            }
            Update::Apply(object) => {
                let (kind, key) = identify(&object);
                self.apply(kind, key, &object, &mut out);
            }
            Update::Delete(kind, key) => {
                let was_known = self.known.get_mut(&kind).is_some_and(|ks| ks.remove(&key));
                if let Some(seen) = self.relisting.get_mut(&kind) {
                    seen.remove(&key);
                }
                out.changed = self.sink.delete(kind, &key) || was_known;
            }
        }
        out
    }

    fn apply(&mut self, kind: Kind, key: ObjectKey, object: &ClusterObject, out: &mut Outcome) {
        out.changed = true;
        if let Err(e) = self.sink.apply(object) {
            out.rejected = Some((kind, key.clone(), e.to_string()));
        }
        // Remember even rejected objects: a later delete must still reach the engine.
        self.known.entry(kind).or_default().insert(key);
    }

    fn finish_relist(&mut self, kind: Kind, out: &mut Outcome) {
        let seen = self.relisting.remove(&kind).unwrap_or_default();
        let known = self.known.entry(kind).or_default();
        let gone: Vec<ObjectKey> = known.difference(&seen).cloned().collect();
        for key in gone {
            known.remove(&key);
            self.sink.delete(kind, &key);
            out.changed = true;
        }
        if self.synced.insert(kind) {
            out.first_sync = Some(kind);
            // The first list of a kind changes what "everything synced" means.
            out.changed = true;
        }
    }
}

/// The kind and key of an object.
pub fn identify(object: &ClusterObject) -> (Kind, ObjectKey) {
    let (kind, meta) = match object {
        ClusterObject::Namespace(o) => (Kind::Namespace, &o.metadata),
        ClusterObject::Pod(o) => (Kind::Pod, &o.metadata),
        ClusterObject::Node(o) => (Kind::Node, &o.metadata),
        ClusterObject::NetworkPolicy(o) => (Kind::NetworkPolicy, &o.metadata),
        ClusterObject::AdminNetworkPolicy(o) => (Kind::AdminNetworkPolicy, &o.metadata),
        ClusterObject::BaselineAdminNetworkPolicy(o) => {
            (Kind::BaselineAdminNetworkPolicy, &o.metadata)
        }
        ClusterObject::ClusterNetworkPolicy(o) => (Kind::ClusterNetworkPolicy, &o.metadata),
    };
    let namespace = if kind.namespaced() {
        meta.namespace.clone()
    } else {
        None
    };
    (
        kind,
        ObjectKey {
            namespace,
            name: meta.name.clone().unwrap_or_default(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use pretty_assertions::assert_eq;

    /// Records what reaches the index, as `+Kind/key` and `-Kind/key`.
    #[derive(Default)]
    struct Recorder {
        log: Vec<String>,
        reject: Option<&'static str>,
    }

    impl IndexSink for Recorder {
        fn apply(&mut self, object: &ClusterObject) -> verdict_engine::Result<()> {
            let (kind, key) = identify(object);
            self.log.push(format!("+{kind:?}/{key}"));
            match self.reject {
                Some(name) if name == key.name => Err(verdict_engine::Error::InvalidField {
                    object: key.to_string(),
                    field: "spec".into(),
                    message: "bad".into(),
                }),
                _ => Ok(()),
            }
        }

        fn delete(&mut self, kind: Kind, key: &ObjectKey) -> bool {
            self.log.push(format!("-{kind:?}/{key}"));
            true
        }
    }

    fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: ns.map(Into::into),
            ..ObjectMeta::default()
        }
    }
    fn pod(ns: &str, name: &str) -> ClusterObject {
        ClusterObject::Pod(Pod {
            metadata: meta(Some(ns), name),
            ..Pod::default()
        })
    }
    fn ns(name: &str) -> ClusterObject {
        ClusterObject::Namespace(Namespace {
            metadata: meta(None, name),
            ..Namespace::default()
        })
    }
    fn np(ns: &str, name: &str) -> ClusterObject {
        ClusterObject::NetworkPolicy(NetworkPolicy {
            metadata: meta(Some(ns), name),
            ..NetworkPolicy::default()
        })
    }
    fn key(ns: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey {
            namespace: ns.map(Into::into),
            name: name.into(),
        }
    }

    struct Case {
        name: &'static str,
        updates: Vec<Update>,
        /// Index calls made by the last update batch only (after `setup` updates).
        want_log: Vec<&'static str>,
        want_synced: bool,
    }

    fn run(case: Case, setup: Vec<Update>) {
        let mut m = Mirror::new(Recorder::default());
        for u in setup {
            m.handle(u);
        }
        m.sink.log.clear();
        for u in case.updates {
            m.handle(u);
        }
        assert_eq!(m.sink.log, case.want_log, "{}", case.name);
        assert_eq!(
            m.synced(&[Kind::Pod]),
            case.want_synced,
            "{}: synced",
            case.name
        );
    }

    fn initial_pods() -> Vec<Update> {
        vec![
            Update::Init(Kind::Pod),
            Update::InitApply(pod("x", "a")),
            Update::InitApply(pod("x", "b")),
            Update::InitDone(Kind::Pod),
        ]
    }

    #[test]
    fn event_sequences() {
        let cases = vec![
            (
                Case {
                    name: "first list applies every object and syncs",
                    updates: initial_pods(),
                    want_log: vec!["+Pod/x/a", "+Pod/x/b"],
                    want_synced: true,
                },
                vec![],
            ),
            (
                Case {
                    name: "not synced until InitDone",
                    updates: vec![Update::Init(Kind::Pod), Update::InitApply(pod("x", "a"))],
                    want_log: vec!["+Pod/x/a"],
                    want_synced: false,
                },
                vec![],
            ),
            (
                Case {
                    name: "relist deletes objects that vanished during a gap",
                    updates: vec![
                        Update::Init(Kind::Pod),
                        Update::InitApply(pod("x", "b")),
                        Update::InitApply(pod("x", "c")),
                        Update::InitDone(Kind::Pod),
                    ],
                    want_log: vec!["+Pod/x/b", "+Pod/x/c", "-Pod/x/a"],
                    want_synced: true,
                },
                initial_pods(),
            ),
            (
                Case {
                    name: "apply and delete pass through",
                    updates: vec![
                        Update::Apply(pod("x", "c")),
                        Update::Delete(Kind::Pod, key(Some("x"), "a")),
                    ],
                    want_log: vec!["+Pod/x/c", "-Pod/x/a"],
                    want_synced: true,
                },
                initial_pods(),
            ),
            (
                Case {
                    name: "delete during relist is not deleted again at InitDone",
                    updates: vec![
                        Update::Init(Kind::Pod),
                        Update::InitApply(pod("x", "a")),
                        Update::Delete(Kind::Pod, key(Some("x"), "a")),
                        Update::InitApply(pod("x", "b")),
                        Update::InitDone(Kind::Pod),
                    ],
                    want_log: vec!["+Pod/x/a", "-Pod/x/a", "+Pod/x/b"],
                    want_synced: true,
                },
                initial_pods(),
            ),
            (
                Case {
                    name: "a relist of another kind leaves pods alone",
                    updates: vec![
                        Update::Init(Kind::NetworkPolicy),
                        Update::InitApply(np("x", "deny")),
                        Update::InitDone(Kind::NetworkPolicy),
                    ],
                    want_log: vec!["+NetworkPolicy/x/deny"],
                    want_synced: true,
                },
                initial_pods(),
            ),
            (
                Case {
                    name: "absent CRD deletes its objects and counts as synced",
                    updates: vec![Update::Absent(Kind::NetworkPolicy)],
                    want_log: vec!["-NetworkPolicy/x/deny"],
                    want_synced: true,
                },
                {
                    let mut v = initial_pods();
                    v.push(Update::Apply(np("x", "deny")));
                    v
                },
            ),
            (
                Case {
                    name: "cluster-scoped keys ignore a namespace",
                    updates: vec![
                        Update::Apply(ns("x")),
                        Update::Delete(Kind::Namespace, key(None, "x")),
                    ],
                    want_log: vec!["+Namespace/x", "-Namespace/x"],
                    want_synced: false,
                },
                vec![],
            ),
        ];
        for (case, setup) in cases {
            run(case, setup);
        }
    }

    #[test]
    fn rejected_objects_are_reported_and_still_deleted_later() {
        let mut m = Mirror::new(Recorder {
            reject: Some("bad"),
            ..Recorder::default()
        });
        let out = m.handle(Update::Apply(np("x", "bad")));
        let (kind, k, reason) = out.rejected.expect("rejection reported");
        assert_eq!((kind, k), (Kind::NetworkPolicy, key(Some("x"), "bad")));
        assert!(reason.contains("bad"), "{reason}");
        m.handle(Update::Init(Kind::NetworkPolicy));
        m.handle(Update::InitDone(Kind::NetworkPolicy));
        assert_eq!(
            m.sink.log,
            vec!["+NetworkPolicy/x/bad", "-NetworkPolicy/x/bad"]
        );
    }

    #[test]
    fn outcomes_report_change_and_first_sync() {
        let mut m = Mirror::new(Recorder::default());
        assert_eq!(
            m.handle(Update::Init(Kind::Node)),
            Outcome::default(),
            "init alone"
        );
        let done = m.handle(Update::InitDone(Kind::Node));
        assert_eq!(done.first_sync, Some(Kind::Node), "first InitDone");
        assert!(done.changed, "first sync is a change");
        m.handle(Update::Init(Kind::Node));
        let again = m.handle(Update::InitDone(Kind::Node));
        assert_eq!(
            again,
            Outcome::default(),
            "an empty relist of an empty kind changes nothing"
        );
        assert_eq!(m.count(Kind::Node), 0);
    }
}
