//! `.pth` files, read the way every supported CPython's `site.addpackage` reads them.
//!
//! CPython 3.8 to 3.14 read a `.pth` file in two different ways:
//!
//! - 3.8 to 3.12 decode it in the locale encoding (no BOM stripped) and split it with universal
//!   newlines: `\n`, `\r\n` and a bare `\r` end a line.
//! - 3.13 and later decode it as `utf-8-sig` (a leading BOM stripped), fall back to the locale
//!   encoding when that fails, and split it with `str.splitlines`, which also ends a line at
//!   `\v`, `\f`, `\x1c`, `\x1d`, `\x1e`, U+0085, U+2028 and U+2029.
//!
//! Every version then skips a line starting with `#` (and from 3.10 a blank one), executes a
//! line starting with `import ` or `import\t` with `exec` (stopping at the first line that
//! raises), and takes any other line as a directory for `sys.path`. This module classifies by
//! the union of those readings, so that a line one version executes is executable here (the
//! verdict may be stricter than a given Python, never looser):
//!
//! - a leading UTF-8 BOM is stripped, and lines end at every `str.splitlines` line end. That set
//!   contains the universal newlines, so each line start of any version is a line start here,
//!   and a line that begins with `import ` there begins with it here too (none of those seven
//!   characters ends a line);
//! - a file that is not UTF-8 is decoded by Python in the locale encoding of whichever machine
//!   starts the interpreter, which safevenv cannot know. Its lines end only at the ASCII line
//!   ends, which every locale encoding (ASCII-compatible and stateless: glibc's and Windows'
//!   ANSI code pages) decodes as themselves and never uses inside a multi-byte character; a
//!   line of ASCII bytes therefore reads the same everywhere and is classified as usual, and a
//!   line with any other byte is [`PthLineKind::Undecodable`], which counts as code: its bytes
//!   may decode to a line end (Latin-1's 0x85 is U+0085, GB18030's `81 36 A6 35` is U+2028)
//!   followed by an `import` line, so a non-UTF-8 `.pth` file always counts as running code.

use std::ops::Range;

/// The UTF-8 encoding of U+FEFF, which `utf-8-sig` strips from the start of a file.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// How `site.py` treats one line of a `.pth` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PthLineKind {
    /// Empty, blank or starting with `#`: skipped.
    Skipped,
    /// Starts with `import ` or `import\t`: executed as Python code at every interpreter start.
    Executable,
    /// A line of a file that is not UTF-8 holding a byte outside ASCII: what Python reads there
    /// depends on the locale encoding, so it is taken to run code.
    Undecodable,
    /// Anything else: a directory appended to `sys.path` (if it exists).
    Path,
}

impl PthLineKind {
    /// Classifies one decoded line (without its line end) as `site.addpackage` does. (3.8 and
    /// 3.9 do not skip a blank line: it names the site directory itself, already on `sys.path`.)
    pub fn of(line: &str) -> Self {
        if line.starts_with('#') || line.trim().is_empty() {
            Self::Skipped
        } else if line.starts_with("import ") || line.starts_with("import\t") {
            Self::Executable
        } else {
            Self::Path
        }
    }

    /// Whether some supported Python may execute the line as code.
    pub fn runs_code(self) -> bool {
        matches!(self, Self::Executable | Self::Undecodable)
    }
}

/// One line of a `.pth` file with its classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PthLine {
    /// Its number, from 1, counting the lines every line end of any version separates.
    pub number: usize,
    /// The line without its line end; in a file that is not UTF-8, a line holding bytes outside
    /// ASCII shows them escaped (`\xff`).
    pub text: String,
    /// What `site.py` may do with it.
    pub kind: PthLineKind,
}

/// A `.pth` file that would land in site-packages, where `site.py` processes it at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PthFile {
    /// Its path in the archive.
    pub path: String,
    /// Its lines.
    pub lines: Vec<PthLine>,
}

impl PthFile {
    /// Splits and classifies the raw content of a `.pth` file (see the module comment).
    ///
    /// Security: every line some supported CPython executes starts at a line start here and is
    /// classified [`PthLineKind::Executable`] or [`PthLineKind::Undecodable`]. The threat is an
    /// `import` line hidden from a narrower reader (behind a bare `\r`, a `\x0c`, a BOM, or in
    /// bytes a locale encoding decodes to a line end): it would run at every interpreter start
    /// while the policy saw a path.
    pub fn parse(path: &str, content: &[u8]) -> Self {
        let without_bom = content.strip_prefix(UTF8_BOM).unwrap_or(content);
        let lines: Vec<(String, PthLineKind)> = match std::str::from_utf8(without_bom) {
            // The ranges end at whole characters: every line end is a whole character.
            Ok(text) => split(without_bom, unicode_line_end)
                .map(|range| {
                    let line = &text[range];
                    (line.to_string(), PthLineKind::of(line))
                })
                .collect(),
            // Security: the BOM is kept here (a locale decoding does not strip it), so the
            // first line has bytes outside ASCII and counts as code.
            Err(_) => split(content, ascii_line_end)
                .map(|range| {
                    let line = &content[range];
                    match std::str::from_utf8(line) {
                        Ok(text) if line.is_ascii() => (text.to_string(), PthLineKind::of(text)),
                        _ => (line.escape_ascii().to_string(), PthLineKind::Undecodable),
                    }
                })
                .collect(),
        };
        Self {
            path: path.to_string(),
            lines: lines
                .into_iter()
                .enumerate()
                .map(|(index, (text, kind))| PthLine {
                    number: index + 1,
                    text,
                    kind,
                })
                .collect(),
        }
    }

    /// Whether some supported Python executes code from this file at interpreter start-up.
    pub fn executes_code(&self) -> bool {
        self.code_lines().next().is_some()
    }

    /// The lines some supported Python may execute.
    pub fn code_lines(&self) -> impl Iterator<Item = &PthLine> {
        self.lines.iter().filter(|line| line.kind.runs_code())
    }
}

/// The length of the line end `rest` starts with, among `str.splitlines`' line ends (3.13+),
/// which include universal newlines (3.8 to 3.12). `rest` is valid UTF-8.
fn unicode_line_end(rest: &[u8]) -> Option<usize> {
    match rest {
        [0xc2, 0x85, ..] => Some(2),
        [0xe2, 0x80, 0xa8 | 0xa9, ..] => Some(3),
        _ => ascii_line_end(rest),
    }
}

/// The length of the ASCII line end `rest` starts with: `\r\n`, `\n`, `\r`, `\v`, `\f`,
/// `\x1c`, `\x1d`, `\x1e`.
fn ascii_line_end(rest: &[u8]) -> Option<usize> {
    match rest {
        [b'\r', b'\n', ..] => Some(2),
        [b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1e, ..] => Some(1),
        _ => None,
    }
}

/// The byte ranges of the lines of `content`, split at the line ends `line_end` finds, like
/// `str.splitlines`: no empty line after a final line end.
fn split(
    content: &[u8],
    line_end: fn(&[u8]) -> Option<usize>,
) -> impl Iterator<Item = Range<usize>> {
    let mut start = 0;
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < content.len() {
            if let Some(length) = line_end(&content[at..]) {
                let line = start..at;
                at += length;
                start = at;
                return Some(line);
            }
            at += 1;
        }
        (start < content.len()).then(|| {
            let line = start..content.len();
            start = content.len();
            line
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(content: &[u8]) -> Vec<PthLineKind> {
        PthFile::parse("x.pth", content)
            .lines
            .iter()
            .map(|line| line.kind)
            .collect()
    }

    fn texts(content: &[u8]) -> Vec<String> {
        PthFile::parse("x.pth", content)
            .lines
            .into_iter()
            .map(|line| line.text)
            .collect()
    }

    use PthLineKind::{Executable, Path, Skipped, Undecodable};

    #[test]
    fn lines_follow_site_py() {
        assert_eq!(PthLineKind::of("import os; os.system('x')"), Executable);
        assert_eq!(PthLineKind::of("import\tsys"), Executable);
        // `importlib` is a path, and so is ` import x` (site.py checks the line start).
        assert_eq!(PthLineKind::of("importlib"), Path);
        assert_eq!(PthLineKind::of(" import x"), Path);
        assert_eq!(PthLineKind::of("Import x"), Path);
        assert_eq!(PthLineKind::of("import\u{a0}x"), Path);
        assert_eq!(PthLineKind::of("# import x"), Skipped);
        assert_eq!(PthLineKind::of("   "), Skipped);
        assert_eq!(PthLineKind::of(""), Skipped);
        assert_eq!(PthLineKind::of("/opt/lib"), Path);
    }

    #[test]
    fn every_line_end_of_any_version_starts_an_executable_line() {
        // 3.8 to 3.12 end lines at `\r`; 3.13+ also at these, which Rust's `lines()` ignores.
        for end in [
            "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\u{85}", "\u{2028}",
            "\u{2029}",
        ] {
            for before in ["x", "# a comment", "", "   "] {
                let content = format!("{before}{end}import os; os.system('x')");
                let file = PthFile::parse("x.pth", content.as_bytes());
                assert!(file.executes_code(), "{content:?}");
                let code: Vec<_> = file.code_lines().map(|line| line.number).collect();
                assert_eq!(code, [2], "{content:?}");
            }
        }
    }

    #[test]
    fn characters_that_end_no_line_split_nothing() {
        // `\x1f`, `\t`, NUL and U+00A0 end no line in any version: a path stays one path.
        for inner in ["\x1f", "\t", "\0", "\u{a0}", "\u{2027}", "\u{feff}"] {
            let content = format!("/opt/x{inner}import os");
            assert_eq!(kinds(content.as_bytes()), [Path], "{content:?}");
        }
        assert_eq!(kinds(b"/a\r\n/b\r\n"), [Path, Path]);
        assert_eq!(texts(b"/a\r\n\r\n/b\n"), ["/a", "", "/b"]);
        assert!(PthFile::parse("x.pth", b"").lines.is_empty());
    }

    #[test]
    fn a_leading_bom_is_stripped_once() {
        // 3.13 strips it (`utf-8-sig`) and executes the line.
        assert_eq!(kinds(b"\xef\xbb\xbfimport os"), [Executable]);
        // No version strips a second one or one after the start.
        assert_eq!(kinds(b"\xef\xbb\xbf\xef\xbb\xbfimport os"), [Path]);
        assert_eq!(kinds(b"/a\n\xef\xbb\xbfimport os"), [Path, Path]);
        assert_eq!(kinds(b"\xef\xbb\xbf/opt/lib\n"), [Path]);
    }

    #[test]
    fn import_needs_a_space_or_tab_after_it() {
        for byte in 0u8..=0x7f {
            let content = [b"import".as_slice(), &[byte], b"os"].concat();
            let expected = match byte {
                b' ' | b'\t' => vec![Executable],
                b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1e => vec![Path, Path],
                _ => vec![Path],
            };
            assert_eq!(kinds(&content), expected, "{content:?}");
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_runs_code() {
        // Latin-1 reads 0x85 as U+0085, a line end for 3.13's fallback decoding.
        let latin1 = PthFile::parse("x.pth", b"/opt/x\x85import os");
        assert_eq!(kinds(b"/opt/x\x85import os"), [Undecodable]);
        assert!(latin1.executes_code());
        assert_eq!(latin1.lines[0].text, "/opt/x\\x85import os");
        // GB18030 reads `81 36 A6 35` as U+2028, even inside a comment.
        assert_eq!(kinds(b"# \x816\xa65import os"), [Undecodable]);
        // ASCII lines read the same in every locale encoding and keep their classification.
        assert_eq!(
            kinds(b"/opt/lib\n# c\nimport os\r\xff\n"),
            [Path, Skipped, Executable, Undecodable]
        );
        // A BOM before invalid UTF-8 is not stripped by a locale decoding.
        assert_eq!(kinds(b"\xef\xbb\xbf/opt\n\xff"), [Undecodable, Undecodable]);
        // UTF-16 is not UTF-8 either.
        let utf16: Vec<u8> = "\u{feff}import os"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(PthFile::parse("x.pth", &utf16).executes_code());
    }

    #[test]
    fn honest_files_run_no_code() {
        for content in [
            b"/opt/lib\n../shared\n".as_slice(),
            b"# a comment\n\n/opt/lib\r\n",
            b"\xef\xbb\xbf/opt/lib\n",
            "/opt/caf\u{e9}\n".as_bytes(),
            b"importlib\n",
        ] {
            assert!(
                !PthFile::parse("x.pth", content).executes_code(),
                "{content:?}"
            );
        }
    }
}
