//! Loading: presets, errors with file/line/key, discovery order, organisation merging, reports.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use safevenv_policy::{
    ArtifactKind, Discovery, Policy, PolicyError, PolicyOrigin, PolicyWarning, Preset, RuleId,
    Source, explain, starter_file,
};

fn write(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

fn discovery(project_dir: &Path, org: Option<PathBuf>) -> Discovery {
    Discovery {
        explicit: None,
        project_dir: project_dir.to_path_buf(),
        org_policy_env: org,
        // A path that does not exist, so the machine's own /etc never leaks into a test.
        org_policy_default: project_dir.join("no-such-org-policy.toml"),
    }
}

fn invalid(result: Result<Policy, PolicyError>) -> (PathBuf, usize, Option<String>, String) {
    match result {
        Err(PolicyError::Invalid {
            path,
            line,
            key,
            message,
            ..
        }) => (path, line, key, message),
        other => panic!("expected an invalid-policy error, got {other:?}"),
    }
}

fn sdist_set() -> safevenv_policy::ResolvedSet {
    let mut dist = package("foo", "1.0");
    dist.artifact.kind = ArtifactKind::Sdist;
    dist.artifact.filename = "foo-1.0.tar.gz".to_string();
    set(vec![dist])
}

// Presets and documentation.

#[test]
fn presets_and_starter_parse() {
    for preset in Preset::ALL {
        Policy::preset(preset).unwrap();
        assert!(
            preset.text().lines().next().unwrap().starts_with('#'),
            "{preset} is commented"
        );
    }
    Policy::from_texts(None, Some(&text("/proj/safevenv.toml", starter_file()))).unwrap();
}

#[test]
fn every_rule_is_documented_and_explained() {
    let docs =
        fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.md"))
            .unwrap();
    for rule in RuleId::ALL {
        assert!(
            docs.contains(&format!("### `{rule}`")),
            "docs/policy.md lacks a section for `{rule}`"
        );
        assert!(
            explain(rule).starts_with(&format!("{rule}:")),
            "explain({rule})"
        );
        assert_eq!(rule.as_str().parse::<RuleId>().unwrap(), rule);
    }
    assert!("no.such-rule".parse::<RuleId>().is_err());
}

// Errors name the file, the line and the key.

#[test]
fn unknown_key_names_file_line_and_key() {
    let toml = "extends = \"default\"\n\n[artifacts]\nsdist = \"deny\"\nsdists-allow = [\"foo\"]\n";
    let (path, line, key, message) = invalid(Policy::from_texts(
        None,
        Some(&text("/proj/safevenv.toml", toml)),
    ));
    assert_eq!(path, PathBuf::from("/proj/safevenv.toml"));
    assert_eq!(line, 5);
    assert_eq!(key.as_deref(), Some("artifacts.sdists-allow"));
    assert!(message.contains("sdists-allow"), "{message}");

    let (_, line, key, _) = invalid(Policy::from_texts(
        None,
        Some(&text("/proj/safevenv.toml", "[sourcez]\n")),
    ));
    assert_eq!((line, key.as_deref()), (1, Some("sourcez")));
}

#[test]
fn bad_values_name_file_line_and_key() {
    let cases = [
        ("[artifacts]\nsdist = \"alow\"\n", 2, "artifacts.sdist"),
        (
            "[releases]\n\nmin-release-age = \"7 dayz\"\n",
            3,
            "releases.min-release-age",
        ),
        (
            "[packages]\ndeny = [\"ok\", \"foo<<2\"]\n",
            2,
            "packages.deny",
        ),
        ("[licenses]\nallow = [\"MTI\"]\n", 2, "licenses.allow"),
        ("extends = \"paranoid\"\n", 1, "extends"),
        (
            "[sources]\nvcs-allow = [{ package = \"foo\", url = \"not a url\" }]\n",
            2,
            "sources.vcs-allow.0.url",
        ),
        (
            "[attestations.packages]\nrequests = { repo = \"psf/requests\" }\n",
            2,
            "attestations.packages.requests.repo",
        ),
        (
            "[vulnerabilities]\ndeny = \"yes\"\n",
            2,
            "vulnerabilities.deny",
        ),
    ];
    for (toml, want_line, want_key) in cases {
        let (_, line, key, message) = invalid(Policy::from_texts(
            None,
            Some(&text("/proj/safevenv.toml", toml)),
        ));
        assert_eq!(
            (line, key.as_deref()),
            (want_line, Some(want_key)),
            "{toml}: {message}"
        );
    }
    let err = Policy::from_texts(
        None,
        Some(&text(
            "/proj/safevenv.toml",
            "[artifacts]\nsdist = \"alow\"\n",
        )),
    )
    .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("/proj/safevenv.toml")
            && shown.contains("line 2")
            && shown.contains("`artifacts.sdist`"),
        "{shown}"
    );
}

#[test]
fn pyproject_errors_are_located_too() {
    let toml = "[project]\nname = \"x\"\n\n[tool.safevenv]\nextends = \"strict\"\nbogus = 1\n";
    let (path, line, key, _) = invalid(Policy::from_texts(
        None,
        Some(&text("/proj/pyproject.toml", toml)),
    ));
    assert_eq!(path, PathBuf::from("/proj/pyproject.toml"));
    assert_eq!((line, key.as_deref()), (6, Some("tool.safevenv.bogus")));
}

// Discovery.

#[test]
fn discovery_walks_up_and_prefers_safevenv_toml() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let deep = root.join("a/b/c");
    fs_err::create_dir_all(&deep).unwrap();

    // Nothing found: the default preset.
    let policy = Policy::load(&discovery(&deep, None)).unwrap();
    assert_eq!(
        policy.origins().collect::<Vec<_>>(),
        [&PolicyOrigin::Preset(Preset::Default)]
    );

    // A pyproject.toml without [tool.safevenv] is not a policy.
    write(
        &root.join("a/b/pyproject.toml"),
        "[project]\nname = \"x\"\n",
    );
    write(
        &root.join("a/pyproject.toml"),
        "[tool.safevenv]\nextends = \"strict\"\n",
    );
    let policy = Policy::load(&discovery(&deep, None)).unwrap();
    assert_eq!(
        policy.origins().collect::<Vec<_>>(),
        [&PolicyOrigin::Project(root.join("a/pyproject.toml"))]
    );

    // A nearer safevenv.toml wins.
    write(&root.join("a/b/safevenv.toml"), "extends = \"ci\"\n");
    let policy = Policy::load(&discovery(&deep, None)).unwrap();
    assert_eq!(
        policy.origins().collect::<Vec<_>>(),
        [&PolicyOrigin::Project(root.join("a/b/safevenv.toml"))]
    );
    assert!(policy.warnings().is_empty());

    // In one directory, safevenv.toml wins over [tool.safevenv], with a warning.
    write(
        &root.join("a/b/pyproject.toml"),
        "[tool.safevenv]\nextends = \"strict\"\n",
    );
    let policy = Policy::load(&discovery(&deep, None)).unwrap();
    assert_eq!(
        policy.origins().collect::<Vec<_>>(),
        [&PolicyOrigin::Project(root.join("a/b/safevenv.toml"))]
    );
    assert_eq!(
        policy.warnings(),
        [PolicyWarning::ShadowedPyproject {
            used: root.join("a/b/safevenv.toml"),
            ignored: root.join("a/b/pyproject.toml"),
        }]
    );

    // --policy FILE skips the search.
    write(&root.join("elsewhere.toml"), "extends = \"strict\"\n");
    let mut explicit = discovery(&deep, None);
    explicit.explicit = Some(root.join("elsewhere.toml"));
    let policy = Policy::load(&explicit).unwrap();
    assert_eq!(
        policy.origins().collect::<Vec<_>>(),
        [&PolicyOrigin::Project(root.join("elsewhere.toml"))]
    );
}

#[test]
fn organisation_policy_is_found_and_must_exist_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org.toml");
    let missing = Policy::load(&discovery(dir.path(), Some(org.clone())));
    assert!(
        matches!(missing, Err(PolicyError::OrgPolicyMissing { .. })),
        "{missing:?}"
    );

    write(&org, "[artifacts]\nsdist = \"deny\"\n");
    let policy = Policy::load(&discovery(dir.path(), Some(org.clone()))).unwrap();
    assert_eq!(
        policy.origins().collect::<Vec<_>>(),
        [
            &PolicyOrigin::Organisation(org.clone()),
            &PolicyOrigin::Preset(Preset::Default)
        ]
    );

    // The usual place is used when the variable is unset.
    let mut usual = discovery(dir.path(), None);
    usual.org_policy_default = org.clone();
    let policy = Policy::load(&usual).unwrap();
    assert_eq!(
        policy.origins().next(),
        Some(&PolicyOrigin::Organisation(org))
    );
}

// Merging: the project can only tighten the organisation's policy.

fn merged(org: &str, project: &str) -> Result<Policy, PolicyError> {
    Policy::from_texts(
        Some(&text("/etc/safevenv/policy.toml", org)),
        Some(&text("/proj/safevenv.toml", project)),
    )
}

#[test]
fn loosening_is_an_error_naming_both_files_and_the_key() {
    let cases = [
        (
            "[artifacts]\nsdist = \"deny\"\n",
            "[artifacts]\nsdist = \"allow\"\n",
            "artifacts.sdist",
        ),
        (
            "[artifacts]\nsdist-allow = [\"a\"]\n",
            "[artifacts]\nsdist-allow = [\"a\", \"b\"]\n",
            "artifacts.sdist-allow",
        ),
        (
            "[releases]\nmin-release-age = \"7 days\"\n",
            "[releases]\nmin-release-age = \"1 day\"\n",
            "releases.min-release-age",
        ),
        (
            "[releases]\nmin-release-age = \"7 days\"\n",
            "[releases.min-release-age-overrides]\nfoo = \"0\"\n",
            "releases.min-release-age-overrides.foo",
        ),
        (
            "[licenses]\nallow = [\"MIT\"]\n",
            "[licenses]\nallow = [\"MIT\", \"GPL-3.0-only\"]\n",
            "licenses.allow",
        ),
        (
            "[attestations]\nmode = \"require\"\n",
            "[attestations]\nmode = \"if-present\"\n",
            "attestations.mode",
        ),
        (
            "[vulnerabilities]\nseverity = \"low\"\n",
            "[vulnerabilities]\nseverity = \"critical\"\n",
            "vulnerabilities.severity",
        ),
        (
            "",
            "[vulnerabilities]\nignore = [\"PYSEC-1\"]\n",
            "vulnerabilities.ignore",
        ),
        (
            "",
            "[sources]\nindexes = [\"https://private.example/simple\"]\n",
            "sources.indexes",
        ),
        (
            "[packages]\nallow-only = true\nallow = [\"a\"]\n",
            "[packages]\nallow-only = false\n",
            "packages.allow-only",
        ),
        (
            "",
            "[contents]\npth-exec-allow = [{ package = \"foo\", file = \"foo.pth\" }]\n",
            "contents.pth-exec-allow",
        ),
    ];
    for (org, project, want_key) in cases {
        match merged(org, project) {
            Err(err @ PolicyError::Loosening { .. }) => {
                let PolicyError::Loosening { key, .. } = &err else {
                    unreachable!()
                };
                assert_eq!(key, want_key, "{project}");
                let shown = err.to_string();
                assert!(
                    shown.contains("/etc/safevenv/policy.toml")
                        && shown.contains("/proj/safevenv.toml"),
                    "{shown}"
                );
            }
            other => panic!("expected `{want_key}` to be refused as loosening, got {other:?}"),
        }
    }
}

#[test]
fn tightening_is_accepted_and_both_layers_are_enforced() {
    // Tighter values are fine.
    let policy = merged(
        "[releases]\nmin-release-age = \"1 day\"\n[artifacts]\nsdist-allow = [\"foo\", \"bar\"]\n",
        "[releases]\nmin-release-age = \"7 days\"\n[artifacts]\nsdist-allow = [\"foo\"]\n[packages]\ndeny = [\"evil\"]\n",
    )
    .unwrap();
    assert_approved(policy.evaluate(&sdist_set()));

    // The org's deny entry holds, whatever the project says (lists cannot remove entries).
    let policy = merged("[packages]\ndeny = [\"foo\"]\n", "[packages]\ndeny = []\n").unwrap();
    let refusals = policy
        .evaluate(&set(vec![package("foo", "1.0")]))
        .unwrap_err();
    assert_eq!(refusals.refusals()[0].rule, RuleId::PackagesDeny);
    assert!(
        refusals.refusals()[0].fix.contains("organisation policy"),
        "{refusals}"
    );

    // The org's strict preset holds even when the project extends a looser one.
    let policy = merged("extends = \"strict\"\n", "extends = \"default\"\n").unwrap();
    let rules = refused_rules(policy.evaluate(&set(vec![package("foo", "1.0")])));
    assert_eq!(rules, [RuleId::Attestations]);

    // Allowlists intersect: the project narrows the org's sdist allowlist.
    // A project file without `extends` inherits the org's exemptions...
    let policy = merged(
        "[artifacts]\nsdist-allow = [\"foo\"]\n",
        "[packages]\ndeny = [\"evil\"]\n",
    )
    .unwrap();
    assert_approved(policy.evaluate(&sdist_set()));
    // ...one that extends a preset starts from it, and the allowlists intersect.
    let policy = merged(
        "[artifacts]\nsdist-allow = [\"foo\"]\n",
        "extends = \"default\"\n",
    )
    .unwrap();
    assert_refused(policy.evaluate(&sdist_set()), RuleId::ArtifactsSdist);
    // The org allows `foo` and `bar`; the project, from its preset, only `bar`: `foo` is refused.
    let policy = merged(
        "[artifacts]\nsdist-allow = [\"foo\", \"bar\"]\n",
        "extends = \"default\"\n[artifacts]\nsdist-allow = [\"bar\"]\n",
    )
    .unwrap();
    let refusals = policy.evaluate(&sdist_set()).unwrap_err();
    assert_eq!(refusals.refusals().len(), 1);
    assert_eq!(refusals.refusals()[0].policy, "`/proj/safevenv.toml`");

    // min-release-age takes the max.
    let mut young = package("foo", "1.0");
    young.upload_time = Some("2025-05-28T00:00:00Z".parse().unwrap());
    let policy = merged("[releases]\nmin-release-age = \"7 days\"\n", "").unwrap();
    let refusals = policy.evaluate(&set(vec![young])).unwrap_err();
    assert_eq!(refusals.refusals()[0].rule, RuleId::ReleasesMinAge);
}

#[test]
fn same_refusal_from_both_layers_is_reported_once_with_the_org_fix() {
    let policy = merged("[artifacts]\nsdist = \"deny\"\n", "").unwrap();
    let refusals = policy.evaluate(&sdist_set()).unwrap_err();
    assert_eq!(refusals.refusals().len(), 1, "{refusals}");
    assert!(
        refusals.refusals()[0].policy.contains("organisation"),
        "{refusals:?}"
    );
}

// Reports.

fn messy_set() -> safevenv_policy::ResolvedSet {
    let mut zed = package("zed", "1.0");
    zed.yanked = true;
    zed.artifact.sha256 = None;
    let mut alpha = package("alpha", "2.0");
    alpha.source = Source::Index {
        url: url("https://other.example/simple/"),
    };
    alpha.artifact.kind = ArtifactKind::Sdist;
    alpha.artifact.filename = "alpha-2.0.tar.gz".to_string();
    set(vec![zed, package("fine", "1.0"), alpha])
}

#[test]
fn reports_are_complete_and_deterministic() {
    let policy = policy("");
    let first = policy.evaluate(&messy_set()).unwrap_err();
    let mut reversed = messy_set();
    reversed.packages.reverse();
    let second = policy.evaluate(&reversed).unwrap_err();
    assert_eq!(first, second);
    let rules: Vec<(String, RuleId)> = first
        .refusals()
        .iter()
        .map(|refusal| (refusal.package.to_string(), refusal.rule))
        .collect();
    assert_eq!(
        rules,
        [
            ("alpha".to_string(), RuleId::SourcesIndex),
            ("alpha".to_string(), RuleId::ArtifactsSdist),
            ("zed".to_string(), RuleId::ArtifactsHashes),
            ("zed".to_string(), RuleId::ReleasesYanked),
        ]
    );
    let shown = first.to_string();
    assert!(
        shown.starts_with("the policy refused 2 distributions\n"),
        "{shown}"
    );
    assert!(shown.contains("refused[artifacts.sdist]"), "{shown}");
    assert!(
        shown.contains(
            "hint: add `\"alpha\"` to `[artifacts] sdist-allow` in `/proj/safevenv.toml`"
        ),
        "{shown}"
    );
    assert!(
        shown.find("`alpha` 2.0").unwrap() < shown.find("`zed` 1.0").unwrap(),
        "{shown}"
    );

    let json = first.to_json();
    let refusals = json["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 4);
    assert_eq!(refusals[0]["rule"], "sources.index");
    assert_eq!(refusals[0]["package"], "alpha");
    assert_eq!(refusals[0]["version"], "2.0");
    assert!(refusals[1]["fix"].as_str().unwrap().contains("sdist-allow"));
}

#[test]
fn approval_names_the_approved_set() {
    let approved = policy("")
        .evaluate(&set(vec![package("fine", "1.0")]))
        .unwrap();
    assert_eq!(approved.packages().len(), 1);
    assert_eq!(approved.packages()[0].name().as_ref(), "fine");
}
