//! Fuzz target: policy files, as `safevenv.toml` and as `[tool.safevenv]` of a
//! `pyproject.toml`, alone and under an organisation policy (issue #12 §9). Runs in the default
//! test run; `SAFEVENV_FUZZ_CASES=N` for a longer hand run (see the README).
//!
//! Invariant: no input panics; a refusal's message can be shown.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use safevenv_policy::{Policy, PolicyText, starter_file};
use safevenv_test_index::fuzz::{config, mutated_text, seeds, vectors};

/// The presets and the starter file (real policies), and TOML from the resolver vectors.
fn corpus() -> Vec<Vec<u8>> {
    let presets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policy");
    let mut corpus = seeds(&presets, &[".toml"]);
    corpus.push(starter_file().as_bytes().to_vec());
    corpus.push(
        b"[tool.safevenv]\nextends = \"strict\"\n[tool.safevenv.contents]\noverwrite = \"allow\"\n"
            .to_vec(),
    );
    corpus.extend(
        seeds(&vectors("packse-scenarios/scenarios"), &[".toml"])
            .into_iter()
            .take(8),
    );
    corpus
}

fn text(path: &str, text: &str) -> PolicyText {
    PolicyText {
        path: PathBuf::from(path),
        text: text.to_string(),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn policy_text_never_panics(policy in mutated_text(corpus())) {
        let org = text("/etc/safevenv/policy.toml", "[sources]\nindexes = [\"https://index.example/simple/\"]\n");
        for path in ["/p/safevenv.toml", "/p/pyproject.toml"] {
            let project = text(path, &policy);
            if let Err(error) = Policy::from_texts(None, Some(&project)) {
                let _ = error.to_string();
            }
            if let Err(error) = Policy::from_texts(Some(&org), Some(&project)) {
                let _ = error.to_string();
            }
            if let Err(error) = Policy::from_texts(Some(&project), None) {
                let _ = error.to_string();
            }
        }
    }
}
