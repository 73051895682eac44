//! The page's files, embedded in the binary at build time: no reads from disk and no CDN at
//! run time, so the dashboard works offline. The page is plain JS modules (no build step);
//! the libraries under `vendor/` are npm's built files (`web/scripts/vendor.sh`,
//! `web/assets/vendor/VERSIONS.md`).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `(path under /assets/, content type, bytes)`.
pub const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, include_bytes!("../assets/app.js")),
    ("api.js", JS, include_bytes!("../assets/api.js")),
    ("views.js", JS, include_bytes!("../assets/views.js")),
    ("style.css", CSS, include_bytes!("../assets/style.css")),
    (
        "vendor/preact.mjs",
        JS,
        include_bytes!("../assets/vendor/preact.mjs"),
    ),
    (
        "vendor/preact-hooks.mjs",
        JS,
        include_bytes!("../assets/vendor/preact-hooks.mjs"),
    ),
    (
        "vendor/htm.mjs",
        JS,
        include_bytes!("../assets/vendor/htm.mjs"),
    ),
    (
        "vendor/uPlot.esm.js",
        JS,
        include_bytes!("../assets/vendor/uPlot.esm.js"),
    ),
    (
        "vendor/uPlot.min.css",
        CSS,
        include_bytes!("../assets/vendor/uPlot.min.css"),
    ),
    (
        "vendor/cytoscape.esm.min.mjs",
        JS,
        include_bytes!("../assets/vendor/cytoscape.esm.min.mjs"),
    ),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const INDEX: &str = include_str!("../assets/index.html");

/// `/`: the page.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `/assets/{path}`: one embedded file, or 404.
pub async fn asset(Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(p, ..)| *p == path) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
