//! `safevenv add` and `safevenv remove`, and what the project-reading commands share.

use std::str::FromStr;

use safevenv_cli::{AddArgs, EditArgs, GlobalArgs, ProjectArgs, RemoveArgs};
use safevenv_ops::{
    EditSettings, EditTarget, ProjectEdit, ProjectInput, Selection, SyncSettings, edit_project,
};
use uv_normalize::{ExtraName, GroupName, PackageName};

use crate::commands::install::{cache, report, show_progress};
use crate::commands::policy::refusal_diagnostic;
use crate::diagnostic::{Diagnostic, Failure};
use crate::printer::Printer;

/// The extras and groups chosen on the command line.
pub fn selection(args: &ProjectArgs) -> Result<Selection, Diagnostic> {
    Ok(Selection {
        extras: names(&args.extra, "--extra")?,
        all_extras: args.all_extras,
        groups: names(&args.group, "--group")?,
        only_groups: names(&args.only_group, "--only-group")?,
        no_default_groups: args.no_default_groups,
    })
}

fn names<T: FromStr>(values: &[String], option: &str) -> Result<Vec<T>, Diagnostic>
where
    T::Err: std::error::Error + 'static,
{
    values.iter().map(|value| name(value, option)).collect()
}

fn name<T: FromStr>(value: &str, option: &str) -> Result<T, Diagnostic>
where
    T::Err: std::error::Error + 'static,
{
    T::from_str(value).map_err(|err| {
        Diagnostic::from_error(&err, Failure::Input)
            .with_hints([format!("`{option}` takes a name, not `{value}`")])
    })
}

/// A project with a `[build-system]` is itself installable, but only through a build, which
/// runs its backend: that is asked for explicitly (`install -e .`, judged by `sources.path`).
pub fn note_project(project: Option<&ProjectInput>, printer: &Printer) {
    if let Some(project) = project
        && project.build_system
    {
        printer.warn(&format!(
            "the project `{}` itself is not installed, only its dependencies; `safevenv install -e .` builds and installs it when the policy allows its path (`docs/build.md`)",
            project.name
        ));
    }
}

pub fn add(args: &AddArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    run(
        ProjectEdit::Add(args.packages.clone()),
        &args.edit,
        global,
        printer,
    )
}

pub fn remove(args: &RemoveArgs, global: &GlobalArgs, printer: &Printer) -> Result<(), Diagnostic> {
    let names = args
        .packages
        .iter()
        .map(|value| name::<PackageName>(value, "remove"))
        .collect::<Result<_, _>>()?;
    run(ProjectEdit::Remove(names), &args.edit, global, printer)
}

fn run(
    edit: ProjectEdit,
    args: &EditArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> Result<(), Diagnostic> {
    let target = match (&args.group, &args.optional) {
        (Some(group), _) => EditTarget::Group(name::<GroupName>(group, "--group")?),
        (None, Some(extra)) => EditTarget::Optional(name::<ExtraName>(extra, "--optional")?),
        (None, None) => EditTarget::Dependencies,
    };
    let working_dir = std::env::current_dir().map_err(|err| {
        Diagnostic::from_error(&err, Failure::Internal)
            .with_hints(["the current directory may have been removed".to_string()])
    })?;
    let cache = cache(global)?;
    // Sync installs the default groups, and the extra or group edited (an added dependency is
    // installed wherever it was declared).
    let mut installs = Selection::default();
    if let ProjectEdit::Add(_) = &edit {
        match &target {
            EditTarget::Dependencies => {}
            EditTarget::Optional(extra) => installs.extras.push(extra.clone()),
            EditTarget::Group(group) => installs.groups.push(group.clone()),
        }
    }
    let lock = safevenv_ops::LockSettings {
        requirement_files: Vec::new(),
        constraint_files: Vec::new(),
        specifiers: Vec::new(),
        python: args.python.clone(),
        index_url: args.index_url.clone(),
        extra_index_urls: Vec::new(),
        output: Some(safevenv_ops::DEFAULT_LOCKFILE.into()),
        format: safevenv_ops::LockFormat::Pylock,
        upgrade: safevenv_resolver::Upgrade::None,
        prereleases: false,
        offline: args.offline,
        cache: cache.clone(),
        working_dir: working_dir.clone(),
        attest: crate::commands::attest::attest_settings(&args.attest)?,
        editables: Vec::new(),
        unsandboxed_builds: Vec::new(),
        project: Some(Selection::default()),
        requires_python: None,
        progress: safevenv_ops::Progress::new(show_progress(global, args.gate.format)),
    };
    let sync = SyncSettings {
        lockfile: safevenv_ops::DEFAULT_LOCKFILE.into(),
        python: args.python.clone(),
        requirement_files: Vec::new(),
        specifiers: Vec::new(),
        frozen: false,
        project: Some(installs),
        index_url: args.index_url.clone(),
        policy: args.gate.policy.clone(),
        offline: args.offline,
        cache,
        working_dir,
        progress: show_progress(global, args.gate.format),
        attest: crate::commands::attest::attest_settings(&args.attest)?,
        audit_db: args.gate.audit_db.clone(),
        system: args.gate.system,
    };
    let settings = EditSettings {
        edit,
        target,
        lock,
        sync,
    };
    let outcome =
        edit_project(&settings).map_err(|err| refusal_diagnostic(err, args.gate.format))?;
    printer.status(
        if outcome.changed {
            "Edited"
        } else {
            "Unchanged"
        },
        &format!("`{}`", outcome.pyproject.display()),
    );
    printer.status(
        "Resolved",
        &format!(
            "{} packages for Python {}",
            outcome.lock.packages, outcome.lock.python
        ),
    );
    report(&outcome.sync, printer, args.gate.format);
    note_project(outcome.lock.project.as_ref(), printer);
    Ok(())
}
