//! The Helm chart renders the same objects as `manifests/install.yaml`.
//!
//! Needs the `helm` binary, so it runs with the other end-to-end tests (`VERDICT_E2E`). It uses
//! `$HELM`, else `helm` on `PATH`, else a cached build under `~/.cache/kube-verdict/bin/`, which it
//! makes with `go install helm.sh/helm/v3/cmd/helm@v3.19.0` when missing (several minutes cold).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const HELM_VERSION: &str = "v3.19.0";

fn helm() -> PathBuf {
    if let Some(h) = std::env::var_os("HELM") {
        return h.into();
    }
    if Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return "helm".into();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    let dir = home.join(format!(".cache/kube-verdict/bin/helm-{HELM_VERSION}"));
    let bin = dir.join("helm");
    if !bin.is_file() {
        eprintln!(
            "building helm {HELM_VERSION} into {} (one time)",
            dir.display()
        );
        let status = Command::new("go")
            .args([
                "install",
                &format!("helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"),
            ])
            .env("GOBIN", &dir)
            .env("CGO_ENABLED", "0")
            .status()
            .expect("run go install for helm");
        assert!(status.success(), "go install helm failed");
    }
    bin
}

/// Objects by (kind, namespace, name).
fn objects(yaml: &str) -> BTreeMap<(String, String, String), serde_json::Value> {
    serde_norway::Deserializer::from_str(yaml)
        .filter_map(|doc| {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).ok()?;
            if v.is_null() {
                return None;
            }
            let key = (
                v["kind"].as_str()?.to_owned(),
                v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                v["metadata"]["name"].as_str()?.to_owned(),
            );
            Some((key, v))
        })
        .collect()
}

#[test]
fn helm_chart_renders_the_install_manifest() {
    verdict_e2e::skip_unless_e2e!();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(helm())
        .args(["template", "kube-verdict"])
        .arg(root.join("manifests/helm/kube-verdict"))
        .args(["-n", "kube-verdict-system", "--include-crds"])
        .output()
        .expect("run helm template");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = objects(&String::from_utf8_lossy(&out.stdout));
    let install = objects(&std::fs::read_to_string(root.join("manifests/install.yaml")).unwrap());
    assert_eq!(
        rendered.keys().collect::<Vec<_>>(),
        install.keys().collect::<Vec<_>>(),
        "the chart and install.yaml create different objects"
    );
    for (key, obj) in &install {
        assert_eq!(
            &rendered[key], obj,
            "{key:?} differs between the chart and install.yaml"
        );
    }
    assert_eq!(
        install.len(),
        13,
        "4 CRDs (ANP, BANP, CNP, enforcer), namespace, RBAC, Deployment"
    );
}
