//! The cache of unpacked wheels: a miss fills it, a hit links from it, installing never changes
//! it, and an entry that differs from the wheel in any way is discarded, never linked from.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use safevenv_installer::{EntryMismatch, EnvironmentLayout, InstallError, UnpackedCache};
use safevenv_test_index::WheelSpec;
use sha2::{Digest, Sha256};
use uv_pypi_types::{DirInfo, DirectUrl};

use common::{apply, approve, make_env, open, snapshot, unpacked, verified, wanted, wheel_info};

/// Every way uv writes while installing: a linked module, a data file, a `#!python` script
/// (rewritten), an executable script (moved), a console script, a wheel-shipped `INSTALLER`
/// (overwritten), and `REQUESTED` dropped for a dependency.
fn rich() -> WheelSpec {
    WheelSpec::new("rich", "1.0")
        .file("rich/__init__.py", "VALUE = 1\n")
        .file("rich/data/table.txt", "row\n")
        .file("rich-1.0.dist-info/INSTALLER", "someone-else\n")
        .data_file("scripts/rich-tool", "#!python\nprint('tool')\n")
        .data_file("scripts/rich-bin", "#!/bin/sh\necho bin\n")
        .unix_mode("rich-1.0.data/scripts/rich-bin", 0o755)
        .data_file("data/share/rich/readme.txt", "readme\n")
        .console_script("rich", "rich:main")
}

/// Install `rich` (as a dependency, with a `direct_url.json`) into a fresh environment at
/// `root/<name>` with the shared cache beside it.
fn install_rich(root: &Path, name: &str) -> EnvironmentLayout {
    let layout = make_env(&root.join(name));
    let env = open(&layout);
    let mut want = wanted(&[("rich", "1.0", false)]);
    want[0].direct_url = Some(DirectUrl::LocalDirectory {
        url: "file:///src/rich".to_string(),
        dir_info: DirInfo { editable: None },
        subdirectory: None,
    });
    let wheels = vec![verified(root, &rich())];
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    apply(
        &env,
        &plan,
        &approve(&want),
        &wheels,
        &unpacked(&layout),
        &mut |_| {},
    )
    .unwrap();
    layout
}

/// The cache's entries and any other name left in it, but for the entries' seals, of which
/// each entry must have exactly one (named for its inode, holding a tag).
fn entries(cache: &UnpackedCache) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = fs_err::read_dir(cache.dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    let (records, entries): (Vec<PathBuf>, Vec<PathBuf>) = names
        .into_iter()
        .partition(|path| path.to_string_lossy().contains(".seal-"));
    for entry in &entries {
        let inode = fs_err::symlink_metadata(entry).unwrap().ino();
        let record = PathBuf::from(format!("{}.seal-{inode}", entry.display()));
        assert!(
            records.contains(&record),
            "no seal {record:?} in {records:?}"
        );
        let seal = fs_err::read_to_string(&record).unwrap();
        assert!(seal.starts_with("safevenv-seal-v1 "), "{seal}");
    }
    assert_eq!(records.len(), entries.len(), "{records:?}");
    entries
}

fn only_entry(cache: &UnpackedCache) -> PathBuf {
    let entries = entries(cache);
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

fn module(layout: &EnvironmentLayout) -> PathBuf {
    layout.scheme.purelib.join("rich/__init__.py")
}

fn wheel_files(root: &Path) -> safevenv_wheel::WheelInfo {
    wheel_info(root, &rich())
}

/// Put a directory's modification time back to the entry's seal, as only a deliberate writer
/// would: the checks behind the seal must still catch what was done inside it.
fn restore_seal(entry: &Path, dir: &Path) {
    let seal = fs_err::metadata(entry).unwrap().modified().unwrap();
    fs_err::File::open(dir).unwrap().set_modified(seal).unwrap();
}

#[test]
fn a_miss_fills_the_cache_and_a_hit_links_from_it_without_changing_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = install_rich(dir.path(), "first");
    let cache = unpacked(&first);
    let entry = only_entry(&cache);
    cache.check_entry(&entry, &wheel_files(dir.path())).unwrap();
    let before = snapshot(&entry);

    let second = install_rich(dir.path(), "second");
    assert_eq!(only_entry(&cache), entry, "a hit adds no entry");
    assert_eq!(
        snapshot(&entry),
        before,
        "installing changed the cache entry"
    );
    // Both environments share the entry's inode: nothing was unpacked again.
    let cached = fs_err::metadata(entry.join("rich/__init__.py")).unwrap();
    for layout in [&first, &second] {
        let installed = fs_err::metadata(module(layout)).unwrap();
        assert_eq!(installed.ino(), cached.ino());
        assert_eq!(
            fs_err::read_to_string(module(layout)).unwrap(),
            "VALUE = 1\n"
        );
        // What uv rewrote is the environment's own file; the entry keeps the wheel's.
        let tool = fs_err::read_to_string(layout.scheme.scripts.join("rich-tool")).unwrap();
        assert!(tool.starts_with("#!/"), "{tool}");
        let dist_info = layout.scheme.purelib.join("rich-1.0.dist-info");
        assert_eq!(
            fs_err::read_to_string(dist_info.join("INSTALLER")).unwrap(),
            "safevenv"
        );
        assert!(!dist_info.join("REQUESTED").exists());
        assert!(dist_info.join("direct_url.json").is_file());
        let record = fs_err::read_to_string(dist_info.join("RECORD")).unwrap();
        assert!(record.contains("direct_url.json"), "{record}");
        assert!(!record.contains("REQUESTED"), "{record}");
    }
    assert_eq!(
        fs_err::read_to_string(entry.join("rich-1.0.data/scripts/rich-tool")).unwrap(),
        "#!python\nprint('tool')\n"
    );
    assert_eq!(
        fs_err::read_to_string(entry.join("rich-1.0.dist-info/INSTALLER")).unwrap(),
        "someone-else\n"
    );
    assert!(
        !fs_err::read_to_string(entry.join("rich-1.0.dist-info/RECORD"))
            .unwrap()
            .contains("direct_url.json")
    );
    cache.check_entry(&entry, &wheel_files(dir.path())).unwrap();
}

/// Fill the cache through a first environment, apply `tamper` to the entry (or through the
/// first environment), check the expected mismatch, then install into a second environment:
/// it must hold exactly the wheel's content from a fresh entry.
fn assert_tampering_is_caught(
    tamper: impl FnOnce(&Path, &EnvironmentLayout) -> PathBuf,
    expected: impl Fn(&EntryMismatch) -> bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let first = install_rich(dir.path(), "first");
    let cache = unpacked(&first);
    let entry = only_entry(&cache);
    let clean = snapshot(&entry);
    let tampered = tamper(&entry, &first);
    let mismatch = cache
        .check_entry(&entry, &wheel_files(dir.path()))
        .unwrap_err();
    assert!(expected(&mismatch), "{mismatch:?}");
    let tampered_inode = fs_err::symlink_metadata(&tampered).map(|m| m.ino()).ok();
    if tampered_inode.is_some() {
        // A second name keeps the inode allocated, so the fresh entry cannot reuse its number.
        fs_err::hard_link(&tampered, dir.path().join("tampered-inode")).unwrap();
    }

    let second = install_rich(dir.path(), "second");
    // The refused entry was replaced by a fresh one under the same key, and nothing was left.
    assert_eq!(only_entry(&cache), entry);
    assert_eq!(snapshot(&entry), clean);
    cache.check_entry(&entry, &wheel_files(dir.path())).unwrap();
    assert_eq!(
        fs_err::read_to_string(module(&second)).unwrap(),
        "VALUE = 1\n"
    );
    let mut installed = snapshot(&second.prefix);
    let mut reference = snapshot(&install_rich_uncached(dir.path()).prefix);
    for snapshot in [&mut installed, &mut reference] {
        // Scripts' shebangs (and so `RECORD`) name each environment's own interpreter.
        snapshot.retain(|path, _| {
            (!path.starts_with("bin") || path.ends_with("rich-bin")) && !path.ends_with("RECORD")
        });
    }
    assert_eq!(installed, reference);
    // Nothing in the new environment is the tampered inode.
    let relative = tampered
        .strip_prefix(&entry)
        .unwrap_or(&tampered)
        .to_path_buf();
    if let (Some(inode), Ok(now)) = (
        tampered_inode,
        fs_err::symlink_metadata(second.scheme.purelib.join(&relative)),
    ) {
        assert_ne!(now.ino(), inode, "linked from the refused entry");
    }
}

/// The same wheel installed with a cache of its own: the reference content.
fn install_rich_uncached(root: &Path) -> EnvironmentLayout {
    let reference = root.join("reference");
    fs_err::create_dir(&reference).unwrap();
    install_rich(&reference, "env")
}

#[test]
fn an_installed_file_modified_in_place_is_not_installed_again() {
    assert_tampering_is_caught(
        |entry, first| {
            // Same size, a moment after the entry was filled: only the seal can tell.
            fs_err::write(module(first), "VALUE = 2\n").unwrap();
            entry.join("rich/__init__.py")
        },
        |mismatch| matches!(mismatch, EntryMismatch::Modified(path) if path.ends_with("rich/__init__.py")),
    );
}

#[test]
fn a_cached_file_of_another_size_is_refused() {
    assert_tampering_is_caught(
        |entry, _| {
            let path = entry.join("rich/data/table.txt");
            fs_err::write(&path, "row\nimport os\n").unwrap();
            path
        },
        |mismatch| matches!(mismatch, EntryMismatch::Size { .. }),
    );
}

#[test]
fn an_extra_file_in_the_entry_is_refused() {
    assert_tampering_is_caught(
        |entry, _| {
            let path = entry.join("rich/evil.pth");
            fs_err::write(&path, "import os\n").unwrap();
            path
        },
        |mismatch| matches!(mismatch, EntryMismatch::Modified(path) if path.ends_with("rich")),
    );
}

#[test]
fn an_extra_file_behind_a_restored_seal_is_refused() {
    assert_tampering_is_caught(
        |entry, _| {
            let path = entry.join("rich/evil.pth");
            fs_err::write(&path, "import os\n").unwrap();
            restore_seal(entry, &entry.join("rich"));
            path
        },
        |mismatch| matches!(mismatch, EntryMismatch::Extra(path) if path.ends_with("rich/evil.pth")),
    );
}

#[test]
fn a_directory_the_wheel_does_not_have_is_refused() {
    assert_tampering_is_caught(
        |entry, _| {
            let dir = entry.join("rich/evil");
            fs_err::create_dir(&dir).unwrap();
            fs_err::write(dir.join("payload.py"), "import os\n").unwrap();
            restore_seal(entry, &dir);
            restore_seal(entry, &entry.join("rich"));
            dir.join("payload.py")
        },
        |mismatch| matches!(mismatch, EntryMismatch::Extra(path) if path.ends_with("rich/evil")),
    );
}

#[test]
fn an_entry_copied_or_restored_into_the_cache_is_refused_whatever_its_times() {
    assert_tampering_is_caught(
        |entry, _| {
            // A CI cache restore: the same tree and times (`cp -a`), on new inodes, with a
            // module rewritten and given the seal's time back.
            let aside = entry.with_file_name("restored");
            fs_err::rename(entry, &aside).unwrap();
            let copied = std::process::Command::new("cp")
                .args(["-a"])
                .arg(&aside)
                .arg(entry)
                .status()
                .unwrap();
            assert!(copied.success());
            fs_err::remove_dir_all(&aside).unwrap();
            let module = entry.join("rich/__init__.py");
            let seal = fs_err::metadata(entry).unwrap().modified().unwrap();
            fs_err::write(&module, "VALUE = 2\n").unwrap();
            fs_err::File::options()
                .write(true)
                .open(&module)
                .unwrap()
                .set_modified(seal)
                .unwrap();
            restore_seal(entry, &entry.join("rich"));
            module
        },
        |mismatch| matches!(mismatch, EntryMismatch::Unrecorded(_)),
    );
}

#[test]
fn a_cached_file_replaced_by_a_symlink_is_refused() {
    assert_tampering_is_caught(
        |entry, _| {
            // The link's target has the right content and the directory's time is put back:
            // only the file type can tell.
            let path = entry.join("rich/__init__.py");
            let target = entry.parent().unwrap().with_file_name("elsewhere.py");
            fs_err::write(&target, "VALUE = 1\n").unwrap();
            fs_err::remove_file(&path).unwrap();
            fs_err::os::unix::fs::symlink(&target, &path).unwrap();
            restore_seal(entry, &entry.join("rich"));
            path
        },
        |mismatch| matches!(mismatch, EntryMismatch::NotRegular(path) if path.ends_with("rich/__init__.py")),
    );
}

#[test]
fn a_cached_file_made_executable_is_refused() {
    assert_tampering_is_caught(
        |entry, _| {
            let path = entry.join("rich/__init__.py");
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        },
        |mismatch| {
            matches!(
                mismatch,
                EntryMismatch::Mode {
                    expected: 0o444,
                    actual: 0o755,
                    ..
                }
            )
        },
    );
}

#[test]
fn a_missing_cached_file_is_refused() {
    assert_tampering_is_caught(
        |entry, _| {
            let path = entry.join("rich/data/table.txt");
            fs_err::remove_file(&path).unwrap();
            restore_seal(entry, &entry.join("rich/data"));
            path
        },
        |mismatch| matches!(mismatch, EntryMismatch::Missing(path) if path.ends_with("rich/data/table.txt")),
    );
}

#[test]
fn concurrent_fills_of_one_entry_leave_one_whole_entry() {
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..3)
            .map(|n| {
                let root = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let wheels = root.join(format!("wheels-{n}"));
                    fs_err::create_dir(&wheels).unwrap();
                    let layout = make_env(&root.join(format!("env-{n}")));
                    let env = open(&layout);
                    let want = wanted(&[("rich", "1.0", true)]);
                    let wheels = vec![verified(&wheels, &rich())];
                    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
                    apply(
                        &env,
                        &plan,
                        &approve(&want),
                        &wheels,
                        &unpacked(&layout),
                        &mut |_| {},
                    )
                    .unwrap();
                    fs_err::read_to_string(module(&layout)).unwrap()
                })
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), "VALUE = 1\n", "round {round}");
        }
        let cache = UnpackedCache::new(
            dir.path().join("unpacked-cache"),
            common::key_beside(&dir.path().join("unpacked-cache")),
        );
        let entry = only_entry(&cache);
        cache.check_entry(&entry, &wheel_files(dir.path())).unwrap();
    }
}

#[test]
fn a_cache_on_another_file_system_is_copied_from() {
    let dir = tempfile::tempdir().unwrap();
    let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("skipped: no /dev/shm");
        return;
    };
    let same_device = fs_err::metadata(dir.path()).unwrap().dev()
        == fs_err::metadata(other.path()).unwrap().dev();
    if same_device {
        eprintln!("skipped: /dev/shm is on the temporary directory's file system");
        return;
    }
    let layout = make_env(&dir.path().join("env"));
    let env = open(&layout);
    let want = wanted(&[("rich", "1.0", true)]);
    let wheels = vec![verified(dir.path(), &rich())];
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    let cache = UnpackedCache::new(
        other.path().join("cache"),
        common::key_beside(&other.path().join("cache")),
    );
    apply(&env, &plan, &approve(&want), &wheels, &cache, &mut |_| {}).unwrap();
    let installed = fs_err::metadata(module(&layout)).unwrap();
    assert_eq!(installed.nlink(), 1, "a copy, not a link");
    assert_eq!(
        fs_err::read_to_string(module(&layout)).unwrap(),
        "VALUE = 1\n"
    );
    cache
        .check_entry(&only_entry(&cache), &wheel_files(dir.path()))
        .unwrap();
}

#[test]
fn wheels_with_other_content_get_other_entries() {
    let dir = tempfile::tempdir().unwrap();
    let first = install_rich(dir.path(), "first");
    let cache = unpacked(&first);
    let entry = only_entry(&cache);
    // Same name and version, one file different: a different key, so never the same entry.
    let layout = make_env(&dir.path().join("second"));
    let env = open(&layout);
    let want = wanted(&[("rich", "1.0", true)]);
    let other = dir.path().join("other");
    fs_err::create_dir(&other).unwrap();
    let wheels = vec![verified(
        &other,
        &rich().file("rich/extra.py", "EXTRA = 1\n"),
    )];
    let plan = env.plan(&want, false, &common::key(env.layout())).unwrap();
    apply(&env, &plan, &approve(&want), &wheels, &cache, &mut |_| {}).unwrap();
    let all = entries(&cache);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.contains(&entry));
    assert!(layout.scheme.purelib.join("rich/extra.py").is_file());
    assert!(!first.scheme.purelib.join("rich/extra.py").exists());
    cache.check_entry(&entry, &wheel_files(dir.path())).unwrap();
}

#[test]
fn a_fill_sweeps_what_killed_fills_left_and_spares_running_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("unpacked-cache");
    let stale = cache.join(".tmp-killed");
    let running = cache.join(".tmp-running");
    let trash = cache.join(".trash-discarded");
    for leftover in [&stale, &running, &trash] {
        fs_err::create_dir_all(leftover.join("pkg")).unwrap();
        fs_err::write(leftover.join("pkg/mod.py"), "x = 1\n").unwrap();
    }
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    fs_err::File::open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();

    install_rich(dir.path(), "env");
    assert!(!stale.exists(), "a fill untouched for hours is swept");
    assert!(!trash.exists(), "a discarded entry is swept");
    assert!(
        running.join("pkg/mod.py").is_file(),
        "a recent fill is left alone"
    );
}

#[test]
fn a_fill_larger_than_the_space_left_is_refused_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let wheel = verified(root.path(), &rich());
    let dir = root.path().join("unpacked-cache");
    // Every file and directory takes at least a 4 KiB block: one block is not enough.
    let cache = UnpackedCache::with_space(&dir, common::key_beside(&dir), 4096);
    let refused = cache.prepare(wheel.inspect()).unwrap_err();
    assert!(
        matches!(
            &refused,
            InstallError::NoSpaceToUnpack { wheel, needed, left: 4096, .. }
                if wheel == "rich-1.0-py3-none-any.whl" && *needed > 4096
        ),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(message.contains("--cache-dir"), "{message}");
    assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 0);

    // Room for it: filled, and the space it took is gone for the next fill.
    let InstallError::NoSpaceToUnpack { needed, .. } = refused else {
        unreachable!()
    };
    let cache = UnpackedCache::with_space(&dir, common::key_beside(&dir), needed);
    let ready = cache.prepare(wheel.inspect()).unwrap();
    assert_eq!(ready.entry(), only_entry(&cache));
    let other = verified(
        root.path(),
        &WheelSpec::new("other", "1.0").file("other.py", ""),
    );
    assert!(matches!(
        cache.prepare(other.inspect()),
        Err(InstallError::NoSpaceToUnpack { left: 0, .. })
    ));

    // A hit writes nothing, and so takes no space.
    let full = UnpackedCache::with_space(&dir, common::key_beside(&dir), 0);
    assert_eq!(
        full.prepare(wheel.inspect()).unwrap().entry(),
        ready.entry()
    );
}

/// What filling `wheel` takes, as the refusal of a cache with no space left states it.
fn space_needed(dir: &Path, wheel: &common::BuiltWheel) -> u64 {
    match UnpackedCache::with_space(dir, common::key_beside(dir), 0).prepare(wheel.inspect()) {
        Err(InstallError::NoSpaceToUnpack { needed, .. }) => needed,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fill_that_fails_verification_gives_its_space_back() {
    let root = tempfile::tempdir().unwrap();
    let good = verified(root.path(), &rich());
    // The RECORD row of `rich/__init__.py` names another content of the same size.
    let digest = |content: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(content))
    };
    let record = rich().generated_record();
    let hostile_dir = root.path().join("hostile");
    fs_err::create_dir(&hostile_dir).unwrap();
    let hostile = verified(
        &hostile_dir,
        &rich().record_override(&record.replace(&digest("VALUE = 1\n"), &digest("VALUE = 2\n"))),
    );
    let dir = root.path().join("unpacked-cache");
    let needed = space_needed(&dir, &good);
    assert_eq!(space_needed(&dir, &hostile), needed);

    let cache = UnpackedCache::with_space(&dir, common::key_beside(&dir), needed);
    assert!(matches!(
        cache.prepare(hostile.inspect()),
        Err(InstallError::Unpack { .. })
    ));
    cache.prepare(good.inspect()).unwrap();
}

/// A wheel with more paths than one thread checks (over 2048): 2100 files in 70 directories.
fn large() -> WheelSpec {
    (0..2100).fold(WheelSpec::new("large", "1.0"), |spec, n| {
        spec.file(
            &format!("large/d{:02}/f{n:04}.py", n % 70),
            format!("N = {n}\n"),
        )
    })
}

#[test]
fn a_large_entry_is_checked_whole_by_several_threads() {
    let root = tempfile::tempdir().unwrap();
    let wheel = verified(root.path(), &large());
    let info = wheel_info(root.path(), &large());
    let cache = UnpackedCache::new(
        root.path().join("unpacked-cache"),
        common::key_beside(&root.path().join("unpacked-cache")),
    );
    let entry = cache
        .prepare(wheel.inspect())
        .unwrap()
        .entry()
        .to_path_buf();
    cache.check_entry(&entry, &info).unwrap();
    let mut times: Vec<_> = (0..21)
        .map(|_| {
            let start = std::time::Instant::now();
            cache.check_entry(&entry, &info).unwrap();
            start.elapsed()
        })
        .collect();
    times.sort();
    eprintln!("warm check of 2100 files: median {:?}", times[10]);

    // Each kind of tampering, in a directory that may be any thread's, with the directory's
    // seal put back so that what is found is the tampered name itself.
    let planted = entry.join("large/d69/planted.py");
    fs_err::write(&planted, "import os\n").unwrap();
    restore_seal(&entry, &entry.join("large/d69"));
    let mismatch = cache.check_entry(&entry, &info).unwrap_err();
    assert!(
        matches!(&mismatch, EntryMismatch::Extra(path) if *path == planted),
        "{mismatch:?}"
    );
    fs_err::remove_file(&planted).unwrap();
    restore_seal(&entry, &entry.join("large/d69"));
    cache.check_entry(&entry, &info).unwrap();

    let file = entry.join("large/d37/f1717.py");
    fs_err::write(&file, "N = 9999\n").unwrap();
    let mismatch = cache.check_entry(&entry, &info).unwrap_err();
    assert!(
        matches!(&mismatch, EntryMismatch::Modified(path) if *path == file),
        "{mismatch:?}"
    );

    fs_err::remove_file(&file).unwrap();
    restore_seal(&entry, &entry.join("large/d37"));
    let mismatch = cache.check_entry(&entry, &info).unwrap_err();
    assert!(
        matches!(&mismatch, EntryMismatch::Missing(path) if *path == file),
        "{mismatch:?}"
    );
}
