//! URLs as they may be displayed: credentials removed, and a query (which may hold a signed
//! token) masked.
//!
//! Credentials are removed rather than masked so that a URL shown in a fix can be pasted into a
//! policy file as it is: index and prefix matching ignore credentials anyway.

use url::Url;

/// The URL without credentials and with its query masked, for messages and reports.
pub fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    // `ssh://git@host/...` names the account every user of the host shares, not a secret.
    let shared_ssh_user =
        url.scheme().contains("ssh") && url.username() == "git" && url.password().is_none();
    if !shared_ssh_user {
        // Both fail only for URLs that cannot have credentials, which then have none to remove.
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        url.set_query(Some("****"));
    }
    // A token in a path segment (`/glpat-.../simple/`) is masked too.
    safevenv_redact::mask_secrets(&url).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_credentials_and_masks_query() {
        for text in [
            "https://user:s3cret@files.example/a.whl?X-Sig=abc",
            "https://s3cret@files.example/a.whl?X-Sig=abc",
        ] {
            let shown = redact_url(&Url::parse(text).unwrap());
            assert!(
                !shown.contains("s3cret") && !shown.contains("user"),
                "{shown}"
            );
            assert!(!shown.contains("abc"), "{shown}");
            assert_eq!(shown, "https://files.example/a.whl?****");
        }
        let token = "https://index.example/glpat-A1b2C3d4E5f6G7h8I9j0/simple/";
        let shown = redact_url(&Url::parse(token).unwrap());
        assert_eq!(shown, "https://index.example/****/simple/");
        let ssh = Url::parse("git+ssh://git@git.example/org/repo").unwrap();
        assert_eq!(redact_url(&ssh), "git+ssh://git@git.example/org/repo");
    }
}
