//! Every PEP 751 example in `shared/vectors/pylock`: the verdict of the `packaging` library's
//! validator (`packaging-validation.generated.txt`) must be ours, and every valid lockfile must
//! survive writing and reading back.

use std::path::{Path, PathBuf};

use safevenv_lock::{Lock, LockError};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/pylock")
}

/// Where our refusal names another field than `packaging`'s, and why.
const OTHER_FIELD: &[(&str, &str, &str)] = &[(
    // `lock-version = '666'` and nothing else. `packaging` checks the version last and so
    // first finds `created-by` missing; we check it first, because under an unknown major
    // version no other key can be interpreted (PEP 751: "If a tool doesn't support a major
    // version, it MUST raise an error").
    "pip-audit/pylock.invalid-version.toml",
    "created-by",
    "lock-version",
)];

enum Verdict {
    Valid,
    Invalid { field: String },
    TomlError,
}

fn verdicts() -> Vec<(String, Verdict)> {
    let text = fs_err::read_to_string(root().join("packaging-validation.generated.txt"))
        .expect("the verdict list is readable");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let mut parts = line.split('\t');
            let file = parts.next().expect("a file name").to_owned();
            let verdict = match parts.next() {
                Some("VALID") => Verdict::Valid,
                Some("TOML_ERROR") => Verdict::TomlError,
                Some("INVALID") => {
                    let message = parts.next().expect("a reason");
                    // `packaging` ends its messages with ` in '<field>'`, except for an
                    // unsupported version, which is about `lock-version`.
                    let field = if message.starts_with("PylockUnsupportedVersionError") {
                        "lock-version"
                    } else {
                        message
                            .rsplit_once(" in '")
                            .and_then(|(_, field)| field.strip_suffix('\''))
                            .unwrap_or_else(|| panic!("no field in `{message}`"))
                    };
                    Verdict::Invalid {
                        field: field.to_owned(),
                    }
                }
                other => panic!("unknown verdict {other:?} for {file}"),
            };
            (file, verdict)
        })
        .collect()
}

fn toml_files(dir: &Path, found: &mut Vec<String>) {
    for entry in fs_err::read_dir(dir).expect("vector folder is readable") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            toml_files(&path, found);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            let relative = path.strip_prefix(root()).expect("under the root");
            found.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn verdicts_match_packaging() {
    let verdicts = verdicts();
    let mut present = Vec::new();
    toml_files(&root(), &mut present);
    present.sort();
    // Every file we have must have a verdict, so none is silently left out.
    for file in &present {
        assert!(
            verdicts.iter().any(|(listed, _)| listed == file),
            "{file} has no verdict in packaging-validation.generated.txt"
        );
    }

    let mut checked = 0;
    for (file, verdict) in &verdicts {
        let path = root().join(file);
        // The list also covers lockfiles extracted from uv's test suite (`uv-tests/`); those
        // that are not in our copy of the vectors cannot be checked.
        if !path.exists() {
            continue;
        }
        checked += 1;
        let result = Lock::from_path(&path);
        match (verdict, result) {
            (Verdict::Valid, Ok(_)) => {}
            (Verdict::Valid, Err(error)) => panic!("{file}: valid, but refused: {error}"),
            (Verdict::TomlError, Err(LockError::Toml { .. })) => {}
            (Verdict::TomlError, other) => panic!("{file}: not TOML, but got {other:?}"),
            (Verdict::Invalid { field }, Err(error)) => {
                let expected = OTHER_FIELD
                    .iter()
                    .find(|(other, theirs, _)| other == file && theirs == field)
                    .map_or(field.as_str(), |(_, _, ours)| ours);
                assert_eq!(error.field(), Some(expected), "{file}: {error}");
            }
            (Verdict::Invalid { field }, Ok(_)) => {
                panic!("{file}: invalid at `{field}`, but accepted")
            }
        }
    }
    assert_eq!(checked, present.len(), "every present file is checked");
    assert!(checked >= 24, "the vectors are where they should be");
}

fn valid_vectors() -> Vec<(String, Lock)> {
    verdicts()
        .into_iter()
        .filter(|(file, verdict)| matches!(verdict, Verdict::Valid) && root().join(file).exists())
        .map(|(file, _)| {
            let lock = Lock::from_path(root().join(&file))
                .unwrap_or_else(|error| panic!("{file}: {error}"));
            (file, lock)
        })
        .collect()
}

#[test]
fn valid_vectors_round_trip() {
    let vectors = valid_vectors();
    assert!(
        vectors.len() >= 18,
        "the valid vectors are where they should be"
    );
    for (file, lock) in vectors {
        let written = lock.to_toml_string();
        let read = Lock::from_toml_str(&written, &file).unwrap_or_else(|error| {
            panic!("{file}: our own output is refused: {error}\n{written}")
        });
        assert_eq!(read, lock, "{file}: parse(write(lock)) != lock\n{written}");
        assert_eq!(
            read.to_toml_string(),
            written,
            "{file}: write(parse(write(x))) != write(x)"
        );
        assert_eq!(lock.to_toml_string(), written, "{file}: two writes differ");
    }
}

#[test]
fn vector_details_are_read() {
    let lock = Lock::from_path(root().join("spec/pylock.example.toml")).expect("valid");
    assert_eq!(lock.created_by, "mousebender");
    assert_eq!(lock.packages.len(), 3);
    let attrs = lock
        .package(&"attrs".parse().unwrap())
        .expect("attrs is locked");
    assert_eq!(attrs.attestation_identities.len(), 1);
    let identity = &attrs.attestation_identities[0];
    assert_eq!(identity.kind, "GitHub");
    assert_eq!(
        identity
            .claims
            .get("repository")
            .and_then(toml::Value::as_str),
        Some("python-attrs/attrs")
    );
    let wheel = &attrs.wheels()[0];
    assert_eq!(wheel.size, Some(63152));
    assert_eq!(
        wheel.hashes.get("sha256"),
        Some("c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a")
    );
    assert!(
        lock.tool
            .as_ref()
            .is_some_and(|tool| tool.contains_key("mousebender"))
    );

    // PDM writes extras and dependency groups, and markers that use them.
    let pdm = Lock::from_path(root().join("pdm/pylock.toml")).expect("valid");
    assert_eq!(pdm.extras.as_ref().map(Vec::len), Some(2));
    let chardet = pdm.package(&"chardet".parse().unwrap()).expect("chardet");
    assert!(
        chardet
            .marker
            .try_to_string()
            .is_some_and(|marker| marker.contains("dependency_groups"))
    );
    assert!(chardet.tool.is_some(), "`[packages.tool.pdm]` is kept");
}
