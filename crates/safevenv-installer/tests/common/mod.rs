//! Test support: a real environment on a temporary path, wheels from `safevenv-test-index`,
//! snapshots of every path, and the crash driver.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;

use safevenv_cache::Cache;
use safevenv_installer::{
    Applied, Destinations, Environment, EnvironmentLayout, Install, InstallError, LockMode,
    PolicyApproved, Progress, ReadyWheel, SealKey, UnpackedCache,
};
use safevenv_policy::{
    Artifact, ArtifactKind, ArtifactUrl, AttestationFacts, ConfiguredIndex, HashOrigin, HashPin,
    LicenseFacts, Listing, Origin, PackageFacts, Policy, Preset, ResolvedSet, Source,
};
use safevenv_python::Interpreter;
use safevenv_test_index::WheelSpec;
use safevenv_wheel::{Wheel, WheelInfo};
use sha2::{Digest, Sha256};
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;

/// The machine's `python3`, probed once per test process.
pub fn interpreter() -> &'static Interpreter {
    static INTERPRETER: OnceLock<(tempfile::TempDir, Interpreter)> = OnceLock::new();
    &INTERPRETER
        .get_or_init(|| {
            let cache_dir = tempfile::tempdir().unwrap();
            let cache = Cache::new(cache_dir.path());
            let python = which("python3");
            let interpreter = Interpreter::query(&python, &cache).unwrap();
            (cache_dir, interpreter)
        })
        .1
}

fn which(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH"))
}

/// Make a virtual environment at `prefix` by hand, as `python -m venv --without-pip` does
/// (`pyvenv.cfg`, `bin/python`, an empty `site-packages`), and return its layout.
pub fn make_env(prefix: &Path) -> EnvironmentLayout {
    let interpreter = interpreter();
    let base = interpreter.sys_executable();
    let layout = EnvironmentLayout::for_environment(interpreter, prefix);
    fs_err::create_dir_all(&layout.scheme.purelib).unwrap();
    fs_err::create_dir_all(&layout.scheme.scripts).unwrap();
    let (major, minor, patch) = interpreter.python_patch();
    fs_err::write(
        prefix.join("pyvenv.cfg"),
        format!(
            "home = {}\ninclude-system-site-packages = false\nversion = {major}.{minor}.{patch}\n",
            base.parent().unwrap().display()
        ),
    )
    .unwrap();
    for name in ["python", "python3"] {
        fs_err::os::unix::fs::symlink(base, layout.scheme.scripts.join(name)).unwrap();
    }
    layout
}

/// Open the environment, failing on contention that lasts (tests never share one by accident).
/// A lock can outlive its `Environment` for a moment: a child process another test thread forks
/// holds a copy of every open descriptor until it executes, so a few retries are allowed.
pub fn open(layout: &EnvironmentLayout) -> Environment {
    for _ in 0..100 {
        match Environment::open(layout.clone(), LockMode::FailFast, &mut |_| {}) {
            Err(InstallError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened.unwrap(),
        }
    }
    panic!("`{}` stayed locked for 2 s", layout.prefix.display());
}

/// The cache of unpacked wheels the tests of an environment share: beside its prefix, on the
/// same file system, outside every snapshot of the prefix.
pub fn unpacked(layout: &EnvironmentLayout) -> UnpackedCache {
    let dir = layout.prefix.with_file_name("unpacked-cache");
    UnpackedCache::new(&dir, key_beside(&dir))
}

/// The seal key of the tests under one temporary directory: `seal-key.d/seal-key` beside
/// `path` (a cache or an environment there), never the user's.
pub fn key_beside(path: &Path) -> SealKey {
    SealKey::open(path.with_file_name("seal-key.d").join("seal-key")).unwrap()
}

/// The key the environment's distributions were installed with (see [`key_beside`]).
pub fn key(layout: &EnvironmentLayout) -> SealKey {
    key_beside(&layout.prefix)
}

/// A wheel built from `spec`, written under `dir`: opened, checked and unpacked by [`apply`].
#[derive(Debug, Clone)]
pub struct BuiltWheel {
    path: PathBuf,
    filename: WheelFilename,
}

impl BuiltWheel {
    /// The wheel, inspected as the pipeline does.
    pub fn inspect(&self) -> safevenv_installer::InspectedWheel<safevenv_wheel::WheelReader> {
        Wheel::inspect(&self.path, &self.filename).unwrap()
    }
}

pub fn verified(dir: &Path, spec: &WheelSpec) -> BuiltWheel {
    let built = spec.build().unwrap();
    let path = dir.join(&built.filename);
    fs_err::write(&path, &built.bytes).unwrap();
    let filename = WheelFilename::from_str(&built.filename).unwrap();
    BuiltWheel { path, filename }
}

/// The facts of the wheel built from `spec` (written under `dir`).
pub fn wheel_info(dir: &Path, spec: &WheelSpec) -> WheelInfo {
    let built = verified(dir, spec);
    WheelInfo::clone(&Wheel::inspect(&built.path, &built.filename).unwrap())
}

/// [`Environment::apply`] with `wheels` made ready through `cache`, and the policy's approval
/// of `approve`'s distributions judged on the facts of those very wheels, as the pipeline does.
pub fn apply(
    env: &Environment,
    plan: &safevenv_installer::Plan,
    approve: &Approve,
    wheels: &[BuiltWheel],
    cache: &UnpackedCache,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Applied, InstallError> {
    let ready: Vec<_> = wheels
        .iter()
        .map(|wheel| cache.prepare(wheel.inspect()).unwrap())
        .collect();
    let approved = approve.judge(env.layout(), &ready);
    env.apply(plan, &approved, &ready, progress)
}
/// What the environment should hold, one `(name, version, requested)` at a time.
pub fn wanted(items: &[(&str, &str, bool)]) -> Vec<Install> {
    items
        .iter()
        .map(|(name, version, requested)| Install {
            name: PackageName::from_str(name).unwrap(),
            version: Version::from_str(version).unwrap(),
            requested: *requested,
            direct_url: None,
            artifact_sha256: None,
        })
        .collect()
}

/// The distributions a test wants the policy to approve (and no others), and the policy.
pub struct Approve {
    installs: Vec<Install>,
    policy: Policy,
    /// Final paths left out of the facts the gate judges (to test the installer's own check).
    unjudged: Vec<String>,
}

/// The policy's approval of exactly `installs`: the default preset judging facts that pass it
/// (wheels from the default index, pinned in a lockfile, with a license and nothing unusual).
pub fn approve(installs: &[Install]) -> Approve {
    Approve {
        installs: installs.to_vec(),
        policy: Policy::preset(Preset::Default).unwrap(),
        unjudged: Vec::new(),
    }
}

/// [`approve`], judging facts from which `path` (a final path) is missing: facts that were
/// not read from the wheel as it is.
pub fn approve_without(installs: &[Install], path: &str) -> Approve {
    Approve {
        unjudged: vec![path.to_string()],
        ..approve(installs)
    }
}

/// [`approve`] under a policy that lets distributions overwrite each other's files.
pub fn approve_overwrites(installs: &[Install]) -> Approve {
    let text = safevenv_policy::PolicyText {
        path: PathBuf::from("safevenv.toml"),
        text: "[contents]\noverwrite = \"allow\"\n".to_string(),
    };
    Approve {
        installs: installs.to_vec(),
        policy: Policy::from_texts(None, Some(&text)).unwrap(),
        unjudged: Vec::new(),
    }
}

impl Approve {
    /// Judges the approved distributions, each with the contents of its wheel in `ready` (by
    /// the installer's destination model), and returns the gate's proof.
    pub fn judge(&self, layout: &EnvironmentLayout, ready: &[ReadyWheel]) -> PolicyApproved {
        let index = url::Url::parse("https://index.example/simple/").unwrap();
        let destinations = Destinations::new(layout);
        let packages = self
            .installs
            .iter()
            .map(|install| {
                let wheel = ready.iter().find(|wheel| {
                    wheel.filename().name == install.name
                        && wheel.filename().version == install.version
                });
                let contents = wheel.map(|wheel| {
                    let mut contents = destinations
                        .contents_facts(&[(&**wheel, wheel.content_key())])
                        .pop()
                        .unwrap();
                    contents.files.retain(|file| !self.unjudged.contains(file));
                    contents
                });
                PackageFacts {
                    name: install.name.clone(),
                    version: Some(install.version.clone()),
                    source: Source::Index { url: index.clone() },
                    artifact: Artifact {
                        kind: ArtifactKind::Wheel,
                        filename: format!("{}-{}-py3-none-any.whl", install.name, install.version),
                        sha256: Some(HashPin {
                            hex: "0".repeat(64),
                            origin: HashOrigin::Lockfile,
                        }),
                        url: Some(ArtifactUrl {
                            url: index.join("../files/x.whl").unwrap(),
                            listing: Listing::Listed,
                        }),
                    },
                    yanked: false,
                    upload_time: None,
                    also_on_indexes: Vec::new(),
                    license: LicenseFacts {
                        expression: Some("MIT".to_string()),
                        ..LicenseFacts::default()
                    },
                    requested_directly: install.requested,
                    contents: Some(contents.unwrap_or_default()),
                    editable_project: Vec::new(),
                    attestation: AttestationFacts::default(),
                    vulnerabilities: Vec::new(),
                    fixes_known_vulnerability: false,
                }
            })
            .collect();
        let set = ResolvedSet {
            now: jiff::Timestamp::UNIX_EPOCH,
            python_version: Some(interpreter().python_minor()),
            indexes: vec![ConfiguredIndex {
                url: index,
                default: true,
                origin: Origin::Configuration,
            }],
            packages,
            installed: Vec::new(),
        };
        self.policy
            .evaluate(&set)
            .unwrap_or_else(|refusals| panic!("the policy refused the test set: {refusals:?}"))
    }
}

/// Make the environment hold exactly `specs` (all requested), through the installer.
pub fn install(layout: &EnvironmentLayout, wheels_dir: &Path, specs: &[(WheelSpec, &str, &str)]) {
    let env = open(layout);
    let want: Vec<Install> = wanted(
        &specs
            .iter()
            .map(|(_, name, version)| (*name, *version, true))
            .collect::<Vec<_>>(),
    );
    let wheels: Vec<_> = specs
        .iter()
        .map(|(spec, _, _)| verified(wheels_dir, spec))
        .collect();
    let plan = env.plan(&want, true, &key(layout)).unwrap();
    apply(
        &env,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(layout),
        &mut |_| {},
    )
    .unwrap();
}

/// One path of a snapshot: its kind, permission bits and content hash (or link target).
pub type Snapshot = BTreeMap<PathBuf, (char, u32, String)>;

/// Every path below `prefix` except safevenv's own state, with content and mode.
pub fn snapshot(prefix: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    walk(prefix, Path::new(""), &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
    for entry in fs_err::read_dir(root.join(dir)).unwrap() {
        let entry = entry.unwrap();
        let relative = dir.join(entry.file_name());
        if relative == Path::new(".safevenv") {
            continue;
        }
        let path = root.join(&relative);
        let metadata = fs_err::symlink_metadata(&path).unwrap();
        let mode = metadata.permissions().mode();
        if metadata.is_symlink() {
            let target = fs_err::read_link(&path).unwrap();
            out.insert(relative, ('l', mode, target.display().to_string()));
        } else if metadata.is_dir() {
            out.insert(relative.clone(), ('d', mode, String::new()));
            walk(root, &relative, out);
        } else if relative.ends_with("SAFEVENV-RECEIPT") {
            // A receipt tags its environment's inodes: two installs of the same files differ.
            out.insert(relative, ('f', mode, "receipt".to_string()));
        } else {
            let hash = format!("{:x}", Sha256::digest(fs_err::read(&path).unwrap()));
            out.insert(relative, ('f', mode, hash));
        }
    }
}

/// The paths whose entries differ between two snapshots, for readable failures.
pub fn diff(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (path, value) in a {
        match b.get(path) {
            None => out.push(format!("- {}", path.display())),
            Some(other) if other != value => out.push(format!("~ {}", path.display())),
            Some(_) => {}
        }
    }
    for path in b.keys() {
        if !a.contains_key(path) {
            out.push(format!("+ {}", path.display()));
        }
    }
    out
}

/// What is left in `<prefix>/.safevenv/` besides the lock file.
pub fn leftovers(prefix: &Path) -> Vec<String> {
    fs_err::read_dir(prefix.join(".safevenv"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "lock" && name != "journal-key")
        .collect()
}

/// Copy a tree preserving modes, times and links.
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Run `python` of the environment with `args`, returning its stdout. Bytecode is written (as
/// a user's run would), whatever the calling environment says.
pub fn python(layout: &EnvironmentLayout, args: &[&str]) -> String {
    run(&layout.sys_executable, args)
}

/// Run a program, requiring success, and return its stdout.
pub fn run(program: &Path, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .env_remove("PYTHONDONTWRITEBYTECODE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "`{}` failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
