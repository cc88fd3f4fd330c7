//! The project stage: a `pyproject.toml` as the input of `lock`, `install` and `sync --frozen`
//! when no `-r` file, specifier or `-e` is given, what the lockfile records of it (PEP 751
//! `extras`, `dependency-groups`, `default-groups` and per-package markers), and which of the
//! locked packages a run installs (`--extra`, `--group`, ...).
//!
//! ```text
//! pyproject.toml → every extra and group (or the `--only-group` groups) → requirements
//!   → resolution → each package marked with the extras and groups that need it
//!   → install/sync: the packages whose marker holds for the chosen extras and groups
//! ```
//!
//! One lockfile holds every extra and group, as uv's does, so that `sync --extra X` chooses from
//! it without resolving again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use safevenv_lock::Lock;
use safevenv_project::{Project, Selection};
use safevenv_python::Interpreter;
use safevenv_requirements::{Entry, Origin, ParseOptions, parse_cli_specifiers};
use safevenv_resolver::Resolution;
use uv_normalize::{ExtraName, GroupName, PackageName};
use uv_pep508::{MarkerEnvironment, MarkerTree};

use crate::input::InputError;
use crate::lock::LockSettings;

/// A project as the input of a run: what it is, what the lockfile holds of it, and what the run
/// installs of that.
#[derive(Debug, Clone)]
pub struct ProjectInput {
    /// The `pyproject.toml`.
    pub path: PathBuf,
    /// `project.name`.
    pub name: PackageName,
    /// Whether it has a `[build-system]`, so that the project itself can be built and installed.
    pub build_system: bool,
    /// The extras the lockfile holds.
    pub locked_extras: Vec<ExtraName>,
    /// The dependency groups the lockfile holds.
    pub locked_groups: Vec<GroupName>,
    /// `--only-group`: the lockfile holds these groups alone, not the project's dependencies.
    pub only_groups: Vec<GroupName>,
    /// What the run installs of the lockfile.
    pub installs: Chosen,
}

/// The extras and dependency groups a run installs: the PEP 751 `extras` and
/// `dependency_groups` the lockfile's package markers are evaluated with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chosen {
    /// The extras.
    pub extras: Vec<ExtraName>,
    /// The groups.
    pub groups: Vec<GroupName>,
}

impl Chosen {
    /// Whether a locked package with `marker` is installed in `env`.
    pub(crate) fn selects(&self, marker: MarkerTree, env: &MarkerEnvironment) -> bool {
        marker.evaluate_pep751(env, &self.extras, &self.groups)
    }

    /// Every extra and group `lock` holds.
    pub(crate) fn held(lock: &Lock) -> Self {
        Self {
            extras: lock.extras.clone().unwrap_or_default(),
            groups: lock.dependency_groups.clone().unwrap_or_default(),
        }
    }

    /// What a lockfile installs when nothing is chosen: its `default-groups`.
    pub(crate) fn defaults(lock: &Lock) -> Self {
        Self {
            extras: Vec::new(),
            groups: lock.default_groups.clone().unwrap_or_default(),
        }
    }
}

/// A choice of extras or groups the lockfile cannot honour.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    /// `--extra` names an extra the lockfile does not hold.
    #[error("the lockfile `{}` holds no extra `{extra}` (it holds: {})", lockfile.display(), list(known))]
    UnknownExtra {
        /// The lockfile.
        lockfile: PathBuf,
        /// The extra asked for.
        extra: ExtraName,
        /// The extras it holds.
        known: Vec<String>,
    },
    /// `--group` or `--only-group` names a group the lockfile does not hold.
    #[error("the lockfile `{}` holds no dependency group `{group}` (it holds: {})", lockfile.display(), list(known))]
    UnknownGroup {
        /// The lockfile.
        lockfile: PathBuf,
        /// The group asked for.
        group: GroupName,
        /// The groups it holds.
        known: Vec<String>,
    },
    /// `sync --only-group` with a lockfile that also holds the project's own dependencies: PEP 751
    /// has no marker that leaves those out.
    #[error("the lockfile `{}` holds the project's dependencies, which every selection installs; `--only-group` cannot leave them out", lockfile.display())]
    OnlyGroupWithDependencies {
        /// The lockfile.
        lockfile: PathBuf,
    },
}

fn list(known: &[String]) -> String {
    if known.is_empty() {
        "none".to_string()
    } else {
        known
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The project read as a run's input.
pub(crate) struct ProjectRequirements {
    pub(crate) input: ProjectInput,
    /// Every requirement the lockfile is made from, each with the line of `pyproject.toml` it
    /// was declared at.
    pub(crate) entries: Vec<Entry>,
    /// `project.requires-python`.
    pub(crate) requires_python: Option<uv_pep440::VersionSpecifiers>,
    /// Which requirements each part declares, to mark the packages it needs.
    parts: Vec<(Part, Vec<uv_pep508::Requirement>)>,
}

/// A part of a project a package can be needed by.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Dependencies,
    Extra(ExtraName),
    Group(GroupName),
}

/// Whether the run reads the project: asked for (`settings.project`), and no other requirement
/// given.
fn reads_project(
    selection: Option<&Selection>,
    requirement_files: &[PathBuf],
    specifiers: &[String],
    editables: &[PathBuf],
) -> bool {
    selection.is_some()
        && requirement_files.is_empty()
        && specifiers.is_empty()
        && editables.is_empty()
}

/// Whether `settings`' run takes its requirements from the project (when there is one).
pub(crate) fn is_input(settings: &LockSettings) -> bool {
    reads_project(
        settings.project.as_ref(),
        &settings.requirement_files,
        &settings.specifiers,
        &settings.editables,
    )
}

/// The project of `settings`' run, if it reads one: `None` when requirements were given or no
/// `pyproject.toml` is at or above the working directory (then the run has no requirements and
/// says so).
pub(crate) fn read(settings: &LockSettings) -> Result<Option<ProjectRequirements>, InputError> {
    if !is_input(settings) || safevenv_project::find_root(&settings.working_dir).is_none() {
        return Ok(None);
    }
    let chosen = settings.project.clone().unwrap_or_default();
    let project = Project::discover(&settings.working_dir)?;
    read_project(&project, &chosen, &chosen.only_groups).map(Some)
}

/// The project the lockfile `lock` was made from, read again as it was locked (for `sync
/// --frozen`); `None` when the run gave requirements, or the lockfile was not made from a
/// project, or there is no project.
pub(crate) fn read_as_locked(
    lock: &Lock,
    selection: Option<&Selection>,
    requirement_files: &[PathBuf],
    specifiers: &[String],
    working_dir: &Path,
) -> Result<Option<ProjectRequirements>, InputError> {
    if !reads_project(selection, requirement_files, specifiers, &[])
        || safevenv_project::find_root(working_dir).is_none()
    {
        return Ok(None);
    }
    let Some(recorded) = recorded(lock) else {
        return Ok(None);
    };
    let project = Project::discover(working_dir)?;
    read_project(&project, &Selection::default(), &recorded).map(Some)
}

/// `project` as a lockfile's input: every extra and group, or the `only_groups` alone;
/// `chosen` is what the run installs of them (checked against the project).
fn read_project(
    project: &Project,
    chosen: &Selection,
    only_groups: &[GroupName],
) -> Result<ProjectRequirements, InputError> {
    let installs = project.select(chosen)?;
    let scope = if only_groups.is_empty() {
        Selection {
            // Dynamic extras cannot be read; the project is locked without them (an extra asked
            // for was refused above, naming why).
            all_extras: project.optional_dependencies.is_some(),
            groups: project.dependency_groups.keys().cloned().collect(),
            no_default_groups: true,
            ..Selection::default()
        }
    } else {
        Selection {
            only_groups: only_groups.to_vec(),
            ..Selection::default()
        }
    };
    let locked = project.select(&scope)?;
    let mut parts = Vec::new();
    if locked.project_dependencies {
        let base = Selection {
            no_default_groups: true,
            ..Selection::default()
        };
        parts.push((Part::Dependencies, requirements(project, &base)?));
        for extra in &locked.extras {
            let with_extra = Selection {
                extras: vec![extra.clone()],
                ..base.clone()
            };
            parts.push((
                Part::Extra(extra.clone()),
                requirements(project, &with_extra)?,
            ));
        }
    }
    for group in &locked.groups {
        let alone = Selection {
            only_groups: vec![group.clone()],
            ..Selection::default()
        };
        parts.push((Part::Group(group.clone()), requirements(project, &alone)?));
    }
    // Relative paths in a project's requirements are relative to the project, not to where
    // safevenv was started.
    let options = ParseOptions {
        working_dir: Some(project.root.clone()),
        ..ParseOptions::default()
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(locked.requirements.len());
    let mut seen = BTreeSet::new();
    for declared in &locked.requirements {
        let text = declared.requirement.to_string();
        // A requirement shared by two parts is one requirement of the lockfile.
        if !seen.insert(text.clone()) {
            continue;
        }
        // Already valid PEP 508 (the project reader checked it); read again by the requirements
        // reader so that URLs and paths are classified as for `-r` files.
        let mut parsed = parse_cli_specifiers(std::slice::from_ref(&text), &options)?;
        for entry in &mut parsed {
            entry.origin = Origin::File {
                path: project.path.clone(),
                line: declared.line,
            };
        }
        entries.extend(parsed);
    }
    let installs = Chosen {
        extras: installs.extras,
        groups: installs.groups,
    };
    Ok(ProjectRequirements {
        input: ProjectInput {
            path: project.path.clone(),
            name: project.name.clone(),
            build_system: project.build_system,
            locked_extras: locked.extras,
            locked_groups: locked.groups,
            only_groups: only_groups.to_vec(),
            installs,
        },
        entries,
        requires_python: project.requires_python.clone(),
        parts,
    })
}

fn requirements(
    project: &Project,
    selection: &Selection,
) -> Result<Vec<uv_pep508::Requirement>, InputError> {
    Ok(project
        .select(selection)?
        .requirements
        .into_iter()
        .map(|declared| declared.requirement)
        .collect())
}

/// `settings` with the project's `requires-python`, unless one was given.
pub(crate) fn with_requires_python(
    settings: &LockSettings,
    project: &ProjectRequirements,
) -> LockSettings {
    let mut settings = settings.clone();
    if settings.requires_python.is_none() {
        settings
            .requires_python
            .clone_from(&project.requires_python);
    }
    settings
}

/// The lockfile is made for one interpreter: it must be one the project supports.
pub(crate) fn check_requires_python(
    project: &ProjectRequirements,
    settings: &LockSettings,
    interpreter: &Interpreter,
) -> Result<(), InputError> {
    match &settings.requires_python {
        Some(specifiers) if !specifiers.contains(interpreter.version()) => {
            Err(InputError::RequiresPython {
                path: project.input.path.clone(),
                requires_python: specifiers.clone(),
                python: interpreter.version().clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Records in `lock` what it holds of the project (PEP 751): `extras`, `dependency-groups`,
/// `default-groups` (`dev`, as uv), and on each package the extras and groups that need it, as
/// `'x' in extras or 'g' in dependency_groups` (no such marker: the project's own dependencies
/// need it). `[tool.safevenv.project]` keeps the `--only-group` groups a lockfile was made with,
/// for `sync --frozen` to read the project the same way again.
pub(crate) fn record(
    lock: &mut Lock,
    project: &ProjectRequirements,
    resolution: &Resolution,
    interpreter: &Interpreter,
) -> Result<(), crate::error::OpsError> {
    let input = &project.input;
    lock.extras = Some(input.locked_extras.clone());
    lock.dependency_groups = Some(input.locked_groups.clone());
    let dev = GroupName::from_str("dev").ok();
    lock.default_groups = Some(if input.only_groups.is_empty() {
        input
            .locked_groups
            .iter()
            .filter(|group| Some(*group) == dev.as_ref())
            .cloned()
            .collect()
    } else {
        input.only_groups.clone()
    });

    let edges: BTreeMap<&PackageName, Vec<&PackageName>> = resolution
        .distributions
        .iter()
        .map(|dist| {
            (
                &dist.name,
                dist.dependencies.iter().map(|edge| &edge.name).collect(),
            )
        })
        .collect();
    let mut needed_by: BTreeMap<PackageName, Vec<&Part>> = BTreeMap::new();
    for (part, requirements) in &project.parts {
        // Requirements whose marker does not hold here were not resolved.
        let roots = requirements
            .iter()
            .filter(|requirement| requirement.marker.evaluate(interpreter.markers(), &[]))
            .map(|requirement| &requirement.name);
        for name in closure(roots, &edges) {
            needed_by.entry(name.clone()).or_default().push(part);
        }
    }
    for package in &mut lock.packages {
        let Some(parts) = needed_by.get(&package.name) else {
            continue;
        };
        if parts.contains(&&Part::Dependencies) {
            continue;
        }
        let text = parts
            .iter()
            .map(|part| match part {
                Part::Extra(extra) => format!("'{extra}' in extras"),
                Part::Group(group) => format!("'{group}' in dependency_groups"),
                Part::Dependencies => unreachable!("handled above"),
            })
            .collect::<Vec<_>>()
            .join(" or ");
        let marker = MarkerTree::from_str(&text).map_err(|err| {
            crate::error::OpsError::Internal(format!("the marker `{text}`: {err}"))
        })?;
        package.marker = package.marker.and(marker);
    }

    let mut table = toml::Table::new();
    table.insert(
        "only-groups".to_string(),
        toml::Value::Array(
            input
                .only_groups
                .iter()
                .map(|group| toml::Value::String(group.to_string()))
                .collect(),
        ),
    );
    let tool = lock.tool.get_or_insert_with(toml::Table::new);
    let safevenv = tool
        .entry("safevenv")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(safevenv) = safevenv {
        safevenv.insert("project".to_string(), toml::Value::Table(table));
    }
    lock.validate(crate::lock::CREATED_BY).map_err(|err| {
        crate::error::OpsError::Internal(format!("the lockfile built is invalid: {err}"))
    })
}

/// Every package reachable from `roots` through the resolution's dependency edges.
fn closure<'a>(
    roots: impl Iterator<Item = &'a PackageName>,
    edges: &BTreeMap<&'a PackageName, Vec<&'a PackageName>>,
) -> BTreeSet<&'a PackageName> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&PackageName> = roots.collect();
    while let Some(name) = stack.pop() {
        if !edges.contains_key(name) || !seen.insert(name) {
            continue;
        }
        stack.extend(edges[name].iter().copied());
    }
    seen
}

/// The `--only-group` groups a lockfile made from a project was made with (empty: the whole
/// project); `None` when it was not made from a project.
fn recorded(lock: &Lock) -> Option<Vec<GroupName>> {
    let project = lock.tool.as_ref()?.get("safevenv")?.get("project")?;
    Some(
        project
            .get("only-groups")
            .and_then(toml::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str())
                    .filter_map(|name| GroupName::from_str(name).ok())
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// What `sync` installs of `lock` (at `lockfile`) for `selection`, checked against the extras
/// and groups the lockfile holds (PEP 751: a lockfile that lists them refuses others).
pub(crate) fn chosen_from_lock(
    lock: &Lock,
    lockfile: &Path,
    selection: &Selection,
    env: &MarkerEnvironment,
) -> Result<Chosen, SelectionError> {
    let extras_held = lock.extras.clone().unwrap_or_default();
    let groups_held = lock.dependency_groups.clone().unwrap_or_default();
    let names = |items: &[GroupName]| items.iter().map(ToString::to_string).collect::<Vec<_>>();
    let check_group = |group: &GroupName| {
        if groups_held.contains(group) {
            Ok(())
        } else {
            Err(SelectionError::UnknownGroup {
                lockfile: lockfile.to_path_buf(),
                group: group.clone(),
                known: names(&groups_held),
            })
        }
    };
    if !selection.only_groups.is_empty() {
        for group in &selection.only_groups {
            check_group(group)?;
        }
        // A package whose marker holds with no extra and no group is one of the project's own
        // dependencies (or the lockfile's only requirements).
        if lock
            .packages
            .iter()
            .any(|package| package.marker.evaluate_pep751(env, &[], &[]))
        {
            return Err(SelectionError::OnlyGroupWithDependencies {
                lockfile: lockfile.to_path_buf(),
            });
        }
        return Ok(Chosen {
            extras: Vec::new(),
            groups: selection.only_groups.clone(),
        });
    }
    let extras = if selection.all_extras {
        extras_held.clone()
    } else {
        for extra in &selection.extras {
            if !extras_held.contains(extra) {
                return Err(SelectionError::UnknownExtra {
                    lockfile: lockfile.to_path_buf(),
                    extra: extra.clone(),
                    known: extras_held.iter().map(ToString::to_string).collect(),
                });
            }
        }
        selection.extras.clone()
    };
    let mut groups = if selection.no_default_groups {
        Vec::new()
    } else {
        Chosen::defaults(lock).groups
    };
    for group in &selection.groups {
        check_group(group)?;
        if !groups.contains(group) {
            groups.push(group.clone());
        }
    }
    Ok(Chosen { extras, groups })
}
