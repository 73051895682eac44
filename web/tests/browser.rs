//! The dashboard in a real browser: headless Chromium (the system's `/usr/bin/chromium`,
//! driven by `playwright-core` from `tests/browser/`), against the real router on port 0,
//! fed with real decision events judged on the demo cluster while the page is open.
//!
//! Runs with `VERDICT_E2E=1` (CI) or `VERDICT_BROWSER=1`; otherwise it says why it skips.
//! Screenshots go to `$CARGO_TARGET_TMPDIR/browser-artifacts/`; with
//! `VERDICT_DOCS_SCREENSHOT=1` the 1280×800 one also replaces `docs/dashboard.png`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use verdict_engine::testing::tcp;
use verdict_web::testing::{API, WEB, builder, demo_index, event, scenario};
use verdict_web::{Hub, HubConfig, WebState, router};

const JAEGER: &str = "http://jaeger.test:16686";

fn npm_ci(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    // The browser itself is never downloaded: playwright-core ships none, and the test
    // launches /usr/bin/chromium.
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .current_dir(dir)
        .status()
        .expect("npm runs (Node is installed by scripts/setup.sh)");
    assert!(status.success(), "npm ci in {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_chromium() {
    if std::env::var_os("VERDICT_E2E").is_none() && std::env::var_os("VERDICT_BROWSER").is_none() {
        eprintln!(
            "skipped: set VERDICT_E2E=1 or VERDICT_BROWSER=1 to drive the dashboard in Chromium"
        );
        return;
    }
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: scripts/setup.sh installs Debian's chromium"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    npm_ci(&dir);

    let index = Arc::new(demo_index());
    let hub = Hub::new(HubConfig::default());
    for e in scenario(&index, SystemTime::now()) {
        hub.publish(Arc::new(e));
    }
    let (_tx, rx) = watch::channel(Some(index.clone()));
    let app = router(WebState::new(hub.clone(), rx).node("n1").jaeger_url(JAEGER));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Live traffic while the page is open: web → api allowed on 8080, denied on 9999.
    let traffic = {
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut b = builder("n1");
            for i in 0u64.. {
                let port = if i % 3 == 2 { 9999 } else { 8080 };
                let e = event(&mut b, &index, "n1", tcp(WEB, API, port), SystemTime::now());
                hub.publish(Arc::new(e));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let mut node = tokio::process::Command::new("node");
    node.arg("dashboard.test.mjs")
        .current_dir(&dir)
        .env("DASHBOARD_URL", format!("http://{addr}/"))
        .env("JAEGER_URL", JAEGER)
        .env("ARTIFACTS", &artifacts);
    if std::env::var_os("VERDICT_DOCS_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard.png");
        node.env("DOCS_SCREENSHOT", docs);
    }
    let status = tokio::time::timeout(Duration::from_secs(180), node.status())
        .await
        .expect("the browser test finishes within 3 minutes")
        .expect("node runs");
    traffic.abort();
    eprintln!("screenshots: {}", artifacts.display());
    assert!(
        status.success(),
        "the browser checks failed (their output is above)"
    );
}
