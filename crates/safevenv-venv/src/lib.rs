//! Create Python virtual environments.
//!
//! [`create_venv`] makes what `python -m venv --without-pip` makes (a `pyvenv.cfg`, interpreter
//! links, the `site-packages` directory, activation scripts), with two guarantees `venv` does not
//! give: a directory that is not an environment is never touched, and the environment appears
//! whole or not at all (it is built in a temporary sibling directory and renamed into place).

mod activate;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use safevenv_python::Interpreter;
use thiserror::Error;
use tracing::{debug, warn};

/// The `safevenv` version recorded in `pyvenv.cfg`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How to create an environment.
#[derive(Debug, Clone, Default)]
pub struct VenvOptions {
    /// The prompt shown by the activation scripts; the directory's name when `None`.
    pub prompt: Option<String>,
    /// Let the environment see the base interpreter's `site-packages`.
    pub system_site_packages: bool,
    /// Replace an existing environment at the path (never a directory that is not one).
    pub clear: bool,
    /// How the environment was made, recorded as `command` in `pyvenv.cfg`
    /// (e.g. `/usr/bin/safevenv create .venv`); omitted when `None`.
    pub command: Option<String>,
}

/// A created environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    /// The environment's root directory (absolute).
    pub root: PathBuf,
    /// Its interpreter, `<root>/bin/python`.
    pub python: PathBuf,
    /// Its `site-packages` directory (purelib).
    pub site_packages: PathBuf,
    /// Its scripts directory, `<root>/bin`.
    pub scripts: PathBuf,
}

/// A failure to create an environment.
#[derive(Debug, Error)]
pub enum VenvError {
    /// The path exists and is a file (or something else that is not a directory).
    #[error("`{}` exists and is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The path is a symbolic link; following it could replace or delete something elsewhere.
    #[error("`{}` is a symbolic link; refusing to create an environment through it", path.display())]
    SymlinkTarget {
        /// The path.
        path: PathBuf,
    },
    /// The path is a non-empty directory without a `pyvenv.cfg`: not an environment.
    #[error("`{}` is a non-empty directory that is not an environment (it has no `pyvenv.cfg`)", path.display())]
    NotAnEnvironment {
        /// The path.
        path: PathBuf,
    },
    /// The path is an environment already and `clear` was not given.
    #[error("`{}` is already an environment", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// A value would be written into `pyvenv.cfg` or an activation script with a control character
    /// (a newline there would add lines of its own).
    #[error("the {what} `{value}` contains a control character")]
    ControlCharacter {
        /// What the value is (`environment path`, `prompt`, ...).
        what: &'static str,
        /// The value, escaped.
        value: String,
    },
    /// The prompt contains a character shells expand inside a prompt string.
    #[error("the prompt `{prompt}` contains `{character}`, which shells expand in a prompt")]
    UnsafePrompt {
        /// The prompt.
        prompt: String,
        /// The offending character.
        character: char,
    },
    /// The path has no parent or file name (`/`, `..`).
    #[error("`{}` cannot be an environment's path", path.display())]
    InvalidPath {
        /// The path.
        path: PathBuf,
    },
    /// The path or one of its parents could not be inspected.
    #[error("cannot inspect `{}`", path.display())]
    Inspect {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file, directory or link of the new environment could not be created.
    #[error("cannot create `{}`", path.display())]
    Create {
        /// What could not be created.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The finished environment could not be moved into place; nothing was changed.
    #[error("cannot move the new environment into `{}`", path.display())]
    MoveIntoPlace {
        /// The environment's path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// With `clear`, the new environment could not replace the old one and the old one could not
    /// be put back: it is at `aside`.
    #[error("cannot put the previous environment back at `{}`; it is at `{}`", path.display(), aside.display())]
    Restore {
        /// The environment's path.
        path: PathBuf,
        /// Where the previous environment is now.
        aside: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Creating environments is only implemented for Unix-like systems.
    #[error("creating environments is not supported on this operating system yet")]
    UnsupportedPlatform,
}

/// What is at the target path now.
enum Existing {
    /// Nothing, or an empty directory (which the rename replaces).
    Nothing,
    /// An environment (a directory with a `pyvenv.cfg` file).
    Environment,
}

/// Create an environment at `path` for `interpreter` (linked to its
/// [`base_executable`](Interpreter::base_executable)).
///
/// Steps:
/// 1. refuse a path that is a file, a symlink, or a non-empty directory without `pyvenv.cfg`
///    (even with `clear`), and an existing environment without `clear`;
/// 2. build the whole environment in a temporary sibling directory;
/// 3. rename it into place; with `clear`, first move the old environment aside, and put it back if
///    the new one cannot take its place; then delete the old one.
///
/// A failure at any step leaves the path as it was.
pub fn create_venv(
    path: &Path,
    interpreter: &Interpreter,
    options: &VenvOptions,
) -> Result<Venv, VenvError> {
    if !cfg!(unix) {
        return Err(VenvError::UnsupportedPlatform);
    }
    let root = std::path::absolute(path).map_err(|source| VenvError::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    let (Some(parent), Some(name)) = (root.parent(), root.file_name()) else {
        return Err(VenvError::InvalidPath { path: root });
    };
    // `..` as the last component has no file name of its own: refused above; an inner `..` is
    // resolved by the file system like any other component.
    let prompt = match &options.prompt {
        Some(prompt) => prompt.clone(),
        None => name.to_string_lossy().into_owned(),
    };
    check_prompt(&prompt)?;
    check_text("environment path", &root.to_string_lossy())?;
    if let Some(command) = &options.command {
        check_text("command", command)?;
    }

    // (1)
    let existing = inspect_target(&root, options.clear)?;

    // (2)
    fs_err::create_dir_all(parent).map_err(|source| VenvError::Create {
        path: parent.to_path_buf(),
        source,
    })?;
    let staging = temp_sibling(parent, name, "new")?;
    build(staging.path(), &root, interpreter, options, &prompt)?;

    // (3)
    match existing {
        Existing::Nothing => {
            // Onto nothing or an empty directory: rename(2) replaces an empty directory, and fails
            // on a non-empty one, so a directory filled since step 1 is not overwritten.
            fs_err::rename(staging.path(), &root).map_err(|source| VenvError::MoveIntoPlace {
                path: root.clone(),
                source,
            })?;
        }
        Existing::Environment => swap(&staging, &root, parent, name)?,
    }
    // The directory was renamed away: nothing is left to clean up.
    let _ = staging.keep();
    debug!("created the environment `{}`", root.display());

    let scheme = interpreter.scheme_paths_for(&root);
    Ok(Venv {
        python: scheme.scripts.join("python"),
        site_packages: scheme.purelib,
        scripts: scheme.scripts,
        root,
    })
}

/// Step 1: what is at `root`, refusing anything an environment must not replace.
fn inspect_target(root: &Path, clear: bool) -> Result<Existing, VenvError> {
    let metadata = match fs_err::symlink_metadata(root) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Existing::Nothing);
        }
        Err(source) => {
            return Err(VenvError::Inspect {
                path: root.to_path_buf(),
                source,
            });
        }
    };
    // A symlink is refused outright: clearing "the environment" behind it would delete whatever
    // directory it points to, and a rename would replace the link, not what the user meant.
    if metadata.file_type().is_symlink() {
        return Err(VenvError::SymlinkTarget {
            path: root.to_path_buf(),
        });
    }
    if !metadata.is_dir() {
        return Err(VenvError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let inspect = |source| VenvError::Inspect {
        path: root.to_path_buf(),
        source,
    };
    let is_empty = fs_err::read_dir(root).map_err(inspect)?.next().is_none();
    if is_empty {
        return Ok(Existing::Nothing);
    }
    // Only a directory holding a regular `pyvenv.cfg` is an environment. Anything else may be the
    // user's work (a project, a home directory given by mistake): never replace it, even with
    // `clear`, which would otherwise delete it.
    let cfg = root.join("pyvenv.cfg");
    let is_environment = fs_err::symlink_metadata(&cfg).is_ok_and(|metadata| metadata.is_file());
    if !is_environment {
        return Err(VenvError::NotAnEnvironment {
            path: root.to_path_buf(),
        });
    }
    if !clear {
        return Err(VenvError::AlreadyExists {
            path: root.to_path_buf(),
        });
    }
    Ok(Existing::Environment)
}

/// A new empty directory next to the environment, named after it, with the permissions a plain
/// `mkdir` would give (tempfile's default, owner-only, would end up on the environment).
fn temp_sibling(
    parent: &Path,
    name: &std::ffi::OsStr,
    role: &str,
) -> Result<tempfile::TempDir, VenvError> {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(format!(".safevenv-{role}-"));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask still applies, as for `mkdir`.
        builder.permissions(std::fs::Permissions::from_mode(0o777));
    }
    builder
        .tempdir_in(parent)
        .map_err(|source| VenvError::Create {
            path: parent.join(&prefix),
            source,
        })
}

/// Step 3 with `clear`: old environment aside, new one in, old one deleted; the old one is put
/// back if the new one cannot be moved in.
fn swap(
    staging: &tempfile::TempDir,
    root: &Path,
    parent: &Path,
    name: &std::ffi::OsStr,
) -> Result<(), VenvError> {
    // An empty directory to rename the old environment onto; when it is dropped, whatever is in it
    // (the old environment) is deleted. `remove_dir_all` does not follow symlinks, so the links to
    // the base interpreter are removed, not what they point to.
    let aside = temp_sibling(parent, name, "old")?;
    fs_err::rename(root, aside.path()).map_err(|source| VenvError::MoveIntoPlace {
        path: root.to_path_buf(),
        source,
    })?;
    if let Err(error) = fs_err::rename(staging.path(), root) {
        return match fs_err::rename(aside.path(), root) {
            Ok(()) => Err(VenvError::MoveIntoPlace {
                path: root.to_path_buf(),
                source: error,
            }),
            Err(source) => Err(VenvError::Restore {
                path: root.to_path_buf(),
                aside: aside.keep(),
                source,
            }),
        };
    }
    let aside_path = aside.path().to_path_buf();
    if let Err(error) = aside.close() {
        warn!(
            "cannot delete the previous environment, now at `{}`: {error}",
            aside_path.display()
        );
    }
    Ok(())
}

/// Step 2: the environment's contents, written under `staging` but describing its final place
/// `root`.
fn build(
    staging: &Path,
    root: &Path,
    interpreter: &Interpreter,
    options: &VenvOptions,
    prompt: &str,
) -> Result<(), VenvError> {
    let base = interpreter.base_executable();
    let scheme = interpreter.scheme_paths_for(staging);
    let final_scheme = interpreter.scheme_paths_for(root);
    let (major, minor) = interpreter.python_minor();

    for dir in [
        &scheme.scripts,
        &scheme.purelib,
        &scheme.platlib,
        &scheme.include,
    ] {
        create_dir_all(dir)?;
    }
    // Like `venv`: on 64-bit POSIX systems other than macOS, `lib64` is a link to `lib`, so that
    // tools that compute `lib64/pythonX.Y/site-packages` land in the same place.
    let markers = interpreter.markers();
    if interpreter.is_64bit() && markers.os_name() == "posix" && markers.sys_platform() != "darwin"
    {
        symlink(Path::new("lib"), &staging.join("lib64"))?;
    }

    // The interpreter: `python3` links to the base executable, the other names to `python3`.
    let mut names = vec!["python".to_string(), format!("python{major}.{minor}")];
    if interpreter.gil_disabled() {
        names.push(format!("python{major}.{minor}t"));
    }
    if interpreter.implementation_name() == "pypy" {
        names.extend([
            "pypy".to_string(),
            format!("pypy{major}"),
            format!("pypy{major}.{minor}"),
        ]);
    }
    let python3 = format!("python{major}");
    symlink(base, &scheme.scripts.join(&python3))?;
    for name in names {
        symlink(Path::new(&python3), &scheme.scripts.join(name))?;
    }

    let cfg = pyvenv_cfg(interpreter, options)?;
    write(&staging.join("pyvenv.cfg"), &cfg)?;
    // Keep the environment out of version control, as `venv` does since 3.13.
    write(&staging.join(".gitignore"), "# Created by safevenv\n*\n")?;
    for (name, text) in activate::render(root, &final_scheme.scripts, prompt) {
        write(&scheme.scripts.join(name), &text)?;
    }
    Ok(())
}

/// `pyvenv.cfg`: the keys `venv` writes, which `site` and `getpath` read at start-up, plus ours.
fn pyvenv_cfg(interpreter: &Interpreter, options: &VenvOptions) -> Result<String, VenvError> {
    let base = interpreter.base_executable();
    // `home` is the directory of the interpreter the environment runs; `executable` the resolved
    // binary, as `venv` records them.
    let home = base.parent().unwrap_or(base);
    let executable = fs_err::canonicalize(base).map_err(|source| VenvError::Inspect {
        path: base.to_path_buf(),
        source,
    })?;
    let (major, minor, micro) = interpreter.python_patch();
    let mut cfg = String::new();
    let mut line = |key: &str, value: &str| -> Result<(), VenvError> {
        check_text(key_description(key), value)?;
        // Writing to a String cannot fail.
        let _ = writeln!(cfg, "{key} = {value}");
        Ok(())
    };
    line("home", &home.to_string_lossy())?;
    line(
        "include-system-site-packages",
        if options.system_site_packages {
            "true"
        } else {
            "false"
        },
    )?;
    line("version", &format!("{major}.{minor}.{micro}"))?;
    line("executable", &executable.to_string_lossy())?;
    if let Some(command) = &options.command {
        line("command", command)?;
    }
    if let Some(prompt) = &options.prompt {
        line("prompt", prompt)?;
    }
    line("safevenv", VERSION)?;
    Ok(cfg)
}

fn key_description(key: &str) -> &'static str {
    match key {
        "home" => "interpreter directory",
        "executable" => "interpreter path",
        "command" => "command",
        "prompt" => "prompt",
        _ => "value",
    }
}

/// Refuse control characters in anything written into `pyvenv.cfg` or a script: a newline would
/// add a line of its own (e.g. a prompt `x\nhome = /elsewhere` redirecting the interpreter).
fn check_text(what: &'static str, value: &str) -> Result<(), VenvError> {
    if value.chars().any(char::is_control) {
        return Err(VenvError::ControlCharacter {
            what,
            value: value.escape_debug().to_string(),
        });
    }
    Ok(())
}

/// Refuse prompts that shells would expand: bash and zsh expand `$(...)`, `` `...` `` and `\`
/// escapes in `PS1` every time they draw it, so such a prompt (or a directory named like one)
/// would run code at each prompt.
fn check_prompt(prompt: &str) -> Result<(), VenvError> {
    check_text("prompt", prompt)?;
    if let Some(character) = prompt.chars().find(|c| matches!(c, '$' | '`' | '\\')) {
        return Err(VenvError::UnsafePrompt {
            prompt: prompt.to_string(),
            character,
        });
    }
    Ok(())
}

fn create_dir_all(dir: &Path) -> Result<(), VenvError> {
    fs_err::create_dir_all(dir).map_err(|source| VenvError::Create {
        path: dir.to_path_buf(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), VenvError> {
    fs_err::write(path, text).map_err(|source| VenvError::Create {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> Result<(), VenvError> {
    fs_err::os::unix::fs::symlink(target, link).map_err(|source| VenvError::Create {
        path: link.to_path_buf(),
        source,
    })
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> Result<(), VenvError> {
    Err(VenvError::UnsupportedPlatform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_that_shells_expand_are_refused() {
        for bad in [
            "$(touch /tmp/x)",
            "`id`",
            r"a\nb",
            "a\nhome = /x",
            "\u{1b}[31m",
        ] {
            assert!(check_prompt(bad).is_err(), "{bad:?}");
        }
        for good in ["env", "my project", "it's", "proj-3.12", "ünïcode"] {
            assert!(check_prompt(good).is_ok(), "{good:?}");
        }
    }
}
