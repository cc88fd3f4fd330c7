//! What a refused run reports: every refusal at once, for people (`Display`) and for tools
//! (`serde`, `--format json`).

use std::fmt;

use serde::{Serialize, Serializer};
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::rules::RuleId;

/// One rule refusing one distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The rule.
    pub rule: RuleId,
    /// The distribution's project.
    pub package: PackageName,
    /// The distribution's version, when known.
    #[serde(serialize_with = "display_opt")]
    pub version: Option<Version>,
    /// What the refusal is about: a file, an artifact, a (redacted) URL, an advisory id.
    pub subject: Option<String>,
    /// Why it was refused.
    pub message: String,
    /// The change that would let it through, naming the exact key and file.
    pub fix: String,
    /// The policy that refused it (a file, or a preset).
    pub policy: String,
}

fn display_opt<S: Serializer>(version: &Option<Version>, serializer: S) -> Result<S::Ok, S::Error> {
    match version {
        Some(version) => serializer.collect_str(version),
        None => serializer.serialize_none(),
    }
}

impl Refusal {
    /// The order of a report: by package, version, rule, subject, message.
    fn sort_key(&self) -> (&PackageName, Option<&Version>, RuleId, Option<&str>, &str) {
        (
            &self.package,
            self.version.as_ref(),
            self.rule,
            self.subject.as_deref(),
            &self.message,
        )
    }
}

/// Every refusal of one run, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusals {
    refusals: Vec<Refusal>,
}

impl Refusals {
    /// Sort, and drop a refusal that an earlier policy layer already made (the organisation's
    /// comes first, so its fix, which names the file that must change, is the one kept).
    pub(crate) fn new(mut refusals: Vec<Refusal>) -> Self {
        // Stable: among equal keys the earlier layer stays first.
        refusals.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        refusals.dedup_by(|later, earlier| later.sort_key() == earlier.sort_key());
        Self { refusals }
    }

    /// The refusals.
    pub fn refusals(&self) -> &[Refusal] {
        &self.refusals
    }

    /// The JSON form for `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "refusals": self.refusals })
    }
}

impl fmt::Display for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut packages: Vec<(&PackageName, Option<&Version>)> = self
            .refusals
            .iter()
            .map(|refusal| (&refusal.package, refusal.version.as_ref()))
            .collect();
        packages.dedup();
        let count = packages.len();
        writeln!(
            f,
            "the policy refused {count} distribution{}",
            if count == 1 { "" } else { "s" }
        )?;
        for (package, version) in packages {
            write!(f, "\n`{package}`")?;
            if let Some(version) = version {
                write!(f, " {version}")?;
            }
            writeln!(f)?;
            for refusal in self.refusals.iter().filter(|refusal| {
                &refusal.package == package && refusal.version.as_ref() == version
            }) {
                writeln!(f, "  refused[{}]: {}", refusal.rule, refusal.message)?;
                if let Some(subject) = &refusal.subject {
                    writeln!(f, "    --> {subject}")?;
                }
                writeln!(f, "    hint: {}", refusal.fix)?;
            }
        }
        Ok(())
    }
}
