//! Label sets in a compact, sorted form that selectors match against without allocating.

use std::collections::BTreeMap;
use std::sync::Arc;

/// The label every namespace carries, set by the API server to the namespace's name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// An immutable label set, sorted by key so lookups are a binary search.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Labels(Box<[(Arc<str>, Arc<str>)]>);

impl Labels {
    /// Builds a label set from the API's map (already sorted by key).
    pub fn from_map(map: Option<&BTreeMap<String, String>>) -> Self {
        Self::from_pairs(
            map.into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// Builds a label set from pairs in any order; a later duplicate key wins.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut sorted: BTreeMap<&str, &str> = BTreeMap::new();
        for (k, v) in pairs {
            sorted.insert(k, v);
        }
        Labels(
            sorted
                .into_iter()
                .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                .collect(),
        )
    }

    /// The labels of a namespace: its own, plus `kubernetes.io/metadata.name`, which the API
    /// server always sets (objects read from files may lack it).
    pub fn for_namespace(name: &str, map: Option<&BTreeMap<String, String>>) -> Self {
        let own = map
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        Self::from_pairs(own.chain([(NAMESPACE_NAME_LABEL, name)]))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_ref())
    }

    /// Iterates the pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_labels_always_carry_the_name_label() {
        let labels = Labels::for_namespace("x", None);
        assert_eq!(labels.get(NAMESPACE_NAME_LABEL), Some("x"));
        assert_eq!(labels.len(), 1);
    }

    #[test]
    fn namespace_name_label_cannot_be_spoofed() {
        let mut map = BTreeMap::new();
        map.insert(NAMESPACE_NAME_LABEL.to_string(), "other".to_string());
        map.insert("team".to_string(), "a".to_string());
        let labels = Labels::for_namespace("x", Some(&map));
        assert_eq!(labels.get(NAMESPACE_NAME_LABEL), Some("x"));
        assert_eq!(labels.get("team"), Some("a"));
        assert_eq!(labels.get("missing"), None);
    }
}
