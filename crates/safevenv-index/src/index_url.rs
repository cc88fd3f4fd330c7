//! Index URLs: where they come from (`--index-url`, the environment, pip's configuration, the
//! interpreter's pip) and how they are shown (never with credentials).

use std::fmt;
use std::path::{Path, PathBuf};

use tracing::debug;
use url::Url;
use uv_normalize::PackageName;
use uv_redacted::DisplaySafeUrl;

/// One index: the base URL of a simple repository API (PEP 503), always ending in `/`.
///
/// It may carry credentials (`https://user:token@host/simple/`); they are sent to that host only and
/// never displayed: `Display` and `Debug` redact them, and [`IndexUrl::url_for_lockfile`] drops them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IndexUrl(DisplaySafeUrl);

impl IndexUrl {
    /// Parse an index URL given by the user. Only `http` and `https` are accepted.
    pub fn parse(input: &str) -> Result<Self, IndexUrlError> {
        let input = input.trim();
        let mut url = DisplaySafeUrl::parse(input).map_err(|source| IndexUrlError::Invalid {
            // Redact before the value can reach an error message.
            url: redact_text(input),
            reason: source.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(IndexUrlError::Scheme {
                url: url.to_string(),
                scheme: url.scheme().to_string(),
            });
        }
        // Project pages are `<index>/<name>/`: without the slash `join` would drop the last segment.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        url.set_fragment(None);
        Ok(Self(url))
    }

    /// The URL with its credentials, for making requests. Display it only through `Display`.
    pub fn url(&self) -> &DisplaySafeUrl {
        &self.0
    }

    /// The URL without credentials and with any other secret (a token in its path or query)
    /// masked: the only form that may be written to a lockfile or a log.
    pub fn url_for_lockfile(&self) -> Url {
        safevenv_redact::shareable(&self.0)
    }

    /// The project page URL: `<index>/<normalized-name>/` (PEP 503).
    pub fn project_url(&self, name: &PackageName) -> DisplaySafeUrl {
        let mut url = self.0.clone();
        let path = format!("{}{}/", url.path(), name.as_str());
        url.set_path(&path);
        url
    }
}

impl fmt::Display for IndexUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for IndexUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexUrl({})", self.0)
    }
}

/// Replace the userinfo of a URL-like string that did not parse, so an error never echoes a secret.
fn redact_text(input: &str) -> String {
    match (input.find("://"), input.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://****{}", &input[..scheme_end], &input[at..])
        }
        _ => input.to_string(),
    }
}

/// An index URL that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IndexUrlError {
    /// The text is not a URL.
    #[error("`{url}` is not a valid index URL: {reason}")]
    Invalid {
        /// The redacted text.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The URL is not `http` or `https`.
    #[error(
        "the index URL `{url}` uses the scheme `{scheme}`; only `http` and `https` are supported"
    )]
    Scheme {
        /// The redacted URL.
        url: String,
        /// The scheme.
        scheme: String,
    },
    /// An index URL given in one place is invalid.
    #[error("the index URL from {source_name} is invalid")]
    From {
        /// Where it came from.
        source_name: IndexUrlSource,
        /// What is wrong with it.
        #[source]
        source: Box<IndexUrlError>,
    },
    /// No index was configured anywhere.
    #[error(
        "no index is configured\n\
         hint: pass `--index-url <URL>`, set `SAFEVENV_INDEX_URL`, or run `pip config set global.index-url <URL>`"
    )]
    NoIndex,
    /// A pip configuration file could not be read or parsed.
    #[error("cannot read the pip configuration file `{}`: {reason}", path.display())]
    PipConfig {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Where the index URL came from (for `-v` output and the lockfile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexUrlSource {
    /// `--index-url` (or `--extra-index-url` for extra indexes).
    CommandLine,
    /// The `SAFEVENV_INDEX_URL` environment variable.
    SafevenvEnv,
    /// The `PIP_INDEX_URL` environment variable.
    PipEnv,
    /// `index-url` in a pip configuration file.
    PipConfig(PathBuf),
    /// The default of the interpreter's own pip.
    Interpreter,
}

impl fmt::Display for IndexUrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CommandLine => f.write_str("the command line"),
            Self::SafevenvEnv => f.write_str("`SAFEVENV_INDEX_URL`"),
            Self::PipEnv => f.write_str("`PIP_INDEX_URL`"),
            Self::PipConfig(path) => write!(f, "the pip configuration file `{}`", path.display()),
            Self::Interpreter => f.write_str("the interpreter's pip"),
        }
    }
}

/// The indexes to use: the main one, where it came from, and any extra ones from the command line.
///
/// Every index is asked for every project (see `IndexClient::project`); the first index, in
/// order, whose page lists files is the only one read for it (no mixing of versions across
/// indexes, which is how dependency confusion attacks work), and the others serving it are
/// reported for the policy to refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUrls {
    /// The main index.
    pub index: IndexUrl,
    /// Where the main index URL came from.
    pub source: IndexUrlSource,
    /// Extra indexes (`--extra-index-url`), asked alongside the main one.
    pub extra: Vec<IndexUrl>,
}

impl IndexUrls {
    /// A single index given directly (tests, library callers).
    pub fn single(index: IndexUrl) -> Self {
        Self {
            index,
            source: IndexUrlSource::CommandLine,
            extra: Vec::new(),
        }
    }

    /// Choose the index from, in order: `cli` (`--index-url`), `SAFEVENV_INDEX_URL`,
    /// `PIP_INDEX_URL`, pip's configuration files, then `interpreter_default` (the interpreter's
    /// pip). `extra` are the `--extra-index-url` values.
    pub fn from_settings(
        cli: Option<&str>,
        extra: &[String],
        interpreter_default: Option<&str>,
    ) -> Result<Self, IndexUrlError> {
        Self::from_environment(cli, extra, interpreter_default, |key| {
            std::env::var(key).ok()
        })
    }

    /// [`IndexUrls::from_settings`] with the environment given as a lookup function, so that tests
    /// need not change the process environment.
    pub fn from_environment(
        cli: Option<&str>,
        extra: &[String],
        interpreter_default: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, IndexUrlError> {
        let nonempty = |key: &str| env(key).filter(|value| !value.trim().is_empty());
        let (text, source) = if let Some(url) = cli {
            (url.to_string(), IndexUrlSource::CommandLine)
        } else if let Some(url) = nonempty("SAFEVENV_INDEX_URL") {
            (url, IndexUrlSource::SafevenvEnv)
        } else if let Some(url) = nonempty("PIP_INDEX_URL") {
            (url, IndexUrlSource::PipEnv)
        } else if let Some((url, path)) = pip_config_index_url(&env)? {
            (url, IndexUrlSource::PipConfig(path))
        } else if let Some(url) = interpreter_default {
            (url.to_string(), IndexUrlSource::Interpreter)
        } else {
            return Err(IndexUrlError::NoIndex);
        };
        let index = IndexUrl::parse(&text).map_err(|error| IndexUrlError::From {
            source_name: source.clone(),
            source: Box::new(error),
        })?;
        debug!("index `{index}` from {source}");
        let extra = extra
            .iter()
            .map(|url| {
                IndexUrl::parse(url).map_err(|error| IndexUrlError::From {
                    source_name: IndexUrlSource::CommandLine,
                    source: Box::new(error),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            index,
            source,
            extra,
        })
    }

    /// All indexes in search order.
    pub fn iter(&self) -> impl Iterator<Item = &IndexUrl> {
        std::iter::once(&self.index).chain(&self.extra)
    }
}

/// The pip configuration files in pip's load order; a later file overrides an earlier one.
///
/// This follows pip's `Configuration._iter_config_files`: global files (`$XDG_CONFIG_DIRS/pip/pip.conf`,
/// default `/etc/xdg`, then `/etc/pip.conf`), user files (`~/.pip/pip.conf` then
/// `$XDG_CONFIG_HOME/pip/pip.conf`, skipped when `PIP_CONFIG_FILE` names an existing file), the site
/// file (`$VIRTUAL_ENV/pip.conf`), then `PIP_CONFIG_FILE`. `PIP_CONFIG_FILE=/dev/null` disables
/// every file.
fn pip_config_files(env: &impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let env_file = env("PIP_CONFIG_FILE").filter(|value| !value.is_empty());
    if env_file.as_deref() == Some("/dev/null") {
        return Vec::new();
    }
    let mut files = Vec::new();
    let xdg_dirs = env("XDG_CONFIG_DIRS")
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "/etc/xdg".to_string());
    files.extend(
        xdg_dirs
            .split(':')
            .filter(|dir| !dir.is_empty())
            .map(|dir| Path::new(dir).join("pip").join("pip.conf")),
    );
    files.push(PathBuf::from("/etc/pip.conf"));
    let env_file_exists = env_file
        .as_deref()
        .is_some_and(|path| Path::new(path).exists());
    if !env_file_exists && let Some(home) = env("HOME").filter(|home| !home.is_empty()) {
        let home = PathBuf::from(home);
        files.push(home.join(".pip").join("pip.conf"));
        let config_home = env("XDG_CONFIG_HOME")
            .filter(|value| !value.is_empty())
            .map_or_else(|| home.join(".config"), PathBuf::from);
        files.push(config_home.join("pip").join("pip.conf"));
    }
    if let Some(venv) = env("VIRTUAL_ENV").filter(|value| !value.is_empty()) {
        files.push(Path::new(&venv).join("pip.conf"));
    }
    files.extend(env_file.map(PathBuf::from));
    files
}

/// The `index-url` of the last pip configuration file that sets one (`[install]` over `[global]`).
fn pip_config_index_url(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, PathBuf)>, IndexUrlError> {
    let mut found = None;
    for path in pip_config_files(env) {
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(IndexUrlError::PipConfig {
                    path,
                    reason: error.to_string(),
                });
            }
        };
        if let Some(url) =
            index_url_in_pip_config(&text).map_err(|reason| IndexUrlError::PipConfig {
                path: path.clone(),
                reason,
            })?
        {
            found = Some((url, path));
        }
    }
    Ok(found)
}

/// Read `index-url` (or `index_url`) from one pip configuration file's text, like Python's
/// `RawConfigParser` as pip uses it: keys are case-insensitive, comments start a line with `#` or
/// `;`, and there are no inline comments.
fn index_url_in_pip_config(text: &str) -> Result<Option<String>, String> {
    let mut ini = configparser::ini::Ini::new();
    ini.set_inline_comment_symbols(Some(&[]));
    ini.set_multiline(true);
    ini.read(text.to_string())?;
    let get = |section: &str| {
        ini.get(section, "index-url")
            .or_else(|| ini.get(section, "index_url"))
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
    };
    Ok(get("install").or_else(|| get("global")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_adds_slash_and_refuses_other_schemes() {
        let url = IndexUrl::parse("https://index.example/simple").unwrap();
        assert_eq!(url.url().as_str(), "https://index.example/simple/");
        let error = IndexUrl::parse("ftp://index.example/simple/").unwrap_err();
        assert!(matches!(error, IndexUrlError::Scheme { .. }), "{error}");
    }

    #[test]
    fn credentials_are_never_displayed_nor_locked() {
        let url = IndexUrl::parse("https://user:s3cret@index.example/simple/").unwrap();
        assert!(!url.to_string().contains("s3cret"), "{url}");
        assert!(!format!("{url:?}").contains("s3cret"));
        let locked = url.url_for_lockfile();
        assert_eq!(locked.as_str(), "https://index.example/simple/");
        // The request URL keeps them.
        assert_eq!(url.url().password(), Some("s3cret"));
    }

    #[test]
    fn invalid_url_error_redacts_userinfo() {
        let error = IndexUrl::parse("https://user:s3cret@[bad/simple/").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn project_url_is_normalized_name_with_slash() {
        let url = IndexUrl::parse("https://index.example/simple/").unwrap();
        let name = PackageName::from_owned("Foo_Bar.baz".to_string()).unwrap();
        assert_eq!(
            url.project_url(&name).as_str(),
            "https://index.example/simple/foo-bar-baz/"
        );
    }

    #[test]
    fn pip_config_reads_install_over_global_without_inline_comments() {
        let text = "[global]\nindex-url = https://global.example/simple/\n\
                    [install]\nIndex_URL = https://install.example/simple/\n";
        assert_eq!(
            index_url_in_pip_config(text).unwrap().as_deref(),
            Some("https://install.example/simple/")
        );
        let text = "# comment\n[global]\n; other\nindex-url: https://g.example/simple/\n";
        assert_eq!(
            index_url_in_pip_config(text).unwrap().as_deref(),
            Some("https://g.example/simple/")
        );
        assert_eq!(
            index_url_in_pip_config("[global]\ntimeout = 3\n").unwrap(),
            None
        );
    }
}
