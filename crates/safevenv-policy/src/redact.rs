//! URLs as they may be displayed: credentials masked, and a query (which may hold a signed
//! token) masked too.

use url::Url;
use uv_redacted::DisplaySafeUrl;

/// The URL with credentials and query masked, for messages and reports.
pub fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    if url.query().is_some() {
        url.set_query(Some("****"));
    }
    DisplaySafeUrl::from_url(url).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_credentials_and_query() {
        let url = Url::parse("https://user:s3cret@files.example/a.whl?X-Sig=abc").unwrap();
        let shown = redact_url(&url);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("abc"), "{shown}");
        assert!(shown.contains("files.example/a.whl"), "{shown}");
    }
}
