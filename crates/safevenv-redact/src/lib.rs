//! Find and mask secrets in URLs, and in free text that holds URLs (a requirements line, an error
//! message).
//!
//! A secret rides in a URL in three places: the userinfo (`user:password@`, `token@`), a query
//! parameter (a signed CDN link's `X-Amz-Signature=`, an Azure `sig=`, a `?token=`), or a path
//! segment (registries that take a token as the first path part). `uv-redacted` masks the userinfo
//! and three AWS parameters; this masks any query parameter whose name says it is a secret, and
//! any value or path segment shaped like a known token (`ghp_…`, `glpat-…`, `pypi-AgE…`).
//!
//! Threat: a lockfile is committed and shared, `direct_url.json` is readable by every user of the
//! environment, and messages land in CI logs; a token in any of them is a published token.

use std::borrow::Cow;

use url::Url;
use uv_redacted::DisplaySafeUrl;

/// What a secret is replaced by.
pub const MASK: &str = "****";

/// Prefixes of tokens that say what they are: GitHub (classic and fine-grained), GitLab
/// (personal, deploy, pipeline trigger) and PyPI API tokens (a macaroon, base64 `AgE…`).
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "gldt-",
    "glptt-",
    "pypi-AgE",
];

/// A prefix alone is a word (`ghs_docs`); a token has at least this many characters after it.
const MIN_TOKEN_BODY: usize = 16;

/// Words that, inside a query parameter's name, say its value is a secret (`access_token`,
/// `X-Amz-Signature`, `sig`, `api_key`, `client_secret`, `X-Amz-Credential`, `auth`).
const SECRET_QUERY_WORDS: &[&str] = &[
    "token",
    "sig",
    "secret",
    "password",
    "passwd",
    "credential",
    "auth",
    "key",
];

/// Whether `text` (already percent-decoded) is shaped like a known token.
fn is_token(text: &str) -> bool {
    TOKEN_PREFIXES.iter().any(|prefix| {
        text.strip_prefix(prefix).is_some_and(|body| {
            body.len() >= MIN_TOKEN_BODY
                && body.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'+' | b'/')
                })
        })
    })
}

fn is_secret_query_pair(key: &str, value: &str) -> bool {
    if value.is_empty() || value == MASK {
        return false;
    }
    let key = key.to_ascii_lowercase();
    SECRET_QUERY_WORDS.iter().any(|word| key.contains(word)) || is_token(value)
}

/// `git@` in an SSH (or `git+https`) URL names the account every user of the host shares.
fn is_shared_git_user(url: &Url) -> bool {
    matches!(url.scheme(), "ssh" | "git+ssh" | "git+https")
        && url.username() == "git"
        && url.password().is_none()
}

fn has_secret_userinfo(url: &Url) -> bool {
    url.password().is_some_and(|password| password != MASK)
        || (!url.username().is_empty() && url.username() != MASK && !is_shared_git_user(url))
}

fn decoded(text: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy()
}

fn has_secret_path(url: &Url) -> bool {
    url.path_segments()
        .is_some_and(|mut segments| segments.any(|segment| is_token(&decoded(segment))))
}

fn has_secret_query(url: &Url) -> bool {
    url.query_pairs()
        .any(|(key, value)| is_secret_query_pair(&key, &value))
}

/// Whether `url` carries a secret: credentials, a secret query parameter, or a token in its path.
/// A URL that [`mask_secrets`] returned has none.
pub fn has_secrets(url: &Url) -> bool {
    has_secret_userinfo(url) || has_secret_query(url) || has_secret_path(url)
}

/// Whether `url` carries a secret outside its userinfo (which callers that remove credentials
/// handle themselves): a secret query parameter or a token in its path.
pub fn has_secrets_beyond_userinfo(url: &Url) -> bool {
    has_secret_query(url) || has_secret_path(url)
}

/// `url` with every secret replaced by [`MASK`]: the password (the user name stays), a user name
/// that is a token, the values of secret query parameters, and path segments shaped like tokens.
/// A URL without secrets is returned as it is (borrowed).
pub fn mask_secrets(url: &Url) -> Cow<'_, Url> {
    if !has_secrets(url) {
        return Cow::Borrowed(url);
    }
    let mut masked = url.clone();
    if has_secret_userinfo(url) {
        // Both fail only for URLs that cannot have credentials, which then have none.
        if url.password().is_some() {
            let _ = masked.set_password(Some(MASK));
        } else {
            let _ = masked.set_username(MASK);
        }
    }
    if has_secret_path(url)
        && let Some(segments) = url.path_segments()
    {
        let path: Vec<&str> = segments
            .map(|segment| {
                if is_token(&decoded(segment)) {
                    MASK
                } else {
                    segment
                }
            })
            .collect();
        masked.set_path(&path.join("/"));
    }
    if has_secret_query(url) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_query_pair(&key, &value) {
                    MASK.to_string()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        masked.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Cow::Owned(masked)
}

/// `url` as it may be written to a file others read (a lockfile, `direct_url.json`, an exported
/// requirements file): credentials removed (the shared `git@` kept), every other secret masked.
/// Credentials are removed rather than masked because requests get them again by origin (from
/// the index URL or netrc); a masked query or path token cannot be got again, and the URL then
/// fails to fetch rather than publish it.
pub fn shareable(url: &Url) -> Url {
    let mut url = url.clone();
    if !is_shared_git_user(&url) {
        // Both fail only for URLs that cannot have credentials, which then have none.
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    mask_secrets(&url).into_owned()
}

/// Mask every secret ([`mask_secrets`]) in every `scheme://` URL found in `text`. Text without
/// such URLs is returned unchanged.
///
/// `uv-redacted` masks a URL once it is parsed; requirement lines and messages are free text
/// that holds URLs among other words, so this finds them first. Hand-written because no crate
/// finds URLs in text the way we need (and stops at the backticks our messages put around them).
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    // Everything before `copied` is in `out` already.
    let mut copied = 0;
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find("://") {
        let separator = search_from + found;
        // The scheme starts after the last character that cannot be in one. Byte offsets come
        // from `char_indices` so that a multi-byte character before the scheme (`«git+https://`)
        // never splits: text is untrusted and a slice inside a character panics.
        let start = text[..separator]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(index, c)| index + c.len_utf8())
            .max(copied);
        let end = text[separator..]
            .find(|c: char| c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '<' | '>'))
            .map_or(text.len(), |index| separator + index);
        if let Some(redacted) = redact_url_str(&text[start..end]) {
            out.push_str(&text[copied..start]);
            out.push_str(&redacted);
            copied = end;
        }
        search_from = end.max(separator + 3);
    }
    if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }
}

/// The masked form of one URL, or `None` if it holds no secret.
fn redact_url_str(url: &str) -> Option<String> {
    if let Ok(parsed) = DisplaySafeUrl::parse(url) {
        return match mask_secrets(&parsed) {
            Cow::Borrowed(_) => None,
            Cow::Owned(masked) => Some(masked.to_string()),
        };
    }
    // Unparsable (possibly an ambiguous `https://user/name:password@host`): mask everything
    // between `://` and the last `@` that could end a userinfo, erring on the side of hiding.
    // Every offset below is of an ASCII character found by `find`, so every slice is on a
    // character boundary.
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let userinfo_end = rest[..authority_end].rfind('@').or_else(|| {
        let colon = rest.find(':')?;
        rest[colon..].rfind('@').map(|at| colon + at)
    })?;
    Some(format!("{scheme}://{MASK}{}", &rest[userinfo_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by review: `-e «git+https://h/x` sliced inside `«` and panicked.
    #[test]
    fn multi_byte_character_before_a_scheme_does_not_panic() {
        for before in ["«", "é", "→", "𝔘", "\u{301}", "ﬀ", "«»", "a«"] {
            for url in ["git+https://h/x", "https://u:pw@h.example/x", "://", "h://"] {
                for after in ["", "»", " «", "é"] {
                    let text = format!("-e {before}{url}{after}");
                    let redacted = redact_text(&text);
                    assert!(!redacted.contains("pw@"), "{redacted}");
                    assert!(redacted.starts_with(&format!("-e {before}")), "{redacted}");
                }
            }
        }
    }

    #[test]
    fn masks_secret_query_parameters() {
        for key in [
            "token",
            "access_token",
            "X-Amz-Signature",
            "X-Goog-Signature",
            "sig",
            "api_key",
            "client_secret",
            "AUTH",
        ] {
            let text = format!("fetch https://cdn.example/a.whl?v=1&{key}=s3cret failed");
            let redacted = redact_text(&text);
            assert!(!redacted.contains("s3cret"), "{redacted}");
            assert!(redacted.contains("v=1"), "{redacted}");
            assert!(redacted.ends_with(" failed"), "{redacted}");
        }
    }

    #[test]
    fn masks_tokens_in_paths_and_query_values() {
        let body = "A1b2C3d4E5f6G7h8I9j0";
        for prefix in TOKEN_PREFIXES {
            let token = format!("{prefix}{body}");
            for url in [
                format!("https://pkgs.example/{token}/simple/"),
                format!("https://pkgs.example/simple/?x={token}"),
            ] {
                let url = Url::parse(&url).unwrap();
                assert!(has_secrets(&url), "{url}");
                let masked = mask_secrets(&url);
                assert!(!masked.as_str().contains(body), "{masked}");
                assert!(!has_secrets(&masked), "{masked}");
                assert!(!redact_text(url.as_str()).contains(body));
            }
        }
    }

    #[test]
    fn shareable_urls_keep_no_secret() {
        for text in [
            "https://user:pw@cdn.example/a.whl?X-Amz-Signature=s3cret&v=1",
            "https://ghp_A1b2C3d4E5f6G7h8I9j0@h.example/glpat-A1b2C3d4E5f6G7h8I9j0/a.whl",
            "https://h.example/a.whl?sig=s3cret#sha256=abc",
        ] {
            let url = Url::parse(text).unwrap();
            let shared = shareable(&url);
            assert!(!has_secrets(&shared), "{shared}");
            for secret in ["pw", "s3cret", "A1b2C3d4", "user"] {
                assert!(!shared.as_str().contains(secret), "{shared}");
            }
            assert_eq!(shared.host_str(), url.host_str());
        }
        let honest =
            Url::parse("https://h.example/simple/a/a-1.0-py3-none-any.whl?v=1#sha256=abc").unwrap();
        assert_eq!(shareable(&honest), honest);
        let ssh = Url::parse("git+ssh://git@host.example/o/r.git").unwrap();
        assert_eq!(shareable(&ssh), ssh);
    }

    #[test]
    fn honest_urls_have_no_secrets() {
        for text in [
            "https://files.example/packages/0a/1b/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/p-1.0-py3-none-any.whl#sha256=abc",
            "https://index.example/simple/ghs_docs/",
            "https://index.example/simple/?format=json&page=2",
            "git+ssh://git@host.example/o/r.git",
            "https://index.example/simple/pypi-client/",
        ] {
            let url = Url::parse(text).unwrap();
            assert!(!has_secrets(&url), "{text}");
            assert!(matches!(mask_secrets(&url), Cow::Borrowed(_)));
            assert_eq!(redact_text(text), text);
        }
    }

    #[test]
    fn masks_user_and_password() {
        let text = "-i https://alice:s3cret@index.example/simple --pre";
        let redacted = redact_text(text);
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(
            redacted.contains("https://alice:****@index.example/simple"),
            "{redacted}"
        );
        assert!(redacted.ends_with(" --pre"));
    }

    #[test]
    fn masks_token_username() {
        let redacted = redact_text("pkg @ git+https://ghp_token123@host.example/o/r.git@v1");
        assert!(!redacted.contains("ghp_token123"), "{redacted}");
        assert!(redacted.contains("@host.example/o/r.git@v1"), "{redacted}");
    }

    #[test]
    fn masks_inside_backticks_and_ambiguous_userinfo() {
        let redacted = redact_text("invalid URL `https://user/name:pw@host.example/x` here");
        assert!(!redacted.contains("pw@"), "{redacted}");
        assert!(redacted.ends_with("` here"), "{redacted}");
    }

    #[test]
    fn leaves_urls_without_credentials_untouched() {
        let text = "pkg @ https://index.example/p-1.0.whl#sha256=abc ; python_version > '3'";
        assert_eq!(redact_text(text), text);
        let ssh = "git+ssh://git@host.example/o/r.git@main";
        assert_eq!(redact_text(ssh), ssh);
    }

    #[test]
    fn masks_several_urls() {
        let redacted = redact_text("a https://u:p1@h.example/ b https://u:p2@h.example/ c");
        assert!(
            !redacted.contains("p1") && !redacted.contains("p2"),
            "{redacted}"
        );
        assert!(redacted.starts_with("a ") && redacted.ends_with(" c"));
    }
}
