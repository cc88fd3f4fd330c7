//! [`BlockReader`]: a read buffer that survives seeks.
//!
//! Hand-written because `std::io::BufReader` drops its buffer on every `seek`, and reading a zip
//! seeks once or twice per entry (to its local header, then to its data): a wheel of thousands
//! of small files would cost tens of thousands of system calls to read its directories alone.
//! Entries lie in file order, so most seeks land in the block already read.
//!
//! [`SharedFile`] reads a file at positions of its own (`pread`), so that clones of one reader
//! can work on different entries of one archive in parallel, all of the one open file.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

/// Size of one block read from the source.
const BLOCK: usize = 64 * 1024;

/// Reads its source in blocks and serves reads and seeks within the current block from memory.
#[derive(Debug, Clone)]
pub struct BlockReader<R> {
    inner: R,
    block: Box<[u8]>,
    /// The source offset of `block[0]`.
    block_start: u64,
    /// Bytes of `block` that hold data.
    block_len: usize,
    /// The logical position.
    position: u64,
    /// Where `inner` is positioned, when known.
    inner_position: Option<u64>,
}

impl<R: Read + Seek> BlockReader<R> {
    /// A reader of `inner` from its start.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            block: vec![0; BLOCK].into_boxed_slice(),
            block_start: 0,
            block_len: 0,
            position: 0,
            inner_position: None,
        }
    }

    /// Read from the source at the logical position into `buf`, bypassing the block.
    fn read_direct(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner_position != Some(self.position) {
            self.inner.seek(SeekFrom::Start(self.position))?;
        }
        let read = self.inner.read(buf);
        self.inner_position = match &read {
            Ok(read) => Some(self.position + *read as u64),
            Err(_) => None,
        };
        read
    }
}

impl<R: Read + Seek> Read for BlockReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let in_block = self.position >= self.block_start
            && self.position < self.block_start + self.block_len as u64;
        if !in_block {
            // A large read gains nothing from the block: straight into the caller's buffer.
            if buf.len() >= BLOCK {
                let read = self.read_direct(buf)?;
                self.position += read as u64;
                return Ok(read);
            }
            let mut block = std::mem::take(&mut self.block);
            let filled = self.read_direct(&mut block);
            self.block = block;
            self.block_start = self.position;
            self.block_len = 0;
            self.block_len = filled?;
            if self.block_len == 0 {
                return Ok(0);
            }
        }
        // Within the block by the test above or the fill, so the offset fits in `usize`.
        let offset = usize::try_from(self.position - self.block_start).unwrap_or(usize::MAX);
        let available = self.block.get(offset..self.block_len).unwrap_or_default();
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.position += count as u64;
        Ok(count)
    }
}

impl<R: Read + Seek> Seek for BlockReader<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        self.position = seek_target(self.position, target, || {
            let end = self.inner.seek(SeekFrom::End(0))?;
            self.inner_position = Some(end);
            Ok(end)
        })?;
        Ok(self.position)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.position)
    }
}

/// An open file read at a position of this handle's own: clones share the file (the same bytes,
/// whatever happens to its path) but not a position.
#[derive(Debug, Clone)]
pub struct SharedFile {
    file: Arc<fs_err::File>,
    position: u64,
}

impl SharedFile {
    /// A reader of `file` from its start.
    pub fn new(file: fs_err::File) -> Self {
        Self {
            file: Arc::new(file),
            position: 0,
        }
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = read_at(&self.file, buf, self.position)?;
        self.position += read as u64;
        Ok(read)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        self.position = seek_target(self.position, target, || Ok(self.file.metadata()?.len()))?;
        Ok(self.position)
    }
}

/// Where `target` leads from `position`, given the source's length by `end` (asked only for
/// `SeekFrom::End`).
fn seek_target(
    position: u64,
    target: SeekFrom,
    end: impl FnOnce() -> io::Result<u64>,
) -> io::Result<u64> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "seek before the start");
    match target {
        SeekFrom::Start(offset) => Ok(offset),
        SeekFrom::Current(delta) => position.checked_add_signed(delta).ok_or_else(invalid),
        SeekFrom::End(delta) => end()?.checked_add_signed(delta).ok_or_else(invalid),
    }
}

#[cfg(unix)]
fn read_at(file: &fs_err::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    fs_err::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &fs_err::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    fs_err::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// Every mix of seeks and reads returns what the source holds, across block edges.
    #[test]
    fn reads_match_the_source_after_any_seek() {
        let data: Vec<u8> = (0..(3 * BLOCK + 123)).map(|i| (i % 251) as u8).collect();
        let mut reader = BlockReader::new(Cursor::new(data.clone()));
        let check = |reader: &mut BlockReader<Cursor<Vec<u8>>>, at: u64, len: usize| {
            reader.seek(SeekFrom::Start(at)).unwrap();
            let mut out = vec![0; len];
            reader.read_exact(&mut out).unwrap();
            let at = usize::try_from(at).unwrap();
            assert_eq!(out, &data[at..at + len], "{at}+{len}");
        };
        for (at, len) in [
            (0, 10),
            (5, 100),
            (BLOCK as u64 - 3, 10),
            (2, 2 * BLOCK),
            (BLOCK as u64 * 3, 123),
            (17, 1),
            (BLOCK as u64 + 1, BLOCK),
        ] {
            check(&mut reader, at, len);
        }
        assert_eq!(
            reader.seek(SeekFrom::End(-3)).unwrap(),
            data.len() as u64 - 3
        );
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[data.len() - 3..]);
        assert_eq!(reader.read(&mut [0; 8]).unwrap(), 0);
        assert!(reader.seek(SeekFrom::Current(-100_000_000)).is_err());
    }
}
