//! Where the pinned control-plane binaries and the Go module sources live.
//!
//! Binaries come from the cache that `e2e/k8s/build.sh` fills (`$VERDICT_BIN_DIR`, else
//! `${VERDICT_BIN_CACHE:-~/.cache/kube-verdict/bin}/current`). Upstream YAML (CRDs, kwok stages)
//! is read from the Go module cache, located with `go mod download -json`, never copied by hand.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::process::run;

/// The network-policy-api release whose CRDs the tests install.
pub const NETWORK_POLICY_API: &str = "sigs.k8s.io/network-policy-api@v0.1.7";
/// The kwok release whose Stage definitions configure fake nodes and pods.
pub const KWOK: &str = "sigs.k8s.io/kwok@v0.8.0";

/// The directory holding kube-apiserver, etcd, kubectl, kwok, ...
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VERDICT_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("VERDICT_BIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/root".into());
            home.join(".cache/kube-verdict/bin")
        });
    cache.join("current")
}

/// The path of one cached binary, or [`Error::MissingBinary`].
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = bin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingBinary {
            name: name.to_string(),
            path,
        })
    }
}

/// The unpacked source directory of a Go module (`module@version`), downloading it into the Go
/// module cache if needed. Results are memoised per process.
pub fn go_module_dir(module_at_version: &str) -> Result<PathBuf> {
    static CACHE: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((_, dir)) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(m, _)| m == module_at_version)
    {
        return Ok(dir.clone());
    }
    // Already unpacked in the module cache: no need for the go tool (which may not be on PATH).
    let cached = module_cache_dir().join(escape_module_path(module_at_version));
    if cached.is_dir() {
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((module_at_version.to_string(), cached.clone()));
        return Ok(cached);
    }
    let go = go_tool();
    let out = run(&go, &["mod", "download", "-json", module_at_version])?;
    let info: serde_json::Value = serde_json::from_str(&out).map_err(|source| Error::Json {
        what: format!("go mod download {module_at_version}"),
        source,
    })?;
    let dir = info["Dir"].as_str().map(PathBuf::from).ok_or_else(|| {
        Error::Invalid(format!(
            "go mod download {module_at_version} printed no Dir: {out}"
        ))
    })?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((module_at_version.to_string(), dir.clone()));
    Ok(dir)
}

/// `$GOMODCACHE`, else `$GOPATH/pkg/mod`, else `~/go/pkg/mod`.
fn module_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GOMODCACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let gopath = std::env::var_os("GOPATH")
        .and_then(|p| std::env::split_paths(&p).next())
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/root".into())
                .join("go")
        });
    gopath.join("pkg/mod")
}

/// The module cache's case encoding: every upper-case letter becomes `!` + lower case.
fn escape_module_path(module_at_version: &str) -> String {
    let mut out = String::with_capacity(module_at_version.len());
    for c in module_at_version.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `go` from PATH, else the usual install locations.
fn go_tool() -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("go").is_file()));
    if on_path {
        return "go".into();
    }
    let goroot = std::env::var_os("GOROOT").map(|r| PathBuf::from(r).join("bin/go"));
    goroot
        .into_iter()
        .chain([
            PathBuf::from("/usr/local/go/bin/go"),
            PathBuf::from("/usr/lib/go/bin/go"),
        ])
        .find(|p| p.is_file())
        .map_or_else(|| "go".into(), |p| p.display().to_string())
}

/// The upstream AdminNetworkPolicy and BaselineAdminNetworkPolicy CRDs. The experimental channel
/// is used because only it carries the `nodes` and `networks` egress peers.
pub fn upstream_crd_paths() -> Result<Vec<PathBuf>> {
    let dir = go_module_dir(NETWORK_POLICY_API)?.join("config/crd/experimental");
    Ok(vec![
        dir.join("policy.networking.k8s.io_adminnetworkpolicies.yaml"),
        dir.join("policy.networking.k8s.io_baselineadminnetworkpolicies.yaml"),
    ])
}

/// kube-verdict's own CRDs (`manifests/crds/*.yaml`), sorted; empty when the directory does not
/// exist yet.
pub fn project_crd_paths() -> Vec<PathBuf> {
    let dir = repo_root().join("manifests/crds");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    paths
}

/// kwok's "fast" node and pod Stage files from its module.
pub fn kwok_stage_paths() -> Result<Vec<PathBuf>> {
    let dir = go_module_dir(KWOK)?.join("kustomize/stage");
    let mut paths = Vec::new();
    for sub in ["node/fast", "pod/fast"] {
        let d = dir.join(sub);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .map_err(|e| Error::io("listing kwok stages", &d, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "yaml")
                    && p.file_name().is_some_and(|n| n != "kustomization.yaml")
            })
            .collect();
        files.sort();
        paths.extend(files);
    }
    Ok(paths)
}

/// The workspace root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_module_paths_like_the_go_module_cache() {
        let cases = [
            (
                "lower case unchanged",
                "sigs.k8s.io/kwok@v0.8.0",
                "sigs.k8s.io/kwok@v0.8.0",
            ),
            (
                "upper case escaped",
                "github.com/BurntSushi/toml@v1.0.0",
                "github.com/!burnt!sushi/toml@v1.0.0",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(escape_module_path(input), want, "{name}");
        }
    }
}
