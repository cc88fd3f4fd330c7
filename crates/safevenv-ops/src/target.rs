//! Which interpreter a command works for.

use std::path::{Path, PathBuf};

use safevenv_cache::Cache;
use safevenv_installer::{EnvironmentLayout, InstallError};
use safevenv_python::{
    DiscoveryError, ExternallyManaged, Interpreter, ProbeError, PythonRequest, RequestError,
    find_interpreter,
};

/// Why no target interpreter could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// `--python` is not a version, path or name.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// No interpreter matches.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// No environment to install into.
    #[error("no environment found: `VIRTUAL_ENV` is not set and there is no `.venv` in `{}`", working_dir.display())]
    NoEnvironment {
        /// Where `.venv` was looked for.
        working_dir: PathBuf,
    },
    /// The interpreter is not an environment's.
    #[error("`{}` is not a virtual environment's interpreter; safevenv installs into environments only", interpreter.display())]
    NotAnEnvironment {
        /// The interpreter.
        interpreter: PathBuf,
    },
    /// `--system`: the interpreter's installation is managed by another tool (PEP 668).
    #[error(
        "`{}` belongs to an externally managed installation (PEP 668 marker `{}`); safevenv does not install into it",
        interpreter.display(), marker.display()
    )]
    ExternallyManaged {
        /// The interpreter (`sys.executable`).
        interpreter: PathBuf,
        /// The `EXTERNALLY-MANAGED` file.
        marker: PathBuf,
        /// The marker's own message, when it has one.
        #[source]
        message: Option<MarkerMessage>,
    },
    /// `--system`: the interpreter's own install scheme cannot be installed into transactionally.
    #[error(
        "cannot install into `{}`: its `{kind}` directory `{}` {problem} `{}`",
        interpreter.display(), path.display(), prefix.display()
    )]
    SystemLayout {
        /// The interpreter (`sys.executable`).
        interpreter: PathBuf,
        /// `purelib`, `platlib`, `scripts`, `include` or `data`.
        kind: &'static str,
        /// The scheme directory.
        path: PathBuf,
        /// `sys.prefix`.
        prefix: PathBuf,
        /// What is wrong with it.
        problem: LayoutProblem,
    },
    /// A directory of the interpreter's installation could not be inspected.
    #[error("cannot inspect `{}`", path.display())]
    Inspect {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The environment's interpreter could not be probed.
    #[error("cannot use the environment at `{}`", environment.display())]
    Environment {
        /// The environment.
        environment: PathBuf,
        /// Why.
        #[source]
        source: ProbeError,
    },
}

/// What the distributor wrote in a PEP 668 marker, shown under the refusal (its lines indented
/// below the first).
#[derive(Debug, thiserror::Error)]
pub struct MarkerMessage {
    text: String,
}

impl std::fmt::Display for MarkerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, line) in self.text.lines().enumerate() {
            match (index, line.is_empty()) {
                (0, _) => f.write_str(line)?,
                (_, true) => f.write_str("\n")?,
                (_, false) => write!(f, "\n    {line}")?,
            }
        }
        Ok(())
    }
}

/// Why a scheme directory of `--system`'s layout cannot be installed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutProblem {
    /// It is not below `sys.prefix`.
    OutsidePrefix,
    /// It is below `sys.prefix`, on another file system (a mount point).
    OtherFileSystem,
}

impl std::fmt::Display for LayoutProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OutsidePrefix => "is outside its prefix",
            Self::OtherFileSystem => "is on another file system than its prefix",
        })
    }
}

/// The interpreter to resolve and install for, in this order: `--python`; the active environment
/// (`VIRTUAL_ENV`); `.venv` in the working directory; otherwise the default discovery
/// (`python3` on `PATH`, then pyenv).
pub fn target_interpreter(
    python: Option<&str>,
    working_dir: &Path,
    cache: &Cache,
) -> Result<Interpreter, TargetError> {
    if let Some(python) = python {
        let request = PythonRequest::parse(python)?;
        return Ok(find_interpreter(Some(&request), cache)?);
    }
    let active = std::env::var_os("VIRTUAL_ENV")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from);
    let local = working_dir.join(".venv");
    for environment in active.into_iter().chain([local]) {
        let python = environment.join("bin").join("python");
        if environment.join("pyvenv.cfg").is_file() && python.exists() {
            return Interpreter::query(&python, cache).map_err(|source| TargetError::Environment {
                environment,
                source,
            });
        }
    }
    Ok(find_interpreter(None, cache)?)
}

/// The environment to install into and its interpreter, in this order: `--python` (which must
/// be an environment's interpreter); the active environment (`VIRTUAL_ENV`); `.venv` in the
/// working directory. Never a system interpreter: installing there is what environments avoid.
pub fn target_environment(
    python: Option<&str>,
    working_dir: &Path,
    cache: &Cache,
) -> Result<(Interpreter, PathBuf), TargetError> {
    let interpreter = match python {
        Some(python) => {
            let request = PythonRequest::parse(python)?;
            find_interpreter(Some(&request), cache)?
        }
        None => {
            let active = std::env::var_os("VIRTUAL_ENV")
                .filter(|value| !value.is_empty())
                .map(PathBuf::from);
            let local = working_dir.join(".venv");
            let Some(environment) = active
                .into_iter()
                .chain([local])
                .find(|environment| environment.join("pyvenv.cfg").is_file())
            else {
                return Err(TargetError::NoEnvironment {
                    working_dir: working_dir.to_path_buf(),
                });
            };
            let python = environment.join("bin").join("python");
            Interpreter::query(&python, cache).map_err(|source| TargetError::Environment {
                environment,
                source,
            })?
        }
    };
    if !interpreter.is_venv() {
        return Err(TargetError::NotAnEnvironment {
            interpreter: interpreter.sys_executable().to_path_buf(),
        });
    }
    let prefix = interpreter.sys_prefix().to_path_buf();
    Ok((interpreter, prefix))
}

/// The interpreter `install` and `sync` work for, and the layout they install into.
///
/// Without `system`: an environment's, as [`target_environment`] finds it.
///
/// With `system` (`--system`): the interpreter `--python` names, or the default discovery's
/// (`VIRTUAL_ENV`'s, then `python3` on `PATH`, then pyenv), even though it is not an environment's:
/// - an environment's interpreter installs into its environment, as without `--system` (the
///   flag allows a system interpreter; it does not forbid an environment);
/// - otherwise into the interpreter's own installation (see [`system_layout`]), unless PEP 668
///   marks it as externally managed.
pub fn install_target(
    python: Option<&str>,
    working_dir: &Path,
    cache: &Cache,
    system: bool,
) -> Result<(Interpreter, EnvironmentLayout), TargetError> {
    if !system {
        let (interpreter, prefix) = target_environment(python, working_dir, cache)?;
        let layout = EnvironmentLayout::for_environment(&interpreter, &prefix);
        return Ok((interpreter, layout));
    }
    let request = python.map(PythonRequest::parse).transpose()?;
    let interpreter = find_interpreter(request.as_ref(), cache)?;
    let layout = system_layout(&interpreter)?;
    Ok((interpreter, layout))
}

/// The layout `--system` installs into: an environment's interpreter's environment, or the
/// interpreter's own installation (`sys.prefix`, its default install scheme).
///
/// Checked before anything is written, in this order:
/// 1. PEP 668: "before a Python-specific package installer installs a package into a Python
///    environment, it must check for the marker file, unless it's running within a virtual
///    environment". An installation the operating system's package manager owns would otherwise
///    get files that manager does not know of, overwrite its own, or break tools it ships.
///    There is deliberately no override (pip's `--break-system-packages`).
/// 2. Every scheme directory is below `sys.prefix` and on its file system: a transaction stages
///    below `<prefix>/.safevenv/` and moves files in with renames, which are atomic only within
///    one file system (the same invariant [`EnvironmentLayout::check`] keeps for environments).
pub fn system_layout(interpreter: &Interpreter) -> Result<EnvironmentLayout, TargetError> {
    if interpreter.is_venv() {
        return Ok(EnvironmentLayout::for_environment(
            interpreter,
            interpreter.sys_prefix(),
        ));
    }
    let executable = interpreter.sys_executable();
    // (1):
    refuse_externally_managed(executable, interpreter.externally_managed())?;
    // (2):
    let layout = EnvironmentLayout::for_interpreter(interpreter);
    check_system_layout(executable, &layout)?;
    Ok(layout)
}

fn refuse_externally_managed(
    interpreter: &Path,
    managed: Option<ExternallyManaged>,
) -> Result<(), TargetError> {
    match managed {
        None => Ok(()),
        Some(managed) => Err(TargetError::ExternallyManaged {
            interpreter: interpreter.to_path_buf(),
            marker: managed.marker,
            message: managed.message.map(|text| MarkerMessage { text }),
        }),
    }
}

fn check_system_layout(interpreter: &Path, layout: &EnvironmentLayout) -> Result<(), TargetError> {
    let problem = |kind, path: &Path, problem| TargetError::SystemLayout {
        interpreter: interpreter.to_path_buf(),
        kind,
        path: path.to_path_buf(),
        prefix: layout.prefix.clone(),
        problem,
    };
    if let Err(InstallError::SchemeOutsidePrefix { kind, path, .. }) = layout.check() {
        return Err(problem(kind, &path, LayoutProblem::OutsidePrefix));
    }
    let prefix_device = device_of(&layout.prefix)?;
    for (kind, path) in layout.scheme_dirs() {
        if device_of(path)? != prefix_device {
            return Err(problem(kind, path, LayoutProblem::OtherFileSystem));
        }
    }
    Ok(())
}

/// The file system of `path`, or of its nearest existing ancestor (a scheme directory that does
/// not exist yet is created on its parent's).
#[cfg(unix)]
fn device_of(path: &Path) -> Result<u64, TargetError> {
    use std::os::unix::fs::MetadataExt;
    for ancestor in path.ancestors() {
        match fs_err::metadata(ancestor) {
            Ok(metadata) => return Ok(metadata.dev()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TargetError::Inspect {
                    path: ancestor.to_path_buf(),
                    source,
                });
            }
        }
    }
    Err(TargetError::Inspect {
        path: path.to_path_buf(),
        source: std::io::ErrorKind::NotFound.into(),
    })
}

/// Without device numbers (not Unix), the check is left to the renames themselves.
#[cfg(not(unix))]
fn device_of(_path: &Path) -> Result<u64, TargetError> {
    Ok(0)
}

/// The default index of the pip the interpreter ships. An environment made without pip (as
/// safevenv makes them) has none of its own: then its base interpreter's pip speaks for it.
pub(crate) fn pip_default_index(interpreter: &Interpreter, cache: &Cache) -> Option<String> {
    if let Some(url) = interpreter.default_index_url() {
        return Some(url.to_string());
    }
    if !interpreter.is_venv() {
        return None;
    }
    Interpreter::query(interpreter.base_executable(), cache)
        .ok()?
        .default_index_url()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use safevenv_python::SchemePaths;

    use super::*;

    fn layout(prefix: &Path, purelib: &Path) -> EnvironmentLayout {
        EnvironmentLayout {
            prefix: prefix.to_path_buf(),
            sys_executable: prefix.join("bin/python3"),
            python_version: (3, 12),
            os_name: "posix".to_string(),
            scheme: SchemePaths {
                purelib: purelib.to_path_buf(),
                platlib: purelib.to_path_buf(),
                scripts: prefix.join("local/bin"),
                include: prefix.join("include/python3.12"),
                data: prefix.join("local"),
            },
        }
    }

    #[test]
    fn an_externally_managed_installation_is_refused_with_its_message() {
        let stdlib = tempfile::tempdir().unwrap();
        let python = Path::new("/usr/bin/python3");
        refuse_externally_managed(python, ExternallyManaged::find(stdlib.path())).unwrap();

        let marker = stdlib.path().join("EXTERNALLY-MANAGED");
        fs_err::write(
            &marker,
            "[externally-managed]\nError = use the distribution's packages\n  or an environment\n\n  see the docs\n",
        )
        .unwrap();
        let error =
            refuse_externally_managed(python, ExternallyManaged::find(stdlib.path())).unwrap_err();
        let TargetError::ExternallyManaged {
            interpreter,
            marker: found,
            message,
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!((interpreter.as_path(), found), (python, &marker));
        assert!(error.to_string().contains("PEP 668"), "{error}");
        assert_eq!(
            message.as_ref().unwrap().to_string(),
            "use the distribution's packages\n    or an environment\n\n    see the docs"
        );

        // A marker without a message refuses just the same.
        fs_err::write(&marker, "").unwrap();
        let error =
            refuse_externally_managed(python, ExternallyManaged::find(stdlib.path())).unwrap_err();
        assert!(
            matches!(error, TargetError::ExternallyManaged { message: None, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_system_layout_below_its_prefix_on_one_file_system_is_accepted() {
        let prefix = tempfile::tempdir().unwrap();
        // Debian's shape: `posix_local` below the prefix, directories not created yet.
        let purelib = prefix.path().join("local/lib/python3.12/dist-packages");
        let python = prefix.path().join("bin/python3");
        check_system_layout(&python, &layout(prefix.path(), &purelib)).unwrap();
    }

    #[test]
    fn a_system_layout_outside_its_prefix_is_refused() {
        let prefix = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        // Homebrew's shape: the framework prefix, packages in a shared `site-packages`.
        let purelib = elsewhere.path().join("lib/python3.12/site-packages");
        let python = prefix.path().join("bin/python3");
        let error = check_system_layout(&python, &layout(prefix.path(), &purelib)).unwrap_err();
        assert!(
            matches!(
                &error,
                TargetError::SystemLayout {
                    kind: "purelib",
                    problem: LayoutProblem::OutsidePrefix,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("is outside its prefix"),
            "{error}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_system_layout_across_a_mount_point_is_refused() {
        // `/proc` is its own file system on every Linux: a scheme directory there is below the
        // prefix `/` yet a rename from `/.safevenv` cannot reach it. Nothing is written.
        let error = check_system_layout(
            Path::new("/usr/bin/python3"),
            &layout(Path::new("/"), Path::new("/proc/self")),
        )
        .unwrap_err();
        assert!(
            matches!(
                &error,
                TargetError::SystemLayout {
                    kind: "purelib",
                    problem: LayoutProblem::OtherFileSystem,
                    ..
                }
            ),
            "{error}"
        );
    }
}
