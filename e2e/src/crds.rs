//! Installing CustomResourceDefinitions and waiting until the API serves them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};

/// Applies each file with `kubectl apply --server-side`, then waits for every CRD in them to be
/// `Established`.
pub(crate) async fn install(cp: &ControlPlane, paths: &[PathBuf]) -> Result<()> {
    let t0 = Instant::now();
    let mut names = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading CRD", path, e))?;
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value: serde_json::Value =
                serde::Deserialize::deserialize(doc).map_err(|source| Error::Yaml {
                    what: path.display().to_string(),
                    source,
                })?;
            if value["kind"] == "CustomResourceDefinition"
                && let Some(name) = value["metadata"]["name"].as_str()
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
        let path_str = path.display().to_string();
        cp.kubectl_run(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &path_str,
        ])
        .await?;
    }
    let api: Api<CustomResourceDefinition> = Api::all(cp.client().await?);
    let deadline = Instant::now() + Duration::from_secs(60);
    for name in &names {
        loop {
            let crd = api
                .get(name)
                .await
                .map_err(|e| Error::kube(format!("reading CRD {name}"), e))?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    what: format!("CRD {name} Established"),
                    seconds: 60.0,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!(
        "[e2e] {} CRDs established in {:.1}s: {}",
        names.len(),
        t0.elapsed().as_secs_f64(),
        names.join(", ")
    );
    Ok(())
}
