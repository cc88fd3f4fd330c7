//! Building end to end (issue 14): sdists allowed by the policy, local projects (`install .`,
//! `-e .`), through a throwaway build environment that gets its backend from the index by the
//! same pipeline, and the built-wheel cache. The backend is a tiny real PEP 517 backend
//! (`tinybuild`) served as a wheel by the test index.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestContext, run_ok, stderr};
use safevenv_test_index::{TestIndex, WheelSpec};

/// A minimal PEP 517/660 backend: the project's `tiny.cfg` gives its name and version, the
/// package is `src/<name>/`. `build_editable` puts `src/` on the path with a `.pth` file.
const BACKEND: &str = r#"
import base64, hashlib, os, zipfile

def _config():
    values = {}
    with open("tiny.cfg", encoding="utf-8") as cfg:
        for line in cfg:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values["name"], values["version"], [v for v in values.get("requires", "").split(",") if v]

def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"

def _wheel(directory, files):
    name, version, requires = _config()
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    for requirement in requires:
        metadata += f"Requires-Dist: {requirement}\n"
    files = dict(files)
    files[f"{dist_info}/METADATA"] = metadata.encode()
    files[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tinybuild\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = [_record_line(path, data) for path, data in sorted(files.items())]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, filename), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return filename

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {}
    for root, _, names in os.walk("src"):
        for file in names:
            path = os.path.join(root, file)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, "src").replace(os.sep, "/")] = handle.read()
    return _wheel(wheel_directory, files)

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name, _, _ = _config()
    pth = (os.path.abspath("src") + "\n").encode()
    return _wheel(wheel_directory, {f"_{name}_editable.pth": pth})
"#;

const PYPROJECT: &str = "[project]\nname = \"app\"\nversion = \"1.0\"\n\n[build-system]\nrequires = [\"tinybuild>=1\"]\nbuild-backend = \"tinybuild\"\n";

fn index() -> TestIndex {
    TestIndex::builder()
        .wheel(WheelSpec::new("tinybuild", "1.0").file("tinybuild.py", BACKEND.as_bytes().to_vec()))
        .wheel(WheelSpec::new("lib", "1.0").file("lib/__init__.py", b"VALUE = 1\n".to_vec()))
        .start()
        .expect("start the test index")
}

/// A project `app` 1.0 at `dir`, depending on `lib` from the index.
fn write_project(dir: &Path, greeting: &str) {
    fs_err::create_dir_all(dir.join("src/app")).unwrap();
    fs_err::write(dir.join("pyproject.toml"), PYPROJECT).unwrap();
    fs_err::write(
        dir.join("tiny.cfg"),
        "name=app\nversion=1.0\nrequires=lib>=1\n",
    )
    .unwrap();
    fs_err::write(
        dir.join("src/app/__init__.py"),
        format!("GREETING = {greeting:?}\n"),
    )
    .unwrap();
}

/// `app-1.0.tar.gz` of the project, made with the machine's `tar` (as an sdist is laid out:
/// one top-level `app-1.0/` directory).
fn write_sdist(context: &TestContext) -> PathBuf {
    let staging = context.root.path().join("sdist");
    write_project(&staging.join("app-1.0"), "from the sdist");
    let dist = context.work().join("dist");
    fs_err::create_dir_all(&dist).unwrap();
    let sdist = dist.join("app-1.0.tar.gz");
    run_ok(
        std::process::Command::new("tar")
            .arg("-czf")
            .arg(&sdist)
            .arg("-C")
            .arg(&staging)
            .arg("app-1.0"),
    );
    sdist
}

/// The policy: `app` may come from any path below the project directory (`sources.path`).
fn allow_paths(context: &TestContext) {
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[sources]\npath-allow = [{ package = \"app\", path = \".\" }]\n",
    )
    .unwrap();
}

fn safevenv(context: &TestContext, index: &TestIndex, args: &[&str]) -> Output {
    context.run_with_index(index, args)
}

fn python(context: &TestContext, code: &str) -> String {
    let output = run_ok(
        std::process::Command::new(context.work().join(".venv/bin/python")).args(["-c", code]),
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn site_packages(context: &TestContext) -> PathBuf {
    PathBuf::from(python(
        context,
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ))
}

/// Whether the run called a backend's build hook (`-v` logs each hook call).
fn built(output: &Output) -> bool {
    stderr(output).contains("calling `build_")
}

#[test]
fn a_local_project_builds_in_the_sandbox_and_installs_with_its_dependencies() {
    let context = TestContext::with_environment();
    let index = index();
    let project = context.work().join("project");
    allow_paths(&context);
    write_project(&project, "hello");
    let before = fs_err::read_to_string(project.join("src/app/__init__.py")).unwrap();
    let output = safevenv(&context, &index, &["install", "./project"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        python(&context, "import app, lib; print(app.GREETING, lib.VALUE)"),
        "hello 1"
    );
    // PEP 610: a local directory, not editable.
    let direct_url =
        fs_err::read_to_string(site_packages(&context).join("app-1.0.dist-info/direct_url.json"))
            .unwrap();
    assert!(direct_url.contains("\"dir_info\""), "{direct_url}");
    assert!(!direct_url.contains("editable"), "{direct_url}");
    assert!(direct_url.contains("file://"), "{direct_url}");
    // Non-editable builds work on a copy: the project is as it was.
    assert!(!project.join("build").exists());
    assert_eq!(
        fs_err::read_to_string(project.join("src/app/__init__.py")).unwrap(),
        before
    );
    // The backend went through the pipeline into the build environment, not into the target.
    assert!(!site_packages(&context).join("tinybuild.py").exists());
    // PEP 751: the lockfile records the directory, not the built wheel.
    let lock = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    assert!(
        lock.contains("directory = { path = \"project\", editable = false }"),
        "{lock}"
    );
    assert!(!lock.contains("app-1.0-py3-none-any.whl"), "{lock}");
}

#[test]
fn an_editable_project_sees_edits_without_reinstalling() {
    let context = TestContext::with_environment();
    let index = index();
    allow_paths(&context);
    write_project(&context.work(), "before");
    let output = safevenv(&context, &index, &["install", "-e", "."]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        python(&context, "import app; print(app.GREETING)"),
        "before"
    );
    fs_err::write(
        context.work().join("src/app/__init__.py"),
        "GREETING = 'after'\n",
    )
    .unwrap();
    assert_eq!(python(&context, "import app; print(app.GREETING)"), "after");
    let direct_url =
        fs_err::read_to_string(site_packages(&context).join("app-1.0.dist-info/direct_url.json"))
            .unwrap();
    assert!(direct_url.contains("\"editable\":true"), "{direct_url}");
    let lock = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    assert!(
        lock.contains("directory = { path = \".\", editable = true }"),
        "{lock}"
    );
}

#[test]
fn an_sdist_is_refused_naming_the_key_unless_the_policy_allows_building_it() {
    let context = TestContext::with_environment();
    let index = index();
    let sdist = write_sdist(&context);
    // Local sdists are the user's files, allowed by `sources.path`; building one from a URL is
    // what `artifacts.sdist` is about. Serve it from the index's host by a pinned direct URL.
    let bytes = fs_err::read(&sdist).unwrap();
    let sha256 = safevenv_test_index::sha256_hex(&bytes);
    index
        .add(safevenv_test_index::IndexFile::raw(
            "unlisted",
            safevenv_test_index::RawArtifact {
                filename: "app-1.0.tar.gz".to_string(),
                bytes,
            },
        ))
        .unwrap();
    let pinned = format!("app @ {}#sha256={sha256}", index.file_url("app-1.0.tar.gz"));
    let files = index.file_url("");
    fs_err::write(
        context.work().join("safevenv.toml"),
        format!("[sources]\ndirect-url-allow = [{{ package = \"app\", url = \"{files}\" }}]\n"),
    )
    .unwrap();
    let output = safevenv(&context, &index, &["-v", "install", &pinned]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("artifacts.sdist"), "{message}");
    assert!(message.contains("sdist-allow"), "{message}");
    assert!(
        !stderr(&output).contains("calling `"),
        "no hook ran: {message}"
    );

    fs_err::write(
        context.work().join("safevenv.toml"),
        format!(
            "[sources]\ndirect-url-allow = [{{ package = \"app\", url = \"{files}\" }}]\n[artifacts]\nsdist-allow = [\"app\"]\n"
        ),
    )
    .unwrap();
    let output = safevenv(&context, &index, &["install", &pinned]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        python(&context, "import app; print(app.GREETING)"),
        "from the sdist"
    );
    let lock = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    assert!(
        lock.contains("sdist = { name = \"app-1.0.tar.gz\""),
        "{lock}"
    );
    assert!(lock.contains(&sha256), "{lock}");
    let direct_url =
        fs_err::read_to_string(site_packages(&context).join("app-1.0.dist-info/direct_url.json"))
            .unwrap();
    assert!(
        direct_url.contains(&format!("sha256={sha256}")),
        "{direct_url}"
    );
}

#[test]
fn a_second_install_of_the_same_sdist_does_not_rebuild() {
    let context = TestContext::with_environment();
    let index = index();
    allow_paths(&context);
    let sdist = write_sdist(&context);
    let output = safevenv(
        &context,
        &index,
        &["-v", "install", "./dist/app-1.0.tar.gz"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(built(&output), "{}", stderr(&output));
    assert_eq!(
        python(&context, "import app; print(app.GREETING)"),
        "from the sdist"
    );
    // A fresh environment, the same sdist: the built-wheel cache answers.
    run_ok(context.safevenv().args(["create", "-q", "--clear"]));
    let output = safevenv(
        &context,
        &index,
        &["-v", "install", "./dist/app-1.0.tar.gz"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!built(&output), "not built again: {}", stderr(&output));
    assert_eq!(
        python(&context, "import app; print(app.GREETING)"),
        "from the sdist"
    );
    drop(sdist);
}

#[test]
fn what_the_lockfile_records_as_built_is_built_again_by_a_later_install() {
    let context = TestContext::with_environment();
    let index = index();
    allow_paths(&context);
    write_sdist(&context);
    write_project(&context.work().join("project"), "from the tree");
    fs_err::write(
        context.work().join("project/tiny.cfg"),
        "name=tree\nversion=1.0\n",
    )
    .unwrap();
    fs_err::remove_dir_all(context.work().join("project/src/app")).unwrap();
    fs_err::create_dir_all(context.work().join("project/src/tree")).unwrap();
    fs_err::write(
        context.work().join("project/src/tree/__init__.py"),
        "NAME = 'tree'\n",
    )
    .unwrap();
    fs_err::write(
        context.work().join("project/pyproject.toml"),
        PYPROJECT.replace("name = \"app\"", "name = \"tree\""),
    )
    .unwrap();
    fs_err::write(
        context.work().join("safevenv.toml"),
        "[sources]\npath-allow = [{ package = \"app\", path = \".\" }, { package = \"tree\", path = \".\" }]\n",
    )
    .unwrap();
    let output = safevenv(
        &context,
        &index,
        &["-v", "install", "./dist/app-1.0.tar.gz", "./project"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // A later install names neither: the lockfile's `sdist` (from the built-wheel cache) and
    // `directory` (built again: a tree may have changed) keep both.
    let output = safevenv(&context, &index, &["-v", "install", "lib"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(log.contains("was built before"), "{log}");
    assert_eq!(
        python(&context, "import app, tree; print(app.GREETING, tree.NAME)"),
        "from the sdist tree"
    );
    let lock = fs_err::read_to_string(context.work().join("pylock.toml")).unwrap();
    assert!(
        lock.contains("sdist = { name = \"app-1.0.tar.gz\""),
        "{lock}"
    );
    assert!(
        lock.contains("directory = { path = \"project\", editable = false }"),
        "{lock}"
    );
}

#[test]
fn a_build_dependency_that_is_not_on_the_index_fails_before_any_build() {
    let context = TestContext::with_environment();
    let index = index();
    let project = context.work().join("project");
    allow_paths(&context);
    write_project(&project, "hello");
    fs_err::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\n[build-system]\nrequires = [\"nosuchbackend\"]\nbuild-backend = \"nosuchbackend\"\n",
    )
    .unwrap();
    let output = safevenv(&context, &index, &["-v", "install", "./project"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("nosuchbackend"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("calling `"), "no hook ran");
}
