//! An advisory database in memory: OSV records loaded from a folder, a file or an archive,
//! indexed by normalized package name.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::num::NonZeroUsize;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::matching::{Advisory, CompileError};
use crate::osv::Vulnerability;
use crate::report::{Distribution, Finding, IgnoreList, Report, Unreadable, findings_for};
use crate::yaml::{YamlError, to_json};

/// The largest record read from a file or an archive member. The biggest record of the PyPA
/// database is under 100 KiB; the cap keeps a hostile archive (a gzip bomb) from exhausting memory.
pub const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;

/// A database that could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path could not be inspected or read.
    #[error("cannot read the advisory database `{}`", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file that is neither a record (`.json`, `.yaml`, `.yml`) nor an archive (`.zip`, `.tar.gz`, `.tgz`).
    #[error("`{}` is not an advisory database: expected a folder, a `.json`/`.yaml`/`.yml` record, a `.zip` or a `.tar.gz`", path.display())]
    Unsupported {
        /// The path.
        path: PathBuf,
    },
    /// A tar.gz archive that cannot be read to its end.
    #[error("cannot read the archive `{}`", path.display())]
    Tar {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A zip archive that cannot be read.
    #[error("cannot read the zip archive `{}`", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: zip::result::ZipError,
    },
}

/// Why one record could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not valid JSON, or JSON that is not an OSV record.
    #[error("not a valid OSV JSON record")]
    Json(#[source] serde_json::Error),
    /// Not valid YAML.
    #[error("not a valid YAML document")]
    Yaml(#[source] YamlError),
    /// Valid YAML that is not an OSV record.
    #[error("not a valid OSV record")]
    Schema(#[source] serde_json::Error),
    /// Not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// Larger than [`MAX_RECORD_BYTES`].
    #[error("larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    /// A record that parsed but cannot be evaluated.
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// A record that could not be used. Its packages may be affected by a vulnerability the audit
/// cannot check: audits of those packages list it in [`Report::unreadable`].
#[derive(Debug)]
pub struct MalformedRecord {
    /// Where it came from: a path, or `archive!member`.
    pub source: String,
    /// Its id, when that much could be read.
    pub id: Option<String>,
    /// The PyPI packages it names, as far as they could be read (from the record, else from the
    /// PyPA layout `vulns/<package>/<id>.yaml`). Empty: it may be about any package.
    pub packages: Vec<PackageName>,
    /// Why it could not be used.
    pub error: RecordError,
}

/// What loading a database found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Records read and usable, withdrawn ones included.
    pub records: usize,
    /// Of those, records withdrawn by their database (never reported).
    pub withdrawn: usize,
    /// Records that could not be used.
    pub malformed: Vec<MalformedRecord>,
}

/// OSV records indexed by the PyPI packages they name.
#[derive(Debug, Default)]
pub struct AdvisoryDb {
    advisories: Vec<Advisory>,
    by_package: HashMap<PackageName, Vec<usize>>,
    report: LoadReport,
}

/// The kind of text a record is written in.
#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Yaml,
}

impl Format {
    fn of(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".json") {
            Some(Self::Json)
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(Self::Yaml)
        } else {
            None
        }
    }
}

/// A record's bytes as read, not yet parsed.
struct Text {
    /// A path, or `archive!member`.
    source: String,
    /// The path inside the folder or archive, for the PyPA layout.
    member: PathBuf,
    /// `None`: larger than [`MAX_RECORD_BYTES`].
    bytes: Option<Vec<u8>>,
    format: Format,
}

impl Text {
    fn parse(&self) -> Outcome {
        match parse_record(self.bytes.as_deref(), self.format) {
            Ok(record) => Outcome::of(self.source.clone(), record),
            Err((error, value)) => Outcome::Malformed(MalformedRecord {
                source: self.source.clone(),
                id: value
                    .as_ref()
                    .and_then(|value| value.get("id")?.as_str())
                    .map(str::to_string),
                packages: guess_packages(value.as_ref(), &self.member),
                error,
            }),
        }
    }
}

/// What one record adds to the database.
enum Outcome {
    Withdrawn,
    Usable(Advisory),
    Malformed(MalformedRecord),
}

impl Outcome {
    fn of(source: String, record: Vulnerability) -> Self {
        if record.withdrawn.is_some() {
            return Self::Withdrawn;
        }
        let id = record.id.clone();
        let named: Vec<PackageName> = record
            .affected
            .iter()
            .filter_map(|affected| affected.package.as_ref())
            .filter(|package| package.ecosystem == "PyPI")
            .filter_map(|package| PackageName::from_str(&package.name).ok())
            .collect();
        match Advisory::compile(record) {
            Ok(advisory) => Self::Usable(advisory),
            Err(error) => Self::Malformed(MalformedRecord {
                source,
                id: Some(id),
                packages: named,
                error: error.into(),
            }),
        }
    }
}

impl AdvisoryDb {
    /// Load every OSV record under `path`: a folder (recursively; `.json`, `.yaml` and `.yml`
    /// files), a single record file, a `.zip`, or a `.tar.gz`/`.tgz` archive. A record that cannot
    /// be used does not fail the load: it is listed in [`AdvisoryDb::load_report`].
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let read_error = |source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        };
        let metadata = fs_err::metadata(path).map_err(read_error)?;
        let mut texts = Vec::new();
        if metadata.is_dir() {
            Self::read_dir(&mut texts, path)?;
        } else {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
                Self::read_tar_gz(&mut texts, path)?;
            } else if name.ends_with(".zip") {
                Self::read_zip(&mut texts, path)?;
            } else if let Some(format) = Format::of(&name) {
                Self::read_file(&mut texts, path, format)?;
            } else {
                return Err(LoadError::Unsupported {
                    path: path.to_path_buf(),
                });
            }
        }
        let mut db = Self::default();
        db.add_texts(texts);
        Ok(db)
    }

    /// A database of records already parsed (those the OSV API returned).
    pub fn from_records(records: impl IntoIterator<Item = Vulnerability>, source: &str) -> Self {
        let mut db = Self::default();
        for record in records {
            db.add(Outcome::of(source.to_string(), record));
        }
        db
    }

    fn read_dir(texts: &mut Vec<Text>, root: &Path) -> Result<(), LoadError> {
        let mut pending = vec![root.to_path_buf()];
        let mut files = Vec::new();
        while let Some(dir) = pending.pop() {
            let read_error = |source| LoadError::Read {
                path: dir.clone(),
                source,
            };
            for entry in fs_err::read_dir(&dir).map_err(read_error)? {
                let entry = entry.map_err(read_error)?;
                let path = entry.path();
                // Symbolic links to folders are not followed, so a link loop cannot hang the load.
                let file_type = entry.file_type().map_err(read_error)?;
                if file_type.is_dir() {
                    pending.push(path);
                } else if let Some(format) = Format::of(&entry.file_name().to_string_lossy()) {
                    files.push((path, format));
                }
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, format) in files {
            Self::read_file(texts, &path, format)?;
        }
        Ok(())
    }

    fn read_file(texts: &mut Vec<Text>, path: &Path, format: Format) -> Result<(), LoadError> {
        let file = fs_err::File::open(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let source = path.display().to_string();
        let bytes = read_capped(file).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        texts.push(Text {
            source,
            member: path.to_path_buf(),
            bytes,
            format,
        });
        Ok(())
    }

    fn read_tar_gz(texts: &mut Vec<Text>, path: &Path) -> Result<(), LoadError> {
        let tar_error = |source| LoadError::Tar {
            path: path.to_path_buf(),
            source,
        };
        let file = fs_err::File::open(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
        for entry in archive.entries().map_err(tar_error)? {
            let entry = entry.map_err(tar_error)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let member = entry.path().map_err(tar_error)?.into_owned();
            let Some(format) = Format::of(&member.to_string_lossy()) else {
                continue;
            };
            let bytes = read_capped(entry).map_err(tar_error)?;
            let source = format!("{}!{}", path.display(), member.display());
            texts.push(Text {
                source,
                member,
                bytes,
                format,
            });
        }
        Ok(())
    }

    fn read_zip(texts: &mut Vec<Text>, path: &Path) -> Result<(), LoadError> {
        let zip_error = |source| LoadError::Zip {
            path: path.to_path_buf(),
            source,
        };
        let file = fs_err::File::open(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_error)?;
        for index in 0..archive.len() {
            let entry = archive.by_index(index).map_err(zip_error)?;
            if !entry.is_file() {
                continue;
            }
            let member = PathBuf::from(entry.name());
            let Some(format) = Format::of(entry.name()) else {
                continue;
            };
            let bytes = read_capped(entry).map_err(|error| zip_error(error.into()))?;
            let source = format!("{}!{}", path.display(), member.display());
            texts.push(Text {
                source,
                member,
                bytes,
                format,
            });
        }
        Ok(())
    }

    /// Parse the records read, on every core (parsing YAML is most of a load's time), then add
    /// them in the order they were read so that the database does not depend on scheduling.
    fn add_texts(&mut self, texts: Vec<Text>) {
        let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let chunk = texts.len().div_ceil(threads).max(1);
        let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
            let workers: Vec<_> = texts
                .chunks(chunk)
                .map(|chunk| scope.spawn(move || chunk.iter().map(Text::parse).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| {
                    // Parsing does not panic on any input; should it, the panic goes on here.
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        for outcome in outcomes {
            self.add(outcome);
        }
    }

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Withdrawn => {
                self.report.records += 1;
                self.report.withdrawn += 1;
            }
            Outcome::Usable(advisory) => {
                self.report.records += 1;
                let index = self.advisories.len();
                for rule in &advisory.rules {
                    let indexes = self.by_package.entry(rule.name.clone()).or_default();
                    if indexes.last() != Some(&index) {
                        indexes.push(index);
                    }
                }
                self.advisories.push(advisory);
            }
            Outcome::Malformed(record) => self.report.malformed.push(record),
        }
    }

    /// What the load found: counts, and the records that could not be used.
    pub fn load_report(&self) -> &LoadReport {
        &self.report
    }

    /// How many usable, not withdrawn records the database holds.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// Whether the database holds no usable record.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// The vulnerabilities affecting `name` at `version`, one finding per vulnerability (records
    /// sharing an id or alias are merged), sorted by id.
    pub fn query(&self, name: &PackageName, version: &Version) -> Vec<Finding> {
        let matched: Vec<&Advisory> = self
            .advisories_of(name)
            .filter(|advisory| advisory.affects(name, version))
            .collect();
        let mut findings =
            findings_for(&Distribution::new(name.clone(), version.clone()), &matched);
        findings.sort_by(|a, b| a.id.cmp(&b.id));
        findings
    }

    /// Findings for the records with these ids, as an index that evaluated the versions itself
    /// (the OSV API) says they affect `distribution`.
    pub(crate) fn findings_for_ids(
        &self,
        distribution: &Distribution,
        ids: &[String],
    ) -> Vec<Finding> {
        let matched: Vec<&Advisory> = self
            .advisories
            .iter()
            .filter(|advisory| ids.contains(&advisory.record.id))
            .collect();
        findings_for(distribution, &matched)
    }

    fn advisories_of(&self, name: &PackageName) -> impl Iterator<Item = &Advisory> {
        self.by_package
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&index| self.advisories.get(index))
    }

    /// Audit `distributions`: every finding, the ignored ones apart, and the unreadable records
    /// that name one of the distributions (or no package at all).
    pub fn audit(&self, distributions: &[Distribution], ignore: &IgnoreList) -> Report {
        let findings = distributions
            .iter()
            .flat_map(|distribution| self.query(&distribution.name, &distribution.version))
            .collect();
        Report::new(findings, ignore, self.unreadable_for(distributions))
    }

    /// The unreadable records that may be about one of `distributions`.
    pub(crate) fn unreadable_for(&self, distributions: &[Distribution]) -> Vec<Unreadable> {
        let mut unreadable = Vec::new();
        for record in &self.report.malformed {
            let relevant: Vec<Option<&PackageName>> = if record.packages.is_empty() {
                vec![None]
            } else {
                distributions
                    .iter()
                    .map(|distribution| &distribution.name)
                    .filter(|name| record.packages.contains(name))
                    .map(Some)
                    .collect()
            };
            for package in relevant {
                let entry = Unreadable {
                    package: package.cloned(),
                    source: record.source.clone(),
                    id: record.id.clone(),
                    reason: error_chain(&record.error),
                };
                if !unreadable.contains(&entry) {
                    unreadable.push(entry);
                }
            }
        }
        unreadable
    }
}

/// `error` and its causes, joined by `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// Read at most [`MAX_RECORD_BYTES`]; `None` if there is more.
fn read_capped(reader: impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= MAX_RECORD_BYTES).then_some(bytes))
}

/// A record, or why not with as much of it as could be read.
fn parse_record(
    bytes: Option<&[u8]>,
    format: Format,
) -> Result<Vulnerability, (RecordError, Option<Value>)> {
    let bytes = bytes.ok_or((RecordError::TooLarge, None))?;
    match format {
        Format::Json => serde_json::from_slice(bytes).map_err(|error| {
            (
                RecordError::Json(error),
                serde_json::from_slice::<Value>(bytes).ok(),
            )
        }),
        Format::Yaml => {
            let text = std::str::from_utf8(bytes).map_err(|_| (RecordError::NotUtf8, None))?;
            let value = to_json(text).map_err(|error| (RecordError::Yaml(error), None))?;
            Vulnerability::deserialize(&value)
                .map_err(|error| (RecordError::Schema(error), Some(value)))
        }
    }
}

/// The PyPI packages a broken record names: from its readable parts, else from the PyPA
/// database's layout `vulns/<package>/<id>.yaml`.
fn guess_packages(value: Option<&Value>, member: &Path) -> Vec<PackageName> {
    let mut names: Vec<PackageName> = value
        .and_then(|value| value.get("affected")?.as_array())
        .into_iter()
        .flatten()
        .filter_map(|affected| {
            let package = affected.get("package")?;
            (package.get("ecosystem")?.as_str()? == "PyPI")
                .then(|| PackageName::from_str(package.get("name")?.as_str()?).ok())?
        })
        .collect();
    if names.is_empty() {
        let components: Vec<_> = member
            .components()
            .filter_map(|component| match component {
                Component::Normal(name) => Some(name.to_string_lossy()),
                _ => None,
            })
            .collect();
        if let [.., vulns, package, _file] = components.as_slice()
            && vulns == "vulns"
            && let Ok(name) = PackageName::from_str(package)
        {
            names.push(name);
        }
    }
    names.sort();
    names.dedup();
    names
}
