//! How loose a loaded policy is: what it lets in from outside an index or as source, and where it
//! is looser than a preset. Read by `safevenv doctor`; judging a resolved set never uses it.

use std::fmt;

use crate::config::{AllowDeny, Preset, Rules};
use crate::{Policy, PolicyError, preset_rules};

/// One key on which the enforced policy is looser than a preset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looser {
    /// The policy key (`releases.min-release-age`).
    pub key: &'static str,
    /// The value in force (the strictest of the layers, since every layer judges).
    pub value: String,
    /// The preset's value.
    pub preset_value: String,
}

/// Something the enforced policy allows that does not come from an index as a wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    /// `artifacts.sdist = "allow"`: every project may be built from source.
    EverySdist,
    /// `artifacts.sdist-allow`: these projects may be built from source.
    Sdists(Vec<String>),
    /// `sources.direct-url-allow`, `sources.vcs-allow`, `sources.path-allow`: entries as
    /// `package from location` (URLs redacted).
    NonIndex {
        /// The key.
        key: &'static str,
        /// The entries.
        entries: Vec<String>,
    },
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EverySdist => {
                f.write_str("`artifacts.sdist = \"allow\"`: any project may be built from source")
            }
            Self::Sdists(names) => write!(
                f,
                "`artifacts.sdist-allow` lets {} be built from source",
                names.join(", ")
            ),
            Self::NonIndex { key, entries } => write!(f, "`{key}` allows {}", entries.join(", ")),
        }
    }
}

impl Policy {
    /// The keys on which this policy is looser than `preset`. A key counts as looser only when
    /// every layer is looser, since each layer judges on its own and the strictest decides.
    pub fn looser_than(&self, preset: Preset) -> Result<Vec<Looser>, PolicyError> {
        let reference = preset_rules(preset, &mut Vec::new())?;
        let layers: Vec<&Rules> = self.layers.iter().map(|layer| &layer.rules).collect();
        let mut found = Vec::new();
        let mut compare = |key: &'static str,
                           looser: &dyn Fn(&Rules) -> bool,
                           show: &dyn Fn(&Rules) -> String| {
            if !layers.is_empty() && layers.iter().all(|rules| looser(rules)) {
                // Every layer is looser here; show the project's layer (the last), the one the
                // user edits.
                let value = layers.last().map(|rules| show(rules)).unwrap_or_default();
                found.push(Looser {
                    key,
                    value,
                    preset_value: show(&reference),
                });
            }
        };
        let deny = |value: AllowDeny| value == AllowDeny::Deny;
        compare(
            "artifacts.sdist",
            &|r| deny(reference.sdist) && !deny(r.sdist),
            &|r| r.sdist.to_string(),
        );
        compare(
            "releases.yanked",
            &|r| deny(reference.yanked) && !deny(r.yanked),
            &|r| r.yanked.to_string(),
        );
        compare(
            "releases.min-release-age",
            &|r| r.min_release_age < reference.min_release_age,
            &|r| r.min_release_age.to_string(),
        );
        compare(
            "releases.security-fix-bypass",
            &|r| r.security_fix_bypass && !reference.security_fix_bypass,
            &|r| r.security_fix_bypass.to_string(),
        );
        compare(
            "contents.pth-exec",
            &|r| deny(reference.pth_exec) && !deny(r.pth_exec),
            &|r| r.pth_exec.to_string(),
        );
        compare(
            "contents.overwrite",
            &|r| deny(reference.overwrite) && !deny(r.overwrite),
            &|r| r.overwrite.to_string(),
        );
        compare(
            "contents.stdlib-shadow",
            &|r| deny(reference.stdlib_shadow) && !deny(r.stdlib_shadow),
            &|r| r.stdlib_shadow.to_string(),
        );
        compare(
            "contents.script-clash",
            &|r| deny(reference.script_clash) && !deny(r.script_clash),
            &|r| r.script_clash.to_string(),
        );
        compare(
            "licenses.unknown",
            &|r| deny(reference.license_unknown) && !deny(r.license_unknown),
            &|r| r.license_unknown.to_string(),
        );
        compare(
            "attestations.mode",
            &|r| r.attestation_mode < reference.attestation_mode,
            &|r| r.attestation_mode.to_string(),
        );
        compare(
            "vulnerabilities.deny",
            &|r| reference.vulnerabilities_deny && !r.vulnerabilities_deny,
            &|r| r.vulnerabilities_deny.to_string(),
        );
        compare(
            "vulnerabilities.severity",
            &|r| r.vulnerabilities_severity > reference.vulnerabilities_severity,
            &|r| r.vulnerabilities_severity.as_str().to_string(),
        );
        Ok(found)
    }

    /// What this policy lets in as source or from outside an index. Only what every layer allows
    /// is in force; this lists what the layer closest to the project allows and every other layer
    /// allows too, reported per key.
    pub fn allowances(&self) -> Vec<Allowance> {
        let layers: Vec<&Rules> = self.layers.iter().map(|layer| &layer.rules).collect();
        let mut found = Vec::new();
        if !layers.is_empty() && layers.iter().all(|rules| rules.sdist == AllowDeny::Allow) {
            found.push(Allowance::EverySdist);
        } else if let Some(last) = layers.last() {
            let names: Vec<String> = last
                .sdist_allow
                .iter()
                .filter(|name| {
                    layers.iter().all(|rules| {
                        rules.sdist == AllowDeny::Allow || rules.sdist_allow.contains(*name)
                    })
                })
                .map(|name| format!("`{name}`"))
                .collect();
            if !names.is_empty() {
                found.push(Allowance::Sdists(names));
            }
        }
        if let Some(last) = layers.last() {
            for (key, entries) in [
                ("sources.direct-url-allow", &last.direct_url_allow),
                ("sources.vcs-allow", &last.vcs_allow),
            ] {
                if !entries.is_empty() {
                    found.push(Allowance::NonIndex {
                        key,
                        entries: entries
                            .iter()
                            .map(|entry| format!("`{}` from `{}`", entry.package, entry.url))
                            .collect(),
                    });
                }
            }
            if !last.path_allow.is_empty() {
                found.push(Allowance::NonIndex {
                    key: "sources.path-allow",
                    entries: last
                        .path_allow
                        .iter()
                        .map(|entry| format!("`{}` from `{}`", entry.package, entry.path.display()))
                        .collect(),
                });
            }
        }
        found
    }
}

impl Looser {
    /// `key = value` (preset: `preset_value`).
    pub fn describe(&self, preset: Preset) -> String {
        format!(
            "`{} = {}` (the `{preset}` preset: `{}`)",
            self.key, self.value, self.preset_value
        )
    }
}
