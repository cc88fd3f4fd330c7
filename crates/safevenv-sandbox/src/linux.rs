//! Linux: the sandbox built from namespaces, in-process.
//!
//! Why in-process and not bubblewrap: bubblewrap is not installed on a fresh CI machine or on most
//! developer machines, and a build that silently needs a setuid helper is worse than one that says
//! what the kernel lacks. The kernel features bubblewrap uses (user, mount, network, PID namespaces,
//! `pivot_root`) are reachable from an unprivileged process since Linux 3.8; `nix` wraps them.
//!
//! The shape of a contained run (P, A and B are processes):
//! - P, the child `std::process::Command` forks, enters a new user namespace (mapping only its own
//!   uid and gid), then new network, mount, PID and IPC namespaces, and forks A. P waits for A and
//!   ends with the status of the build. Killing P kills everything: A has P's death as its SIGKILL.
//! - A is PID 1 of the new PID namespace. It assembles the new root (below), brings loopback up,
//!   `pivot_root`s into it, and forks B; then it reaps orphans until B ends, hands B's status to P
//!   and exits. When the init of a PID namespace exits the kernel kills every process in it: daemons
//!   (double fork, `setsid`) cannot outlive the build.
//! - B sets the limits, drops every capability, sets `no_new_privs` and returns to `std`, which
//!   `exec`s the program with its scrubbed environment.
//!
//! The new root is a read-only tmpfs holding only: `/usr`, `/bin`, `/sbin`, `/lib*`, `/etc` bound
//! read-only with known secret files masked, `/dev/{null,zero,full,random,urandom}`, a fresh `/proc`
//! of the new PID namespace, the `readable` paths bound read-only and the `writable` paths bound
//! read-write, each at its own (canonical) path. Everything else (the user's home, credentials,
//! other projects, `/tmp`, the agent sockets in `/run`) does not exist in it; a `readable` path
//! inside the home (an interpreter under `~/.pyenv`) is bound back by itself.
//!
//! Everything the child does after `fork` is async-signal-safe: the parent prepares every path as a
//! `CString` and the whole list of mount operations before `spawn`; the child only makes syscalls.
#![allow(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::sys::statvfs::FsFlags;
use nix::unistd::{ForkResult, Pid};

use crate::supervise::{self, Tree};
use crate::{SandboxCommand, SandboxError, SandboxOutput};

/// The steps of the setup, in order; the child reports the one that failed by its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    ParentDeath,
    UserNamespace,
    IdMaps,
    NetworkNamespace,
    MountNamespace,
    PidNamespace,
    IpcNamespace,
    Pipes,
    ForkInit,
    PrivatePropagation,
    RootTmpfs,
    MountPoint,
    BindMount,
    ReadOnlyRemount,
    Mask,
    Proc,
    Loopback,
    PivotRoot,
    DetachOldRoot,
    ReadOnlyRoot,
    ForkBuild,
    ResourceLimits,
    WorkingDirectory,
    Capabilities,
    NoNewPrivs,
}

const STEPS: [Step; 25] = [
    Step::ParentDeath,
    Step::UserNamespace,
    Step::IdMaps,
    Step::NetworkNamespace,
    Step::MountNamespace,
    Step::PidNamespace,
    Step::IpcNamespace,
    Step::Pipes,
    Step::ForkInit,
    Step::PrivatePropagation,
    Step::RootTmpfs,
    Step::MountPoint,
    Step::BindMount,
    Step::ReadOnlyRemount,
    Step::Mask,
    Step::Proc,
    Step::Loopback,
    Step::PivotRoot,
    Step::DetachOldRoot,
    Step::ReadOnlyRoot,
    Step::ForkBuild,
    Step::ResourceLimits,
    Step::WorkingDirectory,
    Step::Capabilities,
    Step::NoNewPrivs,
];

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::ParentDeath => "tying the sandbox to its parent (PR_SET_PDEATHSIG)",
            Step::UserNamespace => "creating a user namespace",
            Step::IdMaps => "writing the user namespace's uid and gid maps",
            Step::NetworkNamespace => "creating a network namespace",
            Step::MountNamespace => "creating a mount namespace",
            Step::PidNamespace => "creating a PID namespace",
            Step::IpcNamespace => "creating an IPC namespace",
            Step::Pipes => "creating the sandbox's pipes",
            Step::ForkInit => "starting the PID namespace's init",
            Step::PrivatePropagation => "making mounts private",
            Step::RootTmpfs => "mounting the new root's tmpfs",
            Step::MountPoint => "creating a mount point in the new root",
            Step::BindMount => "bind-mounting an allowed path",
            Step::ReadOnlyRemount => "remounting an allowed path read-only",
            Step::Mask => "masking a secret file under /etc",
            Step::Proc => "mounting /proc for the PID namespace",
            Step::Loopback => "bringing up loopback in the network namespace",
            Step::PivotRoot => "switching to the new root (pivot_root)",
            Step::DetachOldRoot => "detaching the old root",
            Step::ReadOnlyRoot => "remounting the new root read-only",
            Step::ForkBuild => "starting the build process",
            Step::ResourceLimits => "setting resource limits",
            Step::WorkingDirectory => "entering the working directory",
            Step::Capabilities => "dropping capabilities",
            Step::NoNewPrivs => "setting no_new_privs",
        }
    }

    /// The kernel feature a failure of this step shows missing, for `SandboxError::Unsupported`.
    fn missing(self) -> &'static str {
        match self {
            Step::ParentDeath => "PR_SET_PDEATHSIG",
            Step::UserNamespace | Step::IdMaps => "user namespaces",
            Step::NetworkNamespace | Step::Loopback => "network namespaces",
            Step::MountNamespace | Step::PrivatePropagation => "mount namespaces",
            Step::PidNamespace | Step::ForkInit => "PID namespaces",
            Step::IpcNamespace => "IPC namespaces",
            Step::Pipes | Step::ForkBuild => "process creation (fork, pipes)",
            Step::RootTmpfs | Step::MountPoint | Step::Mask => "tmpfs mounts in a user namespace",
            Step::BindMount | Step::ReadOnlyRemount | Step::ReadOnlyRoot => {
                "bind mounts in a user namespace"
            }
            Step::Proc => "a mountable /proc in a user namespace (the container may mask /proc)",
            Step::PivotRoot | Step::DetachOldRoot => "pivot_root in a user namespace",
            Step::ResourceLimits => "resource limits (setrlimit)",
            Step::WorkingDirectory => "the working directory inside the sandbox",
            Step::Capabilities => "capability dropping (PR_CAPBSET_DROP, capset)",
            Step::NoNewPrivs => "no_new_privs (PR_SET_NO_NEW_PRIVS)",
        }
    }
}

/// One mount-table operation of the new root, prepared by the parent; paths are absolute in the
/// old tree (the new root's tmpfs is mounted at `Plan::root`).
#[derive(Debug)]
enum Op {
    Dir(CString),
    File(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Bind {
        src: CString,
        dst: CString,
        read_only: Option<MsFlags>,
    },
    /// An empty read-only tmpfs over a secret directory.
    Mask(CString),
    Proc(CString),
}

/// Everything the child needs, allocated before `fork`.
#[derive(Debug)]
struct Plan {
    parent_pid: Pid,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    root: CString,
    ops: Vec<Op>,
    cwd: CString,
    cpu_seconds: u64,
    memory_bytes: u64,
    /// Probe only: set everything up, then end B instead of running a program.
    probe: bool,
}

/// What a path becomes in the new root.
#[derive(Debug, Clone)]
enum Entry {
    Bind {
        src: PathBuf,
        writable: bool,
        device: bool,
    },
    Symlink(PathBuf),
    Mask,
    Proc,
}

/// System directories every program needs; each is a directory bound read-only or, on merged-`/usr`
/// systems, a symlink recreated as it is.
const SYSTEM: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// Files and directories under /etc that hold secrets or index credentials. Invariant: a build does
/// not read the machine's password hashes, host keys, TLS private keys or pip/uv configuration
/// (which may carry an index URL with credentials). Files read as denied (a bind of a `nodev`
/// device), directories as empty.
const ETC_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/pip.conf",
    "/etc/xdg/pip",
    "/etc/uv",
    "/etc/netrc",
    "/etc/security/opasswd",
];

const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];
const DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

/// Directories of the old tree on which the new root's tmpfs may be mounted (in the sandbox's mount
/// namespace only): the first that exists and holds no path to bind.
const ROOT_CANDIDATES: &[&str] = &[
    "/mnt", "/media", "/srv", "/opt", "/sys", "/boot", "/run", "/var", "/home",
];

const OLD_ROOT: &CStr = c"/.oldroot";

fn cstring(path: &Path) -> Result<CString, SandboxError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SandboxError::PathRefused {
        path: path.to_owned(),
        reason: "the path holds a NUL byte",
    })
}

fn under(root: &Path, path: &Path) -> PathBuf {
    let relative: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir))
        .collect();
    root.join(relative)
}

fn canonical(path: &Path) -> Result<PathBuf, SandboxError> {
    if !path.is_absolute() {
        return Err(SandboxError::PathRefused {
            path: path.to_owned(),
            reason: "the path is not absolute",
        });
    }
    fs_err::canonicalize(path).map_err(|source| SandboxError::Path {
        path: path.to_owned(),
        source,
    })
}

/// Checks a `readable` or `writable` path. Invariant: sharing a path never shares the whole file
/// system, the user's home (where credentials, keyrings, agent sockets and other projects live), or
/// the kernel's views of other processes.
fn check_shared(path: &Path, home: Option<&Path>) -> Result<(), SandboxError> {
    let refuse = |reason| {
        Err(SandboxError::PathRefused {
            path: path.to_owned(),
            reason,
        })
    };
    if path == Path::new("/") {
        return refuse("the root directory would share the whole file system");
    }
    if let Some(home) = home
        && home.starts_with(path)
    {
        return refuse(
            "it holds the user's home directory (credentials, keyrings, other projects)",
        );
    }
    if ["/proc", "/sys", "/dev"]
        .iter()
        .any(|kernel| path.starts_with(kernel))
    {
        return refuse("kernel interfaces (/proc, /sys, /dev) are not shared");
    }
    Ok(())
}

/// The flags a read-only remount of a bind of `src` needs. Flags the kernel locked on the source
/// mount (nosuid, nodev, noexec) must be kept, or a remount in a user namespace fails with EPERM.
fn read_only_flags(src: &Path, device: bool) -> Result<MsFlags, SandboxError> {
    let stat = nix::sys::statvfs::statvfs(src).map_err(|errno| SandboxError::Path {
        path: src.to_owned(),
        source: errno.into(),
    })?;
    let source = stat.flags();
    let mut flags =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
    if !device || source.contains(FsFlags::ST_NODEV) {
        flags |= MsFlags::MS_NODEV;
    }
    if source.contains(FsFlags::ST_NOEXEC) {
        flags |= MsFlags::MS_NOEXEC;
    }
    Ok(flags)
}

impl Plan {
    fn new(command: &SandboxCommand, probe: bool) -> Result<Plan, SandboxError> {
        let home = std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .and_then(|home| fs_err::canonicalize(PathBuf::from(home)).ok());
        let mut entries: BTreeMap<PathBuf, Entry> = BTreeMap::new();
        for system in SYSTEM {
            let path = Path::new(system);
            match fs_err::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = fs_err::read_link(path).map_err(|source| SandboxError::Path {
                        path: path.to_owned(),
                        source,
                    })?;
                    entries.insert(path.to_owned(), Entry::Symlink(target));
                }
                Ok(meta) if meta.is_dir() => {
                    entries.insert(
                        path.to_owned(),
                        Entry::Bind {
                            src: path.to_owned(),
                            writable: false,
                            device: false,
                        },
                    );
                }
                _ => {}
            }
        }
        for device in DEVICES {
            let path = Path::new(device);
            if path.exists() {
                entries.insert(
                    path.to_owned(),
                    Entry::Bind {
                        src: path.to_owned(),
                        writable: false,
                        device: true,
                    },
                );
            }
        }
        for (link, target) in DEV_LINKS {
            entries.insert(PathBuf::from(link), Entry::Symlink(PathBuf::from(target)));
        }
        entries.insert(PathBuf::from("/proc"), Entry::Proc);

        let mut shared = Vec::new();
        for (paths, writable) in [(&command.readable, false), (&command.writable, true)] {
            for path in paths {
                let real = canonical(path)?;
                check_shared(&real, home.as_deref())?;
                entries.insert(
                    real.clone(),
                    Entry::Bind {
                        src: real.clone(),
                        writable,
                        device: false,
                    },
                );
                shared.push(real);
            }
        }
        let cwd = if probe {
            PathBuf::from("/")
        } else {
            let cwd = canonical(&command.cwd)?;
            if !shared.iter().any(|path| cwd.starts_with(path)) {
                return Err(SandboxError::PathRefused {
                    path: command.cwd.clone(),
                    reason: "the working directory must be inside a readable or writable path",
                });
            }
            cwd
        };
        // Masks come last so that they win over any shared path that holds them.
        for secret in ETC_SECRETS {
            let Ok(real) = fs_err::canonicalize(secret) else {
                continue;
            };
            if !real.starts_with("/etc") && !real.starts_with("/usr") {
                continue;
            }
            if real.is_dir() {
                entries.insert(real, Entry::Mask);
            } else {
                entries.insert(
                    real,
                    Entry::Bind {
                        src: PathBuf::from("/dev/null"),
                        writable: false,
                        device: false,
                    },
                );
            }
        }

        let sources: Vec<&Path> = entries
            .values()
            .filter_map(|entry| match entry {
                Entry::Bind { src, .. } => Some(src.as_path()),
                _ => None,
            })
            .collect();
        let root = ROOT_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|candidate| {
                fs_err::symlink_metadata(candidate).is_ok_and(|meta| meta.is_dir())
                    && !sources.iter().any(|src| src.starts_with(candidate))
            })
            .ok_or(SandboxError::Unsupported {
                missing: "a directory to mount the sandbox's root on".to_owned(),
                detail: format!(
                    "none of {ROOT_CANDIDATES:?} exists without a shared path inside it"
                ),
            })?
            .to_owned();

        let mut ops = Vec::new();
        let mut created: BTreeSet<PathBuf> = BTreeSet::new();
        ops.push(Op::Dir(cstring(&root.join(".oldroot"))?));
        for (dst, entry) in &entries {
            let mut ancestors: Vec<&Path> = dst
                .ancestors()
                .skip(1)
                .filter(|a| a.parent().is_some())
                .collect();
            ancestors.reverse();
            for ancestor in ancestors {
                if created.insert(ancestor.to_owned()) {
                    ops.push(Op::Dir(cstring(&under(&root, ancestor))?));
                }
            }
            created.insert(dst.clone());
            let inside = cstring(&under(&root, dst))?;
            match entry {
                Entry::Bind {
                    src,
                    writable,
                    device,
                } => {
                    let meta = fs_err::metadata(src).map_err(|source| SandboxError::Path {
                        path: src.clone(),
                        source,
                    })?;
                    ops.push(if meta.is_dir() {
                        Op::Dir(inside.clone())
                    } else {
                        Op::File(inside.clone())
                    });
                    let read_only = if *writable {
                        None
                    } else {
                        Some(read_only_flags(src, *device)?)
                    };
                    ops.push(Op::Bind {
                        src: cstring(src)?,
                        dst: inside,
                        read_only,
                    });
                }
                Entry::Symlink(target) => ops.push(Op::Symlink {
                    target: cstring(target)?,
                    link: inside,
                }),
                Entry::Mask => {
                    ops.push(Op::Dir(inside.clone()));
                    ops.push(Op::Mask(inside));
                }
                Entry::Proc => {
                    ops.push(Op::Dir(inside.clone()));
                    ops.push(Op::Proc(inside));
                }
            }
        }

        let uid = nix::unistd::geteuid();
        let gid = nix::unistd::getegid();
        Ok(Plan {
            parent_pid: nix::unistd::getpid(),
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            root: cstring(&root)?,
            ops,
            cwd: cstring(&cwd)?,
            cpu_seconds: command.limits.cpu_time.as_secs_f64().ceil().max(1.0) as u64,
            memory_bytes: command.limits.memory_bytes,
            probe,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The child side: only async-signal-safe calls from here to `exec`.

/// Tells the parent which step failed: one byte of step index, four of errno.
fn report(fd: RawFd, step: Step, errno: Errno) {
    let mut record = [0u8; 5];
    record[0] = step as u8;
    record[1..].copy_from_slice(&(errno as i32).to_le_bytes());
    // SAFETY: `write` is async-signal-safe; the buffer outlives the call. A failed report leaves
    // the parent with the plain exit status, which is still a failure.
    unsafe { libc::write(fd, record.as_ptr().cast(), record.len()) };
}

fn exit(code: i32) -> ! {
    // SAFETY: `_exit` ends the process without running the parent's atexit handlers or destructors,
    // which is what a forked child of a multi-threaded process must do.
    unsafe { libc::_exit(code) }
}

fn write_file(path: &CStr, data: &[u8]) -> Result<(), Errno> {
    let fd = nix::fcntl::open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let written = nix::unistd::write(&fd, data)?;
    if written == data.len() {
        Ok(())
    } else {
        Err(Errno::EIO)
    }
}

/// Closes every descriptor from 3 up except `keep` (sorted in place); std's exec-error pipe is
/// among those closed in P and A, which never `exec`, so that `spawn` returns once B has `exec`ed.
fn close_except(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut low: RawFd = 3;
    let close_range = |low: RawFd, high: RawFd| {
        // SAFETY: close_range only closes descriptors; none of them is used by this process later.
        let done = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                low as libc::c_uint,
                high as libc::c_uint,
                0,
            )
        };
        if done != 0 {
            for fd in low..=high.min(65535) {
                // SAFETY: as above, for kernels before 5.9.
                unsafe { libc::close(fd) };
            }
        }
    };
    for &fd in keep.iter() {
        if fd > low {
            close_range(low, fd - 1);
        }
        low = low.max(fd + 1);
    }
    close_range(low, RawFd::MAX);
}

fn none() -> Option<&'static CStr> {
    None
}

/// P: runs in the child of `spawn`, before `exec`. Returns only in B, ready for `exec`.
fn enter(plan: &Plan, report_fd: RawFd) -> io::Result<()> {
    let fail = |step: Step, errno: Errno| -> io::Error {
        report(report_fd, step, errno);
        io::Error::from_raw_os_error(errno as i32)
    };
    // Invariant: the sandbox never outlives the process that started it.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| fail(Step::ParentDeath, e))?;
    if nix::unistd::getppid() != plan.parent_pid {
        return Err(fail(Step::ParentDeath, Errno::ESRCH));
    }
    nix::sys::resource::setrlimit(Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| fail(Step::ResourceLimits, e))?;
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| fail(Step::UserNamespace, e))?;
    match write_file(c"/proc/self/setgroups", b"deny") {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(fail(Step::IdMaps, e)),
    }
    write_file(c"/proc/self/uid_map", &plan.uid_map).map_err(|e| fail(Step::IdMaps, e))?;
    write_file(c"/proc/self/gid_map", &plan.gid_map).map_err(|e| fail(Step::IdMaps, e))?;
    // Invariant: the build has no network but its own loopback (threat: exfiltrating what it reads,
    // fetching a second stage). The namespace has no route anywhere else.
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| fail(Step::NetworkNamespace, e))?;
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(|e| fail(Step::MountNamespace, e))?;
    nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(|e| fail(Step::PidNamespace, e))?;
    nix::sched::unshare(CloneFlags::CLONE_NEWIPC).map_err(|e| fail(Step::IpcNamespace, e))?;
    let (status_read, status_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(Step::Pipes, e))?;
    let (life_read, life_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(Step::Pipes, e))?;
    // SAFETY: this process is single-threaded (a child of fork), so fork is sound; both sides only
    // make async-signal-safe calls until they exec or exit.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(fail(Step::ForkInit, e)),
        Ok(ForkResult::Parent { child }) => {
            drop(status_write);
            drop(life_read);
            close_except(&mut [status_read.as_raw_fd(), life_write.as_raw_fd()]);
            outer(child, &status_read)
        }
        Ok(ForkResult::Child) => {
            drop(status_read);
            drop(life_write);
            init(plan, report_fd, status_write, life_read)
        }
    }
}

/// P after the fork: wait for A, then end as the build ended.
fn outer(init: Pid, status: &OwnedFd) -> ! {
    let mut init_status = 0;
    loop {
        // SAFETY: waitpid is async-signal-safe; the pointer is to a local.
        let r = unsafe { libc::waitpid(init.as_raw(), &mut init_status, 0) };
        if r == init.as_raw() || (r == -1 && Errno::last() != Errno::EINTR) {
            break;
        }
    }
    let mut buffer = [0u8; 4];
    let raw = match nix::unistd::read(status.as_fd(), &mut buffer) {
        Ok(4) => i32::from_ne_bytes(buffer),
        _ => init_status,
    };
    if libc::WIFEXITED(raw) {
        exit(libc::WEXITSTATUS(raw));
    }
    if libc::WIFSIGNALED(raw) {
        let signal = libc::WTERMSIG(raw);
        // SAFETY: resetting a disposition, unblocking and raising are async-signal-safe. P is not a
        // PID namespace init, so the default action (termination) applies and the parent sees the
        // same signal the build died of (SIGXCPU or SIGKILL for the CPU limit).
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(signal);
        }
        exit(128 + signal);
    }
    exit(1)
}

/// A: PID 1 of the new namespace. Builds the root, starts B, reaps, reports B's status.
fn init(plan: &Plan, report_fd: RawFd, status: OwnedFd, life: OwnedFd) -> io::Result<()> {
    let die = |step: Step, errno: Errno| -> ! {
        report(report_fd, step, errno);
        exit(1)
    };
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).unwrap_or_else(|e| die(Step::ParentDeath, e));
    // P may have died before the line above: then the write end of `life` is closed.
    let mut poll = libc::pollfd {
        fd: life.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    // SAFETY: poll on one local pollfd, no timeout.
    if unsafe { libc::poll(&mut poll, 1, 0) } != 0 {
        exit(1);
    }
    build_root(plan).unwrap_or_else(|(step, e)| die(step, e));
    // SAFETY: as in `enter`: single-threaded, async-signal-safe calls only on both sides.
    match unsafe { nix::unistd::fork() } {
        Err(e) => die(Step::ForkBuild, e),
        Ok(ForkResult::Child) => {
            drop(status);
            drop(life);
            build_process(plan, report_fd)
        }
        Ok(ForkResult::Parent { child }) => {
            close_except(&mut [status.as_raw_fd(), life.as_raw_fd()]);
            reap(child, &status)
        }
    }
}

/// A after starting B: reap every orphan; when B ends, hand its status to P and exit, which makes
/// the kernel kill every process left in the namespace.
fn reap(build: Pid, status: &OwnedFd) -> ! {
    loop {
        let mut raw = 0;
        // SAFETY: waitpid on any child with a local status; async-signal-safe.
        let r = unsafe { libc::waitpid(-1, &mut raw, 0) };
        if r == build.as_raw() {
            let _ = nix::unistd::write(status, &raw.to_ne_bytes());
            exit(0);
        }
        if r == -1 && Errno::last() != Errno::EINTR {
            exit(1);
        }
    }
}

fn build_root(plan: &Plan) -> Result<(), (Step, Errno)> {
    use nix::mount::mount;
    // Invariant: nothing mounted here propagates back to the parent's mount namespace.
    mount(
        none(),
        c"/",
        none(),
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        none(),
    )
    .map_err(|e| (Step::PrivatePropagation, e))?;
    mount(
        Some(c"tmpfs"),
        plan.root.as_c_str(),
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(c"mode=0755"),
    )
    .map_err(|e| (Step::RootTmpfs, e))?;
    for op in &plan.ops {
        match op {
            Op::Dir(path) => {
                match nix::unistd::mkdir(path.as_c_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err((Step::MountPoint, e)),
                }
            }
            Op::File(path) => {
                nix::fcntl::open(
                    path.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .or_else(|_| {
                    nix::fcntl::open(
                        path.as_c_str(),
                        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o644),
                    )
                })
                .map_err(|e| (Step::MountPoint, e))?;
            }
            Op::Symlink { target, link } => {
                nix::unistd::symlinkat(target.as_c_str(), nix::fcntl::AT_FDCWD, link.as_c_str())
                    .map_err(|e| (Step::MountPoint, e))?;
            }
            Op::Bind {
                src,
                dst,
                read_only,
            } => {
                mount(
                    Some(src.as_c_str()),
                    dst.as_c_str(),
                    none(),
                    MsFlags::MS_BIND,
                    none(),
                )
                .map_err(|e| (Step::BindMount, e))?;
                if let Some(flags) = read_only {
                    mount(none(), dst.as_c_str(), none(), *flags, none())
                        .map_err(|e| (Step::ReadOnlyRemount, e))?;
                }
            }
            Op::Mask(path) => {
                let flags = MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC;
                mount(
                    Some(c"tmpfs"),
                    path.as_c_str(),
                    Some(c"tmpfs"),
                    flags,
                    Some(c"mode=0755"),
                )
                .map_err(|e| (Step::Mask, e))?;
            }
            Op::Proc(path) => {
                // Mounted by A, the PID namespace's init: it shows only the sandbox's processes.
                let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
                mount(Some(c"proc"), path.as_c_str(), Some(c"proc"), flags, none())
                    .map_err(|e| (Step::Proc, e))?;
            }
        }
    }
    loopback_up().map_err(|e| (Step::Loopback, e))?;
    nix::unistd::chdir(plan.root.as_c_str()).map_err(|e| (Step::PivotRoot, e))?;
    nix::unistd::pivot_root(c".", c".oldroot").map_err(|e| (Step::PivotRoot, e))?;
    nix::unistd::chdir(c"/").map_err(|e| (Step::PivotRoot, e))?;
    // Invariant: the old root (the whole host file system) is unreachable from the sandbox.
    nix::mount::umount2(OLD_ROOT, MntFlags::MNT_DETACH).map_err(|e| (Step::DetachOldRoot, e))?;
    // SAFETY: rmdir of a constant path; async-signal-safe.
    if unsafe { libc::rmdir(OLD_ROOT.as_ptr()) } != 0 {
        return Err((Step::DetachOldRoot, Errno::last()));
    }
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(none(), c"/", none(), flags, none()).map_err(|e| (Step::ReadOnlyRoot, e))?;
    Ok(())
}

/// `ip link set lo up`: builds that test themselves over 127.0.0.1 keep working; nothing else is
/// reachable from the new network namespace.
fn loopback_up() -> Result<(), Errno> {
    // SAFETY: socket, ioctl and close on a local descriptor and a zeroed `ifreq` we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(Errno::last());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        let mut result = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(fd, libc::SIOCSIFFLAGS, &request);
        }
        let errno = Errno::last();
        libc::close(fd);
        if result == 0 { Ok(()) } else { Err(errno) }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// B: limits, no capabilities, no privilege gain, then back to `std` for `exec`.
fn build_process(plan: &Plan, report_fd: RawFd) -> io::Result<()> {
    let die = |step: Step, errno: Errno| -> ! {
        report(report_fd, step, errno);
        exit(1)
    };
    let limits = [
        (
            Resource::RLIMIT_CPU,
            plan.cpu_seconds,
            plan.cpu_seconds.saturating_add(1),
        ),
        (Resource::RLIMIT_AS, plan.memory_bytes, plan.memory_bytes),
        (Resource::RLIMIT_CORE, 0, 0),
    ];
    for (resource, soft, hard) in limits {
        nix::sys::resource::setrlimit(resource, soft, hard)
            .unwrap_or_else(|e| die(Step::ResourceLimits, e));
    }
    nix::unistd::chdir(plan.cwd.as_c_str()).unwrap_or_else(|e| die(Step::WorkingDirectory, e));
    // Invariant: the build holds no capability, in the sandbox's user namespace or any other. With
    // them it could remount the read-only binds read-write (they are its own mounts) and, when the
    // user is root, write the host's /usr through them. Bounding set first (needs CAP_SETPCAP),
    // then ambient, then every set to zero; no_new_privs keeps setuid binaries from giving them back.
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments; async-signal-safe.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            match Errno::last() {
                Errno::EINVAL => break,
                e => die(Step::Capabilities, e),
            }
        }
    }
    // SAFETY: as above. EINVAL means a kernel before ambient capabilities (4.3): nothing to clear.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    } != 0
        && Errno::last() != Errno::EINVAL
    {
        die(Step::Capabilities, Errno::last());
    }
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads one header and two data structs, laid out as the kernel's v3 ABI.
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } != 0 {
        die(Step::Capabilities, Errno::last());
    }
    nix::sys::prctl::set_no_new_privs().unwrap_or_else(|e| die(Step::NoNewPrivs, e));
    if plan.probe {
        exit(0);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The parent side.

/// Kills P; A has P's death as its SIGKILL, and the namespace dies with A.
struct Namespace;

impl Tree for Namespace {
    fn kill_running(&self, pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn kill_leftovers(&self, _pid: u32) {
        // P was reaped, so A had exited first and the kernel killed the namespace with it; P's pid
        // may already belong to another process and must not be signalled.
    }
}

/// Reads the failure report until every copy of the write end is closed: B `exec`ed (the pipe is
/// close-on-exec) or every process of the setup ended.
fn read_report(fd: OwnedFd) -> Option<(Step, Errno)> {
    let mut record = Vec::new();
    let mut chunk = [0u8; 64];
    loop {
        match nix::unistd::read(fd.as_fd(), &mut chunk) {
            Ok(0) => break,
            Ok(n) => record.extend_from_slice(&chunk[..n]),
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    let step = *STEPS.get(usize::from(*record.first()?))?;
    let errno = i32::from_le_bytes(record.get(1..5)?.try_into().ok()?);
    Some((step, Errno::from_raw(errno)))
}

enum Started {
    Running(std::process::Child, Instant),
    Failed(Step, Errno),
}

fn start(command: &SandboxCommand, plan: Plan) -> Result<Started, SandboxError> {
    let (report_read, report_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| SandboxError::Setup {
            step: Step::Pipes.name(),
            source: e.into(),
        })?;
    let mut cmd = Command::new(&command.program);
    cmd.args(&command.args)
        .env_clear()
        .envs(command.env.iter().map(|(k, v)| (k, v)));
    supervise::pipe_stdio(&mut cmd);
    let report_fd = report_write.as_raw_fd();
    // SAFETY: the closure runs between fork and exec in the child; `enter` and what it calls only
    // make async-signal-safe syscalls on data prepared before the fork (`plan`), and allocate nothing.
    unsafe {
        cmd.pre_exec(move || enter(&plan, report_fd));
    }
    let started = Instant::now();
    let spawned = cmd.spawn();
    drop(report_write);
    let failure = read_report(report_read);
    match (spawned, failure) {
        (Ok(mut child), Some((step, errno))) => {
            let _ = child.kill();
            let _ = child.wait();
            Ok(Started::Failed(step, errno))
        }
        (Err(_), Some((step, errno))) => Ok(Started::Failed(step, errno)),
        (Err(source), None) => Err(SandboxError::Spawn {
            program: command.program.clone(),
            source,
        }),
        (Ok(child), None) => Ok(Started::Running(child, started)),
    }
}

pub(crate) fn run(command: &SandboxCommand) -> Result<SandboxOutput, SandboxError> {
    let plan = Plan::new(command, false)?;
    match start(command, plan)? {
        Started::Failed(step, errno) => Err(SandboxError::Setup {
            step: step.name(),
            source: errno.into(),
        }),
        Started::Running(child, started) => {
            supervise::supervise(child, command, started, &Namespace)
        }
    }
}

/// The refusal for a failed setup step: the missing feature, then the step and the kernel's error.
fn failed_step(step: Step, errno: Errno) -> (String, String) {
    (
        step.missing().to_owned(),
        format!("{}: {}", step.name(), errno.desc()),
    )
}

/// Sets up a whole sandbox once, in a child that ends instead of running a program.
pub(crate) fn probe() -> Result<(), SandboxError> {
    static PROBED: OnceLock<Result<(), (String, String)>> = OnceLock::new();
    let result = PROBED.get_or_init(|| {
        let command = SandboxCommand {
            program: PathBuf::from("/"),
            args: Vec::new(),
            cwd: PathBuf::from("/"),
            writable: Vec::new(),
            readable: Vec::new(),
            env: Vec::new(),
            limits: crate::Limits::default(),
            stdin: Vec::new(),
        };
        let unsupported = |missing: &str, detail: String| Err((missing.to_owned(), detail));
        let plan = Plan::new(&command, true)
            .map_err(|e| ("a sandbox setup plan".to_owned(), e.to_string()))?;
        match start(&command, plan) {
            Ok(Started::Failed(step, errno)) => Err(failed_step(step, errno)),
            Ok(Started::Running(mut child, _)) => match child.wait() {
                Ok(status) if status.success() => Ok(()),
                Ok(status) => unsupported(
                    "a working sandbox setup",
                    format!("the probe ended with {status}"),
                ),
                Err(e) => unsupported(
                    "a working sandbox setup",
                    format!("waiting for the probe: {e}"),
                ),
            },
            Err(e) => unsupported("process creation", e.to_string()),
        }
    });
    result
        .clone()
        .map_err(|(missing, detail)| SandboxError::Unsupported { missing, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_in_order() {
        for (index, step) in STEPS.iter().enumerate() {
            assert_eq!(usize::from(*step as u8), index, "{step:?}");
        }
    }

    #[test]
    fn a_reported_failure_names_the_step_and_the_missing_feature() {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        report(write.as_raw_fd(), Step::UserNamespace, Errno::ENOSPC);
        drop(write);
        let (step, errno) = read_report(read).expect("a report");
        assert_eq!((step, errno), (Step::UserNamespace, Errno::ENOSPC));
        let (missing, detail) = failed_step(step, errno);
        let error = SandboxError::Unsupported {
            missing,
            detail: detail.clone(),
        };
        assert_eq!(
            error.to_string(),
            "cannot contain the build: this machine lacks user namespaces"
        );
        assert!(
            detail.starts_with("creating a user namespace: "),
            "{detail}"
        );

        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        drop(write);
        assert_eq!(
            read_report(read),
            None,
            "no report means the setup succeeded"
        );
    }
}
