//! Requirements files read as pip reads them: each line form, includes, options, and errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use safevenv_requirements::{
    BinarySelector, Entry, Environment, FindLinks, HashAlgorithm, LineError, LineErrorKind,
    MAX_FILE_SIZE, MAX_INCLUDE_DEPTH, Origin, ParseOptions, RequirementSource, RequirementsError,
    RequirementsTxt, VcsKind, parse_cli_specifiers,
};
use uv_normalize::{ExtraName, PackageName};
use uv_pep508::MarkerTree;

fn options(dir: &Path) -> ParseOptions {
    ParseOptions {
        working_dir: Some(dir.to_path_buf()),
        environment: Environment::Fixed(BTreeMap::new()),
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).unwrap();
    }
    fs_err::write(&path, contents).unwrap();
    path
}

fn parse(dir: &Path, contents: &str) -> Result<RequirementsTxt, RequirementsError> {
    let path = write(dir, "requirements.txt", contents);
    RequirementsTxt::parse_file(path, &options(dir))
}

fn parse_ok(contents: &str) -> (tempfile::TempDir, RequirementsTxt) {
    let dir = tempfile::tempdir().unwrap();
    let parsed = parse(dir.path(), contents).unwrap();
    (dir, parsed)
}

fn line_error(contents: &str) -> LineError {
    let dir = tempfile::tempdir().unwrap();
    match parse(dir.path(), contents) {
        Err(RequirementsError::Line(error)) => *error,
        other => panic!("expected a line error for {contents:?}, got {other:?}"),
    }
}

fn name(name: &str) -> Option<PackageName> {
    Some(PackageName::from_str(name).unwrap())
}

fn line_of(entry: &Entry) -> usize {
    match &entry.origin {
        Origin::File { line, .. } => *line,
        Origin::CommandLine { .. } => panic!("not from a file"),
    }
}

fn hex(seed: usize, len: usize) -> String {
    format!("{seed:0len$x}")
}

#[test]
fn named_requirements_with_extras_specifiers_and_markers() {
    let (_dir, parsed) = parse_ok(
        "requests[socks, security]>=2.31,<3 ; python_version >= \"3.8\"\nidna\nfoo == 1.0\n",
    );
    let [requests, idna, foo] = parsed.requirements.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!(requests.requirement.name, name("requests"));
    assert_eq!(
        requests.requirement.extras,
        [
            ExtraName::from_str("socks").unwrap(),
            ExtraName::from_str("security").unwrap()
        ]
    );
    assert_eq!(
        requests.requirement.marker,
        MarkerTree::from_str("python_version >= '3.8'").unwrap()
    );
    let RequirementSource::Registry { specifier } = &requests.requirement.source else {
        panic!("{requests:?}");
    };
    assert_eq!(specifier.to_string(), ">=2.31, <3");
    assert!(
        matches!(&idna.requirement.source, RequirementSource::Registry { specifier } if specifier.is_empty())
    );
    assert!(idna.requirement.marker.is_true());
    // `==` with spaces around it is valid PEP 508.
    assert!(
        matches!(&foo.requirement.source, RequirementSource::Registry { specifier } if specifier.to_string() == "==1.0")
    );
    assert_eq!((line_of(requests), line_of(idna), line_of(foo)), (1, 2, 3));
}

#[test]
fn direct_references() {
    let (_dir, parsed) = parse_ok(
        "pkg @ https://files.index.example/pkg-1.0-py3-none-any.whl#sha256=00ff\n\
         local @ file:///opt/wheels/local-2.0-py3-none-any.whl ; sys_platform == 'linux'\n",
    );
    let [url, file] = parsed.requirements.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!(url.requirement.name, name("pkg"));
    let RequirementSource::DirectUrl { url: direct } = &url.requirement.source else {
        panic!("{url:?}");
    };
    // The fragment (pip reads it as a hash to check) is kept as given.
    assert_eq!(direct.fragment(), Some("sha256=00ff"));
    assert_eq!(
        file.requirement.source,
        RequirementSource::Path {
            path: PathBuf::from("/opt/wheels/local-2.0-py3-none-any.whl"),
            editable: false
        }
    );
    assert!(!file.requirement.marker.is_true());
}

#[test]
fn text_after_a_url_is_refused_as_pip_does() {
    let error = line_error("pkg @ https://files.index.example/x.whl extra\n");
    assert!(
        matches!(error.kind, LineErrorKind::InvalidRequirement { .. }),
        "{error}"
    );
    assert_eq!(error.column, Some(40), "{error}");
}

#[test]
fn vcs_requirements_with_and_without_revision() {
    let (_dir, parsed) = parse_ok(
        "git+https://code.example/org/one.git@v1.2#egg=one\n\
         two @ git+https://code.example/org/two.git@0123456789abcdef0123456789abcdef01234567\n\
         three @ git+ssh://git@code.example/org/three.git\n\
         git+https://code.example/org/mono.git@main#egg=four&subdirectory=pkgs/four\n\
         hg+https://hg.example/five#egg=five\n",
    );
    let sources: Vec<_> = parsed
        .requirements
        .iter()
        .map(|entry| {
            (
                entry.requirement.name.clone(),
                entry.requirement.source.clone(),
            )
        })
        .collect();
    let expected = [
        (
            "one",
            VcsKind::Git,
            "https://code.example/org/one.git",
            Some("v1.2"),
            None,
        ),
        (
            "two",
            VcsKind::Git,
            "https://code.example/org/two.git",
            Some("0123456789abcdef0123456789abcdef01234567"),
            None,
        ),
        (
            "three",
            VcsKind::Git,
            "ssh://git@code.example/org/three.git",
            None,
            None,
        ),
        (
            "four",
            VcsKind::Git,
            "https://code.example/org/mono.git",
            Some("main"),
            Some("pkgs/four"),
        ),
        (
            "five",
            VcsKind::Mercurial,
            "https://hg.example/five",
            None,
            None,
        ),
    ];
    assert_eq!(sources.len(), expected.len());
    for ((got_name, source), (want_name, want_vcs, want_url, want_rev, want_subdirectory)) in
        sources.iter().zip(expected)
    {
        assert_eq!(got_name, &name(want_name));
        let RequirementSource::Vcs {
            vcs,
            url,
            rev,
            subdirectory,
            editable,
        } = source
        else {
            panic!("{source:?}");
        };
        assert_eq!(*vcs, want_vcs);
        assert_eq!(url.as_str(), want_url);
        assert_eq!(rev.as_deref(), want_rev);
        assert_eq!(subdirectory.as_deref(), want_subdirectory);
        assert!(!editable);
    }
}

#[test]
fn vcs_with_empty_revision_is_refused() {
    let error = line_error("git+https://code.example/r.git@#egg=r\n");
    assert!(
        matches!(error.kind, LineErrorKind::EmptyVcsRevision { .. }),
        "{error}"
    );
}

#[test]
fn bare_urls_and_local_paths() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("pkg")).unwrap();
    let parsed = parse(
        dir.path(),
        "https://files.index.example/a/demo-1.0-py3-none-any.whl\n\
         https://files.index.example/a/sdist-1.0.tar.gz#egg=sdist\n\
         ./pkg[extra]\n\
         dist/local-3.0-py3-none-any.whl\n\
         /abs/x-1.0.tar.gz ; python_version < '4'\n",
    )
    .unwrap();
    let [wheel, sdist, directory, local_wheel, absolute] = parsed.requirements.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!(wheel.requirement.name, name("demo"));
    assert!(matches!(
        wheel.requirement.source,
        RequirementSource::DirectUrl { .. }
    ));
    assert_eq!(sdist.requirement.name, name("sdist"));
    assert_eq!(directory.requirement.name, None);
    assert_eq!(
        directory.requirement.extras,
        [ExtraName::from_str("extra").unwrap()]
    );
    assert_eq!(
        directory.requirement.source,
        RequirementSource::Path {
            path: PathBuf::from("./pkg"),
            editable: false
        }
    );
    // An artifact file name is a path even when the file does not exist yet (pip warns).
    assert_eq!(local_wheel.requirement.name, name("local"));
    assert_eq!(
        local_wheel.requirement.source,
        RequirementSource::Path {
            path: PathBuf::from("dist/local-3.0-py3-none-any.whl"),
            editable: false
        }
    );
    assert_eq!(absolute.requirement.name, None);
    assert!(!absolute.requirement.marker.is_true());
}

#[test]
fn path_that_is_not_a_directory_is_refused_with_a_hint() {
    let error = line_error("./missing\n");
    assert!(
        matches!(error.kind, LineErrorKind::InvalidRequirement { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("looks like a path"), "{error}");
}

#[test]
fn editables() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("app")).unwrap();
    let parsed = parse(
        dir.path(),
        "-e ./app[dev]\n--editable=git+https://code.example/o/lib.git@abc#egg=lib\n-e git://code.example/o/old#egg=old\n",
    )
    .unwrap();
    let [app, lib, old] = parsed.requirements.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!(
        app.requirement.source,
        RequirementSource::Path {
            path: PathBuf::from("./app"),
            editable: true
        }
    );
    assert_eq!(
        app.requirement.extras,
        [ExtraName::from_str("dev").unwrap()]
    );
    assert_eq!(lib.requirement.name, name("lib"));
    assert!(matches!(
        &lib.requirement.source,
        RequirementSource::Vcs { editable: true, rev: Some(rev), .. } if rev == "abc"
    ));
    assert!(matches!(
        &old.requirement.source,
        RequirementSource::Vcs { vcs: VcsKind::Git, url, .. } if url.as_str() == "git://code.example/o/old"
    ));
}

#[test]
fn editable_errors() {
    let error = line_error("-e git+https://code.example/o/lib.git\n");
    assert!(
        matches!(error.kind, LineErrorKind::MissingEggName { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("#egg="), "{error}");
    let error = line_error("-e https://files.index.example/x.whl\n");
    assert!(
        matches!(error.kind, LineErrorKind::InvalidEditable { .. }),
        "{error}"
    );
    let error = line_error(&format!(
        "-e git+https://code.example/l.git#egg=l --hash=sha256:{}\n",
        hex(1, 64)
    ));
    assert!(
        matches!(error.kind, LineErrorKind::HashOnEditable),
        "{error}"
    );
    let error = line_error("-e git+https://h.example/a#egg=a -e git+https://h.example/b#egg=b\n");
    assert!(
        matches!(error.kind, LineErrorKind::MultipleEditables),
        "{error}"
    );
}

#[test]
fn continuation_lines_carry_hashes() {
    let (a, b, c) = (hex(0xa, 64), hex(0xb, 96), hex(0xc, 128));
    let (_dir, parsed) = parse_ok(&format!(
        "# top\nfoo==1.0 \\\n    --hash=sha256:{a} \\\n    --hash sha384:{b} \\\n    --hash=sha512:{}\nbar==2\n",
        c.to_uppercase()
    ));
    let [foo, bar] = parsed.requirements.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!(line_of(foo), 2);
    assert_eq!(line_of(bar), 6);
    let hashes: Vec<_> = foo.hashes.iter().map(ToString::to_string).collect();
    assert_eq!(
        hashes,
        [
            format!("sha256:{a}"),
            format!("sha384:{b}"),
            format!("sha512:{c}")
        ]
    );
    assert_eq!(foo.hashes[2].algorithm, HashAlgorithm::Sha512);
    assert!(bar.hashes.is_empty());
}

#[test]
fn hash_errors_name_the_line() {
    let error = line_error("ok==1\nfoo==1.0 \\\n  --hash=md5:d41d8cd98f00b204e9800998ecf8427e\n");
    assert!(matches!(
        error.kind,
        LineErrorKind::UnsupportedHashAlgorithm { .. }
    ));
    let shown = error.to_string();
    assert!(shown.contains("requirements.txt` at line 2"), "{shown}");
    assert!(shown.contains("hint: use a `sha256`"), "{shown}");

    let error = line_error(&format!("foo==1.0 --hash={}\n", hex(7, 64)));
    assert!(matches!(error.kind, LineErrorKind::MalformedHash { .. }));
    assert!(
        error
            .to_string()
            .contains("hint: write the algorithm before the digest"),
        "{error}"
    );

    let error = line_error(&format!("--hash=sha256:{}\n", hex(7, 64)));
    assert!(
        matches!(error.kind, LineErrorKind::HashWithoutRequirement),
        "{error}"
    );
}

#[test]
fn comments_and_url_fragments() {
    let (_dir, parsed) = parse_ok(
        "# comment\n  # indented comment\nfoo==1 # trailing comment\n\
         https://files.index.example/bar-1.0-py3-none-any.whl#sha256=abcd # pinned\n",
    );
    let [foo, bar] = parsed.requirements.as_slice() else {
        panic!("{parsed:?}");
    };
    assert_eq!(line_of(foo), 3);
    let RequirementSource::DirectUrl { url } = &bar.requirement.source else {
        panic!("{bar:?}");
    };
    assert_eq!(url.fragment(), Some("sha256=abcd"));
}

#[test]
fn environment_variables_expand_in_the_braced_form_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "requirements.txt",
        "--extra-index-url https://${USER_NAME}:${TOKEN}@index.example/simple\nfoo==${VERSION}\n",
    );
    let environment = Environment::Fixed(BTreeMap::from([
        ("TOKEN".to_string(), "s3cret".to_string()),
        ("USER_NAME".to_string(), "alice".to_string()),
        ("VERSION".to_string(), "1.2".to_string()),
    ]));
    let parsed = RequirementsTxt::parse_file(
        &path,
        &ParseOptions {
            working_dir: Some(dir.path().to_path_buf()),
            environment,
        },
    )
    .unwrap();
    let extra = &parsed.extra_index_urls[0].value;
    assert_eq!(extra.username(), "alice");
    assert_eq!(extra.password(), Some("s3cret"));
    // A URL keeps its credentials for use, but never shows them.
    assert!(!extra.to_string().contains("s3cret"));
    assert!(matches!(
        &parsed.requirements[0].requirement.source,
        RequirementSource::Registry { specifier } if specifier.to_string() == "==1.2"
    ));
}

#[test]
fn unset_variables_are_left_as_written() {
    let error = line_error("foo==${UNSET_VERSION}\n");
    assert!(matches!(
        error.kind,
        LineErrorKind::InvalidRequirement { .. }
    ));
    assert!(error.text.contains("${UNSET_VERSION}"), "{error}");
}

#[test]
fn process_environment_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    // cargo sets this variable for every test process.
    let parsed = RequirementsTxt::parse_str(
        "${CARGO_PKG_NAME}\n",
        dir.path().join("r.txt"),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(
        parsed.requirements[0].requirement.name,
        name(env!("CARGO_PKG_NAME"))
    );
}

#[test]
fn includes_are_relative_to_the_including_file_and_merged_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sub/base.txt",
        "base==1\n-r ../shared/common.txt\n",
    );
    write(dir.path(), "shared/common.txt", "common==2\n");
    write(dir.path(), "sub/constraints.txt", "pinned==3\n");
    let parsed = parse(
        dir.path(),
        "first==0\n-r sub/base.txt\n--constraint sub/constraints.txt\nlast==9\n",
    )
    .unwrap();
    let names: Vec<_> = parsed
        .requirements
        .iter()
        .map(|entry| entry.requirement.name.clone().unwrap().to_string())
        .collect();
    assert_eq!(names, ["first", "base", "common", "last"]);
    let Origin::File { path, line } = &parsed.requirements[2].origin else {
        panic!()
    };
    assert!(path.ends_with("shared/common.txt"), "{path:?}");
    assert_eq!(*line, 1);
    assert_eq!(parsed.constraints.len(), 1);
    assert_eq!(parsed.constraints[0].requirement.name, name("pinned"));
}

#[test]
fn include_cycle_is_refused_naming_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", "-r b.txt\n");
    write(dir.path(), "b.txt", "x==1\n-r a.txt\n");
    let error =
        RequirementsTxt::parse_file(dir.path().join("a.txt"), &options(dir.path())).unwrap_err();
    let RequirementsError::Line(error) = error else {
        panic!("{error:?}");
    };
    let LineErrorKind::IncludeCycle { chain } = &error.kind else {
        panic!("{error}");
    };
    assert_eq!(chain.len(), 3);
    let shown = error.to_string();
    assert!(
        shown.contains("a.txt` -> `") && shown.contains("b.txt` at line 2"),
        "{shown}"
    );
}

#[test]
fn the_same_file_included_twice_is_not_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "common.txt", "common==1\n");
    let parsed = parse(dir.path(), "-r common.txt\n-r common.txt\n").unwrap();
    assert_eq!(parsed.requirements.len(), 2);
}

#[test]
fn include_depth_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    for level in 0..=MAX_INCLUDE_DEPTH + 1 {
        write(
            dir.path(),
            &format!("r{level}.txt"),
            &format!("-r r{}.txt\n", level + 1),
        );
    }
    let error =
        RequirementsTxt::parse_file(dir.path().join("r0.txt"), &options(dir.path())).unwrap_err();
    assert!(
        matches!(&error, RequirementsError::Line(line) if matches!(line.kind, LineErrorKind::IncludeTooDeep { .. })),
        "{error}"
    );
    // Exactly at the limit is fine.
    write(
        dir.path(),
        &format!("r{MAX_INCLUDE_DEPTH}.txt"),
        "leaf==1\n",
    );
    let parsed =
        RequirementsTxt::parse_file(dir.path().join("r0.txt"), &options(dir.path())).unwrap();
    assert_eq!(parsed.requirements.len(), 1);
}

#[test]
fn missing_include_names_the_including_line() {
    let error = {
        let dir = tempfile::tempdir().unwrap();
        parse(dir.path(), "foo\n-r nowhere.txt\n").unwrap_err()
    };
    let RequirementsError::Read {
        path,
        included_from,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!(path.ends_with("nowhere.txt"));
    assert!(matches!(included_from, Some(Origin::File { line: 2, .. })));
    assert!(error.to_string().contains("included from `"), "{error}");
}

#[test]
fn remote_includes_are_refused_without_showing_credentials() {
    let error = line_error("-r https://bob:hunter2@files.example/reqs.txt\n");
    assert!(matches!(error.kind, LineErrorKind::RemoteInclude { .. }));
    let shown = error.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("bob:****@files.example"), "{shown}");
    assert!(shown.contains("hint: download the file"), "{shown}");
}

#[test]
fn include_must_be_alone_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "other.txt", "x\n");
    let error = match parse(dir.path(), "-r other.txt --pre\n") {
        Err(RequirementsError::Line(error)) => error,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(error.kind, LineErrorKind::IncludeNotAlone { .. }),
        "{error}"
    );
}

#[test]
fn global_options_keep_where_they_were_given() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("wheels")).unwrap();
    let parsed = parse(
        dir.path(),
        "-i https://index.example/simple\n\
         --extra-index-url=https://extra.example/simple\n\
         -f wheels\n--find-links https://links.example/page.html\n\
         --no-index\n--pre\n--prefer-binary\n--require-hashes\n\
         --only-binary :all:\n--no-binary=foo,Bar_Baz\n--trusted-host extra.example\n\
         --index-url https://index.example/simple\n",
    )
    .unwrap();
    let index = parsed.index_url.as_ref().unwrap();
    assert_eq!(index.value.as_str(), "https://index.example/simple");
    assert!(matches!(&index.origin, Origin::File { line: 1, .. }));
    assert_eq!(
        parsed.extra_index_urls[0].value.as_str(),
        "https://extra.example/simple"
    );
    assert!(matches!(
        &parsed.extra_index_urls[0].origin,
        Origin::File { line: 2, .. }
    ));
    assert_eq!(
        parsed.find_links[0].value,
        FindLinks::Path(dir.path().join("wheels"))
    );
    assert!(
        matches!(&parsed.find_links[1].value, FindLinks::Url(url) if url.as_str() == "https://links.example/page.html")
    );
    assert!(matches!(
        parsed.no_index,
        Some(Origin::File { line: 5, .. })
    ));
    assert!(matches!(parsed.pre, Some(Origin::File { line: 6, .. })));
    assert!(matches!(
        parsed.prefer_binary,
        Some(Origin::File { line: 7, .. })
    ));
    assert!(matches!(
        parsed.require_hashes,
        Some(Origin::File { line: 8, .. })
    ));
    assert_eq!(parsed.only_binary[0].value, BinarySelector::All);
    let no_binary: Vec<_> = parsed
        .no_binary
        .iter()
        .map(|item| item.value.clone())
        .collect();
    assert_eq!(
        no_binary,
        [
            BinarySelector::Package(PackageName::from_str("foo").unwrap()),
            BinarySelector::Package(PackageName::from_str("bar-baz").unwrap())
        ]
    );
    assert_eq!(parsed.trusted_hosts[0].value, "extra.example");
    assert!(parsed.requirements.is_empty());
}

#[test]
fn a_second_different_index_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "evil.txt",
        "--index-url https://other.example/simple\n",
    );
    let error = match parse(dir.path(), "-i https://index.example/simple\n-r evil.txt\n") {
        Err(RequirementsError::Line(error)) => error,
        other => panic!("{other:?}"),
    };
    assert!(
        matches!(error.kind, LineErrorKind::ConflictingIndexUrl { .. }),
        "{error}"
    );
    let shown = error.to_string();
    assert!(shown.contains("evil.txt` at line 1"), "{shown}");
    assert!(shown.contains("requirements.txt` at line 1"), "{shown}");
}

#[test]
fn every_error_shows_file_and_line() {
    let cases: &[(&str, usize)] = &[
        ("foo --bar\n", 1),
        ("ok\nfoo==1 --index-url https://index.example/simple\n", 2),
        ("ok\n\nfoo = 1.0\n", 3),
        ("pip install requests\n", 1),
        ("--pre=yes\n", 1),
        ("--global-option=x\n", 1),
        ("--no-binary=not/a/name\n", 1),
        ("--extra-index-url not-a-url\n", 1),
        ("foo ; python_version >>> '3'\n", 1),
        ("https://files.index.example/bad-name.whl\n", 1),
        ("./pkg[not a list]\n", 1),
        ("-i 'https://index.example\n", 1),
    ];
    for (contents, line) in cases {
        let error = line_error(contents);
        let shown = error.to_string();
        assert!(
            shown.contains(&format!("requirements.txt` at line {line}")),
            "{contents:?}: {shown}"
        );
        assert!(matches!(error.origin, Origin::File { line: got, .. } if got == *line));
    }
}

#[test]
fn common_mistakes_get_hints() {
    let error = line_error("foo = 1.0\n");
    assert!(
        error
            .to_string()
            .contains("hint: `=` is not a version operator"),
        "{error}"
    );
    let error = line_error("pip install requests==2.0\n");
    assert!(
        error
            .to_string()
            .contains("hint: this looks like a `pip install` command"),
        "{error}"
    );
}

#[test]
fn requirement_errors_point_at_a_column() {
    let error = line_error("foo >= 1.0 ; python_version >>> '3'\n");
    assert!(
        matches!(error.kind, LineErrorKind::InvalidMarker { .. }),
        "{error}"
    );
    let column = error.column.unwrap();
    assert!(column > 13, "{error}");
    let error = line_error("foo >== 1.0\n");
    assert!(error.column.is_some(), "{error}");
    assert!(error.to_string().contains(", column "), "{error}");
}

#[test]
fn credentials_never_reach_error_messages() {
    let cases = [
        "pkg @ https://alice:s3cret@files.index.example/pkg-1.0-py3-none-any.whl --pre\n",
        "--extra-index-url https://alice:s3cret@index.example:notaport/simple\n",
        "-e https://alice:s3cret@files.index.example/pkg.tar.gz\n",
        "foo==1.0 --trusted-host https://alice:s3cret@index.example/\n",
        "git+https://s3cret@code.example/r.git@#egg=r\n",
        "--pre https://alice:s3cret@index.example/simple\n",
        "pkg @ https://alice:s3cret@files.index.example/x.whl extra\n",
    ];
    for contents in cases {
        let error = line_error(contents);
        let shown = error.to_string();
        assert!(
            !shown.contains("s3cret"),
            "{contents:?} shows a credential: {shown}"
        );
        assert!(
            !format!("{:?}", error.kind).contains("s3cret"),
            "{contents:?}: {:?}",
            error.kind
        );
        assert!(shown.contains("****"), "{shown}");
    }
}

#[test]
fn expanded_secrets_are_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let environment = Environment::Fixed(BTreeMap::from([(
        "TOKEN".to_string(),
        "s3cret".to_string(),
    )]));
    let error = RequirementsTxt::parse_str(
        "-r https://${TOKEN}@files.example/reqs.txt\n",
        dir.path().join("r.txt"),
        &ParseOptions {
            working_dir: None,
            environment,
        },
    )
    .unwrap_err();
    let shown = error.to_string();
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = "a==1\n".repeat(usize::try_from(MAX_FILE_SIZE).unwrap() / 5 + 1);
    let error = parse(dir.path(), &big).unwrap_err();
    assert!(
        matches!(error, RequirementsError::TooLarge { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("requirements.txt"), "{error}");
}

#[test]
fn non_utf8_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.txt");
    fs_err::write(&path, b"caf\xe9==1\n").unwrap();
    let error = RequirementsTxt::parse_file(&path, &options(dir.path())).unwrap_err();
    assert!(
        matches!(error, RequirementsError::NotUtf8 { .. }),
        "{error}"
    );
}

#[test]
fn byte_order_mark_and_crlf_are_accepted() {
    let (_dir, parsed) = parse_ok("\u{feff}foo==1\r\nbar==2\r\n");
    assert_eq!(parsed.requirements.len(), 2);
    assert_eq!(parsed.requirements[0].requirement.name, name("foo"));
}

#[test]
fn pip_compile_output_round_trips_every_hash() {
    let packages = [
        ("certifi", "2024.2.2", "requests", ""),
        ("charset-normalizer", "3.3.2", "requests", ""),
        ("idna", "3.6", "requests", ""),
        ("requests", "2.31.0", "-r requirements.in", ""),
        (
            "urllib3",
            "2.2.1",
            "requests",
            " ; python_version >= \"3.8\"",
        ),
    ];
    let mut text = String::from(
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n# by the following command:\n#\n\
         #    pip-compile --generate-hashes requirements.in\n#\n--index-url https://index.example/simple\n\n",
    );
    let mut expected = Vec::new();
    for (index, (package, version, via, marker)) in packages.iter().enumerate() {
        let hashes: Vec<String> = (0..=index)
            .map(|n| hex(1000 * (index + 1) + n, 64))
            .collect();
        text.push_str(&format!("{package}=={version}{marker} \\\n"));
        for (n, hash) in hashes.iter().enumerate() {
            let end = if n + 1 == hashes.len() { "\n" } else { " \\\n" };
            text.push_str(&format!("    --hash=sha256:{hash}{end}"));
        }
        text.push_str(&format!("    # via {via}\n"));
        expected.push((package.to_string(), hashes));
    }
    let (_dir, parsed) = parse_ok(&text);
    let got: Vec<_> = parsed
        .requirements
        .iter()
        .map(|entry| {
            (
                entry.requirement.name.clone().unwrap().to_string(),
                entry
                    .hashes
                    .iter()
                    .map(|hash| hash.digest.clone())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert!(!parsed.requirements[4].requirement.marker.is_true());
    assert_eq!(
        parsed.index_url.unwrap().value.as_str(),
        "https://index.example/simple"
    );
}

#[test]
fn command_line_specifiers() {
    let dir = tempfile::tempdir().unwrap();
    let entries = parse_cli_specifiers(
        &[
            "requests[socks]>=2 ; python_version > '3'".to_string(),
            "pkg @ https://files.index.example/pkg-1.0-py3-none-any.whl".to_string(),
            "git+https://code.example/o/r.git@v1#egg=r".to_string(),
        ],
        &options(dir.path()),
    )
    .unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].requirement.name, name("requests"));
    assert_eq!(entries[2].origin, Origin::CommandLine { argument: 3 });
    assert!(matches!(
        entries[1].requirement.source,
        RequirementSource::DirectUrl { .. }
    ));

    let error = parse_cli_specifiers(
        &["ok".to_string(), "foo = 1".to_string()],
        &options(dir.path()),
    )
    .unwrap_err();
    let shown = error.to_string();
    assert!(shown.contains("command-line argument 2"), "{shown}");
    assert!(
        shown.contains("hint: `=` is not a version operator"),
        "{shown}"
    );
}
