//! The engine's one error type.

/// Why an object could not be indexed. Every variant names the object and the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A label selector that the API server would reject (bad operator, values where none are
    /// allowed, or none where some are required).
    #[error("{object}: {field}: invalid label selector: {message}")]
    InvalidSelector {
        /// `Kind ns/name` of the object.
        object: String,
        /// JSON path of the field, for example `spec.ingress[0].from[1].podSelector`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A CIDR or IP that does not parse.
    #[error("{object}: {field}: invalid CIDR {value:?}")]
    InvalidCidr {
        /// `Kind ns/name` of the object.
        object: String,
        /// JSON path of the field.
        field: String,
        /// The text that failed to parse.
        value: String,
    },
    /// Any other field whose value the API server would reject.
    #[error("{object}: {field}: {message}")]
    InvalidField {
        /// `Kind ns/name` of the object.
        object: String,
        /// JSON path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Result with the engine's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
