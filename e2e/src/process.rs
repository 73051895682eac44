//! Child processes that cannot outlive the test: logs to files, SIGTERM-then-SIGKILL on drop, and
//! `PR_SET_PDEATHSIG` (through util-linux `setpriv`) so a killed test binary takes them along.
//!
//! The death signal fires when the *thread* that forked exits, not the process. Every spawn is
//! therefore done by one long-lived spawner thread, so a child dies only with the test binary.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{Error, Result};

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("verdict-e2e-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the process-spawner thread");
        Mutex::new(tx)
    })
}

/// Spawns `cmd` from the long-lived spawner thread.
fn spawn_from_spawner(cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

/// A child process owned by the harness. Dropping it stops it (SIGTERM, then SIGKILL after a
/// grace period) and reaps it.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    stop_signal: Signal,
}

impl ManagedProcess {
    /// Starts `program args...` with stdout and stderr appended to `log`. When `netns` is given the
    /// program runs inside that named network namespace (`ip netns exec`).
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
        netns: Option<&str>,
        log: &Path,
    ) -> Result<ManagedProcess> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io("opening log", log, e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io("opening log", log, e))?;
        let mut cmd = Command::new("setpriv");
        cmd.arg("--pdeathsig").arg("KILL").arg("--");
        if let Some(ns) = netns {
            cmd.args([crate::netns::ip(), "netns", "exec", ns]);
        }
        cmd.arg(program).args(args);
        cmd.envs(envs.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        // Its own process group: a Ctrl-C in the terminal reaches the owner only, which then
        // stops its children in order (instead of every child dying at once mid-teardown).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = spawn_from_spawner(cmd).map_err(|source| Error::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        tracing::debug!(name, pid = child.id(), log = %log.display(), "spawned");
        Ok(ManagedProcess {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
            stop_signal: Signal::SIGTERM,
        })
    }

    /// Sets the signal [`ManagedProcess::stop`] sends first (SIGTERM unless changed; Jaeger,
    /// for one, only shuts down promptly on SIGINT).
    pub fn set_stop_signal(&mut self, signal: Signal) {
        self.stop_signal = signal;
    }

    /// The component name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id (of `setpriv`, which execs into the program, so it is the program's).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The log file holding stdout and stderr.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Some(status)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Fails with [`Error::Exited`] if the process is no longer running.
    pub fn check_running(&mut self) -> Result<()> {
        match self.exited() {
            None => Ok(()),
            Some(status) => Err(Error::Exited {
                component: self.name.clone(),
                status,
                log: self.log.clone(),
            }),
        }
    }

    /// Stops the process: SIGTERM, up to `grace` to exit, then SIGKILL. Idempotent.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, self.stop_signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Runs a short command to completion and returns its stdout, failing with its stderr.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: program.to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether a process with this pid exists (signal 0).
pub(crate) fn alive(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_ok()
}
