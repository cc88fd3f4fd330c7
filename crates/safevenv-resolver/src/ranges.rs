//! PEP 440 version ranges as PubGrub version sets.

use std::fmt;
use std::ops::Bound;
use std::str::FromStr;

use pubgrub::{Ranges, VersionSet};
use uv_pep440::{LocalVersionSlice, Version, VersionSpecifiers};

/// A set of versions of one project, displayed as PEP 440 specifiers (`>=2`, `==1.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange(Ranges<Version>);

impl VersionRange {
    /// The versions that satisfy `specifiers`, with PEP 440's rules for local versions
    /// (`1.0+local` satisfies `==1.0`) and for `<V` / `>V` (which exclude V's pre- and
    /// post-releases).
    pub fn from_specifiers(specifiers: &VersionSpecifiers) -> Self {
        // uv-pep440 knows PEP 440's rules but writes them into astral's fork of version-ranges;
        // pubgrub 0.4 takes its own `Ranges`. Both model a set as sorted disjoint segments, so the
        // bridge copies segment by segment.
        let astral: version_ranges::Ranges<Version> = specifiers.clone().into();
        Self(astral.iter().fold(Ranges::empty(), |set, (lower, upper)| {
            set.union(&Ranges::from_range_bounds((lower.cloned(), upper.cloned())))
        }))
    }

    /// Every version.
    pub fn any() -> Self {
        Self(Ranges::full())
    }

    /// Exactly `version`.
    pub fn exactly(version: Version) -> Self {
        Self(Ranges::singleton(version))
    }

    /// Whether `version` is in the set.
    pub fn contains(&self, version: &Version) -> bool {
        self.0.contains(version)
    }

    /// Whether no version is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every version is in the set.
    pub fn is_any(&self) -> bool {
        self.0 == Ranges::full()
    }
}

impl VersionSet for VersionRange {
    type V = Version;

    fn empty() -> Self {
        Self(Ranges::empty())
    }

    fn singleton(v: Version) -> Self {
        Self(Ranges::singleton(v))
    }

    fn complement(&self) -> Self {
        Self(self.0.complement())
    }

    fn intersection(&self, other: &Self) -> Self {
        Self(self.0.intersection(&other.0))
    }

    fn contains(&self, v: &Version) -> bool {
        self.0.contains(v)
    }

    fn full() -> Self {
        Self(Ranges::full())
    }

    fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0))
    }
}

/// Drops the largest-local-version sentinel uv-pep440 puts on bounds, so that `<=2` does not
/// print as `<=2+`. (Its `min`/`max` sentinels are not printed by `Version`'s `Display`.)
fn plain(version: &Version) -> Version {
    if version.local() == LocalVersionSlice::Max {
        version.clone().without_local()
    } else {
        version.clone()
    }
}

/// Whether `version` carries a sentinel `Display` does not show (`min`, `max`): its text then
/// names another version.
fn has_hidden_sentinel(version: &Version) -> bool {
    Version::from_str(&version.to_string()).ok().as_ref() != Some(version)
}

/// `version` with the largest local version: the upper end of `==version`.
fn is_local_ceiling_of(upper: &Version, lower: &Version) -> bool {
    upper.local() == LocalVersionSlice::Max && upper.clone().without_local() == *lower
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(" (no version)");
        }
        for (index, (lower, upper)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" | ")?;
            }
            match (lower, upper) {
                (Bound::Unbounded, Bound::Unbounded) => f.write_str("*")?,
                (Bound::Included(low), Bound::Included(high)) if low == high => {
                    write!(f, "=={low}")?;
                }
                (Bound::Included(low), Bound::Included(high) | Bound::Excluded(high))
                    if low.local().is_empty() && is_local_ceiling_of(high, low) =>
                {
                    write!(f, "=={low}")?;
                }
                _ => {
                    match lower {
                        // `!=1.5` starts just above 1.5, at a sentinel that prints as `1.5`.
                        Bound::Included(low) if has_hidden_sentinel(low) => {
                            write!(f, ">{}", plain(low))?;
                        }
                        Bound::Included(low) => write!(f, ">={}", plain(low))?,
                        Bound::Excluded(low) => write!(f, ">{}", plain(low))?,
                        Bound::Unbounded => {}
                    }
                    if !matches!(lower, Bound::Unbounded) && !matches!(upper, Bound::Unbounded) {
                        f.write_str(",")?;
                    }
                    match upper {
                        Bound::Included(high) => write!(f, "<={}", plain(high))?,
                        // `~=1.4` ends before `2.dev0`, the first version of 2: print `<2`.
                        Bound::Excluded(high)
                            if high.dev() == Some(0)
                                && high.epoch() == 0
                                && high.pre().is_none()
                                && high.post().is_none()
                                && high.local().is_empty() =>
                        {
                            write!(f, "<{}", high.only_release())?;
                        }
                        Bound::Excluded(high) => write!(f, "<{}", plain(high))?,
                        Bound::Unbounded => {}
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(specifiers: &str) -> VersionRange {
        VersionRange::from_specifiers(&VersionSpecifiers::from_str(specifiers).unwrap())
    }

    fn v(version: &str) -> Version {
        Version::from_str(version).unwrap()
    }

    #[test]
    fn bridge_keeps_pep440_semantics() {
        let eq = range("==1.0");
        assert!(eq.contains(&v("1.0")));
        assert!(
            eq.contains(&v("1.0+local")),
            "a local version satisfies `==1.0`"
        );
        assert!(!eq.contains(&v("1.0.post1")));
        assert!(!range("==1.0+a").contains(&v("1.0+b")));

        let below = range("<2.0");
        assert!(below.contains(&v("1.9")));
        assert!(
            !below.contains(&v("2.0a1")),
            "`<2.0` excludes pre-releases of 2.0"
        );
        assert!(range("<2.0a2").contains(&v("2.0a1")));

        let above = range(">1.0");
        assert!(
            !above.contains(&v("1.0.post1")),
            "`>1.0` excludes post-releases of 1.0"
        );
        assert!(above.contains(&v("1.1")));

        let compatible = range("~=1.4");
        assert!(compatible.contains(&v("1.9")));
        assert!(!compatible.contains(&v("2.0")));
        assert!(!compatible.contains(&v("1.3")));

        let not_eq = range("!=1.5");
        assert!(!not_eq.contains(&v("1.5")));
        assert!(not_eq.contains(&v("1.4")) && not_eq.contains(&v("1.6")));

        assert!(range(">=1,<1").is_empty());
        assert!(range("").is_any());
    }

    #[test]
    fn displays_as_specifiers() {
        assert_eq!(range(">=2").to_string(), ">=2");
        assert_eq!(range("==1.0").to_string(), "==1.0");
        assert_eq!(range("<2").to_string(), "<2");
        assert_eq!(range(">1.0").to_string(), ">1.0");
        assert_eq!(range("<=3").to_string(), "<=3");
        assert_eq!(range("~=1.4").to_string(), ">=1.4,<2");
        assert_eq!(range(">=1,<2").to_string(), ">=1,<2");
        assert_eq!(range("!=1.5").to_string(), "<1.5 | >1.5");
        assert_eq!(range("===1.0").to_string(), "==1.0");
        assert_eq!(VersionRange::any().to_string(), "*");
    }
}
