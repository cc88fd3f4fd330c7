//! The stable rule ids, and the text `safevenv policy explain RULE` prints.

use std::fmt;
use std::str::FromStr;

/// A rule of the policy. The ids are stable: reports, docs and scripts refer to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    /// `sources.index`
    SourcesIndex,
    /// `sources.artifact-url`
    SourcesArtifactUrl,
    /// `sources.direct-url`
    SourcesDirectUrl,
    /// `sources.vcs`
    SourcesVcs,
    /// `sources.vcs-unpinned`
    SourcesVcsUnpinned,
    /// `sources.path`
    SourcesPath,
    /// `artifacts.hashes`
    ArtifactsHashes,
    /// `artifacts.sdist`
    ArtifactsSdist,
    /// `releases.yanked`
    ReleasesYanked,
    /// `releases.min-age`
    ReleasesMinAge,
    /// `packages.deny`
    PackagesDeny,
    /// `packages.allow`
    PackagesAllow,
    /// `licenses`
    Licenses,
    /// `contents.pth-exec`
    ContentsPthExec,
    /// `contents.startup-hook`
    ContentsStartupHook,
    /// `contents.environment`
    ContentsEnvironment,
    /// `contents.overwrite`
    ContentsOverwrite,
    /// `contents.stdlib-shadow`
    ContentsStdlibShadow,
    /// `contents.script-clash`
    ContentsScriptClash,
    /// `contents.archive`
    ContentsArchive,
    /// `attestations`
    Attestations,
    /// `attestations.publisher-change`
    AttestationsPublisherChange,
    /// `vulnerabilities`
    Vulnerabilities,
}

impl RuleId {
    /// Every rule, in report order.
    pub const ALL: [Self; 23] = [
        Self::SourcesIndex,
        Self::SourcesArtifactUrl,
        Self::SourcesDirectUrl,
        Self::SourcesVcs,
        Self::SourcesVcsUnpinned,
        Self::SourcesPath,
        Self::ArtifactsHashes,
        Self::ArtifactsSdist,
        Self::ReleasesYanked,
        Self::ReleasesMinAge,
        Self::PackagesDeny,
        Self::PackagesAllow,
        Self::Licenses,
        Self::ContentsPthExec,
        Self::ContentsStartupHook,
        Self::ContentsEnvironment,
        Self::ContentsOverwrite,
        Self::ContentsStdlibShadow,
        Self::ContentsScriptClash,
        Self::ContentsArchive,
        Self::Attestations,
        Self::AttestationsPublisherChange,
        Self::Vulnerabilities,
    ];

    /// The stable id.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourcesIndex => "sources.index",
            Self::SourcesArtifactUrl => "sources.artifact-url",
            Self::SourcesDirectUrl => "sources.direct-url",
            Self::SourcesVcs => "sources.vcs",
            Self::SourcesVcsUnpinned => "sources.vcs-unpinned",
            Self::SourcesPath => "sources.path",
            Self::ArtifactsHashes => "artifacts.hashes",
            Self::ArtifactsSdist => "artifacts.sdist",
            Self::ReleasesYanked => "releases.yanked",
            Self::ReleasesMinAge => "releases.min-age",
            Self::PackagesDeny => "packages.deny",
            Self::PackagesAllow => "packages.allow",
            Self::Licenses => "licenses",
            Self::ContentsPthExec => "contents.pth-exec",
            Self::ContentsStartupHook => "contents.startup-hook",
            Self::ContentsEnvironment => "contents.environment",
            Self::ContentsOverwrite => "contents.overwrite",
            Self::ContentsStdlibShadow => "contents.stdlib-shadow",
            Self::ContentsScriptClash => "contents.script-clash",
            Self::ContentsArchive => "contents.archive",
            Self::Attestations => "attestations",
            Self::AttestationsPublisherChange => "attestations.publisher-change",
            Self::Vulnerabilities => "vulnerabilities",
        }
    }

    /// What the rule checks, why it exists, and the keys that configure it.
    pub fn explain(self) -> &'static str {
        match self {
            Self::SourcesIndex => {
                "sources.index: every distribution from an index must come from an allowed index, \
and from exactly one.\n\
Allowed: the run's default index (unless a requirements file set it), the URLs in \
[sources] indexes, and per package the URL pinned in [sources.packages].\n\
Why: with several indexes, an attacker who registers your private project's name on a public \
index wins any resolver that takes \"the highest version across indexes\" (dependency \
confusion). Every configured index is asked for every name; a name served by two indexes is \
refused unless [sources.packages] pins it to one (then only that index is asked) or PEP 708 \
declares them one project (`tracks`, or `alternate-locations` listed by both); an index that \
cannot answer fails the run. An index named inside a requirements file must be listed in \
[sources] indexes.\n\
Keys: [sources] indexes, [sources.packages]."
            }
            Self::SourcesArtifactUrl => {
                "sources.artifact-url: the artifact of a distribution from an index must be \
downloaded from a URL that index lists for it: the page entry with the same file name, at the \
same URL, with the same sha256. A URL the page does not list is accepted only when an entry of \
[sources] direct-url-allow names the package and a prefix of the URL. Plain `http` is accepted \
only for a loopback host, or from the host of a plain-`http` index.\n\
Why: a lockfile is input. In a pull request, whoever edits `pylock.toml` chooses each wheel's \
`url` and `sha256`; the hash check then only proves that the attacker's server sent the \
attacker's wheel. The index page is the authority on where its files are. `sync` and \
`policy check` judge this before anything is fetched, and ask only allowed indexes.\n\
Keys: [sources] direct-url-allow = [{ package = \"foo\", url = \"https://mirror.example/foo/\" }]."
            }
            Self::SourcesDirectUrl => {
                "sources.direct-url: a distribution from a direct URL (`foo @ https://...`) is \
refused unless an entry of [sources] direct-url-allow names the package and a URL prefix it \
falls under.\n\
Why: a direct URL bypasses the index, its yanking and its attestations; the policy decides \
which hosts may serve which projects.\n\
Keys: [sources] direct-url-allow = [{ package = \"foo\", url = \"https://files.example/foo/\" }]."
            }
            Self::SourcesVcs => {
                "sources.vcs: a distribution from a version control repository (`foo @ git+https://...`) \
is refused unless an entry of [sources] vcs-allow names the package and a repository URL \
prefix.\n\
Why: a repository is code nobody reviewed as a release, and building it runs that code.\n\
Keys: [sources] vcs-allow = [{ package = \"foo\", url = \"https://git.example/org/foo\" }]."
            }
            Self::SourcesVcsUnpinned => {
                "sources.vcs-unpinned: a repository requirement must name a full commit hash \
(40 hex digits, or 64 for SHA-256 repositories).\n\
Why: a branch or a tag can be moved to other code at any time; only a full commit names \
exactly what was reviewed and locked.\n\
Keys: none; write `foo @ git+https://...@<full commit>`."
            }
            Self::SourcesPath => {
                "sources.path: a distribution from a local path is refused unless an entry of \
[sources] path-allow names the package and a directory the path is inside.\n\
Why: a path can point anywhere on the machine (a download folder, another user's tree); the \
policy names the trees you build from.\n\
Keys: [sources] path-allow = [{ package = \"mylib\", path = \"../mylib\" }] (relative to the \
policy file)."
            }
            Self::ArtifactsHashes => {
                "artifacts.hashes: every artifact downloaded from an index or a URL must have a \
pinned sha256, from a source listed in [artifacts] hash-sources.\n\
Why: without a pin, whatever the server sends is installed; with one, a swapped file is \
detected before it is unpacked.\n\
Keys: [artifacts] hash-sources = [\"input\", \"lockfile\", \"index\"]."
            }
            Self::ArtifactsSdist => {
                "artifacts.sdist: source distributions, and repository checkouts, are refused \
unless the package is in [artifacts] sdist-allow (or [artifacts] sdist = \"allow\").\n\
Why: building an sdist runs the publisher's setup code on your machine before any check of \
what it installs; a wheel is only unpacked.\n\
Keys: [artifacts] sdist, sdist-allow."
            }
            Self::ReleasesYanked => {
                "releases.yanked: a release the index marked yanked (PEP 592) is refused, even \
when pinned, unless [releases] yanked-allow matches it.\n\
Why: publishers yank broken or compromised releases; pins in old lockfiles would otherwise \
keep installing them.\n\
Keys: [releases] yanked, yanked-allow = [\"foo==1.2.3\"]."
            }
            Self::ReleasesMinAge => {
                "releases.min-age: a release younger than [releases] min-release-age is refused; \
when the index gave no upload time, it is refused too (fail closed).\n\
Why: most malicious releases are found and removed within days; waiting keeps you out of \
that window.\n\
A release that fixes a known vulnerability may skip the wait when [releases] \
security-fix-bypass = true.\n\
Keys: [releases] min-release-age = \"7 days\", [releases.min-release-age-overrides], \
security-fix-bypass."
            }
            Self::PackagesDeny => {
                "packages.deny: a distribution matching an entry of [packages] deny (a name with \
optional version specifiers, `foo<2.1`) is refused.\n\
Why: keep known-bad projects and versions out, whoever depends on them.\n\
Keys: [packages] deny = [\"evilpkg\", \"foo<2.1\"]."
            }
            Self::PackagesAllow => {
                "packages.allow: a distribution named in [packages] allow must match one of its \
entries' version specifiers; with [packages] allow-only = true, a distribution not named \
there is refused.\n\
Why: an allow-only set is a reviewed list of what may ever be installed.\n\
Keys: [packages] allow = [\"requests>=2.31\"], allow-only."
            }
            Self::Licenses => {
                "licenses: a distribution's license, from its SPDX License-Expression (PEP 639), \
or else its Trove `License ::` classifiers, must not be in [licenses] deny and, when \
[licenses] allow is set, must be in it. `A OR B` passes if either passes; `A AND B` needs \
both. An unknown license with an allowlist is refused unless [licenses] unknown = \"allow\".\n\
Why: a license your organisation cannot accept is a legal risk you should learn about before \
the code is in use.\n\
Keys: [licenses] allow, deny, unknown, exceptions."
            }
            Self::ContentsPthExec => {
                "contents.pth-exec: a `.pth` file with executable lines (lines starting with \
`import ` or `import\\t` as any CPython 3.8+ reads the file: each of its line ends, a leading \
BOM stripped; a file that is not UTF-8 counts as code) is refused unless [contents] pth-exec-allow names the package and \
file.\n\
Why: Python runs those lines at every interpreter start, in every program of the environment: \
the classic place for malware to persist.\n\
Keys: [contents] pth-exec, pth-exec-allow = [{ package = \"setuptools\", file = \
\"distutils-precedence.pth\" }]."
            }
            Self::ContentsStartupHook => {
                "contents.startup-hook: a module that Python imports by itself at every start \
(`sitecustomize`, `usercustomize`) landing where the interpreter finds it (the top of \
site-packages, or a directory a `.pth` file adds to the path) is refused unless [contents] \
pth-exec-allow names the package and the file (`sitecustomize.py`), or pth-exec = \"allow\".\n\
Why: like an executable `.pth` line, such a module runs in every program of the environment.\n\
Keys: [contents] pth-exec, pth-exec-allow = [{ package = \"foo\", file = \"sitecustomize.py\" }]."
            }
            Self::ContentsEnvironment => {
                "contents.environment: a file that would land on one the environment itself \
owns is always refused: `pyvenv.cfg`, the interpreter and the activation scripts in the \
scripts directory, the interpreter's `lib/pythonX.Y/` outside site-packages, and safevenv's \
state directory `.safevenv/` (compared without case and Unicode normalisation, as \
case-insensitive file systems would), wherever in the wheel the file comes from \
(`.data/data/` maps to the environment's root).\n\
Why: a wheel that rewrites the environment's interpreter, configuration or safevenv's \
journal takes over every later run, outside any rule.\n\
Keys: none; this rule cannot be allowed."
            }
            Self::ContentsOverwrite => {
                "contents.overwrite: a file that another distribution of the set, or one already \
installed, also installs is refused unless [contents] overwrite-allow names the package and \
file.\n\
Why: one distribution replacing another's module silently changes code you did not choose. \
A distribution being upgraded does not clash with its own old files.\n\
Keys: [contents] overwrite, overwrite-allow."
            }
            Self::ContentsStdlibShadow => {
                "contents.stdlib-shadow: a top-level module named like a standard library module \
of the target Python is refused unless [contents] stdlib-shadow-allow names the package and \
module.\n\
Why: whenever site-packages comes first on the path (PYTHONPATH, zipapps, embedded setups), \
such a module replaces the standard one; it is a common disguise and a sign of an obsolete \
backport.\n\
Keys: [contents] stdlib-shadow, stdlib-shadow-allow."
            }
            Self::ContentsScriptClash => {
                "contents.script-clash: a console script named `python`, `python3`, `python3.X`, \
`pip`, `pip3`, `pip3.X`, `activate`, or like another distribution's script, is refused unless \
[contents] script-clash-allow names the package and script.\n\
Why: such a script silently replaces the interpreter, the installer or another tool in the \
environment's bin directory.\n\
Keys: [contents] script-clash, script-clash-allow."
            }
            Self::ContentsArchive => {
                "contents.archive: structural problems the archive reader found (path traversal, \
links, device files, a RECORD that disagrees with the archive, decompression bombs) are \
always refused.\n\
Why: these are attacks on the installer, or corruption; no legitimate wheel needs them.\n\
Keys: none; this rule cannot be allowed."
            }
            Self::Attestations => {
                "attestations: with mode \"require\" every artifact must carry a verified PEP 740 \
attestation; with \"if-present\" an offered attestation must verify; with \"off\" none is \
checked. A publisher pinned in [attestations.packages] must match the verified one.\n\
Why: an attestation ties the artifact to the workflow that built it, so a stolen upload \
token alone cannot publish.\n\
Keys: [attestations] mode, [attestations.packages] foo = { mode, repository, workflow, \
environment }."
            }
            Self::AttestationsPublisherChange => {
                "attestations.publisher-change: a verified publisher that differs from the one \
recorded in the lockfile is refused unless the user accepted the change for this run.\n\
Why: a project that suddenly publishes from another repository or workflow may have been \
taken over.\n\
Keys: none; review the change, then accept it explicitly for one run."
            }
            Self::Vulnerabilities => {
                "vulnerabilities: a distribution with a known vulnerability at or above [vulnerabilities] \
severity is refused while [vulnerabilities] deny = true; an advisory without a severity \
counts as meeting any threshold (fail closed). Ids in [vulnerabilities] ignore are skipped.\n\
Why: installing a version with a published exploit is rarely what anyone wants.\n\
Keys: [vulnerabilities] deny, severity, ignore."
            }
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule id that is not one of [`RuleId::ALL`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown policy rule `{0}`")]
pub struct UnknownRule(pub String);

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|rule| rule.as_str() == s)
            .ok_or_else(|| UnknownRule(s.to_string()))
    }
}

impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The text of `safevenv policy explain RULE`.
pub fn explain(rule: RuleId) -> &'static str {
    rule.explain()
}
