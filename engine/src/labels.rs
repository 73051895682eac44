//! Label sets in a compact form that selectors match against without allocating.
//!
//! All keys and values of one set live in a single string, and each entry carries hashes of
//! its key and value, so a lookup scans one small contiguous array and touches the text only
//! to confirm a hash hit. On the packet path this keeps label matching to a cache line or two
//! per pod instead of one pointer chase per label.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher;

use rustc_hash::FxHasher;

/// The label every namespace carries, set by the API server to the namespace's name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Hash used to pre-filter label comparisons (a hit is always confirmed on the text).
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.write_u8(0xff);
    h.finish()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Entry {
    key_hash: u64,
    value_hash: u64,
    key_start: u32,
    key_end: u32,
    value_end: u32,
}

/// An immutable label set, sorted by key.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Labels {
    entries: Box<[Entry]>,
    text: Box<str>,
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Labels {
    /// Builds a label set from the API's map.
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
        let mut text = String::with_capacity(sorted.iter().map(|(k, v)| k.len() + v.len()).sum());
        let mut entries = Vec::with_capacity(sorted.len());
        for (k, v) in sorted {
            let key_start = offset(text.len());
            text.push_str(k);
            let key_end = offset(text.len());
            text.push_str(v);
            entries.push(Entry {
                key_hash: hash_str(k),
                value_hash: hash_str(v),
                key_start,
                key_end,
                value_end: offset(text.len()),
            });
        }
        Labels {
            entries: entries.into(),
            text: text.into(),
        }
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
        self.lookup(hash_str(key), key).map(|(_, v)| v)
    }

    /// The value hash and value of `key`, whose hash is `key_hash`.
    pub(crate) fn lookup(&self, key_hash: u64, key: &str) -> Option<(u64, &str)> {
        self.entries
            .iter()
            .find(|e| e.key_hash == key_hash && self.key_of(e) == key)
            .map(|e| (e.value_hash, self.value_of(e)))
    }

    fn key_of(&self, e: &Entry) -> &str {
        &self.text[e.key_start as usize..e.key_end as usize]
    }

    fn value_of(&self, e: &Entry) -> &str {
        &self.text[e.key_end as usize..e.value_end as usize]
    }

    /// Iterates the pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (self.key_of(e), self.value_of(e)))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn offset(len: usize) -> u32 {
    // Kubernetes caps all labels of an object at 256 KiB, far below u32::MAX.
    u32::try_from(len).expect("label text under 4 GiB")
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

    #[test]
    fn lookup_table() {
        let labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("ab", ""), ("a", "3")]);
        let cases = [
            ("later duplicate wins", "a", Some("3")),
            ("empty value", "ab", Some("")),
            ("plain", "b", Some("2")),
            ("prefix of a key is not a key", "", None),
            ("missing", "c", None),
        ];
        for (name, key, want) in cases {
            assert_eq!(labels.get(key), want, "case {name:?}");
        }
        let pairs: Vec<_> = labels.iter().collect();
        assert_eq!(pairs, [("a", "3"), ("ab", ""), ("b", "2")]);
    }
}
