//! Credentials for index requests: from the index URL's userinfo, else from `~/.netrc` (or the
//! file named by `NETRC`). They are sent as HTTP basic auth and never displayed.

use std::fmt;
use std::path::PathBuf;

use tracing::warn;
use url::Url;

use crate::index_url::IndexUrl;

/// A user name and password. `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .finish()
    }
}

/// `(scheme, host, port)`: credentials from an index URL go to this origin only.
type Origin = (String, String, Option<u16>);

/// Where each host's credentials come from.
#[derive(Debug, Default)]
pub(crate) struct Authenticator {
    /// `(scheme, host, port)` of each index with userinfo, and its credentials.
    from_urls: Vec<(Origin, Credentials)>,
    /// `(scheme, host, port)` of every index named: the only origins a netrc `default` entry
    /// may go to.
    index_origins: Vec<Origin>,
    netrc: Option<netrc::Netrc>,
}

fn origin(url: &Url) -> Origin {
    (
        url.scheme().to_string(),
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default(),
    )
}

impl Authenticator {
    /// Collect the credentials of `indexes` and read the netrc file at `netrc` (if any).
    ///
    /// A netrc file that does not parse is ignored with a warning, as pip does: it must not
    /// break access to indexes that need no credentials.
    pub(crate) fn new<'a>(
        indexes: impl Iterator<Item = &'a IndexUrl>,
        netrc: Option<PathBuf>,
    ) -> Self {
        let indexes: Vec<&IndexUrl> = indexes.collect();
        let index_origins = indexes.iter().map(|index| origin(index.url())).collect();
        let from_urls = indexes
            .into_iter()
            .filter(|index| !index.url().username().is_empty())
            .map(|index| {
                let url = index.url();
                let decode = |text: &str| {
                    // Userinfo in a URL is percent-encoded; basic auth wants the plain text.
                    percent_encoding::percent_decode_str(text)
                        .decode_utf8_lossy()
                        .into_owned()
                };
                (
                    origin(url),
                    Credentials {
                        username: decode(url.username()),
                        password: url.password().map(decode),
                    },
                )
            })
            .collect();
        let netrc = netrc.and_then(|path| match fs_err::read_to_string(&path) {
            Ok(text) => match text.parse::<netrc::Netrc>() {
                Ok(netrc) => Some(netrc),
                Err(error) => {
                    warn!("ignoring the netrc file `{}`: {error}", path.display());
                    None
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                warn!("ignoring the netrc file: {error}");
                None
            }
        });
        Self {
            from_urls,
            index_origins,
            netrc,
        }
    }

    /// The credentials for a request to `url` (whose own userinfo, if any, was already removed).
    ///
    /// Security: an index's URL credentials go only to the same origin (scheme, host and port), so an
    /// index page that links artifacts on another host never leaks them there; netrc `machine`
    /// entries are per host by design.
    ///
    /// Security: a netrc `default` entry matches every host, so sent as netrc's format intends it
    /// would go to whatever host an index page links (an attacker's) and over plain `http` (to
    /// anyone on the path). It is sent only over `https`, and only to the origin of an index the
    /// user named.
    pub(crate) fn for_url(&self, url: &Url) -> Option<Credentials> {
        let request_origin = origin(url);
        if let Some((_, credentials)) = self
            .from_urls
            .iter()
            .find(|(origin, _)| *origin == request_origin)
        {
            return Some(credentials.clone());
        }
        let netrc = self.netrc.as_ref()?;
        let host = url.host_str()?;
        let entry = netrc.hosts.get(host).or_else(|| {
            (request_origin.0 == "https" && self.index_origins.contains(&request_origin))
                .then(|| netrc.hosts.get("default"))
                .flatten()
        })?;
        Some(Credentials {
            username: entry.login.clone(),
            password: Some(entry.password.clone()),
        })
    }
}

/// The netrc file to read: `NETRC` if set, else `~/.netrc`.
pub(crate) fn netrc_path(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("NETRC")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|home| !home.is_empty())
                .map(|home| PathBuf::from(home).join(".netrc"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_go_to_the_same_origin_only() {
        let index = IndexUrl::parse("https://user:p%40ss@index.example/simple/").unwrap();
        let auth = Authenticator::new(std::iter::once(&index), None);
        let same = Url::parse("https://index.example/files/a.whl").unwrap();
        let credentials = auth.for_url(&same).unwrap();
        assert_eq!(credentials.username, "user");
        assert_eq!(credentials.password.as_deref(), Some("p@ss"));
        assert!(!format!("{credentials:?}").contains("p@ss"));
        let other = Url::parse("https://files.example/a.whl").unwrap();
        assert_eq!(auth.for_url(&other), None);
        let other_port = Url::parse("https://index.example:8443/a.whl").unwrap();
        assert_eq!(auth.for_url(&other_port), None);
    }

    #[test]
    fn netrc_credentials_by_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("netrc");
        fs_err::write(&path, "machine index.example login alice password wonder\n").unwrap();
        let auth = Authenticator::new(std::iter::empty(), Some(path));
        let url = Url::parse("https://index.example/simple/a/").unwrap();
        let credentials = auth.for_url(&url).unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password.as_deref(), Some("wonder"));
        assert_eq!(
            auth.for_url(&Url::parse("https://other.example/").unwrap()),
            None
        );
    }

    fn netrc_with_default(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("netrc");
        fs_err::write(
            &path,
            "machine named.example login alice password wonder\ndefault login bob password fallback\n",
        )
        .unwrap();
        path
    }

    #[test]
    fn netrc_default_goes_nowhere_but_an_index_over_https() {
        let dir = tempfile::tempdir().unwrap();
        let indexes = [
            IndexUrl::parse("https://index.example/simple/").unwrap(),
            IndexUrl::parse("http://plain.example/simple/").unwrap(),
            IndexUrl::parse("https://ported.example:8443/simple/").unwrap(),
        ];
        let auth = Authenticator::new(indexes.iter(), Some(netrc_with_default(&dir)));
        for refused in [
            // A host an index page links: possibly the attacker's.
            "https://files.example/a.whl",
            "https://evil.example/simple/a/",
            // Plain http, even to a named index.
            "http://plain.example/simple/a/",
            "http://index.example/simple/a/",
            // Same host, another port or scheme than the index named.
            "https://index.example:8443/simple/a/",
            "https://ported.example/simple/a/",
        ] {
            let url = Url::parse(refused).unwrap();
            assert_eq!(auth.for_url(&url), None, "{refused}");
        }
        for allowed in [
            "https://index.example/simple/a/",
            "https://index.example/files/a.whl",
            "https://ported.example:8443/simple/a/",
        ] {
            let credentials = auth.for_url(&Url::parse(allowed).unwrap()).unwrap();
            assert_eq!(credentials.username, "bob", "{allowed}");
        }
    }

    #[test]
    fn netrc_machine_entry_still_wins_over_default() {
        let dir = tempfile::tempdir().unwrap();
        let index = IndexUrl::parse("https://named.example/simple/").unwrap();
        let auth = Authenticator::new(std::iter::once(&index), Some(netrc_with_default(&dir)));
        let credentials = auth
            .for_url(&Url::parse("https://named.example/simple/a/").unwrap())
            .unwrap();
        assert_eq!(credentials.username, "alice");
        // A `machine` entry is the user naming that host: it is used for it, index or not.
        let auth = Authenticator::new(std::iter::empty(), Some(netrc_with_default(&dir)));
        let credentials = auth
            .for_url(&Url::parse("https://named.example/x.whl").unwrap())
            .unwrap();
        assert_eq!(credentials.username, "alice");
    }

    #[test]
    fn netrc_path_prefers_env() {
        let env = |key: &str| match key {
            "NETRC" => Some("/n/netrc".to_string()),
            "HOME" => Some("/home/x".to_string()),
            _ => None,
        };
        assert_eq!(netrc_path(&env), Some(PathBuf::from("/n/netrc")));
        let env = |key: &str| (key == "HOME").then(|| "/home/x".to_string());
        assert_eq!(netrc_path(&env), Some(PathBuf::from("/home/x/.netrc")));
    }
}
