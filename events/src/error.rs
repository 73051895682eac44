//! The crate's one error type.

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sampler setting is out of range.
    #[error("invalid sampler setting {setting}: {reason}")]
    SamplerConfig {
        /// The setting.
        setting: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The OTLP exporter could not be built.
    #[error("could not build the OTLP span exporter for {endpoint}")]
    Exporter {
        /// The endpoint.
        endpoint: String,
        /// The exporter's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
