//! Fuzz target: requirements files and command-line specifiers (issue #12 §9). Runs in the
//! default test run; `SAFEVENV_FUZZ_CASES=N` for a longer hand run (see the README).
//!
//! Invariants: no input panics; an error message never repeats a password that the input put in
//! a URL; text without `://` is not changed by redaction.

use std::path::Path;

use proptest::prelude::*;
use safevenv_requirements::{ParseOptions, RequirementsTxt, parse_cli_specifiers, redact_text};
use safevenv_test_index::fuzz::{config, mutated_text, seeds, vectors};

/// Lines from the resolver vectors (requirement strings in YAML and TOML) and hand-written
/// lines of every kind pip reads.
fn corpus() -> Vec<Vec<u8>> {
    let mut corpus = seeds(&vectors("pip-yaml-resolver"), &[".yml"]);
    corpus.extend(seeds(&vectors("packse-scenarios/scenarios"), &[".toml"]));
    corpus.extend(
        [
            "requests>=2.31 ; python_version >= '3.8'\n--hash=sha256:abc \\\n  --hash=sha256:def\n",
            "-e git+https://h.example/o/r.git@v1#egg=r\n",
            "pkg[extra1,extra2] @ https://u:pw@h.example/p-1.0-py3-none-any.whl#sha256=00\n",
            "-i https://index.example/simple --extra-index-url=https://x.example/simple\n",
            "./dist/x-1.0-py3-none-any.whl\nfile:///tmp/x.whl#egg=x\n${HOME}/x.whl\n",
            "# comment\n-c constraints.txt\n--pre -f https://links.example/\n",
        ]
        .map(|line| line.as_bytes().to_vec()),
    );
    corpus
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn requirements_text_never_panics(text in mutated_text(corpus())) {
        let options = ParseOptions::default();
        if let Err(error) = RequirementsTxt::parse_str(&text, Path::new("fuzz/requirements.txt"), &options) {
            let _ = error.to_string();
        }
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if let Err(error) = parse_cli_specifiers(&lines, &options) {
            let _ = error.to_string();
        }
    }

    #[test]
    fn redaction_never_panics_nor_leaks(text in mutated_text(corpus()), at in any::<usize>()) {
        if !text.contains("://") {
            prop_assert_eq!(redact_text(&text), text.as_str());
        }
        // A URL with a password placed anywhere in the text: the password never shows.
        let mut cut = at % (text.len() + 1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let planted = format!("{} https://user:Zq7Secret9@h.example/x {}", &text[..cut], &text[cut..]);
        prop_assert!(!redact_text(&planted).contains("Zq7Secret9"), "{}", redact_text(&planted));
    }
}

/// Found by review (issue #12 §8): a multi-byte character right before a URL's scheme.
#[test]
fn regression_multi_byte_character_before_a_scheme() {
    let options = ParseOptions::default();
    for line in [
        "-e «git+https://h/x",
        "«https://u:pw@h/x",
        "é://",
        "-e 𝔘git+https://h/x",
    ] {
        let _ = RequirementsTxt::parse_str(line, Path::new("r.txt"), &options);
        assert!(!redact_text(line).contains("pw@"));
    }
}
