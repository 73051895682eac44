//! State files that let a later run clean up after a crashed one.
//!
//! Each harness instance writes `/run/verdict-e2e/<id>.json` with its owner's pid (and that
//! process's start time, against pid reuse), the pids it spawned and its netns prefix.
//! [`cleanup_stale`] removes everything recorded by owners that are gone.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::netns;
use crate::process::alive;

const STATE_DIR: &str = "/run/verdict-e2e";

pub(crate) fn state_path(id: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{id}.json"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    owner_pid: u32,
    owner_start: u64,
    pids: Vec<u32>,
    work_dir: Option<PathBuf>,
}

/// The state file of one live harness instance; removed on drop.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    state: Mutex<State>,
}

/// The start time (clock ticks since boot) of a process, to tell it from a later one with the same pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl StateFile {
    pub(crate) fn create(id: &str, work_dir: Option<&Path>) -> Result<StateFile> {
        std::fs::create_dir_all(STATE_DIR).map_err(|e| Error::io("creating", STATE_DIR, e))?;
        let pid = std::process::id();
        let file = StateFile {
            path: state_path(id),
            state: Mutex::new(State {
                owner_pid: pid,
                owner_start: start_time(pid).unwrap_or(0),
                pids: Vec::new(),
                work_dir: work_dir.map(Path::to_path_buf),
            }),
        };
        file.save()?;
        Ok(file)
    }

    fn save(&self) -> Result<()> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let text = serde_json::to_string(&*state).map_err(|source| Error::Json {
            what: self.path.display().to_string(),
            source,
        })?;
        std::fs::write(&self.path, text).map_err(|e| Error::io("writing", &self.path, e))
    }

    pub(crate) fn add_pid(&self, pid: u32) -> Result<()> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pids
            .push(pid);
        self.save()
    }

    pub(crate) fn remove_pid(&self, pid: u32) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pids
            .retain(|p| *p != pid);
        let _ = self.save();
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What [`cleanup_stale`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanupReport {
    /// Run ids whose owner was gone.
    pub runs: Vec<String>,
    /// Processes killed.
    pub killed: Vec<u32>,
    /// Network namespaces deleted.
    pub netns: Vec<String>,
}

/// Removes processes and network namespaces left by harness instances whose owning process has
/// died (a SIGKILLed test binary, a crashed `verdict-cluster up`). Live instances are untouched.
/// Safe to call at any time; every [`crate::ControlPlane`] and [`crate::NetnsCluster`] calls it
/// when it starts.
///
/// # Errors
/// Only when the state directory cannot be read; individual failures are logged and skipped.
pub fn cleanup_stale() -> Result<CleanupReport> {
    let mut report = CleanupReport::default();
    let entries = match std::fs::read_dir(STATE_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(Error::io("listing", STATE_DIR, e)),
    };
    let mut live_ids = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(state) = serde_json::from_str::<State>(&text) else {
            continue;
        };
        let owner_alive =
            alive(state.owner_pid) && start_time(state.owner_pid) == Some(state.owner_start);
        if owner_alive {
            live_ids.push(id);
            continue;
        }
        for pid in state.pids {
            // Only kill it if it is still the process we started: its command line names our
            // work directory or run id.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            let ours = state
                .work_dir
                .as_ref()
                .is_some_and(|d| cmdline.contains(&*d.to_string_lossy()))
                || cmdline.contains(&format!("{}{id}-", netns::PREFIX));
            if ours && alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                report.killed.push(pid);
            }
        }
        for ns in netns::list_with_prefix(&format!("{}{id}-", netns::PREFIX)) {
            match netns::delete(&ns) {
                Ok(()) => report.netns.push(ns),
                Err(e) => tracing::warn!(netns = %ns, error = %e, "could not delete stale netns"),
            }
        }
        let _ = std::fs::remove_file(&path);
        report.runs.push(id);
    }
    // Namespaces with our prefix but no state file at all (a state dir wiped by a reboot of /run
    // cannot leave netns behind, but a deleted state file can).
    for ns in netns::list_with_prefix(netns::PREFIX) {
        // Only names of our exact shape (`vd` + 4 hex + `-`): other tools' namespaces that merely
        // start with "vd" are not ours to delete.
        let Some(id) = run_id_of(&ns) else { continue };
        if !live_ids.contains(&id) && !state_path(&id).exists() {
            match netns::delete(&ns) {
                Ok(()) => report.netns.push(ns),
                Err(e) => {
                    tracing::warn!(netns = %ns, error = %e, "could not delete orphaned netns")
                }
            }
        }
    }
    if report != CleanupReport::default() {
        tracing::info!(?report, "cleaned up stale e2e state");
    }
    Ok(report)
}

/// The run id in a netns name of the shape `vd<4 hex>-...`.
fn run_id_of(netns_name: &str) -> Option<String> {
    let rest = netns_name.strip_prefix(netns::PREFIX)?;
    let (id, _) = rest.split_once('-')?;
    (id.len() == 4
        && id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
    .then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_our_netns_names() {
        let cases = [
            ("pod netns", "vd1a2b-x-a", Some("1a2b")),
            ("underlay", "vd00ff-ul", Some("00ff")),
            ("someone else's", "vdtest1", None),
            ("too long an id", "vd12345-x", None),
            ("not hex", "vdzzzz-x", None),
            ("upper case", "vd1A2B-x", None),
            ("other prefix", "ns1a2b-x", None),
        ];
        for (name, netns_name, want) in cases {
            assert_eq!(run_id_of(netns_name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn reads_own_start_time() {
        let a = start_time(std::process::id());
        assert!(a.is_some_and(|t| t > 0));
        assert_eq!(a, start_time(std::process::id()));
    }
}
