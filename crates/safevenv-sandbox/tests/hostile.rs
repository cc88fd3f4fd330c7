//! A hostile build backend against the sandbox: each attack runs contained (it must fail, or leave
//! no effect) and, where the attack is real without a sandbox, under `unsandboxed_unsafe` too (it
//! must succeed there, which proves the test can see the effect it checks for).
//!
//! The tests need user, network, mount and PID namespaces. When the kernel lacks one they print why
//! and skip; with `SAFEVENV_REQUIRE_SANDBOX=1` (set it in CI) a missing feature fails them instead.

use std::ffi::OsString;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use safevenv_sandbox::{
    Limits, Sandbox, SandboxCommand, SandboxError, SandboxOutput, scrubbed_env,
};

fn sandbox() -> Option<Sandbox> {
    match Sandbox::probe() {
        Ok(sandbox) => {
            assert!(sandbox.is_isolated());
            Some(sandbox)
        }
        Err(error @ SandboxError::Unsupported { .. }) => {
            let SandboxError::Unsupported { detail, .. } = &error else {
                unreachable!()
            };
            assert!(
                std::env::var_os("SAFEVENV_REQUIRE_SANDBOX").is_none(),
                "SAFEVENV_REQUIRE_SANDBOX is set but {error} ({detail})"
            );
            eprintln!("SKIPPED: {error} ({detail})");
            None
        }
        Err(other) => panic!("the probe failed unexpectedly: {other}"),
    }
}

/// A real interpreter: pyenv's newest, else the system's.
fn python() -> PathBuf {
    safevenv_test_index::pyenv_pythons()
        .pop()
        .map(|found| found.python)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// The interpreter's installation prefix (`.../bin/python3` → `...`), to share read-only.
fn prefix(python: &Path) -> PathBuf {
    let real = fs_err::canonicalize(python).expect("the interpreter exists");
    real.parent()
        .and_then(Path::parent)
        .expect("an interpreter lives in a bin directory")
        .to_owned()
}

struct Fixture {
    _dir: tempfile::TempDir,
    /// A fake home of the user, with a token in it: never shared.
    home: PathBuf,
    /// Shared read-write.
    scratch: PathBuf,
    /// Shared read-only.
    source: PathBuf,
    /// Never shared.
    outside: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = fs_err::canonicalize(dir.path()).expect("canonical temp dir");
        let [home, scratch, source, outside] =
            ["home", "scratch", "source", "outside"].map(|name| root.join(name));
        for path in [&home, &scratch, &source, &outside] {
            fs_err::create_dir(path).expect("fixture dir");
        }
        fs_err::write(home.join(".pypirc"), "[pypi]\npassword = pypi-TOPSECRET\n").expect("token");
        fs_err::write(source.join("setup.py"), "print('hello')\n").expect("source");
        Fixture {
            _dir: dir,
            home,
            scratch,
            source,
            outside,
        }
    }

    fn command(&self, script: &str, args: &[&Path]) -> SandboxCommand {
        let python = python();
        let mut argv: Vec<OsString> = vec!["-c".into(), script.into()];
        argv.extend(args.iter().map(|path| path.as_os_str().to_owned()));
        SandboxCommand {
            readable: vec![prefix(&python), self.source.clone()],
            program: python,
            args: argv,
            cwd: self.scratch.clone(),
            writable: vec![self.scratch.clone()],
            env: scrubbed_env(
                [
                    ("GITHUB_TOKEN".into(), "ghp_TOPSECRET".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "aws-TOPSECRET".into()),
                    (
                        "PIP_INDEX_URL".into(),
                        "https://user:TOPSECRET@index.example/simple".into(),
                    ),
                    ("LANG".into(), "C.UTF-8".into()),
                ],
                [("HOME".into(), self.home.clone().into_os_string())],
            ),
            limits: Limits {
                wall_time: Duration::from_secs(30),
                ..Limits::default()
            },
            stdin: Vec::new(),
        }
    }
}

fn run(sandbox: &Sandbox, command: &SandboxCommand) -> (SandboxOutput, String) {
    let output = sandbox
        .run(command)
        .unwrap_or_else(|e| panic!("run failed: {e}: {e:?}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{:?}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (output, stdout)
}

const NETWORK: &str = r#"
import socket, sys
port = int(sys.argv[1])
try:
    socket.create_connection(("127.0.0.1", port), timeout=3).recv(16)
    print("outside: connected")
except OSError as e:
    print("outside: blocked", e.errno)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
client = socket.create_connection(server.getsockname(), timeout=3)
peer, _ = server.accept()
peer.sendall(b"ping")
print("loopback:", client.recv(4).decode())
"#;

#[test]
fn the_build_cannot_reach_a_server_on_the_hosts_loopback_but_has_its_own() {
    let Some(sandbox) = sandbox() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"exfiltrate");
        }
    });
    let fixture = Fixture::new();
    let mut command = fixture.command(NETWORK, &[]);
    command.args.push(port.to_string().into());

    let (_, stdout) = run(&sandbox, &command);
    assert!(stdout.contains("outside: blocked"), "{stdout}");
    assert!(stdout.contains("loopback: ping"), "{stdout}");

    let (_, stdout) = run(&Sandbox::unsandboxed_unsafe(), &command);
    assert!(stdout.contains("outside: connected"), "{stdout}");
}

const READ_SECRETS: &str = r#"
import os, sys
token, real_home = sys.argv[1], sys.argv[2]
for path in (token, "/etc/shadow"):
    try:
        with open(path) as f:
            print("read", path, f.read().strip().replace("\n", " "))
    except OSError as e:
        print("denied", path, type(e).__name__)
try:
    print("home lists", sorted(os.listdir(real_home)))
except OSError as e:
    print("home denied", type(e).__name__)
print("source", open("setup.py" if os.path.exists("setup.py") else sys.argv[3] + "/setup.py").read().strip())
"#;

#[test]
fn the_build_cannot_read_the_home_or_credentials_but_reads_its_source() {
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    let token = fixture.home.join(".pypirc");
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let command = fixture.command(READ_SECRETS, &[&token, &real_home, &fixture.source]);

    let (_, stdout) = run(&sandbox, &command);
    assert!(!stdout.contains("TOPSECRET"), "{stdout}");
    assert!(
        stdout.contains(&format!("denied {} FileNotFoundError", token.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("read /etc/shadow"), "{stdout}");
    assert!(stdout.contains("source print('hello')"), "{stdout}");
    // The real home shows at most the directories on the way to a shared interpreter.
    let python_prefix = prefix(&python());
    let visible: Vec<String> = python_prefix
        .strip_prefix(fs_err::canonicalize(&real_home).expect("home"))
        .ok()
        .and_then(|rest| rest.components().next())
        .map(|first| vec![first.as_os_str().to_string_lossy().into_owned()])
        .unwrap_or_default();
    let listed = stdout
        .lines()
        .find(|line| line.starts_with("home "))
        .expect("home line");
    if visible.is_empty() {
        assert!(listed.starts_with("home denied"), "{listed}");
    } else {
        assert_eq!(
            listed,
            format!("home lists {visible:?}").replace('"', "'"),
            "{stdout}"
        );
    }

    let (_, stdout) = run(&Sandbox::unsandboxed_unsafe(), &command);
    assert!(
        stdout.contains("pypi-TOPSECRET"),
        "the attack works without the sandbox: {stdout}"
    );
}

const ENVIRONMENT: &str = r#"
import os
for name, value in sorted(os.environ.items()):
    print(name, value)
"#;

#[test]
fn the_build_sees_no_secret_variables_but_keeps_the_locale() {
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    let command = fixture.command(ENVIRONMENT, &[]);
    for sandbox in [sandbox, Sandbox::unsandboxed_unsafe()] {
        let (_, stdout) = run(&sandbox, &command);
        assert!(!stdout.contains("TOPSECRET"), "{stdout}");
        assert!(stdout.contains("LANG C.UTF-8"), "{stdout}");
        assert!(
            stdout.contains(&format!("HOME {}", fixture.home.display())),
            "{stdout}"
        );
    }
}

const WRITES: &str = r#"
import ctypes, os, sys
outside, source = sys.argv[1], sys.argv[2]
for path in (outside + "/pwned", source + "/pwned", "/pwned", "/usr/pwned", "/etc/pwned", "/tmp/pwned"):
    try:
        with open(path, "w") as f:
            f.write("x")
        print("wrote", path)
    except OSError as e:
        print("denied", path, type(e).__name__)
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND = 32, 4096
if libc.mount(None, source.encode(), None, MS_REMOUNT | MS_BIND, None) == 0:
    print("remounted", source)
else:
    print("remount denied", os.strerror(ctypes.get_errno()))
with open("scratch-file", "w") as f:
    f.write("built")
print("scratch ok")
"#;

#[test]
fn the_build_writes_only_its_scratch_directory() {
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    let command = fixture.command(WRITES, &[&fixture.outside, &fixture.source]);

    let (_, stdout) = run(&sandbox, &command);
    assert!(!stdout.contains("wrote"), "{stdout}");
    assert!(!stdout.contains("remounted"), "{stdout}");
    assert!(stdout.contains("remount denied"), "{stdout}");
    assert!(stdout.contains("scratch ok"), "{stdout}");
    assert!(!fixture.outside.join("pwned").exists());
    assert!(!fixture.source.join("pwned").exists());
    assert_eq!(
        fs_err::read_to_string(fixture.scratch.join("scratch-file")).expect("scratch"),
        "built"
    );

    // Without the sandbox the same build writes outside its scratch (only to the fixture's
    // directories: the script's other targets are refused to a non-root user or are harmless).
    let script = WRITES.replace(
        r#", "/pwned", "/usr/pwned", "/etc/pwned", "/tmp/pwned""#,
        "",
    );
    let mut command = command;
    command.args[1] = script.into();
    let (_, stdout) = run(&Sandbox::unsandboxed_unsafe(), &command);
    assert!(
        stdout.contains(&format!("wrote {}/pwned", fixture.outside.display())),
        "{stdout}"
    );
    assert!(fixture.outside.join("pwned").exists());
}

const DAEMON: &str = r#"
import os, sys, time
marker = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        time.sleep(2)
        with open(marker, "w") as f:
            f.write("I survived")
        os._exit(0)
    os._exit(0)
os.wait()
print("parent done")
"#;

#[test]
fn a_daemon_does_not_outlive_the_build() {
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    // The marker is in scratch: the daemon could write it if it were still alive.
    let marker = fixture.scratch.join("daemon-marker");
    let command = fixture.command(DAEMON, &[&marker]);

    let (_, stdout) = run(&sandbox, &command);
    assert!(stdout.contains("parent done"), "{stdout}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!marker.exists(), "the daemon outlived the sandboxed build");

    // Without the sandbox a daemon that calls setsid leaves the process group and survives.
    let (_, _) = run(&Sandbox::unsandboxed_unsafe(), &command);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !marker.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        marker.exists(),
        "the daemon test cannot see a surviving daemon"
    );
}

#[test]
fn a_build_that_spins_forever_is_killed_at_its_wall_time() {
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    let mut command = fixture.command("print('spinning', flush=True)\nwhile True: pass\n", &[]);
    command.limits.wall_time = Duration::from_secs(1);
    for sandbox in [sandbox.clone(), Sandbox::unsandboxed_unsafe()] {
        let started = Instant::now();
        let error = sandbox.run(&command).expect_err("the spin must be killed");
        let elapsed = started.elapsed();
        let SandboxError::WallTimeExceeded { limit, stdout, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(limit, Duration::from_secs(1));
        assert_eq!(String::from_utf8_lossy(&stdout), "spinning\n");
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    }

    let fixture = Fixture::new();
    let mut quick = fixture.command("print('done')", &[]);
    quick.limits.wall_time = Duration::from_secs(20);
    let (_, stdout) = run(&sandbox, &quick);
    assert_eq!(stdout, "done\n");
}

#[test]
fn a_build_past_its_cpu_time_is_killed_by_a_signal() {
    use std::os::unix::process::ExitStatusExt;
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    let mut command = fixture.command("while True: pass\n", &[]);
    command.limits.cpu_time = Duration::from_secs(1);
    let started = Instant::now();
    let output = sandbox.run(&command).expect("the build ends by itself");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let signal = output.status.signal();
    assert!(
        signal == Some(SIGXCPU) || signal == Some(SIGKILL),
        "expected SIGXCPU or SIGKILL, got {:?}",
        output.status
    );
}

/// Linux's signal numbers (x86, arm and most others).
const SIGXCPU: i32 = 24;
const SIGKILL: i32 = 9;

const ALLOCATE: &str = r#"
import sys
block = bytearray(int(sys.argv[1]) << 20)
print("allocated", len(block) >> 20, "MiB")
"#;

#[test]
fn a_build_past_its_memory_limit_fails_to_allocate() {
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    let mut command = fixture.command(ALLOCATE, &[]);
    command.limits.memory_bytes = 512 << 20;

    command.args.push("1024".into());
    let output = sandbox.run(&command).expect("runs");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("MemoryError"),
        "{output:?}"
    );

    command.args.pop();
    command.args.push("64".into());
    let (_, stdout) = run(&sandbox, &command);
    assert_eq!(stdout, "allocated 64 MiB\n");
}

/// One way to spoil a good command.
type Change = Box<dyn Fn(&mut SandboxCommand)>;

#[test]
fn paths_that_would_share_the_home_or_the_root_are_refused() {
    let fixture = Fixture::new();
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let cases: [(Change, &str); 4] = [
        (
            Box::new(|c| c.readable.push("/".into())),
            "the root directory",
        ),
        (
            Box::new(move |c| c.readable.push(home.clone())),
            "the user's home",
        ),
        (
            Box::new(|c| c.writable.push("/proc".into())),
            "kernel interfaces",
        ),
        (
            Box::new(|c| c.cwd = std::env::temp_dir()),
            "working directory",
        ),
    ];
    let Some(sandbox) = sandbox() else { return };
    for (change, reason) in cases {
        let mut command = fixture.command("print('hello')", &[]);
        change(&mut command);
        let error = sandbox.run(&command).expect_err("refused");
        assert!(
            matches!(error, SandboxError::PathRefused { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(reason), "{error}");
    }
    let mut command = fixture.command("print(open('setup.py').read())", &[]);
    command.cwd = fixture.source.clone();
    let (_, stdout) = run(&sandbox, &command);
    assert_eq!(stdout, "print('hello')\n\n");
}

#[test]
fn standard_input_reaches_the_build() {
    let Some(sandbox) = sandbox() else { return };
    let fixture = Fixture::new();
    let mut command = fixture.command("import sys; print(sys.stdin.read().upper())", &[]);
    command.stdin = b"hooks\n".to_vec();
    let (_, stdout) = run(&sandbox, &command);
    assert_eq!(stdout, "HOOKS\n\n");
}

/// The probe in a user namespace that may create no further user namespace: the refusal must name
/// the missing feature. The test re-runs itself inside `unshare` with that limit set to 0.
#[test]
fn a_kernel_without_user_namespaces_is_refused_by_name() {
    const CHILD: &str = "SAFEVENV_SANDBOX_PROBE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let error = Sandbox::probe().expect_err("no user namespaces are left");
        assert!(
            matches!(error, SandboxError::Unsupported { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "cannot contain the build: this machine lacks user namespaces"
        );
        println!("probe refused: {error}");
        return;
    }
    let Some(_) = sandbox() else { return };
    let test = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg(r#"echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" --exact a_kernel_without_user_namespaces_is_refused_by_name --nocapture"#)
        .arg(&test)
        .env(CHILD, "1")
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            return eprintln!("SKIPPED: cannot run `unshare` to limit user namespaces: {error}");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success()
            && stdout.contains(
                "probe refused: cannot contain the build: this machine lacks user namespaces"
            ),
        "{:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
