//! The committed CRD YAML must be what `crdgen` prints for the current Rust types.

use std::path::Path;

#[test]
fn committed_crd_yaml_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(verdict_crds::ENFORCER_CRD_PATH);
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let generated = verdict_crds::enforcer_crd_yaml().unwrap();
    assert!(
        committed == generated,
        "{} is stale: run `cargo run -p verdict-crds --bin crdgen -- --write .` and commit it",
        path.display()
    );
}

#[test]
fn install_yaml_embeds_the_current_crd() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let install = std::fs::read_to_string(root.join("manifests/install.yaml")).unwrap();
    let generated = verdict_crds::enforcer_crd_yaml().unwrap();
    assert!(
        install.contains(generated.trim_end()),
        "manifests/install.yaml does not contain the current CRD: run operator/scripts/render-install.sh \
         and commit it"
    );
}
