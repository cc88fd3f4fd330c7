//! `safevenv add` / `remove`: one dependency array of `pyproject.toml` changed in place.
//!
//! `toml_edit` keeps every byte it is not asked to change, so comments, key order, quoting and
//! whether an array is written on one line or one entry per line survive the edit.

use std::path::Path;
use std::str::FromStr;

use toml_edit::{Array, DocumentMut, Item, Table, Value};
use uv_normalize::{ExtraName, GroupName, PackageName};
use uv_pep508::Requirement;

use crate::{Project, ProjectError};

/// The array of `pyproject.toml` an edit changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditTarget {
    /// `project.dependencies`.
    Dependencies,
    /// `project.optional-dependencies.<extra>` (`--optional EXTRA`).
    Optional(ExtraName),
    /// `dependency-groups.<group>` (`--group NAME`).
    Group(GroupName),
}

impl EditTarget {
    /// The key of the array, dotted.
    pub fn key(&self) -> String {
        match self {
            Self::Dependencies => "project.dependencies".to_string(),
            Self::Optional(extra) => format!("project.optional-dependencies.{extra}"),
            Self::Group(group) => format!("dependency-groups.{group}"),
        }
    }
}

/// `text` (the file at `path`) with `requirements` added to `target`: a requirement naming a
/// project already in the array replaces that entry (its new specifier wins); others are appended
/// in the array's style. The file must be a valid project before and after.
pub fn add(
    path: &Path,
    text: &str,
    requirements: &[String],
    target: &EditTarget,
) -> Result<String, ProjectError> {
    let root = path.parent().unwrap_or(Path::new(""));
    // Refuses a file that is no project, or whose `dependencies` are dynamic: appending to a
    // static array that the build backend ignores would change nothing it installs.
    Project::from_text(path, text)?;
    let parsed: Vec<(String, PackageName)> = requirements
        .iter()
        .map(|text| {
            Requirement::parse(text, root)
                .map(|requirement: Requirement| (text.trim().to_string(), requirement.name))
                .map_err(|err| ProjectError::InvalidNewRequirement {
                    requirement: text.clone(),
                    reason: err.message.to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    let mut document = document(path, text)?;
    let array = array_mut(&mut document, target, path, true)?.expect("created when missing");
    for (text, name) in parsed {
        match position(array, &name, root) {
            Some(index) => {
                let decor = array.get(index).map(|value| value.decor().clone());
                let mut value = Value::from(text);
                if let Some(decor) = decor {
                    *value.decor_mut() = decor;
                }
                array.replace_formatted(index, value);
            }
            None => push_in_style(array, text),
        }
    }
    let edited = document.to_string();
    Project::from_text(path, &edited)?;
    Ok(edited)
}

/// `text` (the file at `path`) without the entries of `target` naming `names` (compared
/// normalized, so `Foo_Bar` removes `foo-bar>=1`).
pub fn remove(
    path: &Path,
    text: &str,
    names: &[PackageName],
    target: &EditTarget,
) -> Result<String, ProjectError> {
    let root = path.parent().unwrap_or(Path::new(""));
    Project::from_text(path, text)?;
    let mut document = document(path, text)?;
    let not_found = |name: &PackageName| ProjectError::NotADependency {
        path: path.to_path_buf(),
        name: name.clone(),
        key: target.key(),
    };
    let Some(array) = array_mut(&mut document, target, path, false)? else {
        return Err(not_found(&names[0]));
    };
    for name in names {
        let mut found = false;
        while let Some(index) = position(array, name, root) {
            found = true;
            let prefix = array
                .get(index)
                .map(|value| value.decor().prefix().cloned());
            let removed_prefix = array
                .get(index)
                .and_then(|value| value.decor().prefix())
                .and_then(|prefix| prefix.as_str())
                .unwrap_or("")
                .to_string();
            let removed_suffix = array
                .get(index)
                .and_then(|value| value.decor().suffix())
                .and_then(|suffix| suffix.as_str())
                .unwrap_or("")
                .to_string();
            array.remove(index);
            // Without a trailing comma the space before `]` was the removed last entry's suffix.
            if index == array.len()
                && !array.trailing_comma()
                && let Some(last) = array.get_mut(index.wrapping_sub(1))
            {
                last.decor_mut().set_suffix(removed_suffix);
            }
            // A comment ending the previous entry's line is in this entry's prefix; it stays on
            // that line.
            if index > 0
                && let Some((same_line, _)) = removed_prefix.split_once('\n')
                && same_line.contains('#')
            {
                match array.get_mut(index) {
                    Some(next) => {
                        let rest = next
                            .decor()
                            .prefix()
                            .and_then(|prefix| prefix.as_str())
                            .unwrap_or("")
                            .to_string();
                        next.decor_mut().set_prefix(format!("{same_line}{rest}"));
                    }
                    None => {
                        let rest = array.trailing().as_str().unwrap_or("").to_string();
                        array.set_trailing(format!("{same_line}{rest}"));
                    }
                }
            }
            // The first entry's leading space (`["a", "b"]` → `["b"]`, not `[ "b"]`).
            if index == 0
                && let (Some(next), Some(prefix)) = (array.get_mut(0), prefix)
            {
                match prefix {
                    Some(prefix) => next.decor_mut().set_prefix(prefix),
                    None => next.decor_mut().set_prefix(""),
                }
            }
        }
        if !found {
            return Err(not_found(name));
        }
    }
    let edited = document.to_string();
    Project::from_text(path, &edited)?;
    Ok(edited)
}

/// Writes `text` to `path` atomically: a temporary file beside it, then a rename, so a crash
/// leaves the old file or the new one, never half of either.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ProjectError> {
    let io = |source| ProjectError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    // Keep the file's permissions (a group-writable project file stays so).
    if let Ok(metadata) = fs_err::metadata(path) {
        fs_err::set_permissions(temp.path(), metadata.permissions()).map_err(io)?;
    }
    temp.persist(path).map_err(|err| io(err.error))?;
    Ok(())
}

fn document(path: &Path, text: &str) -> Result<DocumentMut, ProjectError> {
    DocumentMut::from_str(text).map_err(|err| ProjectError::Toml {
        path: path.to_path_buf(),
        message: err.to_string().trim_end().to_string(),
    })
}

/// The array `target` names; created (with its tables) when `create`, else `None` when absent.
fn array_mut<'d>(
    document: &'d mut DocumentMut,
    target: &EditTarget,
    path: &Path,
    create: bool,
) -> Result<Option<&'d mut Array>, ProjectError> {
    let wrong = |key: String, expected| ProjectError::WrongType {
        path: path.to_path_buf(),
        key,
        line: 0,
        expected,
    };
    let (table, key): (&mut dyn toml_edit::TableLike, String) = match target {
        EditTarget::Dependencies => {
            let project = document
                .get_mut("project")
                .and_then(Item::as_table_like_mut)
                .ok_or_else(|| ProjectError::MissingProject {
                    path: path.to_path_buf(),
                })?;
            (project, "dependencies".to_string())
        }
        EditTarget::Optional(extra) => {
            let project = document
                .get_mut("project")
                .and_then(Item::as_table_like_mut)
                .ok_or_else(|| ProjectError::MissingProject {
                    path: path.to_path_buf(),
                })?;
            if project.get("optional-dependencies").is_none() {
                if !create {
                    return Ok(None);
                }
                project.insert("optional-dependencies", Item::Table(Table::new()));
            }
            let extras = project
                .get_mut("optional-dependencies")
                .and_then(Item::as_table_like_mut)
                .ok_or_else(|| wrong("project.optional-dependencies".to_string(), "a table"))?;
            let key = existing_key(extras, extra.as_str(), |key| {
                ExtraName::from_str(key).is_ok_and(|name| &name == extra)
            });
            (extras, key)
        }
        EditTarget::Group(group) => {
            if document.get("dependency-groups").is_none() {
                if !create {
                    return Ok(None);
                }
                document.insert("dependency-groups", Item::Table(Table::new()));
            }
            let groups = document
                .get_mut("dependency-groups")
                .and_then(Item::as_table_like_mut)
                .ok_or_else(|| wrong("dependency-groups".to_string(), "a table"))?;
            let key = existing_key(groups, group.as_str(), |key| {
                GroupName::from_str(key).is_ok_and(|name| &name == group)
            });
            (groups, key)
        }
    };
    if table.get(&key).is_none() {
        if !create {
            return Ok(None);
        }
        table.insert(&key, Item::Value(Value::Array(Array::new())));
    }
    let full = target.key().to_string();
    table
        .get_mut(&key)
        .and_then(Item::as_array_mut)
        .map(Some)
        .ok_or_else(|| wrong(full, "an array"))
}

/// The key as the file spells it (`Dev` for the group `dev`), or `normalized` when absent.
fn existing_key(
    table: &dyn toml_edit::TableLike,
    normalized: &str,
    same: impl Fn(&str) -> bool,
) -> String {
    table
        .iter()
        .map(|(key, _)| key)
        .find(|key| same(key))
        .unwrap_or(normalized)
        .to_string()
}

/// The index of the first string entry naming `name`, compared normalized.
fn position(array: &Array, name: &PackageName, root: &Path) -> Option<usize> {
    array.iter().position(|value| {
        value.as_str().is_some_and(|text| {
            Requirement::parse(text, root)
                .is_ok_and(|requirement: Requirement| &requirement.name == name)
        })
    })
}

/// Appends `text` as the array is written: one entry per line when its entries are, on one line
/// otherwise.
fn push_in_style(array: &mut Array, text: String) {
    let last_prefix = array.iter().last().map(|value| {
        value
            .decor()
            .prefix()
            .and_then(|prefix| prefix.as_str())
            .unwrap_or("")
            .to_string()
    });
    let mut value = Value::from(text);
    let Some(last_prefix) = last_prefix else {
        array.push(value);
        return;
    };
    if last_prefix.contains('\n') {
        // The last entry's indentation, without a comment that was above it.
        let indent = last_prefix.rsplit('\n').next().unwrap_or("").to_string();
        // What follows the last entry's comma (perhaps `  # comment`) stays on its line; the
        // new entry begins on the next.
        let mut trailing = array.trailing().as_str().unwrap_or("").to_string();
        // Without a trailing comma, the space before `]` is the last entry's suffix.
        if !array.trailing_comma()
            && let Some(last) = array.iter_mut().last()
        {
            let suffix = last
                .decor()
                .suffix()
                .and_then(|suffix| suffix.as_str())
                .unwrap_or("")
                .to_string();
            last.decor_mut().set_suffix("");
            trailing = suffix + &trailing;
        }
        let (same_line, rest) = match trailing.rfind('\n') {
            Some(at) => (&trailing[..at], &trailing[at..]),
            None => (trailing.as_str(), "\n"),
        };
        value
            .decor_mut()
            .set_prefix(format!("{same_line}\n{indent}"));
        value.decor_mut().set_suffix("");
        let rest = rest.to_string();
        array.push_formatted(value);
        array.set_trailing(rest);
    } else {
        value.decor_mut().set_prefix(" ");
        value.decor_mut().set_suffix("");
        array.push_formatted(value);
    }
}
