//! Mutation fuzzing that runs as ordinary tests (`tests/fuzz.rs` of each crate), with
//! `proptest`: inputs are seeds from `shared/vectors/` (or generated ones) with a few random
//! edits, so most cases stay near real input and reach deep into a parser instead of failing at
//! the first byte.
//!
//! Each target runs [`DEFAULT_CASES`] cases in the default test run; set [`CASES_ENV`] for a
//! longer hand run (`SAFEVENV_FUZZ_CASES=20000 cargo nextest run --workspace fuzz`). A case that
//! fails is shrunk by proptest and printed; it becomes a regression test named after what it found.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Environment variable: cases per target, for a longer hand run.
pub const CASES_ENV: &str = "SAFEVENV_FUZZ_CASES";

/// Cases per target in the default test run: a second or two each on a small machine.
pub const DEFAULT_CASES: u32 = 1024;

/// Longest seed kept whole: longer ones are cut so that a case stays cheap.
const MAX_SEED: usize = 1 << 20;

/// The proptest configuration: [`CASES_ENV`] cases (default [`DEFAULT_CASES`]), no failure
/// files written into the source tree (regressions are named tests instead).
pub fn config() -> Config {
    let cases = std::env::var(CASES_ENV)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// `shared/vectors/<relative>`, beside the workspace (tests name it relative to the workspace root
/// as `../shared/vectors/...`).
pub fn vectors(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors")
        .join(relative)
}

/// The files under `dir` (recursively, in path order) whose name ends with one of `suffixes`,
/// each cut to [`MAX_SEED`] bytes. Fails if there is none: a target without seeds is not fuzzing
/// what it says.
pub fn seeds(dir: &Path, suffixes: &[&str]) -> Vec<Vec<u8>> {
    let mut paths = Vec::new();
    collect(dir, suffixes, &mut paths);
    paths.sort();
    let seeds: Vec<Vec<u8>> = paths
        .iter()
        .map(|path| {
            let mut bytes = fs_err::read(path).unwrap_or_else(|err| panic!("{err}"));
            bytes.truncate(MAX_SEED);
            bytes
        })
        .collect();
    assert!(
        !seeds.is_empty(),
        "no seed ending in {suffixes:?} under `{}`",
        dir.display()
    );
    seeds
}

fn collect(dir: &Path, suffixes: &[&str], out: &mut Vec<PathBuf>) {
    let entries = fs_err::read_dir(dir).unwrap_or_else(|err| panic!("{err}"));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, suffixes, out);
        } else if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| suffixes.iter().any(|suffix| name.ends_with(suffix)))
        {
            out.push(path);
        }
    }
}

/// Fragments that parsers of our formats treat specially, inserted whole by [`mutated`]:
/// separators, quotes, escapes, line ends of every kind, multi-byte and combining characters,
/// zip signatures and field-sized integers.
const DICTIONARY: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\r",
    b"\\\n",
    b"\0",
    b" ",
    b"\t",
    b"#",
    b";",
    b"@",
    b"://",
    b"[",
    b"]",
    b"=",
    b"==",
    b",",
    b"\"",
    b"'",
    b"\"\"\"",
    b"${A}",
    b"%",
    b"%2F",
    b"..",
    b"/",
    b"\\",
    b"-e ",
    b"-r ",
    b"--hash=sha256:",
    b"import ",
    b"[console_scripts]",
    b":",
    b"{",
    b"}",
    b"<a href=\"",
    b"</a>",
    b"&amp;",
    b"&#",
    b"\xc2\xab",
    b"\xc3\xa9",
    b"e\xcc\x81",
    b"\xe2\x80\xa8",
    b"\xf0\x9d\x94\x98",
    b"\xff",
    b"PK\x01\x02",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x06\x06",
    b"PK\x06\x07",
    b"\xff\xff",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
];

/// One edit of a seed.
#[derive(Debug, Clone)]
enum Edit {
    /// Overwrite the byte at (position mod length).
    Set(usize, u8),
    /// Insert a dictionary fragment at the position.
    Insert(usize, usize),
    /// Remove up to `n` bytes at the position.
    Remove(usize, usize),
    /// Repeat the bytes from the position, up to `n` of them, right after themselves.
    Repeat(usize, usize),
    /// Cut the input at the position.
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Set(at, byte)),
        3 => (any::<usize>(), 0..DICTIONARY.len()).prop_map(|(at, word)| Edit::Insert(at, word)),
        2 => (any::<usize>(), 1..64usize).prop_map(|(at, n)| Edit::Remove(at, n)),
        1 => (any::<usize>(), 1..256usize).prop_map(|(at, n)| Edit::Repeat(at, n)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        let at = |position: usize| if len == 0 { 0 } else { position % (len + 1) };
        match *edit {
            Edit::Set(position, byte) => {
                if len > 0 {
                    bytes[position % len] = byte;
                }
            }
            Edit::Insert(position, word) => {
                let at = at(position);
                bytes.splice(at..at, DICTIONARY[word].iter().copied());
            }
            Edit::Remove(position, n) => {
                let at = at(position);
                bytes.drain(at..(at + n).min(len));
            }
            Edit::Repeat(position, n) => {
                let at = at(position);
                let end = (at + n).min(len);
                let copy = bytes[at..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Edit::Truncate(position) => bytes.truncate(at(position)),
        }
    }
    bytes
}

/// A seed with up to eight edits (none, sometimes: the seeds themselves are cases too).
pub fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(seeds),
        proptest::collection::vec(edit(), 0..8),
    )
        .prop_map(|(seed, edits)| apply(seed, &edits))
}

/// [`mutated`], as text (invalid UTF-8 replaced), for parsers that take `&str`.
pub fn mutated_text(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = String> {
    mutated(seeds).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}
