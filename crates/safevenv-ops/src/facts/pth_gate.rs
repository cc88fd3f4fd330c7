//! The `.pth` classification travels from the wheel reader to the policy gate: each hostile
//! variant of a `.pth` file inside a real wheel is refused by `contents.pth-exec`, and the honest
//! path-only files pass.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use safevenv_installer::{Destinations, EnvironmentLayout};
use safevenv_policy::{
    Artifact, ArtifactKind, ArtifactUrl, AttestationFacts, ConfiguredIndex, HashOrigin, HashPin,
    LicenseFacts, Listing, Origin, PackageFacts, Policy, Preset, ResolvedSet, RuleId, Source,
};
use safevenv_python::SchemePaths;
use safevenv_test_index::WheelSpec;
use safevenv_wheel::{Limits, Wheel};
use url::Url;
use uv_distribution_filename::WheelFilename;
use uv_normalize::PackageName;
use uv_pep440::Version;

use super::add_wheel_facts;

const INDEX: &str = "https://index.example/simple/";

fn layout() -> EnvironmentLayout {
    let prefix = Path::new("/venv");
    let site_packages = prefix.join("lib/python3.12/site-packages");
    EnvironmentLayout {
        prefix: prefix.to_path_buf(),
        sys_executable: prefix.join("bin/python3"),
        python_version: (3, 12),
        os_name: "posix".to_string(),
        scheme: SchemePaths {
            purelib: site_packages.clone(),
            platlib: site_packages,
            scripts: prefix.join("bin"),
            include: prefix.join("include/python3.12"),
            data: prefix.to_path_buf(),
        },
    }
}

/// The default preset's verdict on a wheel from the default index installing `demo.pth`
/// with `content`: the rules that refused, with the report.
fn judge(content: &[u8]) -> (Vec<RuleId>, String) {
    judge_built(content, &[])
}

/// [`judge`] for a wheel whose facts name `editable_project` (what the build stage sets for an
/// editable wheel it built from a local project).
fn judge_built(content: &[u8], editable_project: &[&str]) -> (Vec<RuleId>, String) {
    let built = WheelSpec::new("demo", "1.0")
        .metadata_field("License-Expression", "MIT")
        .file("demo/__init__.py", "")
        .file("demo.pth", content)
        .build()
        .unwrap();
    let filename = WheelFilename::from_str(&built.filename).unwrap();
    let wheel = Wheel::from_reader(
        Cursor::new(built.bytes),
        &built.filename,
        &filename,
        &Limits::default(),
    )
    .unwrap();
    let mut facts = PackageFacts {
        name: PackageName::from_str("demo").unwrap(),
        version: Some(Version::from_str("1.0").unwrap()),
        source: Source::Index {
            url: Url::parse(INDEX).unwrap(),
        },
        artifact: Artifact {
            kind: ArtifactKind::Wheel,
            filename: built.filename.clone(),
            sha256: Some(HashPin {
                hex: "ab".repeat(32),
                origin: HashOrigin::Index,
            }),
            url: Some(ArtifactUrl {
                url: Url::parse(INDEX)
                    .unwrap()
                    .join("../files/demo.whl")
                    .unwrap(),
                listing: Listing::FromIndexPage,
            }),
        },
        yanked: false,
        upload_time: Some("2024-01-01T00:00:00Z".parse().unwrap()),
        also_on_indexes: Vec::new(),
        license: LicenseFacts::default(),
        requested_directly: true,
        contents: None,
        editable_project: editable_project.iter().map(PathBuf::from).collect(),
        attestation: AttestationFacts::default(),
        vulnerabilities: Vec::new(),
        fixes_known_vulnerability: false,
    };
    let contents = Destinations::new(&layout())
        .contents_facts(&[(&wheel, "key".to_string())])
        .pop()
        .unwrap();
    add_wheel_facts(&mut facts, &wheel, contents);
    let set = ResolvedSet {
        now: "2025-06-01T00:00:00Z".parse().unwrap(),
        python_version: Some((3, 12)),
        indexes: vec![ConfiguredIndex {
            url: Url::parse(INDEX).unwrap(),
            default: true,
            origin: Origin::CommandLine,
        }],
        packages: vec![facts],
        installed: Vec::new(),
    };
    match Policy::preset(Preset::Default).unwrap().evaluate(&set) {
        Ok(_) => (Vec::new(), String::new()),
        Err(refusals) => (
            refusals
                .refusals()
                .iter()
                .map(|refusal| refusal.rule)
                .collect(),
            refusals.to_string(),
        ),
    }
}

/// `.pth` files hiding an `import` line from a reader that splits at `\n` only or decodes
/// only UTF-8: each line end some CPython knows, a BOM, and bytes a locale decoding reads.
fn hostile_variants() -> Vec<Vec<u8>> {
    let payload = b"import os; os.system('id')";
    let mut variants = Vec::new();
    for line_end in [
        "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\u{85}", "\u{2028}",
        "\u{2029}",
    ] {
        for before in ["/opt/x", "# a comment", "", " "] {
            variants.push([before.as_bytes(), line_end.as_bytes(), payload].concat());
        }
    }
    variants.push([b"\xef\xbb\xbf".as_slice(), payload].concat());
    // Not UTF-8: Latin-1 reads 0x85 as U+0085, GB18030 reads `81 36 A6 35` as U+2028.
    for hidden_line_end in [b"\x85".as_slice(), b"\x816\xa65", b"\xff\n"] {
        variants.push([b"/opt/x".as_slice(), hidden_line_end, payload].concat());
    }
    variants
}

#[test]
fn hostile_pth_variants_are_refused_by_pth_exec() {
    for content in hostile_variants() {
        let (rules, report) = judge(&content);
        assert_eq!(
            rules,
            [RuleId::ContentsPthExec],
            "{}: {report}",
            content.escape_ascii()
        );
        assert!(report.contains("demo.pth"), "{report}");
    }
}

#[test]
fn path_lines_to_code_no_rule_sees_are_judged_as_code() {
    for content in [
        b"/opt/lib\n".as_slice(),
        b"/tmp/shared-by-everyone\n",
        b"../../../../../../tmp/x\n",
        b"bundle.zip\n",
        b"vendored.egg\n",
    ] {
        let (rules, report) = judge(content);
        assert_eq!(
            rules,
            [RuleId::ContentsPthExec],
            "{}: {report}",
            content.escape_ascii()
        );
    }
}

#[test]
fn honest_path_only_pth_files_pass() {
    // Relative directories inside the environment: absolute paths put code no rule sees on
    // the path, and are judged as code (below).
    for content in [
        b"extra_lib\n".as_slice(),
        b"# a comment\r\nextra_lib\r\n\r\n",
        b"\xef\xbb\xbfextra_lib\n",
        b"../shared\x0cextra_lib\n",
        b"importlib_paths\n",
        "caf\u{e9}\u{2028}extra_lib\n".as_bytes(),
    ] {
        let (rules, report) = judge(content);
        assert!(rules.is_empty(), "{}: {report}", content.escape_ascii());
    }
}

#[test]
fn an_editable_wheel_may_put_its_own_project_on_the_path() {
    for content in [
        b"/home/me/app\n".as_slice(),
        b"/home/me/app/src\n",
        b"# editable\n/home/me/app/src\n/home/me/app/lib\n",
    ] {
        let (rules, report) = judge_built(content, &["/home/me/app"]);
        assert!(rules.is_empty(), "{}: {report}", content.escape_ascii());
    }
}

#[test]
fn an_editable_wheel_may_not_put_anything_else_on_the_path_nor_run_code() {
    for content in [
        // Another place, a sibling whose name extends the project's, a climb out of the
        // project, an executable line, and a good line hiding an executable one.
        b"/opt/lib\n".as_slice(),
        b"/home/me/app-evil\n",
        b"/home/me/app/../other\n",
        b"/home/me/app/./../other\n",
        b"import os; os.system('id')\n",
        b"/home/me/app/src\nimport os; os.system('id')\n",
        b"/home/me/app/src\n/opt/lib\n",
    ] {
        let (rules, report) = judge_built(content, &["/home/me/app"]);
        assert_eq!(
            rules,
            [RuleId::ContentsPthExec],
            "{}: {report}",
            content.escape_ascii()
        );
    }
    // Without the build stage's fact, the project's own path is judged as code.
    let (rules, _) = judge(b"/home/me/app/src\n");
    assert_eq!(rules, [RuleId::ContentsPthExec]);
}
