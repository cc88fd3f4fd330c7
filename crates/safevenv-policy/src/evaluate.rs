//! Judging a [`ResolvedSet`] against one layer of rules. Pure: no I/O, no clock, no environment.
//!
//! Steps for each distribution, in report order:
//! (1) sources, (2) artifacts, (3) releases, (4) packages, (5) licenses, (6) contents,
//! (7) attestations, (8) vulnerabilities. Every step runs, so one run reports every refusal.

use std::collections::{BTreeMap, BTreeSet};

use icu_normalizer::ComposingNormalizerBorrowed;
use jiff::SignedDuration;
use uv_normalize::PackageName;

use crate::config::{AllowDeny, AttestationMode, Rules};
use crate::facts::{
    ArchiveProblemKind, ArtifactKind, AttestationStatus, Listing, Origin, PackageFacts,
    PthCodeLine, ResolvedSet, Source,
};
use crate::license::{self, Declared, Verdict};
use crate::matcher::{Age, normalize_path, same_index};
use crate::redact::redact_url;
use crate::report::Refusal;
use crate::rules::RuleId;
use crate::stdlib::is_stdlib_module;
use crate::{Layer, PolicyOrigin};

/// How much of the policy a judgement covers: the rules that can be decided at that point of the
/// pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steps {
    /// Step (1), the sources: what can be decided before anything is fetched.
    Sources,
    /// Steps (1) and (2), sources and artifacts: what must be decided before an sdist or a
    /// source tree is built (building runs the publisher's code, so `artifacts.sdist` must have
    /// allowed it first).
    BeforeBuild,
    /// Every rule.
    All,
}

/// Judge every distribution of `set` against `layer` for `steps`, appending refusals.
pub(crate) fn evaluate_layer(
    layer: &Layer,
    set: &ResolvedSet,
    steps: Steps,
    out: &mut Vec<Refusal>,
) {
    let owners = (steps == Steps::All).then(|| Owners::new(set));
    for package in &set.packages {
        let mut judge = Judge {
            rules: &layer.rules,
            origin: &layer.origin,
            set,
            package,
            out,
        };
        judge.sources();
        if steps == Steps::Sources {
            continue;
        }
        judge.artifacts();
        let Some(owners) = &owners else {
            continue;
        };
        judge.releases();
        judge.packages();
        judge.licenses();
        judge.contents(owners);
        judge.attestations();
        judge.vulnerabilities();
    }
}

/// What one layer says of taking `name` from the index `url`.
pub(crate) enum IndexVerdict<'a> {
    /// The index is allowed for the name (pinned to it, listed, or the run's default).
    Allowed,
    /// `[sources.packages]` pins the name to another index.
    PinnedElsewhere(&'a crate::matcher::UrlPrefix),
    /// Neither the run's default index nor listed; `configured` is how the run knows it, if it
    /// does.
    NotAllowed {
        configured: Option<&'a crate::facts::ConfiguredIndex>,
    },
}

/// Dependency confusion: a name is taken from exactly one allowed index, never "whichever index
/// has the highest version". Pure, so the pipeline asks it before it contacts an index a
/// lockfile names (a tampered lockfile must not make safevenv send names elsewhere).
pub(crate) fn index_verdict<'a>(
    rules: &'a Rules,
    indexes: &'a [crate::facts::ConfiguredIndex],
    name: &PackageName,
    url: &url::Url,
) -> IndexVerdict<'a> {
    if let Some(pin) = rules.index_pins.get(name) {
        return if same_index(pin.url(), url) {
            IndexVerdict::Allowed
        } else {
            IndexVerdict::PinnedElsewhere(pin)
        };
    }
    let configured = indexes.iter().find(|index| same_index(&index.url, url));
    // The run's default index is allowed unless a requirements file set it: a third party's
    // requirements file must not be able to choose where every package comes from.
    let default_allowed = configured.is_some_and(|index| {
        index.default && !matches!(index.origin, Origin::RequirementsFile { .. })
    });
    let listed = rules
        .indexes
        .iter()
        .any(|index| same_index(index.url(), url));
    if default_allowed || listed {
        IndexVerdict::Allowed
    } else {
        IndexVerdict::NotAllowed { configured }
    }
}

/// Whether `host` is the machine itself: plain `http` there crosses no network.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Who installs each file and each script: the set's distributions, and the installed ones that
/// the set does not replace (an upgrade does not clash with its own old files).
struct Owners<'a> {
    /// By [`file_key`]: each owner, and the file's name as that owner spells it.
    files: BTreeMap<String, BTreeMap<&'a PackageName, &'a str>>,
    scripts: BTreeMap<String, BTreeSet<&'a PackageName>>,
}

/// The one file that `path` is on some file system: Unicode NFC, then case folded.
///
/// Security: macOS's file systems store names normalised and ignore case, Windows' ignore case;
/// compared as exact strings, `Foo/x.py` and `foo/x.py`, or `é` precomposed (U+00E9) and
/// decomposed (`e` U+0301), would pass as two files and the second wheel would silently replace
/// the first one's file (`contents.overwrite`). The within-wheel check is the wheel crate's.
fn file_key(path: &str) -> String {
    // ASCII is its own NFC, and its lower case is ASCII's: no normaliser for the common case.
    if path.is_ascii() {
        return path.to_ascii_lowercase();
    }
    let nfc = ComposingNormalizerBorrowed::new_nfc();
    // Lowercasing can undo NFC (`İ` becomes `i` + U+0307): normalise again.
    nfc.normalize(&nfc.normalize(path).to_lowercase())
        .into_owned()
}

/// The module a file provides, if it is one Python imports: `dir/name` for `dir/name.py`,
/// `dir/name.cpython-312-x86_64-linux-gnu.so`, `dir/name.pyc`, and the bytecode
/// `dir/__pycache__/name.cpython-312.pyc`, keyed as [`file_key`] keys files.
///
/// Security: Python imports one module per name and directory, preferring an extension module,
/// then source, then sourceless bytecode, and it runs `__pycache__` bytecode compiled with
/// "unchecked hash" without looking at the source. So a wheel that ships
/// `victim/__pycache__/__init__.cpython-312.pyc`, or `victim/mod.abi3.so` beside another
/// distribution's `victim/mod.py`, replaces that distribution's code without sharing a single
/// path with it: the overlap is the module, not the file.
fn module_key(path: &str) -> Option<String> {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let lower = file.to_ascii_lowercase();
    let is_module = [".py", ".pyc", ".so", ".pyd"]
        .iter()
        .any(|suffix| lower.ends_with(suffix));
    if !is_module {
        return None;
    }
    let stem = file.split('.').next().filter(|stem| !stem.is_empty())?;
    let dir = match dir.rsplit_once('/') {
        Some((parent, "__pycache__")) if lower.ends_with(".pyc") => parent,
        None if dir == "__pycache__" && lower.ends_with(".pyc") => "",
        _ => dir,
    };
    Some(format!("\0module\0{}", file_key(&format!("{dir}/{stem}"))))
}

impl<'a> Owners<'a> {
    fn new(set: &'a ResolvedSet) -> Self {
        let mut files: BTreeMap<String, BTreeMap<&PackageName, &str>> = BTreeMap::new();
        let mut scripts: BTreeMap<String, BTreeSet<&PackageName>> = BTreeMap::new();
        let replaced: BTreeSet<&PackageName> =
            set.packages.iter().map(|package| &package.name).collect();
        for package in &set.packages {
            if let Some(contents) = &package.contents {
                for file in &contents.files {
                    for key in std::iter::once(file_key(file)).chain(module_key(file)) {
                        files
                            .entry(key)
                            .or_default()
                            .insert(&package.name, file.as_str());
                    }
                }
                for script in &contents.scripts {
                    scripts
                        .entry(script_key(script))
                        .or_default()
                        .insert(&package.name);
                }
            }
        }
        for installed in set
            .installed
            .iter()
            .filter(|installed| !replaced.contains(&installed.name))
        {
            for file in &installed.files {
                for key in std::iter::once(file_key(file)).chain(module_key(file)) {
                    files
                        .entry(key)
                        .or_default()
                        .insert(&installed.name, file.as_str());
                }
            }
            for script in &installed.scripts {
                scripts
                    .entry(script_key(script))
                    .or_default()
                    .insert(&installed.name);
            }
        }
        Self { files, scripts }
    }
}

/// Scripts compare without case or `.exe`: on Windows `Pip.exe` and `pip` are one file.
fn script_key(script: &str) -> String {
    let lower = script.to_ascii_lowercase();
    lower
        .strip_suffix(".exe")
        .map(str::to_string)
        .unwrap_or(lower)
}

/// Script names that would replace the interpreter, the installer or the environment's own
/// activation scripts.
fn is_reserved_script(key: &str) -> bool {
    let versioned = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
    };
    matches!(
        key,
        "python" | "python3" | "pythonw" | "pip" | "pip3" | "deactivate"
    ) || versioned("python3.")
        || versioned("pip3.")
        || key == "activate"
        || key.starts_with("activate.")
        || key.starts_with("activate_this")
}

/// Whether a `.pth` line judged as code only adds a directory of the local project safevenv
/// built this wheel from, editable (PEP 660: an editable wheel puts the project on the path).
///
/// Invariant: exempt is exactly a path line naming the project's directory or one below it,
/// absolute and lexically clean (no `.` or `..`, so `<project>/../elsewhere` does not count).
/// Threat: a backend (the artifact's code, or a build dependency's) that uses the editable
/// wheel to put some other directory, an archive elsewhere or an `import` line on every
/// interpreter start; those stay refused. Only the build stage sets `editable_project`, for
/// the tree the user named with `-e` and `sources.path` allowed.
fn adds_editable_project(line: &PthCodeLine, editable_project: &[std::path::PathBuf]) -> bool {
    let Some(added) = &line.adds_path else {
        return false;
    };
    let clean = added.is_absolute()
        && added.components().all(|component| {
            matches!(
                component,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        });
    clean
        && editable_project
            .iter()
            .any(|project| project.is_absolute() && added.starts_with(project))
}

/// Whether a hex string is a full git commit (SHA-1, or SHA-256 repositories).
fn is_full_commit(revision: &str) -> bool {
    matches!(revision.len(), 40 | 64) && revision.chars().all(|c| c.is_ascii_hexdigit())
}

fn show_origin(origin: &Origin) -> String {
    match origin {
        Origin::CommandLine => "on the command line".to_string(),
        Origin::Environment => "in an environment variable".to_string(),
        Origin::Configuration => "in safevenv's configuration".to_string(),
        Origin::RequirementsFile { path, line } => format!("in `{}` line {line}", path.display()),
        Origin::Lockfile => "in the lockfile".to_string(),
        Origin::Dependency => "as a dependency".to_string(),
    }
}

fn show_duration(duration: SignedDuration) -> String {
    Age(duration.round(jiff::Unit::Minute).unwrap_or(duration)).to_string()
}

struct Judge<'a> {
    rules: &'a Rules,
    origin: &'a PolicyOrigin,
    set: &'a ResolvedSet,
    package: &'a PackageFacts,
    out: &'a mut Vec<Refusal>,
}

impl Judge<'_> {
    /// Where the fix is made: the file of this layer.
    fn place(&self) -> String {
        match self.origin {
            PolicyOrigin::Preset(_) => {
                "`safevenv.toml` (create it with `safevenv policy init`)".to_string()
            }
            PolicyOrigin::Project(path) => format!("`{}`", path.display()),
            PolicyOrigin::Organisation(path) => format!(
                "the organisation policy `{}` (ask its owner: a project policy cannot loosen it)",
                path.display()
            ),
        }
    }

    fn refuse(&mut self, rule: RuleId, subject: Option<String>, message: String, fix: String) {
        self.out.push(Refusal {
            rule,
            package: self.package.name.clone(),
            version: self.package.version.clone(),
            subject,
            message,
            fix,
            policy: self.origin.to_string(),
        });
    }

    fn name(&self) -> &PackageName {
        &self.package.name
    }

    // (1) Sources.
    fn sources(&mut self) {
        let name = self.name().clone();
        match &self.package.source {
            Source::Index { url } => {
                self.index(url);
                self.artifact_url(url);
            }
            Source::DirectUrl { url, origin } => {
                // A direct URL skips the index (and its yanking and attestations): only
                // URLs the policy names for this very package are accepted.
                if !self
                    .rules
                    .direct_url_allow
                    .iter()
                    .any(|entry| entry.package == name && entry.url.contains(url))
                {
                    let shown = redact_url(url);
                    let fix = format!(
                        "add `{{ package = \"{name}\", url = \"<URL prefix>\" }}` to `[sources] direct-url-allow` in {}",
                        self.place()
                    );
                    self.refuse(
                        RuleId::SourcesDirectUrl,
                        Some(shown.clone()),
                        format!("`{name}` comes from the direct URL `{shown}` (named {}), which the policy does not allow", show_origin(origin)),
                        fix,
                    );
                }
            }
            Source::Vcs {
                url,
                requested_revision,
                origin,
            } => {
                let shown = redact_url(url);
                if !self
                    .rules
                    .vcs_allow
                    .iter()
                    .any(|entry| entry.package == name && entry.url.contains(url))
                {
                    let fix = format!(
                        "add `{{ package = \"{name}\", url = \"<repository URL>\" }}` to `[sources] vcs-allow` in {}",
                        self.place()
                    );
                    self.refuse(
                        RuleId::SourcesVcs,
                        Some(shown.clone()),
                        format!("`{name}` comes from the repository `{shown}` (named {}), which the policy does not allow", show_origin(origin)),
                        fix,
                    );
                }
                // A branch or tag can be moved to other code; only a full commit is a pin.
                if !requested_revision.as_deref().is_some_and(is_full_commit) {
                    let revision = requested_revision.as_deref().unwrap_or("(none)");
                    self.refuse(
                        RuleId::SourcesVcsUnpinned,
                        Some(shown),
                        format!("`{name}` names the revision `{revision}`, not a full commit hash"),
                        format!("write the requirement as `{name} @ <repository URL>@<full 40-hex commit>`"),
                    );
                }
            }
            Source::Path { path, origin, .. } => {
                // Compared lexically after normalizing `..`, so `/proj/../etc` is not inside `/proj`.
                let path = normalize_path(path);
                if !self
                    .rules
                    .path_allow
                    .iter()
                    .any(|entry| entry.package == name && path.starts_with(&entry.path))
                {
                    let fix = format!(
                        "add `{{ package = \"{name}\", path = \"{}\" }}` to `[sources] path-allow` in {}",
                        path.display(),
                        self.place()
                    );
                    self.refuse(
                        RuleId::SourcesPath,
                        Some(path.display().to_string()),
                        format!("`{name}` comes from the local path `{}` (named {}), which the policy does not allow", path.display(), show_origin(origin)),
                        fix,
                    );
                }
            }
        }
    }

    /// Dependency confusion: a name is taken from exactly one allowed index (see
    /// [`index_verdict`]).
    fn index(&mut self, url: &url::Url) {
        let name = self.name().clone();
        let shown = redact_url(url);
        match index_verdict(self.rules, &self.set.indexes, &name, url) {
            IndexVerdict::Allowed => {}
            IndexVerdict::PinnedElsewhere(pin) => {
                let fix = format!(
                    "resolve `{name}` from `{pin}`, or change `[sources.packages] {name}` in {}",
                    self.place()
                );
                self.refuse(
                    RuleId::SourcesIndex,
                    Some(shown.clone()),
                    format!(
                        "`{name}` comes from the index `{shown}`, but the policy pins it to `{pin}`"
                    ),
                    fix,
                );
                return;
            }
            IndexVerdict::NotAllowed { configured } => {
                let whence = configured.map_or_else(
                    || "an index the run was not configured with".to_string(),
                    |index| format!("configured {}", show_origin(&index.origin)),
                );
                let fix = format!(
                    "add `\"{shown}\"` to `[sources] indexes`, or pin `{name} = \"{shown}\"` in `[sources.packages]`, in {}",
                    self.place()
                );
                self.refuse(
                    RuleId::SourcesIndex,
                    Some(shown.clone()),
                    format!("`{name}` comes from the index `{shown}` ({whence}), which the policy does not allow"),
                    fix,
                );
                return;
            }
        }
        if self.rules.index_pins.contains_key(&name) {
            return;
        }
        // Security (dependency confusion): the facts list the other configured indexes whose
        // page of this name lists files and which PEP 708 (`tracks`, `alternate-locations`
        // agreed by both pages) does not declare the same project. Which of them holds the
        // real project is not for index order to decide: only a pin says.
        if !self.package.also_on_indexes.is_empty() {
            let others: Vec<String> = self
                .package
                .also_on_indexes
                .iter()
                .map(redact_url)
                .collect();
            let choices: Vec<String> = std::iter::once(shown.clone())
                .chain(others.iter().cloned())
                .map(|index| format!("`{name} = \"{index}\"`"))
                .collect();
            let fix = format!(
                "pin it to the index it must come from, {}, in `[sources.packages]` in {}",
                choices.join(" or "),
                self.place()
            );
            self.refuse(
                RuleId::SourcesIndex,
                Some(shown.clone()),
                format!(
                    "`{name}` is served by `{shown}` and by `{}`, and neither declares the other the same project (PEP 708): a name on two indexes is how dependency confusion works",
                    others.join("`, `")
                ),
                fix,
            );
        }
    }

    /// A lockfile is input: the URL of an index artifact must be one its index lists for that
    /// file, or one `[sources] direct-url-allow` names for the package.
    ///
    /// Threat: a pull request edits `pylock.toml`, pointing a wheel's `url` at the attacker's
    /// server and its `sha256`/`size` at the attacker's wheel of the same name and version. The
    /// hash check then proves only that the attacker's server sent the attacker's wheel, and the
    /// package still says `index = <the default index>`. The index page is the authority on
    /// where its files live (uv#21484 is the same hole).
    fn artifact_url(&mut self, index: &url::Url) {
        let name = self.name().clone();
        let filename = self.package.artifact.filename.clone();
        let Some(artifact) = &self.package.artifact.url else {
            // Fail closed: nobody compared the URL with the index page.
            self.refuse(
                RuleId::SourcesArtifactUrl,
                Some(filename),
                "the artifact's URL was not checked against its index page".to_string(),
                "none in the policy: this is a safevenv bug, please report it".to_string(),
            );
            return;
        };
        let url = artifact.url.clone();
        let shown = redact_url(&url);
        // Plain `http` can be read and rewritten by anyone on the path; it is accepted only
        // where it crosses no network, or from the host of a plain-`http` index the user chose.
        let same_plain_host = index.scheme() == "http"
            && index.host_str().map(str::to_ascii_lowercase)
                == url.host_str().map(str::to_ascii_lowercase);
        if url.scheme() == "http" && !is_loopback(&url) && !same_plain_host {
            self.refuse(
                RuleId::SourcesArtifactUrl,
                Some(shown.clone()),
                format!("`{filename}` is to be downloaded over plain `http` from `{shown}`, which is not this machine"),
                "use the `https` URL the index lists; if the lockfile was edited, restore it (`safevenv lock`)".to_string(),
            );
            return;
        }
        let problem = match &artifact.listing {
            Listing::FromIndexPage | Listing::Listed => return,
            Listing::NotListed => format!(
                "the index `{}` does not list `{filename}`",
                redact_url(index)
            ),
            Listing::ListedElsewhere { url: listed } => format!(
                "the index `{}` lists `{filename}` at `{}`",
                redact_url(index),
                redact_url(listed)
            ),
            Listing::OtherHash { sha256 } => format!(
                "the index `{}` lists `{filename}` there with the sha256 `{sha256}`, not the lockfile's",
                redact_url(index)
            ),
            Listing::IndexNotAllowed => {
                "its index is not allowed, so it was not asked where the file lives".to_string()
            }
            Listing::Unavailable { reason } => {
                format!("its index page could not be read ({reason})")
            }
        };
        let allowed = self
            .rules
            .direct_url_allow
            .iter()
            .any(|entry| entry.package == name && entry.url.contains(&url));
        if allowed && artifact.listing != Listing::IndexNotAllowed {
            return;
        }
        let fix = format!(
            "restore the lockfile's URL (`safevenv lock` writes the one the index lists); to use another host, add `{{ package = \"{name}\", url = \"<URL prefix>\" }}` to `[sources] direct-url-allow` in {}",
            self.place()
        );
        self.refuse(
            RuleId::SourcesArtifactUrl,
            Some(shown.clone()),
            format!("`{filename}` is to be downloaded from `{shown}`, but {problem}"),
            fix,
        );
    }

    // (2) Artifacts.
    fn artifacts(&mut self) {
        let name = self.name().clone();
        let artifact = &self.package.artifact;
        let downloaded = matches!(
            self.package.source,
            Source::Index { .. } | Source::DirectUrl { .. }
        );
        // A download without a pinned digest installs whatever the server sends.
        if downloaded {
            let pinned = artifact.sha256.as_ref().is_some_and(|pin| {
                pin.hex.len() == 64
                    && pin.hex.chars().all(|c| c.is_ascii_hexdigit())
                    && self.rules.hash_sources.contains(&pin.origin)
            });
            if !pinned {
                let sources: Vec<String> = self
                    .rules
                    .hash_sources
                    .iter()
                    .map(|origin| format!("{origin:?}").to_lowercase())
                    .collect();
                let message = match &artifact.sha256 {
                    None => format!("`{}` has no pinned sha256", artifact.filename),
                    Some(pin) => format!(
                        "the sha256 of `{}` comes from the {} (or is malformed), and the policy accepts pins only from: {}",
                        artifact.filename,
                        format!("{:?}", pin.origin).to_lowercase(),
                        sources.join(", ")
                    ),
                };
                self.refuse(
                    RuleId::ArtifactsHashes,
                    Some(artifact.filename.clone()),
                    message,
                    format!(
                        "lock the environment (`pylock.toml` records hashes) or add `--hash=sha256:...`; the accepted origins are `[artifacts] hash-sources` in {}",
                        self.place()
                    ),
                );
            }
        }
        // Building runs the publisher's code before anything is checked. Local paths are the
        // user's own trees, allowed by `sources.path`.
        let built = matches!(
            artifact.kind,
            ArtifactKind::Sdist | ArtifactKind::SourceTree
        );
        if built
            && !matches!(self.package.source, Source::Path { .. })
            && self.rules.sdist == AllowDeny::Deny
            && !self.rules.sdist_allow.contains(&name)
        {
            let fix = format!(
                "add `\"{name}\"` to `[artifacts] sdist-allow` in {}",
                self.place()
            );
            self.refuse(
                RuleId::ArtifactsSdist,
                Some(artifact.filename.clone()),
                format!(
                    "`{}` must be built from source, which runs the publisher's code",
                    artifact.filename
                ),
                fix,
            );
        }
    }

    // (3) Releases.
    fn releases(&mut self) {
        let name = self.name().clone();
        let version = self.package.version.as_ref();
        if self.package.yanked
            && self.rules.yanked == AllowDeny::Deny
            && !self
                .rules
                .yanked_allow
                .iter()
                .any(|entry| entry.matches(&name, version, false))
        {
            let pin =
                version.map_or_else(|| name.to_string(), |version| format!("{name}=={version}"));
            let fix = format!(
                "choose another version, or add `\"{pin}\"` to `[releases] yanked-allow` in {}",
                self.place()
            );
            self.refuse(
                RuleId::ReleasesYanked,
                Some(self.package.artifact.filename.clone()),
                "the index marked this release yanked".to_string(),
                fix,
            );
        }
        // The waiting period applies to index releases; other sources are allowlisted by hand.
        if !matches!(self.package.source, Source::Index { .. }) {
            return;
        }
        let min_age = self.rules.min_age_for(&name);
        if min_age.0.is_zero()
            || (self.rules.security_fix_bypass && self.package.fixes_known_vulnerability)
        {
            return;
        }
        let fix_override = format!(
            "`[releases.min-release-age-overrides] {name} = \"0\"` in {}",
            self.place()
        );
        match self.package.upload_time {
            None => {
                // Fail closed: without an upload time the age is unknown.
                self.refuse(
                    RuleId::ReleasesMinAge,
                    Some(self.package.artifact.filename.clone()),
                    format!("the index gave no upload time, so the release cannot be shown to be older than {min_age}"),
                    format!("use an index that reports upload times (PEP 700), or set {fix_override}"),
                );
            }
            Some(uploaded) => {
                let age = self.set.now.duration_since(uploaded);
                if age < min_age.0 {
                    let ready = uploaded.checked_add(min_age.0).map_or_else(
                        |_| "later".to_string(),
                        |ready| {
                            format!("after {}", ready.round(jiff::Unit::Minute).unwrap_or(ready))
                        },
                    );
                    self.refuse(
                        RuleId::ReleasesMinAge,
                        Some(self.package.artifact.filename.clone()),
                        format!(
                            "uploaded {} ago, younger than the minimum release age of {min_age}",
                            show_duration(age.max(SignedDuration::ZERO))
                        ),
                        format!("install it {ready}, pick an older version, or set {fix_override}"),
                    );
                }
            }
        }
    }

    // (4) Packages.
    fn packages(&mut self) {
        let name = self.name().clone();
        let version = self.package.version.as_ref();
        let denied: Vec<String> = self
            .rules
            .deny
            .iter()
            // An unknown version matches a deny entry: fail closed.
            .filter(|entry| entry.matches(&name, version, true))
            .map(ToString::to_string)
            .collect();
        if !denied.is_empty() {
            let fix = format!(
                "remove what depends on it, or change `[packages] deny` in {}",
                self.place()
            );
            self.refuse(
                RuleId::PackagesDeny,
                None,
                format!("matches `[packages] deny` entry `{}`", denied.join("`, `")),
                fix,
            );
        }
        let entries: Vec<_> = self
            .rules
            .allow
            .iter()
            .filter(|entry| entry.name == name)
            .collect();
        if entries.is_empty() {
            if self.rules.allow_only {
                let fix = format!("add `\"{name}\"` to `[packages] allow` in {}", self.place());
                self.refuse(
                    RuleId::PackagesAllow,
                    None,
                    "is not in `[packages] allow`, and `allow-only` is set".to_string(),
                    fix,
                );
            }
        } else if !entries
            .iter()
            .any(|entry| entry.matches(&name, version, false))
        {
            let shown: Vec<String> = entries.iter().map(|entry| entry.to_string()).collect();
            let fix = format!(
                "choose a version matching `{}`, or change `[packages] allow` in {}",
                shown.join("`, `"),
                self.place()
            );
            self.refuse(
                RuleId::PackagesAllow,
                None,
                format!(
                    "this version does not match `[packages] allow` entry `{}`",
                    shown.join("`, `")
                ),
                fix,
            );
        }
    }

    // (5) Licenses.
    fn licenses(&mut self) {
        let name = self.name().clone();
        if self.rules.license_exceptions.contains(&name) {
            return;
        }
        let allow = self.rules.license_allow.as_ref();
        let exception_fix = format!(
            "add `\"{name}\"` to `[licenses] exceptions` in {}",
            self.place()
        );
        let unknown = |reason: String| {
            (
                reason,
                allow.is_some() && self.rules.license_unknown == AllowDeny::Deny,
            )
        };
        let (reason, refuse_unknown) = match license::declared(&self.package.license) {
            Declared::Expression(expression) => {
                match license::judge(&expression, allow, &self.rules.license_deny) {
                    Verdict::Pass => return,
                    Verdict::Refused(failed) => {
                        self.refuse(
                            RuleId::Licenses,
                            Some(expression.clone()),
                            format!(
                                "the license `{expression}` is not acceptable: `{}` is denied or not in `[licenses] allow`",
                                failed.join("`, `")
                            ),
                            format!("change `[licenses] allow`/`deny`, or {exception_fix}"),
                        );
                        return;
                    }
                    Verdict::Unparsable(err) => unknown(format!(
                        "the license `{expression}` is not an SPDX expression ({err})"
                    )),
                }
            }
            Declared::Unknown => {
                unknown("the distribution declares no license the policy can read".to_string())
            }
        };
        // Fail closed: with an allowlist, a license nobody can read is not on it.
        if refuse_unknown {
            self.refuse(
                RuleId::Licenses,
                None,
                reason,
                format!("review its license, then {exception_fix} (or set `[licenses] unknown = \"allow\"`)"),
            );
        }
    }

    // (6) Contents.
    fn contents(&mut self, owners: &Owners<'_>) {
        let name = self.name().clone();
        let Some(contents) = &self.package.contents else {
            // Fail closed: a wheel is judged on what it contains, and nobody looked.
            if self.package.artifact.kind == ArtifactKind::Wheel {
                self.refuse(
                    RuleId::ContentsArchive,
                    Some(self.package.artifact.filename.clone()),
                    "the wheel's contents were not inspected".to_string(),
                    "none in the policy: this is a safevenv bug, please report it".to_string(),
                );
            }
            return;
        };
        let source_kind = self.package.source.kind();
        // Archive problems are attacks on the installer or corruption: never allowed.
        for problem in &contents.archive_problems {
            let what = match problem.kind {
                ArchiveProblemKind::PathTraversal => "a path that escapes the environment",
                ArchiveProblemKind::Symlink => "a link",
                ArchiveProblemKind::Device => "a device or special file",
                ArchiveProblemKind::RecordMismatch => "a RECORD that disagrees with the archive",
                ArchiveProblemKind::Bomb => "a decompression bomb",
                ArchiveProblemKind::Malformed => "a malformed archive",
            };
            self.refuse(
                RuleId::ContentsArchive,
                Some(
                    problem
                        .member
                        .clone()
                        .unwrap_or_else(|| self.package.artifact.filename.clone()),
                ),
                format!(
                    "`{}` contains {what}: {}",
                    self.package.artifact.filename, problem.detail
                ),
                "none: this cannot be allowed; report the artifact to its publisher".to_string(),
            );
        }
        // site.py executes `.pth` lines that start with `import ` or `import\t`, at every
        // interpreter start: the classic persistence spot. Security: which lines those are is
        // the wheel reader's one classification (every line end and encoding any supported
        // CPython reads), never re-derived here from raw text a Python may split differently.
        if self.rules.pth_exec == AllowDeny::Deny {
            for pth in &contents.pth_files {
                let editable_project = &self.package.editable_project;
                let Some(line) = pth
                    .code_lines
                    .iter()
                    .find(|line| !adds_editable_project(line, editable_project))
                else {
                    continue;
                };
                let exempt = self.rules.pth_exec_allow.iter().any(|entry| {
                    entry.package.matches(&name)
                        && entry.file.matches(&pth.name)
                        && entry.source.is_none_or(|kind| kind == source_kind)
                });
                if !exempt {
                    // Control characters are shown escaped: a terminal escape sequence in
                    // the line must not rewrite the report that names it.
                    let shown: String = line
                        .text
                        .chars()
                        .take(80)
                        .map(|c| {
                            if c.is_control() {
                                c.escape_default().to_string()
                            } else {
                                c.to_string()
                            }
                        })
                        .collect();
                    let fix = format!(
                        "if you trust it, add `{{ package = \"{name}\", file = \"{}\" }}` to `[contents] pth-exec-allow` in {}",
                        pth.name,
                        self.place()
                    );
                    self.refuse(
                        RuleId::ContentsPthExec,
                        Some(pth.name.clone()),
                        format!(
                            "`{}` runs code at every interpreter start: line {} `{shown}`",
                            pth.name, line.number
                        ),
                        fix,
                    );
                }
            }
        }
        // Invariant: nothing a wheel ships lands on a file the environment owns (its
        // interpreter, activation scripts, `pyvenv.cfg`, standard library directory, or
        // safevenv's journal and state). Threat: `.data/data/` maps to the prefix, so a wheel
        // could otherwise replace `bin/python` or plant a journal that recovery would replay.
        for file in &contents.environment_files {
            self.refuse(
                RuleId::ContentsEnvironment,
                Some(file.path.clone()),
                format!(
                    "`{}` would write `{}`, which is {}",
                    self.package.artifact.filename, file.path, file.owner
                ),
                "none: this cannot be allowed; report the artifact to its publisher".to_string(),
            );
        }
        // `site` imports `sitecustomize` and `usercustomize` at every start, from wherever they
        // are on the path: the same persistence as an executable `.pth` line.
        if self.rules.pth_exec == AllowDeny::Deny {
            for hook in &contents.startup_hooks {
                let file = hook.rsplit('/').next().unwrap_or(hook);
                let exempt = self.rules.pth_exec_allow.iter().any(|entry| {
                    entry.package.matches(&name)
                        && entry.file.matches(file)
                        && entry.source.is_none_or(|kind| kind == source_kind)
                });
                if !exempt {
                    let fix = format!(
                        "if you trust it, add `{{ package = \"{name}\", file = \"{file}\" }}` to `[contents] pth-exec-allow` in {}",
                        self.place()
                    );
                    self.refuse(
                        RuleId::ContentsStartupHook,
                        Some(hook.clone()),
                        format!("`{hook}` is imported by Python at every interpreter start"),
                        fix,
                    );
                }
            }
        }
        if self.rules.overwrite == AllowDeny::Deny {
            // One refusal per other owner, naming the first shared file, to keep reports short.
            let mut shared: BTreeMap<&PackageName, (&str, &str, bool, usize)> = BTreeMap::new();
            for file in &contents.files {
                let exempt = self
                    .rules
                    .overwrite_allow
                    .iter()
                    .any(|entry| entry.package.matches(&name) && entry.file.matches(file));
                if exempt {
                    continue;
                }
                let by_file = owners.files.get(&file_key(file)).into_iter().flatten();
                let by_module = module_key(file)
                    .and_then(|key| owners.files.get(&key))
                    .into_iter()
                    .flatten();
                let mut counted = BTreeSet::new();
                for (via_module, (other, spelled)) in by_file
                    .map(|owner| (false, owner))
                    .chain(by_module.map(|owner| (true, owner)))
                {
                    if *other != &name && counted.insert(*other) {
                        shared
                            .entry(other)
                            .or_insert((file.as_str(), spelled, via_module, 0))
                            .3 += 1;
                    }
                }
            }
            for (other, (file, spelled, via_module, count)) in shared {
                let more = if count > 1 {
                    format!(" and {} more files", count - 1)
                } else {
                    String::new()
                };
                let fix = format!(
                    "drop one of the two, or add `{{ package = \"{name}\", file = \"{file}\" }}` to `[contents] overwrite-allow` in {}",
                    self.place()
                );
                self.refuse(
                    RuleId::ContentsOverwrite,
                    Some(file.to_string()),
                    if file == spelled {
                        format!("`{name}` and `{other}` both install `{file}`{more}")
                    } else if via_module {
                        format!(
                            "`{name}` installs `{file}` and `{other}` installs `{spelled}`: the same module, of which Python imports only one{more}"
                        )
                    } else {
                        format!(
                            "`{name}` installs `{file}` and `{other}` installs `{spelled}`, one file where names ignore case or Unicode normalisation{more}"
                        )
                    },
                    fix,
                );
            }
        }
        if self.rules.stdlib_shadow == AllowDeny::Deny {
            for module in &contents.top_level {
                if !is_stdlib_module(module, self.set.python_version) {
                    continue;
                }
                let exempt = self
                    .rules
                    .stdlib_shadow_allow
                    .iter()
                    .any(|entry| entry.package.matches(&name) && entry.module.matches(module));
                if !exempt {
                    let fix = format!(
                        "add `{{ package = \"{name}\", module = \"{module}\" }}` to `[contents] stdlib-shadow-allow` in {}",
                        self.place()
                    );
                    self.refuse(
                        RuleId::ContentsStdlibShadow,
                        Some(module.clone()),
                        format!("installs the top-level module `{module}`, which is also a standard library module"),
                        fix,
                    );
                }
            }
        }
        if self.rules.script_clash == AllowDeny::Deny {
            for script in &contents.scripts {
                let key = script_key(script);
                let others: Vec<String> = owners
                    .scripts
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .filter(|other| **other != &name)
                    .map(|other| format!("`{other}`"))
                    .collect();
                let reserved = is_reserved_script(&key);
                if !reserved && others.is_empty() {
                    continue;
                }
                let exempt = self
                    .rules
                    .script_clash_allow
                    .iter()
                    .any(|entry| entry.package.matches(&name) && entry.script.matches(&key));
                if exempt {
                    continue;
                }
                let message = if reserved {
                    format!(
                        "installs the script `{script}`, which would replace the environment's own"
                    )
                } else {
                    format!(
                        "installs the script `{script}`, which {} also installs",
                        others.join(", ")
                    )
                };
                let fix = format!(
                    "add `{{ package = \"{name}\", script = \"{key}\" }}` to `[contents] script-clash-allow` in {}",
                    self.place()
                );
                self.refuse(
                    RuleId::ContentsScriptClash,
                    Some(script.clone()),
                    message,
                    fix,
                );
            }
        }
    }

    // (7) Attestations: PEP 740 attestations come from indexes; other sources have none.
    fn attestations(&mut self) {
        if !matches!(self.package.source, Source::Index { .. }) {
            return;
        }
        let name = self.name().clone();
        let mode = self.rules.attestation_mode_for(&name);
        if mode == AttestationMode::Off {
            return;
        }
        let facts = &self.package.attestation;
        let filename = self.package.artifact.filename.clone();
        match &facts.status {
            AttestationStatus::Invalid { reason } => {
                self.refuse(
                    RuleId::Attestations,
                    Some(filename.clone()),
                    format!("the index offered an attestation that does not verify: {reason}"),
                    "none in the policy: the artifact or its attestation was tampered with; report it to the publisher".to_string(),
                );
            }
            AttestationStatus::Absent if mode == AttestationMode::Require => {
                let fix = format!(
                    "set `[attestations.packages] {name} = {{ mode = \"if-present\" }}` in {}",
                    self.place()
                );
                self.refuse(
                    RuleId::Attestations,
                    Some(filename.clone()),
                    "carries no attestation, and the policy requires one".to_string(),
                    fix,
                );
            }
            AttestationStatus::Absent => {}
            AttestationStatus::Verified(publisher) => {
                if let Some(pin) = self
                    .rules
                    .attestation_packages
                    .get(&name)
                    .filter(|pin| pin.has_pin())
                {
                    let differs =
                        |pinned: &Option<String>, actual: Option<&str>, case_insensitive: bool| {
                            pinned.as_deref().is_some_and(|pinned| match actual {
                                Some(actual) if case_insensitive => {
                                    !pinned.eq_ignore_ascii_case(actual)
                                }
                                Some(actual) => pinned != actual,
                                None => true,
                            })
                        };
                    if differs(&pin.repository, Some(&publisher.repository), true)
                        || differs(&pin.workflow, publisher.workflow.as_deref(), false)
                        || differs(&pin.environment, publisher.environment.as_deref(), false)
                    {
                        let fix = format!(
                            "if the project really moved, update `[attestations.packages] {name}` in {}",
                            self.place()
                        );
                        self.refuse(
                            RuleId::Attestations,
                            Some(filename.clone()),
                            format!(
                                "published by {publisher}, not by the publisher the policy pins"
                            ),
                            fix,
                        );
                    }
                }
            }
        }
        // A publisher other than the locked one, or none where one was locked, may be a takeover.
        if let Some(locked) = &facts.locked_publisher {
            if facts.publisher_change_accepted {
                return;
            }
            let message = match &facts.status {
                AttestationStatus::Verified(publisher) if publisher == locked => return,
                AttestationStatus::Verified(publisher) => {
                    format!("published by {publisher}, but the lockfile records {locked}")
                }
                AttestationStatus::Absent => {
                    format!(
                        "carries no attestation, but the lockfile records the publisher {locked}"
                    )
                }
                // Already refused above; the change is not judged on an unverified attestation.
                AttestationStatus::Invalid { .. } => return,
            };
            self.refuse(
                RuleId::AttestationsPublisherChange,
                Some(filename),
                message,
                "review the change, then accept it for this run so the lockfile records the new publisher".to_string(),
            );
        }
    }

    // (8) Vulnerabilities.
    fn vulnerabilities(&mut self) {
        if !self.rules.vulnerabilities_deny {
            return;
        }
        let name = self.name().clone();
        let threshold = self.rules.vulnerabilities_severity;
        for advisory in &self.package.vulnerabilities {
            let ignored = std::iter::once(&advisory.id)
                .chain(&advisory.aliases)
                .any(|id| self.rules.vulnerabilities_ignore.contains(id));
            // No severity counts as meeting any threshold: fail closed.
            if ignored
                || advisory
                    .severity
                    .is_some_and(|severity| severity < threshold)
            {
                continue;
            }
            let severity = advisory
                .severity
                .map_or("unknown", |severity| severity.as_str());
            let fix = format!(
                "upgrade `{name}` to a fixed version, or add `\"{}\"` to `[vulnerabilities] ignore` in {}",
                advisory.id,
                self.place()
            );
            self.refuse(
                RuleId::Vulnerabilities,
                Some(advisory.id.clone()),
                format!(
                    "has the known vulnerability `{}` (severity {severity})",
                    advisory.id
                ),
                fix,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_scripts() {
        for name in [
            "python",
            "python3",
            "python3.12",
            "pip",
            "pip3",
            "pip3.11",
            "activate",
            "activate.fish",
        ] {
            assert!(is_reserved_script(name), "{name}");
        }
        for name in ["pytest", "python3.x", "pipx", "black"] {
            assert!(!is_reserved_script(name), "{name}");
        }
        assert_eq!(script_key("Pip.EXE"), "pip");
    }

    #[test]
    fn commits() {
        assert!(is_full_commit(&"a".repeat(40)));
        assert!(!is_full_commit("v1.0"));
        assert!(!is_full_commit(&"g".repeat(40)));
    }
}
