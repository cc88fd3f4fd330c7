//! (2) entry names and (3) entry types.

use std::collections::{BTreeSet, HashMap};

use crate::WheelError;
use crate::layout::Entry;

/// Refuses a name that could land outside the target directory or mean different files on
/// different systems. Used for archive entries and for RECORD paths alike.
pub(crate) fn check_name(name: &str, wheel: &str) -> Result<(), WheelError> {
    let wheel = wheel.to_string();
    let entry = name.to_string();
    if name.is_empty() {
        return Err(WheelError::EmptyName { wheel });
    }
    // NUL truncates the name in C APIs; other control characters forge terminal output.
    if name.chars().any(char::is_control) {
        return Err(WheelError::ControlCharacter {
            wheel,
            entry: name.escape_debug().to_string(),
        });
    }
    // Windows treats `\` as a separator: `a\..\..\x` would traverse there.
    if name.contains('\\') {
        return Err(WheelError::Backslash { wheel, entry });
    }
    if name.starts_with('/') {
        return Err(WheelError::AbsolutePath { wheel, entry });
    }
    // `C:x` is drive-relative on Windows and `a:b` an NTFS alternate data stream.
    if name.contains(':') {
        return Err(WheelError::Colon { wheel, entry });
    }
    // One trailing `/` marks a directory entry; every component must be a plain name.
    let path = name.strip_suffix('/').unwrap_or(name);
    for component in path.split('/') {
        match component {
            ".." => return Err(WheelError::PathTraversal { wheel, entry }),
            "" | "." => return Err(WheelError::EmptyComponent { wheel, entry }),
            _ => {}
        }
    }
    // A name the file system cannot create fails unpacking with an I/O error ("name too
    // long"), which the pipeline reports as safevenv failing before the policy gate: refuse it
    // here so the wheel is judged (and refused) for it like for any other unsafe name.
    let too_long = |what, length, limit| WheelError::NameTooLong {
        wheel: wheel.clone(),
        entry: entry.clone(),
        what,
        length,
        limit,
    };
    if let Some(component) = path
        .split('/')
        .find(|component| component.len() > MAX_COMPONENT)
    {
        return Err(too_long("a path component", component.len(), MAX_COMPONENT));
    }
    if path.len() > MAX_NAME {
        return Err(too_long("the name", path.len(), MAX_NAME));
    }
    Ok(())
}

/// Longest path component, in bytes: `NAME_MAX` of Linux and the BSDs, and 255 UTF-16 units
/// on NTFS and APFS (which a 255-byte UTF-8 name never exceeds).
const MAX_COMPONENT: usize = 255;

/// Longest entry name, in bytes. The name is joined to the install prefix
/// (`<env>/lib/python3.x/site-packages/`), and the whole path must stay under `PATH_MAX`
/// (4096 on Linux): 1024 bytes leaves about 3 KiB for the prefix, and no real wheel comes
/// close (real names stay within a few hundred bytes).
const MAX_NAME: usize = 1024;

/// Refuses duplicate names, files that are also directories, and paths that differ only
/// by case or Unicode normalisation (they overwrite each other on the default file systems of
/// macOS and Windows).
pub(crate) fn check_collisions(entries: &[Entry], wheel: &str) -> Result<(), WheelError> {
    let mut names = BTreeSet::new();
    let mut files = BTreeSet::new();
    let mut directories = BTreeSet::new();
    for entry in entries {
        if !names.insert(entry.name.as_str()) {
            return Err(WheelError::DuplicateEntry {
                wheel: wheel.to_string(),
                entry: entry.name.clone(),
            });
        }
        let path = entry.name.trim_end_matches('/');
        if entry.is_dir() {
            directories.insert(path);
        } else {
            files.insert(path);
        }
        let mut ancestor = path;
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            directories.insert(parent);
            ancestor = parent;
        }
    }
    if let Some(both) = files.intersection(&directories).next() {
        return Err(WheelError::FileDirectoryConflict {
            wheel: wheel.to_string(),
            entry: (*both).to_string(),
        });
    }
    // Security: macOS stores names NFC-normalised and ignoring case, Windows ignoring case, so
    // `é` precomposed and decomposed, or `Foo` and `foo`, are one file there: the second entry
    // would silently replace the first. (Across wheels, the policy's `contents.overwrite`
    // compares the same key.)
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc();
    let mut folded: HashMap<String, &str> = HashMap::new();
    for path in files.iter().chain(&directories) {
        // Lowercasing can undo NFC (`İ` becomes `i` + U+0307): normalise again.
        let key = nfc
            .normalize(&nfc.normalize(path).to_lowercase())
            .into_owned();
        if let Some(other) = folded.insert(key, path) {
            return Err(WheelError::CaseCollision {
                wheel: wheel.to_string(),
                entry: (*path).to_string(),
                other: other.to_string(),
            });
        }
    }
    Ok(())
}

const FILE_TYPE: u32 = 0o170_000;
const REGULAR: u32 = 0o100_000;
const DIRECTORY: u32 = 0o040_000;
const SYMLINK: u32 = 0o120_000;
/// MS-DOS directory attribute (low byte of the external attributes).
const DOS_DIRECTORY: u32 = 0x10;

/// (3): only regular files and directories; the unix type bits must agree with the name.
pub(crate) fn check_type(entry: &Entry, wheel: &str) -> Result<(), WheelError> {
    let conflict = || WheelError::FileDirectoryConflict {
        wheel: wheel.to_string(),
        entry: entry.name.clone(),
    };
    if let Some(mode) = entry.unix_mode() {
        match mode & FILE_TYPE {
            // A symlink could point the installer's later writes anywhere on the system.
            SYMLINK => {
                return Err(WheelError::Symlink {
                    wheel: wheel.to_string(),
                    entry: entry.name.clone(),
                });
            }
            // Zero means the writer recorded permissions only.
            0 => {}
            REGULAR if !entry.is_dir() => {}
            DIRECTORY if entry.is_dir() => {}
            REGULAR | DIRECTORY => return Err(conflict()),
            // Devices, FIFOs and sockets: opening them blocks or touches hardware.
            _ => {
                return Err(WheelError::SpecialFile {
                    wheel: wheel.to_string(),
                    entry: entry.name.clone(),
                    mode,
                });
            }
        }
    } else if entry.external_attributes() & DOS_DIRECTORY != 0 && !entry.is_dir() {
        return Err(conflict());
    }
    // A directory entry with data: some readers write it as a file, others drop the data.
    if entry.is_dir() && entry.size != 0 {
        return Err(WheelError::DirectoryWithData {
            wheel: wheel.to_string(),
            entry: entry.name.clone(),
            size: entry.size,
        });
    }
    Ok(())
}
