//! Differential test of the `.pth` classification against the real consumer: every pyenv
//! CPython 3.8+ runs its own `site.addpackage` on a generated corpus of tricky `.pth` files, and
//! wherever one of them executes code safevenv must say the file executes code (it may be
//! stricter, never looser).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use safevenv_wheel::PthFile;

/// Runs `site.addpackage` on every `.pth` file of a directory, once per simulated locale
/// encoding, and writes `{"ran": {file: ["encoding", ...]}, "unexpected": [...]}`: the
/// encodings under which a line ran, and what escaped `addpackage` other than the decoding
/// error of a file the encoding cannot read (the harness itself failing, which would hide runs).
///
/// A line ran when `exec` was audited for a code object compiled from a string (`<string>`,
/// what `exec(line)` compiles; imported modules carry their file name), or when the payload
/// set its marker. The locale encoding is pinned through `site`'s own lookups: `io` for 3.8 to
/// 3.12 (`TextIOWrapper(..., encoding="locale")`, or no encoding on 3.8 and 3.9) and
/// `locale.getencoding` for the fallback of 3.13+.
const HARNESS: &str = r#"
import io, json, locale, os, sys
import site
import traceback  # site imports it when a line fails: imported here, it runs no module code later

corpus, out, encodings = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
ran = []

def audit(event, args):
    if event == "exec" and getattr(args[0], "co_filename", None) == "<string>":
        ran.append(True)

sys.addaudithook(audit)

class LocaleIO:
    open_code = staticmethod(io.open_code)

    def __init__(self, encoding):
        self.encoding = encoding

    def TextIOWrapper(self, buffer, encoding=None, **options):
        return io.TextIOWrapper(buffer, encoding=self.encoding, **options)

results = {}
unexpected = []
saved_path = list(sys.path)
stderr = sys.stderr
for name in sorted(n for n in os.listdir(corpus) if n.endswith(".pth")):
    results[name] = []
    for encoding in encodings:
        site.io = LocaleIO(encoding)
        locale.getencoding = lambda encoding=encoding: encoding
        ran.clear()
        sys.pth_marker = False
        sys.stderr = io.StringIO()
        try:
            site.addpackage(corpus, name, set())
        except UnicodeDecodeError:
            pass  # a file the encoding cannot decode: the lines before the error still ran
        except Exception as error:
            unexpected.append(f"{name} ({encoding}): {error!r}")
        finally:
            sys.stderr = stderr
            sys.path[:] = saved_path
        if ran or sys.pth_marker:
            results[name].append(encoding)
with open(out, "w") as f:
    json.dump({"ran": results, "unexpected": unexpected}, f)
"#;

/// Locale encodings a machine may read a `.pth` file in: UTF-8, single-byte (Latin-1 decodes
/// 0x85 as U+0085) and multi-byte ones (GB18030 can encode U+2028).
const ENCODINGS: &str =
    "utf-8,latin-1,cp1252,koi8_r,gb18030,gbk,shift_jis,cp932,big5,euc_kr,euc_jp";

/// The payload after `import` and its separator: sets the marker the harness reads.
const PAYLOAD: &[u8] = b"sys; sys.pth_marker = True";

/// Everything that ends a line in some version, or that a locale decoding may turn into a line
/// end, or that looks like one and is not.
fn breaks() -> Vec<Vec<u8>> {
    let mut breaks: Vec<Vec<u8>> = [
        "\n", "\r\n", "\r", "\n\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\u{85}",
        "\u{2028}", "\u{2029}", "\u{a0}", "\u{feff}", "\0", "\t", " ",
    ]
    .iter()
    .map(|text| text.as_bytes().to_vec())
    .collect();
    breaks.extend(
        [
            b"\x85".as_slice(), // U+0085 in Latin-1
            b"\x816\xa65",      // U+2028 in GB18030
            b"\x810\x815",      // U+0085 in GB18030
            b"\xff",            // invalid everywhere but single-byte encodings
            b"\xe2\x80",        // a truncated U+2028
            b"\xef\xbb\xbf",    // a BOM past the start
        ]
        .map(<[u8]>::to_vec),
    );
    breaks
}

/// What may follow `import`: every ASCII byte and a few non-ASCII spaces and line ends.
fn afters() -> Vec<Vec<u8>> {
    let mut afters: Vec<Vec<u8>> = (0u8..=0x7f)
        .filter(|byte| !byte.is_ascii_alphanumeric() || *byte == b'x')
        .map(|byte| vec![byte])
        .collect();
    for text in [
        "\u{a0}", "\u{85}", "\u{2028}", "\u{3000}", "  ", " \t", "\t ",
    ] {
        afters.push(text.as_bytes().to_vec());
    }
    afters.extend([b"\x85".to_vec(), b"\xa0".to_vec(), b"\x816\xa65".to_vec()]);
    afters
}

fn import_line(after: &[u8]) -> Vec<u8> {
    [b"import".as_slice(), after, PAYLOAD].concat()
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    "\u{feff}"
        .encode_utf16()
        .chain(text.encode_utf16())
        .flat_map(|unit| {
            if little_endian {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            }
        })
        .collect()
}

/// The generated corpus; its first file is the plain `import` line every Python runs.
fn corpus() -> Vec<Vec<u8>> {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    let plain = import_line(b" ");
    let mut corpus = vec![[plain.as_slice(), b"\n"].concat()];
    let breaks = breaks();

    // What precedes the `import` line: each break alone, after text, after a comment.
    let mut leads: Vec<Vec<u8>> = vec![
        Vec::new(),
        BOM.to_vec(),
        [BOM, BOM].concat(),
        b" ".to_vec(),
        b"\t".to_vec(),
        b"#".to_vec(),
        b"\xff".to_vec(),
        [BOM, b"\xff\n"].concat(),
        [BOM, b"# c\n"].concat(),
    ];
    for brk in &breaks {
        for before in [
            b"".as_slice(),
            b"x",
            b"/opt/lib",
            b"#",
            b"# c",
            b" ",
            b"\xff",
        ] {
            leads.push([before, brk].concat());
        }
    }
    for lead in &leads {
        for after in [b" ".as_slice(), b"\t", b"\x0c", b"\x0b", b"\r"] {
            corpus.push([lead.as_slice(), &import_line(after), b"\n"].concat());
        }
    }
    // Every separator after `import`, at the start of the file, after a BOM, after `\r`.
    for after in afters() {
        for lead in [b"".as_slice(), BOM, b"x\r", b"\xff\n"] {
            corpus.push([lead, &import_line(&after), b"\n"].concat());
        }
    }
    // Line ends after the payload; errors after it ran; lines after an error.
    for tail in [
        b"".as_slice(),
        b"\r",
        b"\r\n",
        b"\n\xff",
        b"\0",
        b"; 1/0\n",
        b"\nimport nonexistent_module_xyz\nimport sys\n",
    ] {
        for lead in [b"".as_slice(), b"x\r", BOM] {
            corpus.push([lead, &plain, tail].concat());
        }
    }
    corpus.extend([
        [b"import nonexistent_module_xyz\n".as_slice(), &plain].concat(),
        [b"/opt/\0x\n".as_slice(), &plain].concat(),
        [b"/opt/x\n\n\n".as_slice(), &plain, b"\n/opt/y"].concat(),
        // Overlong lines, and a `\r\n` across the 8 KiB chunks of the text reader.
        [vec![b'x'; 100_000].as_slice(), b"\r", &plain].concat(),
        [vec![b'x'; 8191].as_slice(), b"\r\n", &plain].concat(),
        [vec![b'x'; 8192].as_slice(), b"\r", &plain].concat(),
        [vec![b'#'; 8193].as_slice(), b"\x0c", &plain].concat(),
    ]);
    // Other encodings of honest and hostile text.
    let plain_text = String::from_utf8(plain.clone()).unwrap();
    for text in [
        format!("/opt/caf\u{e9}\n{plain_text}\n"),
        format!("/opt/caf\u{e9}\u{85}{plain_text}\n"),
        format!("# \u{e9}\r{plain_text}"),
        "/opt/caf\u{e9}\n".to_string(),
    ] {
        corpus.push(latin1(&text));
    }
    for text in [format!("{plain_text}\n"), "/opt/lib\n".to_string()] {
        corpus.push(utf16(&text, true));
        corpus.push(utf16(&text, false));
    }
    corpus.extend(fuzzed(&breaks, 3000));
    corpus
}

/// Deterministic random files of tokens: keywords, separators, payloads, text, comments.
fn fuzzed(breaks: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
    let mut tokens: Vec<Vec<u8>> = breaks.to_vec();
    for token in [
        b"import".as_slice(),
        b"import ",
        b"import\t",
        b"Import ",
        b"import",
        b" ",
        b"#",
        b"x",
        b"/opt/lib",
        PAYLOAD,
        b"sys",
        b"\xef\xbb\xbf",
    ] {
        tokens.push(token.to_vec());
    }
    // xorshift64: reproducible without a dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % bound as u64).unwrap()
    };
    (0..count)
        .map(|_| {
            let length = 1 + next(8);
            (0..length)
                .flat_map(|_| tokens[next(tokens.len())].clone())
                .collect()
        })
        .collect()
}

/// Every pyenv CPython 3.8+: `(version, python)`.
fn pyenv_interpreters() -> Vec<(String, PathBuf)> {
    safevenv_test_index::pyenv_pythons()
        .into_iter()
        .map(|found| (found.version, found.python))
        .collect()
}

/// What one interpreter's harness found.
struct Findings {
    /// File name: the encodings under which Python ran code from it.
    ran: BTreeMap<String, Vec<String>>,
    /// What escaped `site.addpackage` other than decoding errors.
    unexpected: Vec<String>,
}

fn run_harness(python: &Path, scratch: &Path, corpus_dir: &Path) -> Findings {
    let harness = scratch.join("harness.py");
    fs_err::write(&harness, HARNESS).unwrap();
    let out = scratch.join("results.json");
    let output = Command::new(python)
        .arg("-I")
        .arg("-S")
        .arg(&harness)
        .arg(corpus_dir)
        .arg(&out)
        .arg(ENCODINGS)
        .current_dir(scratch)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut findings: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&out).unwrap()).unwrap();
    Findings {
        ran: serde_json::from_value(findings["ran"].take()).unwrap(),
        unexpected: serde_json::from_value(findings["unexpected"].take()).unwrap(),
    }
}

#[test]
fn safevenv_says_code_wherever_any_python_runs_code() {
    let interpreters = pyenv_interpreters();
    assert!(
        !interpreters.is_empty(),
        "no pyenv CPython 3.8+ found: this differential test needs the real site.py"
    );
    let scratch = tempfile::tempdir().unwrap();
    let corpus_dir = scratch.path().join("site-packages");
    fs_err::create_dir(&corpus_dir).unwrap();
    let corpus = corpus();
    let name = |index: usize| format!("v{index:05}.pth");
    let mut verdicts = BTreeMap::new();
    for (index, content) in corpus.iter().enumerate() {
        fs_err::write(corpus_dir.join(name(index)), content).unwrap();
        verdicts.insert(
            name(index),
            (index, PthFile::parse(&name(index), content).executes_code()),
        );
    }

    let mut looser = Vec::new();
    let mut ran_anywhere = BTreeSet::new();
    for (version, python) in &interpreters {
        let Findings {
            ran: results,
            unexpected,
        } = run_harness(python, scratch.path(), &corpus_dir);
        assert!(unexpected.is_empty(), "{version}: {unexpected:#?}");
        assert_eq!(results.len(), corpus.len(), "{version} read every file");
        // The harness detects code: the plain `import` line runs under every encoding.
        assert_eq!(
            results[&name(0)].join(","),
            ENCODINGS,
            "{version} ran the plain import line"
        );
        let mut ran = 0;
        for (file, encodings) in results
            .iter()
            .filter(|(_, encodings)| !encodings.is_empty())
        {
            ran += 1;
            ran_anywhere.insert(file.clone());
            let (index, executes) = verdicts[file];
            if !executes {
                looser.push(format!(
                    "{version} ({}) ran {file}: {}",
                    encodings.join(","),
                    corpus[index].escape_ascii()
                ));
            }
        }
        assert!(
            ran > 0 && ran < corpus.len(),
            "{version}: ran code in {ran} of {} files: the corpus has both kinds",
            corpus.len()
        );
    }
    assert!(
        looser.is_empty(),
        "safevenv says no code where Python ran code ({} cases):\n{}",
        looser.len(),
        looser[..looser.len().min(20)].join("\n")
    );
    let stricter = verdicts
        .iter()
        .filter(|(file, (_, executes))| *executes && !ran_anywhere.contains(*file))
        .count();
    eprintln!(
        "{} files, {} interpreters; code ran in {}; safevenv stricter on {stricter}",
        corpus.len(),
        interpreters.len(),
        ran_anywhere.len()
    );
}
