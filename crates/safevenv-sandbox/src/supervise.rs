//! Feeding, reading, timing and killing a started program: shared by the sandbox and the opt-out.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::{SandboxCommand, SandboxError, SandboxOutput};

/// How long the output readers may take after the tree is dead. With the sandbox they end at once
/// (the PID namespace takes every holder of the pipes with it); without it a daemon that left the
/// process group may keep them open, and its output is then not waited for.
const READER_GRACE: Duration = Duration::from_secs(2);

/// Kills what `run` started: the sandbox's outer process (the namespace dies with it), or the
/// opt-out's process group.
pub(crate) trait Tree {
    /// Kill before the first process was reaped (timeout, early return).
    fn kill_running(&self, pid: u32);
    /// Kill what is left after the first process was reaped.
    fn kill_leftovers(&self, pid: u32);
}

/// Kills the tree when `run` returns by any path, including a panic in the supervising thread.
struct Guard<'a, T: Tree> {
    tree: &'a T,
    pid: u32,
    reaped: bool,
}

impl<T: Tree> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        if self.reaped {
            self.tree.kill_leftovers(self.pid);
        } else {
            self.tree.kill_running(self.pid);
        }
    }
}

fn reader(mut source: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, mpsc::Receiver<()>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let (done, finished) = mpsc::channel();
    let sink = Arc::clone(&buffer);
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = source.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&chunk[..n]);
        }
        let _ = done.send(());
    });
    (buffer, finished)
}

fn collect(buffer: &Arc<Mutex<Vec<u8>>>, finished: &mpsc::Receiver<()>, until: Instant) -> Vec<u8> {
    let _ = finished.recv_timeout(until.saturating_duration_since(Instant::now()));
    std::mem::take(&mut *buffer.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The pipes a started program needs; set before `spawn`.
pub(crate) fn pipe_stdio(cmd: &mut Command) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
}

/// Feed standard input, read both outputs, wait with the wall-time limit, kill the tree.
pub(crate) fn supervise(
    mut child: Child,
    command: &SandboxCommand,
    started: Instant,
    tree: &impl Tree,
) -> Result<SandboxOutput, SandboxError> {
    let mut guard = Guard {
        tree,
        pid: child.id(),
        reaped: false,
    };
    if let Some(mut stdin) = child.stdin.take() {
        let bytes = command.stdin.clone();
        // A program that never reads its input must not block the supervisor: write from a thread.
        thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let (stdout, stdout_done) = reader(
        child
            .stdout
            .take()
            .map_or_else(empty, |s| Box::new(s) as Box<dyn Read + Send>),
    );
    let (stderr, stderr_done) = reader(
        child
            .stderr
            .take()
            .map_or_else(empty, |s| Box::new(s) as Box<dyn Read + Send>),
    );

    let (status_tx, status_rx) = mpsc::channel::<std::io::Result<ExitStatus>>();
    thread::spawn(move || {
        let _ = status_tx.send(child.wait());
    });
    let deadline = started + command.limits.wall_time;
    let waited = match status_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(result) => Some(result),
        Err(_) => {
            // Invariant: nothing started by the build outlives its wall time.
            tree.kill_running(guard.pid);
            let _ = status_rx.recv();
            None
        }
    };
    guard.reaped = true;
    drop(guard);
    let until = Instant::now() + READER_GRACE;
    let stdout = collect(&stdout, &stdout_done, until);
    let stderr = collect(&stderr, &stderr_done, until);
    match waited {
        None => Err(SandboxError::WallTimeExceeded {
            limit: command.limits.wall_time,
            stdout,
            stderr,
        }),
        Some(Ok(status)) => Ok(SandboxOutput {
            status,
            stdout,
            stderr,
        }),
        Some(Err(source)) => Err(SandboxError::Setup {
            step: "waiting for the build",
            source,
        }),
    }
}

fn empty() -> Box<dyn Read + Send> {
    Box::new(std::io::empty())
}
