//! The files an index serves, with their per-file options (yanked, upload time, provenance).

use bytes::Bytes;

use crate::artifact::{
    BuildError, BuiltSdist, BuiltWheel, RawArtifact, SdistSpec, WheelSpec, normalize_name,
    sha256_hex,
};

/// What an [`IndexFile`] is made from; specs are built when the file is added.
#[derive(Debug, Clone)]
enum Source {
    Wheel(Box<WheelSpec>),
    Sdist(SdistSpec),
    BuiltWheel(BuiltWheel),
    BuiltSdist(BuiltSdist),
    Raw {
        project: String,
        artifact: RawArtifact,
    },
}

/// One artifact to serve, with the options the index advertises for it.
///
/// Made with `From` a [`WheelSpec`], [`BuiltWheel`], [`SdistSpec`] or [`BuiltSdist`], or with
/// [`IndexFile::raw`].
#[derive(Debug, Clone)]
pub struct IndexFile {
    source: Source,
    yanked: Option<String>,
    upload_time: Option<String>,
    provenance: Option<Vec<u8>>,
    requires_python: Option<String>,
    core_metadata: Option<String>,
    version: Option<String>,
}

impl IndexFile {
    fn new(source: Source) -> Self {
        Self {
            source,
            yanked: None,
            upload_time: None,
            provenance: None,
            requires_python: None,
            core_metadata: None,
            version: None,
        }
    }

    /// Any bytes under any file name, listed on `project`'s page.
    pub fn raw(project: &str, artifact: RawArtifact) -> Self {
        Self::new(Source::Raw {
            project: project.to_string(),
            artifact,
        })
    }

    /// Marks the file yanked (PEP 592), with or without a reason.
    pub fn yanked(mut self, reason: Option<&str>) -> Self {
        self.yanked = Some(reason.unwrap_or_default().to_string());
        self
    }

    /// Sets the PEP 700 `upload-time` (RFC 3339, e.g. `2024-01-02T03:04:05.000000Z`), served
    /// verbatim in JSON.
    pub fn upload_time(mut self, time: &str) -> Self {
        self.upload_time = Some(time.to_string());
        self
    }

    /// Serves `bytes` as the file's PEP 740 provenance and advertises its URL.
    pub fn provenance(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.provenance = Some(bytes.into());
        self
    }

    /// Advertises this `requires-python` instead of the one in the artifact's metadata.
    pub fn requires_python(mut self, specifiers: &str) -> Self {
        self.requires_python = Some(specifiers.to_string());
        self
    }

    /// Serves `text` as the PEP 658 metadata file instead of the artifact's own metadata (the
    /// advertised hash is that of `text`). Lets tests serve metadata that contradicts the wheel,
    /// or metadata for a raw artifact.
    pub fn core_metadata(mut self, text: &str) -> Self {
        self.core_metadata = Some(text.to_string());
        self
    }

    /// Sets the version listed in PEP 700 `versions` for a raw artifact whose name does not
    /// say it.
    pub fn version(mut self, version: &str) -> Self {
        self.version = Some(version.to_string());
        self
    }

    /// Builds the artifact and fixes what the index will say about it.
    pub(crate) fn into_entry(self) -> Result<Entry, BuildError> {
        let (filename, bytes, metadata) = match self.source {
            Source::Wheel(spec) => {
                let wheel = spec.build()?;
                (wheel.filename, wheel.bytes, Some(wheel.metadata))
            }
            Source::BuiltWheel(wheel) => (wheel.filename, wheel.bytes, Some(wheel.metadata)),
            Source::Sdist(spec) => {
                let sdist = spec.build()?;
                (sdist.filename, sdist.bytes, Some(sdist.pkg_info))
            }
            Source::BuiltSdist(sdist) => (sdist.filename, sdist.bytes, Some(sdist.pkg_info)),
            Source::Raw { project, artifact } => {
                let mut entry = Entry::new(
                    normalize_name(&project),
                    artifact.filename,
                    artifact.bytes,
                    None,
                );
                entry.version = self.version.or(entry.version);
                entry.apply_options(
                    self.yanked,
                    self.upload_time,
                    self.provenance,
                    self.requires_python,
                    self.core_metadata,
                );
                return Ok(entry);
            }
        };
        let project = filename
            .split('-')
            .next()
            .map(normalize_name)
            .unwrap_or_default();
        let requires_python = metadata.as_deref().and_then(requires_python_of);
        let mut entry = Entry::new(project, filename, bytes, metadata);
        entry.requires_python = requires_python;
        entry.version = self.version.or(entry.version);
        entry.apply_options(
            self.yanked,
            self.upload_time,
            self.provenance,
            self.requires_python,
            self.core_metadata,
        );
        Ok(entry)
    }
}

impl From<WheelSpec> for IndexFile {
    fn from(spec: WheelSpec) -> Self {
        Self::new(Source::Wheel(Box::new(spec)))
    }
}

impl From<BuiltWheel> for IndexFile {
    fn from(wheel: BuiltWheel) -> Self {
        Self::new(Source::BuiltWheel(wheel))
    }
}

impl From<SdistSpec> for IndexFile {
    fn from(spec: SdistSpec) -> Self {
        Self::new(Source::Sdist(spec))
    }
}

impl From<BuiltSdist> for IndexFile {
    fn from(sdist: BuiltSdist) -> Self {
        Self::new(Source::BuiltSdist(sdist))
    }
}

/// The `Requires-Python` header of a METADATA or PKG-INFO text (headers end at the first blank line).
fn requires_python_of(metadata: &str) -> Option<String> {
    metadata
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| line.strip_prefix("Requires-Python:"))
        .map(|value| value.trim().to_string())
}

/// The version a file name carries: the second dash-separated part of a wheel name, the last
/// part of an sdist stem.
fn version_of(filename: &str) -> Option<String> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        return stem.split('-').nth(1).map(str::to_string);
    }
    let stem = [".tar.gz", ".zip"]
        .iter()
        .find_map(|suffix| filename.strip_suffix(suffix))?;
    stem.rsplit_once('-')
        .map(|(_, version)| version.to_string())
}

/// A file as the running index holds it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Normalized project name.
    pub(crate) project: String,
    pub(crate) filename: String,
    pub(crate) version: Option<String>,
    pub(crate) bytes: Bytes,
    pub(crate) sha256: String,
    pub(crate) requires_python: Option<String>,
    /// `Some("")` is yanked without a reason.
    pub(crate) yanked: Option<String>,
    pub(crate) upload_time: Option<String>,
    pub(crate) provenance: Option<Bytes>,
    /// The PEP 658 metadata file and its hex SHA-256.
    pub(crate) metadata: Option<(Bytes, String)>,
}

impl Entry {
    fn new(project: String, filename: String, bytes: Vec<u8>, metadata: Option<String>) -> Self {
        Self {
            project,
            version: version_of(&filename),
            sha256: sha256_hex(&bytes),
            filename,
            bytes: Bytes::from(bytes),
            requires_python: None,
            yanked: None,
            upload_time: None,
            provenance: None,
            metadata: metadata.map(Self::metadata_file),
        }
    }

    fn metadata_file(text: String) -> (Bytes, String) {
        let hash = sha256_hex(text.as_bytes());
        (Bytes::from(text), hash)
    }

    fn apply_options(
        &mut self,
        yanked: Option<String>,
        upload_time: Option<String>,
        provenance: Option<Vec<u8>>,
        requires_python: Option<String>,
        core_metadata: Option<String>,
    ) {
        self.yanked = yanked;
        self.upload_time = upload_time;
        self.provenance = provenance.map(Bytes::from);
        if requires_python.is_some() {
            self.requires_python = requires_python;
        }
        if let Some(text) = core_metadata {
            self.metadata = Some(Self::metadata_file(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_entries_take_project_version_and_requires_python_from_the_wheel() {
        let file = IndexFile::from(WheelSpec::new("Foo.Bar", "1.0").requires_python(">=3.8"));
        let entry = file.into_entry().unwrap();
        assert_eq!(entry.project, "foo-bar");
        assert_eq!(entry.version.as_deref(), Some("1.0"));
        assert_eq!(entry.requires_python.as_deref(), Some(">=3.8"));
        assert!(entry.metadata.is_some());
    }

    #[test]
    fn raw_entries_use_the_given_project_and_options() {
        let raw = RawArtifact {
            filename: "Thing-2.0.tar.gz".to_string(),
            bytes: b"not really".to_vec(),
        };
        let entry = IndexFile::raw("The_Thing", raw)
            .yanked(None)
            .requires_python("<4")
            .into_entry()
            .unwrap();
        assert_eq!(entry.project, "the-thing");
        assert_eq!(entry.version.as_deref(), Some("2.0"));
        assert_eq!(entry.yanked.as_deref(), Some(""));
        assert_eq!(entry.requires_python.as_deref(), Some("<4"));
        assert!(entry.metadata.is_none());
        assert_eq!(entry.sha256, sha256_hex(b"not really"));
    }
}
