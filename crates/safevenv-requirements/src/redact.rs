//! Mask credentials in URLs inside free text (a requirements line, an error message).
//!
//! `uv-redacted` masks a URL once it is parsed; requirement lines and messages are free text
//! that holds URLs among other words, so this finds them first. Hand-written because no crate
//! finds URLs in text the way we need (and stops at the backticks our messages put around them).

use std::borrow::Cow;

use uv_redacted::DisplaySafeUrl;

const MASK: &str = "****";

/// Mask credentials (`user:password@`, `token@`) and signed query parameters in every
/// `scheme://` URL found in `text`. Text without such URLs is returned unchanged.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    // Everything before `copied` is in `out` already.
    let mut copied = 0;
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find("://") {
        let separator = search_from + found;
        let start = text[..separator]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |index| index + 1)
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
        let shown = parsed.to_string();
        return (shown != parsed.as_str()).then_some(shown);
    }
    // Unparsable (possibly an ambiguous `https://user/name:password@host`): mask everything
    // between `://` and the last `@` that could end a userinfo, erring on the side of hiding.
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
    use super::redact_text;

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
