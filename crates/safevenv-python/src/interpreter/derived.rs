//! A new virtual environment's interpreter facts, derived from its base interpreter's probe
//! instead of running the probe again (~40 ms a fresh environment would otherwise cost on every
//! first use: a new environment is a new path, so the probe cache never has it).
//!
//! Invariant: a derived report equals what the probe would print in that environment. It is used
//! only when that follows from what is checked here, and the probe runs otherwise:
//! - the environment's `bin/python` is the very binary the base probe ran (same canonical path),
//!   and `pyvenv.cfg` points `home` at that binary's directory: the same interpreter and standard
//!   library, so the same markers, tags, version and C library;
//! - CPython 3.11+ on POSIX with the upstream `posix_prefix` scheme: there the environment's
//!   layout is the `venv` scheme, which the base probe already reports relative to any root
//!   (`scheme`), and its `stdlib`/`include` are the base installation's;
//! - the environment is isolated from the base's `site-packages`
//!   (`include-system-site-packages = false`), and its own holds no `.pth` file, no
//!   `sitecustomize`/`usercustomize` and no `pip`: nothing in it runs at start-up or changes
//!   `sys.path`, and the environment has no pip of its own (no `default_index_url`);
//! - the root is a canonical path, so `sys.prefix` is that path.
//!
//! Code in the base's own `site-packages` (`.pth` files) runs in the base probe and not in the
//! environment; it could only change what the probe reports by patching the standard library at
//! start-up, and whoever can write there can equally write the standard library the environment
//! runs. So deriving trusts nothing the probe did not already trust.

use std::path::{Path, PathBuf};

use safevenv_cache::Cache;
use tracing::debug;

use super::{InstallPaths, Interpreter, ProbeInfo};

/// The venv facts of `path` (an absolute path to an environment's `bin/python`), or `None` when
/// they cannot be proven equal to a probe's (see the module documentation).
pub(super) fn derive(path: &Path, cache: &Cache) -> Option<ProbeInfo> {
    let bin = path.parent()?;
    if bin.file_name()? != "bin" || bin.join("pyvenv.cfg").exists() {
        return None;
    }
    let root = bin.parent()?;
    if fs_err::canonicalize(root).ok()? != root {
        return None;
    }
    let config = PyvenvCfg::read(&root.join("pyvenv.cfg"))?;
    if !config
        .get("include-system-site-packages")?
        .eq_ignore_ascii_case("false")
    {
        return None;
    }
    let executable = PathBuf::from(config.get("executable")?);
    let home = PathBuf::from(config.get("home")?);
    let canonical = fs_err::canonicalize(&executable).ok()?;
    if fs_err::canonicalize(path).ok()? != canonical
        || fs_err::canonicalize(home).ok()?.as_path() != canonical.parent()?
    {
        return None;
    }
    // An environment made with pip (`python -m venv`) is never derived: seen before the base is
    // asked, so that its one probe is not preceded by the base's.
    if holds_its_own_pip(root) {
        return None;
    }
    // The base itself is probed (and cached) as usual, never derived.
    let base = Interpreter::query_probed(&executable, cache).ok()?;
    let info = &base.info;
    if info.is_venv
        || info.version_info.0 != 3
        || info.version_info.1 < 11
        || info.markers.os_name != "posix"
        || info.install_paths.scheme != "posix_prefix"
        || config
            .get("version")
            .is_some_and(|version| version != info.markers.python_full_version)
    {
        return None;
    }
    let at_root = |value: &Option<String>| root.join(value.as_deref().unwrap_or_default());
    let (purelib, platlib) = (at_root(&info.scheme.purelib), at_root(&info.scheme.platlib));
    if !quiet_site_packages(&purelib) || !quiet_site_packages(&platlib) {
        return None;
    }
    // The directories the environment shares with the base (standard library, extension
    // modules) must not hold pip either: the environment would find it there.
    let own = [&info.install_paths.purelib, &info.install_paths.platlib];
    let shared: Vec<PathBuf> = info
        .sys_path_dirs
        .iter()
        .filter(|dir| !own.contains(dir))
        .cloned()
        .collect();
    if shared.iter().any(|dir| dir.join("pip").exists()) {
        return None;
    }
    let mut sys_path_dirs = shared;
    for dir in [&purelib, &platlib] {
        if dir.is_dir() && !sys_path_dirs.contains(dir) {
            sys_path_dirs.push(dir.clone());
        }
    }
    debug!(
        "`{}` is an environment of `{}`: facts derived from its probe",
        path.display(),
        executable.display()
    );
    Some(ProbeInfo {
        executable: path.to_path_buf(),
        base_executable: Some(info.executable.clone()),
        prefix: root.to_path_buf(),
        is_venv: true,
        install_paths: InstallPaths {
            scheme: "venv".to_string(),
            stdlib: info.install_paths.stdlib.clone(),
            purelib,
            platlib,
            scripts: at_root(&info.scheme.scripts),
            include: info.install_paths.include.clone(),
            data: at_root(&info.scheme.data),
        },
        sys_path_dirs,
        default_index_url: None,
        ..info.clone()
    })
}

/// Whether a `site-packages` directory (missing counts as empty) holds nothing that runs at
/// start-up or extends `sys.path`, and no pip.
fn quiet_site_packages(dir: &Path) -> bool {
    let entries = match fs_err::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return err.kind() == std::io::ErrorKind::NotFound,
    };
    for entry in entries {
        let Ok(entry) = entry else {
            return false;
        };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".pth")
            || name.starts_with("sitecustomize")
            || name.starts_with("usercustomize")
            || name == "pip"
        {
            return false;
        }
    }
    true
}

/// Whether `root/lib/python*/site-packages` holds a `pip` (where `venv` puts it on POSIX). Only
/// a shortcut: `quiet_site_packages` still checks the exact directories the base reports.
fn holds_its_own_pip(root: &Path) -> bool {
    let Ok(entries) = fs_err::read_dir(root.join("lib")) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        entry.file_name().to_string_lossy().starts_with("python")
            && entry.path().join("site-packages").join("pip").exists()
    })
}

/// `pyvenv.cfg`: `key = value` lines, read like CPython's `getpath` (keys compared in lower case).
struct PyvenvCfg(Vec<(String, String)>);

impl PyvenvCfg {
    fn read(path: &Path) -> Option<Self> {
        let text = fs_err::read_to_string(path).ok()?;
        Some(Self(
            text.lines()
                .filter_map(|line| line.split_once('='))
                .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_string()))
                .collect(),
        ))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A CPython 3.11+ with the upstream scheme (the pyenv builds), if the machine has one.
    fn base_python() -> Option<PathBuf> {
        let root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")))?;
        let mut found: Vec<PathBuf> = fs_err::read_dir(root.join("versions"))
            .ok()?
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().to_string();
                ["3.11.", "3.12.", "3.13."]
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
            })
            .map(|entry| entry.path().join("bin").join("python3"))
            .filter(|path| path.is_file())
            .collect();
        found.sort();
        found.pop()
    }

    /// A new `venv` of the pyenv CPython 3.11+ in a canonical temporary directory, with a cache
    /// there. Fails (never skips) without such an interpreter: every machine of this project has one.
    fn fresh_environment() -> (tempfile::TempDir, PathBuf, PathBuf, Cache) {
        let base =
            base_python().expect("these tests need a pyenv CPython 3.11+ (`pyenv versions`)");
        let temp = tempfile::tempdir().unwrap();
        let root = fs_err::canonicalize(temp.path()).unwrap();
        let python = venv(&base, &root.join("env"));
        let cache = Cache::new(root.join("cache"));
        (temp, root, python, cache)
    }

    fn venv(base: &Path, dir: &Path) -> PathBuf {
        let status = Command::new(base)
            .args(["-m", "venv", "--without-pip"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
        dir.join("bin").join("python")
    }

    #[test]
    fn derived_facts_equal_the_probe_of_the_environment() {
        let (_temp, _, python, cache) = fresh_environment();
        let derived = derive(&python, &cache).expect("a plain new environment is derivable");
        let probed = super::super::probe(&python).unwrap();
        assert_eq!(derived, probed);
    }

    #[test]
    fn an_environment_whose_site_packages_runs_code_is_probed() {
        let (_temp, _, python, cache) = fresh_environment();
        let info = derive(&python, &cache).unwrap();
        fs_err::write(info.install_paths.purelib.join("extra.pth"), "/elsewhere\n").unwrap();
        assert!(derive(&python, &cache).is_none());
    }

    #[test]
    fn an_environment_with_its_own_pip_is_probed_without_asking_the_base() {
        let (_temp, _, python, cache) = fresh_environment();
        let purelib = derive(&python, &cache).unwrap().install_paths.purelib;
        fs_err::create_dir(purelib.join("pip")).unwrap();
        // A fresh cache: had the base been probed on the way, its report would be cached there.
        let fresh = tempfile::tempdir().unwrap();
        let fresh_cache = Cache::new(fresh.path().join("cache"));
        assert!(derive(&python, &fresh_cache).is_none());
        assert!(
            !fresh.path().join("cache").exists(),
            "the base interpreter was probed for an environment that has pip"
        );
    }

    #[test]
    fn an_environment_that_sees_the_base_site_packages_is_probed() {
        let (_temp, root, python, cache) = fresh_environment();
        assert!(derive(&python, &cache).is_some());
        let cfg = root.join("env").join("pyvenv.cfg");
        let text = fs_err::read_to_string(&cfg).unwrap().replace(
            "include-system-site-packages = false",
            "include-system-site-packages = true",
        );
        fs_err::write(&cfg, text).unwrap();
        assert!(derive(&python, &cache).is_none());
    }
}
