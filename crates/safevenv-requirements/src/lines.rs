//! From file contents to logical lines, as pip's `req_file.preprocess` does: split, join `\`
//! continuations, drop comments, expand `${VAR}`.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::Environment;

/// One logical line: what pip hands to its option parser.
#[derive(Debug)]
pub(crate) struct LogicalLine {
    /// The 1-based number of its first physical line.
    pub(crate) number: usize,
    /// The text with comments removed, before `${VAR}` expansion (what errors show: an
    /// expanded variable may hold a secret).
    pub(crate) written: String,
    /// The text after `${VAR}` expansion (what is parsed).
    pub(crate) expanded: String,
}

/// The logical lines of `contents`, blank and comment-only lines left out.
pub(crate) fn logical_lines(contents: &str, environment: &Environment) -> Vec<LogicalLine> {
    join_continuations(split_lines(contents))
        .into_iter()
        .filter_map(|(number, line)| {
            let written = strip_comment(&line).trim().to_string();
            if written.is_empty() {
                return None;
            }
            let expanded = expand_variables(&written, environment).into_owned();
            Some(LogicalLine {
                number,
                written,
                expanded,
            })
        })
        .collect()
}

/// Split as Python's `str.splitlines` does, numbering from 1. pip splits this way, so a form
/// feed or a Unicode line separator ends a line here too: a reader that kept such a line whole
/// would see a different requirement than pip installs.
fn split_lines(contents: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = contents.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        lines.push(&contents[start..index]);
        start = index + c.len_utf8();
        if c == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n') {
            chars.next();
            start += 1;
        }
    }
    if start < contents.len() {
        lines.push(&contents[start..]);
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .collect()
}

/// Whether pip's `COMMENT_RE.match` (`(^|\s+)#.*$` at the line start) matches.
fn is_comment_line(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Join lines ending in `\` with the next ones, as pip's `join_lines` does: a comment line ends
/// a continued line (and is joined to it, to be stripped later), and the line number is that
/// of the first physical line.
fn join_continuations(lines: Vec<(usize, &str)>) -> Vec<(usize, String)> {
    let mut joined = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (number, line) in lines {
        if !line.ends_with('\\') || is_comment_line(line) {
            match pending.take() {
                Some((first, mut text)) => {
                    if is_comment_line(line) {
                        text.push(' ');
                    }
                    text.push_str(line);
                    joined.push((first, text));
                }
                None => joined.push((number, line.to_string())),
            }
        } else {
            let (_, text) = pending.get_or_insert_with(|| (number, String::new()));
            // pip strips backslashes at both ends (`line.strip("\\")`).
            text.push_str(line.trim_matches('\\'));
        }
    }
    joined.extend(pending);
    joined
}

/// Remove a comment: from the first `#` at the line start or after whitespace. A `#` inside a
/// word (a URL's `#sha256=` or `#egg=` fragment) is not a comment.
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (index, c) in line.char_indices() {
        if c == '#' && previous_is_space {
            return &line[..index];
        }
        previous_is_space = c.is_whitespace();
    }
    line
}

/// Expand `${NAME}` (uppercase letters, digits, `_`: the only form pip expands, so that a `$` in
/// a URL or password is never taken for a variable). An unset or empty variable is left as
/// written, as pip does.
fn expand_variables<'a>(line: &'a str, environment: &Environment) -> Cow<'a, str> {
    static VARIABLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\$\{([A-Z0-9_]+)\}").expect("the pattern is valid"));
    VARIABLE.replace_all(line, |captures: &regex::Captures<'_>| {
        environment
            .get(&captures[1])
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| captures[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Environment, logical_lines, split_lines};

    fn texts(contents: &str) -> Vec<(usize, String)> {
        logical_lines(contents, &Environment::Fixed(BTreeMap::new()))
            .into_iter()
            .map(|line| (line.number, line.expanded))
            .collect()
    }

    #[test]
    fn splits_like_python_splitlines() {
        let lines: Vec<_> = split_lines("a\r\nb\rc\x0cd\u{2028}e\n")
            .into_iter()
            .map(|(_, line)| line)
            .collect();
        assert_eq!(lines, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn joins_continuations_and_keeps_first_line_number() {
        let got =
            texts("# head\n\nfoo==1.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\nbar\n");
        assert_eq!(
            got,
            [
                (
                    3,
                    "foo==1.0     --hash=sha256:aa     --hash=sha256:bb".to_string()
                ),
                (6, "bar".to_string())
            ]
        );
    }

    #[test]
    fn comment_line_ends_a_continuation() {
        let got = texts("foo \\\n# a comment \\\nbar\n");
        assert_eq!(got, [(1, "foo".to_string()), (3, "bar".to_string())]);
    }

    #[test]
    fn trailing_backslash_on_last_line() {
        assert_eq!(texts("foo \\"), [(1, "foo".to_string())]);
    }

    #[test]
    fn comments_need_whitespace_before_hash() {
        let got = texts("https://h.example/a.whl#sha256=00 # pinned\nfoo#bar\n  # only\n");
        assert_eq!(
            got,
            [
                (1, "https://h.example/a.whl#sha256=00".to_string()),
                (2, "foo#bar".to_string())
            ]
        );
    }

    #[test]
    fn expands_only_braced_uppercase_variables() {
        let env = Environment::Fixed(BTreeMap::from([
            ("TOKEN".to_string(), "t0k".to_string()),
            ("EMPTY".to_string(), String::new()),
            ("lower".to_string(), "x".to_string()),
        ]));
        let lines = logical_lines("a ${TOKEN} $TOKEN ${lower} ${EMPTY} ${UNSET}\n", &env);
        assert_eq!(lines[0].expanded, "a t0k $TOKEN ${lower} ${EMPTY} ${UNSET}");
        assert_eq!(
            lines[0].written,
            "a ${TOKEN} $TOKEN ${lower} ${EMPTY} ${UNSET}"
        );
    }
}
