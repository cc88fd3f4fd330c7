//! A Python project's `pyproject.toml`: where it is, what it depends on, and edits to that.
//!
//! Reading ([`Project::discover`], [`Project::from_path`]) validates the `[project]` table (PEP 621
//! / the packaging "pyproject.toml specification"): its name, `dependencies` and
//! `optional-dependencies` as PEP 508 requirements, `requires-python` as PEP 440 specifiers, and
//! `dynamic`; the PEP 735 `[dependency-groups]` table with `include-group` expanded (cycles
//! refused); and whether a `[build-system]` makes the project itself installable. Every error names
//! the file, the key and the line.
//!
//! Editing ([`edit`]) changes only the dependency arrays it is asked to change, with `toml_edit`,
//! so comments, ordering and array style elsewhere stay byte for byte.

mod edit;
mod groups;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use toml_edit::{Document, Item, Value};
use uv_normalize::{ExtraName, GroupName, PackageName};
use uv_pep440::VersionSpecifiers;
use uv_pep508::{MarkerTree, Requirement};

pub use edit::{EditTarget, add, remove, write_atomic};

/// The file a project is described by.
pub const PYPROJECT: &str = "pyproject.toml";

/// The largest `pyproject.toml` read (a project file is a few kilobytes; this bounds memory).
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// A `pyproject.toml` that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No `pyproject.toml` in the directory or any parent.
    #[error("no `pyproject.toml` in `{}` or any of its parents", start.display())]
    NotFound {
        /// Where the search began.
        start: PathBuf,
    },
    /// The file could not be read or written.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("`{}` is {size} bytes, more than the {MAX_FILE_SIZE} a project file may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not valid TOML.
    #[error("`{}` is not valid TOML: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message (with the line).
        message: String,
    },
    /// No `[project]` table: the file configures tools but declares no project.
    #[error("`{}` has no `[project]` table; a project's dependencies are expected in `[project] dependencies`", path.display())]
    MissingProject {
        /// The file.
        path: PathBuf,
    },
    /// `[project]` without a `name`.
    #[error("`{}`: `project.name` is missing; every project must have a name", path.display())]
    MissingName {
        /// The file.
        path: PathBuf,
    },
    /// A key holds a value of another type than the specification says.
    #[error("`{}` at line {line}: `{key}` must be {expected}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key, dotted (`project.dependencies[2]`).
        key: String,
        /// The 1-based line.
        line: usize,
        /// What it must be.
        expected: &'static str,
    },
    /// A name (project, extra, group) that is not a valid name.
    #[error("`{}` at line {line}: `{key}` = `{value}` is not a valid name: {reason}", path.display())]
    InvalidName {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The 1-based line.
        line: usize,
        /// The name as written.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A dependency that is not a valid PEP 508 requirement.
    #[error("`{}` at line {line}: `{key}` = `{requirement}` is not a valid PEP 508 requirement: {reason}", path.display())]
    InvalidRequirement {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The 1-based line.
        line: usize,
        /// The requirement as written.
        requirement: String,
        /// The parser's message.
        reason: String,
    },
    /// `requires-python` that is not a valid PEP 440 specifier set.
    #[error("`{}` at line {line}: `project.requires-python` = `{value}` is not a valid version specifier: {reason}", path.display())]
    InvalidRequiresPython {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The value as written.
        value: String,
        /// The parser's message.
        reason: String,
    },
    /// `dependencies` is listed in `dynamic`: only a build backend knows them.
    #[error("`{}`: `project.dependencies` is dynamic (listed in `project.dynamic`), so only building the project would tell them; safevenv expects them written in `[project] dependencies`", path.display())]
    DynamicDependencies {
        /// The file.
        path: PathBuf,
    },
    /// Extras were asked for, but `optional-dependencies` is dynamic.
    #[error("`{}`: `project.optional-dependencies` is dynamic (listed in `project.dynamic`), so the extras cannot be read without building; safevenv expects them written in `[project.optional-dependencies]`", path.display())]
    DynamicOptionalDependencies {
        /// The file.
        path: PathBuf,
    },
    /// A static key that is also listed in `dynamic` (the specification forbids it).
    #[error("`{}`: `project.{key}` is both given and listed in `project.dynamic`", path.display())]
    StaticAndDynamic {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// An extra asked for that the project does not define.
    #[error("`{}` defines no extra `{extra}` in `project.optional-dependencies` (it defines: {})", path.display(), list(known))]
    UnknownExtra {
        /// The file.
        path: PathBuf,
        /// The extra asked for.
        extra: ExtraName,
        /// The extras defined.
        known: Vec<String>,
    },
    /// A group asked for (or included) that `[dependency-groups]` does not define.
    #[error("`{}` defines no dependency group `{group}` in `[dependency-groups]` (it defines: {})", path.display(), list(known))]
    UnknownGroup {
        /// The file.
        path: PathBuf,
        /// The group.
        group: GroupName,
        /// The groups defined.
        known: Vec<String>,
    },
    /// Two group names that are one name once normalized (PEP 735: an error).
    #[error("`{}`: the dependency groups `{first}` and `{second}` are one name once normalized", path.display())]
    DuplicateGroup {
        /// The file.
        path: PathBuf,
        /// One spelling.
        first: String,
        /// The other.
        second: String,
    },
    /// Groups that include each other (PEP 735: an error).
    #[error("`{}`: the dependency groups include each other in a cycle: {}", path.display(), cycle.join(" -> "))]
    GroupCycle {
        /// The file.
        path: PathBuf,
        /// The groups of the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A requirement given to `add` that is not a valid PEP 508 requirement.
    #[error("`{requirement}` is not a valid PEP 508 requirement: {reason}")]
    InvalidNewRequirement {
        /// As given.
        requirement: String,
        /// The parser's message.
        reason: String,
    },
    /// `remove` of a dependency the array does not hold.
    #[error("`{}`: `{name}` is not in `{key}`", path.display())]
    NotADependency {
        /// The file.
        path: PathBuf,
        /// The project asked for.
        name: PackageName,
        /// The array looked in.
        key: String,
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

/// One dependency as the project declares it, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The requirement.
    pub requirement: Requirement,
    /// The key it is at (`project.dependencies[0]`).
    pub key: String,
    /// The 1-based line.
    pub line: usize,
}

/// Which extras and groups to take (`--extra`, `--all-extras`, `--group`, `--only-group`,
/// `--no-default-groups`), as uv takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `--extra`.
    pub extras: Vec<ExtraName>,
    /// `--all-extras`.
    pub all_extras: bool,
    /// `--group`: added to the default groups.
    pub groups: Vec<GroupName>,
    /// `--only-group`: these groups only, without the project's own dependencies.
    pub only_groups: Vec<GroupName>,
    /// `--no-default-groups`: leave out `dev`.
    pub no_default_groups: bool,
}

impl Selection {
    /// Whether anything was chosen beyond the defaults.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// What a [`Selection`] of a project comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The requirements, in declaration order (self-references to the project's own extras
    /// replaced by those extras' requirements).
    pub requirements: Vec<Declared>,
    /// The extras taken.
    pub extras: Vec<ExtraName>,
    /// The groups taken (included groups not listed separately).
    pub groups: Vec<GroupName>,
    /// Whether the project's own dependencies are in (`false` with `--only-group`).
    pub project_dependencies: bool,
}

/// A project read from its `pyproject.toml`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding `pyproject.toml`.
    pub root: PathBuf,
    /// The `pyproject.toml`.
    pub path: PathBuf,
    /// `project.name`, normalized.
    pub name: PackageName,
    /// `project.dependencies`.
    pub dependencies: Vec<Declared>,
    /// `project.optional-dependencies`, by normalized extra; `None` when dynamic.
    pub optional_dependencies: Option<BTreeMap<ExtraName, Vec<Declared>>>,
    /// `[dependency-groups]`, `include-group` expanded.
    pub dependency_groups: BTreeMap<GroupName, Vec<Declared>>,
    /// `project.requires-python`.
    pub requires_python: Option<VersionSpecifiers>,
    /// Whether a `[build-system]` table is present: then the project itself can be built and
    /// installed (PEP 517); without it, it is only a set of dependencies.
    pub build_system: bool,
}

/// The nearest `pyproject.toml` at or above `start`.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(PYPROJECT).is_file())
        .map(Path::to_path_buf)
}

impl Project {
    /// Reads the project in `start` or its nearest parent with a `pyproject.toml`.
    pub fn discover(start: &Path) -> Result<Self, ProjectError> {
        let root = find_root(start).ok_or_else(|| ProjectError::NotFound {
            start: start.to_path_buf(),
        })?;
        Self::from_path(&root.join(PYPROJECT))
    }

    /// Reads and validates `path`.
    pub fn from_path(path: &Path) -> Result<Self, ProjectError> {
        let text = read(path)?;
        Self::from_text(path, &text)
    }

    /// Validates `text`, read from `path` (relative paths in requirements are relative to its
    /// directory).
    pub fn from_text(path: &Path, text: &str) -> Result<Self, ProjectError> {
        let root = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let document = parse(path, text)?;
        let at = Locator { path, text };
        let top = document.as_item();
        let build_system = top.get("build-system").is_some();
        let Some(project) = top.get("project") else {
            return Err(ProjectError::MissingProject {
                path: path.to_path_buf(),
            });
        };
        if project.as_table_like().is_none() {
            return Err(at.wrong_type("project", project, "a table"));
        }
        let dynamic = dynamic_keys(&at, project)?;
        for key in &dynamic {
            if key != "name" && project.get(key).is_some() {
                return Err(ProjectError::StaticAndDynamic {
                    path: path.to_path_buf(),
                    key: key.clone(),
                });
            }
        }
        let name = match project.get("name") {
            None => {
                return Err(ProjectError::MissingName {
                    path: path.to_path_buf(),
                });
            }
            Some(item) => {
                let value = at.string("project.name", item)?;
                PackageName::from_str(value).map_err(|err| ProjectError::InvalidName {
                    path: path.to_path_buf(),
                    key: "project.name".to_string(),
                    line: at.line(item.span()),
                    value: value.to_string(),
                    reason: err.to_string(),
                })?
            }
        };
        if dynamic.iter().any(|key| key == "dependencies") {
            return Err(ProjectError::DynamicDependencies {
                path: path.to_path_buf(),
            });
        }
        let dependencies = match project.get("dependencies") {
            Some(item) => at.requirements("project.dependencies", item, &root)?,
            None => Vec::new(),
        };
        let optional_dependencies = if dynamic.iter().any(|key| key == "optional-dependencies") {
            None
        } else {
            let mut extras = BTreeMap::new();
            if let Some(item) = project.get("optional-dependencies") {
                let key = "project.optional-dependencies";
                let table = item
                    .as_table_like()
                    .ok_or_else(|| at.wrong_type(key, item, "a table"))?;
                for (extra, item) in table.iter() {
                    let key = format!("{key}.{extra}");
                    let name =
                        ExtraName::from_str(extra).map_err(|err| ProjectError::InvalidName {
                            path: path.to_path_buf(),
                            key: key.clone(),
                            line: at.line(item.span()),
                            value: extra.to_string(),
                            reason: err.to_string(),
                        })?;
                    let requirements = at.requirements(&key, item, &root)?;
                    extras
                        .entry(name)
                        .or_insert_with(Vec::new)
                        .extend(requirements);
                }
            }
            Some(extras)
        };
        let requires_python = match project.get("requires-python") {
            None => None,
            Some(item) => {
                let value = at.string("project.requires-python", item)?;
                Some(VersionSpecifiers::from_str(value).map_err(|err| {
                    ProjectError::InvalidRequiresPython {
                        path: path.to_path_buf(),
                        line: at.line(item.span()),
                        value: value.to_string(),
                        reason: err.to_string(),
                    }
                })?)
            }
        };
        let dependency_groups = match top.get("dependency-groups") {
            None => BTreeMap::new(),
            Some(item) => groups::read(&at, item, &root)?,
        };
        Ok(Self {
            root,
            path: path.to_path_buf(),
            name,
            dependencies,
            optional_dependencies,
            dependency_groups,
            requires_python,
            build_system,
        })
    }

    /// `requires-python`: the Python versions the project supports, for resolution and locking
    /// (`None`: no bound).
    pub fn requires_python(&self) -> Option<&VersionSpecifiers> {
        self.requires_python.as_ref()
    }

    /// The groups installed when none are chosen: `dev`, when the project defines it (as uv).
    pub fn default_groups(&self) -> Vec<GroupName> {
        let dev = GroupName::from_str("dev").expect("`dev` is a valid group name");
        if self.dependency_groups.contains_key(&dev) {
            vec![dev]
        } else {
            Vec::new()
        }
    }

    /// The requirements `selection` takes, refusing extras and groups the project does not define.
    pub fn select(&self, selection: &Selection) -> Result<Selected, ProjectError> {
        let project_dependencies = selection.only_groups.is_empty();
        let extras = if !project_dependencies {
            Vec::new()
        } else if selection.all_extras {
            self.known_extras()?.keys().cloned().collect()
        } else {
            let known = if selection.extras.is_empty() {
                None
            } else {
                Some(self.known_extras()?)
            };
            let mut extras = Vec::new();
            for extra in &selection.extras {
                if !known.is_some_and(|known| known.contains_key(extra)) {
                    return Err(ProjectError::UnknownExtra {
                        path: self.path.clone(),
                        extra: extra.clone(),
                        known: self
                            .known_extras()?
                            .keys()
                            .map(ToString::to_string)
                            .collect(),
                    });
                }
                if !extras.contains(extra) {
                    extras.push(extra.clone());
                }
            }
            extras
        };
        let groups: Vec<GroupName> = if project_dependencies {
            let mut groups = if selection.no_default_groups {
                Vec::new()
            } else {
                self.default_groups()
            };
            groups.extend(selection.groups.iter().cloned());
            groups
        } else {
            selection.only_groups.clone()
        };
        let mut taken: Vec<GroupName> = Vec::new();
        for group in groups {
            if !self.dependency_groups.contains_key(&group) {
                return Err(self.unknown_group(group));
            }
            if !taken.contains(&group) {
                taken.push(group);
            }
        }
        let mut requirements = Vec::new();
        if project_dependencies {
            requirements.extend(self.dependencies.iter().cloned());
            for extra in &extras {
                requirements.extend(self.known_extras()?[extra].iter().cloned());
            }
        }
        for group in &taken {
            requirements.extend(self.dependency_groups[group].iter().cloned());
        }
        let requirements = self.expand_self_references(requirements)?;
        Ok(Selected {
            requirements,
            extras,
            groups: taken,
            project_dependencies,
        })
    }

    /// The extras, or the error that they are dynamic.
    fn known_extras(&self) -> Result<&BTreeMap<ExtraName, Vec<Declared>>, ProjectError> {
        self.optional_dependencies.as_ref().ok_or_else(|| {
            ProjectError::DynamicOptionalDependencies {
                path: self.path.clone(),
            }
        })
    }

    fn unknown_group(&self, group: GroupName) -> ProjectError {
        ProjectError::UnknownGroup {
            path: self.path.clone(),
            group,
            known: self
                .dependency_groups
                .keys()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// A requirement naming the project itself (`app[test]` in a group, as uv and pip allow)
    /// would send the resolver to the index for a project of that name, perhaps someone else's:
    /// it is replaced by the requirements of the extras it names, under its marker.
    fn expand_self_references(
        &self,
        requirements: Vec<Declared>,
    ) -> Result<Vec<Declared>, ProjectError> {
        let mut out = Vec::new();
        let mut pending: Vec<(Declared, BTreeSet<ExtraName>)> = requirements
            .into_iter()
            .rev()
            .map(|declared| (declared, BTreeSet::new()))
            .collect();
        while let Some((declared, seen)) = pending.pop() {
            if declared.requirement.name != self.name {
                out.push(declared);
                continue;
            }
            let marker = declared.requirement.marker;
            let mut expanded = Vec::new();
            for extra in declared.requirement.extras.iter() {
                if seen.contains(extra) {
                    continue;
                }
                let Some(requirements) = self.known_extras()?.get(extra) else {
                    return Err(ProjectError::UnknownExtra {
                        path: self.path.clone(),
                        extra: extra.clone(),
                        known: self
                            .known_extras()?
                            .keys()
                            .map(ToString::to_string)
                            .collect(),
                    });
                };
                let mut seen = seen.clone();
                seen.insert(extra.clone());
                for inner in requirements {
                    let mut inner = inner.clone();
                    inner.requirement.marker = and(marker, inner.requirement.marker);
                    expanded.push((inner, seen.clone()));
                }
            }
            pending.extend(expanded.into_iter().rev());
        }
        Ok(out)
    }
}

fn and(outer: MarkerTree, inner: MarkerTree) -> MarkerTree {
    inner.and(outer)
}

/// Reads a project file, bounded.
fn read(path: &Path) -> Result<String, ProjectError> {
    let io = |source| ProjectError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = fs_err::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_SIZE {
        return Err(ProjectError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    fs_err::read_to_string(path).map_err(io)
}

fn parse<'a>(path: &Path, text: &'a str) -> Result<Document<&'a str>, ProjectError> {
    Document::parse(text).map_err(|err| ProjectError::Toml {
        path: path.to_path_buf(),
        message: err.to_string().trim_end().to_string(),
    })
}

/// `project.dynamic` as a list of keys.
fn dynamic_keys(at: &Locator<'_>, project: &Item) -> Result<Vec<String>, ProjectError> {
    let Some(item) = project.get("dynamic") else {
        return Ok(Vec::new());
    };
    let key = "project.dynamic";
    let array = item
        .as_array()
        .ok_or_else(|| at.wrong_type(key, item, "an array of strings"))?;
    array
        .iter()
        .enumerate()
        .map(|(index, value)| {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| at.wrong_value(&format!("{key}[{index}]"), value, "a string"))
        })
        .collect()
}

/// Turns spans into lines of one file, for errors.
pub(crate) struct Locator<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

impl Locator<'_> {
    pub(crate) fn line(&self, span: Option<std::ops::Range<usize>>) -> usize {
        let start = span.map_or(0, |span| span.start).min(self.text.len());
        self.text.as_bytes()[..start]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1
    }

    pub(crate) fn wrong_type(
        &self,
        key: &str,
        item: &Item,
        expected: &'static str,
    ) -> ProjectError {
        ProjectError::WrongType {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            line: self.line(item.span()),
            expected,
        }
    }

    pub(crate) fn wrong_value(
        &self,
        key: &str,
        value: &Value,
        expected: &'static str,
    ) -> ProjectError {
        ProjectError::WrongType {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            line: self.line(value.span()),
            expected,
        }
    }

    fn string<'i>(&self, key: &str, item: &'i Item) -> Result<&'i str, ProjectError> {
        item.as_str()
            .ok_or_else(|| self.wrong_type(key, item, "a string"))
    }

    /// An array of PEP 508 requirement strings.
    fn requirements(
        &self,
        key: &str,
        item: &Item,
        root: &Path,
    ) -> Result<Vec<Declared>, ProjectError> {
        let array = item
            .as_array()
            .ok_or_else(|| self.wrong_type(key, item, "an array of PEP 508 requirement strings"))?;
        array
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let key = format!("{key}[{index}]");
                let text = value
                    .as_str()
                    .ok_or_else(|| self.wrong_value(&key, value, "a PEP 508 requirement string"))?;
                self.requirement(key, value, text, root)
            })
            .collect()
    }

    pub(crate) fn requirement(
        &self,
        key: String,
        value: &Value,
        text: &str,
        root: &Path,
    ) -> Result<Declared, ProjectError> {
        let line = self.line(value.span());
        let requirement =
            Requirement::parse(text, root).map_err(|err| ProjectError::InvalidRequirement {
                path: self.path.to_path_buf(),
                key: key.clone(),
                line,
                requirement: text.to_string(),
                reason: err.message.to_string(),
            })?;
        Ok(Declared {
            requirement,
            key,
            line,
        })
    }
}

#[cfg(test)]
mod tests;
