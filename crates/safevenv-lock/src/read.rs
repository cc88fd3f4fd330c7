//! Reading a lockfile: TOML first, then every PEP 751 rule, field by field.
//!
//! The TOML is walked by hand rather than through `serde` derive so that each refusal names the
//! exact field (`packages[2].wheels[0].hashes`) and the rule it breaks.

use std::path::Path;
use std::str::FromStr;

use toml::Value;
use toml::value::{Datetime, Offset};
use url::Url;
use uv_distribution_filename::{
    LegacySourceDistExtension, SourceDistExtension, SourceDistFilename, WheelFilename,
};
use uv_normalize::{ExtraName, GroupName, PackageName};
use uv_pep440::{Version, VersionSpecifiers};
use uv_pep508::MarkerTree;

use crate::error::{LockError, Violation};
use crate::model::{
    Archive, AttestationIdentity, Dependency, Directory, Hashes, Lock, Package, Sdist, Source, Vcs,
    Wheel,
};

/// A lockfile that was read, with the keys that were ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The lockfile.
    pub lock: Lock,
    /// Keys (as field paths) this reader does not know and skipped. Only a lockfile with a newer
    /// minor `lock-version` may have them (see [`Lock::is_newer_minor`]); a caller should warn.
    pub ignored_keys: Vec<String>,
}

impl Lock {
    /// Reads and validates a lockfile's text; `origin` names it in errors (usually its path).
    pub fn from_toml_str(text: &str, origin: impl Into<String>) -> Result<Self, LockError> {
        Ok(Self::parse_toml_str(text, origin)?.lock)
    }

    /// Reads and validates the lockfile at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, LockError> {
        let path = path.as_ref();
        let text = fs_err::read_to_string(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path.display().to_string())
    }

    /// Like [`Lock::from_toml_str`], and also reports the keys that were ignored.
    ///
    /// Packages are returned in canonical order (sorted by name, version and marker; their
    /// wheels by file name), the order [`Lock::to_toml_string`] writes; PEP 751 gives the order
    /// of entries no meaning. Field paths in errors count entries in the file's own order.
    pub fn parse_toml_str(text: &str, origin: impl Into<String>) -> Result<Parsed, LockError> {
        let origin = origin.into();
        let table = match text.parse::<toml::Table>() {
            Ok(table) => table,
            Err(source) => return Err(LockError::Toml { origin, source }),
        };
        let mut reader = Reader::default();
        match reader.lock(table) {
            Ok(mut lock) => {
                lock.canonicalize();
                Ok(Parsed {
                    lock,
                    ignored_keys: reader.ignored,
                })
            }
            Err(Fault { field, violation }) => Err(LockError::Invalid {
                origin,
                field,
                violation,
            }),
        }
    }

    /// Checks this lockfile against every rule the reader applies, by writing and reading it
    /// back: the single set of rules also covers locks built in code.
    pub fn validate(&self, origin: impl Into<String>) -> Result<(), LockError> {
        Self::from_toml_str(&self.to_toml_string(), origin).map(drop)
    }
}

/// A refused field, before the lockfile's name is attached.
struct Fault {
    field: String,
    violation: Violation,
}

type Res<T> = Result<T, Fault>;

fn fault(field: impl Into<String>, violation: Violation) -> Fault {
    Fault {
        field: field.into(),
        violation,
    }
}

fn wrong_type(field: String, expected: &'static str, found: &Value) -> Fault {
    fault(
        field,
        Violation::WrongType {
            expected,
            found: found.type_str(),
        },
    )
}

#[derive(Default)]
struct Reader {
    /// Whether unknown keys are refused (the lockfile's `lock-version` is fully known) or
    /// ignored and reported (a newer minor version may add keys; PEP 751 says to warn).
    lenient: bool,
    ignored: Vec<String>,
}

/// A TOML table being read: each known key is taken out; what is left is unknown.
struct Fields {
    path: String,
    table: toml::Table,
}

impl Fields {
    fn new(path: String, table: toml::Table) -> Self {
        Self { path, table }
    }

    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn string(&mut self, key: &str) -> Res<Option<String>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(other) => Err(wrong_type(self.child(key), "string", &other)),
        }
    }

    fn required_string(&mut self, key: &str) -> Res<String> {
        self.string(key)?
            .ok_or_else(|| fault(self.child(key), Violation::Missing))
    }

    fn boolean(&mut self, key: &str) -> Res<Option<bool>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::Boolean(value)) => Ok(Some(value)),
            Some(other) => Err(wrong_type(self.child(key), "boolean", &other)),
        }
    }

    fn table(&mut self, key: &str) -> Res<Option<Fields>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::Table(table)) => Ok(Some(Fields::new(self.child(key), table))),
            Some(other) => Err(wrong_type(self.child(key), "table", &other)),
        }
    }

    /// An array whose items are returned with their own field paths.
    fn array(&mut self, key: &str) -> Res<Option<Vec<(String, Value)>>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::Array(items)) => {
                let path = self.child(key);
                Ok(Some(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| (format!("{path}[{i}]"), item))
                        .collect(),
                ))
            }
            Some(other) => Err(wrong_type(self.child(key), "array", &other)),
        }
    }

    fn strings(&mut self, key: &str) -> Res<Option<Vec<(String, String)>>> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .into_iter()
            .map(|(path, item)| match item {
                Value::String(value) => Ok((path, value)),
                other => Err(wrong_type(path, "string", &other)),
            })
            .collect::<Res<Vec<_>>>()
            .map(Some)
    }

    fn tables(&mut self, key: &str) -> Res<Option<Vec<Fields>>> {
        let Some(items) = self.array(key)? else {
            return Ok(None);
        };
        items
            .into_iter()
            .map(|(path, item)| match item {
                Value::Table(table) => Ok(Fields::new(path, table)),
                other => Err(wrong_type(path, "table", &other)),
            })
            .collect::<Res<Vec<_>>>()
            .map(Some)
    }

    fn url(&mut self, key: &str) -> Res<Option<Url>> {
        let Some(value) = self.string(key)? else {
            return Ok(None);
        };
        Url::parse(&value)
            .map(Some)
            .map_err(|source| fault(self.child(key), Violation::InvalidUrl { value, source }))
    }

    fn size(&mut self, key: &str) -> Res<Option<u64>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::Integer(value)) => u64::try_from(value)
                .map(Some)
                .map_err(|_| fault(self.child(key), Violation::NegativeSize { value })),
            Some(other) => Err(wrong_type(self.child(key), "integer", &other)),
        }
    }

    /// `upload-time`: PEP 751 types it as a datetime and says it "MUST be recorded in UTC".
    /// A TOML date or time alone is refused; a local date-time (no offset) is accepted, as
    /// other readers do, since it does not claim another zone.
    fn upload_time(&mut self, key: &str) -> Res<Option<Datetime>> {
        match self.table.remove(key) {
            None => Ok(None),
            Some(Value::Datetime(value)) => {
                if value.date.is_none() || value.time.is_none() {
                    return Err(fault(
                        self.child(key),
                        Violation::NotADatetime {
                            value: value.to_string(),
                        },
                    ));
                }
                if matches!(value.offset, Some(Offset::Custom { minutes }) if minutes != 0) {
                    return Err(fault(
                        self.child(key),
                        Violation::NotUtc {
                            value: value.to_string(),
                        },
                    ));
                }
                Ok(Some(value))
            }
            Some(other) => Err(wrong_type(self.child(key), "datetime", &other)),
        }
    }

    fn requires_python(&mut self, key: &str) -> Res<Option<VersionSpecifiers>> {
        let Some(value) = self.string(key)? else {
            return Ok(None);
        };
        VersionSpecifiers::from_str(&value)
            .map(Some)
            .map_err(|source| {
                fault(
                    self.child(key),
                    Violation::InvalidSpecifiers {
                        value,
                        source: Box::new(source),
                    },
                )
            })
    }

    /// `hashes`: required; PEP 751: "The table MUST contain at least one entry". A digest of a
    /// known algorithm must have that algorithm's length in hexadecimal digits, so a truncated
    /// or mangled digest is refused here rather than later reported as a mismatch.
    fn hashes(&mut self, key: &str) -> Res<Hashes> {
        let field = self.child(key);
        let Some(table) = self.table(key)? else {
            return Err(fault(field, Violation::Missing));
        };
        if table.table.is_empty() {
            return Err(fault(field, Violation::NoHashes));
        }
        let mut hashes = Hashes::default();
        for (algorithm, value) in table.table {
            let field = format!("{field}.{algorithm}");
            let Value::String(value) = value else {
                return Err(wrong_type(field, "string", &value));
            };
            match digest_len(&algorithm) {
                Some(expected_len) => {
                    if value.len() != expected_len
                        || !value.bytes().all(|byte| byte.is_ascii_hexdigit())
                    {
                        return Err(fault(
                            field,
                            Violation::MalformedHash {
                                algorithm,
                                value,
                                expected_len,
                            },
                        ));
                    }
                }
                None => {
                    if value.is_empty() {
                        return Err(fault(field, Violation::EmptyHash));
                    }
                }
            }
            hashes.0.insert(algorithm, value);
        }
        Ok(hashes)
    }

    /// Ends the table: any key left was not taken, so it is unknown.
    fn finish(self, reader: &mut Reader) -> Res<()> {
        for key in self.table.keys() {
            let field = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if reader.lenient {
                reader.ignored.push(field);
            } else {
                return Err(fault(field, Violation::UnknownKey));
            }
        }
        Ok(())
    }
}

/// Hexadecimal digest length of the algorithms Python's `hashlib` guarantees (fixed-size ones).
fn digest_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "md5" => Some(32),
        "sha1" => Some(40),
        "sha224" | "sha3_224" => Some(56),
        "sha256" | "sha3_256" | "blake2s" => Some(64),
        "sha384" | "sha3_384" => Some(96),
        "sha512" | "sha3_512" | "blake2b" => Some(128),
        _ => None,
    }
}

fn marker(field: String, value: String) -> Res<MarkerTree> {
    MarkerTree::from_str(&value).map_err(|source| {
        fault(
            field,
            Violation::InvalidMarker {
                value,
                source: Box::new(source),
            },
        )
    })
}

/// A name that PEP 751 requires to be written normalized (package names, extras).
fn normalized<N: FromStr<Err = uv_normalize::InvalidNameError> + AsRef<str>>(
    field: String,
    value: String,
) -> Res<N> {
    match N::from_str(&value) {
        Ok(name) if name.as_ref() == value => Ok(name),
        Ok(name) => Err(fault(
            field,
            Violation::NameNotNormalized {
                normalized: name.as_ref().to_owned(),
                value,
            },
        )),
        Err(source) => Err(fault(field, Violation::InvalidName { value, source })),
    }
}

fn groups(items: Option<Vec<(String, String)>>) -> Res<Option<Vec<GroupName>>> {
    items
        .map(|items| {
            items
                .into_iter()
                .map(|(field, value)| {
                    GroupName::from_str(&value)
                        .map_err(|source| fault(field, Violation::InvalidName { value, source }))
                })
                .collect()
        })
        .transpose()
}

impl Reader {
    fn lock(&mut self, table: toml::Table) -> Res<Lock> {
        let mut fields = Fields::new(String::new(), table);

        // The version comes first: under another major version every other key may mean
        // something else. PEP 751: "If a tool doesn't support a major version, it MUST raise an
        // error"; a newer minor version is read, its unknown keys ignored and reported.
        let value = fields.required_string("lock-version")?;
        let lock_version = Version::from_str(&value).map_err(|source| {
            fault(
                "lock-version",
                Violation::InvalidLockVersion { value, source },
            )
        })?;
        if lock_version.release().first() != Some(&1) {
            return Err(fault(
                "lock-version",
                Violation::UnsupportedLockVersion {
                    version: lock_version,
                },
            ));
        }
        self.lenient = lock_version > Version::new([1, 0]);

        let environments = fields
            .strings("environments")?
            .map(|items| {
                items
                    .into_iter()
                    .map(|(field, value)| marker(field, value))
                    .collect::<Res<Vec<_>>>()
            })
            .transpose()?;
        let requires_python = fields.requires_python("requires-python")?;
        let extras = fields
            .strings("extras")?
            .map(|items| {
                items
                    .into_iter()
                    .map(|(field, value)| normalized::<ExtraName>(field, value))
                    .collect::<Res<Vec<_>>>()
            })
            .transpose()?;
        let dependency_groups = groups(fields.strings("dependency-groups")?)?;
        let default_groups = groups(fields.strings("default-groups")?)?;
        let created_by = fields.required_string("created-by")?;
        let Some(entries) = fields.tables("packages")? else {
            return Err(fault("packages", Violation::Missing));
        };
        let packages = entries
            .into_iter()
            .map(|entry| self.package(entry))
            .collect::<Res<Vec<_>>>()?;
        let tool = fields.table("tool")?.map(|tool| tool.table);
        fields.finish(self)?;

        Ok(Lock {
            lock_version,
            environments,
            requires_python,
            extras,
            dependency_groups,
            default_groups,
            created_by,
            packages,
            tool,
        })
    }

    fn package(&mut self, mut fields: Fields) -> Res<Package> {
        let name_field = fields.child("name");
        let name: PackageName = normalized(name_field, fields.required_string("name")?)?;
        let version = match fields.string("version")? {
            None => None,
            Some(value) => Some(Version::from_str(&value).map_err(|source| {
                fault(
                    fields.child("version"),
                    Violation::InvalidVersion { value, source },
                )
            })?),
        };
        let marker = match fields.string("marker")? {
            None => MarkerTree::TRUE,
            Some(value) => marker(fields.child("marker"), value)?,
        };
        let requires_python = fields.requires_python("requires-python")?;
        // PEP 751: "Tools MUST NOT use this information when doing installation", so entries
        // are kept as they are, only checked to be tables.
        let dependencies = fields
            .tables("dependencies")?
            .unwrap_or_default()
            .into_iter()
            .map(|entry| Dependency(entry.table))
            .collect();

        let vcs = fields.table("vcs")?.map(|vcs| self.vcs(vcs)).transpose()?;
        let directory = fields
            .table("directory")?
            .map(|directory| self.directory(directory))
            .transpose()?;
        let archive = fields
            .table("archive")?
            .map(|archive| self.archive(archive))
            .transpose()?;
        let index = fields.url("index")?;
        let sdist = fields
            .table("sdist")?
            .map(|sdist| self.sdist(sdist, &name, version.as_ref()))
            .transpose()?;
        let wheels = fields
            .tables("wheels")?
            .map(|wheels| {
                wheels
                    .into_iter()
                    .map(|wheel| self.wheel(wheel, &name, version.as_ref()))
                    .collect::<Res<Vec<_>>>()
            })
            .transpose()?;

        let attestation_identities = fields
            .tables("attestation-identities")?
            .unwrap_or_default()
            .into_iter()
            .map(|mut identity| {
                let kind = identity.required_string("kind")?;
                Ok(AttestationIdentity {
                    kind,
                    claims: identity.table,
                })
            })
            .collect::<Res<Vec<_>>>()?;
        let tool = fields.table("tool")?.map(|tool| tool.table);

        // PEP 751: `vcs`, `directory` and `archive` are "mutually-exclusive" with every other
        // source; only `sdist` and `wheels` combine. A package with two sources would let two
        // installers pick different code for the same lockfile.
        let mut set = Vec::new();
        for (key, present) in [
            ("vcs", vcs.is_some()),
            ("directory", directory.is_some()),
            ("archive", archive.is_some()),
            ("sdist", sdist.is_some()),
            (
                "wheels",
                wheels.as_ref().is_some_and(|wheels| !wheels.is_empty()),
            ),
        ] {
            if present {
                set.push(format!("`{key}`"));
            }
        }
        let source = match (vcs, directory, archive, sdist, wheels.unwrap_or_default()) {
            (Some(vcs), None, None, None, wheels) if wheels.is_empty() => Source::Vcs(vcs),
            (None, Some(directory), None, None, wheels) if wheels.is_empty() => {
                Source::Directory(directory)
            }
            (None, None, Some(archive), None, wheels) if wheels.is_empty() => {
                Source::Archive(archive)
            }
            (None, None, None, sdist, wheels) if sdist.is_some() || !wheels.is_empty() => {
                Source::Distributions { sdist, wheels }
            }
            _ if set.is_empty() => return Err(fault(fields.path, Violation::NoSource)),
            _ => {
                return Err(fault(
                    fields.path,
                    Violation::ConflictingSources {
                        sources: set.join(", "),
                    },
                ));
            }
        };
        fields.finish(self)?;

        Ok(Package {
            name,
            version,
            marker,
            requires_python,
            dependencies,
            index,
            source,
            attestation_identities,
            tool,
        })
    }

    fn vcs(&mut self, mut fields: Fields) -> Res<Vcs> {
        let kind = fields.required_string("type")?;
        // PEP 751 limits `type` to the VCSs registered for direct URLs (PEP 610).
        if !matches!(kind.as_str(), "git" | "hg" | "bzr" | "svn") {
            return Err(fault(
                fields.child("type"),
                Violation::UnknownVcs { value: kind },
            ));
        }
        let url = fields.url("url")?;
        let path = fields.string("path")?;
        let requested_revision = fields.string("requested-revision")?;
        let commit_id = fields.required_string("commit-id")?;
        let subdirectory = fields.string("subdirectory")?;
        if url.is_none() && path.is_none() {
            return Err(fault(fields.path, Violation::NoPathOrUrl));
        }
        fields.finish(self)?;
        Ok(Vcs {
            kind,
            url,
            path,
            requested_revision,
            commit_id,
            subdirectory,
        })
    }

    fn directory(&mut self, mut fields: Fields) -> Res<Directory> {
        let path = fields.required_string("path")?;
        let editable = fields.boolean("editable")?;
        let subdirectory = fields.string("subdirectory")?;
        fields.finish(self)?;
        Ok(Directory {
            path,
            editable,
            subdirectory,
        })
    }

    fn archive(&mut self, mut fields: Fields) -> Res<Archive> {
        let url = fields.url("url")?;
        let path = fields.string("path")?;
        let size = fields.size("size")?;
        let upload_time = fields.upload_time("upload-time")?;
        let hashes = fields.hashes("hashes")?;
        let subdirectory = fields.string("subdirectory")?;
        if url.is_none() && path.is_none() {
            return Err(fault(fields.path, Violation::NoPathOrUrl));
        }
        fields.finish(self)?;
        Ok(Archive {
            url,
            path,
            size,
            upload_time,
            hashes,
            subdirectory,
        })
    }

    fn sdist(
        &mut self,
        mut fields: Fields,
        package: &PackageName,
        version: Option<&Version>,
    ) -> Res<Sdist> {
        let name = fields.string("name")?;
        let upload_time = fields.upload_time("upload-time")?;
        let url = fields.url("url")?;
        let path = fields.string("path")?;
        let size = fields.size("size")?;
        let hashes = fields.hashes("hashes")?;
        if url.is_none() && path.is_none() {
            return Err(fault(fields.path, Violation::NoPathOrUrl));
        }
        let sdist = Sdist {
            name,
            upload_time,
            url,
            path,
            size,
            hashes,
        };
        let (field, filename) =
            artifact_file_name(&fields, sdist.name.is_some(), sdist.file_name())?;
        // The file must be an sdist of this package at this version: an entry that pointed at
        // another project's file would install code the lockfile does not name.
        // PEP 625 names `.tar.gz`; `.zip` is the older form other readers still accept.
        let extension = if filename.ends_with(".tar.gz") {
            SourceDistExtension::TarGz
        } else if filename.ends_with(".zip") {
            SourceDistExtension::Legacy(LegacySourceDistExtension::Zip)
        } else {
            return Err(fault(field, Violation::SdistExtension { filename }));
        };
        let parsed =
            SourceDistFilename::parse(&filename, extension, package).map_err(|source| {
                fault(
                    field.clone(),
                    Violation::InvalidSdistFilename {
                        filename: filename.clone(),
                        package: package.clone(),
                        source: Box::new(source),
                    },
                )
            })?;
        check_version(&field, &filename, parsed.version, version)?;
        fields.finish(self)?;
        Ok(sdist)
    }

    fn wheel(
        &mut self,
        mut fields: Fields,
        package: &PackageName,
        version: Option<&Version>,
    ) -> Res<Wheel> {
        let name = fields.string("name")?;
        let upload_time = fields.upload_time("upload-time")?;
        let url = fields.url("url")?;
        let path = fields.string("path")?;
        let size = fields.size("size")?;
        let hashes = fields.hashes("hashes")?;
        if url.is_none() && path.is_none() {
            return Err(fault(fields.path, Violation::NoPathOrUrl));
        }
        let wheel = Wheel {
            name,
            upload_time,
            url,
            path,
            size,
            hashes,
        };
        let (field, filename) =
            artifact_file_name(&fields, wheel.name.is_some(), wheel.file_name())?;
        let parsed = WheelFilename::from_str(&filename).map_err(|source| {
            fault(
                field.clone(),
                Violation::InvalidWheelFilename {
                    filename: filename.clone(),
                    source: Box::new(source),
                },
            )
        })?;
        // As for sdists: a wheel of another project or version listed under this package
        // would be installed in its place.
        if &parsed.name != package {
            return Err(fault(
                field,
                Violation::FilenameNameMismatch {
                    filename,
                    found: parsed.name,
                    expected: package.clone(),
                },
            ));
        }
        check_version(&field, &filename, parsed.version, version)?;
        fields.finish(self)?;
        Ok(wheel)
    }
}

/// The file name of an artifact, with the field it came from (`name`, else `path`/`url`).
fn artifact_file_name(
    fields: &Fields,
    has_name: bool,
    file_name: Option<String>,
) -> Res<(String, String)> {
    let field = if has_name {
        fields.child("name")
    } else {
        fields.path.clone()
    };
    match file_name {
        Some(name) => Ok((field, name)),
        None => Err(fault(field, Violation::NoFileName)),
    }
}

fn check_version(
    field: &str,
    filename: &str,
    found: Version,
    expected: Option<&Version>,
) -> Res<()> {
    match expected {
        Some(expected) if &found != expected => Err(fault(
            field,
            Violation::FilenameVersionMismatch {
                filename: filename.to_owned(),
                found,
                expected: expected.clone(),
            },
        )),
        _ => Ok(()),
    }
}
