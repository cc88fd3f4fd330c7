//! The small value types of policy entries: package matchers, name globs, URL and path prefixes,
//! durations. Each parses in its `Deserialize`, so a bad value is reported at its file and line.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use url::Url;
use uv_normalize::PackageName;
use uv_pep440::{Version, VersionSpecifiers};

/// A project name with optional version specifiers: `evilpkg`, `foo<2.1`, `bar==1.2.3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageMatcher {
    /// The project.
    pub name: PackageName,
    /// The versions matched; empty matches every version.
    pub specifiers: VersionSpecifiers,
    text: String,
}

impl PackageMatcher {
    /// Whether `version` of `name` matches. An unknown version matches when `unknown_matches`
    /// (a deny entry fails closed) and otherwise only an entry without specifiers does.
    pub fn matches(
        &self,
        name: &PackageName,
        version: Option<&Version>,
        unknown_matches: bool,
    ) -> bool {
        if &self.name != name {
            return false;
        }
        if self.specifiers.is_empty() {
            return true;
        }
        version.map_or(unknown_matches, |version| self.specifiers.contains(version))
    }
}

impl FromStr for PackageMatcher {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let end = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(trimmed.len());
        let (name, rest) = trimmed.split_at(end);
        let name = PackageName::from_str(name).map_err(|err| {
            format!("`{text}` is not a project name with optional version specifiers: {err}")
        })?;
        let specifiers = VersionSpecifiers::from_str(rest.trim())
            .map_err(|err| format!("`{text}` has invalid version specifiers: {err}"))?;
        Ok(Self {
            name,
            specifiers,
            text: trimmed.to_string(),
        })
    }
}

impl fmt::Display for PackageMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A project name, or `*` for every project.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackagePattern {
    /// Every project.
    Any,
    /// One project.
    Name(PackageName),
}

impl PackagePattern {
    /// Whether `name` matches.
    pub fn matches(&self, name: &PackageName) -> bool {
        match self {
            Self::Any => true,
            Self::Name(own) => own == name,
        }
    }
}

impl fmt::Display for PackagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Name(name) => write!(f, "{name}"),
        }
    }
}

/// A name or path pattern with `*` wildcards, each matching any run of characters (`/` included).
///
/// Hand-written rather than a glob crate: entries name files, modules and scripts, and `*` is
/// all the syntax the policy offers (no classes, no `**`), so there is nothing else to get wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Glob(String);

impl Glob {
    /// Whether `name` matches the pattern.
    pub fn matches(&self, name: &str) -> bool {
        let mut parts = self.0.split('*');
        let Some(first) = parts.next() else {
            return false;
        };
        let Some(mut rest) = name.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            // No `*`: the whole name must equal the pattern.
            return rest.is_empty();
        };
        for part in middle {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A URL prefix: same scheme, host and port, and a path that is the prefix's path or below it.
///
/// Compared structurally, never as text: as text, `https://git.example/org` would be a prefix
/// of `https://git.example/org-evil/x` and `https://files.example` of
/// `https://files.example.attacker.test/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPrefix(Url);

impl UrlPrefix {
    /// Whether `url` falls under this prefix.
    pub fn contains(&self, url: &Url) -> bool {
        let prefix = &self.0;
        if strip_vcs_scheme(prefix.scheme()) != strip_vcs_scheme(url.scheme())
            || prefix.host_str().map(str::to_ascii_lowercase)
                != url.host_str().map(str::to_ascii_lowercase)
            || port(prefix) != port(url)
        {
            return false;
        }
        let base = prefix.path().trim_end_matches('/');
        let path = url.path();
        path == base
            || path
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// The port, with the default of the transport for `git+https`-style schemes.
fn port(url: &Url) -> Option<u16> {
    url.port().or(match strip_vcs_scheme(url.scheme()) {
        "https" => Some(443),
        "http" => Some(80),
        "ssh" => Some(22),
        "git" => Some(9418),
        _ => None,
    })
}

/// `git+https` and `https` name the same repository host.
fn strip_vcs_scheme(scheme: &str) -> &str {
    scheme
        .split_once('+')
        .map_or(scheme, |(_, transport)| transport)
}

impl FromStr for UrlPrefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(text).map_err(|err| format!("`{text}` is not a URL: {err}"))?;
        if url.host_str().is_none() {
            return Err(format!("`{text}` has no host"));
        }
        Ok(Self(url))
    }
}

impl fmt::Display for UrlPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::redact::redact_url(&self.0))
    }
}

/// Two index URLs name the same index when they differ only by a trailing slash.
pub fn same_index(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

/// Lexically normalize a path (`.` removed, `..` applied), without touching the file system:
/// judging stays pure, and `/proj/../etc` must not count as inside `/proj`.
pub fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A minimum release age: `"7 days"`, `"12h"`, `"0"` (off). Days count as 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Age(pub SignedDuration);

impl FromStr for Age {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim() == "0" {
            return Ok(Self(SignedDuration::ZERO));
        }
        let span: Span = text
            .parse()
            .map_err(|err| format!("`{text}` is not a duration like `7 days` or `12h`: {err}"))?;
        let duration = span
            .to_duration(SpanRelativeTo::days_are_24_hours())
            .map_err(|_| {
                format!("`{text}`: use days, hours or minutes, not weeks, months or years")
            })?;
        if duration.is_negative() {
            return Err(format!("`{text}` is negative"));
        }
        Ok(Self(duration))
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        if secs % 86_400 == 0 {
            write!(f, "{} days", secs / 86_400)
        } else if secs % 3_600 == 0 {
            write!(f, "{} hours", secs / 3_600)
        } else {
            write!(f, "{} minutes", secs / 60)
        }
    }
}

/// An SPDX license id as a policy names it, validated against the SPDX list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LicenseName(pub String);

impl FromStr for LicenseName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with("LicenseRef-") {
            return Ok(Self(text.to_string()));
        }
        spdx::license_id(text)
            .map(|id| Self(id.name.to_string()))
            .ok_or_else(|| format!("`{text}` is not an SPDX license id (ids are case-sensitive, e.g. `MIT`, `Apache-2.0`)"))
    }
}

/// Deserialize any `FromStr` value from a TOML string, reporting the parse error at its span.
macro_rules! deserialize_from_str {
    ($($ty:ty),*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::from_str(&text).map_err(D::Error::custom)
            }
        }
    )*};
}

deserialize_from_str!(PackageMatcher, UrlPrefix, Age, LicenseName);

impl<'de> Deserialize<'de> for PackagePattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "*" {
            return Ok(Self::Any);
        }
        PackageName::from_str(&text).map(Self::Name).map_err(|err| {
            D::Error::custom(format!("`{text}` is not a project name or `*`: {err}"))
        })
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() {
            return Err(D::Error::custom("the pattern is empty"));
        }
        Ok(Self(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let glob = Glob("__editable__.*.pth".to_string());
        assert!(glob.matches("__editable__.foo-1.0.pth"));
        assert!(!glob.matches("evil.pth"));
        assert!(!glob.matches("__editable__.pth.exe"));
        let exact = Glob("pip".to_string());
        assert!(exact.matches("pip"));
        assert!(!exact.matches("pip3"));
        let star = Glob("pip3.*".to_string());
        assert!(star.matches("pip3.12"));
        assert!(!star.matches("pip3"));
        assert!(Glob("a*b*c".to_string()).matches("aXbYc"));
        assert!(!Glob("a*b*c".to_string()).matches("aXcYb"));
        assert!(!Glob("ab*ba".to_string()).matches("aba"));
    }

    #[test]
    fn url_prefix_is_structural() {
        let prefix = UrlPrefix::from_str("https://git.example/org").unwrap();
        assert!(prefix.contains(&Url::parse("https://git.example/org/repo").unwrap()));
        assert!(prefix.contains(&Url::parse("git+https://git.example/org/repo").unwrap()));
        assert!(!prefix.contains(&Url::parse("https://git.example/org-evil/repo").unwrap()));
        assert!(
            !prefix.contains(&Url::parse("https://git.example.attacker.test/org/repo").unwrap())
        );
        assert!(!prefix.contains(&Url::parse("http://git.example/org/repo").unwrap()));
        assert!(!prefix.contains(&Url::parse("https://git.example:8443/org/repo").unwrap()));
    }

    #[test]
    fn matchers() {
        let m = PackageMatcher::from_str("Foo<2.1").unwrap();
        let foo = PackageName::from_str("foo").unwrap();
        assert!(m.matches(&foo, Some(&Version::from_str("2.0").unwrap()), false));
        assert!(!m.matches(&foo, Some(&Version::from_str("2.1").unwrap()), false));
        assert!(m.matches(&foo, None, true));
        assert!(!m.matches(&foo, None, false));
        assert!(PackageMatcher::from_str("foo<<2").is_err());
        assert!(PackageMatcher::from_str("").is_err());
    }

    #[test]
    fn ages() {
        assert_eq!(
            Age::from_str("7 days").unwrap().0,
            SignedDuration::from_hours(168)
        );
        assert_eq!(
            Age::from_str("12h").unwrap().0,
            SignedDuration::from_hours(12)
        );
        assert_eq!(Age::from_str("0").unwrap().0, SignedDuration::ZERO);
        assert!(Age::from_str("7 dayz").is_err());
        assert!(Age::from_str("1 month").is_err());
    }

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(
            normalize_path(Path::new("/proj/../etc")),
            PathBuf::from("/etc")
        );
        assert_eq!(
            normalize_path(Path::new("/proj/./lib")),
            PathBuf::from("/proj/lib")
        );
    }
}
