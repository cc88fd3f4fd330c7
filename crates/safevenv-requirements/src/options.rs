//! The options of a requirements line, read as pip's `optparse` parser reads them.

use crate::error::LineErrorKind;
use safevenv_redact::redact_text;

/// One option given on a line, with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineOption {
    IndexUrl(String),
    ExtraIndexUrl(String),
    NoIndex,
    Constraint(String),
    Requirement(String),
    Editable(String),
    FindLinks(String),
    NoBinary(String),
    OnlyBinary(String),
    PreferBinary,
    RequireHashes,
    Pre,
    TrustedHost(String),
    Hash(String),
}

impl LineOption {
    /// The option's long name, for messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::IndexUrl(_) => "--index-url",
            Self::ExtraIndexUrl(_) => "--extra-index-url",
            Self::NoIndex => "--no-index",
            Self::Constraint(_) => "--constraint",
            Self::Requirement(_) => "--requirement",
            Self::Editable(_) => "--editable",
            Self::FindLinks(_) => "--find-links",
            Self::NoBinary(_) => "--no-binary",
            Self::OnlyBinary(_) => "--only-binary",
            Self::PreferBinary => "--prefer-binary",
            Self::RequireHashes => "--require-hashes",
            Self::Pre => "--pre",
            Self::TrustedHost(_) => "--trusted-host",
            Self::Hash(_) => "--hash",
        }
    }
}

/// Whether an option is a flag or takes a value, and how it is built.
enum Takes {
    Flag(LineOption),
    Value(fn(String) -> LineOption),
}

/// An option pip accepts in a requirements file: short name, long name, arity.
type Spec = (Option<char>, &'static str, Takes);

const KNOWN: &[Spec] = &[
    (Some('i'), "--index-url", Takes::Value(LineOption::IndexUrl)),
    (None, "--pypi-url", Takes::Value(LineOption::IndexUrl)),
    (
        None,
        "--extra-index-url",
        Takes::Value(LineOption::ExtraIndexUrl),
    ),
    (None, "--no-index", Takes::Flag(LineOption::NoIndex)),
    (
        Some('c'),
        "--constraint",
        Takes::Value(LineOption::Constraint),
    ),
    (
        Some('r'),
        "--requirement",
        Takes::Value(LineOption::Requirement),
    ),
    (Some('e'), "--editable", Takes::Value(LineOption::Editable)),
    (
        Some('f'),
        "--find-links",
        Takes::Value(LineOption::FindLinks),
    ),
    (None, "--no-binary", Takes::Value(LineOption::NoBinary)),
    (None, "--only-binary", Takes::Value(LineOption::OnlyBinary)),
    (
        None,
        "--prefer-binary",
        Takes::Flag(LineOption::PreferBinary),
    ),
    (
        None,
        "--require-hashes",
        Takes::Flag(LineOption::RequireHashes),
    ),
    (None, "--pre", Takes::Flag(LineOption::Pre)),
    (
        None,
        "--trusted-host",
        Takes::Value(LineOption::TrustedHost),
    ),
    (None, "--hash", Takes::Value(LineOption::Hash)),
];

/// Options pip accepts in a requirements file that safevenv does not: build settings for
/// sdists and pip feature switches.
const UNSUPPORTED: &[&str] = &[
    "--use-feature",
    "--global-option",
    "--config-settings",
    "--install-option",
    "-C",
];

/// Split a line into its requirement part and its options part, as pip's
/// `break_args_options` does: words (split on single spaces) up to the first one starting
/// with `-` are the requirement.
pub(crate) fn split_requirement_and_options(line: &str) -> (&str, &str) {
    let mut word_start = 0;
    for word in line.split(' ') {
        if word.starts_with('-') {
            let requirement = line[..word_start].strip_suffix(' ').unwrap_or("");
            return (requirement, &line[word_start..]);
        }
        word_start += word.len() + 1;
    }
    (line, "")
}

/// Parse the options part of a line: shell-like words, then `optparse` rules (`--name=value`,
/// `--name value`, `-xvalue`, `-x value`).
pub(crate) fn parse_options(options: &str) -> Result<Vec<LineOption>, LineErrorKind> {
    let words = shlex::split(options).ok_or(LineErrorKind::UnbalancedQuotes)?;
    let mut parsed = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let (spec, inline_value) = if let Some(long) =
            word.strip_prefix("--").filter(|rest| !rest.is_empty())
        {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value.to_string())),
                None => (word.clone(), None),
            };
            let spec = lookup(&name, |(_, long, _)| *long == name)?;
            (spec, value)
        } else if let Some(short) = word.strip_prefix('-').and_then(|rest| rest.chars().next()) {
            let name = format!("-{short}");
            let spec = lookup(&name, |(s, _, _)| *s == Some(short))?;
            let rest = &word[1 + short.len_utf8()..];
            (spec, (!rest.is_empty()).then(|| rest.to_string()))
        } else {
            return Err(LineErrorKind::UnexpectedArgument {
                argument: redact_text(&word).into_owned(),
            });
        };
        let (_, long, takes) = spec;
        let option = match (takes, inline_value) {
            (Takes::Value(build), Some(value)) => build(value),
            (Takes::Value(build), None) => {
                build(
                    words
                        .next()
                        .ok_or_else(|| LineErrorKind::MissingOptionValue {
                            option: (*long).to_string(),
                        })?,
                )
            }
            (Takes::Flag(option), None) => option.clone(),
            (Takes::Flag(_), Some(_)) => {
                return Err(LineErrorKind::UnexpectedOptionValue {
                    option: (*long).to_string(),
                });
            }
        };
        parsed.push(option);
    }
    Ok(parsed)
}

fn lookup(name: &str, matches: impl Fn(&&Spec) -> bool) -> Result<&'static Spec, LineErrorKind> {
    if let Some(spec) = KNOWN.iter().find(matches) {
        return Ok(spec);
    }
    if UNSUPPORTED.contains(&name) {
        Err(LineErrorKind::UnsupportedOption {
            option: name.to_string(),
        })
    } else {
        Err(LineErrorKind::UnknownOption {
            option: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{LineOption, parse_options, split_requirement_and_options};
    use crate::error::LineErrorKind;

    #[test]
    fn splits_at_first_dash_word() {
        assert_eq!(
            split_requirement_and_options("foo >= 1.0  --hash=sha256:aa"),
            ("foo >= 1.0 ", "--hash=sha256:aa")
        );
        assert_eq!(
            split_requirement_and_options("-r other.txt"),
            ("", "-r other.txt")
        );
        assert_eq!(
            split_requirement_and_options("foo; platform_release == \"5.0-x\""),
            ("foo; platform_release == \"5.0-x\"", "")
        );
    }

    #[test]
    fn reads_long_short_and_attached_forms() {
        let parsed = parse_options(
            "--hash=sha256:aa --hash sha256:bb -rother.txt -i 'https://h.example/s' --pre",
        )
        .unwrap();
        assert_eq!(
            parsed,
            [
                LineOption::Hash("sha256:aa".into()),
                LineOption::Hash("sha256:bb".into()),
                LineOption::Requirement("other.txt".into()),
                LineOption::IndexUrl("https://h.example/s".into()),
                LineOption::Pre,
            ]
        );
    }

    #[test]
    fn refuses_unknown_unsupported_and_malformed_options() {
        assert!(
            matches!(parse_options("--bar"), Err(LineErrorKind::UnknownOption { option }) if option == "--bar")
        );
        assert!(
            matches!(parse_options("-x"), Err(LineErrorKind::UnknownOption { option }) if option == "-x")
        );
        assert!(matches!(
            parse_options("--global-option=x"),
            Err(LineErrorKind::UnsupportedOption { option }) if option == "--global-option"
        ));
        assert!(matches!(
            parse_options("--hash"),
            Err(LineErrorKind::MissingOptionValue { .. })
        ));
        assert!(matches!(
            parse_options("--pre=1"),
            Err(LineErrorKind::UnexpectedOptionValue { .. })
        ));
        assert!(
            matches!(parse_options("--pre extra"), Err(LineErrorKind::UnexpectedArgument { argument }) if argument == "extra")
        );
        assert!(matches!(
            parse_options("-i 'https://h"),
            Err(LineErrorKind::UnbalancedQuotes)
        ));
    }
}
