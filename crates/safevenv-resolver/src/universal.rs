//! Universal resolution: one resolution per environment of a fixed table, merged into one set
//! of `(name, version)` entries, each with the marker of the environments it is for.
//!
//! This is a layer above [`crate::resolve`]: every environment ("fork") is resolved by the same
//! PubGrub resolver with its own markers and tags, the first fork's versions are preferences of
//! the others so that forks agree where they can, and the forks share one [`PackageSource`], so
//! an index page or a distribution's metadata is fetched once per run whatever the number of
//! forks. The merge gives each `(name, version)` the OR of the markers of the forks that chose
//! it, simplified (`MarkerTree::restrict`) under the assumption that the installing environment
//! is one the lock covers; installers check that assumption against the lock's
//! `environments` and `requires-python` first. Versions of one name therefore get disjoint
//! markers: each fork chose one version, and fork markers are disjoint.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use uv_distribution_filename::WheelFilename;
use uv_normalize::{ExtraName, PackageName};
use uv_pep440::{Version, VersionSpecifiers};
use uv_pep508::{MarkerEnvironment, MarkerEnvironmentBuilder, MarkerTree};
use uv_platform_tags::{Arch, Os, Platform, Tags, TagsOptions};

use crate::{
    FileEntry, Manifest, PackageSource, ResolveEnv, ResolveError, ResolvedDist, Yanked, resolve,
};

/// The newest CPython minor version the environment table knows, and when the table was last
/// brought up to date (CPython 3.14.0 was released on 2025-10-07). Newer minors are covered by
/// markers that hold for them (`python_version >= '3.12'`) but are not resolved for.
pub const NEWEST_PYTHON_MINOR: (u8, u8) = (3, 14);

/// The date [`NEWEST_PYTHON_MINOR`] and [`MACHINES`] were checked.
pub const TABLE_DATE: &str = "2025-10-07";

/// The oldest CPython minor a universal lock resolves for when nothing narrows it.
pub const OLDEST_PYTHON_MINOR: (u8, u8) = (3, 8);

/// The glibc version the Linux environments assume: manylinux wheels up to `manylinux_2_41`
/// (Debian 13's glibc) serve them. musllinux wheels serve none of them.
pub const LINUX_GLIBC: (u16, u16) = (2, 41);

/// The macOS version the macOS environments assume: wheels for macOS up to 15 serve them.
pub const MACOS: (u16, u16) = (15, 0);

/// An operating system of the environment table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OsFamily {
    /// Linux with glibc ([`LINUX_GLIBC`]).
    Linux,
    /// macOS ([`MACOS`]).
    Macos,
    /// Windows.
    Windows,
}

impl OsFamily {
    /// The `sys_platform` marker value.
    pub fn sys_platform(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Macos => "darwin",
            Self::Windows => "win32",
        }
    }

    fn platform_system(self) -> &'static str {
        match self {
            Self::Linux => "Linux",
            Self::Macos => "Darwin",
            Self::Windows => "Windows",
        }
    }

    fn os_name(self) -> &'static str {
        match self {
            Self::Windows => "nt",
            Self::Linux | Self::Macos => "posix",
        }
    }
}

/// One machine of the environment table: an operating system, an architecture, and the
/// `platform_machine` CPython reports there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    /// The operating system.
    pub os: OsFamily,
    /// The architecture, for wheel tags.
    pub arch: Arch,
    /// `platform_machine` as CPython reports it on that system.
    pub platform_machine: &'static str,
}

/// The machines a universal lock covers: the 64-bit Intel and ARM machines of Linux and macOS,
/// and 64-bit Intel Windows. Windows on ARM is left out: many projects publish no `win_arm64`
/// wheel, and safevenv installs wheels only, so covering it would make most locks fail.
pub const MACHINES: &[Machine] = &[
    Machine {
        os: OsFamily::Linux,
        arch: Arch::X86_64,
        platform_machine: "x86_64",
    },
    Machine {
        os: OsFamily::Linux,
        arch: Arch::Aarch64,
        platform_machine: "aarch64",
    },
    Machine {
        os: OsFamily::Macos,
        arch: Arch::Aarch64,
        platform_machine: "arm64",
    },
    Machine {
        os: OsFamily::Macos,
        arch: Arch::X86_64,
        platform_machine: "x86_64",
    },
    Machine {
        os: OsFamily::Windows,
        arch: Arch::X86_64,
        platform_machine: "AMD64",
    },
];

/// One environment a universal lock is resolved for.
#[derive(Debug, Clone)]
pub struct Fork {
    /// The machine.
    pub machine: Machine,
    /// The CPython minor version.
    pub python: (u8, u8),
    /// The marker that holds exactly in this environment (among the covered ones).
    pub marker: MarkerTree,
    /// What the resolver is given.
    pub env: ResolveEnv,
}

impl Fork {
    /// A CPython `python` environment on `machine`.
    pub fn new(machine: Machine, python: (u8, u8)) -> Result<Self, UniversalError> {
        let invalid = |reason: String| UniversalError::Environment {
            environment: describe(machine, python),
            reason,
        };
        let short = format!("{}.{}", python.0, python.1);
        let full = format!("{short}.0");
        let markers = MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name: machine.os.os_name(),
            platform_machine: machine.platform_machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: machine.os.platform_system(),
            platform_version: "",
            python_full_version: &full,
            python_version: &short,
            sys_platform: machine.os.sys_platform(),
        })
        .map_err(|err| invalid(err.to_string()))?;
        let os = match machine.os {
            OsFamily::Linux => Os::Manylinux {
                major: LINUX_GLIBC.0,
                minor: LINUX_GLIBC.1,
            },
            OsFamily::Macos => Os::Macos {
                major: MACOS.0,
                minor: MACOS.1,
            },
            OsFamily::Windows => Os::Windows,
        };
        let tags = Tags::from_env(
            Platform::new(os, machine.arch),
            python,
            "cpython",
            python,
            TagsOptions {
                manylinux_compatible: machine.os == OsFamily::Linux,
                gil_disabled: false,
                debug_enabled: false,
                is_cross: true,
            },
        )
        .map_err(|err| invalid(err.to_string()))?;
        let marker_text = format!(
            "python_version == '{short}' and sys_platform == '{}' and platform_machine == '{}'",
            machine.os.sys_platform(),
            machine.platform_machine
        );
        let marker = MarkerTree::from_str(&marker_text).map_err(|err| invalid(err.to_string()))?;
        let python_version = Version::from_str(&full).map_err(|err| invalid(err.to_string()))?;
        Ok(Self {
            machine,
            python,
            marker,
            env: ResolveEnv {
                markers,
                tags,
                python_version,
            },
        })
    }

    /// The environment, for messages: `CPython 3.12 on linux x86_64`.
    pub fn describe(&self) -> String {
        describe(self.machine, self.python)
    }
}

fn describe(machine: Machine, python: (u8, u8)) -> String {
    format!(
        "CPython {}.{} on {} {}",
        python.0,
        python.1,
        machine.os.sys_platform(),
        machine.platform_machine
    )
}

/// The environments of the table that `requires_python` allows (compared on `X.Y.0`, and on the
/// newest patch of a minor when `X.Y.0` is excluded by a patch-level lower bound) and that hold
/// at least one of `environments` (none: all), in table order: machines, then Python versions
/// newest first. `machines` narrows the table (`--python-platform`), `python` picks one minor.
pub fn forks(
    requires_python: &VersionSpecifiers,
    environments: &[MarkerTree],
    machines: &[Machine],
    python: Option<(u8, u8)>,
) -> Result<Vec<Fork>, UniversalError> {
    let minors: Vec<(u8, u8)> = match python {
        Some(python) => vec![python],
        None => (OLDEST_PYTHON_MINOR.1..=NEWEST_PYTHON_MINOR.1)
            .rev()
            .map(|minor| (3, minor))
            .filter(|&(major, minor)| {
                // `>=3.9.2` admits Python 3.9: a minor is in when some patch of it is.
                [0, 99].iter().any(|patch| {
                    requires_python.contains(&Version::new([
                        u64::from(major),
                        u64::from(minor),
                        *patch,
                    ]))
                })
            })
            .collect(),
    };
    let mut forks = Vec::new();
    for machine in machines {
        for &minor in &minors {
            let fork = Fork::new(*machine, minor)?;
            if environments.is_empty()
                || environments
                    .iter()
                    .any(|marker| marker.evaluate(&fork.env.markers, &[]))
            {
                forks.push(fork);
            }
        }
    }
    Ok(forks)
}

/// The marker that holds in every environment `forks` covers: each covered operating system
/// with its machines, for CPython (one marker per operating system, as PEP 751
/// `environments` lists them). The Python versions are the lock's `requires-python`.
pub fn covered_environments(forks: &[Fork]) -> Result<Vec<MarkerTree>, UniversalError> {
    let mut by_os: BTreeMap<OsFamily, BTreeSet<&'static str>> = BTreeMap::new();
    for fork in forks {
        by_os
            .entry(fork.machine.os)
            .or_default()
            .insert(fork.machine.platform_machine);
    }
    by_os
        .into_iter()
        .map(|(os, machines)| {
            let machines: Vec<String> = machines
                .iter()
                .map(|machine| format!("platform_machine == '{machine}'"))
                .collect();
            let text = format!(
                "implementation_name == 'cpython' and sys_platform == '{}' and ({})",
                os.sys_platform(),
                machines.join(" or ")
            );
            MarkerTree::from_str(&text).map_err(|err| UniversalError::Environment {
                environment: text.clone(),
                reason: err.to_string(),
            })
        })
        .collect()
}

/// A [`Manifest`] resolved for every fork, merged.
#[derive(Debug, Clone)]
pub struct UniversalResolution {
    /// One entry per `(name, version)`, sorted by name then version.
    pub distributions: Vec<UniversalDist>,
}

/// One `(name, version)` of a [`UniversalResolution`].
#[derive(Debug, Clone)]
pub struct UniversalDist {
    /// The project.
    pub name: PackageName,
    /// The version.
    pub version: Version,
    /// Where it is installed: the OR of the markers of the forks that chose it, restricted to
    /// the covered environments. [`MarkerTree::TRUE`] when every fork chose it.
    pub marker: MarkerTree,
    /// Every wheel of the version that serves at least one fork that chose it (its tags and
    /// Requires-Python hold there), sorted by file name. Yanked wheels only when a fork chose
    /// a yanked one (its version is pinned, PEP 592).
    pub wheels: Vec<FileEntry>,
    /// The extras something requires, in any fork.
    pub extras: BTreeSet<ExtraName>,
    /// What it depends on, in any fork that chose it: each dependency's name, and its version
    /// when the dependency has several versions in the lock.
    pub dependencies: BTreeSet<(PackageName, Option<Version>)>,
    /// Whether a requirement of the manifest names it.
    pub requested: bool,
    /// The descriptions of the forks that chose it.
    pub forks: Vec<String>,
}

/// Why universal resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum UniversalError {
    /// No environment of the table is left after `requires-python` and the environments.
    #[error("no environment to resolve for: {reason}")]
    NoEnvironment {
        /// What narrowed the table to nothing.
        reason: String,
    },
    /// A fork's marker environment or tags could not be built.
    #[error("invalid environment `{environment}`: {reason}")]
    Environment {
        /// The environment.
        environment: String,
        /// Why.
        reason: String,
    },
    /// One environment has no solution.
    #[error("resolution for {environment} failed")]
    Fork {
        /// The environment.
        environment: String,
        /// Why.
        #[source]
        source: ResolveError,
    },
}

/// Resolves `manifest` for each of `forks` (the first alone, then the others concurrently with
/// the first one's versions as preferences) and merges the results.
pub fn resolve_universal(
    manifest: &Manifest,
    source: &dyn PackageSource,
    forks: &[Fork],
) -> Result<UniversalResolution, UniversalError> {
    let Some((first, rest)) = forks.split_first() else {
        return Err(UniversalError::NoEnvironment {
            reason: "the table has no environment that the environments and requires-python allow"
                .to_string(),
        });
    };
    let fork_error = |fork: &Fork, source| UniversalError::Fork {
        environment: fork.describe(),
        source,
    };
    let first_resolution =
        resolve(manifest, source, &first.env).map_err(|e| fork_error(first, e))?;
    let mut preferred = manifest.clone();
    for dist in &first_resolution.distributions {
        preferred
            .preferences
            .entry(dist.name.clone())
            .or_insert_with(|| dist.version.clone());
    }
    let results: Mutex<Vec<Option<Result<crate::Resolution, ResolveError>>>> =
        Mutex::new((0..rest.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(rest.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(fork) = rest.get(i) else { break };
                    let result = resolve(&preferred, source, &fork.env);
                    if let Some(slot) = results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get_mut(i)
                    {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    let mut resolutions = vec![(first, first_resolution)];
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (fork, result) in rest.iter().zip(results) {
        let resolution = result
            .ok_or_else(|| UniversalError::Environment {
                environment: fork.describe(),
                reason: "its resolution did not finish".to_string(),
            })?
            .map_err(|e| fork_error(fork, e))?;
        resolutions.push((fork, resolution));
    }
    merge(source, &resolutions)
}

/// One `(name, version)` as the forks chose it.
struct Chosen<'a> {
    forks: Vec<&'a Fork>,
    dists: Vec<&'a ResolvedDist>,
}

fn merge(
    source: &dyn PackageSource,
    resolutions: &[(&Fork, crate::Resolution)],
) -> Result<UniversalResolution, UniversalError> {
    let mut chosen: BTreeMap<(PackageName, Version), Chosen<'_>> = BTreeMap::new();
    for (fork, resolution) in resolutions {
        for dist in &resolution.distributions {
            let entry = chosen
                .entry((dist.name.clone(), dist.version.clone()))
                .or_insert_with(|| Chosen {
                    forks: Vec::new(),
                    dists: Vec::new(),
                });
            entry.forks.push(fork);
            entry.dists.push(dist);
        }
    }
    let mut versions_of: BTreeMap<&PackageName, usize> = BTreeMap::new();
    for (name, _) in chosen.keys() {
        *versions_of.entry(name).or_default() += 1;
    }
    let covered = resolutions
        .iter()
        .fold(MarkerTree::FALSE, |all, (fork, _)| all.or(fork.marker));
    let mut markers: BTreeMap<&(PackageName, Version), MarkerTree> = chosen
        .iter()
        .map(|(key, entry)| {
            let exact = entry
                .forks
                .iter()
                .fold(MarkerTree::FALSE, |all, fork| all.or(fork.marker));
            (key, exact.restrict(covered))
        })
        .collect();
    // Restricted markers agree with the exact ones inside the covered environments only: where
    // two versions of one name would overlap outside them, both keep their exact markers, so
    // an installer never finds two entries for one name (PEP 751).
    let keys: Vec<&(PackageName, Version)> = chosen.keys().collect();
    for (i, first) in keys.iter().enumerate() {
        for second in keys.iter().skip(i + 1) {
            if first.0 != second.0 {
                continue;
            }
            if !markers[first].is_disjoint(markers[second]) {
                for key in [*first, *second] {
                    let exact = chosen[key]
                        .forks
                        .iter()
                        .fold(MarkerTree::FALSE, |all, fork| all.or(fork.marker));
                    markers.insert(key, exact);
                }
            }
        }
    }
    let mut distributions = Vec::new();
    for (key, entry) in &chosen {
        let (name, version) = key;
        let project = source
            .versions(name)
            .map_err(|source| UniversalError::Fork {
                environment: entry.forks[0].describe(),
                source: ResolveError::Source {
                    name: name.clone(),
                    source,
                },
            })?;
        let yanked_chosen = entry
            .dists
            .iter()
            .any(|dist| !matches!(dist.file.yanked, Yanked::No));
        let mut wheels: Vec<FileEntry> = project
            .versions
            .get(version)
            .into_iter()
            .flatten()
            .filter(|file| yanked_chosen || matches!(file.yanked, Yanked::No))
            .filter(|file| {
                let Ok(wheel) = WheelFilename::from_str(&file.filename) else {
                    return false;
                };
                entry.forks.iter().any(|fork| {
                    wheel.compatibility(&fork.env.tags).is_compatible()
                        && file.requires_python.as_ref().is_none_or(|requires| {
                            requires.contains(&fork.env.python_version.only_release())
                        })
                })
            })
            .cloned()
            .collect();
        // The chosen files are always locked, even if the index no longer lists them as the
        // resolution saw them (an overlay's direct wheel, say).
        for dist in &entry.dists {
            if !wheels
                .iter()
                .any(|file| file.filename == dist.file.filename)
            {
                wheels.push(dist.file.clone());
            }
        }
        wheels.sort_by(|a, b| a.filename.cmp(&b.filename));
        let mut dependencies = BTreeSet::new();
        for (fork_index, dist) in entry.dists.iter().enumerate() {
            let fork = entry.forks[fork_index];
            let resolution = resolutions
                .iter()
                .find(|(candidate, _)| std::ptr::eq(*candidate, fork))
                .map(|(_, resolution)| resolution);
            for edge in &dist.dependencies {
                let several = versions_of.get(&edge.name).copied().unwrap_or(0) > 1;
                let dep_version = several
                    .then(|| {
                        resolution.and_then(|resolution| {
                            resolution
                                .distributions
                                .iter()
                                .find(|other| other.name == edge.name)
                                .map(|other| other.version.clone())
                        })
                    })
                    .flatten();
                dependencies.insert((edge.name.clone(), dep_version));
            }
        }
        distributions.push(UniversalDist {
            name: name.clone(),
            version: version.clone(),
            marker: markers[key],
            wheels,
            extras: entry
                .dists
                .iter()
                .flat_map(|dist| dist.extras.iter().cloned())
                .collect(),
            dependencies,
            requested: entry.dists.iter().any(|dist| dist.requested),
            forks: entry.forks.iter().map(|fork| fork.describe()).collect(),
        });
    }
    Ok(UniversalResolution { distributions })
}
