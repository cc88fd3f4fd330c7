//! Several indexes end to end (rule `sources.index`, dependency confusion): every configured
//! index is asked for every resolved name; a name served by two of them is refused unless the
//! policy pins it (then only the pinned index is asked) or PEP 708 declares them one project; an
//! index that cannot answer fails the run closed. Two local indexes stand for a public one (the
//! run's default) and a private one (`--extra-index-url`).

mod common;

use std::process::Output;

use common::{TestContext, assert_unchanged, snapshot, stderr, stdout};
use safevenv_test_index::{Fault, FaultRule, ProjectMeta, TestIndex, TestIndexBuilder, WheelSpec};

/// The private project everything here is about, and the module it provides.
const NAME: &str = "internal-lib";

fn internal(version: &str, value: &str) -> WheelSpec {
    WheelSpec::new(NAME, version).file(
        "internal_lib/__init__.py",
        format!("VALUE = {value:?}\n").into_bytes(),
    )
}

/// A public index with `app` (which needs the private project) and, unless `squat` is `None`,
/// a squatter's release of the private project's name.
fn public_index(squat: Option<&str>) -> TestIndexBuilder {
    let builder =
        TestIndex::builder().wheel(WheelSpec::new("app", "1.0").requires_dist(NAME).file(
            "app/__init__.py",
            b"from internal_lib import VALUE\n".to_vec(),
        ));
    match squat {
        Some(version) => builder.wheel(internal(version, "squat")),
        None => builder,
    }
}

/// The private index, with the real project.
fn private_index() -> TestIndexBuilder {
    TestIndex::builder().wheel(internal("1.0", "private"))
}

/// `safevenv ARGS` with `default` as the run's index and `extra` as `--extra-index-url`s (put
/// after the subcommand's arguments).
fn run(context: &TestContext, default: &TestIndex, extra: &[&TestIndex], args: &[&str]) -> Output {
    let mut command = context.safevenv();
    command
        .args(args)
        .env("SAFEVENV_INDEX_URL", default.url())
        .env("SAFEVENV_INDEX_TTL", "0");
    for index in extra {
        command.args(["--extra-index-url", &index.url()]);
    }
    command.output().expect("run safevenv")
}

fn write_policy(context: &TestContext, text: &str) {
    fs_err::write(context.work().join("safevenv.toml"), text).unwrap();
}

/// A policy allowing `index` as a source (an extra index is not allowed by default).
fn allowing(index: &TestIndex) -> String {
    format!("[sources]\nindexes = [\"{}\"]\n", index.url())
}

/// A policy allowing `index` and pinning the private project to it.
fn pinning(index: &TestIndex) -> String {
    format!(
        "{}[sources.packages]\n{NAME} = \"{}\"\n",
        allowing(index),
        index.url()
    )
}

fn check(context: &TestContext, default: &TestIndex, extra: &[&TestIndex]) -> Output {
    fs_err::write(context.work().join("requirements.txt"), "app\n").unwrap();
    run(
        context,
        default,
        extra,
        &["policy", "check", "-r", "requirements.txt"],
    )
}

/// Asserts the refusal of the private project's name on two indexes: exit 3, the rule id, the
/// package, both indexes and the fix.
#[track_caller]
fn assert_refused_on_two(output: &Output, first: &TestIndex, second: &TestIndex) -> String {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(3), "{message}");
    assert!(message.contains("refused[sources.index]"), "{message}");
    assert!(message.contains(&format!("`{NAME}`")), "{message}");
    assert!(message.contains(&first.url()), "{message}");
    assert!(message.contains(&second.url()), "{message}");
    assert!(message.contains("[sources.packages]"), "{message}");
    message
}

/// The project page requests `index` received for `project`.
fn page_requests(index: &TestIndex, project: &str) -> usize {
    let path = format!("/simple/{project}/");
    index
        .requests()
        .iter()
        .filter(|request| request.path == path)
        .count()
}

fn requested_files(index: &TestIndex) -> Vec<String> {
    index
        .requests()
        .into_iter()
        .map(|request| request.path)
        .filter(|path| path.starts_with("/files/"))
        .collect()
}

#[test]
fn a_name_on_two_indexes_is_refused_whichever_index_holds_the_squat_and_nothing_is_installed() {
    let context = TestContext::with_environment();
    let venv = context.work().join(".venv");
    let before = snapshot(&venv);
    // The squat higher than the real release, equal to it, lower; on the public index or on
    // the private one; pages in JSON or in HTML: always refused, never a silent pick.
    for (squat, squat_on_private, json) in [
        ("99.0", false, true),
        ("1.0", false, true),
        ("0.1", false, false),
        ("99.0", true, false),
    ] {
        let (public, private) = if squat_on_private {
            (
                public_index(None)
                    .wheel(internal("1.0", "public"))
                    .start()
                    .unwrap(),
                private_index()
                    .wheel(internal(squat, "squat"))
                    .serve_json(json)
                    .start()
                    .unwrap(),
            )
        } else {
            (
                public_index(Some(squat)).start().unwrap(),
                private_index().serve_json(json).start().unwrap(),
            )
        };
        write_policy(&context, &allowing(&private));
        let output = run(&context, &public, &[&private], &["install", "app"]);
        let message = assert_refused_on_two(&output, &public, &private);
        assert!(message.contains("dependency confusion"), "{message}");
        assert_unchanged(&before, &snapshot(&venv));
        assert!(
            !context.work().join("pylock.toml").exists(),
            "a refused install writes no lockfile"
        );
    }
}

#[test]
fn lock_refuses_a_name_on_two_indexes_rather_than_record_either() {
    let context = TestContext::new();
    let public = public_index(Some("99.0")).start().unwrap();
    let private = private_index().start().unwrap();
    write_policy(&context, &allowing(&private));
    let output = run(&context, &public, &[&private], &["lock", "app"]);
    assert_refused_on_two(&output, &public, &private);
    assert!(!context.work().join("pylock.toml").exists());
    // Every such name is reported by one run.
    public.add(WheelSpec::new("tool", "1.0")).unwrap();
    private.add(WheelSpec::new("tool", "1.0")).unwrap();
    let output = run(&context, &public, &[&private], &["lock", "app", "tool"]);
    let message = assert_refused_on_two(&output, &public, &private);
    assert!(message.contains("(so are `tool`)"), "{message}");

    // The same name on one index only locks.
    let alone = public_index(None)
        .wheel(internal("1.0", "public"))
        .start()
        .unwrap();
    let output = run(
        &context,
        &alone,
        &[&private_without_the_name()],
        &["lock", "app"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
}

/// A private index that serves other projects, not the private one.
fn private_without_the_name() -> TestIndex {
    TestIndex::builder()
        .wheel(WheelSpec::new("other-tool", "1.0"))
        .start()
        .unwrap()
}

#[test]
fn a_pinned_name_is_resolved_and_installed_from_its_index_only() {
    let context = TestContext::with_environment();
    let public = public_index(Some("99.0")).start().unwrap();
    let private = private_index().start().unwrap();
    write_policy(&context, &pinning(&private));
    let output = run(&context, &public, &[&private], &["install", "app"]);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(
        message.contains(&format!("Installed {NAME} 1.0")),
        "{message}"
    );
    let imported = std::process::Command::new(context.work().join(".venv/bin/python"))
        .args(["-c", "import app; print(app.VALUE)"])
        .output()
        .unwrap();
    assert_eq!(stdout(&imported).trim(), "private", "{}", stderr(&imported));
    // The public index was never asked for the pinned name, so its higher version was never
    // seen, let alone downloaded.
    assert_eq!(page_requests(&public, NAME), 0, "{:?}", public.requests());
    assert!(
        !requested_files(&public)
            .iter()
            .any(|path| path.contains("internal_lib")),
        "{:?}",
        public.requests()
    );
    assert_eq!(
        page_requests(&private, "app"),
        1,
        "an unpinned name is asked of both"
    );
    let lock = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    let entry = &lock[lock.find(&format!("name = \"{NAME}\"")).unwrap()..];
    assert!(
        entry.contains(&format!("index = \"{}\"", private.url())),
        "{lock}"
    );

    // The pin routes even to an index the run was not configured with.
    let output = run(
        &context,
        &public,
        &[],
        &["lock", "app", "-o", "pinned.toml"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let lock = fs_err::read_to_string(context.work().join("pinned.toml")).unwrap();
    assert!(
        lock.contains(&private.file_url("internal_lib-1.0-py3-none-any.whl")),
        "{lock}"
    );
    assert!(!lock.contains("99.0"), "{lock}");
}

#[test]
fn a_pin_to_an_index_without_the_name_finds_nothing_elsewhere() {
    let context = TestContext::new();
    let public = public_index(Some("99.0")).start().unwrap();
    let empty = private_without_the_name();
    write_policy(&context, &pinning(&empty));
    let output = run(&context, &public, &[&empty], &["lock", "app"]);
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(
        message.contains(&format!("{NAME} was not found")),
        "{message}"
    );
    assert_eq!(page_requests(&public, NAME), 0, "{:?}", public.requests());
}

/// PEP 708 declarations on the public (`squat`) page and the private page, and whether they
/// make the name one project.
fn pep_708_cases(public: &TestIndex, private: &TestIndex) -> Vec<(ProjectMeta, ProjectMeta, bool)> {
    let public_page = public.project_url(NAME);
    let private_page = private.project_url(NAME);
    let tracks = |page: &str| ProjectMeta {
        tracks: vec![page.to_string()],
        alternate_locations: Vec::new(),
    };
    let lists = |page: &str| ProjectMeta {
        tracks: Vec::new(),
        alternate_locations: vec![page.to_string()],
    };
    let none = ProjectMeta::default();
    vec![
        // The private index's operator declares its project extends the public one.
        (none.clone(), tracks(&public_page), true),
        // Both owners list each other.
        (lists(&private_page), lists(&public_page), true),
        // A squatter claiming the private project, unanswered: refused.
        (lists(&private_page), none.clone(), false),
        // The private project claiming the public one, unanswered: refused.
        (none.clone(), lists(&public_page), false),
        // Tracking the index rather than the project's page, or another project: refused.
        (none.clone(), tracks(&public.url()), false),
        (none.clone(), tracks(&public.project_url("app")), false),
        // Listing each other under other names: refused.
        (
            lists(&public.project_url("app")),
            lists(&private.project_url("app")),
            false,
        ),
        (none, ProjectMeta::default(), false),
    ]
}

#[test]
fn pep_708_tracks_and_agreed_alternate_locations_allow_two_indexes_and_one_sided_claims_do_not() {
    let context = TestContext::new();
    let public = public_index(Some("1.0")).start().unwrap();
    let private = private_index().start().unwrap();
    let private_html = private_index().serve_json(false).start().unwrap();
    for extra in [&private, &private_html] {
        write_policy(&context, &allowing(extra));
        for (public_meta, private_meta, allowed) in pep_708_cases(&public, extra) {
            public.set_project_meta(NAME, public_meta.clone());
            extra.set_project_meta(NAME, private_meta.clone());
            let output = check(&context, &public, &[extra]);
            let case = format!("public {public_meta:?}, private {private_meta:?}");
            if allowed {
                assert!(output.status.success(), "{case}: {}", stderr(&output));
            } else {
                assert_refused_on_two(&output, &public, extra);
            }
            // `lock` agrees with the gate.
            let output = run(
                &context,
                &public,
                &[extra],
                &["lock", "app", "-o", "708.toml"],
            );
            assert_eq!(
                output.status.success(),
                allowed,
                "{case}: {}",
                stderr(&output)
            );
        }
    }
}

#[test]
fn a_name_on_one_index_passes_and_one_configured_index_makes_no_extra_request() {
    let context = TestContext::new();
    let public = public_index(None)
        .wheel(internal("1.0", "public"))
        .start()
        .unwrap();
    let private = private_without_the_name();
    write_policy(&context, &allowing(&private));
    let output = check(&context, &public, &[&private]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Each name was asked of each index once (the private index said 404).
    for name in ["app", NAME] {
        assert_eq!(page_requests(&public, name), 1, "{:?}", public.requests());
        assert_eq!(page_requests(&private, name), 1, "{:?}", private.requests());
    }

    // One index: one page request per name, as before the rule ran.
    public.clear_requests();
    let output = check(&context, &public, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    for name in ["app", NAME] {
        assert_eq!(page_requests(&public, name), 1, "{:?}", public.requests());
    }
    assert_eq!(
        public
            .requests()
            .iter()
            .filter(|request| request.path.starts_with("/simple/"))
            .count(),
        2,
        "{:?}",
        public.requests()
    );
}

#[test]
fn an_extra_index_that_cannot_answer_fails_closed() {
    let context = TestContext::with_environment();
    let venv = context.work().join(".venv");
    let before = snapshot(&venv);
    let public = public_index(None)
        .wheel(internal("1.0", "public"))
        .start()
        .unwrap();
    let private = private_without_the_name();
    write_policy(&context, &allowing(&private));
    let faults = [
        Fault::Status(403),
        Fault::Status(401),
        Fault::Status(500),
        Fault::Truncate { after_bytes: 3 },
    ];
    for fault in faults {
        private.clear_faults();
        // Only the private project's page fails; the other names answer 404 as usual. The
        // private index does not have the name, but it cannot say so: refused all the same.
        private.set_fault(FaultRule::new(fault.clone()).path_contains(&format!("/simple/{NAME}/")));
        let output = run(&context, &public, &[&private], &["install", "app"]);
        let message = stderr(&output);
        assert!(!output.status.success(), "{fault:?}: {message}");
        assert!(
            message.contains(&format!(
                "cannot tell whether the index `{}` serves `{NAME}`",
                private.url()
            )),
            "{fault:?}: {message}"
        );
        assert!(
            message.contains("[sources.packages]"),
            "{fault:?}: {message}"
        );
        assert_unchanged(&before, &snapshot(&venv));
    }
    // An index that is not there at all.
    let gone = private_without_the_name();
    let url = gone.url();
    drop(gone);
    let mut command = context.safevenv();
    let output = command
        .args(["install", "app", "--extra-index-url", &url])
        .env("SAFEVENV_INDEX_URL", public.url())
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(message.contains(&url), "{message}");
    assert_unchanged(&before, &snapshot(&venv));

    // Pinned, the name is not asked of the failing index, and installs.
    private.clear_faults();
    private
        .set_fault(FaultRule::new(Fault::Status(500)).path_contains(&format!("/simple/{NAME}/")));
    write_policy(&context, &pinning(&public));
    let output = run(&context, &public, &[&private], &["install", "app"]);
    assert!(output.status.success(), "{}", stderr(&output));
}
