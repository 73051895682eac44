//! The control plane is secure and complete: RBAC rejects anonymous requests and accepts the
//! admin cert, CRDs install from the Go module cache, and the apiserver restarts on the same
//! port with the same data.

use std::time::Instant;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{ListParams, PostParams};
use verdict_e2e::{ControlPlane, ControlPlaneOptions, skip_unless_e2e};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_rejects_anonymous_accepts_admin_and_survives_restart() {
    skip_unless_e2e!();
    let t0 = Instant::now();
    let cp = ControlPlane::start(ControlPlaneOptions::named("control-plane"))
        .await
        .unwrap();
    eprintln!("control plane ready in {:.1}s", t0.elapsed().as_secs_f64());

    // Anonymous: authenticated as system:anonymous, then forbidden by RBAC.
    let anon: Api<Namespace> = Api::all(cp.anonymous_client().await.unwrap());
    match anon.list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) => assert!(e.code == 401 || e.code == 403, "anonymous got {e:?}"),
        other => panic!("anonymous list of namespaces must be rejected, got {other:?}"),
    }
    // A cert for an unknown user is authenticated but has no permissions either.
    let nobody: Api<Namespace> = Api::all(cp.client_as("nobody", &[]).await.unwrap());
    match nobody.list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{e:?}"),
        other => panic!("user nobody must be forbidden, got {other:?}"),
    }
    // Admin sees the built-in namespaces.
    let admin: Api<Namespace> = Api::all(cp.client().await.unwrap());
    let names: Vec<String> = admin
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    for ns in ["default", "kube-system", "kube-public"] {
        assert!(
            names.contains(&ns.to_string()),
            "{ns} missing from {names:?}"
        );
    }
    // kubectl works with the written kubeconfig.
    let out = cp
        .kubectl_run(&["auth", "can-i", "create", "pods", "--as=system:anonymous"])
        .await;
    assert!(
        matches!(out, Err(verdict_e2e::Error::Command { .. })),
        "anonymous must not create pods: {out:?}"
    );
    assert_eq!(
        cp.kubectl_run(&["auth", "can-i", "create", "pods"])
            .await
            .unwrap()
            .trim(),
        "yes"
    );

    // CRDs: upstream ANP/BANP from the Go module cache (and ours if generated yet).
    let t = Instant::now();
    cp.install_project_crds().await.unwrap();
    eprintln!("CRDs installed in {:.1}s", t.elapsed().as_secs_f64());
    let anps = cp
        .kubectl_run(&["get", "adminnetworkpolicies", "-o", "name"])
        .await
        .unwrap();
    assert_eq!(anps.trim(), "", "a fresh cluster has no ANPs");

    // Restart: same port, same data.
    let cms: Api<ConfigMap> = Api::namespaced(cp.client().await.unwrap(), "default");
    let cm = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "survives"}, "data": {"k": "v"}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let url = cp.server_url();
    cp.stop_apiserver();
    assert!(cms.get("survives").await.is_err(), "apiserver must be down");
    let t = Instant::now();
    cp.start_apiserver().await.unwrap();
    eprintln!("apiserver restarted in {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(cp.server_url(), url);
    let got = cms.get("survives").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "v");
}
