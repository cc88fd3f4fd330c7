//! The opt-out (`Sandbox::unsandboxed_unsafe`): the program runs with the user's file system and
//! network. What still holds: the scrubbed environment (the caller's `env`, nothing inherited), the
//! CPU-time, memory and wall-time limits, and the kill of its process group on exit or timeout. A
//! process that leaves the group (`setsid`) escapes that kill: only the sandbox's PID namespace
//! catches it.
#![allow(unsafe_code)]

use std::process::Command;
use std::time::Instant;

use crate::supervise::{self, Tree};
use crate::{SandboxCommand, SandboxError, SandboxOutput};

struct ProcessGroup;

impl Tree for ProcessGroup {
    fn kill_running(&self, pid: u32) {
        kill_group(pid);
    }

    fn kill_leftovers(&self, pid: u32) {
        // The group outlives its leader while any member lives, and its id is not reused meanwhile.
        kill_group(pid);
    }
}

#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {
    // No process groups: `supervise` still kills the program itself through its `Child`.
}

pub(crate) fn run(command: &SandboxCommand) -> Result<SandboxOutput, SandboxError> {
    let mut cmd = Command::new(&command.program);
    cmd.args(&command.args)
        .current_dir(&command.cwd)
        .env_clear()
        .envs(command.env.iter().map(|(k, v)| (k, v)));
    supervise::pipe_stdio(&mut cmd);
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, setrlimit};
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let cpu = command.limits.cpu_time.as_secs_f64().ceil().max(1.0) as u64;
        let memory = command.limits.memory_bytes;
        // SAFETY: runs between fork and exec; setrlimit and prctl are async-signal-safe syscalls on
        // integers captured before the fork.
        unsafe {
            cmd.pre_exec(move || {
                #[cfg(target_os = "linux")]
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
                setrlimit(Resource::RLIMIT_CPU, cpu, cpu.saturating_add(1))?;
                setrlimit(Resource::RLIMIT_AS, memory, memory)?;
                setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
                Ok(())
            });
        }
    }
    let started = Instant::now();
    let child = cmd.spawn().map_err(|source| SandboxError::Spawn {
        program: command.program.clone(),
        source,
    })?;
    supervise::supervise(child, command, started, &ProcessGroup)
}
