//! [`Sha256`]: a pinned or computed SHA-256 digest, parsed once from hex.

use std::fmt;
use std::str::FromStr;

/// A SHA-256 digest. Parsed from 64 hex digits (either case), shown as lowercase hex, the form
/// lockfiles (PEP 751 `hashes`) and indexes (PEP 503 `#sha256=`) use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

/// Text that is not a SHA-256 digest in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a SHA-256 digest (64 hexadecimal digits)")]
pub struct InvalidSha256 {
    /// The text given.
    pub value: String,
}

impl Sha256 {
    /// Parse 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, InvalidSha256> {
        let invalid = || InvalidSha256 {
            value: text.to_string(),
        };
        // Hand-written: ten lines do not justify a hex crate.
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or_else(invalid)?;
            let low = hex_value(pair[1]).ok_or_else(invalid)?;
            *byte = high << 4 | low;
        }
        Ok(Self(bytes))
    }

    /// The digest of what `hasher` was fed.
    pub(crate) fn finish(hasher: sha2::Sha256) -> Self {
        use sha2::Digest;
        Self(hasher.finalize().into())
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl FromStr for Sha256 {
    type Err = InvalidSha256;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_hex(text)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn round_trips_lowercase_hex() {
        let digest = Sha256::from_hex(EMPTY).unwrap();
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(digest, Sha256::finish(sha2::Sha256::new()));
    }

    #[test]
    fn accepts_uppercase_and_shows_lowercase() {
        let digest: Sha256 = EMPTY.to_ascii_uppercase().parse().unwrap();
        assert_eq!(digest.to_string(), EMPTY);
    }

    #[test]
    fn refuses_wrong_length_and_non_hex() {
        for text in [
            "",
            &EMPTY[..63],
            &format!("{EMPTY}0"),
            &EMPTY.replace('e', "g"),
        ] {
            let error = Sha256::from_hex(text).unwrap_err();
            assert_eq!(error.value, text);
        }
        // A multi-byte character must not be split into "digits".
        let text = format!("é{}", &EMPTY[2..]);
        assert!(Sha256::from_hex(&text).is_err());
    }
}
