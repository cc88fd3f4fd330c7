//! Streaming one entry: inflate, count, CRC-32 and hash in a single pass, with the bomb limits
//! of (4) enforced on the bytes actually produced, not on what the headers claim.

use std::io::{BufReader, ErrorKind, Read, Seek};

use sha2::{Digest, Sha256, Sha384, Sha512};
use zip::ZipArchive;

use crate::layout::Entry;
use crate::{Limits, WheelError};

/// Read buffer for inflated data; large enough to amortise the per-call overhead.
const BUFFER: usize = 256 * 1024;
/// Read-ahead buffer for compressed data.
const INPUT_BUFFER: usize = 64 * 1024;

/// A RECORD digest algorithm (PEP 427: sha256 or stronger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    pub(crate) fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A second hasher, for the rare RECORD rows that use sha384 or sha512.
enum ExtraHasher {
    None,
    Sha384(Box<Sha384>),
    Sha512(Box<Sha512>),
}

impl ExtraHasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Self::None,
            Algorithm::Sha384 => Self::Sha384(Box::default()),
            Algorithm::Sha512 => Self::Sha512(Box::default()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::None => {}
            Self::Sha384(hasher) => hasher.update(bytes),
            Self::Sha512(hasher) => hasher.update(bytes),
        }
    }

    fn finish(self) -> Option<Vec<u8>> {
        match self {
            Self::None => None,
            Self::Sha384(hasher) => Some(hasher.finalize().to_vec()),
            Self::Sha512(hasher) => Some(hasher.finalize().to_vec()),
        }
    }
}

/// What streaming an entry established.
pub(crate) struct Streamed {
    pub(crate) sha256: [u8; 32],
    pub(crate) size: u64,
    /// The digest of `algorithm` when it is not sha256.
    pub(crate) other_digest: Option<Vec<u8>>,
}

/// Everything one streaming pass needs besides the entry.
pub(crate) struct Pass<'a> {
    pub(crate) wheel: &'a str,
    pub(crate) limits: &'a Limits,
    /// Inflated bytes so far over the whole archive.
    pub(crate) total: u64,
    pub(crate) buffer: Vec<u8>,
}

impl<'a> Pass<'a> {
    pub(crate) fn new(wheel: &'a str, limits: &'a Limits) -> Self {
        Self {
            wheel,
            limits,
            total: 0,
            buffer: vec![0; BUFFER],
        }
    }

    /// Inflates entry `index`, handing each chunk to `sink`, and checks the size, CRC-32 and
    /// compressed length against the central directory.
    pub(crate) fn stream<R: Read + Seek>(
        &mut self,
        archive: &mut ZipArchive<R>,
        index: usize,
        entry: &Entry,
        algorithm: Algorithm,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), WheelError>,
    ) -> Result<Streamed, WheelError> {
        let wheel = self.wheel;
        let raw = archive
            .by_index_raw(index)
            .map_err(|source| WheelError::Zip {
                wheel: wheel.to_string(),
                source,
            })?;
        // (1): the zip crate located this entry by its own reading of the archive; it must
        // be the entry our layout check verified.
        let disagreement = |field| WheelError::ParserDisagreement {
            wheel: wheel.to_string(),
            index,
            field,
        };
        if raw.name_raw() != entry.name.as_bytes() {
            return Err(disagreement("name"));
        }
        if raw.header_start() != entry.header_offset || raw.data_start() != entry.data_start {
            return Err(disagreement("offset"));
        }
        if raw.compressed_size() != entry.compressed_size
            || raw.size() != entry.size
            || raw.crc32() != entry.crc32
        {
            return Err(disagreement("sizes"));
        }
        if entry.method == 0 && entry.size != entry.compressed_size {
            return Err(WheelError::SizeMismatch {
                wheel: wheel.to_string(),
                entry: entry.name.clone(),
                declared: entry.size,
                actual: entry.compressed_size,
            });
        }

        let mut state = State {
            crc: crc32fast::Hasher::new(),
            sha256: Sha256::new(),
            other: ExtraHasher::new(algorithm),
            size: 0,
        };
        let consumed = if entry.method == 0 {
            let mut raw = raw;
            self.pump(&mut raw, entry, &mut state, sink)?;
            state.size
        } else {
            let mut decoder =
                flate2::bufread::DeflateDecoder::new(BufReader::with_capacity(INPUT_BUFFER, raw));
            self.pump(&mut decoder, entry, &mut state, sink)?;
            decoder.total_in()
        };

        if state.size != entry.size {
            return Err(WheelError::SizeMismatch {
                wheel: wheel.to_string(),
                entry: entry.name.clone(),
                declared: entry.size,
                actual: state.size,
            });
        }
        // Compressed bytes after the end of the deflate stream are invisible to a decoder
        // but could carry a payload another reader interprets.
        if consumed != entry.compressed_size {
            return Err(WheelError::CompressedSizeMismatch {
                wheel: wheel.to_string(),
                entry: entry.name.clone(),
                declared: entry.compressed_size,
                consumed,
            });
        }
        let crc = state.crc.finalize();
        if crc != entry.crc32 {
            return Err(WheelError::CrcMismatch {
                wheel: wheel.to_string(),
                entry: entry.name.clone(),
                expected: entry.crc32,
                actual: crc,
            });
        }
        Ok(Streamed {
            sha256: state.sha256.finalize().into(),
            size: state.size,
            other_digest: state.other.finish(),
        })
    }

    fn pump(
        &mut self,
        reader: &mut dyn Read,
        entry: &Entry,
        state: &mut State,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), WheelError>,
    ) -> Result<(), WheelError> {
        let wheel = self.wheel;
        let limits = self.limits;
        loop {
            // The buffer is filled before the sink sees it, so that the sink can write each
            // chunk straight to a file (one system call each, no copy into a writer's buffer).
            let mut read = 0;
            while read < self.buffer.len() {
                match reader.read(&mut self.buffer[read..]) {
                    Ok(0) => break,
                    Ok(more) => read += more,
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(WheelError::Inflate {
                            wheel: wheel.to_string(),
                            entry: entry.name.clone(),
                            source,
                        });
                    }
                }
            }
            if read == 0 {
                return Ok(());
            }
            let chunk = &self.buffer[..read];
            state.size += read as u64;
            self.total += read as u64;
            // (4): stop as soon as the output passes what the header declared, so a lying
            // header cannot make us inflate without bound.
            if state.size > entry.size {
                return Err(WheelError::SizeMismatch {
                    wheel: wheel.to_string(),
                    entry: entry.name.clone(),
                    declared: entry.size,
                    actual: state.size,
                });
            }
            if self.total > limits.max_total_uncompressed {
                return Err(WheelError::TooLarge {
                    wheel: wheel.to_string(),
                    entry: entry.name.clone(),
                    limit: limits.max_total_uncompressed,
                });
            }
            if state.size > limits.ratio_threshold
                && state.size > entry.compressed_size.saturating_mul(limits.max_ratio)
            {
                return Err(WheelError::CompressionRatio {
                    wheel: wheel.to_string(),
                    entry: entry.name.clone(),
                    limit: limits.max_ratio,
                });
            }
            state.crc.update(chunk);
            state.sha256.update(chunk);
            state.other.update(chunk);
            sink(chunk)?;
        }
    }
}

struct State {
    crc: crc32fast::Hasher,
    sha256: Sha256,
    other: ExtraHasher,
    size: u64,
}
