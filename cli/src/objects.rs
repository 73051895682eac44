//! Turning documents into typed cluster objects: `kind: List` expansion, kind dispatch,
//! typed decoding with the failing field named, and warnings for kinds we do not simulate.

use serde::de::DeserializeOwned;
use serde_json::Value;
use verdict_engine::ClusterObject;

use crate::error::{Error, Result};
use crate::input::{Document, Location};

/// A typed object and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Where it came from.
    pub location: Location,
    /// The object.
    pub object: ClusterObject,
}

/// The kinds the simulator reads, with the API version it reads them in.
const KINDS: [(&str, &str); 8] = [
    ("v1", "Namespace"),
    ("v1", "Pod"),
    ("v1", "Node"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"),
    (
        "policy.networking.k8s.io/v1alpha1",
        "BaselineAdminNetworkPolicy",
    ),
    // Both served versions of ClusterNetworkPolicy share one schema (v1beta1 is stored).
    ("policy.networking.k8s.io/v1beta1", "ClusterNetworkPolicy"),
    ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"),
];

/// The kinds that live in a namespace (and default to `default`).
fn is_namespaced(kind: &str) -> bool {
    matches!(kind, "Pod" | "NetworkPolicy")
}

/// Types one document. A `List` (or `PodList`, ...) yields its items; an unknown kind yields
/// nothing and a warning.
///
/// # Errors
/// [`Error::Invalid`] for a document that is not a Kubernetes object or has no name,
/// [`Error::Decode`] for a field of the wrong type.
pub fn objects(doc: Document, warnings: &mut Vec<String>) -> Result<Vec<Loaded>> {
    let Document {
        location,
        mut value,
    } = doc;
    let kind = string_field(&value, "kind");
    let is_list = kind.as_deref() == Some("List")
        || kind.as_deref().is_some_and(|k| k.ends_with("List")) && value.get("items").is_some();
    if !is_list {
        return Ok(one(location, value, warnings)?.into_iter().collect());
    }
    let list_kind = kind.unwrap_or_default();
    let item_kind = list_kind
        .strip_suffix("List")
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let api_version = string_field(&value, "apiVersion");
    let Some(Value::Array(items)) = value.as_object_mut().and_then(|m| m.remove("items")) else {
        return Err(invalid(
            &location,
            "document",
            "items",
            "a List needs an items array",
        ));
    };
    let mut out = Vec::new();
    for (index, mut item) in items.into_iter().enumerate() {
        let location = location.item(index);
        let Some(map) = item.as_object_mut() else {
            return Err(invalid(
                &location,
                "document",
                "(item)",
                "expected an object",
            ));
        };
        // Typed lists (PodList from the API) leave kind and apiVersion off their items.
        if let Some(kind) = &item_kind {
            map.entry("kind").or_insert_with(|| kind.clone().into());
        }
        if let Some(api_version) = &api_version {
            map.entry("apiVersion")
                .or_insert_with(|| api_version.clone().into());
        }
        if string_field(&item, "kind").is_some_and(|k| k.ends_with("List")) {
            warnings.push(format!("{location}: skipping a List nested inside a List"));
            continue;
        }
        out.extend(one(location, item, warnings)?);
    }
    Ok(out)
}

/// Types one non-List object.
fn one(location: Location, value: Value, warnings: &mut Vec<String>) -> Result<Option<Loaded>> {
    if !value.is_object() {
        return Err(invalid(
            &location,
            "document",
            "(document)",
            "expected a Kubernetes object (a mapping with apiVersion and kind)",
        ));
    }
    let Some(kind) = string_field(&value, "kind") else {
        return Err(invalid(&location, "document", "kind", "missing kind"));
    };
    let Some(api_version) = string_field(&value, "apiVersion") else {
        return Err(invalid(
            &location,
            &kind,
            "apiVersion",
            "missing apiVersion",
        ));
    };
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str);
    let shown = if name.is_empty() {
        "(unnamed)"
    } else {
        name.as_str()
    };
    let label = match namespace {
        Some(namespace) => format!("{kind} {namespace}/{shown}"),
        None if is_namespaced(&kind) => format!("{kind} default/{shown}"),
        None => format!("{kind} {shown}"),
    };

    let versions: Vec<&str> = KINDS
        .iter()
        .filter(|(_, k)| *k == kind)
        .map(|(v, _)| *v)
        .collect();
    if versions.is_empty() {
        warnings.push(format!(
            "{location}: skipping {api_version} {label}: kube-verdict does not simulate this kind"
        ));
        return Ok(None);
    }
    if !versions.contains(&api_version.as_str()) {
        warnings.push(format!(
            "{location}: skipping {api_version} {label}: kube-verdict reads {kind} as {}",
            versions.join(" or ")
        ));
        return Ok(None);
    }
    if name.is_empty() {
        return Err(invalid(&location, &label, "metadata.name", "missing name"));
    }
    let object = match kind.as_str() {
        "Namespace" => ClusterObject::Namespace(decode(&location, &label, value)?),
        "Pod" => ClusterObject::Pod(decode(&location, &label, value)?),
        "Node" => ClusterObject::Node(decode(&location, &label, value)?),
        "NetworkPolicy" => ClusterObject::NetworkPolicy(decode(&location, &label, value)?),
        "AdminNetworkPolicy" => {
            ClusterObject::AdminNetworkPolicy(decode(&location, &label, value)?)
        }
        "ClusterNetworkPolicy" if api_version.ends_with("/v1alpha2") => {
            let old: verdict_crds::cluster_network_policy::v1alpha2::ClusterNetworkPolicy =
                decode(&location, &label, value)?;
            ClusterObject::ClusterNetworkPolicy(old.into())
        }
        "ClusterNetworkPolicy" => {
            ClusterObject::ClusterNetworkPolicy(decode(&location, &label, value)?)
        }
        _ => ClusterObject::BaselineAdminNetworkPolicy(decode(&location, &label, value)?),
    };
    Ok(Some(Loaded { location, object }))
}

fn decode<T: DeserializeOwned>(location: &Location, label: &str, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Error::Decode {
            location: location.clone(),
            object: label.to_owned(),
            field: if path == "." { "(object)".into() } else { path },
            source: e.into_inner(),
        }
    })
}

fn string_field(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn invalid(location: &Location, object: &str, field: &str, message: &str) -> Error {
    Error::Invalid {
        location: location.clone(),
        object: object.to_owned(),
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn doc(value: Value) -> Document {
        Document {
            location: Location {
                file: "f.yaml".into(),
                document: 1,
                item: None,
            },
            value,
        }
    }

    fn kinds(loaded: &[Loaded]) -> Vec<String> {
        loaded
            .iter()
            .map(|l| {
                let kind = match &l.object {
                    ClusterObject::Namespace(_) => "Namespace",
                    ClusterObject::Pod(_) => "Pod",
                    ClusterObject::Node(_) => "Node",
                    ClusterObject::NetworkPolicy(_) => "NetworkPolicy",
                    ClusterObject::AdminNetworkPolicy(_) => "AdminNetworkPolicy",
                    ClusterObject::BaselineAdminNetworkPolicy(_) => "BaselineAdminNetworkPolicy",
                    ClusterObject::ClusterNetworkPolicy(_) => "ClusterNetworkPolicy",
                };
                format!("{kind}@{}", l.location)
            })
            .collect()
    }

    #[test]
    fn every_supported_kind_decodes() {
        let cases = [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "status": {"podIP": "10.0.0.1"}}),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"}, "spec": {"podSelector": {}}}),
            json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy", "metadata": {"name": "a"},
                   "spec": {"priority": 1, "subject": {"namespaces": {}}}}),
            json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"},
                   "spec": {"subject": {"namespaces": {}}}}),
            json!({"apiVersion": "policy.networking.k8s.io/v1beta1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "c1"},
                   "spec": {"tier": "Admin", "priority": 5, "subject": {"namespaces": {}},
                            "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}}),
            json!({"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy", "metadata": {"name": "c2"},
                   "spec": {"tier": "Baseline", "priority": 5, "subject": {"namespaces": {}},
                            "ingress": [{"action": "Accept", "from": [{"namespaces": {}}]}]}}),
        ];
        let mut warnings = Vec::new();
        let got: Vec<String> = cases
            .into_iter()
            .flat_map(|v| kinds(&objects(doc(v), &mut warnings).unwrap()))
            .collect();
        assert_eq!(got.len(), 8, "{got:?}");
        assert_eq!(
            got.iter()
                .filter(|k| k.starts_with("ClusterNetworkPolicy@"))
                .count(),
            2,
            "both served versions of ClusterNetworkPolicy are read: {got:?}"
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut warnings = Vec::new();
        let old = json!({"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "ClusterNetworkPolicy", "metadata": {"name": "c"}});
        assert!(objects(doc(old), &mut warnings).unwrap().is_empty());
        assert!(
            warnings[0].contains("reads ClusterNetworkPolicy as policy.networking.k8s.io/v1beta1 or policy.networking.k8s.io/v1alpha2"),
            "{warnings:?}"
        );
    }

    #[test]
    fn lists_yield_items_with_their_index() {
        let list = json!({"apiVersion": "v1", "kind": "PodList", "items": [
            {"metadata": {"name": "a"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}},
            {"metadata": {"name": "b"}},
        ]});
        let mut warnings = Vec::new();
        let got = kinds(&objects(doc(list), &mut warnings).unwrap());
        assert_eq!(
            got,
            vec![
                "Pod@f.yaml: document 1, items[0]",
                "Pod@f.yaml: document 1, items[2]"
            ]
        );
        assert_eq!(
            warnings,
            vec![
                "f.yaml: document 1, items[1]: skipping apps/v1 Deployment d: kube-verdict does not simulate this kind"
            ]
        );
    }

    #[test]
    fn unknown_kinds_and_versions_warn() {
        let cases = [
            (
                "unknown kind",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}),
                "skipping v1 Service s: kube-verdict does not simulate this kind",
            ),
            (
                "other group",
                json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy", "metadata": {"name": "c", "namespace": "x"}}),
                "skipping crd.projectcalico.org/v1 NetworkPolicy x/c: kube-verdict reads NetworkPolicy as networking.k8s.io/v1",
            ),
        ];
        for (name, value, want) in cases {
            let mut warnings = Vec::new();
            assert!(
                objects(doc(value), &mut warnings).unwrap().is_empty(),
                "{name}"
            );
            assert_eq!(
                warnings,
                vec![format!("f.yaml: document 1: {want}")],
                "{name}"
            );
        }
    }

    #[test]
    fn invalid_documents_name_the_field() {
        let cases = [
            (
                "scalar",
                json!("hello"),
                "f.yaml: document 1: document: (document): expected a Kubernetes object (a mapping with apiVersion and kind)",
            ),
            (
                "no kind",
                json!({"apiVersion": "v1"}),
                "f.yaml: document 1: document: kind: missing kind",
            ),
            (
                "no apiVersion",
                json!({"kind": "Pod"}),
                "f.yaml: document 1: Pod: apiVersion: missing apiVersion",
            ),
            (
                "no name",
                json!({"apiVersion": "v1", "kind": "Node"}),
                "f.yaml: document 1: Node (unnamed): metadata.name: missing name",
            ),
            (
                "wrong type",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x", "labels": {"on": true}}}),
                "f.yaml: document 1: Pod x/a: metadata.labels.on",
            ),
            (
                "list without items",
                json!({"apiVersion": "v1", "kind": "List", "items": 3}),
                "f.yaml: document 1: document: items: a List needs an items array",
            ),
        ];
        for (name, value, want) in cases {
            let error = objects(doc(value), &mut Vec::new()).unwrap_err();
            assert_eq!(error.to_string(), want, "{name}");
        }
    }
}
