//! Which interpreter a command works for.

use std::path::{Path, PathBuf};

use safevenv_cache::Cache;
use safevenv_python::{
    DiscoveryError, Interpreter, ProbeError, PythonRequest, RequestError, find_interpreter,
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
