//! Naming the object and field an error is about (`NetworkPolicy x/deny-all`,
//! `spec.ingress[0].from[1].podSelector`).

use crate::error::Error;

/// The object being compiled, used to build errors that name it.
#[derive(Clone, Debug)]
pub(crate) struct ObjectName(pub(crate) String);

impl ObjectName {
    /// `Kind ns/name`.
    pub(crate) fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectName(format!("{kind} {namespace}/{name}"))
    }

    /// `Kind name`.
    pub(crate) fn cluster(kind: &str, name: &str) -> Self {
        ObjectName(format!("{kind} {name}"))
    }

    pub(crate) fn selector(&self, field: &str, message: impl Into<String>) -> Error {
        Error::InvalidSelector {
            object: self.0.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn cidr(&self, field: &str, value: &str) -> Error {
        Error::InvalidCidr {
            object: self.0.clone(),
            field: field.to_string(),
            value: value.to_string(),
        }
    }

    pub(crate) fn field(&self, field: &str, message: impl Into<String>) -> Error {
        Error::InvalidField {
            object: self.0.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}
