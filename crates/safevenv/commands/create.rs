//! `safevenv create [PATH]`

use safevenv_cache::Cache;
use safevenv_cli::{CreateArgs, GlobalArgs};
use safevenv_python::{DiscoveryError, PythonRequest, find_interpreter};
use safevenv_venv::{VenvError, VenvOptions, create_venv};

use crate::diagnostic::{Diagnostic, Failure};
use crate::printer::Printer;

pub fn run(args: &CreateArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    warn_if_root_outside_container(printer);
    let cache = Cache::from_settings(global.cache_dir.clone())
        .map_err(|err| Diagnostic::from_error(&err, Failure::Internal))?;
    let request = args
        .python
        .as_deref()
        .map(PythonRequest::parse)
        .transpose()
        .map_err(|err| {
            Diagnostic::from_error(&err, Failure::Input).with_hints([
                "pass a version (`3.12`), a path, or a name (`python3.12`)".to_string(),
            ])
        })?;
    let interpreter = find_interpreter(request.as_ref(), &cache).map_err(discovery_diagnostic)?;

    let options = VenvOptions {
        prompt: args.prompt.clone(),
        system_site_packages: args.system_site_packages,
        clear: args.clear,
        command: Some(command_line()),
    };
    let venv = create_venv(&args.path, &interpreter, &options).map_err(venv_diagnostic)?;
    printer.status(
        "Created",
        &format!(
            "environment at `{}` with Python {} (`{}`)",
            venv.root.display(),
            interpreter.version(),
            interpreter.sys_executable().display()
        ),
    );
    printer.status(
        "Activate",
        &format!("with `source {}`", venv.scripts.join("activate").display()),
    );
    Ok(())
}

/// How this environment was made, for `pyvenv.cfg`'s `command` key (as `venv` records it).
fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn discovery_diagnostic(err: DiscoveryError) -> Diagnostic {
    let hint = err.hint();
    Diagnostic::from_error(&err, Failure::Internal).with_hints([hint])
}

fn venv_diagnostic(err: VenvError) -> Diagnostic {
    let (failure, hint) = match &err {
        VenvError::AlreadyExists { .. } => (
            Failure::Input,
            Some("add `--clear` to replace it, or choose another path".to_string()),
        ),
        VenvError::NotAnEnvironment { .. } | VenvError::NotADirectory { .. } => (
            Failure::Input,
            Some(
                "choose another path; safevenv never replaces what is not an environment"
                    .to_string(),
            ),
        ),
        VenvError::SymlinkTarget { .. } => (
            Failure::Input,
            Some(
                "pass the link's target directly if that is where the environment belongs"
                    .to_string(),
            ),
        ),
        VenvError::ControlCharacter { .. } | VenvError::UnsafePrompt { .. } => (
            Failure::Input,
            Some("choose another prompt with `--prompt`, or another path".to_string()),
        ),
        VenvError::InvalidPath { .. } => (Failure::Input, None),
        _ => (Failure::Internal, None),
    };
    Diagnostic::from_error(&err, failure).with_hints(hint)
}

/// pip warns when it runs as root outside a container: files written as root into a shared
/// interpreter's tree break later non-root use. Containers are the common, legitimate exception.
fn warn_if_root_outside_container(printer: &Printer) {
    if is_root() && !in_container() {
        printer.warn(
            "running safevenv as root outside a container; files it creates will belong to root. \
             Prefer running it as the user who will use the environment.",
        );
    }
}

fn is_root() -> bool {
    // `/proc/self` is owned by the process's effective user; no libc call (and no `unsafe`) needed.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs_err::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

fn in_container() -> bool {
    std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists()
        || std::env::var_os("container").is_some()
        || fs_err::read_to_string("/proc/1/cgroup").is_ok_and(|cgroups| {
            ["docker", "kubepods", "containerd", "lxc", "podman"]
                .iter()
                .any(|marker| cgroups.contains(marker))
        })
}
