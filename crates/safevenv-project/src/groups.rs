//! PEP 735 `[dependency-groups]`: each group is a list of PEP 508 requirements and
//! `{include-group = "name"}` tables, expanded here into plain requirements.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use toml_edit::{Item, Value};
use uv_normalize::GroupName;

use crate::{Declared, Locator, ProjectError};

/// One entry of a group as written.
enum Entry {
    Requirement(Declared),
    Include { group: GroupName },
}

/// Reads and expands the `[dependency-groups]` table `item`.
pub(crate) fn read(
    at: &Locator<'_>,
    item: &Item,
    root: &Path,
) -> Result<BTreeMap<GroupName, Vec<Declared>>, ProjectError> {
    let table = item
        .as_table_like()
        .ok_or_else(|| at.wrong_type("dependency-groups", item, "a table"))?;
    // Spelling kept for errors: PEP 735 requires names equal once normalized to be refused.
    let mut raw: BTreeMap<GroupName, (String, Vec<Entry>)> = BTreeMap::new();
    for (name, item) in table.iter() {
        let key = format!("dependency-groups.{name}");
        let group = GroupName::from_str(name).map_err(|err| ProjectError::InvalidName {
            path: at.path.to_path_buf(),
            key: key.clone(),
            line: at.line(item.span()),
            value: name.to_string(),
            reason: err.to_string(),
        })?;
        let array = item
            .as_array()
            .ok_or_else(|| at.wrong_type(&key, item, "an array"))?;
        let mut entries = Vec::new();
        for (index, value) in array.iter().enumerate() {
            entries.push(entry(at, format!("{key}[{index}]"), value, root)?);
        }
        if let Some((first, _)) = raw.get(&group) {
            return Err(ProjectError::DuplicateGroup {
                path: at.path.to_path_buf(),
                first: first.clone(),
                second: name.to_string(),
            });
        }
        raw.insert(group, (name.to_string(), entries));
    }
    let mut expanded = BTreeMap::new();
    for group in raw.keys() {
        let mut stack = Vec::new();
        let requirements = expand(at, &raw, group, &mut stack)?;
        expanded.insert(group.clone(), requirements);
    }
    Ok(expanded)
}

fn entry(at: &Locator<'_>, key: String, value: &Value, root: &Path) -> Result<Entry, ProjectError> {
    const EXPECTED: &str = "a PEP 508 requirement string or an `{include-group = \"name\"}` table";
    if let Some(text) = value.as_str() {
        return Ok(Entry::Requirement(at.requirement(key, value, text, root)?));
    }
    let Some(table) = value.as_inline_table() else {
        return Err(at.wrong_value(&key, value, EXPECTED));
    };
    // PEP 735: an include is a table with exactly the one key `include-group`.
    let (Some(included), 1) = (table.get("include-group"), table.len()) else {
        return Err(at.wrong_value(&key, value, EXPECTED));
    };
    let Some(name) = included.as_str() else {
        return Err(at.wrong_value(&format!("{key}.include-group"), included, "a string"));
    };
    let group = GroupName::from_str(name).map_err(|err| ProjectError::InvalidName {
        path: at.path.to_path_buf(),
        key: format!("{key}.include-group"),
        line: at.line(value.span()),
        value: name.to_string(),
        reason: err.to_string(),
    })?;
    Ok(Entry::Include { group })
}

/// The requirements of `group` with includes replaced, depth first; `stack` holds the groups
/// being expanded, so a group met again on it is a cycle.
fn expand(
    at: &Locator<'_>,
    raw: &BTreeMap<GroupName, (String, Vec<Entry>)>,
    group: &GroupName,
    stack: &mut Vec<GroupName>,
) -> Result<Vec<Declared>, ProjectError> {
    if let Some(start) = stack.iter().position(|earlier| earlier == group) {
        let mut cycle: Vec<String> = stack[start..].iter().map(ToString::to_string).collect();
        cycle.push(group.to_string());
        return Err(ProjectError::GroupCycle {
            path: at.path.to_path_buf(),
            cycle,
        });
    }
    let Some((_, entries)) = raw.get(group) else {
        return Err(ProjectError::UnknownGroup {
            path: at.path.to_path_buf(),
            group: group.clone(),
            known: raw.values().map(|(name, _)| name.clone()).collect(),
        });
    };
    stack.push(group.clone());
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            Entry::Requirement(declared) => out.push(declared.clone()),
            Entry::Include { group } => out.extend(expand(at, raw, group, stack)?),
        }
    }
    stack.pop();
    Ok(out)
}
