//! Running one untrusted program: limits, capture, time limit, cleanup.
//!
//! Built on `tokio::process`: waiting, the time limit and the capped reads of
//! stdout/stderr are all futures, so a validation occupies no thread while it
//! runs and the HTTP side keeps its workers; the few blocking steps (the
//! `/proc` sweep, removing the directory) go to `spawn_blocking`.
//!
//! The child gets (in `pre_exec`, with everything prepared before the fork so
//! the hook only makes system calls): a new session and process group
//! (`setsid`), a network namespace when [`Isolation::net_namespace`],
//! `RLIMIT_CPU` (time limit + 1 s soft, + 2 s hard), `RLIMIT_AS`,
//! `RLIMIT_FSIZE`, `RLIMIT_NOFILE`, `RLIMIT_CORE` 0, and with the uid drop
//! `RLIMIT_NPROC` and the switch to the sandbox uid/gid (no supplementary
//! groups). Limits are only ever lowered (raising a hard limit needs a
//! capability). The environment is emptied and holds only `PATH`, `LANG`,
//! `HOME` (the sandbox directory), `PYTHONDONTWRITEBYTECODE` and
//! `PYTHONHASHSEED`; stdin is null.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid, setgid, setgroups, setsid, setuid};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;

use super::isolation::{Isolation, SweepReport, sweep};

/// Resource limits of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Wall-clock limit; the process group is killed when it runs out.
    pub wall: Duration,
    /// `RLIMIT_AS`, bytes.
    pub memory_bytes: u64,
    /// `RLIMIT_FSIZE`, bytes.
    pub file_size_bytes: u64,
    /// `RLIMIT_NOFILE`.
    pub open_files: u64,
    /// `RLIMIT_NPROC` (threads count too); applied only with the uid drop.
    pub processes: u64,
    /// stdout + stderr bytes after which the run is killed.
    pub output_bytes: usize,
    /// How much of the end of each stream is kept.
    pub keep_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            wall: Duration::from_secs(5),
            memory_bytes: 1 << 30,
            file_size_bytes: 16 << 20,
            open_files: 256,
            processes: 64,
            output_bytes: 1 << 20,
            keep_bytes: 64 << 10,
        }
    }
}

/// One program to run in a sandbox directory.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Absolute path of the interpreter.
    pub program: &'a Path,
    pub args: Vec<OsString>,
    /// Working directory and `HOME`.
    pub dir: &'a Path,
    pub limits: &'a Limits,
    /// What to apply (normally [`super::isolation::probe`]'s answer; the uid
    /// drop needs `uid`).
    pub isolation: Isolation,
    /// The sandbox uid (= gid) when the uid drop applies.
    pub uid: Option<u32>,
}

/// What happened to a run.
#[derive(Debug)]
pub struct RunOutput {
    /// The child's pid, which was also its process group and session id.
    pub pid: u32,
    /// `None` when the child could not be waited for.
    pub status: Option<ExitStatus>,
    /// The wall-clock limit ran out and the group was killed.
    pub timed_out: bool,
    /// The output limit was exceeded and the group was killed.
    pub output_overflow: bool,
    /// The last [`Limits::keep_bytes`] of each stream.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// All bytes read from both streams.
    pub output_bytes: usize,
    pub elapsed: Duration,
    /// The cleanup of the sandbox uid, when the uid drop applied.
    pub sweep: Option<SweepReport>,
    /// The isolation the run really had.
    pub isolation: Isolation,
}

/// Limits as (resource, soft, hard), computed before the fork.
#[derive(Clone, Copy)]
struct ChildSetup {
    net: bool,
    uid: Option<u32>,
    limits: [(Resource, u64, u64); 6],
    count: usize,
}

fn lowered(resource: Resource, soft: u64, hard: u64) -> (Resource, u64, u64) {
    let (_, cur_hard) = getrlimit(resource).unwrap_or((u64::MAX, u64::MAX));
    let hard = hard.min(cur_hard);
    (resource, soft.min(hard), hard)
}

impl ChildSetup {
    fn new(spec: &Spec<'_>) -> Self {
        let l = spec.limits;
        let cpu = spec.limits.wall.as_secs_f64().ceil() as u64;
        let uid = if spec.isolation.uid_drop {
            spec.uid
        } else {
            None
        };
        let mut limits = [(Resource::RLIMIT_CORE, 0, 0); 6];
        let mut count = 0;
        if spec.isolation.rlimits {
            let wanted = [
                (Resource::RLIMIT_CPU, cpu + 1, cpu + 2),
                (Resource::RLIMIT_AS, l.memory_bytes, l.memory_bytes),
                (Resource::RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes),
                (Resource::RLIMIT_NOFILE, l.open_files, l.open_files),
                (Resource::RLIMIT_CORE, 0, 0),
            ];
            for (r, s, h) in wanted {
                limits[count] = lowered(r, s, h);
                count += 1;
            }
            if uid.is_some() {
                limits[count] = lowered(Resource::RLIMIT_NPROC, l.processes, l.processes);
                count += 1;
            }
        }
        Self {
            net: spec.isolation.net_namespace,
            uid,
            limits,
            count,
        }
    }

    /// Runs in the forked child: system calls only.
    fn apply(&self) -> std::io::Result<()> {
        setsid()?;
        if self.net {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
        }
        for (resource, soft, hard) in &self.limits[..self.count] {
            setrlimit(*resource, *soft, *hard)?;
        }
        if let Some(uid) = self.uid {
            setgroups(&[])?;
            setgid(Gid::from_raw(uid))?;
            setuid(Uid::from_raw(uid))?;
        }
        Ok(())
    }
}

/// Reads a stream to its end, keeping its tail, counting every byte into
/// `total`, and stops (notifying `over`) once `total` passes `limit`.
async fn read_capped<R: AsyncRead + Unpin>(
    mut reader: R,
    keep: usize,
    total: Arc<AtomicUsize>,
    limit: usize,
    over: Arc<Notify>,
) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > keep.saturating_mul(2).max(buf.len()) {
            tail.drain(..tail.len() - keep);
        }
        if total.fetch_add(n, Ordering::Relaxed) + n > limit {
            over.notify_one();
            break;
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    tail
}

/// Runs `spec` to its end (or its limit) and cleans up every process it left.
pub async fn run(spec: &Spec<'_>) -> std::io::Result<RunOutput> {
    let setup = ChildSetup::new(spec);
    let mut cmd = tokio::process::Command::new(spec.program);
    cmd.args(&spec.args)
        .current_dir(spec.dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", spec.dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONHASHSEED", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: `apply` only makes system calls (setsid, unshare, setrlimit,
    // setgroups with an empty slice, setgid, setuid) on values computed before
    // the fork: no allocation, no locks, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || setup.apply());
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    let total = Arc::new(AtomicUsize::new(0));
    let over = Arc::new(Notify::new());
    let limits = spec.limits;
    let readers = [
        child.stdout.take().map(|r| {
            tokio::spawn(read_capped(
                r,
                limits.keep_bytes,
                total.clone(),
                limits.output_bytes,
                over.clone(),
            ))
        }),
        child.stderr.take().map(|r| {
            tokio::spawn(read_capped(
                r,
                limits.keep_bytes,
                total.clone(),
                limits.output_bytes,
                over.clone(),
            ))
        }),
    ];

    let mut timed_out = false;
    let mut output_overflow = false;
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        () = tokio::time::sleep(limits.wall) => { timed_out = true; None }
        () = over.notified() => { output_overflow = true; None }
    };
    let status = match status {
        Some(s) => Some(s),
        None => {
            kill_group(pid);
            child.wait().await.ok()
        }
    };
    // The child may have died of the closed pipe before the notification won
    // the race: the byte count decides.
    output_overflow |= total.load(Ordering::Relaxed) > limits.output_bytes;
    let elapsed = started.elapsed();

    let sweep_report = match setup.uid {
        Some(uid) => tokio::task::spawn_blocking(move || sweep(uid)).await.ok(),
        None => {
            // Whatever is left of the group (a background child). The group
            // id cannot be reused while a member lives; once it is empty the
            // call finds nothing.
            kill_group(pid);
            None
        }
    };

    let [out_task, err_task] = readers;
    let stdout = join_reader(out_task).await;
    let stderr = join_reader(err_task).await;
    Ok(RunOutput {
        pid,
        status,
        timed_out,
        output_overflow,
        stdout,
        stderr,
        output_bytes: total.load(Ordering::Relaxed),
        elapsed,
        sweep: sweep_report,
        isolation: Isolation {
            net_namespace: setup.net,
            uid_drop: setup.uid.is_some(),
            rlimits: setup.count > 0,
        },
    })
}

fn kill_group(pid: u32) {
    match i32::try_from(pid) {
        // ESRCH: the group is already gone.
        Ok(pid) if pid > 0 => {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        _ => {}
    }
}

/// Waits briefly for a reader; a stream still held open by an escaped
/// process (possible only without the uid drop) is abandoned.
async fn join_reader(task: Option<tokio::task::JoinHandle<Vec<u8>>>) -> Vec<u8> {
    let Some(mut task) = task else {
        return Vec::new();
    };
    match tokio::time::timeout(Duration::from_secs(1), &mut task).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => Vec::new(),
        Err(_) => {
            task.abort();
            Vec::new()
        }
    }
}

/// A fresh temporary directory for one run, owned by the sandbox uid.
#[derive(Debug)]
pub struct SandboxDir {
    dir: tempfile::TempDir,
    uid: Option<u32>,
}

impl SandboxDir {
    /// Creates the directory (mode 0700), writes `files` into it (mode 0644,
    /// owned by rotor, readable by the child), and only then hands the
    /// directory to `uid` if given, so no sandbox process can have planted
    /// anything where rotor writes.
    pub fn new(uid: Option<u32>, files: &[(&str, &[u8])]) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("rotor-sbx-").tempdir()?;
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents)?;
        }
        if let Some(uid) = uid {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid))?;
        }
        Ok(Self { dir, uid })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Reads a file the child wrote, refusing anything but a plain regular
    /// file with one link, owned by the sandbox uid (or rotor), of at most
    /// `max` bytes — so a symlink or hard link cannot make rotor read another
    /// file. Call after the run's processes are gone.
    pub fn read_result(&self, name: &str, max: u64) -> Option<String> {
        let path = self.dir.path().join(name);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let owner_ok = match self.uid {
            Some(uid) => meta.uid() == uid,
            None => true,
        };
        if !meta.file_type().is_file() || meta.nlink() != 1 || !owner_ok || meta.len() > max {
            return None;
        }
        std::fs::read_to_string(&path).ok()
    }

    /// Removes the directory on a blocking thread.
    pub async fn remove(self) {
        let _ = tokio::task::spawn_blocking(move || self.dir.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_read_only_from_plain_files() {
        let dir = SandboxDir::new(None, &[("result.json", b"{}")]).unwrap();
        assert_eq!(dir.read_result("result.json", 100).as_deref(), Some("{}"));
        assert_eq!(dir.read_result("result.json", 1), None, "too large");
        assert_eq!(dir.read_result("missing.json", 100), None);

        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link.json")).unwrap();
        assert_eq!(dir.read_result("link.json", 100), None, "symlink followed");
        std::fs::hard_link(outside.path(), dir.path().join("hard.json")).unwrap();
        assert_eq!(dir.read_result("hard.json", 100), None, "hard link read");
    }

    #[test]
    fn limits_are_only_lowered() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let (_, s, h) = lowered(Resource::RLIMIT_NOFILE, u64::MAX, u64::MAX);
        assert_eq!(h, hard);
        assert!(s <= h);
        let (_, s, h) = lowered(Resource::RLIMIT_NOFILE, 8, 8);
        assert_eq!((s, h), (8.min(hard), 8.min(hard)));
    }
}
