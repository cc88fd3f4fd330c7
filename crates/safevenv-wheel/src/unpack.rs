//! Extracting a verified wheel into an empty staging directory.

use std::collections::HashSet;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::inflate::{Algorithm, BUFFER, Pass};
use crate::{Limits, VerifiedWheel, WheelError, hex};

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
        let staging_error = |source| WheelError::Unpack {
            wheel: self.name.clone(),
            entry: "<staging directory>".to_string(),
            source,
        };
        let mut listing = fs_err::read_dir(dir).map_err(staging_error)?;
        if listing.next().is_some() {
            return Err(WheelError::StagingNotEmpty {
                dir: dir.to_path_buf(),
            });
        }

        // The limits of verification, bounded further by the total it measured: the same
        // entries must inflate to the same bytes (any change fails the CRC or the hash).
        let limits = Limits {
            max_total_uncompressed: self.uncompressed_size,
            ..self.limits.clone()
        };
        let mut pass = Pass::new(&self.name, &limits);
        let mut created: HashSet<String> = HashSet::new();
        let mut unpacked = UnpackedWheel {
            root: dir.to_path_buf(),
            files: 0,
            bytes: 0,
        };
        for entry in self.entries.iter().filter(|entry| entry.is_dir()) {
            create_dirs(dir, entry.name.trim_end_matches('/'), &mut created)
                .map_err(|source| unpack_error(&self.name, &entry.name, source))?;
        }
        for file in &self.files {
            let entry = &self.entries[file.index];
            let io_error = |source| unpack_error(&self.name, &entry.name, source);
            if let Some((parent, _)) = file.path.rsplit_once('/') {
                create_dirs(dir, parent, &mut created).map_err(io_error)?;
            }
            let path = dir.join(&file.path);
            let handle = create_new(&path, file.executable).map_err(io_error)?;
            let mut writer = BufWriter::with_capacity(BUFFER, handle);
            let streamed = pass.stream(
                &mut self.archive,
                file.index,
                entry,
                Algorithm::Sha256,
                &mut |chunk| writer.write_all(chunk).map_err(io_error),
            )?;
            if streamed.sha256 != file.sha256 {
                return Err(WheelError::ChangedSinceVerification {
                    wheel: self.name.clone(),
                    entry: entry.name.clone(),
                    expected: hex(&file.sha256),
                    actual: hex(&streamed.sha256),
                });
            }
            let handle = writer
                .into_inner()
                .map_err(|error| io_error(error.into_error()))?;
            set_mode(&handle, file.executable).map_err(io_error)?;
            unpacked.files += 1;
            unpacked.bytes += streamed.size;
        }
        Ok(unpacked)
    }
}

fn unpack_error(wheel: &str, entry: &str, source: std::io::Error) -> WheelError {
    WheelError::Unpack {
        wheel: wheel.to_string(),
        entry: entry.to_string(),
        source,
    }
}

/// Creates `relative` and its parents under `root`, one component at a time. A component
/// that already exists and was not created by us means something else is writing into the
/// staging directory: we fail rather than follow whatever it is.
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
