//! What to install, remove and keep.

use std::collections::BTreeMap;

use uv_normalize::PackageName;
use uv_pep440::Version;
use uv_pypi_types::DirectUrl;

use crate::{InstalledDist, Unkept};

/// A distribution the environment should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// Its name.
    pub name: PackageName,
    /// Its version.
    pub version: Version,
    /// Whether the user asked for it (PEP 376 `REQUESTED`), not only a dependency.
    pub requested: bool,
    /// Where it came from, when not from an index (PEP 610 `direct_url.json`).
    pub direct_url: Option<DirectUrl>,
    /// The SHA-256 of the archive it is installed from (the lockfile's pin), which its receipt
    /// records: an installed copy is kept only when its receipt names this archive. `None`
    /// when not known (any archive safevenv installed it from then does).
    pub artifact_sha256: Option<[u8; 32]>,
}

/// The difference between what is installed and what is wanted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Distributions to install (new ones, and the new versions of upgraded ones).
    pub install: Vec<Install>,
    /// Installed distributions to remove (the old versions of upgraded ones, and, when asked,
    /// those not wanted at all).
    pub remove: Vec<InstalledDist>,
    /// Installed distributions left as they are.
    pub keep: Vec<InstalledDist>,
    /// Installed distributions of a wanted name and version that are reinstalled (also in
    /// `remove` and `install`), and why they were not kept.
    pub not_intact: Vec<(PackageName, Unkept)>,
}

impl Plan {
    /// `intact` says whether an installed distribution of a wanted name and version is still
    /// what safevenv installed for it (its receipt); one that is not is reinstalled.
    pub(crate) fn new(
        installed: Vec<InstalledDist>,
        wanted: &[Install],
        remove_extraneous: bool,
        intact: &dyn Fn(&InstalledDist, &Install) -> Result<(), Unkept>,
    ) -> Self {
        let mut plan = Self::default();
        let mut copies: BTreeMap<PackageName, usize> = BTreeMap::new();
        for dist in &installed {
            *copies.entry(dist.name.clone()).or_default() += 1;
        }
        for dist in installed {
            let count = copies.get(&dist.name).copied().unwrap_or_default();
            let wants_name = wanted.iter().any(|want| want.name == dist.name);
            let exact = wanted
                .iter()
                .find(|want| want.name == dist.name && want.version == dist.version);
            let wants_exactly = match exact {
                Some(want) if count == 1 => match intact(&dist, want) {
                    Ok(()) => true,
                    Err(unkept) => {
                        plan.not_intact.push((dist.name.clone(), unkept));
                        false
                    }
                },
                _ => false,
            };
            // Two `.dist-info` of one name (a broken environment) may share files: both go and
            // the wanted one is installed afresh, so removing one cannot break the other.
            if wants_exactly || !wants_name && !remove_extraneous {
                plan.keep.push(dist);
            } else {
                plan.remove.push(dist);
            }
        }
        for want in wanted {
            let kept = plan
                .keep
                .iter()
                .any(|dist| dist.name == want.name && dist.version == want.version);
            let planned = plan.install.iter().any(|install| install.name == want.name);
            if !kept && !planned {
                plan.install.push(want.clone());
            }
        }
        plan
    }

    /// Whether the environment already holds what is wanted (nothing to do).
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::str::FromStr;

    use super::*;

    fn dist(name: &str, version: &str) -> InstalledDist {
        InstalledDist {
            name: PackageName::from_str(name).unwrap(),
            version: Version::from_str(version).unwrap(),
            dist_info: PathBuf::from(format!("{name}-{version}.dist-info")),
            record: None,
            installer: None,
            requested: false,
        }
    }

    fn want(name: &str, version: &str) -> Install {
        Install {
            name: PackageName::from_str(name).unwrap(),
            version: Version::from_str(version).unwrap(),
            requested: true,
            direct_url: None,
            artifact_sha256: None,
        }
    }

    fn intact(_: &InstalledDist, _: &Install) -> Result<(), Unkept> {
        Ok(())
    }

    fn names(dists: &[InstalledDist]) -> Vec<String> {
        dists
            .iter()
            .map(|dist| format!("{}=={}", dist.name, dist.version))
            .collect()
    }

    #[test]
    fn same_versions_make_an_empty_plan() {
        let plan = Plan::new(
            vec![dist("a", "1"), dist("b", "2")],
            &[want("a", "1"), want("b", "2")],
            true,
            &intact,
        );
        assert!(plan.is_empty());
        assert_eq!(names(&plan.keep), ["a==1", "b==2"]);
    }

    #[test]
    fn upgrade_removes_the_old_version() {
        let plan = Plan::new(vec![dist("a", "1")], &[want("a", "2")], false, &intact);
        assert_eq!(names(&plan.remove), ["a==1"]);
        assert_eq!(plan.install, [want("a", "2")]);
    }

    #[test]
    fn extraneous_are_removed_only_when_asked() {
        let installed = vec![dist("a", "1"), dist("extra", "1")];
        let keep = Plan::new(installed.clone(), &[want("a", "1")], false, &intact);
        assert!(keep.is_empty());
        let sync = Plan::new(installed, &[want("a", "1")], true, &intact);
        assert_eq!(names(&sync.remove), ["extra==1"]);
        assert!(sync.install.is_empty());
    }

    #[test]
    fn a_wanted_version_that_is_not_intact_is_reinstalled() {
        let not_b = |dist: &InstalledDist, _: &Install| {
            if dist.name.as_ref() == "b" {
                Err(Unkept::Changed)
            } else {
                Ok(())
            }
        };
        let plan = Plan::new(
            vec![dist("a", "1"), dist("b", "2")],
            &[want("a", "1"), want("b", "2")],
            true,
            &not_b,
        );
        assert_eq!(names(&plan.keep), ["a==1"]);
        assert_eq!(names(&plan.remove), ["b==2"]);
        assert_eq!(plan.install, [want("b", "2")]);
        assert_eq!(plan.not_intact, [(want("b", "2").name, Unkept::Changed)]);
    }

    #[test]
    fn duplicate_dist_info_is_reinstalled() {
        let plan = Plan::new(
            vec![dist("a", "1"), dist("a", "2")],
            &[want("a", "2")],
            false,
            &intact,
        );
        assert!(plan.keep.is_empty());
        assert_eq!(names(&plan.remove), ["a==1", "a==2"]);
        assert_eq!(plan.install, [want("a", "2")]);
    }
}
