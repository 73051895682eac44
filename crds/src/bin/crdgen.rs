//! Writes the NetworkPolicyEnforcer CRD YAML.
//!
//! ```text
//!   verdict_crds::NetworkPolicyEnforcer ──► crd() ──► YAML ──► stdout, or --write <workspace root>
//! ```
//!
//! `cargo run -p verdict-crds --bin crdgen -- --write .` regenerates
//! `manifests/crds/verdict.dev_networkpolicyenforcers.yaml`; the operator's `crd_is_fresh` test
//! fails when the committed file differs from what this prints.

use std::path::PathBuf;
use std::process::ExitCode;

use verdict_crds::{ENFORCER_CRD_PATH, enforcer_crd_yaml};

fn main() -> ExitCode {
    let yaml = match enforcer_crd_yaml() {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("crdgen: cannot render the CRD: {err}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        [flag, root] if flag == "--write" => {
            let path = PathBuf::from(root).join(ENFORCER_CRD_PATH);
            if let Some(dir) = path.parent()
                && let Err(err) = std::fs::create_dir_all(dir)
            {
                eprintln!("crdgen: cannot create {}: {err}", dir.display());
                return ExitCode::FAILURE;
            }
            match std::fs::write(&path, yaml) {
                Ok(()) => {
                    eprintln!("crdgen: wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("crdgen: cannot write {}: {err}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: crdgen [--write WORKSPACE_ROOT]");
            ExitCode::from(2)
        }
    }
}
