//! Where every file of a wheel lands in the environment: one model, shared by the policy gate
//! (which judges these paths) and the installer (which refuses to place anything else).
//!
//! Invariant: a content rule keys on a file's **final path**, relative to the environment's
//! root, after the install scheme (root and `.data/purelib|platlib` → site-packages, `scripts` →
//! the scripts directory, `headers` → `include/<name>`, `data` → the root) and after the
//! environment's own links (`lib64` → `lib`). Threat: rules keyed on a file's place *in the
//! archive* miss what the scheme moves elsewhere: `.data/data/lib/python3.X/site-packages/x.pth`
//! is a `.pth` file that `site.py` runs, `.data/data/bin/python` replaces the interpreter,
//! `.data/data/lib64/...` lands in `lib/` through the environment's link. The installer checks
//! the staged tree against the same model ([`check_staged`]), so whatever uv's installer
//! really writes is what was judged.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use safevenv_policy::{
    ArchiveProblem, ArchiveProblemKind, ContentsFacts, EnvironmentFile, PthCodeLine, PthFile,
};
use safevenv_wheel::{Category, DataCategory, PthLineKind, WheelInfo};

use crate::layout::normalize;
use crate::{EnvironmentLayout, InstallError, STATE_DIR};

/// How many links one path may go through before it is refused (as the kernel's `ELOOP`).
const MAX_LINKS: usize = 16;

/// A path that cannot be placed: it goes through a link of the environment that leads outside
/// it, or through too many links.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` would be written through the link `{link}`, which leads outside the environment")]
pub struct LinkEscape {
    /// The path, relative to the environment's root.
    pub path: String,
    /// The link, relative to the environment's root.
    pub link: String,
}

/// Where one file of a wheel lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Landing {
    /// Its final path, relative to the environment's root, with `/` separators.
    pub(crate) path: String,
    /// Its path in the archive; `None` for files the installer writes itself (console scripts,
    /// `INSTALLER`, `REQUESTED`, `direct_url.json`, the rewritten `RECORD`).
    pub(crate) archive_path: Option<String>,
}

/// The final paths of one wheel's files.
#[derive(Debug, Clone)]
pub(crate) struct WheelLandings {
    /// Every file, each final path once.
    pub(crate) files: Vec<Landing>,
    /// Paths that cannot be placed at all.
    pub(crate) escapes: Vec<LinkEscape>,
}

/// What the content rules need to know about where a set of wheels lands (see
/// [`Destinations::judge`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LandedFacts {
    /// Every final path.
    pub(crate) files: Vec<String>,
    /// Names of the files that land directly in the scripts directory.
    pub(crate) scripts: Vec<String>,
    /// `.pth` files where `site.py` processes them: `(final path, archive path)`.
    pub(crate) pth_files: Vec<(String, String)>,
    /// Importable top-level names (at the top of site-packages, or of a directory a `.pth`
    /// file of the set adds to the path).
    pub(crate) top_level: BTreeSet<String>,
    /// Final paths of `sitecustomize` / `usercustomize` modules Python would import at start.
    pub(crate) startup_hooks: Vec<String>,
    /// `(final path, what of the environment it is)` for files the environment owns.
    pub(crate) environment_files: Vec<(String, &'static str)>,
}

/// The environment's scheme as paths relative to its root, and a memo of its links.
#[derive(Debug)]
pub struct Destinations {
    prefix: PathBuf,
    purelib: PathBuf,
    platlib: PathBuf,
    scripts: PathBuf,
    include: PathBuf,
    data: PathBuf,
    /// `lib/pythonX.Y` (and the parent of site-packages when it is named for Python): the
    /// interpreter's own directory, of which a wheel may write only site-packages.
    stdlib: Vec<PathBuf>,
    windows: bool,
    /// Directories already resolved: relative path → resolved relative path, or `None` when it
    /// does not exist in the environment (nor anything below it).
    resolved: Mutex<HashMap<PathBuf, Resolved>>,
}

#[derive(Debug, Clone)]
enum Resolved {
    Exists(PathBuf),
    Missing(PathBuf),
    Escapes(PathBuf),
}

impl Destinations {
    /// The model for `layout`'s environment. Links are looked up lazily, once per directory.
    pub fn new(layout: &EnvironmentLayout) -> Self {
        let relative = |path: &Path| layout.relative(path).unwrap_or_default();
        let purelib = relative(&layout.scheme.purelib);
        let mut stdlib = vec![PathBuf::from(format!(
            "lib/python{}.{}",
            layout.python_version.0, layout.python_version.1
        ))];
        for site in [&purelib, &relative(&layout.scheme.platlib)] {
            if let Some(parent) = site.parent()
                && parent
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with("python"))
                && !stdlib.iter().any(|known| known == parent)
            {
                stdlib.push(parent.to_path_buf());
            }
        }
        Self {
            prefix: layout.prefix.clone(),
            platlib: relative(&layout.scheme.platlib),
            scripts: relative(&layout.scheme.scripts),
            include: relative(&layout.scheme.include),
            data: relative(&layout.scheme.data),
            purelib,
            stdlib,
            windows: layout.os_name == "nt",
            resolved: Mutex::new(HashMap::new()),
        }
    }

    /// Where each file of `wheel` lands, including what the installer writes itself.
    pub(crate) fn of(&self, wheel: &WheelInfo) -> WheelLandings {
        let site_packages = if wheel.root_is_purelib() {
            &self.purelib
        } else {
            &self.platlib
        };
        let headers = self.include.join(wheel.filename().name.as_str());
        let mut planned: Vec<(PathBuf, Option<String>)> = Vec::new();
        for file in wheel.files() {
            let base = match file.category {
                Category::Root | Category::DistInfo => site_packages,
                Category::Data(DataCategory::Purelib) => &self.purelib,
                Category::Data(DataCategory::Platlib) => &self.platlib,
                Category::Data(DataCategory::Scripts) => &self.scripts,
                Category::Data(DataCategory::Data) => &self.data,
                Category::Data(DataCategory::Headers) => &headers,
            };
            planned.push((base.join(&file.install_path), Some(file.path.clone())));
        }
        let entry_points = wheel.entry_points();
        for script in entry_points
            .console_scripts
            .iter()
            .chain(&entry_points.gui_scripts)
        {
            planned.push((self.scripts.join(&script.name), None));
            if self.windows {
                planned.push((self.scripts.join(format!("{}.exe", script.name)), None));
            }
        }
        let dist_info = site_packages.join(wheel.dist_info());
        for generated in ["INSTALLER", "REQUESTED", "direct_url.json", "RECORD"] {
            planned.push((dist_info.join(generated), None));
        }

        let mut seen = BTreeSet::new();
        let mut landings = WheelLandings {
            files: Vec::with_capacity(planned.len()),
            escapes: Vec::new(),
        };
        for (path, archive_path) in planned {
            match self.resolve(&path) {
                Ok(resolved) => {
                    let resolved = portable(&resolved);
                    if seen.insert(resolved.clone()) {
                        landings.files.push(Landing {
                            path: resolved,
                            archive_path,
                        });
                    }
                }
                Err(escape) => landings.escapes.push(escape),
            }
        }
        landings
    }

    /// What the content rules judge, for the wheels of one set (each with its landings): the
    /// directories that the set's `.pth` files add to the path are importable roots for all of
    /// them, as `site.py` makes them for every module.
    pub(crate) fn judge(&self, wheels: &[(&WheelInfo, &WheelLandings)]) -> Vec<LandedFacts> {
        let mut roots: BTreeSet<String> = [&self.purelib, &self.platlib]
            .into_iter()
            .map(|dir| portable(dir))
            .collect();
        let pth_of = |wheel: &WheelInfo, landings: &WheelLandings| {
            landings
                .files
                .iter()
                .filter(|landing| self.is_processed_pth(&landing.path))
                .filter_map(|landing| {
                    let archive = landing.archive_path.as_deref()?;
                    let pth = wheel.pth_files().iter().find(|pth| pth.path == archive);
                    Some((landing.path.clone(), archive.to_string(), pth.cloned()))
                })
                .collect::<Vec<_>>()
        };
        // `site.addpackage` appends `makepath(sitedir, line)` for a path line: relative lines
        // are joined to the `.pth` file's directory.
        for (wheel, landings) in wheels {
            for (path, _, pth) in pth_of(wheel, landings) {
                let Some(pth) = pth else { continue };
                let dir = Path::new(&path).parent().unwrap_or(Path::new(""));
                for line in pth
                    .lines
                    .iter()
                    .filter(|line| line.kind == PthLineKind::Path)
                {
                    let text = line.text.trim_end();
                    if Path::new(text).is_absolute() {
                        continue;
                    }
                    if let Some(root) = normalize(&dir.join(text))
                        && let Ok(resolved) = self.resolve(&root)
                    {
                        roots.insert(portable(&resolved));
                    }
                }
            }
        }

        wheels
            .iter()
            .map(|(wheel, landings)| {
                let mut facts = LandedFacts {
                    files: landings.files.iter().map(|l| l.path.clone()).collect(),
                    pth_files: pth_of(wheel, landings)
                        .into_iter()
                        .map(|(path, archive, _)| (path, archive))
                        .collect(),
                    ..LandedFacts::default()
                };
                for landing in &landings.files {
                    let path = Path::new(&landing.path);
                    if let Some(owner) = self.environment_owner(path) {
                        facts.environment_files.push((landing.path.clone(), owner));
                    }
                    if path.parent() == Some(self.scripts.as_path())
                        && let Some(name) = path.file_name()
                    {
                        facts.scripts.push(name.to_string_lossy().into_owned());
                    }
                    for root in &roots {
                        let Some(name) = top_level_name(&landing.path, root) else {
                            continue;
                        };
                        let folded = fold(&name);
                        if folded == "sitecustomize" || folded == "usercustomize" {
                            facts.startup_hooks.push(landing.path.clone());
                        }
                        facts.top_level.insert(name);
                    }
                }
                facts
            })
            .collect()
    }

    /// The content facts the gate judges for `wheels` (each with the key of its verified
    /// content), judged as one set. The pipeline builds the facts with this, and the installer
    /// builds them again from the wheels it is about to link and compares digests with the
    /// approval: facts that were not read from those wheels approve nothing.
    pub fn contents_facts(&self, wheels: &[(&WheelInfo, String)]) -> Vec<ContentsFacts> {
        let landings: Vec<WheelLandings> = wheels.iter().map(|(wheel, _)| self.of(wheel)).collect();
        let pairs: Vec<(&WheelInfo, &WheelLandings)> = wheels
            .iter()
            .map(|(wheel, _)| *wheel)
            .zip(&landings)
            .collect();
        let landed = self.judge(&pairs);
        wheels
            .iter()
            .zip(&landings)
            .zip(landed)
            .map(|(((wheel, key), landings), landed)| contents(wheel, key, landings, landed))
            .collect()
    }

    /// Whether `site.py` reads the `.pth` file at `path`: directly in site-packages (or in any
    /// directory named like one, for another Python version's site-packages a data file may
    /// reach). The extension is compared without case: stricter than `site.py`, never looser.
    fn is_processed_pth(&self, path: &str) -> bool {
        let path = Path::new(path);
        let is_pth = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("pth"));
        let Some(parent) = path.parent() else {
            return false;
        };
        let site_dir = parent == self.purelib
            || parent == self.platlib
            || parent.file_name().is_some_and(|name| {
                matches!(
                    fold(&name.to_string_lossy()).as_str(),
                    "site-packages" | "dist-packages"
                )
            });
        is_pth && site_dir
    }

    /// What of the environment `path` (final, relative) would replace, if it is the
    /// environment's own. Names are folded (case, Unicode compatibility forms), as a
    /// case-insensitive or normalising file system would treat them.
    fn environment_owner(&self, path: &Path) -> Option<&'static str> {
        let first = path.components().next().map(|part| {
            let Component::Normal(name) = part else {
                return String::new();
            };
            fold(&name.to_string_lossy())
        })?;
        if first == fold(STATE_DIR) {
            return Some("safevenv's state directory (its lock and journals)");
        }
        if path.components().count() == 1 && first == "pyvenv.cfg" {
            return Some("the environment's configuration");
        }
        if path.parent() == Some(self.scripts.as_path())
            && let Some(name) = path.file_name()
        {
            let name = fold(&name.to_string_lossy());
            let name = name.strip_suffix(".exe").unwrap_or(&name);
            let versioned = |stem: &str| {
                name.strip_prefix(stem).is_some_and(|rest| {
                    rest.is_empty()
                        || rest
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '.' || c == 't')
                })
            };
            if versioned("python") || versioned("pythonw") {
                return Some("the environment's interpreter");
            }
            if name == "activate" || name.starts_with("activate.") || name == "activate_this.py" {
                return Some("one of the environment's activation scripts");
            }
        }
        let in_site_packages = path.starts_with(&self.purelib) || path.starts_with(&self.platlib);
        if !in_site_packages && self.stdlib.iter().any(|dir| path.starts_with(dir)) {
            return Some("in the interpreter's own library directory, outside site-packages");
        }
        None
    }

    /// `path` (relative to the root) with every link of the environment along its directories
    /// followed. The last component is not followed: placing a file replaces a link there.
    fn resolve(&self, path: &Path) -> Result<PathBuf, LinkEscape> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(path.to_path_buf());
        };
        match self.resolve_dir(parent, 0) {
            Resolved::Exists(dir) | Resolved::Missing(dir) => Ok(dir.join(name)),
            Resolved::Escapes(link) => Err(LinkEscape {
                path: portable(path),
                link: portable(&link),
            }),
        }
    }

    fn resolve_dir(&self, dir: &Path, depth: usize) -> Resolved {
        if dir.as_os_str().is_empty() {
            return Resolved::Exists(PathBuf::new());
        }
        if let Some(known) = self.memo().get(dir) {
            return known.clone();
        }
        let outcome = match (dir.parent(), dir.file_name()) {
            (Some(parent), Some(name)) => match self.resolve_dir(parent, depth) {
                Resolved::Exists(base) => self.follow(&base.join(name), dir, depth),
                Resolved::Missing(base) => Resolved::Missing(base.join(name)),
                escape @ Resolved::Escapes(_) => escape,
            },
            _ => Resolved::Escapes(dir.to_path_buf()),
        };
        self.memo().insert(dir.to_path_buf(), outcome.clone());
        outcome
    }

    /// Looks at `candidate` (resolved parent, relative) in the environment.
    fn follow(&self, candidate: &Path, original: &Path, depth: usize) -> Resolved {
        let full = self.prefix.join(candidate);
        let metadata = match fs_err::symlink_metadata(&full) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Resolved::Missing(candidate.to_path_buf());
            }
            // Unreadable: it cannot be told where writing there would land; refuse.
            Err(_) => return Resolved::Escapes(original.to_path_buf()),
        };
        if metadata.is_dir() {
            return Resolved::Exists(candidate.to_path_buf());
        }
        if !metadata.file_type().is_symlink() {
            // A file where a directory will be: it is moved aside, and nothing below it exists.
            return Resolved::Missing(candidate.to_path_buf());
        }
        if depth >= MAX_LINKS {
            return Resolved::Escapes(original.to_path_buf());
        }
        let Ok(target) = fs_err::read_link(&full) else {
            return Resolved::Escapes(original.to_path_buf());
        };
        let joined = if target.is_absolute() {
            target
        } else {
            full.parent().unwrap_or(&self.prefix).join(target)
        };
        let Some(inside) = normalize(&joined)
            .and_then(|path| path.strip_prefix(&self.prefix).ok().map(Path::to_path_buf))
        else {
            return Resolved::Escapes(original.to_path_buf());
        };
        match self.resolve_dir(&inside, depth + 1) {
            Resolved::Escapes(_) => Resolved::Escapes(original.to_path_buf()),
            other => other,
        }
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Resolved>> {
        self.resolved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The facts of one wheel from where its files land.
fn contents(
    wheel: &WheelInfo,
    content_key: &str,
    landings: &WheelLandings,
    landed: LandedFacts,
) -> ContentsFacts {
    let pth_files = landed
        .pth_files
        .iter()
        .map(|(path, archive)| {
            let code_lines = match wheel.pth_files().iter().find(|pth| &pth.path == archive) {
                Some(pth) => pth
                    .code_lines()
                    .map(|line| PthCodeLine {
                        number: line.number,
                        text: line.text.clone(),
                    })
                    .collect(),
                // Fail closed: a `.pth` whose text was not read is judged as code.
                None => vec![PthCodeLine {
                    number: 1,
                    text: "<the reader kept no text for this file>".to_string(),
                }],
            };
            PthFile {
                name: path.rsplit('/').next().unwrap_or(path).to_string(),
                path: path.clone(),
                code_lines,
            }
        })
        .collect();
    ContentsFacts {
        content_key: Some(content_key.to_string()),
        files: landed.files,
        pth_files,
        startup_hooks: landed.startup_hooks,
        environment_files: landed
            .environment_files
            .into_iter()
            .map(|(path, owner)| EnvironmentFile {
                path,
                owner: owner.to_string(),
            })
            .collect(),
        top_level: landed.top_level.into_iter().collect(),
        scripts: landed.scripts,
        archive_problems: landings
            .escapes
            .iter()
            .map(|escape| ArchiveProblem {
                kind: ArchiveProblemKind::PathTraversal,
                member: Some(escape.path.clone()),
                detail: escape.to_string(),
            })
            .collect(),
    }
}

/// The top-level importable name `path` gives below `root`, if it is directly there: a package
/// directory, or a module file (`.py`, `.pyc`, `.so`, `.pyd`; `m.cpython-312-x86_64-linux-gnu.so`
/// imports as `m`).
fn top_level_name(path: &str, root: &str) -> Option<String> {
    let rest = if root.is_empty() {
        path
    } else {
        path.strip_prefix(root)?.strip_prefix('/')?
    };
    let name = match rest.split_once('/') {
        Some((package, _)) => package,
        None => {
            let is_module = [".py", ".pyc", ".so", ".pyd"]
                .iter()
                .any(|suffix| rest.to_ascii_lowercase().ends_with(suffix));
            if !is_module {
                return None;
            }
            rest.split('.').next().unwrap_or_default()
        }
    };
    let is_identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    is_identifier.then(|| name.to_string())
}

/// A name as a case-insensitive, normalising file system could equate it: Unicode
/// compatibility decomposition (NFKD: `ſ` → `s`, the Kelvin sign → `K`, full-width letters →
/// ASCII), then only the ASCII characters, lower-cased. Dropping what is left of other scripts
/// and combining marks makes more names equal than any file system does: stricter, never looser.
pub(crate) fn fold(name: &str) -> String {
    icu_normalizer::DecomposingNormalizerBorrowed::new_nfkd()
        .normalize(name)
        .chars()
        .filter(char::is_ascii)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn portable(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// Refuse a staged tree that holds anything the approval does not name.
///
/// Invariant: every file (and link) below `staged` lands, after the environment's links, on a
/// path in `approved`. Threat: uv's installer and the gate reading a wheel differently (an entry
/// point section, a `.data` layout, a generated file), so that something the gate never judged
/// would be moved into the environment.
pub(crate) fn check_staged(
    staged: &Path,
    destinations: &Destinations,
    approved: &BTreeSet<&str>,
) -> Result<(), InstallError> {
    let mut pending = vec![PathBuf::new()];
    while let Some(dir) = pending.pop() {
        let listing = fs_err::read_dir(staged.join(&dir)).map_err(InstallError::StageCheck)?;
        let mut files = BTreeMap::new();
        for entry in listing {
            let entry = entry.map_err(InstallError::StageCheck)?;
            let relative = dir.join(entry.file_name());
            if entry
                .file_type()
                .map_err(InstallError::StageCheck)?
                .is_dir()
            {
                if fold(&portable(&relative)) == fold(STATE_DIR) {
                    return Err(InstallError::Unapproved {
                        path: portable(&relative),
                    });
                }
                pending.push(relative);
            } else {
                files.insert(relative, ());
            }
        }
        for relative in files.into_keys() {
            let landed = destinations
                .resolve(&relative)
                .map_err(|escape| InstallError::Unapproved { path: escape.path })?;
            let landed = portable(&landed);
            if !approved.contains(landed.as_str()) {
                return Err(InstallError::Unapproved { path: landed });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use safevenv_python::SchemePaths;

    use super::{Destinations, check_staged, fold, top_level_name};
    use crate::{EnvironmentLayout, InstallError};

    fn layout(prefix: &Path) -> EnvironmentLayout {
        let site = prefix.join("lib/python3.12/site-packages");
        EnvironmentLayout {
            prefix: prefix.to_path_buf(),
            sys_executable: prefix.join("bin/python"),
            python_version: (3, 12),
            os_name: "posix".to_string(),
            scheme: SchemePaths {
                purelib: site.clone(),
                platlib: site,
                scripts: prefix.join("bin"),
                include: prefix.join("include/site/python3.12"),
                data: prefix.to_path_buf(),
            },
        }
    }

    /// What uv's installer really writes must be what was approved: a file the approval does
    /// not name (or one through the environment's `lib64` link, judged where it lands), or a
    /// directory named like safevenv's state, stops the install.
    #[test]
    fn staged_files_must_be_approved_where_they_land() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("env");
        fs_err::create_dir_all(prefix.join("lib/python3.12/site-packages")).unwrap();
        fs_err::os::unix::fs::symlink("lib", prefix.join("lib64")).unwrap();
        let destinations = Destinations::new(&layout(&prefix));
        let staged = dir.path().join("staged");
        let write = |path: &str| {
            let path = staged.join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, "x").unwrap();
        };
        write("lib/python3.12/site-packages/demo/__init__.py");
        write("bin/demo");
        let mut approved: BTreeSet<&str> =
            ["lib/python3.12/site-packages/demo/__init__.py", "bin/demo"]
                .into_iter()
                .collect();
        check_staged(&staged, &destinations, &approved).unwrap();

        write("lib/python3.12/site-packages/extra.pth");
        let err = check_staged(&staged, &destinations, &approved).unwrap_err();
        assert!(
            matches!(&err, InstallError::Unapproved { path } if path.ends_with("extra.pth")),
            "{err:?}"
        );
        approved.insert("lib/python3.12/site-packages/extra.pth");
        check_staged(&staged, &destinations, &approved).unwrap();

        // Through `lib64`: judged, and approved, as the path in `lib/` it lands on.
        write("lib64/python3.12/site-packages/linked.py");
        let err = check_staged(&staged, &destinations, &approved).unwrap_err();
        assert!(
            matches!(&err, InstallError::Unapproved { path } if path == "lib/python3.12/site-packages/linked.py"),
            "{err:?}"
        );
        approved.insert("lib/python3.12/site-packages/linked.py");
        check_staged(&staged, &destinations, &approved).unwrap();

        for state in [".safevenv", ".SafeVenv"] {
            let planted = staged.join(state);
            fs_err::create_dir_all(&planted).unwrap();
            let err = check_staged(&staged, &destinations, &approved).unwrap_err();
            assert!(
                matches!(err, InstallError::Unapproved { .. }),
                "{state}: {err:?}"
            );
            fs_err::remove_dir(&planted).unwrap();
        }
    }

    /// A link of the environment leading outside it is never written through.
    #[test]
    fn a_link_out_of_the_environment_is_an_escape() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("env");
        let outside = dir.path().join("outside");
        fs_err::create_dir_all(&outside).unwrap();
        fs_err::create_dir_all(prefix.join("share")).unwrap();
        fs_err::os::unix::fs::symlink(&outside, prefix.join("share/out")).unwrap();
        let destinations = Destinations::new(&layout(&prefix));
        let escape = destinations
            .resolve(Path::new("share/out/x.txt"))
            .unwrap_err();
        assert_eq!(escape.link, "share/out");
        assert_eq!(
            destinations.resolve(Path::new("share/in/x.txt")).unwrap(),
            Path::new("share/in/x.txt")
        );
    }

    #[test]
    fn folding_equates_what_case_insensitive_file_systems_equate() {
        for name in [
            ".safevenv",
            ".SAFEVENV",
            ".Safevenv",
            ".\u{17f}afevenv",   // long s
            ".ｓａｆｅｖｅｎｖ", // full-width
            ".safe\u{301}venv",  // combining acute accent
            ".saf\u{e9}venv",    // precomposed é: its base letter remains
        ] {
            assert_eq!(fold(name), ".safevenv", "{name:?}");
        }
        assert_ne!(fold(".safevenv2"), ".safevenv");
        assert_ne!(fold("safevenv"), ".safevenv");
    }

    #[test]
    fn top_level_names_below_a_root() {
        let root = "lib/python3.12/site-packages";
        let name = |path: &str| top_level_name(path, root);
        assert_eq!(
            name("lib/python3.12/site-packages/pkg/__init__.py").as_deref(),
            Some("pkg")
        );
        assert_eq!(
            name("lib/python3.12/site-packages/m.cpython-312-x86_64-linux-gnu.so").as_deref(),
            Some("m")
        );
        assert_eq!(
            name("lib/python3.12/site-packages/sitecustomize.PY").as_deref(),
            Some("sitecustomize")
        );
        assert_eq!(name("lib/python3.12/site-packages/README.txt"), None);
        assert_eq!(name("lib/python3.12/site-packages-other/x.py"), None);
        assert_eq!(name("bin/x.py"), None);
    }
}
