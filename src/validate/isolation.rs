//! What the sandbox can do on this machine, and the per-run sandbox user.
//!
//! * [`probe`] checks once per process (cached in a `OnceLock`) whether a child
//!   can get its own network namespace (`unshare(CLONE_NEWNET)`, needs root or
//!   CAP_SYS_ADMIN), whether rotor can drop a child to another uid (only as
//!   root) and whether resource limits can be lowered.
//! * When the uid drop works, every concurrent sandbox runs as its **own**
//!   unprivileged uid/gid ([`SandboxUser`]), taken from a process-wide pool of
//!   [`MAX_SLOTS`] slots: `UID_BASE + (pid mod 2^22) * 64 + slot`, inside the
//!   range systemd leaves unused (1879048192–2147483647), so neither two rotor
//!   processes nor two sandboxes share a uid. A shared `nobody` would not do:
//!   `RLIMIT_NPROC` counts every process of the uid (one sandbox's fork bomb
//!   would starve the others, and other services run as `nobody`), and the
//!   cleanup below kills every process of the uid.
//! * rotor makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`) when the
//!   uid drop applies: orphans of a sandbox (a fork bomb's children) are
//!   re-parented to rotor and reaped by [`sweep`] instead of piling up as
//!   zombies under an init that may not reap (zombies count for
//!   `RLIMIT_NPROC`). Only zombies owned by a sandbox uid are ever reaped, so
//!   tokio's own children are never touched.
//! * [`sweep`] runs after every sandbox: it kills every process of the run's
//!   uid (`kill(-1, SIGKILL)` from a helper process that switched to that uid,
//!   which reaches processes that left the process group with `setsid`), reaps
//!   them and checks `/proc` until none is left.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Gid, Pid, Uid, getpid, setgid, setgroups, setuid};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The isolation a sandbox run had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Isolation {
    /// A fresh network namespace: no network at all, not even loopback.
    pub net_namespace: bool,
    /// The child ran as an unprivileged per-slot uid/gid (`RLIMIT_NPROC` applies).
    pub uid_drop: bool,
    /// CPU, address-space, file-size, open-file, core (and with the uid drop,
    /// process-count) limits were set.
    pub rlimits: bool,
}

impl Isolation {
    /// No isolation (no sandbox ran).
    pub const NONE: Isolation = Isolation {
        net_namespace: false,
        uid_drop: false,
        rlimits: false,
    };

    /// A short label: the parts that applied joined by `+` (`netns+uid+rlimits`),
    /// or `none`.
    pub fn label(&self) -> String {
        let parts: Vec<&str> = [
            (self.net_namespace, "netns"),
            (self.uid_drop, "uid"),
            (self.rlimits, "rlimits"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join("+")
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// First uid of the sandbox range (the start of systemd's unused range).
pub const UID_BASE: u32 = 1_879_048_192;
/// Sandbox slots (distinct uids) per rotor process.
pub const MAX_SLOTS: usize = 64;

/// The uid range this process uses for sandboxes: `[first, first + MAX_SLOTS)`.
pub fn uid_range() -> std::ops::Range<u32> {
    let pid = std::process::id() % (1 << 22);
    let first = UID_BASE + pid * MAX_SLOTS as u32;
    first..first + MAX_SLOTS as u32
}

/// An existing program that does nothing (the probes and the cleanup helper exec it).
fn true_program() -> &'static str {
    ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("/bin/true")
}

/// Spawns `true` with `pre` as its pre-exec hook; whether it ran and exited 0.
fn try_child(pre: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static) -> bool {
    let mut cmd = Command::new(true_program());
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the hooks passed here only make raw system calls through nix
    // (unshare, setrlimit, setgroups, setgid, setuid): no allocation, no locks.
    unsafe { cmd.pre_exec(pre) };
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

/// What the machine allows, probed once per process (a few milliseconds,
/// blocking; call it from a blocking context).
pub fn probe() -> Isolation {
    static PROBED: OnceLock<Isolation> = OnceLock::new();
    *PROBED.get_or_init(|| {
        let net_namespace = try_child(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
            Ok(())
        });
        let uid = uid_range().start;
        let uid_drop = Uid::effective().is_root()
            && try_child(move || {
                setgroups(&[])?;
                setgid(Gid::from_raw(uid))?;
                setuid(Uid::from_raw(uid))?;
                Ok(())
            });
        let rlimits = try_child(|| {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0)?;
            Ok(())
        });
        if uid_drop && nix::sys::prctl::set_child_subreaper(true).is_err() {
            tracing::warn!("could not become a child subreaper; sandbox orphans go to init");
        }
        Isolation {
            net_namespace,
            uid_drop,
            rlimits,
        }
    })
}

/// The uid/gid one sandbox run uses (held for the run, then returned).
#[derive(Debug)]
pub struct SandboxUser {
    pub uid: u32,
    slot: usize,
    _permit: OwnedSemaphorePermit,
}

impl Drop for SandboxUser {
    fn drop(&mut self) {
        let mut used = lock_slots();
        *used &= !(1u64 << self.slot);
    }
}

struct Slots {
    permits: std::sync::Arc<Semaphore>,
    used: Mutex<u64>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| Slots {
        permits: std::sync::Arc::new(Semaphore::new(MAX_SLOTS)),
        used: Mutex::new(0),
    })
}

fn lock_slots() -> std::sync::MutexGuard<'static, u64> {
    // The bitmap stays consistent even if a holder panicked: recover it.
    slots().used.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes a free sandbox uid from the process-wide pool (waits when all
/// [`MAX_SLOTS`] are busy). `None` only if the pool's invariants broke (its
/// semaphore is a static that is never closed).
pub async fn acquire_user() -> Option<SandboxUser> {
    let permit = slots().permits.clone().acquire_owned().await.ok()?;
    let mut used = lock_slots();
    // A permit guarantees a clear bit: at most MAX_SLOTS permits exist.
    let slot = (0..MAX_SLOTS).find(|i| *used & (1u64 << i) == 0)?;
    *used |= 1u64 << slot;
    Some(SandboxUser {
        uid: uid_range().start + slot as u32,
        slot,
        _permit: permit,
    })
}

/// What [`sweep`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Rounds in which live processes of the uid were found and killed.
    pub kill_rounds: u32,
    /// Zombies reaped.
    pub reaped: u32,
    /// Processes of the uid still present when the sweep gave up.
    pub left: u32,
    /// Zombies of the uid whose parent is neither rotor nor a sandbox
    /// process (they cannot be reaped by rotor; a reaping init removes them).
    pub stranded: u32,
    /// Entries the uid left in the shared writable directories, removed.
    pub files_removed: usize,
}

/// The processes of real uid `uid` in `/proc`: (pid, parent pid, zombie?).
pub fn scan(uid: u32) -> Vec<(i32, i32, bool)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let mut real_uid = None;
        let mut ppid = 0;
        let mut zombie = false;
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("Uid:") {
                real_uid = v.split_whitespace().next().and_then(|u| u.parse().ok());
            } else if let Some(v) = line.strip_prefix("PPid:") {
                ppid = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("State:") {
                zombie = v.trim_start().starts_with('Z');
            }
        }
        if real_uid == Some(uid) {
            found.push((pid, ppid, zombie));
        }
    }
    found
}

/// Kills every process of `uid` from a helper that switched to that uid:
/// `kill(-1, SIGKILL)` reaches all of them, whatever their process group.
fn kill_all_of(uid: u32) {
    let ok = try_child(move || {
        setgroups(&[])?;
        setgid(Gid::from_raw(uid))?;
        setuid(Uid::from_raw(uid))?;
        // ESRCH (nothing left) is fine.
        let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        Ok(())
    });
    if !ok {
        tracing::warn!(uid, "sandbox cleanup helper failed");
    }
}

/// The directories anyone may write to, where a sandbox uid can leave files
/// outside its own directory.
pub const SHARED_DIRS: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// Removes what `uid` left directly in [`SHARED_DIRS`] (files, directories
/// with their contents; never following a link), except rotor's own sandbox
/// directories (`rotor-sbx-*`, removed by their owner once read). Returns
/// how many entries were removed. `/dev/shm` is memory: what stayed there
/// stayed out of the machine's RAM until reboot.
fn remove_files_of(uid: u32) -> usize {
    use std::os::unix::fs::MetadataExt;
    let mut removed = 0;
    for dir in SHARED_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("rotor-sbx-")
            {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.uid() != uid {
                continue;
            }
            let done = if meta.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if done.is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Kills and reaps every process of the sandbox `uid` (blocking; at most
/// about a second), then removes the files it left in the shared writable
/// directories. Call only after the run's direct child was waited for.
pub fn sweep(uid: u32) -> SweepReport {
    let mut report = kill_and_reap(uid);
    if report.left == 0 {
        report.files_removed = remove_files_of(uid);
    }
    report
}

fn kill_and_reap(uid: u32) -> SweepReport {
    let me = getpid().as_raw();
    let mut report = SweepReport::default();
    for round in 0..400 {
        let procs = scan(uid);
        let own: std::collections::HashSet<i32> = procs.iter().map(|p| p.0).collect();
        let (mut live, mut running, mut stranded) = (0, false, 0);
        for (pid, ppid, zombie) in &procs {
            if !*zombie {
                live += 1;
                running = true;
            } else if *ppid == me {
                if waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG)).is_ok() {
                    report.reaped += 1;
                }
            } else if own.contains(ppid) {
                // Re-parented to rotor once its (dying) parent is gone.
                live += 1;
            } else {
                // Parented elsewhere (left by an earlier process that had this
                // uid range): nothing rotor can reap.
                stranded += 1;
            }
        }
        report.left = live;
        report.stranded = stranded;
        if live == 0 {
            return report;
        }
        if running {
            report.kill_rounds += 1;
            kill_all_of(uid);
        }
        std::thread::sleep(Duration::from_millis(if round < 20 { 1 } else { 3 }));
    }
    tracing::warn!(
        uid,
        left = report.left,
        "sandbox processes survived the cleanup"
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Isolation::NONE.label(), "none");
        let all = Isolation {
            net_namespace: true,
            uid_drop: true,
            rlimits: true,
        };
        assert_eq!(all.label(), "netns+uid+rlimits");
        let some = Isolation {
            net_namespace: false,
            uid_drop: false,
            rlimits: true,
        };
        assert_eq!(some.to_string(), "rlimits");
    }

    #[test]
    fn uid_range_is_inside_the_unused_range() {
        let r = uid_range();
        assert!(r.start >= UID_BASE);
        assert!(r.end - 1 <= i32::MAX as u32);
        assert_eq!(r.len(), MAX_SLOTS);
    }

    #[tokio::test]
    async fn slots_are_distinct_and_returned() {
        let a = acquire_user().await.unwrap();
        let b = acquire_user().await.unwrap();
        assert_ne!(a.uid, b.uid);
        assert!(uid_range().contains(&a.uid) && uid_range().contains(&b.uid));
        let bit = 1u64 << a.slot;
        assert_ne!(*lock_slots() & bit, 0);
        drop(a);
        assert_eq!(*lock_slots() & bit, 0, "a dropped user frees its slot");
    }
}
