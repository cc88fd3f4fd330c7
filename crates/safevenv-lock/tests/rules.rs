//! Each rule of the reader: a lockfile breaking it is refused, naming the field, and the same
//! lockfile without the fault is accepted.

use safevenv_lock::{Lock, LockError, Violation};

const SHA256: &str = "c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a";

/// A valid lockfile with one wheel; `{package}` and `{wheel}` are spliced in by `lock_with`.
fn lock_with(package: &str, wheel: &str) -> String {
    format!(
        r#"lock-version = "1.0"
created-by = "test"

[[packages]]
name = "attrs"
version = "25.1.0"
{package}
wheels = [
    {{ name = "attrs-25.1.0-py3-none-any.whl", url = "https://files.index.example/attrs-25.1.0-py3-none-any.whl", {wheel} }},
]
"#
    )
}

fn good_wheel() -> String {
    format!(
        r#"size = 63152, upload-time = 2025-01-25T11:30:10.164985Z, hashes = {{ sha256 = "{SHA256}" }}"#
    )
}

fn refused(text: &str) -> (String, Violation) {
    match Lock::from_toml_str(text, "pylock.toml") {
        Ok(lock) => panic!("accepted:\n{text}\n{lock:?}"),
        Err(LockError::Invalid {
            origin,
            field,
            violation,
        }) => {
            assert_eq!(origin, "pylock.toml");
            (field, violation)
        }
        Err(other) => panic!("refused for another reason: {other}"),
    }
}

fn accepted(text: &str) -> Lock {
    Lock::from_toml_str(text, "pylock.toml").unwrap_or_else(|error| panic!("{error}\n{text}"))
}

#[test]
fn the_base_lockfile_is_accepted() {
    let lock = accepted(&lock_with("", &good_wheel()));
    assert_eq!(lock.packages[0].wheels()[0].size, Some(63152));
    assert!(!lock.is_newer_minor());
}

#[test]
fn error_names_file_field_and_rule() {
    let text = format!(
        r#"lock-version = "1.0"
created-by = "test"

[[packages]]
name = "a"
directory = {{ path = "a" }}

[[packages]]
name = "b"
directory = {{ path = "b" }}

[[packages]]
name = "attrs"
wheels = [
    {{ name = "attrs-25.1.0-py3-none-any.whl", url = "https://files.index.example/x.whl", hashes = {{ sha256 = "{SHA256}" }} }},
    {{ url = "https://files.index.example/attrs-25.1.0-py3-none-any.whl" }},
]
"#
    );
    let error = Lock::from_toml_str(&text, "project/pylock.toml").expect_err("refused");
    assert_eq!(error.field(), Some("packages[2].wheels[1].hashes"));
    assert!(matches!(error.violation(), Some(Violation::Missing)));
    assert_eq!(
        error.to_string(),
        "lockfile `project/pylock.toml` is invalid: `packages[2].wheels[1].hashes`: missing"
    );
}

#[test]
fn lock_version_is_required_and_major_1() {
    let good = lock_with("", &good_wheel());

    let (field, violation) = refused(&good.replace("lock-version = \"1.0\"\n", ""));
    assert_eq!(field, "lock-version");
    assert!(matches!(violation, Violation::Missing));

    let (field, violation) = refused(&good.replace("\"1.0\"", "\"2.0\""));
    assert_eq!(field, "lock-version");
    assert!(matches!(
        violation,
        Violation::UnsupportedLockVersion { .. }
    ));

    let (field, violation) = refused(&good.replace("\"1.0\"", "\"0.9\""));
    assert_eq!(field, "lock-version");
    assert!(matches!(
        violation,
        Violation::UnsupportedLockVersion { .. }
    ));

    let (field, violation) = refused(&good.replace("\"1.0\"", "\"one\""));
    assert_eq!(field, "lock-version");
    assert!(matches!(violation, Violation::InvalidLockVersion { .. }));

    let (field, violation) = refused(&good.replace("\"1.0\"", "1.0"));
    assert_eq!(field, "lock-version");
    assert!(matches!(
        violation,
        Violation::WrongType {
            expected: "string",
            found: "float"
        }
    ));
}

#[test]
fn unknown_keys_are_refused_in_1_0_and_reported_in_a_newer_minor() {
    let text = lock_with("homepage = \"https://example.invalid\"", &good_wheel());
    let (field, violation) = refused(&text);
    assert_eq!(field, "packages[0].homepage");
    assert!(matches!(violation, Violation::UnknownKey));

    let newer = text.replace("\"1.0\"", "\"1.1\"");
    let parsed = Lock::parse_toml_str(&newer, "pylock.toml").expect("a newer minor is read");
    assert!(parsed.lock.is_newer_minor());
    assert_eq!(parsed.ignored_keys, ["packages[0].homepage"]);
    // It is written as the version we know, without the keys we do not.
    let written = parsed.lock.to_toml_string();
    assert!(written.starts_with("lock-version = \"1.0\"\n"));
    assert!(!written.contains("homepage"));

    // `[tool]` tables take anything.
    let lock = accepted(&lock_with(
        "tool = { x = { anything = [1, 2] } }",
        &good_wheel(),
    ));
    assert!(lock.packages[0].tool.is_some());
}

#[test]
fn required_top_level_keys() {
    let good = lock_with("", &good_wheel());
    let (field, violation) = refused(&good.replace("created-by = \"test\"\n", ""));
    assert_eq!(field, "created-by");
    assert!(matches!(violation, Violation::Missing));

    let (field, violation) = refused("lock-version = \"1.0\"\ncreated-by = \"test\"\n");
    assert_eq!(field, "packages");
    assert!(matches!(violation, Violation::Missing));

    let empty = accepted("lock-version = \"1.0\"\ncreated-by = \"test\"\npackages = []\n");
    assert!(empty.packages.is_empty());
}

#[test]
fn names_must_be_valid_and_normalized() {
    let good = lock_with("", &good_wheel());
    let (field, violation) = refused(&good.replace("name = \"attrs\"", "name = \"Attrs\""));
    assert_eq!(field, "packages[0].name");
    assert!(
        matches!(violation, Violation::NameNotNormalized { normalized, .. } if normalized == "attrs")
    );

    let (field, violation) = refused(&good.replace("name = \"attrs\"", "name = \"-attrs\""));
    assert_eq!(field, "packages[0].name");
    assert!(matches!(violation, Violation::InvalidName { .. }));

    let extras = good.replace(
        "created-by",
        "extras = [\"ok\", \"Not_Normal\"]\ncreated-by",
    );
    let (field, violation) = refused(&extras);
    assert_eq!(field, "extras[1]");
    assert!(matches!(violation, Violation::NameNotNormalized { .. }));
}

#[test]
fn versions_markers_and_specifiers_must_parse() {
    let good = lock_with("", &good_wheel());
    let (field, violation) = refused(&good.replace("version = \"25.1.0\"", "version = \"25.x\""));
    assert_eq!(field, "packages[0].version");
    assert!(matches!(violation, Violation::InvalidVersion { .. }));

    let (field, violation) = refused(&lock_with("marker = \"sys_platform ==\"", &good_wheel()));
    assert_eq!(field, "packages[0].marker");
    assert!(matches!(violation, Violation::InvalidMarker { .. }));

    let (field, violation) = refused(&lock_with(
        "requires-python = \">=3.12.[X]\"",
        &good_wheel(),
    ));
    assert_eq!(field, "packages[0].requires-python");
    assert!(matches!(violation, Violation::InvalidSpecifiers { .. }));

    let environments = good.replace(
        "created-by",
        "environments = [\"sys_platform == 'linux'\", \"os_name = 'nt'\"]\ncreated-by",
    );
    let (field, violation) = refused(&environments);
    assert_eq!(field, "environments[1]");
    assert!(matches!(violation, Violation::InvalidMarker { .. }));

    let lock = accepted(&lock_with(
        "marker = \"sys_platform == 'linux' and 'dev' in dependency_groups\"\nrequires-python = \">=3.8\"",
        &good_wheel(),
    ));
    assert!(lock.packages[0].requires_python.is_some());
}

#[test]
fn one_source_per_package() {
    let conflicting = lock_with("directory = { path = \"src\" }", &good_wheel());
    let (field, violation) = refused(&conflicting);
    assert_eq!(field, "packages[0]");
    assert!(
        matches!(violation, Violation::ConflictingSources { sources } if sources == "`directory`, `wheels`")
    );

    let two_direct = r#"lock-version = "1.0"
created-by = "test"
[[packages]]
name = "a"
directory = { path = "a" }
vcs = { type = "git", url = "https://git.example/a", commit-id = "0123abc" }
"#;
    let (field, violation) = refused(two_direct);
    assert_eq!(field, "packages[0]");
    assert!(matches!(violation, Violation::ConflictingSources { .. }));

    let (field, violation) =
        refused("lock-version = \"1.0\"\ncreated-by = \"t\"\n[[packages]]\nname = \"a\"\n");
    assert_eq!(field, "packages[0]");
    assert!(matches!(violation, Violation::NoSource));

    // An sdist and wheels together are one source.
    let both = lock_with(
        &format!(
            "sdist = {{ url = \"https://files.index.example/attrs-25.1.0.tar.gz\", hashes = {{ sha256 = \"{SHA256}\" }} }}"
        ),
        &good_wheel(),
    );
    let lock = accepted(&both);
    assert!(lock.packages[0].sdist().is_some());
    assert_eq!(lock.packages[0].wheels().len(), 1);
}

#[test]
fn hashes_are_required_non_empty_and_well_formed() {
    let (field, violation) = refused(&lock_with("", "size = 1"));
    assert_eq!(field, "packages[0].wheels[0].hashes");
    assert!(matches!(violation, Violation::Missing));

    let (field, violation) = refused(&lock_with("", "hashes = {}"));
    assert_eq!(field, "packages[0].wheels[0].hashes");
    assert!(matches!(violation, Violation::NoHashes));

    let short = lock_with("", &format!("hashes = {{ sha256 = \"{}\" }}", &SHA256[1..]));
    let (field, violation) = refused(&short);
    assert_eq!(field, "packages[0].wheels[0].hashes.sha256");
    assert!(matches!(
        violation,
        Violation::MalformedHash {
            expected_len: 64,
            ..
        }
    ));

    let not_hex = lock_with(
        "",
        &format!("hashes = {{ sha256 = \"{}z\" }}", &SHA256[1..]),
    );
    let (field, violation) = refused(&not_hex);
    assert_eq!(field, "packages[0].wheels[0].hashes.sha256");
    assert!(matches!(violation, Violation::MalformedHash { .. }));

    let (field, violation) = refused(&lock_with("", "hashes = { sha256 = 1 }"));
    assert_eq!(field, "packages[0].wheels[0].hashes.sha256");
    assert!(matches!(violation, Violation::WrongType { .. }));

    let (field, violation) = refused(&lock_with("", "hashes = { whirlpool = \"\" }"));
    assert_eq!(field, "packages[0].wheels[0].hashes.whirlpool");
    assert!(matches!(violation, Violation::EmptyHash));

    // An algorithm we do not know is kept, next to one we do, sorted by algorithm.
    let lock = accepted(&lock_with(
        "",
        &format!("hashes = {{ whirlpool = \"abc\", sha256 = \"{SHA256}\" }}"),
    ));
    let hashes = &lock.packages[0].wheels()[0].hashes;
    let algorithms: Vec<&str> = hashes.0.keys().map(String::as_str).collect();
    assert_eq!(algorithms, ["sha256", "whirlpool"]);

    let archive = r#"lock-version = "1.0"
created-by = "test"
[[packages]]
name = "a"
archive = { url = "https://files.index.example/a.tar.gz" }
"#;
    let (field, violation) = refused(archive);
    assert_eq!(field, "packages[0].archive.hashes");
    assert!(matches!(violation, Violation::Missing));
}

#[test]
fn upload_time_is_a_utc_datetime() {
    let with_time = |time: &str| {
        lock_with(
            "",
            &format!("upload-time = {time}, hashes = {{ sha256 = \"{SHA256}\" }}"),
        )
    };
    let (field, violation) = refused(&with_time("2025-01-25"));
    assert_eq!(field, "packages[0].wheels[0].upload-time");
    assert!(matches!(violation, Violation::NotADatetime { .. }));

    let (field, violation) = refused(&with_time("2025-01-25T11:30:10+02:00"));
    assert_eq!(field, "packages[0].wheels[0].upload-time");
    assert!(matches!(violation, Violation::NotUtc { .. }));

    let (field, violation) = refused(&with_time("\"2025-01-25T11:30:10Z\""));
    assert_eq!(field, "packages[0].wheels[0].upload-time");
    assert!(matches!(violation, Violation::WrongType { .. }));

    accepted(&with_time("2025-01-25T11:30:10+00:00"));
    accepted(&with_time("2025-01-25T11:30:10.164985Z"));
}

#[test]
fn sizes_paths_and_urls() {
    let hashes = format!("hashes = {{ sha256 = \"{SHA256}\" }}");
    let (field, violation) = refused(&lock_with("", &format!("size = -1, {hashes}")));
    assert_eq!(field, "packages[0].wheels[0].size");
    assert!(matches!(violation, Violation::NegativeSize { value: -1 }));

    let no_location = lock_with("", &hashes).replace(
        ", url = \"https://files.index.example/attrs-25.1.0-py3-none-any.whl\"",
        "",
    );
    let (field, violation) = refused(&no_location);
    assert_eq!(field, "packages[0].wheels[0]");
    assert!(matches!(violation, Violation::NoPathOrUrl));

    let bad_url = lock_with("", &hashes).replace("https://files.index.example/", "not a url/");
    let (field, violation) = refused(&bad_url);
    assert_eq!(field, "packages[0].wheels[0].url");
    assert!(matches!(violation, Violation::InvalidUrl { .. }));

    let (field, violation) = refused(&lock_with("index = \"/simple\"", &hashes));
    assert_eq!(field, "packages[0].index");
    assert!(matches!(violation, Violation::InvalidUrl { .. }));
}

#[test]
fn wheel_file_names_must_match_their_package() {
    let good = lock_with("", &good_wheel());
    let (field, violation) = refused(&good.replace(
        "name = \"attrs-25.1.0-py3-none-any.whl\"",
        "name = \"attrs-25.1.0.whl\"",
    ));
    assert_eq!(field, "packages[0].wheels[0].name");
    assert!(matches!(violation, Violation::InvalidWheelFilename { .. }));

    // A wheel of another project listed under `attrs` would install that project instead.
    let (field, violation) = refused(&good.replace(
        "name = \"attrs-25.1.0-py3-none-any.whl\"",
        "name = \"evil-25.1.0-py3-none-any.whl\"",
    ));
    assert_eq!(field, "packages[0].wheels[0].name");
    assert!(matches!(violation, Violation::FilenameNameMismatch { .. }));

    let (field, violation) = refused(&good.replace(
        "name = \"attrs-25.1.0-py3-none-any.whl\"",
        "name = \"attrs-24.0.0-py3-none-any.whl\"",
    ));
    assert_eq!(field, "packages[0].wheels[0].name");
    assert!(matches!(
        violation,
        Violation::FilenameVersionMismatch { .. }
    ));

    // Without `name`, the URL's last segment is the file name.
    let unnamed = good.replace("name = \"attrs-25.1.0-py3-none-any.whl\", ", "");
    accepted(&unnamed);
    let (field, violation) = refused(&unnamed.replace("attrs-25.1.0-py3", "other-25.1.0-py3"));
    assert_eq!(field, "packages[0].wheels[0]");
    assert!(matches!(violation, Violation::FilenameNameMismatch { .. }));
}

#[test]
fn sdist_file_names_must_match_their_package() {
    let sdist = |file: &str| {
        format!(
            r#"lock-version = "1.0"
created-by = "test"
[[packages]]
name = "charset-normalizer"
version = "2.0.12"
sdist = {{ path = "dist/{file}", hashes = {{ sha256 = "{SHA256}" }} }}
"#
        )
    };
    // Unnormalized sdist names are common in old releases.
    accepted(&sdist("charset-normalizer-2.0.12.tar.gz"));
    accepted(&sdist("charset_normalizer-2.0.12.zip"));

    let (field, violation) = refused(&sdist("charset-normalizer-2.0.12.tar.bz2"));
    assert_eq!(field, "packages[0].sdist");
    assert!(matches!(violation, Violation::SdistExtension { .. }));

    let (field, violation) = refused(&sdist("requests-2.0.12.tar.gz"));
    assert_eq!(field, "packages[0].sdist");
    assert!(matches!(violation, Violation::InvalidSdistFilename { .. }));

    let (field, violation) = refused(&sdist("charset-normalizer-2.0.11.tar.gz"));
    assert_eq!(field, "packages[0].sdist");
    assert!(matches!(
        violation,
        Violation::FilenameVersionMismatch { .. }
    ));
}

#[test]
fn vcs_and_directory_sources() {
    let vcs = |table: &str| {
        format!(
            "lock-version = \"1.0\"\ncreated-by = \"t\"\n[[packages]]\nname = \"a\"\nvcs = {table}\n"
        )
    };
    let lock = accepted(&vcs(
        r#"{ type = "git", url = "https://git.example/a", requested-revision = "main", commit-id = "0123abc", subdirectory = "sub" }"#,
    ));
    assert!(
        matches!(&lock.packages[0].source, safevenv_lock::Source::Vcs(vcs) if vcs.commit_id == "0123abc")
    );

    let (field, violation) = refused(&vcs(
        r#"{ type = "cvs", url = "https://git.example/a", commit-id = "1" }"#,
    ));
    assert_eq!(field, "packages[0].vcs.type");
    assert!(matches!(violation, Violation::UnknownVcs { .. }));

    let (field, violation) = refused(&vcs(r#"{ type = "git", url = "https://git.example/a" }"#));
    assert_eq!(field, "packages[0].vcs.commit-id");
    assert!(matches!(violation, Violation::Missing));

    let (field, violation) = refused(&vcs(r#"{ type = "git", commit-id = "1" }"#));
    assert_eq!(field, "packages[0].vcs");
    assert!(matches!(violation, Violation::NoPathOrUrl));

    let directory = "lock-version = \"1.0\"\ncreated-by = \"t\"\n[[packages]]\nname = \"a\"\ndirectory = { editable = \"yes\", path = \"a\" }\n";
    let (field, violation) = refused(directory);
    assert_eq!(field, "packages[0].directory.editable");
    assert!(matches!(
        violation,
        Violation::WrongType {
            expected: "boolean",
            ..
        }
    ));
}

#[test]
fn attestation_identities_need_a_kind_and_keep_the_rest() {
    let text = lock_with(
        "attestation-identities = [{ kind = \"GitHub\", repository = \"python-attrs/attrs\", workflow = \"release.yml\" }]",
        &good_wheel(),
    );
    let lock = accepted(&text);
    let identity = &lock.packages[0].attestation_identities[0];
    assert_eq!(identity.kind, "GitHub");
    assert_eq!(identity.claims.len(), 2);
    let written = lock.to_toml_string();
    assert!(written.contains(
        "attestation-identities = [\n    { kind = \"GitHub\", repository = \"python-attrs/attrs\", workflow = \"release.yml\" },\n]\n"
    ));
    assert_eq!(accepted(&written), lock);

    let (field, violation) = refused(&lock_with(
        "attestation-identities = [{ repository = \"python-attrs/attrs\" }]",
        &good_wheel(),
    ));
    assert_eq!(field, "packages[0].attestation-identities[0].kind");
    assert!(matches!(violation, Violation::Missing));
}

#[test]
fn not_toml_and_unreadable_files() {
    let error = Lock::from_toml_str("this is not = = toml", "bad.toml").expect_err("refused");
    assert!(matches!(error, LockError::Toml { ref origin, .. } if origin == "bad.toml"));
    assert_eq!(error.field(), None);

    let error = Lock::from_path("/nonexistent/pylock.toml").expect_err("refused");
    assert!(matches!(error, LockError::Read { .. }));
    assert!(error.to_string().contains("/nonexistent/pylock.toml"));
}

#[test]
fn overlapping_entries_are_listed() {
    let text = format!(
        r#"lock-version = "1.0"
created-by = "test"
[[packages]]
name = "a"
version = "1.0"
marker = "sys_platform == 'win32'"
directory = {{ path = "a1" }}
[[packages]]
name = "a"
version = "2.0"
marker = "sys_platform == 'linux'"
directory = {{ path = "a2" }}
[[packages]]
name = "a"
version = "3.0"
marker = "python_version >= '3.12'"
directory = {{ path = "a3" }}
[[packages]]
name = "attrs"
wheels = [{{ url = "https://files.index.example/attrs-25.1.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA256}" }} }}]
"#
    );
    let lock = accepted(&text);
    // Packages come back sorted by name and version: a 1.0, a 2.0, a 3.0, attrs.
    assert_eq!(lock.overlapping_entries(), [(0, 2), (1, 2)]);
    let name = "a".parse().unwrap();
    assert_eq!(lock.packages_named(&name).count(), 3);
    assert_eq!(lock.iter().count(), 4);
}

#[test]
fn the_cause_behind_a_rule_is_the_next_error() {
    use std::error::Error as _;

    let text = lock_with("marker = \"sys_platform ==\"", &good_wheel());
    let error = Lock::from_toml_str(&text, "pylock.toml").expect_err("refused");
    assert!(
        error
            .to_string()
            .ends_with("`packages[0].marker`: `sys_platform ==` is not a valid environment marker")
    );
    let cause = error
        .source()
        .expect("the marker parser's error")
        .to_string();
    assert!(cause.contains("sys_platform =="), "{cause}");

    let error = Lock::from_toml_str("a = ", "pylock.toml").expect_err("refused");
    assert!(error.source().is_some());
}
