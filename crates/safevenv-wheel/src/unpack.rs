//! Writing a wheel's files into an empty staging directory.

use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use zip::ZipArchive;

use crate::inflate::{Algorithm, Pass, Streamed};
use crate::layout::Entry;
use crate::{Limits, VerifiedWheel, WheelError, WheelFile, hex};

/// A wheel unpacked by [`VerifiedWheel::unpack_into`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackedWheel {
    root: PathBuf,
    files: usize,
    bytes: u64,
}

impl UnpackedWheel {
    /// The staging directory, holding the archive's paths as they are.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Regular files written.
    pub fn files(&self) -> usize {
        self.files
    }

    /// Bytes written.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl<R: Read + Seek> VerifiedWheel<R> {
    /// Extracts the wheel into `dir`, which must exist and be empty.
    ///
    /// The bytes come from the same source (for [`crate::Wheel::open`], the same open file
    /// handle) that was verified, so replacing the file on disk after verification has no
    /// effect; the content is also hashed again while it is written and each file compared
    /// with its verified SHA-256, so a file modified in place fails here instead. Files are
    /// created with `O_CREAT|O_EXCL` (never following a link nor overwriting), mode 0644, or
    /// 0755 when the archive sets an executable bit; setuid, setgid and sticky bits are
    /// never applied. On error, `dir` holds a partial tree: the caller discards it.
    pub fn unpack_into(&mut self, dir: &Path) -> Result<UnpackedWheel, WheelError> {
        let unpacker = Unpacker::new(&self.info.name, dir, None, &self.entries, &self.info.files)?;
        // The limits of verification, bounded further by the total it measured: the same
        // entries must inflate to the same bytes (any change fails the CRC or the hash).
        let limits = Limits {
            max_total_uncompressed: self.info.uncompressed_size,
            ..self.limits.clone()
        };
        let mut pass = Pass::new(&self.info.name, &limits);
        let mut unpacked = UnpackedWheel {
            root: dir.to_path_buf(),
            files: 0,
            bytes: 0,
        };
        for (file, verified) in self.info.files.iter().zip(&self.sha256) {
            let entry = &self.entries[file.index];
            let streamed =
                unpacker.write(&mut pass, &mut self.archive, file, entry, Algorithm::Sha256)?;
            if streamed.sha256 != *verified {
                return Err(WheelError::ChangedSinceVerification {
                    wheel: self.info.name.clone(),
                    entry: entry.name.clone(),
                    expected: hex(verified),
                    actual: hex(&streamed.sha256),
                });
            }
            unpacked.files += 1;
            unpacked.bytes += streamed.size;
        }
        unpacker.finish()?;
        Ok(unpacked)
    }
}

/// Writes files into an empty directory. Every directory is created up front, so that writing
/// files needs nothing but `&self` and can go on from several threads at once.
pub(crate) struct Unpacker<'a> {
    wheel: &'a str,
    root: &'a Path,
    modified: Option<SystemTime>,
    /// Every directory created, as archive paths.
    created: HashSet<String>,
}

impl<'a> Unpacker<'a> {
    /// Checks that `root` is an empty directory, then creates the archive's directory entries
    /// and every file's parents, one component at a time: a component that already exists
    /// means something else is writing into the directory, and we fail rather than follow
    /// whatever it is.
    pub(crate) fn new(
        wheel: &'a str,
        root: &'a Path,
        modified: Option<SystemTime>,
        entries: &[Entry],
        files: &[WheelFile],
    ) -> Result<Self, WheelError> {
        let mut listing = fs_err::read_dir(root).map_err(|source| WheelError::Unpack {
            wheel: wheel.to_string(),
            entry: "<staging directory>".to_string(),
            source,
        })?;
        if listing.next().is_some() {
            return Err(WheelError::StagingNotEmpty {
                dir: root.to_path_buf(),
            });
        }
        let mut created = HashSet::new();
        let directories = entries
            .iter()
            .filter(|entry| entry.is_dir())
            .map(|entry| entry.name.trim_end_matches('/'))
            .chain(
                files
                    .iter()
                    .filter_map(|file| file.path.rsplit_once('/').map(|(parent, _)| parent)),
            );
        for relative in directories {
            create_dirs(root, relative, &mut created)
                .map_err(|source| unpack_error(wheel, relative, source))?;
        }
        Ok(Self {
            wheel,
            root,
            modified,
            created,
        })
    }

    /// Inflates `file` into its path below the root: a new file (`O_CREAT|O_EXCL`, never
    /// following a link nor overwriting), mode 0644 or 0755, set on the handle.
    pub(crate) fn write<R: Read + Seek>(
        &self,
        pass: &mut Pass<'_>,
        archive: &mut ZipArchive<R>,
        file: &WheelFile,
        entry: &Entry,
        algorithm: Algorithm,
    ) -> Result<Streamed, WheelError> {
        let wheel = self.wheel;
        let io_error = |source| unpack_error(wheel, &entry.name, source);
        let mut handle =
            create_new(&self.root.join(&file.path), file.executable).map_err(io_error)?;
        // Unbuffered: the pass hands over full chunks of its own buffer.
        let streamed = pass.stream(archive, file.index, entry, algorithm, &mut |chunk| {
            handle.write_all(chunk).map_err(io_error)
        })?;
        set_mode(&handle, file.executable).map_err(io_error)?;
        if let Some(modified) = self.modified {
            handle.set_modified(modified).map_err(io_error)?;
        }
        Ok(streamed)
    }

    /// Gives the directories written, deepest first, and the root their modification time
    /// (creating a file in a directory changes its time, so this comes last).
    pub(crate) fn finish(self) -> Result<(), WheelError> {
        let Some(modified) = self.modified else {
            return Ok(());
        };
        let mut created: Vec<&String> = self.created.iter().collect();
        created.sort_by_key(|dir| std::cmp::Reverse(dir.matches('/').count()));
        for dir in created {
            set_dir_modified(&self.root.join(dir), modified)
                .map_err(|source| unpack_error(self.wheel, dir, source))?;
        }
        set_dir_modified(self.root, modified)
            .map_err(|source| unpack_error(self.wheel, "<staging directory>", source))
    }
}

/// Creates `relative` and its parents under `root`, one component at a time, skipping those in
/// `created`.
fn create_dirs(root: &Path, relative: &str, created: &mut HashSet<String>) -> std::io::Result<()> {
    let mut prefix = String::new();
    for component in relative.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(component);
        if created.contains(&prefix) {
            continue;
        }
        fs_err::create_dir(root.join(&prefix))?;
        created.insert(prefix.clone());
    }
    Ok(())
}

fn unpack_error(wheel: &str, entry: &str, source: std::io::Error) -> WheelError {
    WheelError::Unpack {
        wheel: wheel.to_string(),
        entry: entry.to_string(),
        source,
    }
}

/// Sets a directory's modification time through a handle (the directories were created by this
/// unpacker a moment ago, in a directory it alone writes to).
fn set_dir_modified(dir: &Path, modified: SystemTime) -> std::io::Result<()> {
    fs_err::File::open(dir)?.set_modified(modified)
}

#[cfg(unix)]
fn create_new(path: &Path, executable: bool) -> std::io::Result<fs_err::File> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    // O_EXCL with O_CREAT fails on any existing path, a symlink included (even dangling).
    fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path, _executable: bool) -> std::io::Result<fs_err::File> {
    fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Sets the exact mode on the open handle: `open`'s mode is filtered by the umask, and
/// `fchmod` on the handle cannot be redirected by a path swap.
#[cfg(unix)]
fn set_mode(file: &fs_err::File, executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(if executable {
        0o755
    } else {
        0o644
    }))
}

#[cfg(not(unix))]
fn set_mode(_file: &fs_err::File, _executable: bool) -> std::io::Result<()> {
    Ok(())
}
