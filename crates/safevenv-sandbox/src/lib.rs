//! TEMPORARY shim of `safevenv-sandbox` with the agreed API and NO isolation: a scrubbed
//! environment and a wall-time kill only. It exists so that the build stage can be built and
//! tested; the real crate replaces it at merge. Nothing here is a security boundary.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What the contained program may touch and use.
#[derive(Debug, Clone)]
pub struct SandboxCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Directories it may read and write.
    pub writable: Vec<PathBuf>,
    /// Directories it may only read.
    pub readable: Vec<PathBuf>,
    /// Its complete environment.
    pub env: Vec<(OsString, OsString)>,
    /// Its limits.
    pub limits: Limits,
    /// Bytes written to its standard input.
    pub stdin: Vec<u8>,
}

/// Resource limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock time.
    pub wall_time: Duration,
    /// CPU time.
    pub cpu_time: Duration,
    /// Memory.
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            wall_time: Duration::from_secs(15 * 60),
            cpu_time: Duration::from_secs(15 * 60),
            memory_bytes: 4 << 30,
        }
    }
}

/// What the program did.
#[derive(Debug)]
pub struct SandboxOutput {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

/// The isolation this machine offers (the shim offers none).
#[derive(Debug, Clone)]
pub struct Sandbox {
    isolated: bool,
}

impl Sandbox {
    /// The shim always succeeds.
    pub fn probe() -> Result<Sandbox, SandboxError> {
        Ok(Sandbox { isolated: true })
    }

    /// The explicit opt-out.
    pub fn unsandboxed_unsafe() -> Sandbox {
        Sandbox { isolated: false }
    }

    /// Whether this sandbox isolates.
    pub fn is_isolated(&self) -> bool {
        self.isolated
    }

    /// Run the program with the given environment, killed at its wall-time limit.
    pub fn run(&self, command: &SandboxCommand) -> Result<SandboxOutput, SandboxError> {
        let mut child = std::process::Command::new(&command.program)
            .args(&command.args)
            .current_dir(&command.cwd)
            .env_clear()
            .envs(command.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                program: command.program.clone(),
                source,
            })?;
        let mut stdin = child.stdin.take();
        let input = command.stdin.clone();
        let writer = std::thread::spawn(move || {
            if let Some(stdin) = stdin.as_mut() {
                let _ = stdin.write_all(&input);
            }
        });
        let mut out = child.stdout.take();
        let mut err = child.stderr.take();
        let reader_out = std::thread::spawn(move || {
            let mut buffer = Vec::new();
            if let Some(out) = out.as_mut() {
                let _ = out.read_to_end(&mut buffer);
            }
            buffer
        });
        let reader_err = std::thread::spawn(move || {
            let mut buffer = Vec::new();
            if let Some(err) = err.as_mut() {
                let _ = err.read_to_end(&mut buffer);
            }
            buffer
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > command.limits.wall_time => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = writer.join();
                    return Err(SandboxError::WallTimeExceeded {
                        limit: command.limits.wall_time,
                        stdout: reader_out.join().unwrap_or_default(),
                        stderr: reader_err.join().unwrap_or_default(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => {
                    return Err(SandboxError::Setup {
                        step: "waiting for the program",
                        source,
                    });
                }
            }
        };
        let _ = writer.join();
        Ok(SandboxOutput {
            status,
            stdout: reader_out.join().unwrap_or_default(),
            stderr: reader_err.join().unwrap_or_default(),
        })
    }
}

/// The environment allowlist (the shim keeps PATH, LANG, LC_*, TZ, TERM, SOURCE_DATE_EPOCH).
pub fn scrubbed_env(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    extra: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = inherited
        .into_iter()
        .filter(|(key, _)| {
            let key = key.to_string_lossy();
            matches!(
                key.as_ref(),
                "PATH" | "LANG" | "TZ" | "TERM" | "SOURCE_DATE_EPOCH"
            ) || key.starts_with("LC_")
        })
        .collect();
    for (key, value) in extra {
        env.retain(|(existing, _)| *existing != key);
        env.push((key, value));
    }
    env
}

/// Why the program could not be run contained.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A kernel feature is missing.
    #[error("cannot contain the build: this machine lacks {missing}")]
    Unsupported {
        /// The feature.
        missing: String,
        /// More detail.
        detail: String,
    },
    /// The wall-time limit was reached.
    #[error("the build ran longer than its wall-time limit of {limit:?} and was killed")]
    WallTimeExceeded {
        /// The limit.
        limit: Duration,
        /// Output so far.
        stdout: Vec<u8>,
        /// Errors so far.
        stderr: Vec<u8>,
    },
    /// The program could not be started.
    #[error("could not start `{}` in the sandbox", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The sandbox could not be set up.
    #[error("setting up the sandbox failed at {step}")]
    Setup {
        /// The step.
        step: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
