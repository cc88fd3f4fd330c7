//! Whether a version is affected: OSV ranges evaluated with PEP 440.
//!
//! A record is compiled once, at load time, so that a bad version string is found then (and
//! reported) rather than while auditing, and so that a query compares parsed versions only.

use std::str::FromStr;

use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::osv::{RangeEvent, RangeKind, Vulnerability};

/// Why a record that parsed cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A PyPI package name that is not a valid name.
    #[error("the package name `{name}` is not valid")]
    PackageName {
        /// The name as written.
        name: String,
        /// Why it is not valid.
        #[source]
        source: uv_normalize::InvalidNameError,
    },
    /// A range bound that is not a PEP 440 version: the range cannot be evaluated, and skipping it
    /// could make an affected version look safe.
    #[error("the range bound `{version}` of `{package}` is not a PEP 440 version")]
    Bound {
        /// The package the range is about.
        package: String,
        /// The bound as written.
        version: String,
        /// Why it does not parse.
        #[source]
        source: uv_pep440::VersionParseError,
    },
}

/// A range event with its version parsed.
#[derive(Debug, Clone)]
enum Bound {
    /// `None` is `"0"`: before every version, pre-releases and dev releases included.
    Introduced(Option<Version>),
    Fixed(Version),
    LastAffected(Version),
}

impl Bound {
    fn version(&self) -> Option<&Version> {
        match self {
            Self::Introduced(version) => version.as_ref(),
            Self::Fixed(version) | Self::LastAffected(version) => Some(version),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledRange {
    /// Sorted by version; at equal versions `introduced` first, so that `[x, x)` is empty.
    bounds: Vec<Bound>,
    /// `limit` events other than `"*"`.
    limits: Vec<Version>,
}

impl CompiledRange {
    /// The OSV schema's evaluation: walk the sorted events; `introduced` at or below the version
    /// turns "affected" on, `fixed` at or below (or `last_affected` strictly below) turns it off.
    /// With limits, a version at or above every limit is outside the range.
    fn contains(&self, version: &Version) -> bool {
        if !self.limits.is_empty() && self.limits.iter().all(|limit| version >= limit) {
            return false;
        }
        let mut affected = false;
        for bound in &self.bounds {
            match bound {
                Bound::Introduced(None) => affected = true,
                Bound::Introduced(Some(introduced)) if version >= introduced => affected = true,
                Bound::Fixed(fixed) if version >= fixed => affected = false,
                Bound::LastAffected(last) if version > last => affected = false,
                _ => {}
            }
        }
        affected
    }
}

/// A version from a record's explicit `versions` list.
#[derive(Debug, Clone)]
enum Listed {
    Version(Version),
    /// Not PEP 440: compared as text with the installed version, so it still matches itself.
    Text(String),
}

/// What a record says about one package.
#[derive(Debug, Clone)]
pub(crate) struct PackageRule {
    pub(crate) name: PackageName,
    ranges: Vec<CompiledRange>,
    listed: Vec<Listed>,
}

impl PackageRule {
    pub(crate) fn affects(&self, version: &Version) -> bool {
        self.ranges.iter().any(|range| range.contains(version))
            || self.listed.iter().any(|listed| match listed {
                Listed::Version(listed) => listed == version,
                Listed::Text(text) => *text == version.to_string(),
            })
    }

    /// Every `fixed` bound of the package's ranges.
    pub(crate) fn fixes(&self) -> impl Iterator<Item = &Version> {
        self.ranges.iter().flat_map(|range| {
            range.bounds.iter().filter_map(|bound| match bound {
                Bound::Fixed(version) => Some(version),
                _ => None,
            })
        })
    }
}

/// A usable, not withdrawn record with its PyPI rules compiled.
#[derive(Debug, Clone)]
pub(crate) struct Advisory {
    pub(crate) record: Vulnerability,
    pub(crate) rules: Vec<PackageRule>,
}

impl Advisory {
    /// Compile the record's PyPI entries; other ecosystems are not ours to audit.
    pub(crate) fn compile(record: Vulnerability) -> Result<Self, CompileError> {
        let mut rules = Vec::new();
        for affected in &record.affected {
            let Some(package) = &affected.package else {
                continue;
            };
            if package.ecosystem != "PyPI" {
                continue;
            }
            let name = PackageName::from_str(&package.name).map_err(|source| {
                CompileError::PackageName {
                    name: package.name.clone(),
                    source,
                }
            })?;
            let parse = |text: &str| {
                Version::from_str(text).map_err(|source| CompileError::Bound {
                    package: package.name.clone(),
                    version: text.to_string(),
                    source,
                })
            };
            let mut ranges = Vec::new();
            for range in &affected.ranges {
                // SEMVER strings are valid PEP 440 versions, and the orders agree on releases:
                // evaluating them beats ignoring a range that a PyPI record chose to write.
                if range.kind == RangeKind::Git {
                    continue;
                }
                let mut bounds = Vec::new();
                let mut limits = Vec::new();
                for event in &range.events {
                    match event {
                        RangeEvent::Introduced(text) if text == "0" => {
                            bounds.push(Bound::Introduced(None));
                        }
                        RangeEvent::Introduced(text) => {
                            bounds.push(Bound::Introduced(Some(parse(text)?)));
                        }
                        RangeEvent::Fixed(text) => bounds.push(Bound::Fixed(parse(text)?)),
                        RangeEvent::LastAffected(text) => {
                            bounds.push(Bound::LastAffected(parse(text)?));
                        }
                        RangeEvent::Limit(text) if text == "*" => {}
                        RangeEvent::Limit(text) => limits.push(parse(text)?),
                    }
                }
                bounds.sort_by(|a, b| {
                    a.version().cmp(&b.version()).then_with(|| {
                        let rank = |bound: &Bound| u8::from(!matches!(bound, Bound::Introduced(_)));
                        rank(a).cmp(&rank(b))
                    })
                });
                ranges.push(CompiledRange { bounds, limits });
            }
            let listed = affected
                .versions
                .iter()
                .map(|text| match Version::from_str(text) {
                    Ok(version) => Listed::Version(version),
                    Err(_) => Listed::Text(text.clone()),
                })
                .collect();
            rules.push(PackageRule {
                name,
                ranges,
                listed,
            });
        }
        Ok(Self { record, rules })
    }

    /// Whether the record affects `name` at `version`.
    pub(crate) fn affects(&self, name: &PackageName, version: &Version) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.name == *name && rule.affects(version))
    }

    /// Every `fixed` bound the record gives for `name`.
    pub(crate) fn fixes<'a>(&'a self, name: &'a PackageName) -> impl Iterator<Item = &'a Version> {
        self.rules
            .iter()
            .filter(move |rule| rule.name == *name)
            .flat_map(PackageRule::fixes)
    }
}
