//! `entry_points.txt`, read the way the installer reads it, and the way Python reads it.
//!
//! Threat: a parser of our own that disagrees with the installer's hides scripts from the
//! policy. `[console_scripts]x` followed by `pip = evil:main` is no section header to a strict
//! reader, so a gate reading that way judges no script, while uv-install-wheel's reader (section
//! header up to the last `]`, inline `;` and `#` comments, `\r` not a line break) writes
//! `bin/pip`. So the scripts judged are, by construction:
//!
//! 1. exactly the scripts uv-install-wheel writes: the same `configparser` crate at the same
//!    version (`=3.3.0`) with the same settings, the same section lookup, the same value
//!    regex (a file it would reject is refused here, [`WheelError::EntryPointSyntax`] and
//!    siblings), and the `pip3.{minor}` launcher it adds ([`EntryPoints::script_names`]);
//! 2. plus every name Python's `importlib.metadata` lists in `console_scripts` or
//!    `gui_scripts` (3.10+: `Sectioned`; 3.8 and 3.9: `ConfigParser(delimiters='=')`), which
//!    tools that launch entry points by name read. Where the readers disagree on a section or a
//!    name, every reader's names are judged: stricter, never looser.
//!
//! `tests/entry_points.rs` checks both against the real installer and every Python 3.8+ found.

use std::collections::HashMap;
use std::sync::LazyLock;

use configparser::ini::{Ini, IniDefault};
use regex::Regex;

use crate::WheelError;

/// One entry point: `name = target` (`module:attribute [extras]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// The script name, as installed in the environment's `bin` (or `Scripts`).
    pub name: String,
    /// The object reference, verbatim.
    pub target: String,
    /// Whether uv-install-wheel writes this script; `false` for a name only Python's
    /// `importlib.metadata` lists (judged all the same).
    pub installed: bool,
}

/// The script entry points of `entry_points.txt`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPoints {
    /// `[console_scripts]`.
    pub console_scripts: Vec<EntryPoint>,
    /// `[gui_scripts]`.
    pub gui_scripts: Vec<EntryPoint>,
}

impl EntryPoints {
    /// Every script name to judge for an environment of Python `3.{python_minor}`: each entry
    /// point's name, and `pip3.{python_minor}`, the launcher uv-install-wheel writes beside a
    /// `pip3` console script (pip's versioned launcher).
    pub fn script_names(&self, python_minor: u8) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for entry in self.console_scripts.iter().chain(&self.gui_scripts) {
            if !names.contains(&entry.name) {
                names.push(entry.name.clone());
            }
        }
        let pip3 = self
            .console_scripts
            .iter()
            .any(|entry| entry.installed && entry.name == "pip3");
        let versioned = format!("pip3.{python_minor}");
        if pip3 && !names.contains(&versioned) {
            names.push(versioned);
        }
        names
    }
}

const SCRIPT_SECTIONS: [&str; 2] = ["console_scripts", "gui_scripts"];

/// Parses `entry_points.txt`: the scripts uv-install-wheel writes, then the names only Python
/// lists. Other groups are plugin registrations the installer does not act on.
pub(crate) fn parse_entry_points(text: &str, wheel: &str) -> Result<EntryPoints, WheelError> {
    let installed = installer_scripts(text, wheel)?;
    let python: Vec<(String, String, String)> = python_sectioned(text)
        .into_iter()
        .chain(python_config_parser(text))
        .collect();
    let mut entry_points = EntryPoints::default();
    for (section, scripts) in SCRIPT_SECTIONS.into_iter().zip([
        &mut entry_points.console_scripts,
        &mut entry_points.gui_scripts,
    ]) {
        scripts.extend(installed.get(section).into_iter().flatten().cloned());
        for (_, name, target) in python.iter().filter(|(group, _, _)| group == section) {
            if !scripts.iter().any(|script| &script.name == name) {
                scripts.push(EntryPoint {
                    name: name.clone(),
                    target: target.clone(),
                    installed: false,
                });
            }
        }
        // Threat: uv joins the name onto the scripts directory and normalizes it, so
        // `x/../pip`, `./pip` or `pip/` write `bin/pip` while the policy would judge the
        // literal name. A script name must be one plain file name; then `bin/{name}` is the
        // file written and the name judged is its name.
        if let Some(script) = scripts
            .iter()
            .find(|script| !is_plain_file_name(&script.name))
        {
            return Err(WheelError::EntryPointName {
                wheel: wheel.to_string(),
                section,
                name: script.name.clone(),
            });
        }
    }
    Ok(entry_points)
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The value uv-install-wheel 0.0.72 accepts (`Script::from_value`), verbatim: anything else
/// makes it refuse the wheel.
static SCRIPT_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // A constant pattern, compiled by the first test.
    Regex::new(
        r"^(?P<module>[\w\d_\-.]+)\s*:\s*(?P<function>[\w\d_\-.]+)(?:\s*\[\s*(?P<extras>(?:[^,]+,?\s*)+)\])?\s*$",
    )
    .unwrap()
});

/// (1): the scripts uv-install-wheel writes (`EntryPoints::parse` and
/// `read_scripts_from_section`), refusing what it refuses. It calls with no extras, so a
/// script's extras never drop it.
fn installer_scripts(
    text: &str,
    wheel: &str,
) -> Result<HashMap<String, Vec<EntryPoint>>, WheelError> {
    let mut options = IniDefault::default();
    options.case_sensitive = true;
    options.delimiters = vec!['='];
    let sections = Ini::new_from_defaults(options)
        .read(text.to_string())
        .map_err(|reason| WheelError::EntryPointSyntax {
            wheel: wheel.to_string(),
            reason,
        })?;
    let mut scripts = HashMap::new();
    for section in SCRIPT_SECTIONS {
        let Some(keys) = sections.get(section) else {
            continue;
        };
        let mut entries: Vec<EntryPoint> = Vec::with_capacity(keys.len());
        for (name, value) in keys {
            let Some(value) = value else {
                return Err(WheelError::EntryPointWithoutValue {
                    wheel: wheel.to_string(),
                    section,
                    name: name.clone(),
                });
            };
            if !SCRIPT_VALUE.is_match(value) {
                return Err(WheelError::EntryPointTarget {
                    wheel: wheel.to_string(),
                    section,
                    name: name.clone(),
                    target: value.clone(),
                });
            }
            entries.push(EntryPoint {
                name: name.clone(),
                target: value.clone(),
                installed: true,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        scripts.insert(section.to_string(), entries);
    }
    Ok(scripts)
}

/// `str.isspace`: Unicode White_Space and the four information separators U+001C–U+001F.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(text: &str) -> &str {
    text.trim_matches(py_isspace)
}

/// The text as `Path.read_text` returns it: universal newlines turn `\r\n` and `\r` into `\n`.
fn universal_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// `str.splitlines` (without ends): `\n`, `\r`, `\v`, `\f`, U+001C–U+001E, U+0085, U+2028, U+2029.
fn py_splitlines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .split([
            '\n', '\u{b}', '\u{c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}', '\u{2029}',
        ])
        .collect();
    // A final line break ends the last line rather than starting an empty one.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

/// (2), Python 3.10+: `importlib.metadata.Sectioned` (`(group, name, value)` triples).
/// Lines are stripped; empty ones and `#` comments are skipped (`;` is no comment); a header
/// is a whole line `[...]`, its name the line with every leading and trailing bracket
/// stripped; an entry splits at its first `=`. Lines before any header are ignored. A line
/// without `=` makes Python raise: it lists nothing then, a subset of these names.
fn python_sectioned(text: &str) -> Vec<(String, String, String)> {
    let text = universal_newlines(text);
    let mut group: Option<&str> = None;
    let mut entries = Vec::new();
    for line in py_splitlines(&text).into_iter().map(py_strip) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            group = Some(line.trim_matches(['[', ']']));
            continue;
        }
        let (Some(group), Some((name, value))) = (group, line.split_once('=')) else {
            continue;
        };
        entries.push((
            group.to_string(),
            py_strip(name).to_string(),
            py_strip(value).to_string(),
        ));
    }
    entries
}

/// (2), Python 3.8 and 3.9: `ConfigParser(delimiters='=')` with `optionxform = str`, read from
/// the text split at `\n` (after universal newlines). Full-line `#` and `;` comments; a line
/// indented deeper than the option before it continues that option's value; a header is
/// `[` up to the first `]` (the rest of the line ignored); an option is the text before the
/// first `=`; options of `[DEFAULT]` are listed in every group. Where Python would raise
/// (duplicates, a line without `=`, no first header), it lists nothing: a subset of these.
fn python_config_parser(text: &str) -> Vec<(String, String, String)> {
    let text = universal_newlines(text);
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut defaults: Vec<(String, String)> = Vec::new();
    // Which options the current section collects: `None` before the first header.
    enum Current {
        Defaults,
        Section(usize),
    }
    let mut current: Option<Current> = None;
    let mut option_open = false;
    let mut indent_level = 0usize;
    for line in text.split_inclusive('\n') {
        let stripped = py_strip(line);
        if stripped.is_empty() || stripped.starts_with(['#', ';']) {
            continue;
        }
        let indent = line.chars().take_while(|&c| py_isspace(c)).count();
        if current.is_some() && option_open && indent > indent_level {
            continue;
        }
        indent_level = indent;
        if let Some(header) = stripped
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .map(|(header, _)| header)
            .filter(|header| !header.is_empty())
        {
            current = Some(if header == "DEFAULT" {
                Current::Defaults
            } else {
                match sections.iter().position(|(name, _)| name == header) {
                    Some(index) => Current::Section(index),
                    None => {
                        sections.push((header.to_string(), Vec::new()));
                        Current::Section(sections.len() - 1)
                    }
                }
            });
            option_open = false;
            continue;
        }
        let Some(current) = &current else {
            continue;
        };
        let Some((name, value)) = stripped.split_once('=') else {
            continue;
        };
        let name = name.trim_end_matches(py_isspace);
        option_open = !name.is_empty();
        let option = (name.to_string(), py_strip(value).to_string());
        match current {
            Current::Defaults => defaults.push(option),
            Current::Section(index) => sections[*index].1.push(option),
        }
    }
    sections
        .into_iter()
        .flat_map(|(group, options)| {
            options
                .into_iter()
                .chain(defaults.clone())
                .map(move |(name, value)| (group.clone(), name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(entry_points: &[EntryPoint]) -> Vec<(&str, bool)> {
        entry_points
            .iter()
            .map(|entry| (entry.name.as_str(), entry.installed))
            .collect()
    }

    #[test]
    fn honest_entry_points_keep_script_sections() {
        let text = "[console_scripts]\ntool = pkg.cli:main\n\n[pytest11]\nplug = x\n[gui_scripts]\ng=pkg:gui [extra]\n";
        let parsed = parse_entry_points(text, "w").unwrap();
        assert_eq!(
            parsed.console_scripts,
            vec![EntryPoint {
                name: "tool".into(),
                target: "pkg.cli:main".into(),
                installed: true,
            }]
        );
        assert_eq!(parsed.gui_scripts[0].target, "pkg:gui [extra]");
        assert_eq!(parsed.script_names(12), ["tool", "g"]);
    }

    #[test]
    fn junk_after_the_header_hides_nothing() {
        // uv: section `console_scripts`; Python 3.8/3.9: the same; 3.10+: no header.
        let parsed = parse_entry_points("[console_scripts]x\npip = evil:main\n", "w").unwrap();
        assert_eq!(names(&parsed.console_scripts), [("pip", true)]);
    }

    #[test]
    fn inline_comments_and_lone_carriage_returns_are_judged_both_ways() {
        // uv stops the header at `;`; Python's 3.10+ reader sees no header at all.
        let parsed = parse_entry_points("[console_scripts] ; c\npip = evil:main\n", "w").unwrap();
        assert_eq!(names(&parsed.console_scripts), [("pip", true)]);
        // uv: one line (`\r` is no line break to it), no script; Python: `pip`.
        let parsed = parse_entry_points("[console_scripts]\rpip = evil:main\r", "w").unwrap();
        assert_eq!(names(&parsed.console_scripts), [("pip", false)]);
        // Python 3.8/3.9 lists `[DEFAULT]` options in every group; uv does not.
        let parsed = parse_entry_points(
            "[DEFAULT]\npip = evil:main\n[console_scripts]\ntool = a:b\n",
            "w",
        )
        .unwrap();
        assert_eq!(
            names(&parsed.console_scripts),
            [("tool", true), ("pip", false)]
        );
        // uv: `pip` is a key; Python 3.8/3.9: a continuation of `tool`'s value.
        let parsed =
            parse_entry_points("[console_scripts]\ntool = a:b\n  pip = c:d\n", "w").unwrap();
        assert_eq!(
            names(&parsed.console_scripts),
            [("pip", true), ("tool", true)]
        );
    }

    #[test]
    fn what_the_installer_refuses_is_refused() {
        for (text, rule) in [
            ("[console_scripts]\nbroken\n", "no value"),
            ("[console_scripts]\ntool ; = a:b\n", "no value"),
            ("[console_scripts]\ntool = a:b:c\n", "target"),
            ("[console_scripts]\ntool = \n", "target"),
            ("[console_scripts\ntool = a:b\n", "syntax"),
            ("[pytest11]\n= a:b\n", "syntax"),
            ("[console_scripts]\nx/../pip = a:b\n", "name"),
            ("[console_scripts]\n./pip = a:b\n", "name"),
            ("[console_scripts]\r.. = a:b\n", "name"),
        ] {
            let error = parse_entry_points(text, "w").unwrap_err();
            let matched = match rule {
                "no value" => matches!(error, WheelError::EntryPointWithoutValue { .. }),
                "target" => matches!(error, WheelError::EntryPointTarget { .. }),
                "syntax" => matches!(error, WheelError::EntryPointSyntax { .. }),
                _ => matches!(error, WheelError::EntryPointName { .. }),
            };
            assert!(matched, "{text:?}: {error:?}");
        }
    }

    #[test]
    fn pip3_brings_its_versioned_launcher() {
        let parsed = parse_entry_points("[console_scripts]\npip3 = pip:main\n", "w").unwrap();
        assert_eq!(parsed.script_names(12), ["pip3", "pip3.12"]);
        let parsed = parse_entry_points("[gui_scripts]\npip3 = pip:main\n", "w").unwrap();
        assert_eq!(parsed.script_names(12), ["pip3"]);
    }
}
