//! Named network namespaces (`ip netns`), and running code inside one.
//!
//! Sockets belong to the namespace they were created in, whichever thread uses them later. So
//! [`in_netns`] enters the namespace on a fresh, throwaway thread (never a pooled one: a pooled
//! thread would stay in the wrong namespace), creates what it needs there and hands it back.

use std::fs::File;
use std::path::Path;

use nix::sched::{CloneFlags, setns};

use crate::error::{Error, Result};
use crate::process::run;

/// Every network namespace the harness creates starts with this.
pub(crate) const PREFIX: &str = "vd";
/// Where iproute2 keeps named network namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// The iproute2 `ip` binary: `/usr/sbin/ip` or `/sbin/ip` when present (a non-root PATH often
/// lacks sbin), else whatever PATH finds.
pub(crate) fn ip() -> &'static str {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or("ip")
}

/// Creates a named network namespace with loopback up.
pub(crate) fn create(name: &str) -> Result<()> {
    run(ip(), &["netns", "add", name])?;
    run(ip(), &["-n", name, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Kills every process inside the namespace, then deletes it. Deleting a namespace destroys its
/// veths (and their peers), its nftables tables and its routes once nothing references it.
pub(crate) fn delete(name: &str) -> Result<()> {
    if !Path::new(NETNS_DIR).join(name).exists() {
        return Ok(());
    }
    if let Ok(pids) = run(ip(), &["netns", "pids", name]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    run(ip(), &["netns", "del", name])?;
    Ok(())
}

/// Named namespaces whose name starts with `prefix`.
pub(crate) fn list_with_prefix(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Runs `ip -n <netns> -batch -` with one command per line, failing on the first error.
pub(crate) fn ip_batch(netns: &str, commands: &[String]) -> Result<()> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(ip())
        .args(["-n", netns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            program: "ip".into(),
            source,
        })?;
    let script = commands.join("\n") + "\n";
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::netns("writing ip batch", netns, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::netns("running ip batch", netns, e))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("ip -n {netns} -batch - <<{script}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Runs `f` on a new thread that has entered network namespace `netns`, and returns its result.
pub(crate) fn in_netns<T, F>(netns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    let path = Path::new(NETNS_DIR).join(netns);
    let file = File::open(&path).map_err(|e| Error::netns("opening", netns, e))?;
    let name = netns.to_string();
    let handle = std::thread::Builder::new()
        .name(format!("netns-{netns}"))
        .spawn(move || -> Result<T> {
            setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::netns("setns", &name, std::io::Error::from(e)))?;
            f().map_err(|e| Error::netns("running", &name, e))
        })
        .map_err(|e| Error::netns("spawning thread", netns, e))?;
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::Invalid(format!("thread in netns {netns} panicked"))))
}

/// Like [`in_netns`], without blocking an async runtime's worker thread.
pub(crate) async fn in_netns_async<T, F>(netns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let netns_owned = netns.to_string();
    std::thread::Builder::new()
        .name(format!("netns-{netns}"))
        .spawn(move || {
            let _ = tx.send(in_netns_here(&netns_owned, f));
        })
        .map_err(|e| Error::netns("spawning thread", netns, e))?;
    rx.await
        .unwrap_or_else(|_| Err(Error::Invalid(format!("thread in netns {netns} panicked"))))
}

/// Enters `netns` on the *current* thread, then runs `f`. Only for threads that end right after.
fn in_netns_here<T>(netns: &str, f: impl FnOnce() -> std::io::Result<T>) -> Result<T> {
    let path = Path::new(NETNS_DIR).join(netns);
    let file = File::open(&path).map_err(|e| Error::netns("opening", netns, e))?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::netns("setns", netns, std::io::Error::from(e)))?;
    f().map_err(|e| Error::netns("running", netns, e))
}

/// Writes a sysctl under `/proc/sys/net/...` as seen from inside `netns`.
pub(crate) fn sysctl(netns: &str, key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let value = value.to_string();
    in_netns(netns, move || std::fs::write(&path, value))
}
