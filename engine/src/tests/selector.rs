use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::Error;
use crate::labels::Labels;
use crate::object::ObjectName;
use crate::selector::Selector;
use crate::testing::{expr, sel};

fn parse(s: &LabelSelector) -> crate::Result<Selector> {
    Selector::parse(
        s,
        &ObjectName::namespaced("NetworkPolicy", "x", "p"),
        "spec.podSelector",
    )
}

#[test]
fn matching_table() {
    let labels = Labels::from_pairs([("app", "web"), ("tier", "front")]);
    let both = LabelSelector {
        match_labels: sel([("app", "web")]).match_labels,
        match_expressions: expr("tier", "In", &["back"]).match_expressions,
    };
    let cases: &[(&str, LabelSelector, bool)] = &[
        ("empty selects everything", sel([]), true),
        ("matchLabels equal", sel([("app", "web")]), true),
        ("matchLabels different value", sel([("app", "db")]), false),
        ("matchLabels missing key", sel([("zone", "1")]), false),
        (
            "matchLabels all must hold",
            sel([("app", "web"), ("tier", "back")]),
            false,
        ),
        ("In hit", expr("app", "In", &["db", "web"]), true),
        ("In miss", expr("app", "In", &["db"]), false),
        ("In missing key", expr("zone", "In", &["1"]), false),
        ("NotIn hit", expr("app", "NotIn", &["web"]), false),
        ("NotIn miss", expr("app", "NotIn", &["db"]), true),
        (
            "NotIn missing key matches",
            expr("zone", "NotIn", &["1"]),
            true,
        ),
        ("Exists present", expr("app", "Exists", &[]), true),
        ("Exists absent", expr("zone", "Exists", &[]), false),
        (
            "DoesNotExist present",
            expr("app", "DoesNotExist", &[]),
            false,
        ),
        (
            "DoesNotExist absent",
            expr("zone", "DoesNotExist", &[]),
            true,
        ),
        ("labels and expressions are ANDed", both, false),
    ];
    for (name, selector, want) in cases {
        let parsed = parse(selector).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.matches(&labels), *want, "case {name:?}");
    }
}

fn requirement(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelector {
    LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }]),
    }
}

#[test]
fn validation_table() {
    let cases: &[(&str, LabelSelector, &str)] = &[
        (
            "unknown operator",
            requirement("app", "Equals", Some(&["x"])),
            "spec.podSelector.matchExpressions[0].operator",
        ),
        (
            "In without values",
            requirement("app", "In", None),
            "spec.podSelector.matchExpressions[0].values",
        ),
        (
            "NotIn with empty values",
            requirement("app", "NotIn", Some(&[])),
            "spec.podSelector.matchExpressions[0].values",
        ),
        (
            "Exists with values",
            requirement("app", "Exists", Some(&["x"])),
            "spec.podSelector.matchExpressions[0].values",
        ),
        (
            "DoesNotExist with values",
            requirement("app", "DoesNotExist", Some(&["x"])),
            "spec.podSelector.matchExpressions[0].values",
        ),
        (
            "bad key",
            requirement("-app", "Exists", None),
            "spec.podSelector.matchExpressions[0].key",
        ),
        (
            "bad key prefix",
            requirement("Bad_Prefix/app", "Exists", None),
            "spec.podSelector.matchExpressions[0].key",
        ),
        (
            "bad value in In",
            requirement("app", "In", Some(&["not valid!"])),
            "spec.podSelector.matchExpressions[0].values[0]",
        ),
        (
            "bad matchLabels value",
            sel([("app", "-x-")]),
            "spec.podSelector.matchLabels",
        ),
    ];
    for (name, selector, field) in cases {
        match parse(selector) {
            Err(Error::InvalidSelector {
                object, field: got, ..
            }) => {
                assert_eq!(object, "NetworkPolicy x/p", "case {name:?}");
                assert_eq!(got, *field, "case {name:?}");
            }
            other => panic!("case {name:?}: expected InvalidSelector, got {other:?}"),
        }
    }
}

#[test]
fn valid_keys_with_prefixes_parse() {
    for key in [
        "app",
        "app.kubernetes.io/name",
        "kubernetes.io/metadata.name",
        "a_b.c-d",
    ] {
        assert!(
            parse(&requirement(key, "Exists", None)).is_ok(),
            "key {key:?}"
        );
    }
}
