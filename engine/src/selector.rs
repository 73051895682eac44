//! Label selectors, parsed and validated once, matched without allocating.
//!
//! Semantics are `metav1.LabelSelector`: `matchLabels` and every `matchExpressions` entry are
//! ANDed; an empty selector matches everything. Validation follows the API server's
//! `ValidateLabelSelector`, so an object it would reject is rejected here too.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::Result;
use crate::labels::{Labels, hash_str};
use crate::object::ObjectName;

/// A parsed label selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Box<[Requirement]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key_hash: u64,
    key: Arc<str>,
    op: Op,
}

/// A value to compare with, and its hash (compared first).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Value {
    hash: u64,
    text: Arc<str>,
}

impl Value {
    fn new(text: &str) -> Self {
        Value {
            hash: hash_str(text),
            text: Arc::from(text),
        }
    }

    fn is(&self, hash: u64, text: &str) -> bool {
        self.hash == hash && &*self.text == text
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Equals(Value),
    In(Box<[Value]>),
    NotIn(Box<[Value]>),
    Exists,
    DoesNotExist,
}

impl Selector {
    /// The selector that matches every label set.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// True for the empty selector, which matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses and validates `selector`. `field` is its JSON path inside `object`, used in errors.
    pub(crate) fn parse(
        selector: &LabelSelector,
        object: &ObjectName,
        field: &str,
    ) -> Result<Self> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            let path = format!("{field}.matchLabels");
            check_key(key, object, &path)?;
            check_value(value, object, &path)?;
            requirements.push(Requirement {
                key_hash: hash_str(key),
                key: Arc::from(key.as_str()),
                op: Op::Equals(Value::new(value)),
            });
        }
        for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
            let path = format!("{field}.matchExpressions[{i}]");
            check_key(&expr.key, object, &format!("{path}.key"))?;
            let values = expr.values.as_deref().unwrap_or_default();
            let op = match expr.operator.as_str() {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        return Err(object.selector(
                            &format!("{path}.values"),
                            format!("must be specified when operator is {}", expr.operator),
                        ));
                    }
                    for (j, v) in values.iter().enumerate() {
                        check_value(v, object, &format!("{path}.values[{j}]"))?;
                    }
                    let mut list: Vec<Value> = Vec::with_capacity(values.len());
                    for v in values {
                        if !list.iter().any(|x| &*x.text == v.as_str()) {
                            list.push(Value::new(v));
                        }
                    }
                    if expr.operator == "In" {
                        Op::In(list.into())
                    } else {
                        Op::NotIn(list.into())
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        return Err(object.selector(
                            &format!("{path}.values"),
                            format!("may not be specified when operator is {}", expr.operator),
                        ));
                    }
                    if expr.operator == "Exists" {
                        Op::Exists
                    } else {
                        Op::DoesNotExist
                    }
                }
                other => {
                    return Err(object.selector(
                        &format!("{path}.operator"),
                        format!(
                            "unsupported operator {other:?}: expected In, NotIn, Exists or DoesNotExist"
                        ),
                    ));
                }
            };
            requirements.push(Requirement {
                key_hash: hash_str(&expr.key),
                key: Arc::from(expr.key.as_str()),
                op,
            });
        }
        Ok(Selector {
            requirements: requirements.into(),
        })
    }

    /// True when `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.lookup(r.key_hash, &r.key);
            match &r.op {
                Op::Equals(want) => value.is_some_and(|(h, v)| want.is(h, v)),
                Op::In(set) => value.is_some_and(|(h, v)| set.iter().any(|x| x.is(h, v))),
                Op::NotIn(set) => value.is_none_or(|(h, v)| !set.iter().any(|x| x.is(h, v))),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters.
fn check_key(key: &str, object: &ObjectName, field: &str) -> Result<()> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Err(object.selector(
            field,
            format!("invalid label key {key:?}: the prefix must be a DNS subdomain"),
        ));
    }
    if name.is_empty() || !is_label_name(name) {
        return Err(object.selector(
            field,
            format!(
                "invalid label key {key:?}: the name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
            ),
        ));
    }
    Ok(())
}

/// A label value: empty, or up to 63 characters like a key's name part.
fn check_value(value: &str, object: &ObjectName, field: &str) -> Result<()> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(object.selector(
            field,
            format!(
                "invalid label value {value:?}: must be at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
            ),
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && !s.is_empty()
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}
