//! Builders for the artifacts the test index serves: wheels, sdists and raw bytes.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// An artifact could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The zip writer refused an entry (for example a duplicate name).
    #[error("cannot write entry `{entry}` of wheel `{filename}`")]
    Zip {
        /// The wheel's file name.
        filename: String,
        /// The zip entry being written.
        entry: String,
        /// What the zip writer said.
        #[source]
        source: zip::result::ZipError,
    },
    /// The tar writer refused an entry.
    #[error("cannot write entry `{entry}` of sdist `{filename}`")]
    Tar {
        /// The sdist's file name.
        filename: String,
        /// The tar entry being written.
        entry: String,
        /// What the tar writer said.
        #[source]
        source: std::io::Error,
    },
}

/// Normalizes a project name as PEP 503 says: lowercase, runs of `-`, `_` and `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                out.push('-');
            }
            in_separator_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_separator_run = false;
        }
    }
    out
}

/// The distribution component of wheel and sdist file names (PEP 427/491, PEP 625):
/// the normalized name with `_` in place of `-`.
fn escape_name(name: &str) -> String {
    normalize_name(name).replace('-', "_")
}

/// PEP 427: a `-` inside the version would split the file name, so it becomes `_`.
fn escape_version(version: &str) -> String {
    version.replace('-', "_")
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The RECORD hash form: `sha256=` then unpadded URL-safe base64 (PEP 376 as amended by PEP 427).
fn record_hash(bytes: &[u8]) -> String {
    format!("sha256={}", URL_SAFE_NO_PAD.encode(Sha256::digest(bytes)))
}

/// RECORD is CSV: a path holding a comma, quote or newline must be quoted.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Expands a compressed tag set (`py2.py3-none-any`) into its tags, as the WHEEL file lists them.
fn expand_tag(tag: &str) -> Vec<String> {
    let parts: Vec<&str> = tag.split('-').collect();
    let [pythons, abis, platforms] = parts.as_slice() else {
        // A malformed tag is kept verbatim: hostile tests want exactly what they asked for.
        return vec![tag.to_string()];
    };
    let mut tags = Vec::new();
    for python in pythons.split('.') {
        for abi in abis.split('.') {
            for platform in platforms.split('.') {
                tags.push(format!("{python}-{abi}-{platform}"));
            }
        }
    }
    tags
}

/// Header lines shared by a wheel's METADATA and an sdist's PKG-INFO.
#[derive(Debug, Clone)]
struct CoreMetadata {
    metadata_version: String,
    name: String,
    version: String,
    requires_python: Option<String>,
    requires_dist: Vec<String>,
    provides_extra: Vec<String>,
    fields: Vec<(String, String)>,
}

impl CoreMetadata {
    fn new(name: &str, version: &str) -> Self {
        Self {
            metadata_version: "2.1".to_string(),
            name: name.to_string(),
            version: version.to_string(),
            requires_python: None,
            requires_dist: Vec::new(),
            provides_extra: Vec::new(),
            fields: Vec::new(),
        }
    }

    fn render(&self) -> String {
        let mut text = format!(
            "Metadata-Version: {}\nName: {}\nVersion: {}\n",
            self.metadata_version, self.name, self.version
        );
        if let Some(requires_python) = &self.requires_python {
            text.push_str(&format!("Requires-Python: {requires_python}\n"));
        }
        for extra in &self.provides_extra {
            text.push_str(&format!("Provides-Extra: {extra}\n"));
        }
        for requirement in &self.requires_dist {
            text.push_str(&format!("Requires-Dist: {requirement}\n"));
        }
        for (key, value) in &self.fields {
            text.push_str(&format!("{key}: {value}\n"));
        }
        text
    }

    /// The import package the default file goes in: the escaped name (`Foo.Bar` → `foo_bar`).
    fn import_name(&self) -> String {
        escape_name(&self.name)
    }
}

/// Builder for one wheel (binary distribution format, PEP 427 and its successors).
///
/// Everything is deterministic: the same spec always gives the same bytes and hash.
#[derive(Debug, Clone)]
pub struct WheelSpec {
    metadata: CoreMetadata,
    files: Vec<(String, Vec<u8>)>,
    data_files: Vec<(String, Vec<u8>)>,
    console_scripts: Vec<(String, String)>,
    gui_scripts: Vec<(String, String)>,
    tag: String,
    build_tag: Option<String>,
    raw_entries: Vec<(String, Vec<u8>)>,
    directory_entries: Vec<String>,
    symlinks: Vec<(String, String)>,
    unix_modes: BTreeMap<String, u32>,
    record_override: Option<String>,
}

impl WheelSpec {
    /// A pure-Python `py3-none-any` wheel of `name` at `version`.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            metadata: CoreMetadata::new(name, version),
            files: Vec::new(),
            data_files: Vec::new(),
            console_scripts: Vec::new(),
            gui_scripts: Vec::new(),
            tag: "py3-none-any".to_string(),
            build_tag: None,
            raw_entries: Vec::new(),
            directory_entries: Vec::new(),
            symlinks: Vec::new(),
            unix_modes: BTreeMap::new(),
            record_override: None,
        }
    }

    /// Adds a `Requires-Dist` line (PEP 508), e.g. `b>=2; extra == 'x'`.
    pub fn requires_dist(mut self, requirement: &str) -> Self {
        self.metadata.requires_dist.push(requirement.to_string());
        self
    }

    /// Adds a `Provides-Extra` line.
    pub fn provides_extra(mut self, extra: &str) -> Self {
        self.metadata.provides_extra.push(extra.to_string());
        self
    }

    /// Sets `Requires-Python`; the index advertises it too.
    pub fn requires_python(mut self, specifiers: &str) -> Self {
        self.metadata.requires_python = Some(specifiers.to_string());
        self
    }

    /// Sets `Metadata-Version` (default `2.1`).
    pub fn metadata_version(mut self, version: &str) -> Self {
        self.metadata.metadata_version = version.to_string();
        self
    }

    /// Adds any other METADATA header, e.g. `License-Expression` or `Classifier` (repeatable).
    pub fn metadata_field(mut self, key: &str, value: &str) -> Self {
        self.metadata
            .fields
            .push((key.to_string(), value.to_string()));
        self
    }

    /// Adds a file at the wheel's root, listed in RECORD. Without any, the wheel holds
    /// `<import_name>/__init__.py`, the import name being the escaped project name.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_string(), contents.into()));
        self
    }

    /// Adds a file under `{name}-{version}.data/`, e.g. `scripts/tool` or `purelib/x.py`.
    pub fn data_file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.data_files.push((path.to_string(), contents.into()));
        self
    }

    /// Adds a `console_scripts` entry point: `name = target` (`module:function`).
    pub fn console_script(mut self, name: &str, target: &str) -> Self {
        self.console_scripts
            .push((name.to_string(), target.to_string()));
        self
    }

    /// Adds a `gui_scripts` entry point.
    pub fn gui_script(mut self, name: &str, target: &str) -> Self {
        self.gui_scripts
            .push((name.to_string(), target.to_string()));
        self
    }

    /// Sets the file name's tag, possibly compressed (`py2.py3-none-any`,
    /// `cp311-cp311-manylinux_2_17_x86_64`). WHEEL lists each expanded tag; `Root-Is-Purelib`
    /// is true when every platform is `any`.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_string();
        self
    }

    /// Sets the optional build tag (`demo-1.0-1-py3-none-any.whl`, `Build: 1` in WHEEL).
    pub fn build_tag(mut self, build: &str) -> Self {
        self.build_tag = Some(build.to_string());
        self
    }

    /// Adds a zip entry that RECORD does not list. The name is used verbatim (`../evil`, `/abs`).
    pub fn raw_entry(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.raw_entries.push((name.to_string(), contents.into()));
        self
    }

    /// Adds a directory entry (`name/`, stored, no data), which RECORD does not list.
    pub fn directory_entry(mut self, name: &str) -> Self {
        self.directory_entries.push(name.to_string());
        self
    }

    /// Replaces the generated RECORD with `text`, verbatim.
    pub fn record_override(mut self, text: &str) -> Self {
        self.record_override = Some(text.to_string());
        self
    }

    /// Adds a zip entry with the unix symlink mode pointing at `target`, not listed in RECORD.
    pub fn symlink_entry(mut self, name: &str, target: &str) -> Self {
        self.symlinks.push((name.to_string(), target.to_string()));
        self
    }

    /// Sets the unix permission bits (`mode & 0o777`; the zip writer drops the others) of the
    /// entry named `name` as it appears in the archive (e.g. `demo-1.0.data/scripts/tool`).
    pub fn unix_mode(mut self, name: &str, mode: u32) -> Self {
        self.unix_modes.insert(name.to_string(), mode);
        self
    }

    /// `{escaped name}-{escaped version}`: the stem of the `.dist-info` and `.data` directories.
    fn dist_stem(&self) -> String {
        format!(
            "{}-{}",
            escape_name(&self.metadata.name),
            escape_version(&self.metadata.version)
        )
    }

    /// The file name `build` will give, e.g. `foo_bar-1.0-py3-none-any.whl`.
    pub fn filename(&self) -> String {
        match &self.build_tag {
            Some(build) => format!("{}-{build}-{}.whl", self.dist_stem(), self.tag),
            None => format!("{}-{}.whl", self.dist_stem(), self.tag),
        }
    }

    fn wheel_file(&self) -> String {
        let tags = expand_tag(&self.tag);
        let purelib = tags.iter().all(|tag| tag.ends_with("-any"));
        let mut text = format!(
            "Wheel-Version: 1.0\nGenerator: safevenv-test-index {}\nRoot-Is-Purelib: {purelib}\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(build) = &self.build_tag {
            text.push_str(&format!("Build: {build}\n"));
        }
        for tag in tags {
            text.push_str(&format!("Tag: {tag}\n"));
        }
        text
    }

    fn entry_points(&self) -> Option<String> {
        let mut text = String::new();
        for (section, scripts) in [
            ("console_scripts", &self.console_scripts),
            ("gui_scripts", &self.gui_scripts),
        ] {
            if scripts.is_empty() {
                continue;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("[{section}]\n"));
            for (name, target) in scripts {
                text.push_str(&format!("{name} = {target}\n"));
            }
        }
        (!text.is_empty()).then_some(text)
    }

    /// The files RECORD lists, RECORD itself aside, with their contents.
    fn listed(&self) -> Vec<(String, Vec<u8>)> {
        let stem = self.dist_stem();
        let dist_info = format!("{stem}.dist-info");
        let mut listed: Vec<(String, Vec<u8>)> = if self.files.is_empty() {
            let init = format!("__version__ = \"{}\"\n", self.metadata.version);
            vec![(
                format!("{}/__init__.py", self.metadata.import_name()),
                init.into_bytes(),
            )]
        } else {
            self.files.clone()
        };
        listed.extend(
            self.data_files
                .iter()
                .map(|(path, contents)| (format!("{stem}.data/{path}"), contents.clone())),
        );
        listed.push((
            format!("{dist_info}/METADATA"),
            self.metadata.render().into_bytes(),
        ));
        listed.push((format!("{dist_info}/WHEEL"), self.wheel_file().into_bytes()));
        if let Some(entry_points) = self.entry_points() {
            listed.push((
                format!("{dist_info}/entry_points.txt"),
                entry_points.into_bytes(),
            ));
        }
        listed
    }

    fn record_name(&self) -> String {
        format!("{}.dist-info/RECORD", self.dist_stem())
    }

    /// The RECORD [`WheelSpec::build`] writes unless overridden: every file with its true
    /// hash and size. Edited and passed to [`WheelSpec::record_override`], it makes hostile rows.
    pub fn generated_record(&self) -> String {
        let mut record = String::new();
        for (path, contents) in &self.listed() {
            record.push_str(&format!(
                "{},{},{}\n",
                csv_field(path),
                record_hash(contents),
                contents.len()
            ));
        }
        record.push_str(&format!("{},,\n", csv_field(&self.record_name())));
        record
    }

    /// Assembles the wheel. Fails only when the zip writer refuses an entry (a duplicate name).
    pub fn build(&self) -> Result<BuiltWheel, BuildError> {
        let filename = self.filename();
        let metadata = self.metadata.render();
        let mut listed = self.listed();
        let record = match &self.record_override {
            Some(text) => text.clone(),
            None => self.generated_record(),
        };
        listed.push((self.record_name(), record.into_bytes()));

        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let zip_error = |entry: &str, source| BuildError::Zip {
            filename: filename.clone(),
            entry: entry.to_string(),
            source,
        };
        for (name, contents) in listed.iter().chain(&self.raw_entries) {
            writer
                .start_file(name, self.entry_options(name, CompressionMethod::Deflated))
                .map_err(|source| zip_error(name, source))?;
            writer
                .write_all(contents)
                .map_err(|source| zip_error(name, source.into()))?;
        }
        for name in &self.directory_entries {
            writer
                .add_directory(name, self.entry_options(name, CompressionMethod::Stored))
                .map_err(|source| zip_error(name, source))?;
        }
        for (name, target) in &self.symlinks {
            writer
                .add_symlink(
                    name,
                    target,
                    self.entry_options(name, CompressionMethod::Stored),
                )
                .map_err(|source| zip_error(name, source))?;
        }
        let bytes = writer
            .finish()
            .map_err(|source| zip_error("<central directory>", source))?
            .into_inner();

        Ok(BuiltWheel {
            sha256: sha256_hex(&bytes),
            filename,
            bytes,
            metadata,
        })
    }

    fn entry_options(&self, name: &str, method: CompressionMethod) -> SimpleFileOptions {
        // A fixed timestamp keeps builds reproducible, so hashes can be asserted.
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(DateTime::default());
        match self.unix_modes.get(name) {
            Some(mode) => options.unix_permissions(*mode),
            None => options,
        }
    }
}

/// A wheel made by [`WheelSpec::build`].
#[derive(Debug, Clone)]
pub struct BuiltWheel {
    /// The wheel's file name, e.g. `foo_bar-1.0-py3-none-any.whl`.
    pub filename: String,
    /// The zip archive.
    pub bytes: Vec<u8>,
    /// The METADATA text inside the wheel (what PEP 658 serves).
    pub metadata: String,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

/// Builder for a minimal source distribution (`.tar.gz`, PEP 625 name) with PKG-INFO and setup.py.
#[derive(Debug, Clone)]
pub struct SdistSpec {
    metadata: CoreMetadata,
    setup_py: Option<String>,
    files: Vec<(String, Vec<u8>)>,
}

impl SdistSpec {
    /// An sdist of `name` at `version`.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            metadata: CoreMetadata::new(name, version),
            setup_py: None,
            files: Vec::new(),
        }
    }

    /// Sets `Requires-Python` in PKG-INFO; the index advertises it too.
    pub fn requires_python(mut self, specifiers: &str) -> Self {
        self.metadata.requires_python = Some(specifiers.to_string());
        self
    }

    /// Adds a `Requires-Dist` line to PKG-INFO.
    pub fn requires_dist(mut self, requirement: &str) -> Self {
        self.metadata.requires_dist.push(requirement.to_string());
        self
    }

    /// Replaces the default setup.py (a plain setuptools `setup()` of one package).
    pub fn setup_py(mut self, text: &str) -> Self {
        self.setup_py = Some(text.to_string());
        self
    }

    /// Adds a file under the sdist's top directory. Without any, it holds
    /// `<import_name>/__init__.py`.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_string(), contents.into()));
        self
    }

    /// The file name `build` will give, e.g. `foo_bar-1.0.tar.gz`.
    pub fn filename(&self) -> String {
        format!("{}.tar.gz", self.stem())
    }

    fn stem(&self) -> String {
        format!(
            "{}-{}",
            escape_name(&self.metadata.name),
            escape_version(&self.metadata.version)
        )
    }

    /// Assembles the gzipped tarball.
    pub fn build(&self) -> Result<BuiltSdist, BuildError> {
        let filename = self.filename();
        let stem = self.stem();
        let import_name = self.metadata.import_name();
        let pkg_info = self.metadata.render();
        let setup_py = self.setup_py.clone().unwrap_or_else(|| {
            format!(
                "from setuptools import setup\n\nsetup(name={:?}, version={:?}, packages=[{:?}])\n",
                self.metadata.name, self.metadata.version, import_name
            )
        });
        let mut entries = vec![
            ("PKG-INFO".to_string(), pkg_info.clone().into_bytes()),
            ("setup.py".to_string(), setup_py.into_bytes()),
        ];
        if self.files.is_empty() {
            entries.push((format!("{import_name}/__init__.py"), Vec::new()));
        } else {
            entries.extend(self.files.iter().cloned());
        }

        let tar_error = |entry: &str, source| BuildError::Tar {
            filename: filename.clone(),
            entry: entry.to_string(),
            source,
        };
        // gzip's header time stays 0 by default, so the bytes are reproducible.
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut builder = tar::Builder::new(encoder);
        for (path, contents) in &entries {
            let full = format!("{stem}/{path}");
            let mut header = tar::Header::new_ustar();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            builder
                .append_data(&mut header, &full, contents.as_slice())
                .map_err(|source| tar_error(&full, source))?;
        }
        let bytes = builder
            .into_inner()
            .and_then(|encoder| encoder.finish())
            .map_err(|source| tar_error("<end of archive>", source))?;
        Ok(BuiltSdist {
            sha256: sha256_hex(&bytes),
            filename,
            bytes,
            pkg_info,
        })
    }
}

/// An sdist made by [`SdistSpec::build`].
#[derive(Debug, Clone)]
pub struct BuiltSdist {
    /// The sdist's file name, e.g. `foo_bar-1.0.tar.gz`.
    pub filename: String,
    /// The gzipped tarball.
    pub bytes: Vec<u8>,
    /// The PKG-INFO text inside it.
    pub pkg_info: String,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

/// Any bytes served under any file name, for artifacts the builders cannot make.
#[derive(Debug, Clone)]
pub struct RawArtifact {
    /// The file name served and listed, used verbatim.
    pub filename: String,
    /// The bytes served.
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn read_zip(bytes: &[u8]) -> zip::ZipArchive<Cursor<&[u8]>> {
        zip::ZipArchive::new(Cursor::new(bytes)).expect("the built wheel is a zip")
    }

    fn entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Vec<u8> {
        let mut file = archive.by_name(name).expect("entry exists");
        let mut contents = Vec::new();
        file.read_to_end(&mut contents).expect("entry reads");
        contents
    }

    #[test]
    fn normalizes_names_as_pep_503_says() {
        assert_eq!(normalize_name("Foo.Bar"), "foo-bar");
        assert_eq!(normalize_name("foo__-.bar"), "foo-bar");
        assert_eq!(normalize_name("Django"), "django");
    }

    #[test]
    fn file_name_and_directories_use_the_escaped_name() {
        let wheel = WheelSpec::new("Foo.Bar", "1.0").build().unwrap();
        assert_eq!(wheel.filename, "foo_bar-1.0-py3-none-any.whl");
        let mut archive = read_zip(&wheel.bytes);
        let names: Vec<String> = archive.file_names().map(str::to_string).collect();
        assert!(
            names.contains(&"foo_bar/__init__.py".to_string()),
            "{names:?}"
        );
        let metadata = entry(&mut archive, "foo_bar-1.0.dist-info/METADATA");
        assert_eq!(String::from_utf8(metadata).unwrap(), wheel.metadata);
        assert!(wheel.metadata.contains("\nName: Foo.Bar\n"));
        let built = WheelSpec::new("a-b", "1.0-1").build_tag("7").filename();
        assert_eq!(built, "a_b-1.0_1-7-py3-none-any.whl");
    }

    #[test]
    fn record_lists_every_file_with_its_true_hash_and_size() {
        let wheel = WheelSpec::new("demo", "1.0")
            .file("demo/__init__.py", "x = 1\n")
            .file("demo/data,with comma.txt", "y")
            .data_file("scripts/tool", "#!python\n")
            .console_script("demo", "demo:main")
            .build()
            .unwrap();
        assert_eq!(wheel.sha256, sha256_hex(&wheel.bytes));
        let mut archive = read_zip(&wheel.bytes);
        let record = String::from_utf8(entry(&mut archive, "demo-1.0.dist-info/RECORD")).unwrap();
        let mut listed = 0;
        for line in record.lines() {
            // Quoted fields only hold the comma test case; split it by hand.
            let (path, rest) = match line.strip_prefix('"') {
                Some(quoted) => {
                    let (path, rest) = quoted.split_once("\",").unwrap();
                    (path.replace("\"\"", "\""), rest)
                }
                None => {
                    let (path, rest) = line.split_once(',').unwrap();
                    (path.to_string(), rest)
                }
            };
            if path == "demo-1.0.dist-info/RECORD" {
                assert_eq!(rest, ",");
                continue;
            }
            let (hash, size) = rest.split_once(',').unwrap();
            let contents = entry(&mut archive, &path);
            assert_eq!(hash, record_hash(&contents), "{path}");
            assert_eq!(size, contents.len().to_string(), "{path}");
            listed += 1;
        }
        // Two files, one data file, METADATA, WHEEL, entry_points.txt.
        assert_eq!(listed, 6, "{record}");
        assert_eq!(archive.len(), 7);
        let entry_points = entry(&mut archive, "demo-1.0.dist-info/entry_points.txt");
        assert_eq!(entry_points, b"[console_scripts]\ndemo = demo:main\n");
        assert_eq!(
            entry(&mut archive, "demo-1.0.data/scripts/tool"),
            b"#!python\n"
        );
    }

    #[test]
    fn wheel_file_lists_expanded_tags() {
        let wheel = WheelSpec::new("demo", "1.0")
            .tag("py2.py3-none-any")
            .build()
            .unwrap();
        assert_eq!(wheel.filename, "demo-1.0-py2.py3-none-any.whl");
        let mut archive = read_zip(&wheel.bytes);
        let text = String::from_utf8(entry(&mut archive, "demo-1.0.dist-info/WHEEL")).unwrap();
        assert!(
            text.starts_with("Wheel-Version: 1.0\nGenerator: "),
            "{text}"
        );
        assert!(text.contains("Root-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n"));
        let binary = WheelSpec::new("demo", "1.0")
            .tag("cp311-cp311-manylinux_2_17_x86_64")
            .build()
            .unwrap();
        let mut archive = read_zip(&binary.bytes);
        let text = String::from_utf8(entry(&mut archive, "demo-1.0.dist-info/WHEEL")).unwrap();
        assert!(text.contains("Root-Is-Purelib: false\n"), "{text}");
    }

    #[test]
    fn metadata_holds_every_requested_header() {
        let wheel = WheelSpec::new("demo", "1.0")
            .requires_python(">=3.8")
            .provides_extra("x")
            .requires_dist("b>=2; extra == 'x'")
            .metadata_field("License-Expression", "MIT")
            .build()
            .unwrap();
        assert_eq!(
            wheel.metadata,
            "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.8\n\
             Provides-Extra: x\nRequires-Dist: b>=2; extra == 'x'\nLicense-Expression: MIT\n"
        );
    }

    #[test]
    fn hostile_entries_are_written_verbatim_and_left_out_of_record() {
        let wheel = WheelSpec::new("demo", "1.0")
            .raw_entry("../evil", "boom")
            .raw_entry("/abs", "boom")
            .symlink_entry("demo/link", "/etc/passwd")
            .unix_mode("demo/__init__.py", 0o755)
            .build()
            .unwrap();
        let mut archive = read_zip(&wheel.bytes);
        let record = String::from_utf8(entry(&mut archive, "demo-1.0.dist-info/RECORD")).unwrap();
        assert!(!record.contains("evil") && !record.contains("abs") && !record.contains("link"));
        assert_eq!(entry(&mut archive, "../evil"), b"boom");
        assert_eq!(entry(&mut archive, "/abs"), b"boom");
        let link = archive.by_name("demo/link").unwrap();
        assert_eq!(link.unix_mode().map(|mode| mode & 0o170000), Some(0o120000));
        drop(link);
        assert_eq!(entry(&mut archive, "demo/link"), b"/etc/passwd");
        let init = archive.by_name("demo/__init__.py").unwrap();
        assert_eq!(init.unix_mode().map(|mode| mode & 0o777), Some(0o755));
    }

    #[test]
    fn record_override_replaces_record() {
        let wheel = WheelSpec::new("demo", "1.0")
            .record_override("demo/__init__.py,sha256=AAAA,1\n")
            .build()
            .unwrap();
        let mut archive = read_zip(&wheel.bytes);
        let record = entry(&mut archive, "demo-1.0.dist-info/RECORD");
        assert_eq!(record, b"demo/__init__.py,sha256=AAAA,1\n");
    }

    #[test]
    fn duplicate_entries_are_an_error_naming_the_entry() {
        let error = WheelSpec::new("demo", "1.0")
            .file("demo/__init__.py", "")
            .raw_entry("demo/__init__.py", "again")
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, BuildError::Zip { entry, .. } if entry == "demo/__init__.py"),
            "{error:?}"
        );
    }

    #[test]
    fn builds_are_reproducible() {
        let spec = WheelSpec::new("demo", "1.0").requires_dist("dep");
        assert_eq!(spec.build().unwrap().sha256, spec.build().unwrap().sha256);
        let sdist = SdistSpec::new("demo", "1.0");
        assert_eq!(sdist.build().unwrap().sha256, sdist.build().unwrap().sha256);
    }

    #[test]
    fn sdist_holds_pkg_info_and_setup_py_under_its_top_directory() {
        let sdist = SdistSpec::new("Foo.Bar", "2.0")
            .requires_python(">=3.9")
            .build()
            .unwrap();
        assert_eq!(sdist.filename, "foo_bar-2.0.tar.gz");
        let decoder = flate2::read::GzDecoder::new(sdist.bytes.as_slice());
        let mut archive = tar::Archive::new(decoder);
        let mut found = BTreeMap::new();
        for file in archive.entries().unwrap() {
            let mut file = file.unwrap();
            let path = file.path().unwrap().to_string_lossy().into_owned();
            let mut contents = String::new();
            file.read_to_string(&mut contents).unwrap();
            found.insert(path, contents);
        }
        assert_eq!(found["foo_bar-2.0/PKG-INFO"], sdist.pkg_info);
        assert!(sdist.pkg_info.contains("Requires-Python: >=3.9\n"));
        assert!(found["foo_bar-2.0/setup.py"].contains("packages=[\"foo_bar\"]"));
        assert!(found.contains_key("foo_bar-2.0/foo_bar/__init__.py"));
    }
}
