//! Where an environment keeps its files, as plain data.

use std::path::{Component, Path, PathBuf};

use safevenv_python::{Interpreter, SchemePaths};

use crate::InstallError;

/// The paths and facts of an environment that installing needs: its root, its interpreter (the
/// one console scripts' shebangs point at) and its install scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentLayout {
    /// The environment's root (`sys.prefix` inside it).
    pub prefix: PathBuf,
    /// The environment's interpreter (`<prefix>/bin/python` on Unix).
    pub sys_executable: PathBuf,
    /// `sys.version_info[:2]`.
    pub python_version: (u8, u8),
    /// `os.name`: `posix` or `nt`.
    pub os_name: String,
    /// Where each kind of file goes, as absolute paths below `prefix`.
    pub scheme: SchemePaths,
}

impl EnvironmentLayout {
    /// The layout of the environment rooted at `prefix` created from (or by) `interpreter`.
    pub fn for_environment(interpreter: &Interpreter, prefix: &Path) -> Self {
        let scheme = interpreter.scheme_paths_for(prefix);
        let os_name = interpreter.markers().os_name().to_string();
        let python = if os_name == "nt" {
            "python.exe"
        } else {
            "python"
        };
        Self {
            prefix: prefix.to_path_buf(),
            sys_executable: scheme.scripts.join(python),
            python_version: interpreter.python_minor(),
            os_name,
            scheme,
        }
    }

    /// The layout of the interpreter's own installation, for `--system`: its root is
    /// `sys.prefix`, its scheme the interpreter's default one (Debian's `posix_local` puts files
    /// in `/usr/local`, still below the prefix `/usr`), and console scripts' shebangs point at
    /// `sys.executable` (no `python` sits in the scheme's `scripts` directory).
    pub fn for_interpreter(interpreter: &Interpreter) -> Self {
        Self {
            prefix: interpreter.sys_prefix().to_path_buf(),
            sys_executable: interpreter.sys_executable().to_path_buf(),
            python_version: interpreter.python_minor(),
            os_name: interpreter.markers().os_name().to_string(),
            scheme: interpreter.install_paths(),
        }
    }

    /// Each scheme directory with its name.
    pub fn scheme_dirs(&self) -> [(&'static str, &Path); 5] {
        [
            ("purelib", &self.scheme.purelib),
            ("platlib", &self.scheme.platlib),
            ("scripts", &self.scheme.scripts),
            ("include", &self.scheme.include),
            ("data", &self.scheme.data),
        ]
    }

    /// Refuse a scheme that puts files outside the prefix: a transaction stages the whole
    /// scheme below `<prefix>/.safevenv/` and moves it in with renames, which only stay atomic
    /// on one file system. [`Environment::open`](crate::Environment::open) runs it first.
    pub fn check(&self) -> Result<(), InstallError> {
        for (kind, path) in self.scheme_dirs() {
            if self.relative(path).is_none() {
                return Err(InstallError::SchemeOutsidePrefix {
                    kind,
                    path: path.to_path_buf(),
                    prefix: self.prefix.clone(),
                });
            }
        }
        Ok(())
    }

    /// `path` relative to the prefix, if it is below it (lexically, after resolving `.` and `..`).
    pub(crate) fn relative(&self, path: &Path) -> Option<PathBuf> {
        let path = normalize(path)?;
        let prefix = normalize(&self.prefix)?;
        path.strip_prefix(&prefix).ok().map(Path::to_path_buf)
    }

    /// uv's layout for this environment with every scheme directory moved below `root`, which
    /// mirrors the prefix. The interpreter stays the environment's own, so scripts' shebangs and
    /// the relative paths uv writes into `RECORD` are already those of the final location.
    pub(crate) fn staging_layout(&self, root: &Path) -> uv_install_wheel::Layout {
        let rebase = |path: &Path| match self.relative(path) {
            Some(relative) => root.join(relative),
            // `check` ran when the environment was opened.
            None => root.to_path_buf(),
        };
        uv_install_wheel::Layout {
            sys_executable: self.sys_executable.clone(),
            python_version: self.python_version,
            os_name: self.os_name.clone(),
            scheme: uv_pypi_types::Scheme {
                purelib: rebase(&self.scheme.purelib),
                platlib: rebase(&self.scheme.platlib),
                scripts: rebase(&self.scheme.scripts),
                data: rebase(&self.scheme.data),
                include: rebase(&self.scheme.include),
            },
        }
    }
}

/// Resolve `.` and `..` without touching the file system; `None` when `..` climbs above the root
/// of a relative path (it cannot be placed anywhere).
pub(crate) fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => out.push(component.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    // `/..` is `/`; a relative path cannot climb above its start.
                    if path.is_absolute() {
                        continue;
                    }
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::Normal(name) => {
                out.push(name);
                depth += 1;
            }
        }
    }
    Some(out)
}
