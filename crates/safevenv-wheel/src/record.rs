//! (8) RECORD: CSV rows `path,algorithm=digest,size` (PEP 376 as amended by PEP 427).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::WheelError;
use crate::inflate::Algorithm;

/// One RECORD row, fields as written.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) path: String,
    pub(crate) hash: String,
    pub(crate) size: String,
}

/// Splits RECORD into rows of exactly three fields.
///
/// Hand-written rather than a CSV crate: RECORD uses only the RFC 4180 subset (commas,
/// double-quoted fields with `""` escapes, LF or CRLF line ends), and a strict reader of
/// that subset is shorter than configuring a general one to refuse everything else.
pub(crate) fn parse(text: &str, wheel: &str) -> Result<Vec<Row>, WheelError> {
    let syntax = |line, reason| WheelError::RecordSyntax {
        wheel: wheel.to_string(),
        line,
        reason,
    };
    let mut rows = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start_line = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut at_field_start = true;
        while let Some(c) = chars.next() {
            match c {
                '"' if at_field_start => {
                    at_field_start = false;
                    loop {
                        match chars.next() {
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                            None => return Err(syntax(start_line, "a quoted field is not closed")),
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err(syntax(line, "text after a closing quote"));
                    }
                }
                '"' => return Err(syntax(line, "a quote inside an unquoted field")),
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    break;
                }
                c => {
                    at_field_start = false;
                    field.push(c);
                }
            }
        }
        if fields.is_empty() && field.is_empty() {
            continue;
        }
        fields.push(field);
        let [path, hash, size]: [String; 3] = fields
            .try_into()
            .map_err(|_| syntax(start_line, "a row does not have exactly three fields"))?;
        rows.push(Row { path, hash, size });
    }
    Ok(rows)
}

/// Parses `algorithm=digest`, refusing weak algorithms and anything but canonical
/// urlsafe-base64-nopad digests of the algorithm's length.
pub(crate) fn parse_hash(
    value: &str,
    entry: &str,
    wheel: &str,
) -> Result<(Algorithm, Vec<u8>), WheelError> {
    let malformed = || WheelError::MalformedDigest {
        wheel: wheel.to_string(),
        entry: entry.to_string(),
        value: value.to_string(),
    };
    let (name, digest) = value.split_once('=').ok_or_else(malformed)?;
    let algorithm = match name {
        "sha256" => Algorithm::Sha256,
        "sha384" => Algorithm::Sha384,
        "sha512" => Algorithm::Sha512,
        // PEP 427: "md5 and sha1 are not permitted, as signed wheel files rely on the strong
        // hashes in RECORD to validate the integrity of the archive"; sha224 is not "sha256 or
        // better" either.
        "md5" | "sha1" | "sha224" => {
            return Err(WheelError::WeakHashAlgorithm {
                wheel: wheel.to_string(),
                entry: entry.to_string(),
                algorithm: name.to_string(),
            });
        }
        _ => {
            return Err(WheelError::UnknownHashAlgorithm {
                wheel: wheel.to_string(),
                entry: entry.to_string(),
                algorithm: name.to_string(),
            });
        }
    };
    // Hex is valid base64 alphabet, so it would "decode" to the wrong length: name it.
    if digest.len() == 2 * algorithm.digest_len() && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WheelError::HexDigest {
            wheel: wheel.to_string(),
            entry: entry.to_string(),
        });
    }
    // The engine refuses padding and non-zero trailing bits: one digest, one spelling.
    let bytes = URL_SAFE_NO_PAD.decode(digest).map_err(|_| malformed())?;
    if bytes.len() != algorithm.digest_len() {
        return Err(malformed());
    }
    Ok((algorithm, bytes))
}

/// `algorithm=digest` as RECORD spells it.
pub(crate) fn format_hash(algorithm: Algorithm, digest: &[u8]) -> String {
    format!("{}={}", algorithm.name(), URL_SAFE_NO_PAD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_crlf() {
        let rows = parse("\"a,b.py\",sha256=x,1\r\nc.py,,\n\n\"q\"\"x\",h,2", "w").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].path, "a,b.py");
        assert_eq!(rows[1].hash, "");
        assert_eq!(rows[2].path, "q\"x");
    }

    #[test]
    fn refuses_wrong_field_counts_and_open_quotes() {
        assert!(matches!(
            parse("a,b\n", "w"),
            Err(WheelError::RecordSyntax { line: 1, .. })
        ));
        assert!(matches!(
            parse("a,b,c,d\n", "w"),
            Err(WheelError::RecordSyntax { .. })
        ));
        assert!(matches!(
            parse("\"a,b,c\n", "w"),
            Err(WheelError::RecordSyntax { .. })
        ));
        assert!(matches!(
            parse("a\"b,c,d\n", "w"),
            Err(WheelError::RecordSyntax { .. })
        ));
    }

    #[test]
    fn hash_forms() {
        let digest = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert!(parse_hash(&format!("sha256={digest}"), "e", "w").is_ok());
        let hex = "ab".repeat(32);
        assert!(matches!(
            parse_hash(&format!("sha256={hex}"), "e", "w"),
            Err(WheelError::HexDigest { .. })
        ));
        assert!(matches!(
            parse_hash(&format!("sha256={digest}="), "e", "w"),
            Err(WheelError::MalformedDigest { .. })
        ));
        assert!(matches!(
            parse_hash("md5=abc", "e", "w"),
            Err(WheelError::WeakHashAlgorithm { .. })
        ));
        assert!(matches!(
            parse_hash("sha1=abc", "e", "w"),
            Err(WheelError::WeakHashAlgorithm { .. })
        ));
        assert!(matches!(
            parse_hash("blake9=abc", "e", "w"),
            Err(WheelError::UnknownHashAlgorithm { .. })
        ));
        assert!(matches!(
            parse_hash("sha256", "e", "w"),
            Err(WheelError::MalformedDigest { .. })
        ));
        let long = URL_SAFE_NO_PAD.encode([7u8; 64]);
        assert!(parse_hash(&format!("sha512={long}"), "e", "w").is_ok());
    }
}
