//! The policy file's schema (what TOML may say) and the resolved rules (what one layer enforces).
//!
//! A file is read into [`RawPolicy`], whose `Option`s record which keys it set. Resolving applies
//! it on top of the preset it extends: scalars replace, lists are joined (as Cargo joins arrays
//! across configuration files), and tables merge per key. [`check_tightens`] compares what a
//! project file sets against the organisation's resolved rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use uv_normalize::PackageName;

use crate::facts::{HashOrigin, Severity, SourceKind};
use crate::matcher::{
    Age, Glob, LicenseName, PackageMatcher, PackagePattern, UrlPrefix, normalize_path, same_index,
};

/// The built-in presets a file may extend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// `policy/default.toml`: what applies with no policy file.
    Default,
    /// `policy/strict.toml`: release age, required attestations, every advisory.
    Strict,
    /// `policy/ci.toml`: for unattended runs from a lockfile.
    Ci,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Self; 3] = [Self::Default, Self::Strict, Self::Ci];

    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Strict => "strict",
            Self::Ci => "ci",
        }
    }

    /// The preset's TOML text, shipped in the repository's `policy/` directory.
    pub fn text(self) -> &'static str {
        match self {
            Self::Default => include_str!("../../../policy/default.toml"),
            Self::Strict => include_str!("../../../policy/strict.toml"),
            Self::Ci => include_str!("../../../policy/ci.toml"),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `"allow"` or `"deny"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowDeny {
    /// Allowed.
    Allow,
    /// Refused.
    Deny,
}

impl fmt::Display for AllowDeny {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

/// How attestations are judged; ordered from loosest to strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttestationMode {
    /// Not checked.
    Off,
    /// An offered attestation must verify.
    IfPresent,
    /// Every artifact must carry a verified attestation.
    Require,
}

impl fmt::Display for AttestationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::IfPresent => "if-present",
            Self::Require => "require",
        })
    }
}

/// The policy file as written; `None` is "not set here".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawPolicy {
    pub extends: Option<Preset>,
    pub sources: Option<RawSources>,
    pub artifacts: Option<RawArtifacts>,
    pub releases: Option<RawReleases>,
    pub packages: Option<RawPackages>,
    pub licenses: Option<RawLicenses>,
    pub contents: Option<RawContents>,
    pub attestations: Option<RawAttestations>,
    pub vulnerabilities: Option<RawVulnerabilities>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawSources {
    pub indexes: Option<Vec<UrlPrefix>>,
    pub packages: Option<BTreeMap<PackageName, UrlPrefix>>,
    pub direct_url_allow: Option<Vec<UrlExemption>>,
    pub vcs_allow: Option<Vec<UrlExemption>>,
    pub path_allow: Option<Vec<PathExemption>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawArtifacts {
    pub hash_sources: Option<BTreeSet<HashOrigin>>,
    pub sdist: Option<AllowDeny>,
    pub sdist_allow: Option<BTreeSet<PackageName>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawReleases {
    pub yanked: Option<AllowDeny>,
    pub yanked_allow: Option<Vec<PackageMatcher>>,
    pub min_release_age: Option<Age>,
    pub min_release_age_overrides: Option<BTreeMap<PackageName, Age>>,
    pub security_fix_bypass: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawPackages {
    pub deny: Option<Vec<PackageMatcher>>,
    pub allow: Option<Vec<PackageMatcher>>,
    pub allow_only: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawLicenses {
    pub allow: Option<BTreeSet<LicenseName>>,
    pub deny: Option<BTreeSet<LicenseName>>,
    pub unknown: Option<AllowDeny>,
    pub exceptions: Option<BTreeSet<PackageName>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawContents {
    pub pth_exec: Option<AllowDeny>,
    pub pth_exec_allow: Option<Vec<FileExemption>>,
    pub overwrite: Option<AllowDeny>,
    pub overwrite_allow: Option<Vec<FileExemption>>,
    pub stdlib_shadow: Option<AllowDeny>,
    pub stdlib_shadow_allow: Option<Vec<ModuleExemption>>,
    pub script_clash: Option<AllowDeny>,
    pub script_clash_allow: Option<Vec<ScriptExemption>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawAttestations {
    pub mode: Option<AttestationMode>,
    pub packages: Option<BTreeMap<PackageName, AttestationPackage>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawVulnerabilities {
    pub deny: Option<bool>,
    pub severity: Option<Severity>,
    pub ignore: Option<BTreeSet<String>>,
}

/// An exemption naming a package and a URL prefix it may come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlExemption {
    /// The project.
    pub package: PackageName,
    /// The URL prefix.
    pub url: UrlPrefix,
}

/// An exemption naming a package and a directory its path must be inside.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathExemption {
    /// The project.
    pub package: PackageName,
    /// The directory; relative paths are resolved against the policy file's directory.
    pub path: PathBuf,
}

/// An exemption naming a package (or `*`) and a file name pattern.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExemption {
    /// The project, or `*`.
    pub package: PackagePattern,
    /// The file name (`.pth` rules) or path relative to the environment (overwrite rules).
    pub file: Glob,
    /// When set, the exemption holds only for distributions from this kind of source.
    pub source: Option<SourceKind>,
}

/// An exemption naming a package (or `*`) and a module name pattern.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleExemption {
    /// The project, or `*`.
    pub package: PackagePattern,
    /// The top-level module.
    pub module: Glob,
}

/// An exemption naming a package (or `*`) and a script name pattern.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptExemption {
    /// The project, or `*`.
    pub package: PackagePattern,
    /// The script.
    pub script: Glob,
}

/// Per-package attestation settings: a mode, and a publisher pin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AttestationPackage {
    /// The mode for this package; a publisher pin alone implies `require`.
    pub mode: Option<AttestationMode>,
    /// The pinned repository (`owner/name`).
    pub repository: Option<String>,
    /// The pinned workflow file.
    pub workflow: Option<String>,
    /// The pinned deployment environment.
    pub environment: Option<String>,
}

impl AttestationPackage {
    /// Whether a publisher is pinned.
    pub fn has_pin(&self) -> bool {
        self.repository.is_some() || self.workflow.is_some() || self.environment.is_some()
    }

    /// The effective mode: explicit, else `require` with a pin, else the policy-wide mode.
    pub fn effective_mode(&self, default: AttestationMode) -> AttestationMode {
        self.mode.unwrap_or(if self.has_pin() {
            AttestationMode::Require
        } else {
            default
        })
    }
}

/// The rules one layer enforces, every key resolved.
///
/// The built-in base (before any preset) is the strict end of every key, so a key a preset
/// forgets fails closed.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub indexes: Vec<UrlPrefix>,
    pub index_pins: BTreeMap<PackageName, UrlPrefix>,
    pub direct_url_allow: Vec<UrlExemption>,
    pub vcs_allow: Vec<UrlExemption>,
    pub path_allow: Vec<PathExemption>,
    pub hash_sources: BTreeSet<HashOrigin>,
    pub sdist: AllowDeny,
    pub sdist_allow: BTreeSet<PackageName>,
    pub yanked: AllowDeny,
    pub yanked_allow: Vec<PackageMatcher>,
    pub min_release_age: Age,
    pub min_release_age_overrides: BTreeMap<PackageName, Age>,
    pub security_fix_bypass: bool,
    pub deny: Vec<PackageMatcher>,
    pub allow: Vec<PackageMatcher>,
    pub allow_only: bool,
    pub license_allow: Option<BTreeSet<LicenseName>>,
    pub license_deny: BTreeSet<LicenseName>,
    pub license_unknown: AllowDeny,
    pub license_exceptions: BTreeSet<PackageName>,
    pub pth_exec: AllowDeny,
    pub pth_exec_allow: Vec<FileExemption>,
    pub overwrite: AllowDeny,
    pub overwrite_allow: Vec<FileExemption>,
    pub stdlib_shadow: AllowDeny,
    pub stdlib_shadow_allow: Vec<ModuleExemption>,
    pub script_clash: AllowDeny,
    pub script_clash_allow: Vec<ScriptExemption>,
    pub attestation_mode: AttestationMode,
    pub attestation_packages: BTreeMap<PackageName, AttestationPackage>,
    pub vulnerabilities_deny: bool,
    pub vulnerabilities_severity: Severity,
    pub vulnerabilities_ignore: BTreeSet<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            indexes: Vec::new(),
            index_pins: BTreeMap::new(),
            direct_url_allow: Vec::new(),
            vcs_allow: Vec::new(),
            path_allow: Vec::new(),
            hash_sources: [HashOrigin::Input, HashOrigin::Lockfile, HashOrigin::Index].into(),
            sdist: AllowDeny::Deny,
            sdist_allow: BTreeSet::new(),
            yanked: AllowDeny::Deny,
            yanked_allow: Vec::new(),
            min_release_age: Age::default(),
            min_release_age_overrides: BTreeMap::new(),
            security_fix_bypass: false,
            deny: Vec::new(),
            allow: Vec::new(),
            allow_only: false,
            license_allow: None,
            license_deny: BTreeSet::new(),
            license_unknown: AllowDeny::Deny,
            license_exceptions: BTreeSet::new(),
            pth_exec: AllowDeny::Deny,
            pth_exec_allow: Vec::new(),
            overwrite: AllowDeny::Deny,
            overwrite_allow: Vec::new(),
            stdlib_shadow: AllowDeny::Deny,
            stdlib_shadow_allow: Vec::new(),
            script_clash: AllowDeny::Deny,
            script_clash_allow: Vec::new(),
            attestation_mode: AttestationMode::IfPresent,
            attestation_packages: BTreeMap::new(),
            vulnerabilities_deny: true,
            vulnerabilities_severity: Severity::Low,
            vulnerabilities_ignore: BTreeSet::new(),
        }
    }
}

/// Append the entries of `more` not already in `list`.
fn join<T: PartialEq>(list: &mut Vec<T>, more: Vec<T>) {
    for item in more {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

impl Rules {
    /// Apply a file's settings on top of these rules. `base_dir` resolves relative paths.
    pub fn apply(&mut self, raw: RawPolicy, base_dir: Option<&Path>) {
        if let Some(sources) = raw.sources {
            join(&mut self.indexes, sources.indexes.unwrap_or_default());
            self.index_pins.extend(sources.packages.unwrap_or_default());
            join(
                &mut self.direct_url_allow,
                sources.direct_url_allow.unwrap_or_default(),
            );
            join(&mut self.vcs_allow, sources.vcs_allow.unwrap_or_default());
            let paths = sources
                .path_allow
                .unwrap_or_default()
                .into_iter()
                .map(|entry| PathExemption {
                    path: resolve_path(&entry.path, base_dir),
                    package: entry.package,
                })
                .collect();
            join(&mut self.path_allow, paths);
        }
        if let Some(artifacts) = raw.artifacts {
            if let Some(hash_sources) = artifacts.hash_sources {
                self.hash_sources = hash_sources;
            }
            set(&mut self.sdist, artifacts.sdist);
            self.sdist_allow
                .extend(artifacts.sdist_allow.unwrap_or_default());
        }
        if let Some(releases) = raw.releases {
            set(&mut self.yanked, releases.yanked);
            join(
                &mut self.yanked_allow,
                releases.yanked_allow.unwrap_or_default(),
            );
            set(&mut self.min_release_age, releases.min_release_age);
            self.min_release_age_overrides
                .extend(releases.min_release_age_overrides.unwrap_or_default());
            set(&mut self.security_fix_bypass, releases.security_fix_bypass);
        }
        if let Some(packages) = raw.packages {
            join(&mut self.deny, packages.deny.unwrap_or_default());
            join(&mut self.allow, packages.allow.unwrap_or_default());
            set(&mut self.allow_only, packages.allow_only);
        }
        if let Some(licenses) = raw.licenses {
            if let Some(allow) = licenses.allow {
                self.license_allow
                    .get_or_insert_with(BTreeSet::new)
                    .extend(allow);
            }
            self.license_deny.extend(licenses.deny.unwrap_or_default());
            set(&mut self.license_unknown, licenses.unknown);
            self.license_exceptions
                .extend(licenses.exceptions.unwrap_or_default());
        }
        if let Some(contents) = raw.contents {
            set(&mut self.pth_exec, contents.pth_exec);
            join(
                &mut self.pth_exec_allow,
                contents.pth_exec_allow.unwrap_or_default(),
            );
            set(&mut self.overwrite, contents.overwrite);
            join(
                &mut self.overwrite_allow,
                contents.overwrite_allow.unwrap_or_default(),
            );
            set(&mut self.stdlib_shadow, contents.stdlib_shadow);
            join(
                &mut self.stdlib_shadow_allow,
                contents.stdlib_shadow_allow.unwrap_or_default(),
            );
            set(&mut self.script_clash, contents.script_clash);
            join(
                &mut self.script_clash_allow,
                contents.script_clash_allow.unwrap_or_default(),
            );
        }
        if let Some(attestations) = raw.attestations {
            set(&mut self.attestation_mode, attestations.mode);
            self.attestation_packages
                .extend(attestations.packages.unwrap_or_default());
        }
        if let Some(vulnerabilities) = raw.vulnerabilities {
            set(&mut self.vulnerabilities_deny, vulnerabilities.deny);
            set(&mut self.vulnerabilities_severity, vulnerabilities.severity);
            self.vulnerabilities_ignore
                .extend(vulnerabilities.ignore.unwrap_or_default());
        }
    }

    /// The minimum release age for one package.
    pub fn min_age_for(&self, name: &PackageName) -> Age {
        self.min_release_age_overrides
            .get(name)
            .copied()
            .unwrap_or(self.min_release_age)
    }

    /// The attestation mode for one package.
    pub fn attestation_mode_for(&self, name: &PackageName) -> AttestationMode {
        self.attestation_packages
            .get(name)
            .map_or(self.attestation_mode, |package| {
                package.effective_mode(self.attestation_mode)
            })
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn resolve_path(path: &Path, base_dir: Option<&Path>) -> PathBuf {
    match base_dir {
        Some(base) if path.is_relative() => normalize_path(&base.join(path)),
        _ => normalize_path(path),
    }
}

/// A key a project file sets looser than the organisation's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loosening {
    pub key: String,
    pub org_value: String,
    pub project_value: String,
}

fn loosening(
    key: &str,
    org_value: impl fmt::Display,
    project_value: impl fmt::Display,
) -> Loosening {
    Loosening {
        key: key.to_string(),
        org_value: org_value.to_string(),
        project_value: project_value.to_string(),
    }
}

fn mode(key: &str, org: AllowDeny, project: Option<AllowDeny>) -> Result<(), Loosening> {
    match project {
        Some(AllowDeny::Allow) if org == AllowDeny::Deny => Err(loosening(key, org, "allow")),
        _ => Ok(()),
    }
}

/// Each entry must be one the organisation already allows (or its rule must already be off).
fn subset<T: PartialEq + fmt::Display>(
    key: &str,
    org: &[T],
    org_mode: AllowDeny,
    project: &[T],
) -> Result<(), Loosening> {
    if org_mode == AllowDeny::Allow {
        return Ok(());
    }
    match project.iter().find(|entry| !org.contains(entry)) {
        Some(entry) => Err(loosening(key, "an allowlist without it", entry)),
        None => Ok(()),
    }
}

impl fmt::Display for UrlExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ package = \"{}\", url = \"{}\" }}",
            self.package, self.url
        )
    }
}

impl fmt::Display for PathExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ package = \"{}\", path = \"{}\" }}",
            self.package,
            self.path.display()
        )
    }
}

impl fmt::Display for FileExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ package = \"{}\", file = \"{}\" }}",
            self.package, self.file
        )
    }
}

impl fmt::Display for ModuleExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ package = \"{}\", module = \"{}\" }}",
            self.package, self.module
        )
    }
}

impl fmt::Display for ScriptExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{ package = \"{}\", script = \"{}\" }}",
            self.package, self.script
        )
    }
}

/// Check that every key `raw` (a project file) sets is at least as strict as the organisation's
/// resolved `org` rules. Keys inherited from the project's preset are not checked: both layers are
/// enforced at evaluation, so the organisation's rules hold either way; this check exists so that
/// an explicit attempt to loosen is reported instead of silently having no effect.
pub(crate) fn check_tightens(
    org: &Rules,
    raw: &RawPolicy,
    base_dir: Option<&Path>,
) -> Result<(), Loosening> {
    if let Some(sources) = &raw.sources {
        for index in sources.indexes.iter().flatten() {
            if !org
                .indexes
                .iter()
                .any(|own| same_index(own.url(), index.url()))
            {
                return Err(loosening("sources.indexes", "a list without it", index));
            }
        }
        for (name, url) in sources.packages.iter().flatten() {
            let allowed = match org.index_pins.get(name) {
                Some(own) => same_index(own.url(), url.url()),
                None => org
                    .indexes
                    .iter()
                    .any(|own| same_index(own.url(), url.url())),
            };
            if !allowed {
                let org_value = org.index_pins.get(name).map_or_else(
                    || "an index it does not allow".to_string(),
                    |own| own.to_string(),
                );
                return Err(loosening(
                    &format!("sources.packages.{name}"),
                    org_value,
                    url,
                ));
            }
        }
        let covered = |org: &[UrlExemption], entry: &UrlExemption| {
            org.iter()
                .any(|own| own.package == entry.package && own.url.contains(entry.url.url()))
        };
        for (key, org_list, list) in [
            (
                "sources.direct-url-allow",
                &org.direct_url_allow,
                &sources.direct_url_allow,
            ),
            ("sources.vcs-allow", &org.vcs_allow, &sources.vcs_allow),
        ] {
            if let Some(entry) = list
                .iter()
                .flatten()
                .find(|entry| !covered(org_list, entry))
            {
                return Err(loosening(key, "no entry covering it", entry));
            }
        }
        for entry in sources.path_allow.iter().flatten() {
            let path = resolve_path(&entry.path, base_dir);
            if !org
                .path_allow
                .iter()
                .any(|own| own.package == entry.package && path.starts_with(&own.path))
            {
                return Err(loosening(
                    "sources.path-allow",
                    "no entry covering it",
                    entry,
                ));
            }
        }
    }
    if let Some(artifacts) = &raw.artifacts {
        if let Some(extra) = artifacts
            .hash_sources
            .iter()
            .flatten()
            .find(|origin| !org.hash_sources.contains(origin))
        {
            return Err(loosening(
                "artifacts.hash-sources",
                "a list without it",
                format!("{extra:?}").to_lowercase(),
            ));
        }
        mode("artifacts.sdist", org.sdist, artifacts.sdist)?;
        let org_allow: Vec<_> = org.sdist_allow.iter().cloned().collect();
        let allow: Vec<_> = artifacts.sdist_allow.iter().flatten().cloned().collect();
        subset("artifacts.sdist-allow", &org_allow, org.sdist, &allow)?;
    }
    if let Some(releases) = &raw.releases {
        mode("releases.yanked", org.yanked, releases.yanked)?;
        subset(
            "releases.yanked-allow",
            &org.yanked_allow,
            org.yanked,
            releases.yanked_allow.as_deref().unwrap_or_default(),
        )?;
        if let Some(age) = releases.min_release_age
            && age < org.min_release_age
        {
            return Err(loosening(
                "releases.min-release-age",
                org.min_release_age,
                age,
            ));
        }
        for (name, age) in releases.min_release_age_overrides.iter().flatten() {
            let own = org.min_age_for(name);
            if *age < own {
                return Err(loosening(
                    &format!("releases.min-release-age-overrides.{name}"),
                    own,
                    age,
                ));
            }
        }
        if releases.security_fix_bypass == Some(true) && !org.security_fix_bypass {
            return Err(loosening("releases.security-fix-bypass", false, true));
        }
    }
    if let Some(packages) = &raw.packages
        && packages.allow_only == Some(false)
        && org.allow_only
    {
        return Err(loosening("packages.allow-only", true, false));
    }
    if let Some(licenses) = &raw.licenses {
        if let (Some(own), Some(allow)) = (&org.license_allow, &licenses.allow)
            && let Some(extra) = allow.iter().find(|license| !own.contains(license))
        {
            return Err(loosening(
                "licenses.allow",
                "an allowlist without it",
                &extra.0,
            ));
        }
        mode("licenses.unknown", org.license_unknown, licenses.unknown)?;
        if let Some(extra) = licenses
            .exceptions
            .iter()
            .flatten()
            .find(|name| !org.license_exceptions.contains(name))
        {
            return Err(loosening("licenses.exceptions", "a list without it", extra));
        }
    }
    if let Some(contents) = &raw.contents {
        mode("contents.pth-exec", org.pth_exec, contents.pth_exec)?;
        subset(
            "contents.pth-exec-allow",
            &org.pth_exec_allow,
            org.pth_exec,
            contents.pth_exec_allow.as_deref().unwrap_or_default(),
        )?;
        mode("contents.overwrite", org.overwrite, contents.overwrite)?;
        subset(
            "contents.overwrite-allow",
            &org.overwrite_allow,
            org.overwrite,
            contents.overwrite_allow.as_deref().unwrap_or_default(),
        )?;
        mode(
            "contents.stdlib-shadow",
            org.stdlib_shadow,
            contents.stdlib_shadow,
        )?;
        subset(
            "contents.stdlib-shadow-allow",
            &org.stdlib_shadow_allow,
            org.stdlib_shadow,
            contents.stdlib_shadow_allow.as_deref().unwrap_or_default(),
        )?;
        mode(
            "contents.script-clash",
            org.script_clash,
            contents.script_clash,
        )?;
        subset(
            "contents.script-clash-allow",
            &org.script_clash_allow,
            org.script_clash,
            contents.script_clash_allow.as_deref().unwrap_or_default(),
        )?;
    }
    if let Some(attestations) = &raw.attestations {
        if let Some(project_mode) = attestations.mode
            && project_mode < org.attestation_mode
        {
            return Err(loosening(
                "attestations.mode",
                org.attestation_mode,
                project_mode,
            ));
        }
        for (name, package) in attestations.packages.iter().flatten() {
            let own = org.attestation_mode_for(name);
            let project_mode = package.effective_mode(own);
            if project_mode < own {
                return Err(loosening(
                    &format!("attestations.packages.{name}.mode"),
                    own,
                    project_mode,
                ));
            }
            if let Some(own_pin) = org
                .attestation_packages
                .get(name)
                .filter(|own| own.has_pin())
            {
                let differs = |own: &Option<String>, project: &Option<String>| {
                    project.is_some() && own.is_some() && own != project
                };
                if differs(&own_pin.repository, &package.repository)
                    || differs(&own_pin.workflow, &package.workflow)
                    || differs(&own_pin.environment, &package.environment)
                {
                    return Err(loosening(
                        &format!("attestations.packages.{name}"),
                        "another publisher pin",
                        "a different publisher",
                    ));
                }
            }
        }
    }
    if let Some(vulnerabilities) = &raw.vulnerabilities {
        if vulnerabilities.deny == Some(false) && org.vulnerabilities_deny {
            return Err(loosening("vulnerabilities.deny", true, false));
        }
        if let Some(severity) = vulnerabilities.severity
            && severity > org.vulnerabilities_severity
        {
            return Err(loosening(
                "vulnerabilities.severity",
                org.vulnerabilities_severity.as_str(),
                severity.as_str(),
            ));
        }
        if let Some(extra) = vulnerabilities
            .ignore
            .iter()
            .flatten()
            .find(|id| !org.vulnerabilities_ignore.contains(*id))
        {
            return Err(loosening(
                "vulnerabilities.ignore",
                "a list without it",
                extra,
            ));
        }
    }
    Ok(())
}
