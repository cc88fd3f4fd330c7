//! Seals cannot be forged: a cache entry is linked from only when its seal is this user's
//! key's tag over the tree as it is, on these inodes; the key is private; entries are
//! read-only; and what was staged from an entry is checked again just before the journal.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use safevenv_installer::{
    EntryMismatch, EnvironmentLayout, InstallError, Progress, SealKey, UnpackedCache,
};
use safevenv_test_index::WheelSpec;

use common::{apply, approve, make_env, open, snapshot, verified, wanted, wheel_info};

fn demo() -> WheelSpec {
    WheelSpec::new("demo", "1.0")
        .file("demo/__init__.py", "VALUE = 1\n")
        .file("demo/data/table.txt", "row\n")
        .data_file("scripts/demo-bin", "#!/bin/sh\necho bin\n")
        .unix_mode("demo-1.0.data/scripts/demo-bin", 0o755)
        .data_file("scripts/demo-tool", "#!python\nprint('tool')\n")
        .console_script("demo", "demo:main")
}

/// A cache at `root/unpacked-cache` sealing with the key in `key_dir`.
fn cache_with_key(root: &Path, key_dir: &str) -> UnpackedCache {
    UnpackedCache::new(
        root.join("unpacked-cache"),
        SealKey::open(root.join(key_dir).join("seal-key")).unwrap(),
    )
}

/// The entry of `demo` filled through `cache`.
fn fill(root: &Path, cache: &UnpackedCache) -> PathBuf {
    let wheel = verified(root, &demo());
    cache
        .prepare(wheel.inspect())
        .unwrap()
        .entry()
        .to_path_buf()
}

/// The seal file of `entry` (named for its directory's inode).
fn seal_of(entry: &Path) -> PathBuf {
    let inode = fs_err::symlink_metadata(entry).unwrap().ino();
    PathBuf::from(format!("{}.seal-{inode}", entry.display()))
}

fn cp_a(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Put a path's modification time back to the entry's, as a deliberate forger would.
fn restore_time(entry: &Path, path: &Path) {
    let seal = fs_err::metadata(entry).unwrap().modified().unwrap();
    fs_err::File::open(path)
        .unwrap()
        .set_modified(seal)
        .unwrap();
}

/// Forge `entry` in one way; the check must refuse it with `Forged` (or, for `unrecorded`,
/// `Unrecorded`), and a prepare must replace it with a fresh entry that passes.
fn assert_forgery_refused(
    forge: impl FnOnce(&Path, &Path),
    expected: impl Fn(&EntryMismatch) -> bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_with_key(dir.path(), "key");
    let entry = fill(dir.path(), &cache);
    let info = wheel_info(dir.path(), &demo());
    cache.check_entry(&entry, &info).unwrap();
    forge(dir.path(), &entry);
    let mismatch = cache.check_entry(&entry, &info).unwrap_err();
    assert!(expected(&mismatch), "{mismatch:?}");
    let again = fill(dir.path(), &cache);
    assert_eq!(again, entry);
    cache.check_entry(&entry, &info).unwrap();
    assert_eq!(
        fs_err::read_to_string(entry.join("demo/__init__.py")).unwrap(),
        "VALUE = 1\n"
    );
}

fn forged(mismatch: &EntryMismatch) -> bool {
    matches!(mismatch, EntryMismatch::Forged(_))
}

#[test]
fn a_seal_made_with_another_key_is_refused() {
    // A poisoned CI cache restored with the poisoner's seals: made by a key of their own,
    // over the very tree and inodes, and still refused.
    assert_forgery_refused(
        |root, entry| {
            let theirs = cache_with_key(root, "attacker-key");
            let seal = seal_of(entry);
            fs_err::remove_file(&seal).unwrap();
            let info = wheel_info(root, &demo());
            assert!(matches!(
                theirs.check_entry(entry, &info),
                Err(EntryMismatch::Unrecorded(_))
            ));
            // Their fill writes their seal; the entry is then theirs in every way but the key.
            fs_err::remove_dir_all(entry).unwrap();
            fill(root, &theirs);
            theirs.check_entry(entry, &info).unwrap();
        },
        forged,
    );
}

#[test]
fn a_restored_entry_whose_seal_is_renamed_for_its_new_inode_is_refused() {
    assert_forgery_refused(
        |_, entry| {
            let seal = fs_err::read_to_string(seal_of(entry)).unwrap();
            fs_err::remove_file(seal_of(entry)).unwrap();
            let aside = entry.with_file_name("aside");
            fs_err::rename(entry, &aside).unwrap();
            cp_a(&aside, entry);
            fs_err::remove_dir_all(&aside).unwrap();
            fs_err::write(seal_of(entry), seal).unwrap();
        },
        forged,
    );
}

#[test]
fn a_cached_file_replaced_by_a_copy_with_its_times_and_mode_is_refused() {
    // Same content length, mode and times, and the directory's time put back: only the
    // inode the seal tags tells.
    assert_forgery_refused(
        |root, entry| {
            let file = entry.join("demo/__init__.py");
            let copy = root.join("copy.py");
            fs_err::copy(&file, &copy).unwrap();
            fs_err::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
            fs_err::write(&copy, "VALUE = 2\n").unwrap();
            fs_err::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
            restore_time(entry, &copy);
            fs_err::rename(&copy, &file).unwrap();
            restore_time(entry, &entry.join("demo"));
        },
        forged,
    );
}

#[test]
fn a_tampered_seal_is_refused() {
    let tampers: [fn(String) -> String; 5] = [
        |seal: String| seal.replace("safevenv-seal-v1 ", "safevenv-seal-v0 "),
        |seal: String| {
            let flipped = if seal.ends_with("0\n") { "1\n" } else { "0\n" };
            format!("{}{flipped}", &seal[..seal.len() - 2])
        },
        |seal: String| seal[..seal.len() / 2].to_string(),
        |_: String| String::new(),
        |seal: String| seal.to_uppercase(),
    ];
    for (n, tamper) in tampers.into_iter().enumerate() {
        assert_forgery_refused(
            |_, entry| {
                let seal = fs_err::read_to_string(seal_of(entry)).unwrap();
                let tampered = tamper(seal.clone());
                assert_ne!(tampered, seal, "variant {n}");
                fs_err::write(seal_of(entry), tampered).unwrap();
            },
            forged,
        );
    }
}

#[test]
fn an_entry_sealed_by_an_older_safevenv_is_made_again() {
    assert_forgery_refused(
        |_, entry| {
            // The old format: an empty record named for the inode, files 0644.
            fs_err::remove_file(seal_of(entry)).unwrap();
            let inode = fs_err::symlink_metadata(entry).unwrap().ino();
            fs_err::write(format!("{}.sealed-{inode}", entry.display()), "").unwrap();
            let file = entry.join("demo/__init__.py");
            fs_err::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        },
        |mismatch| matches!(mismatch, EntryMismatch::Unrecorded(_)),
    );
}

#[test]
fn an_old_record_is_swept_by_the_next_fill() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_with_key(dir.path(), "key");
    fs_err::create_dir_all(cache.dir()).unwrap();
    let legacy = cache.dir().join("0123.sealed-42");
    fs_err::write(&legacy, "").unwrap();
    fill(dir.path(), &cache);
    assert!(!legacy.exists());
}

#[test]
fn entries_are_read_only_and_installed_links_share_their_mode() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let env = open(&layout);
    let want = wanted(&[("demo", "1.0", true)]);
    let plan = env.plan(&want, false, &common::key(&layout)).unwrap();
    let cache = common::unpacked(&layout);
    apply(
        &env,
        &plan,
        &approve(&want),
        &[verified(dir.path(), &demo())],
        &cache,
        &mut |_| {},
    )
    .unwrap();
    let entry = fs_err::read_dir(cache.dir())
        .unwrap()
        .map(|child| child.unwrap().path())
        .find(|path| path.is_dir())
        .unwrap();
    let mode = |path: &Path| fs_err::metadata(path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&entry.join("demo/__init__.py")), 0o444);
    assert_eq!(mode(&entry.join("demo-1.0.data/scripts/demo-bin")), 0o555);
    // uv copies `RECORD` to rewrite it: nothing links it, and the copy must be writable.
    assert_eq!(mode(&entry.join("demo-1.0.dist-info/RECORD")), 0o644);
    let installed = layout.scheme.purelib.join("demo/__init__.py");
    assert_eq!(mode(&installed), 0o444);
    assert_eq!(
        fs_err::metadata(&installed).unwrap().ino(),
        fs_err::metadata(entry.join("demo/__init__.py"))
            .unwrap()
            .ino()
    );
    // What uv wrote is the environment's own, and the script linked from the entry runs.
    assert_eq!(mode(&layout.scheme.scripts.join("demo-bin")), 0o555);
    assert_eq!(
        common::run(&layout.scheme.scripts.join("demo-bin"), &[]),
        "bin\n"
    );
    drop(env);
    // Uninstalling read-only files works (a directory's mode decides).
    let env = open(&layout);
    env.uninstall(&want[0].name, &mut |_| {}).unwrap();
    assert!(!installed.exists());
    assert!(entry.join("demo/__init__.py").is_file());
}

#[test]
fn the_seal_key_is_created_private_and_stays_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/safevenv/seal-key");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SealKey::open(&path).unwrap())
        })
        .collect();
    let keys: Vec<SealKey> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let metadata = fs_err::symlink_metadata(&path).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o600);
    assert_eq!(metadata.len(), 64);
    let parent = fs_err::metadata(path.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o7777, 0o700);
    assert!(format!("{:?}", keys[0]).contains("secret"));
    // Every process that raced to make the key uses the one that won: each checks the others'
    // seals.
    let bytes = fs_err::read(&path).unwrap();
    let info = wheel_info(dir.path(), &demo());
    let first = UnpackedCache::new(dir.path().join("unpacked-cache"), keys[0].clone());
    let entry = fill(dir.path(), &first);
    for key in &keys[1..] {
        let cache = UnpackedCache::new(dir.path().join("unpacked-cache"), key.clone());
        cache.check_entry(&entry, &info).unwrap();
    }
    let reopened = SealKey::open(&path).unwrap();
    UnpackedCache::new(dir.path().join("unpacked-cache"), reopened)
        .check_entry(&entry, &info)
        .unwrap();
    assert_eq!(fs_err::read(&path).unwrap(), bytes);
}

/// Whether this process can give files to another user (it runs as root).
fn can_chown() -> bool {
    effective_uid() == 0
}

fn effective_uid() -> u32 {
    let probe = tempfile::NamedTempFile::new().unwrap();
    fs_err::metadata(probe.path()).unwrap().uid()
}

fn chown(path: &Path, uid: u32) {
    let status = Command::new("chown")
        .arg("-h")
        .arg(uid.to_string())
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_key_file_anyone_else_could_have_read_or_written_is_replaced() {
    type Spoil = fn(&Path);
    let mut variants: Vec<(&str, Spoil)> = vec![
        ("readable by the group", |key| {
            fs_err::set_permissions(key, std::fs::Permissions::from_mode(0o640)).unwrap();
        }),
        ("readable by everyone", |key| {
            fs_err::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
        }),
        ("executable", |key| {
            fs_err::set_permissions(key, std::fs::Permissions::from_mode(0o700)).unwrap();
        }),
        ("too short", |key| {
            let bytes = fs_err::read(key).unwrap();
            fs_err::write(key, &bytes[..32]).unwrap();
        }),
        ("too long", |key| {
            let mut bytes = fs_err::read(key).unwrap();
            bytes.push(0);
            fs_err::write(key, bytes).unwrap();
        }),
        ("a symbolic link to a planted key", |key| {
            let planted = key.with_file_name("planted");
            fs_err::copy(key, &planted).unwrap();
            fs_err::remove_file(key).unwrap();
            fs_err::os::unix::fs::symlink(&planted, key).unwrap();
        }),
        ("a directory", |key| {
            fs_err::remove_file(key).unwrap();
            fs_err::create_dir(key).unwrap();
        }),
    ];
    if can_chown() {
        variants.push(("owned by another user", |key| chown(key, 65534)));
    }
    for (what, spoil) in variants {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/seal-key");
        let cache = UnpackedCache::new(
            dir.path().join("unpacked-cache"),
            SealKey::open(&path).unwrap(),
        );
        let entry = fill(dir.path(), &cache);
        let before = fs_err::read(&path).unwrap();
        spoil(&path);
        if path.is_dir() {
            // A directory in the key's place cannot be removed as a file: refused, not used.
            assert!(
                matches!(SealKey::open(&path), Err(InstallError::SealKey { .. })),
                "{what}"
            );
            continue;
        }
        let replaced = SealKey::open(&path).unwrap();
        let metadata = fs_err::symlink_metadata(&path).unwrap();
        assert!(metadata.is_file(), "{what}");
        assert_eq!(metadata.permissions().mode() & 0o7777, 0o600, "{what}");
        assert_eq!(metadata.len(), 64, "{what}");
        assert_ne!(
            fs_err::read(&path).unwrap(),
            before,
            "{what}: not a fresh key"
        );
        // Seals of the old key are no longer this user's.
        let info = wheel_info(dir.path(), &demo());
        let cache = UnpackedCache::new(dir.path().join("unpacked-cache"), replaced);
        assert!(
            matches!(
                cache.check_entry(&entry, &info),
                Err(EntryMismatch::Forged(_))
            ),
            "{what}"
        );
        if let Ok(planted) = fs_err::read(path.with_file_name("planted")) {
            assert_eq!(planted, before, "{what}: the link's target was written");
        }
    }
}

#[test]
fn a_key_directory_others_can_write_or_own_is_refused() {
    type Spoil = fn(&Path);
    let mut variants: Vec<(&str, Spoil)> = vec![
        ("writable by the group", |dir| {
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        }),
        ("writable by everyone", |dir| {
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        }),
        ("a symbolic link", |dir| {
            let real = dir.with_file_name("real");
            fs_err::rename(dir, &real).unwrap();
            fs_err::os::unix::fs::symlink(&real, dir).unwrap();
        }),
    ];
    if can_chown() {
        variants.push(("owned by another user", |dir| chown(dir, 65534)));
    }
    for (what, spoil) in variants {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        let path = dir.join("seal-key");
        SealKey::open(&path).unwrap();
        spoil(&dir);
        let refused = SealKey::open(&path).unwrap_err();
        assert!(
            matches!(&refused, InstallError::SealKeyDirectory { path, .. } if *path == dir),
            "{what}: {refused:?}"
        );
        // A private directory of the user's is accepted again.
        if fs_err::symlink_metadata(&dir).unwrap().is_dir() {
            chown(&dir, effective_uid());
            fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
            SealKey::open(&path).unwrap();
        }
    }
}

/// Install `demo` into a fresh environment, tampering in the moment between staging and the
/// journal (the `Applying { done: 0 }` report comes just before the last check): the
/// transaction must be refused as `expected` says, with the environment as it was.
fn assert_tampering_before_commit_is_refused(
    tamper: impl Fn(&Path, &Path, &EnvironmentLayout),
    expected: impl Fn(&InstallError) -> bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let cache = common::unpacked(&layout);
    let wheel = verified(dir.path(), &demo());
    let ready = vec![cache.prepare(wheel.inspect()).unwrap()];
    let before = snapshot(&layout.prefix);
    let env = open(&layout);
    let want = wanted(&[("demo", "1.0", true)]);
    let plan = env.plan(&want, false, &common::key(&layout)).unwrap();
    let entry = ready[0].entry().to_path_buf();
    let refused = env
        .apply(
            &plan,
            &approve(&want).judge(&layout, &ready),
            &ready,
            &mut |progress| {
                if let Progress::Applying { done: 0, .. } = progress {
                    tamper(&entry, &staged_root(&layout), &layout);
                }
            },
        )
        .unwrap_err();
    assert!(expected(&refused), "{refused:?}");
    assert_eq!(snapshot(&layout.prefix), before);
    assert!(common::leftovers(&layout.prefix).is_empty());
}

/// The staging tree of the transaction under way.
fn staged_root(layout: &EnvironmentLayout) -> PathBuf {
    let state = layout.prefix.join(".safevenv");
    fs_err::read_dir(&state)
        .unwrap()
        .map(|child| child.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("txn-")
        })
        .unwrap()
        .join("staged")
}

/// `path` of the environment, in the staging tree `staged`.
fn staged_path(staged: &Path, layout: &EnvironmentLayout, path: &Path) -> PathBuf {
    staged.join(path.strip_prefix(&layout.prefix).unwrap())
}

fn writable(path: &Path) {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn an_entry_written_between_check_and_commit_is_refused() {
    for file in ["demo/__init__.py", "demo-1.0.dist-info/METADATA"] {
        assert_tampering_before_commit_is_refused(
            |entry, _, _| {
                let path = entry.join(file);
                writable(&path);
                let mut text = fs_err::read_to_string(&path).unwrap();
                text.push_str("import os\n");
                fs_err::write(&path, text).unwrap();
            },
            |refused| matches!(refused, InstallError::EntryChangedWhileStaging { .. }),
        );
    }
}

#[test]
fn an_entry_file_swapped_and_put_back_around_the_link_is_refused() {
    // What a swap leaves once the entry's own file is back: the staged name holds another
    // inode, with the entry's mode and times, whose content is not the wheel's.
    assert_tampering_before_commit_is_refused(
        |entry, staged, layout| {
            let module = staged_path(
                staged,
                layout,
                &layout.scheme.purelib.join("demo/__init__.py"),
            );
            let evil = staged.join("evil.py");
            fs_err::write(&evil, "VALUE = 2\n").unwrap();
            fs_err::set_permissions(&evil, std::fs::Permissions::from_mode(0o444)).unwrap();
            restore_time(entry, &evil);
            fs_err::rename(&evil, &module).unwrap();
        },
        |refused| matches!(refused, InstallError::StagedLinkUnknown { path } if path.ends_with("demo/__init__.py")),
    );
}

#[test]
fn a_file_planted_among_the_staged_links_is_refused() {
    type Plant = fn(&Path, &Path, &EnvironmentLayout) -> &'static str;
    let variants: [Plant; 4] = [
        // Planted in the entry and linked with the rest: a link to a file no seal tags.
        |_, staged, layout| {
            let outside = layout.prefix.with_file_name("planted.pth");
            fs_err::write(&outside, "import os\n").unwrap();
            let pth = staged_path(staged, layout, &layout.scheme.purelib.join("evil.pth"));
            fs_err::hard_link(&outside, pth).unwrap();
            "evil.pth"
        },
        // A new file of its own.
        |_, staged, layout| {
            let pth = staged_path(staged, layout, &layout.scheme.purelib.join("evil.pth"));
            fs_err::write(pth, "import os\n").unwrap();
            "evil.pth"
        },
        // A file uv wrote, rewritten: its staged RECORD row no longer matches.
        |_, staged, layout| {
            let installer = staged_path(
                staged,
                layout,
                &layout.scheme.purelib.join("demo-1.0.dist-info/INSTALLER"),
            );
            fs_err::write(&installer, "pip").unwrap();
            "INSTALLER"
        },
        // A symbolic link.
        |entry, staged, layout| {
            let link = staged_path(staged, layout, &layout.scheme.purelib.join("demo/evil.py"));
            fs_err::os::unix::fs::symlink(entry.join("demo/__init__.py"), link).unwrap();
            "evil.py"
        },
    ];
    for plant in variants {
        let name = std::cell::Cell::new("");
        assert_tampering_before_commit_is_refused(
            |entry, staged, layout| name.set(plant(entry, staged, layout)),
            |refused| matches!(refused, InstallError::StagedLinkUnknown { path } if path.ends_with(name.get())),
        );
    }
}

#[test]
fn an_untouched_stage_commits() {
    let dir = tempfile::tempdir().unwrap();
    let layout = make_env(&dir.path().join("env"));
    let env = open(&layout);
    let want = wanted(&[("demo", "1.0", true)]);
    let plan = env.plan(&want, false, &common::key(&layout)).unwrap();
    let mut checked = false;
    apply(
        &env,
        &plan,
        &approve(&want),
        &[verified(dir.path(), &demo())],
        &common::unpacked(&layout),
        &mut |progress| {
            if let Progress::Applying { done: 0, .. } = progress {
                checked = staged_root(&layout).is_dir();
            }
        },
    )
    .unwrap();
    assert!(checked);
    assert_eq!(
        fs_err::read_to_string(layout.scheme.purelib.join("demo/__init__.py")).unwrap(),
        "VALUE = 1\n"
    );
}
