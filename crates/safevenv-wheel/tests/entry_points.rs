//! Differential tests of `entry_points.txt`: the scripts the gate judges (the names of
//! `InspectedWheel::entry_points`) against (a) the scripts uv-install-wheel actually writes
//! into `bin/` when it stages the same wheel, and (b) the `console_scripts` and `gui_scripts`
//! every Python 3.8+ present lists with `importlib.metadata` for the same file. Generated
//! variants cover the places the readers disagree: junk after a header, inline `;` and `#`,
//! spaces and case in headers, `[DEFAULT]`, duplicate sections and keys, continuation lines,
//! `:` as a delimiter, spaces in keys, `=` in values, empty values, a BOM, `\r\n`, `\r`, tabs,
//! and Python's extra line breaks.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use safevenv_test_index::WheelSpec;
use safevenv_wheel::{EntryPoints, Limits, Wheel, WheelError};
use uv_distribution_filename::WheelFilename;

const PYTHON_MINOR: u8 = 12;

/// `(label, entry_points.txt)` for every combination of context, header, line and newline.
fn variants() -> Vec<(String, String)> {
    let contexts = [
        "",
        "[DEFAULT]\n",
        "[console_scripts]\ntool = demo:main\n",
        "[gui_scripts]\ngtool = demo:main\n",
    ];
    let headers = [
        "[console_scripts]",
        "[console_scripts]x",
        "[console_scripts] ; comment",
        "[console_scripts] # comment",
        "[ console_scripts ]",
        "[Console_Scripts]",
        "[[console_scripts]]",
        "[console_scripts]]",
        "\u{feff}[console_scripts]",
        "\t[console_scripts]",
        "[gui_scripts]",
        "[DEFAULT]",
    ];
    let lines = [
        "pip = evil:main",
        "pip=evil:main",
        "pip = evil:main ; comment",
        "pip = evil:main # comment",
        "  pip = evil:main",
        "\tpip\t=\tevil:main",
        "Pip = evil:main",
        "pip = evil:main [extra]",
        "pip : evil:main",
        "my tool = evil:main",
        "pip = evil:main=x",
        "pip =",
        "pip = evil:main\n    continued",
        "pip = evil:main\npip = other:main",
        "pip = evil:main\nPIP = other:main",
        "tool2 = a:b\u{c}pip = evil:main",
        "tool2 = a:b\u{2028}pip = evil:main",
        "; pip = evil:main",
        "# pip = evil:main",
        "python3 = evil:main",
    ];
    let mut variants = Vec::new();
    for (c, context) in contexts.iter().enumerate() {
        for (h, header) in headers.iter().enumerate() {
            for (l, line) in lines.iter().enumerate() {
                for (n, newline) in ["\n", "\r\n", "\r"].iter().enumerate() {
                    let text =
                        format!("{context}{header}\n{line}\n[console_scripts]\nlast = demo:main\n")
                            .replace('\n', newline);
                    variants.push((format!("v{c}-{h}-{l}-{n}"), text));
                }
            }
        }
    }
    variants
}

fn spec(text: &str) -> WheelSpec {
    WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "def main(): pass\n")
        .file("demo-1.0.dist-info/entry_points.txt", text)
}

/// The gate's reading of `text`, through `Wheel::inspect_reader` as the pipeline reads wheels.
fn gate(text: &str) -> Result<EntryPoints, WheelError> {
    let built = spec(text).build().unwrap();
    let filename = WheelFilename::from_str(&built.filename).unwrap();
    let inspected = Wheel::inspect_reader(
        Cursor::new(built.bytes),
        &built.filename,
        &filename,
        &Limits::default(),
    )?;
    Ok(inspected.entry_points().clone())
}

/// The scripts uv-install-wheel writes into `bin/` when it stages the wheel of `text`.
fn installed_by_uv(text: &str, root: &Path) -> Result<BTreeSet<String>, uv_install_wheel::Error> {
    let built = spec(text).build().unwrap();
    let unpacked = root.join("unpacked");
    let mut archive = zip::ZipArchive::new(Cursor::new(built.bytes)).unwrap();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let path = unpacked.join(entry.name());
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        fs_err::write(&path, contents).unwrap();
    }
    let prefix = root.join("env");
    let site_packages = prefix.join("lib/python3.12/site-packages");
    let layout = uv_install_wheel::Layout {
        sys_executable: prefix.join("bin/python"),
        python_version: (3, PYTHON_MINOR),
        os_name: "posix".to_string(),
        scheme: uv_pypi_types::Scheme {
            purelib: site_packages.clone(),
            platlib: site_packages,
            scripts: prefix.join("bin"),
            data: prefix.clone(),
            include: prefix.join("include/python3.12"),
        },
    };
    uv_install_wheel::install_wheel(
        &layout,
        false,
        &unpacked,
        &WheelFilename::from_str(&built.filename).unwrap(),
        None,
        None::<&()>,
        None::<&()>,
        Some("safevenv"),
        false,
        uv_install_wheel::LinkMode::Copy,
        &uv_install_wheel::InstallState::default(),
    )?;
    let bin = prefix.join("bin");
    if !bin.exists() {
        return Ok(BTreeSet::new());
    }
    Ok(fs_err::read_dir(&bin)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect())
}

#[test]
fn every_script_uv_writes_is_judged_and_every_file_it_refuses_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let variants = variants();
    // Staging is file system work: the variants are split over a few threads.
    let chunks: Vec<&[(String, String)]> = variants.chunks(variants.len() / 4 + 1).collect();
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(|| {
                    chunk
                        .iter()
                        .map(|(label, text)| {
                            let written = installed_by_uv(text, &scratch.path().join(label));
                            (label, text, gate(text), written)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    let (mut compared, mut refused_by_both, mut hidden_pip) = (0, 0, 0);
    for (label, text, judged, written) in outcomes {
        match written {
            Ok(written) => {
                // The gate may refuse more than uv (stricter), never judge less.
                let Ok(judged) = judged else { continue };
                let names: BTreeSet<String> =
                    judged.script_names(PYTHON_MINOR).into_iter().collect();
                assert!(
                    written.is_subset(&names),
                    "{label} {text:?}: uv wrote {written:?}, the gate judges {names:?}"
                );
                compared += 1;
                if written.contains("pip") && !text.starts_with("[console_scripts]\n") {
                    hidden_pip += 1;
                }
            }
            // uv refuses these names itself; the policy's reserved-script rule refuses them.
            Err(uv_install_wheel::Error::ReservedScriptName { declared, .. }) => {
                let judged = judged.unwrap_or_else(|err| panic!("{label} {text:?}: {err}"));
                assert!(
                    judged.script_names(PYTHON_MINOR).contains(&declared),
                    "{label} {text:?}: `{declared}` not judged"
                );
            }
            Err(uv) => {
                assert!(
                    judged.is_err(),
                    "{label} {text:?}: uv refuses it ({uv}), the gate accepts {judged:?}"
                );
                refused_by_both += 1;
            }
        }
    }
    // The corpus exercises each outcome, not only refusals.
    assert!(compared > 500, "{compared} compared");
    assert!(refused_by_both > 100, "{refused_by_both} refused by both");
    assert!(
        hidden_pip > 50,
        "{hidden_pip} variants with an unusual header write `bin/pip`"
    );
}

const LIST_SCRIPTS: &str = r#"
import json, pathlib, sys
from importlib.metadata import Distribution
out = {}
for variant in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    try:
        entry_points = Distribution.at(variant / "demo-1.0.dist-info").entry_points
        out[variant.name] = [
            [ep.group, ep.name]
            for ep in entry_points
            if ep.group in ("console_scripts", "gui_scripts")
        ]
    except Exception:
        # Python refuses the file: it lists no entry point at all.
        out[variant.name] = []
print(json.dumps(out))
"#;

/// Every pyenv interpreter 3.8+ on this machine.
fn interpreters() -> Vec<PathBuf> {
    safevenv_test_index::pyenv_pythons()
        .into_iter()
        .map(|found| found.python)
        .collect()
}

#[test]
fn every_script_python_lists_is_judged() {
    let pythons = interpreters();
    assert!(!pythons.is_empty(), "no pyenv Python 3.8+ found");
    let scratch = tempfile::tempdir().unwrap();
    let mut judged: BTreeMap<String, EntryPoints> = BTreeMap::new();
    for (label, text) in variants() {
        let dist_info = scratch.path().join(&label).join("demo-1.0.dist-info");
        fs_err::create_dir_all(&dist_info).unwrap();
        fs_err::write(dist_info.join("entry_points.txt"), &text).unwrap();
        if let Ok(entry_points) = gate(&text) {
            judged.insert(label, entry_points);
        }
    }
    for python in pythons {
        let output = Command::new(&python)
            .args(["-I", "-c", LIST_SCRIPTS])
            .arg(scratch.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let listed: BTreeMap<String, Vec<(String, String)>> =
            serde_json::from_slice(&output.stdout).unwrap();
        let mut compared = 0;
        for (label, entry_points) in &judged {
            for (group, name) in &listed[label] {
                let scripts = match group.as_str() {
                    "console_scripts" => &entry_points.console_scripts,
                    _ => &entry_points.gui_scripts,
                };
                assert!(
                    scripts.iter().any(|script| &script.name == name),
                    "{}: {label}: Python lists `{name}` in `{group}`, the gate judges {entry_points:?}",
                    python.display()
                );
                compared += 1;
            }
        }
        assert!(
            compared > 500,
            "{}: {compared} names compared",
            python.display()
        );
    }
}
