//! Finding policy files, reading them, and locating errors at a file, line and key.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use crate::config::RawPolicy;
use crate::error::PolicyError;

/// The project policy's file name.
pub const POLICY_FILE_NAME: &str = "safevenv.toml";
/// The environment variable naming the organisation policy.
pub const ORG_POLICY_ENV: &str = "SAFEVENV_ORG_POLICY";
/// Where the organisation policy is looked for when the environment variable is not set.
pub const ORG_POLICY_DEFAULT_PATH: &str = "/etc/safevenv/policy.toml";

/// Where to look for policy files. Built by the CLI; tests build it with their own directories.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// `--policy FILE`: used instead of searching the project's directories.
    pub explicit: Option<PathBuf>,
    /// The project directory the search starts in (then each parent up to the root).
    pub project_dir: PathBuf,
    /// The value of `SAFEVENV_ORG_POLICY`, if set: the file must then exist.
    pub org_policy_env: Option<PathBuf>,
    /// The organisation policy's usual place, used when it exists and the variable is unset.
    pub org_policy_default: PathBuf,
}

impl Discovery {
    /// Discovery for `project_dir`, with the organisation policy from `SAFEVENV_ORG_POLICY` or
    /// [`ORG_POLICY_DEFAULT_PATH`].
    pub fn from_env(project_dir: PathBuf, explicit: Option<PathBuf>) -> Self {
        Self {
            explicit,
            project_dir,
            org_policy_env: std::env::var_os(ORG_POLICY_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
            org_policy_default: PathBuf::from(ORG_POLICY_DEFAULT_PATH),
        }
    }
}

/// A policy file's path and text, read but not yet parsed.
#[derive(Debug, Clone)]
pub struct PolicyText {
    /// The file (its name decides whether the policy is `[tool.safevenv]` of a `pyproject.toml`).
    pub path: PathBuf,
    /// Its contents.
    pub text: String,
}

impl PolicyText {
    /// Read a policy file.
    pub fn read(path: &Path) -> Result<Self, PolicyError> {
        let text = fs_err::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
        })
    }

    fn is_pyproject(&self) -> bool {
        self.path
            .file_name()
            .is_some_and(|name| name == "pyproject.toml")
    }
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The organisation policy, if any.
    pub org: Option<PolicyText>,
    /// The project policy, if any.
    pub project: Option<PolicyText>,
    /// A `pyproject.toml` with `[tool.safevenv]` that was ignored because a `safevenv.toml`
    /// sits beside it.
    pub shadowed: Option<PathBuf>,
}

/// Find and read the policy files.
///
/// Order: `--policy FILE`; else, from the project directory up to the root, the first directory
/// holding `safevenv.toml` or a `pyproject.toml` with `[tool.safevenv]` (in one directory,
/// `safevenv.toml` wins). The organisation policy is `SAFEVENV_ORG_POLICY` (which must exist)
/// or `/etc/safevenv/policy.toml` (if it exists).
pub fn discover(discovery: &Discovery) -> Result<Found, PolicyError> {
    let org = match &discovery.org_policy_env {
        Some(path) if !path.is_file() => {
            // Fail closed: a named but missing organisation policy must not mean "no policy".
            return Err(PolicyError::OrgPolicyMissing { path: path.clone() });
        }
        Some(path) => Some(PolicyText::read(path)?),
        None if discovery.org_policy_default.is_file() => {
            Some(PolicyText::read(&discovery.org_policy_default)?)
        }
        None => None,
    };
    let mut found = Found {
        org,
        ..Found::default()
    };
    if let Some(explicit) = &discovery.explicit {
        found.project = Some(PolicyText::read(explicit)?);
        return Ok(found);
    }
    for dir in discovery.project_dir.ancestors() {
        let pyproject = dir.join("pyproject.toml");
        let pyproject = if pyproject.is_file() {
            let text = PolicyText::read(&pyproject)?;
            parse_raw(&text)?.map(|_| text)
        } else {
            None
        };
        let safevenv = dir.join(POLICY_FILE_NAME);
        if safevenv.is_file() {
            found.shadowed = pyproject.map(|text| text.path);
            found.project = Some(PolicyText::read(&safevenv)?);
            return Ok(found);
        }
        if pyproject.is_some() {
            found.project = pyproject;
            return Ok(found);
        }
    }
    Ok(found)
}

/// `pyproject.toml` around `[tool.safevenv]`: other tables are not ours to judge.
#[derive(Deserialize)]
struct Pyproject {
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    safevenv: Option<RawPolicy>,
}

/// Parse a policy file; `None` for a `pyproject.toml` without `[tool.safevenv]`.
pub(crate) fn parse_raw(file: &PolicyText) -> Result<Option<RawPolicy>, PolicyError> {
    let result = if file.is_pyproject() {
        toml::from_str::<Pyproject>(&file.text)
            .map(|pyproject| pyproject.tool.and_then(|tool| tool.safevenv))
    } else {
        toml::from_str::<RawPolicy>(&file.text).map(Some)
    };
    result.map_err(|err| invalid(file, &err))
}

fn invalid(file: &PolicyText, err: &toml::de::Error) -> PolicyError {
    let span = err.span().unwrap_or(0..0);
    let mut start = span.start.min(file.text.len());
    while !file.text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &file.text[..start];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    PolicyError::Invalid {
        path: file.path.clone(),
        line,
        column,
        key: key_at(&file.text, &span),
        message: err.message().trim_end().to_string(),
    }
}

/// The dotted key whose name or value holds the start of `span`.
fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let table = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    find_in_table(table.get_ref(), span.start, &mut path).then(|| path.join("."))
}

fn find_in_table(table: &DeTable<'_>, at: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        if key.span().contains(&at) {
            return true;
        }
        // Tables opened by a `[header]` do not span their keys: search inside every table.
        let found = match value.get_ref() {
            DeValue::Table(inner) => find_in_table(inner, at, path) || value.span().contains(&at),
            DeValue::Array(items) => find_in_array(items, at, path) || value.span().contains(&at),
            _ => value.span().contains(&at),
        };
        if found {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_array(items: &[toml::Spanned<DeValue<'_>>], at: usize, path: &mut Vec<String>) -> bool {
    for (index, item) in items.iter().enumerate() {
        if let DeValue::Table(inner) = item.get_ref() {
            path.push(index.to_string());
            if find_in_table(inner, at, path) || item.span().contains(&at) {
                return true;
            }
            path.pop();
        }
    }
    false
}
