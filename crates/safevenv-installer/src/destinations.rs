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
use std::path::{Path, PathBuf};
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
    /// The directories the archive lists as entries (which may be empty), each once.
    pub(crate) dirs: Vec<String>,
    /// Paths that cannot be placed at all.
    pub(crate) escapes: Vec<LinkEscape>,
    /// Layouts uv's installer cannot install (it would stop half-way): refused up front.
    pub(crate) uninstallable: Vec<String>,
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
    /// The directories the archive lists, where they land.
    pub(crate) directories: Vec<String>,
    /// Path lines of the set's `.pth` files that make Python import code safevenv cannot see
    /// (an absolute path, a path outside the environment, an archive): `(final path of the
    /// `.pth`, line number, line)`. Judged like code.
    pub(crate) opaque_path_lines: Vec<(String, usize, String)>,
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
    /// The same directories folded ([`fold_path`]), for comparisons that must hold on
    /// case-insensitive and normalising file systems.
    folded: FoldedScheme,
    windows: bool,
    /// The minor version of the environment's Python (uv names `pip3.X` for it).
    python_minor: u8,
    /// Directories already resolved: relative path → resolved relative path, or `None` when it
    /// does not exist in the environment (nor anything below it).
    resolved: Mutex<HashMap<PathBuf, Resolved>>,
}

#[derive(Debug)]
struct FoldedScheme {
    site_packages: [String; 2],
    scripts: String,
    /// `lib/pythonX.Y` (and the parent of site-packages when it is named for Python): the
    /// interpreter's own directory, of which a wheel may write only site-packages.
    stdlib: Vec<String>,
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
        let platlib = relative(&layout.scheme.platlib);
        let scripts = relative(&layout.scheme.scripts);
        let folded = FoldedScheme {
            site_packages: [
                fold_path(&portable(&purelib)),
                fold_path(&portable(&platlib)),
            ],
            scripts: fold_path(&portable(&scripts)),
            stdlib: stdlib.iter().map(|dir| fold_path(&portable(dir))).collect(),
        };
        Self {
            prefix: layout.prefix.clone(),
            folded,
            platlib: relative(&layout.scheme.platlib),
            scripts: relative(&layout.scheme.scripts),
            include: relative(&layout.scheme.include),
            data: relative(&layout.scheme.data),
            purelib,
            windows: layout.os_name == "nt",
            python_minor: layout.python_version.1,
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
        let base_of = |category: Category| match category {
            Category::Root | Category::DistInfo => site_packages,
            Category::Data(DataCategory::Purelib) => &self.purelib,
            Category::Data(DataCategory::Platlib) => &self.platlib,
            Category::Data(DataCategory::Scripts) => &self.scripts,
            Category::Data(DataCategory::Data) => &self.data,
            Category::Data(DataCategory::Headers) => &headers,
        };
        let mut uninstallable = Vec::new();
        let mut planned: Vec<(PathBuf, Option<String>)> = Vec::new();
        for file in wheel.files() {
            // uv's installer installs only the files at the top of `.data/scripts/` and stops
            // with an error at a directory there: refused here, before anything is staged.
            if file.category == Category::Data(DataCategory::Scripts)
                && file.install_path.contains('/')
            {
                uninstallable.push(format!(
                    "`{}` is in a subdirectory of the scripts directory, which installers refuse",
                    file.path
                ));
            }
            planned.push((
                base_of(file.category).join(&file.install_path),
                Some(file.path.clone()),
            ));
        }
        // The scripts uv's installer writes, and every name Python lists (stricter: a name
        // only one reader sees is judged too), with the launchers written beside them.
        for name in wheel.entry_points().script_names(self.python_minor) {
            // A script name is one file name in the scripts directory (the wheel reader
            // refuses others; this model does not rely on it).
            if name.is_empty()
                || name.contains(['/', '\\', '\0'])
                || matches!(name.as_str(), "." | "..")
            {
                uninstallable.push(format!(
                    "the entry point `{}` is not a plain file name",
                    name.escape_debug()
                ));
                continue;
            }
            if self.windows {
                planned.push((self.scripts.join(format!("{name}.exe")), None));
            }
            planned.push((self.scripts.join(name), None));
        }
        let dist_info = site_packages.join(wheel.dist_info());
        for generated in ["INSTALLER", "REQUESTED", "direct_url.json", "RECORD"] {
            planned.push((dist_info.join(generated), None));
        }

        let mut seen = BTreeSet::new();
        let mut landings = WheelLandings {
            files: Vec::with_capacity(planned.len()),
            dirs: Vec::new(),
            escapes: Vec::new(),
            uninstallable,
        };
        // Directory entries land too (uv's installer creates them, empty or not): a directory
        // where the environment has a file replaces that file.
        for dir in wheel.directory_entries() {
            let dir = dir.trim_end_matches('/');
            let (top, rest) = dir.split_once('/').unwrap_or((dir, ""));
            let landed = if Some(top) == wheel.data_dir() {
                let (category, inner) = rest.split_once('/').unwrap_or((rest, ""));
                let base = match category {
                    "purelib" => Some(&self.purelib),
                    "platlib" => Some(&self.platlib),
                    "scripts" => Some(&self.scripts),
                    "data" => Some(&self.data),
                    "headers" => Some(&headers),
                    _ => None,
                };
                match base {
                    Some(base) if !inner.is_empty() => base.join(inner),
                    // The category directories themselves are the scheme's.
                    _ => continue,
                }
            } else {
                site_packages.join(dir)
            };
            match self.resolve_directory(&landed) {
                Ok(resolved) => {
                    let resolved = portable(&resolved);
                    if !landings.dirs.contains(&resolved) {
                        landings.dirs.push(resolved);
                    }
                }
                Err(escape) => landings.escapes.push(escape),
            }
        }
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
        let mut roots: BTreeSet<String> = self.folded.site_packages.iter().cloned().collect();
        if self.windows {
            // On Windows `site.getsitepackages()` includes the prefix itself.
            roots.insert(String::new());
        }
        let landed_files: BTreeSet<String> = wheels
            .iter()
            .flat_map(|(_, landings)| landings.files.iter().map(|l| fold_path(&l.path)))
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
        // `site.addpackage` appends `makepath(sitedir, line)` for a path line (relative lines
        // are joined to the `.pth` file's directory) if it exists: a directory becomes a root
        // of importable names; anything else on the path (a zip, an egg, a directory outside
        // the environment) holds code safevenv does not see.
        let mut opaque: Vec<(String, usize, String)> = Vec::new();
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
                    let root = (!Path::new(text).is_absolute())
                        .then(|| normalize(&dir.join(text)))
                        .flatten()
                        .and_then(|root| self.resolve(&root).ok())
                        .map(|root| fold_path(&portable(&root)));
                    match root {
                        Some(root) if !landed_files.contains(&root) && !is_archive_name(&root) => {
                            roots.insert(root);
                        }
                        _ => opaque.push((path.clone(), line.number, line.text.clone())),
                    }
                }
            }
        }

        wheels
            .iter()
            .map(|(wheel, landings)| {
                let pth_files = pth_of(wheel, landings);
                let mut facts = LandedFacts {
                    files: landings.files.iter().map(|l| l.path.clone()).collect(),
                    directories: landings.dirs.clone(),
                    opaque_path_lines: opaque
                        .iter()
                        .filter(|(path, _, _)| pth_files.iter().any(|(own, _, _)| own == path))
                        .cloned()
                        .collect(),
                    pth_files: pth_files
                        .into_iter()
                        .map(|(path, archive, _)| (path, archive))
                        .collect(),
                    ..LandedFacts::default()
                };
                let paths = landings
                    .files
                    .iter()
                    .map(|landing| &landing.path)
                    .chain(&landings.dirs);
                for landed in paths {
                    let folded = fold_path(landed);
                    if let Some(owner) = self.environment_owner(&folded) {
                        facts.environment_files.push((landed.clone(), owner));
                    }
                    // `site` imports `sitecustomize` and `usercustomize` from anywhere on the
                    // path, and the path can be extended in ways no model follows (an earlier
                    // install's `.pth`, `PYTHONPATH`): such a module is a start-up hook wherever
                    // it lands.
                    if folded
                        .split('/')
                        .any(|part| matches!(module_stem(part), "sitecustomize" | "usercustomize"))
                    {
                        facts.startup_hooks.push(landed.clone());
                    }
                }
                for landing in &landings.files {
                    let folded = fold_path(&landing.path);
                    if let Some((dir, name)) = folded.rsplit_once('/')
                        && dir == self.folded.scripts
                    {
                        let name_start = landing.path.len() - name.len();
                        facts
                            .scripts
                            .push(landing.path.get(name_start..).unwrap_or(name).to_string());
                    }
                    for root in &roots {
                        if let Some(name) = top_level_name(&landing.path, &folded, root) {
                            facts.top_level.insert(name);
                        }
                    }
                }
                facts
            })
            .collect()
    }

    /// The scheme's directories, relative to the root (the installer stages them whether or
    /// not a wheel puts files there).
    fn scheme_dirs(&self) -> Vec<String> {
        [
            &self.purelib,
            &self.platlib,
            &self.scripts,
            &self.include,
            &self.data,
        ]
        .into_iter()
        .map(|dir| portable(dir))
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
    /// reach; on Windows also the prefix). The name only has to end in `.pth`, without case
    /// (`.pth` itself counts: `site.py` before 3.13 reads dot files): stricter than `site.py`.
    fn is_processed_pth(&self, path: &str) -> bool {
        let folded = fold_path(path);
        let (dir, name) = folded.rsplit_once('/').unwrap_or(("", folded.as_str()));
        let site_dir = self.folded.site_packages.iter().any(|site| site == dir)
            || matches!(
                dir.rsplit('/').next(),
                Some("site-packages" | "dist-packages")
            )
            || (self.windows && dir.is_empty());
        name.ends_with(".pth") && site_dir
    }

    /// What of the environment the path `folded` (final, relative, [`fold_path`]ed) would
    /// replace, if it is the environment's own, or lies below one of the environment's files
    /// (which a directory there would replace). Folded, as a case-insensitive or normalising
    /// file system would compare names.
    fn environment_owner(&self, folded: &str) -> Option<&'static str> {
        let parts: Vec<&str> = folded.split('/').collect();
        if parts.first() == Some(&fold(STATE_DIR).as_str()) {
            return Some("safevenv's state directory (its lock and journals)");
        }
        for end in 1..=parts.len() {
            if let Some(owner) = self.owned_file(&parts[..end].join("/")) {
                return Some(owner);
            }
        }
        let in_site_packages = self
            .folded
            .site_packages
            .iter()
            .any(|site| is_below(folded, site));
        if !in_site_packages && self.folded.stdlib.iter().any(|dir| is_below(folded, dir)) {
            return Some("in the interpreter's own library directory, outside site-packages");
        }
        None
    }

    /// What of the environment `relative` (a path below the root) is, if it is one of the
    /// environment's own files or below one (see [`Self::environment_owner`]), after the
    /// environment's links along its directories (`lib64/...` is `lib/...`). Uninstalling asks
    /// this of every `RECORD` row it would remove; a path through a link leading outside is
    /// [`LinkEscape`].
    pub(crate) fn environment_file(
        &self,
        relative: &Path,
    ) -> Result<Option<&'static str>, LinkEscape> {
        let resolved = self.resolve(relative)?;
        Ok(self.environment_owner(&fold_path(&portable(&resolved))))
    }

    /// The files an environment is made with (by `safevenv create` or `python -m venv`),
    /// as folded paths.
    fn owned_file(&self, folded: &str) -> Option<&'static str> {
        if matches!(folded, "pyvenv.cfg" | ".gitignore") {
            return Some("the environment's own configuration");
        }
        if folded == "lib64" {
            return Some("the environment's `lib64` link");
        }
        let (dir, name) = folded.rsplit_once('/')?;
        if dir != self.folded.scripts {
            return None;
        }
        // `site.venv()` reads a `pyvenv.cfg` beside the interpreter before the one at the root.
        if name == "pyvenv.cfg" {
            return Some("the environment's own configuration");
        }
        let name = name.strip_suffix(".exe").unwrap_or(name);
        let interpreter = name.strip_suffix(".py").unwrap_or(name);
        let versioned = |stem: &str| {
            interpreter.strip_prefix(stem).is_some_and(|rest| {
                rest.chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == 't')
            })
        };
        // Every interpreter name uv's installer itself refuses to write, and their versions.
        if ["python", "pythonw", "pypy", "graalpy"]
            .into_iter()
            .any(versioned)
        {
            return Some("the environment's interpreter");
        }
        if name == "activate"
            || name.starts_with("activate.")
            || name.starts_with("activate_this")
            || name.starts_with("deactivate")
        {
            return Some("one of the environment's activation scripts");
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

    /// `dir` (relative to the root) with every link of the environment followed, its last
    /// component too: a staged directory is merged into what the environment has there.
    fn resolve_directory(&self, dir: &Path) -> Result<PathBuf, LinkEscape> {
        match self.resolve_dir(dir, 0) {
            Resolved::Exists(dir) | Resolved::Missing(dir) => Ok(dir),
            Resolved::Escapes(link) => Err(LinkEscape {
                path: portable(dir),
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
            let mut code_lines: Vec<PthCodeLine> = match wheel
                .pth_files()
                .iter()
                .find(|pth| &pth.path == archive)
            {
                Some(pth) => pth
                    .code_lines()
                    .map(|line| PthCodeLine {
                        number: line.number,
                        text: line.text.clone(),
                        adds_path: None,
                    })
                    .collect(),
                // Fail closed: a `.pth` whose text was not read is judged as code.
                None => vec![PthCodeLine {
                    number: 1,
                    text: "<the reader kept no text for this file>".to_string(),
                    adds_path: None,
                }],
            };
            // A path line that puts code on the path which no rule can look at is judged as
            // code: the modules it brings run like the file's own `import` lines would.
            for (_, number, text) in landed
                .opaque_path_lines
                .iter()
                .filter(|(pth, _, _)| pth == path)
            {
                let added = Path::new(text.trim_end());
                code_lines.push(PthCodeLine {
                    number: *number,
                    adds_path: added.is_absolute().then(|| added.to_path_buf()),
                    text: format!(
                        "{text} (puts an archive, an absolute path or a path outside the environment on `sys.path`)"
                    ),
                });
            }
            code_lines.sort_by_key(|line| line.number);
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
        directories: landed.directories,
        archive_problems: landings
            .escapes
            .iter()
            .map(|escape| ArchiveProblem {
                kind: ArchiveProblemKind::PathTraversal,
                member: Some(escape.path.clone()),
                detail: escape.to_string(),
            })
            .chain(landings.uninstallable.iter().map(|detail| ArchiveProblem {
                kind: ArchiveProblemKind::Malformed,
                member: None,
                detail: detail.clone(),
            }))
            .collect(),
    }
}

/// The top-level importable name `path` gives below the folded `root`, if it is directly
/// there: a package directory, or a module file (`.py`, `.pyc`, `.so`, `.pyd`;
/// `m.cpython-312-x86_64-linux-gnu.so` imports as `m`). `folded` is `path` folded; the name is
/// returned as written.
fn top_level_name(path: &str, folded: &str, root: &str) -> Option<String> {
    let rest = if root.is_empty() {
        folded
    } else {
        folded.strip_prefix(root)?.strip_prefix('/')?
    };
    // The same components of the path as written (folding keeps `/` and drops no separator).
    let written_parts = path.split('/').count();
    let rest_parts = rest.split('/').count();
    let written: Vec<&str> = path.split('/').skip(written_parts - rest_parts).collect();
    let first = written.first().copied().unwrap_or_default();
    let name = if written.len() > 1 {
        first
    } else {
        let is_module = [".py", ".pyc", ".so", ".pyd"]
            .iter()
            .any(|suffix| rest.ends_with(suffix));
        if !is_module {
            return None;
        }
        first.split('.').next().unwrap_or_default()
    };
    let is_identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    is_identifier.then(|| name.to_string())
}

/// The module name a folded path component would import as: the part before the first `.`.
fn module_stem(part: &str) -> &str {
    part.split('.').next().unwrap_or(part)
}

/// Whether a folded path names an archive Python imports from (zipimport), or any file: a
/// path line naming one puts code on the path that is not a directory of judged files.
fn is_archive_name(folded: &str) -> bool {
    [".zip", ".egg", ".whl", ".pyz", ".jar"]
        .iter()
        .any(|suffix| folded.ends_with(suffix))
}

/// Whether the folded `path` is `dir` or below it.
fn is_below(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Each component of a relative path [`fold`]ed, joined with `/`.
pub(crate) fn fold_path(path: &str) -> String {
    path.split('/').map(fold).collect::<Vec<_>>().join("/")
}

/// A name as a case-insensitive, normalising file system could equate it: Unicode
/// compatibility decomposition (NFKD: `ſ` → `s`, the Kelvin sign → `K`, full-width letters →
/// ASCII), then only the ASCII characters, lower-cased. Dropping what is left of other scripts
/// and combining marks makes more names equal than any file system does: stricter, never looser.
pub(crate) fn fold(name: &str) -> String {
    // ASCII decomposes to itself: the common case needs no normaliser (every path of a wheel
    // is folded, twice per install).
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
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
    // A staged directory is approved when the approval names it (a directory entry of a
    // wheel), when an approved path lies below it, or when it is one of the scheme's own.
    let scheme_dirs = destinations.scheme_dirs();
    let mut approved_dirs: BTreeSet<&str> = BTreeSet::new();
    for path in approved
        .iter()
        .copied()
        .chain(scheme_dirs.iter().map(String::as_str))
    {
        let mut rest = path;
        approved_dirs.insert(rest);
        while let Some((parent, _)) = rest.rsplit_once('/') {
            approved_dirs.insert(parent);
            rest = parent;
        }
    }
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
                let landed = destinations
                    .resolve_directory(&relative)
                    .map_err(|escape| InstallError::Unapproved { path: escape.path })?;
                let landed = portable(&landed);
                if !approved_dirs.contains(landed.as_str()) {
                    return Err(InstallError::Unapproved { path: landed });
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
        let name = |path: &str| top_level_name(path, &super::fold_path(path), root);
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
