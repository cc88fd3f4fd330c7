use std::path::{Path, PathBuf};
use std::str::FromStr;

use uv_normalize::{ExtraName, GroupName, PackageName};

use crate::{EditTarget, Project, ProjectError, Selection, add, find_root, remove};

fn path() -> PathBuf {
    PathBuf::from("/work/app/pyproject.toml")
}

fn project(text: &str) -> Result<Project, ProjectError> {
    Project::from_text(&path(), text)
}

fn names(project: &Project, selection: &Selection) -> Vec<String> {
    project
        .select(selection)
        .unwrap()
        .requirements
        .iter()
        .map(|declared| declared.requirement.to_string())
        .collect()
}

fn group(name: &str) -> GroupName {
    GroupName::from_str(name).unwrap()
}

fn extra(name: &str) -> ExtraName {
    ExtraName::from_str(name).unwrap()
}

const FULL: &str = r#"
[project]
name = "App_Name"
requires-python = ">=3.9"
dependencies = ["lib>=1", "other; python_version < '3'"]

[project.optional-dependencies]
Fast = ["speedup==2"]
all = ["app-name[fast]", "extra-thing"]

[dependency-groups]
test = ["pytest>=8", { include-group = "lint" }]
lint = ["ruff"]
dev = [{ include-group = "test" }, "ipython"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"#;

#[test]
fn reads_the_project_table() {
    let project = project(FULL).unwrap();
    assert_eq!(project.name.as_str(), "app-name");
    assert_eq!(project.requires_python().unwrap().to_string(), ">=3.9");
    assert!(project.build_system);
    assert_eq!(project.dependencies[1].key, "project.dependencies[1]");
    assert_eq!(project.dependencies[1].line, 5);
    let extras = project.optional_dependencies.as_ref().unwrap();
    assert!(extras.contains_key(&extra("fast")), "extras are normalized");
}

#[test]
fn dev_is_the_default_group_and_includes_are_expanded() {
    let project = project(FULL).unwrap();
    assert_eq!(
        names(&project, &Selection::default()),
        [
            "lib>=1",
            "other ; python_full_version < '3'",
            "pytest>=8",
            "ruff",
            "ipython"
        ]
    );
    let selected = project.select(&Selection::default()).unwrap();
    assert_eq!(selected.groups, [group("dev")]);
    let none = Selection {
        no_default_groups: true,
        ..Selection::default()
    };
    assert_eq!(names(&project, &none).len(), 2);
}

#[test]
fn only_group_leaves_out_the_projects_dependencies() {
    let project = project(FULL).unwrap();
    let only = Selection {
        only_groups: vec![group("lint")],
        ..Selection::default()
    };
    assert_eq!(names(&project, &only), ["ruff"]);
    assert!(!project.select(&only).unwrap().project_dependencies);
}

#[test]
fn extras_and_self_references_are_expanded() {
    let project = project(FULL).unwrap();
    let all = Selection {
        extras: vec![extra("all")],
        no_default_groups: true,
        ..Selection::default()
    };
    assert_eq!(
        names(&project, &all),
        [
            "lib>=1",
            "other ; python_full_version < '3'",
            "speedup==2",
            "extra-thing"
        ],
        "`app-name[fast]` is the project's own extra, never looked up on the index"
    );
    let every = Selection {
        all_extras: true,
        no_default_groups: true,
        ..Selection::default()
    };
    assert_eq!(project.select(&every).unwrap().extras.len(), 2);
}

#[test]
fn an_unknown_extra_or_group_is_refused() {
    let project = project(FULL).unwrap();
    let err = project
        .select(&Selection {
            extras: vec![extra("nope")],
            ..Selection::default()
        })
        .unwrap_err();
    assert!(matches!(err, ProjectError::UnknownExtra { .. }), "{err}");
    let err = project
        .select(&Selection {
            groups: vec![group("docs")],
            ..Selection::default()
        })
        .unwrap_err();
    assert!(matches!(err, ProjectError::UnknownGroup { .. }), "{err}");
    assert!(err.to_string().contains("`dev`, `lint`, `test`"), "{err}");
}

#[test]
fn an_include_of_an_unknown_group_is_refused() {
    let err = project(
        "[project]\nname = \"a\"\n[dependency-groups]\ndev = [{ include-group = \"missing\" }]\n",
    )
    .unwrap_err();
    assert!(matches!(err, ProjectError::UnknownGroup { .. }), "{err}");
}

#[test]
fn a_cycle_of_includes_is_refused() {
    let err = project(
        r#"
[project]
name = "a"
[dependency-groups]
one = [{ include-group = "two" }]
two = ["x", { include-group = "Three" }]
three = [{ include-group = "one" }]
"#,
    )
    .unwrap_err();
    let ProjectError::GroupCycle { cycle, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(cycle, &["one", "two", "three", "one"]);
    let ok = project(
        "[project]\nname = \"a\"\n[dependency-groups]\none = [{ include-group = \"two\" }, { include-group = \"two\" }]\ntwo = [\"x\"]\n",
    );
    assert!(ok.is_ok(), "a group included twice is no cycle: {ok:?}");
}

#[test]
fn group_names_equal_once_normalized_are_refused() {
    let err = project("[project]\nname = \"a\"\n[dependency-groups]\nTest = []\ntest = []\n")
        .unwrap_err();
    assert!(matches!(err, ProjectError::DuplicateGroup { .. }), "{err}");
}

#[test]
fn a_malformed_include_is_refused() {
    let err = project(
        "[project]\nname = \"a\"\n[dependency-groups]\ndev = [{ include-group = \"x\", other = 1 }]\n",
    )
    .unwrap_err();
    assert!(matches!(err, ProjectError::WrongType { .. }), "{err}");
}

#[test]
fn dynamic_dependencies_are_refused() {
    let err = project("[project]\nname = \"a\"\ndynamic = [\"dependencies\", \"version\"]\n")
        .unwrap_err();
    assert!(
        matches!(err, ProjectError::DynamicDependencies { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("`[project] dependencies`"),
        "{err}"
    );
    let err = project("[project]\nname = \"a\"\ndynamic = [\"dependencies\"]\ndependencies = []\n")
        .unwrap_err();
    assert!(
        matches!(err, ProjectError::StaticAndDynamic { .. }),
        "{err}"
    );
}

#[test]
fn dynamic_extras_are_refused_only_when_asked_for() {
    let project =
        project("[project]\nname = \"a\"\ndynamic = [\"optional-dependencies\"]\n").unwrap();
    assert!(project.select(&Selection::default()).is_ok());
    let err = project
        .select(&Selection {
            extras: vec![extra("x")],
            ..Selection::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, ProjectError::DynamicOptionalDependencies { .. }),
        "{err}"
    );
}

#[test]
fn a_file_without_a_project_table_is_refused() {
    let err = project("[tool.black]\nline-length = 100\n").unwrap_err();
    assert!(matches!(err, ProjectError::MissingProject { .. }), "{err}");
    assert!(
        err.to_string().contains("/work/app/pyproject.toml"),
        "{err}"
    );
    let err = project("[project]\nversion = \"1\"\n").unwrap_err();
    assert!(matches!(err, ProjectError::MissingName { .. }), "{err}");
}

#[test]
fn a_malformed_requirement_names_the_file_key_and_line() {
    let err = project(
        "[project]\nname = \"a\"\n\n[project.optional-dependencies]\ntest = [\n  \"ok\",\n  \"bad name ===\",\n]\n",
    )
    .unwrap_err();
    let ProjectError::InvalidRequirement { key, line, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(key, "project.optional-dependencies.test[1]");
    assert_eq!(*line, 7);
    let text = err.to_string();
    assert!(
        text.contains("/work/app/pyproject.toml") && text.contains("line 7"),
        "{text}"
    );
}

#[test]
fn wrong_types_and_bad_specifiers_are_refused() {
    let err = project("[project]\nname = \"a\"\ndependencies = \"lib\"\n").unwrap_err();
    assert!(matches!(err, ProjectError::WrongType { .. }), "{err}");
    let err = project("[project]\nname = \"a\"\nrequires-python = \">=3.x\"\n").unwrap_err();
    assert!(
        matches!(err, ProjectError::InvalidRequiresPython { line: 3, .. }),
        "{err}"
    );
    let err = project("[project\nname = \"a\"\n").unwrap_err();
    assert!(matches!(err, ProjectError::Toml { .. }), "{err}");
}

#[test]
fn the_nearest_parent_with_a_pyproject_is_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("app/src/pkg");
    fs_err::create_dir_all(&nested).unwrap();
    fs_err::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"outer\"\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("app/pyproject.toml"),
        "[project]\nname = \"inner\"\n",
    )
    .unwrap();
    assert_eq!(find_root(&nested).unwrap(), dir.path().join("app"));
    let project = Project::discover(&nested).unwrap();
    assert_eq!(project.name.as_str(), "inner");
    assert_eq!(project.root, dir.path().join("app"));
    let empty = tempfile::tempdir().unwrap();
    // The temporary directory's parents hold no pyproject.toml on a test machine.
    if find_root(empty.path()).is_none() {
        let err = Project::discover(empty.path()).unwrap_err();
        assert!(matches!(err, ProjectError::NotFound { .. }), "{err}");
    }
}

// Editing.

const EDITABLE: &str = r#"# The app.
[project]
name = "app"  # keep me
version = "1.0"
dependencies = [
    # web
    "requests>=2",   # pinned loosely
    "Foo_Bar==1",
]

[project.optional-dependencies]
fast = ["speedup"]

[tool.other]
key = 'single quotes'   # untouched
"#;

fn edit_path() -> &'static Path {
    Path::new("/work/app/pyproject.toml")
}

fn specs(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

#[test]
fn add_appends_in_the_arrays_style_and_keeps_everything_else() {
    let edited = add(
        edit_path(),
        EDITABLE,
        &specs(&["rich>=13"]),
        &EditTarget::Dependencies,
    )
    .unwrap();
    let expected = EDITABLE.replace(
        "    \"Foo_Bar==1\",\n]",
        "    \"Foo_Bar==1\",\n    \"rich>=13\",\n]",
    );
    assert_eq!(edited, expected);
}

#[test]
fn add_of_an_existing_dependency_replaces_its_specifier() {
    let edited = add(
        edit_path(),
        EDITABLE,
        &specs(&["foo-bar>=2"]),
        &EditTarget::Dependencies,
    )
    .unwrap();
    assert_eq!(
        edited,
        EDITABLE.replace("\"Foo_Bar==1\"", "\"foo-bar>=2\""),
        "only the entry changes, its place and comments stay"
    );
}

#[test]
fn add_to_a_one_line_array_and_to_new_tables() {
    let edited = add(
        edit_path(),
        EDITABLE,
        &specs(&["cython"]),
        &EditTarget::Optional(extra("fast")),
    )
    .unwrap();
    assert_eq!(
        edited,
        EDITABLE.replace("fast = [\"speedup\"]", "fast = [\"speedup\", \"cython\"]")
    );
    let edited = add(
        edit_path(),
        EDITABLE,
        &specs(&["pytest"]),
        &EditTarget::Group(group("dev")),
    )
    .unwrap();
    assert!(edited.starts_with(EDITABLE), "{edited}");
    assert!(
        edited.ends_with("\n[dependency-groups]\ndev = [\"pytest\"]\n"),
        "{edited}"
    );
    let project = Project::from_text(edit_path(), &edited).unwrap();
    assert_eq!(project.dependency_groups[&group("dev")].len(), 1);
}

#[test]
fn add_after_a_last_entry_with_a_comment_and_no_trailing_comma() {
    let text = "[project]\nname = \"a\"\ndependencies = [\n  \"x\",\n  \"y\"  # why\n]\n";
    let edited = add(edit_path(), text, &specs(&["z"]), &EditTarget::Dependencies).unwrap();
    assert_eq!(
        edited,
        "[project]\nname = \"a\"\ndependencies = [\n  \"x\",\n  \"y\",  # why\n  \"z\"\n]\n"
    );
}

#[test]
fn remove_matches_normalized_names_and_keeps_the_rest() {
    let name = PackageName::from_str("foo.bar").unwrap();
    let edited = remove(edit_path(), EDITABLE, &[name], &EditTarget::Dependencies).unwrap();
    assert_eq!(edited, EDITABLE.replace("\n    \"Foo_Bar==1\",", ""));
    let two = "[project]\nname = \"a\"\ndependencies = [\"x\", \"y\"]\n";
    let name = PackageName::from_str("x").unwrap();
    let edited = remove(edit_path(), two, &[name], &EditTarget::Dependencies).unwrap();
    assert_eq!(edited, "[project]\nname = \"a\"\ndependencies = [\"y\"]\n");
}

#[test]
fn remove_of_what_is_not_there_is_refused() {
    let name = PackageName::from_str("absent").unwrap();
    let err = remove(
        edit_path(),
        EDITABLE,
        std::slice::from_ref(&name),
        &EditTarget::Dependencies,
    )
    .unwrap_err();
    assert!(matches!(err, ProjectError::NotADependency { .. }), "{err}");
    let err = remove(
        edit_path(),
        EDITABLE,
        &[name],
        &EditTarget::Group(group("dev")),
    )
    .unwrap_err();
    assert!(matches!(err, ProjectError::NotADependency { .. }), "{err}");
}

#[test]
fn edits_of_dynamic_dependencies_or_bad_requirements_are_refused() {
    let dynamic = "[project]\nname = \"a\"\ndynamic = [\"dependencies\"]\n";
    let err = add(
        edit_path(),
        dynamic,
        &specs(&["x"]),
        &EditTarget::Dependencies,
    )
    .unwrap_err();
    assert!(
        matches!(err, ProjectError::DynamicDependencies { .. }),
        "{err}"
    );
    let err = add(
        edit_path(),
        EDITABLE,
        &specs(&["not valid ("]),
        &EditTarget::Dependencies,
    )
    .unwrap_err();
    assert!(
        matches!(err, ProjectError::InvalidNewRequirement { .. }),
        "{err}"
    );
    let err = add(
        edit_path(),
        "[tool.x]\n",
        &specs(&["x"]),
        &EditTarget::Dependencies,
    )
    .unwrap_err();
    assert!(matches!(err, ProjectError::MissingProject { .. }), "{err}");
}

#[test]
fn remove_of_the_last_entry_keeps_the_closing_line() {
    let text = "[project]\nname = \"a\"\ndependencies = [\n  \"x\",\n  \"y\"\n]\n";
    let name = PackageName::from_str("y").unwrap();
    let edited = remove(edit_path(), text, &[name], &EditTarget::Dependencies).unwrap();
    assert_eq!(
        edited,
        "[project]\nname = \"a\"\ndependencies = [\n  \"x\"\n]\n"
    );
}
