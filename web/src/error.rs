//! The crate's one error type, and how each error answers an HTTP request.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What went wrong while answering a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter is missing, repeated, unknown or malformed (HTTP 400).
    #[error("invalid parameter `{param}`: {message}")]
    BadParam {
        /// The parameter's name.
        param: String,
        /// What is wrong with it.
        message: String,
    },
    /// The agent has not built its first index yet (HTTP 503).
    #[error("the policy index is not ready yet: the agent is still reading the cluster")]
    IndexNotReady,
    /// The request carries no valid bearer token (HTTP 401).
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The what-if could not be rendered (HTTP 500; a bug).
    #[error("rendering the what-if failed")]
    Render(#[source] verdict_cli::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::BadParam`].
    pub fn bad(param: impl Into<String>, message: impl Into<String>) -> Self {
        Error::BadParam {
            param: param.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadParam { .. } => StatusCode::BAD_REQUEST,
            Error::IndexNotReady => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    /// `{"error": "...", "parameter": "..."}` (the parameter only for a 400).
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let Error::BadParam { param, .. } = &self {
            body["parameter"] = serde_json::Value::from(param.as_str());
        }
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, Error::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
