//! The writer: exact layout, determinism, locks built in code, and credentials.

use safevenv_lock::{
    AttestationIdentity, Dependency, Directory, Hashes, Lock, Package, Sdist, Source, Violation,
    Wheel,
};
use uv_normalize::PackageName;

const SHA_A: &str = "c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a";
const SHA_B: &str = "67c7495b760168d931a10233f979b28dc04daf853b30752246f4f8471c6d68d0";

fn name(value: &str) -> PackageName {
    value.parse().expect("a valid name")
}

fn resolved_package(package: &str, version: &str, wheels: &[(&str, &str)]) -> Package {
    let mut entry = Package::from_index(
        name(package),
        version.parse().expect("a version"),
        "https://index.example/simple/".parse().expect("a URL"),
    );
    for (file, sha256) in wheels {
        entry.push_wheel(Wheel::from_url(
            format!("https://files.index.example/{file}")
                .parse()
                .expect("a URL"),
            Some(1000),
            Some("2025-01-25T11:30:10.164985Z".parse().expect("a datetime")),
            *sha256,
        ));
    }
    entry
}

/// A lock as the resolver would build it, packages and wheels deliberately out of order.
fn resolved_lock() -> Lock {
    let mut lock = Lock::new("safevenv");
    lock.requires_python = Some(">=3.10".parse().expect("specifiers"));
    lock.extras = Some(Vec::new());
    lock.dependency_groups = Some(Vec::new());

    let mut cattrs = resolved_package(
        "cattrs",
        "24.1.2",
        &[("cattrs-24.1.2-py3-none-any.whl", SHA_B)],
    );
    cattrs.dependencies.push(Dependency::named(&name("attrs")));
    cattrs.requires_python = Some(">=3.8".parse().expect("specifiers"));
    cattrs.marker = "sys_platform == 'linux'".parse().expect("a marker");

    let mut attrs = resolved_package(
        "attrs",
        "25.1.0",
        &[
            ("attrs-25.1.0-py3-none-win_amd64.whl", SHA_B),
            ("attrs-25.1.0-py3-none-any.whl", SHA_A),
        ],
    );
    attrs.attestation_identities.push(AttestationIdentity {
        kind: "GitHub".to_owned(),
        claims: toml::toml! {
            workflow = "release.yml"
            repository = "python-attrs/attrs"
        },
    });

    lock.packages = vec![cattrs, attrs];
    lock
}

const EXPECTED: &str = r#"lock-version = "1.0"
requires-python = ">=3.10"
extras = []
dependency-groups = []
created-by = "safevenv"

[[packages]]
name = "attrs"
version = "25.1.0"
index = "https://index.example/simple/"
wheels = [
    { name = "attrs-25.1.0-py3-none-any.whl", upload-time = 2025-01-25T11:30:10.164985Z, url = "https://files.index.example/attrs-25.1.0-py3-none-any.whl", size = 1000, hashes = { sha256 = "c75a69e28a550a7e93789579c22aa26b0f5b83b75dc4e08fe092980051e1090a" } },
    { name = "attrs-25.1.0-py3-none-win_amd64.whl", upload-time = 2025-01-25T11:30:10.164985Z, url = "https://files.index.example/attrs-25.1.0-py3-none-win_amd64.whl", size = 1000, hashes = { sha256 = "67c7495b760168d931a10233f979b28dc04daf853b30752246f4f8471c6d68d0" } },
]
attestation-identities = [
    { kind = "GitHub", repository = "python-attrs/attrs", workflow = "release.yml" },
]

[[packages]]
name = "cattrs"
version = "24.1.2"
marker = "sys_platform == 'linux'"
requires-python = ">=3.8"
dependencies = [
    { name = "attrs" },
]
index = "https://index.example/simple/"
wheels = [
    { name = "cattrs-24.1.2-py3-none-any.whl", upload-time = 2025-01-25T11:30:10.164985Z, url = "https://files.index.example/cattrs-24.1.2-py3-none-any.whl", size = 1000, hashes = { sha256 = "67c7495b760168d931a10233f979b28dc04daf853b30752246f4f8471c6d68d0" } },
]
"#;

#[test]
fn layout_is_exactly_as_documented() {
    let lock = resolved_lock();
    lock.validate("built in code").expect("valid");
    assert_eq!(lock.to_toml_string(), EXPECTED);
}

#[test]
fn output_is_deterministic_and_round_trips() {
    let lock = resolved_lock();
    let mut reversed = lock.clone();
    reversed.packages.reverse();
    for package in &mut reversed.packages {
        if let Source::Distributions { wheels, .. } = &mut package.source {
            wheels.reverse();
        }
    }
    let written = lock.to_toml_string();
    assert_eq!(
        reversed.to_toml_string(),
        written,
        "input order does not matter"
    );

    let read = Lock::from_toml_str(&written, "pylock.toml").expect("our output is valid");
    assert_eq!(read.to_toml_string(), written);
    // Reading puts the lock in canonical order, so a reread lock equals itself rewritten.
    assert_eq!(
        Lock::from_toml_str(&read.to_toml_string(), "again").expect("valid"),
        read
    );
    assert_eq!(
        read.package(&name("cattrs")).map(|p| p.dependencies.len()),
        Some(1)
    );
}

#[test]
fn hashes_are_written_sorted_by_algorithm() {
    let mut lock = resolved_lock();
    let wheel = match &mut lock.packages[1].source {
        Source::Distributions { wheels, .. } => &mut wheels[0],
        _ => panic!("built with wheels"),
    };
    wheel.hashes = Hashes(
        [
            ("sha512".to_owned(), "a".repeat(128)),
            ("blake2b".to_owned(), "b".repeat(128)),
            ("sha256".to_owned(), "d".repeat(64)),
        ]
        .into(),
    );
    let written = lock.to_toml_string();
    let blake2b = written.find("blake2b = ").expect("written");
    let sha256 = written
        .find(&format!("sha256 = \"{}\"", "d".repeat(64)))
        .expect("written");
    let sha512 = written.find("sha512 = ").expect("written");
    assert!(blake2b < sha256 && sha256 < sha512, "{written}");
}

#[test]
fn strings_are_escaped_by_toml() {
    let mut lock = Lock::new("tool with \"quotes\" and \\ backslash\nand a newline");
    lock.packages.push(Package {
        source: Source::Directory(Directory {
            path: "dir with 'quote' and \"double\"".to_owned(),
            editable: Some(true),
            subdirectory: None,
        }),
        ..resolved_package("a", "1.0", &[])
    });
    let mut tool = toml::Table::new();
    tool.insert("key with space".to_owned(), toml::Value::Integer(1));
    lock.tool = Some(tool);
    let read = Lock::from_toml_str(&lock.to_toml_string(), "escaped").expect("valid TOML");
    assert_eq!(read.created_by, lock.created_by);
    assert_eq!(read, lock);
}

#[test]
fn a_package_without_artifacts_is_not_written_valid() {
    let mut lock = Lock::new("safevenv");
    lock.packages.push(resolved_package("attrs", "25.1.0", &[]));
    let error = lock.validate("built in code").expect_err("no source");
    assert_eq!(error.field(), Some("packages[0]"));
    assert!(matches!(error.violation(), Some(Violation::NoSource)));
}

#[test]
fn wheel_names_come_from_decoded_urls() {
    let mut lock = Lock::new("safevenv");
    let mut package = resolved_package(
        "torch",
        "2.0.0+cpu",
        &[("torch-2.0.0%2Bcpu-cp312-cp312-linux_x86_64.whl", SHA_A)],
    );
    package.set_sdist(Sdist::from_url(
        "https://files.index.example/torch-2.0.0%2Bcpu.tar.gz"
            .parse()
            .expect("a URL"),
        None,
        None,
        SHA_B,
    ));
    lock.packages.push(package);
    lock.validate("built in code").expect("valid");
    let package = &lock.packages[0];
    assert_eq!(
        package.wheels()[0].file_name().as_deref(),
        Some("torch-2.0.0+cpu-cp312-cp312-linux_x86_64.whl")
    );
    assert_eq!(
        package.sdist().and_then(Sdist::file_name).as_deref(),
        Some("torch-2.0.0+cpu.tar.gz")
    );
}

/// PEP 751 says nothing of secrets, but a lockfile is shared: a URL with a user name or token
/// must be found before a writer publishes it.
#[test]
fn credentials_in_urls_are_found() {
    let clean = resolved_lock();
    assert!(!clean.contains_credentials());
    assert!(clean.credential_fields().is_empty());

    let text = clean.to_toml_string().replace(
        "https://files.index.example/cattrs-",
        "https://user:token@files.index.example/cattrs-",
    );
    let hostile = Lock::from_toml_str(&text, "hostile").expect("PEP 751 allows it");
    assert!(hostile.contains_credentials());
    assert_eq!(hostile.credential_fields(), ["packages[1].wheels[0].url"]);

    let mut token_only = resolved_lock();
    token_only.packages[0].index = Some(
        "https://__token__@index.example/simple/"
            .parse()
            .expect("a URL"),
    );
    assert_eq!(token_only.credential_fields(), ["packages[0].index"]);

    let mut password_only = resolved_lock();
    password_only.packages[0].source = Source::Distributions {
        sdist: Some(Sdist::from_url(
            "https://:secret@files.index.example/attrs-25.1.0.tar.gz"
                .parse()
                .expect("a URL"),
            None,
            None,
            SHA_A,
        )),
        wheels: Vec::new(),
    };
    assert_eq!(password_only.credential_fields(), ["packages[0].sdist.url"]);
}

/// A signed query or a token in the path is as much a secret as a password: found the same way.
#[test]
fn query_and_path_tokens_in_urls_are_found() {
    let clean = resolved_lock().to_toml_string();
    for (from, to) in [
        (".whl\", size", ".whl?X-Amz-Signature=s3cret\", size"),
        (".whl\", size", ".whl?sig=s3cret&se=2030\", size"),
        (".whl\", size", ".whl?access_token=s3cret\", size"),
        (
            "https://files.index.example/",
            "https://files.index.example/glpat-A1b2C3d4E5f6G7h8I9j0/",
        ),
        (".whl\", size", ".whl?v=ghp_A1b2C3d4E5f6G7h8I9j0K1\", size"),
    ] {
        let text = clean.replacen(from, to, 1);
        assert_ne!(text, clean, "{from}");
        let hostile = Lock::from_toml_str(&text, "hostile").expect("PEP 751 allows it");
        assert_eq!(hostile.credential_fields().len(), 1, "{to}");
    }
    // Honest queries and the shared `git@` of SSH are not secrets.
    let honest = clean.replacen(".whl\", size", ".whl?format=wheel&v=2\", size", 1);
    assert_ne!(honest, clean);
    let honest = Lock::from_toml_str(&honest, "honest").expect("valid");
    assert!(!honest.contains_credentials());
}

#[test]
fn an_always_true_environment_means_no_environments() {
    let mut lock = resolved_lock();
    lock.environments = Some(vec![
        "sys_platform == 'linux'".parse().expect("a marker"),
        "sys_platform == 'win32' or sys_platform != 'win32'"
            .parse()
            .expect("a marker"),
    ]);
    let read = Lock::from_toml_str(&lock.to_toml_string(), "x").expect("valid");
    assert_eq!(read.environments, None);

    lock.environments = Some(vec![
        "sys_platform == 'win32'".parse().expect("a marker"),
        "sys_platform == 'linux'".parse().expect("a marker"),
    ]);
    let written = lock.to_toml_string();
    assert!(
        written.contains(
            "environments = [\"sys_platform == 'linux'\", \"sys_platform == 'win32'\"]\n"
        ),
        "{written}"
    );
}
