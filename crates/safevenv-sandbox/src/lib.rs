//! Run one untrusted program (a build backend) contained.
//!
//! On Linux the program runs in fresh user, network, mount, PID and IPC namespaces: only loopback,
//! a root file system assembled from the system directories and the paths the caller allows (the
//! user's home, credentials and other projects are not in it), no capabilities, a scrubbed
//! environment, CPU-time, wall-time and memory limits, and the whole process tree killed with the
//! namespace's init. Other platforms get no sandbox: [`Sandbox::probe`] refuses, naming the platform,
//! and only the explicit [`Sandbox::unsandboxed_unsafe`] runs builds there. See `docs/sandbox.md`.

mod env;
#[cfg(target_os = "linux")]
mod linux;
mod supervise;
mod unsandboxed;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

pub use env::scrubbed_env;

/// What the contained program may touch and use.
#[derive(Debug, Clone)]
pub struct SandboxCommand {
    /// The program to run, e.g. the build environment's interpreter.
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Must be inside `writable` or `readable`.
    pub cwd: PathBuf,
    /// Directories the program may read and write (the build's scratch and output directories).
    pub writable: Vec<PathBuf>,
    /// Directories the program may only read (the interpreter's prefix and base prefix, the build
    /// environment, a read-only source tree). System directories needed to run programs
    /// (/usr, /lib*, /bin, /etc minus secrets, /dev/null|zero|urandom, /proc) are added by the sandbox.
    pub readable: Vec<PathBuf>,
    /// The complete environment of the program (nothing is inherited). Build it with `scrubbed_env`.
    pub env: Vec<(OsString, OsString)>,
    pub limits: Limits,
    /// Bytes written to the program's standard input (then closed).
    pub stdin: Vec<u8>,
}

/// Resource limits of one contained run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time from start to the kill of the whole process tree.
    pub wall_time: Duration,
    /// CPU time of the program (`RLIMIT_CPU`, per process): SIGXCPU, then SIGKILL a second later.
    pub cpu_time: Duration,
    /// Address space of the program (`RLIMIT_AS`, per process).
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_time: Duration::from_secs(15 * 60),
            cpu_time: Duration::from_secs(15 * 60),
            memory_bytes: 4 << 30,
        }
    }
}

/// What the program wrote and how it ended.
#[derive(Debug)]
pub struct SandboxOutput {
    /// The program's own exit status: an exit code, or the signal that ended it (SIGXCPU or
    /// SIGKILL when the CPU limit was reached).
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The isolation this machine offers, probed once.
#[derive(Debug, Clone)]
pub struct Sandbox {
    isolated: bool,
}

impl Sandbox {
    /// Probe the kernel by setting up a complete sandbox once (namespaces, mounts, `/proc`,
    /// `pivot_root`, capability drop) without running a program.
    /// `Err(SandboxError::Unsupported { missing, .. })` names the missing feature (e.g. "user
    /// namespaces", "network namespaces", or the platform). The result is cached for the process.
    pub fn probe() -> Result<Sandbox, SandboxError> {
        #[cfg(target_os = "linux")]
        {
            linux::probe().map(|()| Sandbox { isolated: true })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(SandboxError::Unsupported {
                missing: format!("a build sandbox on {} (only Linux has one)", std::env::consts::OS),
                detail: "safevenv contains builds with Linux namespaces; this platform has no equivalent it uses"
                    .to_owned(),
            })
        }
    }

    /// The explicit, never-default opt-out (`--unsandboxed-build PKG`): same environment scrubbing,
    /// limits and process-tree kill where the platform allows, but no file-system or network isolation.
    /// The name says it is unsafe.
    pub fn unsandboxed_unsafe() -> Sandbox {
        Sandbox { isolated: false }
    }

    /// Whether this sandbox isolates (false only for `unsandboxed_unsafe`).
    pub fn is_isolated(&self) -> bool {
        self.isolated
    }

    /// Run the program to completion, contained; the whole process tree is killed when it exits,
    /// on timeout, or when this call returns early.
    pub fn run(&self, command: &SandboxCommand) -> Result<SandboxOutput, SandboxError> {
        if self.isolated {
            #[cfg(target_os = "linux")]
            {
                linux::run(command)
            }
            #[cfg(not(target_os = "linux"))]
            {
                // Unreachable in practice: `probe` never returns an isolated sandbox here. Fail
                // closed rather than run uncontained.
                Err(Sandbox::probe().expect_err("no sandbox on this platform"))
            }
        } else {
            unsandboxed::run(command)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot contain the build: this machine lacks {missing}")]
    Unsupported { missing: String, detail: String },
    #[error("the build ran longer than its wall-time limit of {limit:?} and was killed")]
    WallTimeExceeded {
        limit: Duration,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    #[error("could not start `{program}` in the sandbox")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("setting up the sandbox failed at {step}")]
    Setup {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A path of the command cannot be shared with the sandbox (missing, relative, unreadable).
    #[error("cannot share `{path}` with the sandbox")]
    Path {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path of the command would defeat the sandbox: the root, the user's home or a directory
    /// holding it, or a working directory outside the shared paths.
    #[error("refused to share `{path}` with the sandbox: {reason}")]
    PathRefused { path: PathBuf, reason: &'static str },
}
