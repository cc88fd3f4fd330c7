//! Writing a lockfile, deterministically.
//!
//! The layout is written by hand rather than through a TOML serializer because the layout is
//! part of our compatibility promise (`docs/lockfile.md`): keys in PEP 751's order, one
//! `[[packages]]` table per package, every nested value inline (one wheel per line), tables'
//! keys sorted. Scalars (strings, datetimes, numbers) are rendered by the `toml` crate, so
//! escaping is the TOML library's, not ours.

use std::cmp::Ordering;
use std::fmt::Write as _;

use toml::Value;
use uv_pep508::MarkerTree;

use crate::model::{
    Archive, AttestationIdentity, Directory, Hashes, LOCK_VERSION, Lock, Package, Sdist, Source,
    Vcs, Wheel,
};

impl Lock {
    /// The lockfile as TOML text.
    ///
    /// Deterministic: the same `Lock` always gives the same bytes. Packages are sorted by name,
    /// version and marker, wheels by file name, every array and table key in a fixed order, and
    /// `lock-version` is always [`LOCK_VERSION`]. Reading the text back gives this lock in
    /// canonical order. It does not refuse URLs with credentials: check
    /// [`Lock::contains_credentials`] before writing a lockfile anywhere.
    pub fn to_toml_string(&self) -> String {
        let mut lock = self.clone();
        lock.canonicalize();
        let mut out = String::new();
        line(&mut out, "lock-version", string(LOCK_VERSION));
        if let Some(environments) = &lock.environments {
            line(
                &mut out,
                "environments",
                array(
                    environments
                        .iter()
                        .map(|marker| string(&marker_text(*marker))),
                ),
            );
        }
        if let Some(requires_python) = &lock.requires_python {
            line(
                &mut out,
                "requires-python",
                string(&requires_python.to_string()),
            );
        }
        let names = |names: &[_]| array(names.iter().map(|name: &String| string(name)));
        if let Some(extras) = &lock.extras {
            let extras: Vec<String> = extras.iter().map(ToString::to_string).collect();
            line(&mut out, "extras", names(&extras));
        }
        if let Some(groups) = &lock.dependency_groups {
            let groups: Vec<String> = groups.iter().map(ToString::to_string).collect();
            line(&mut out, "dependency-groups", names(&groups));
        }
        if let Some(groups) = &lock.default_groups {
            let groups: Vec<String> = groups.iter().map(ToString::to_string).collect();
            line(&mut out, "default-groups", names(&groups));
        }
        line(&mut out, "created-by", string(&lock.created_by));
        for package in &lock.packages {
            out.push_str("\n[[packages]]\n");
            write_package(&mut out, package);
        }
        if let Some(tool) = &lock.tool {
            out.push_str("\n[tool]\n");
            for (key, value) in sorted(tool) {
                line(&mut out, key, inline(value));
            }
        }
        out
    }

    /// Puts the lock in the order it is written in. PEP 751 gives no meaning to the order of
    /// packages, wheels, or the listed names, and says tools "SHOULD sort arrays in consistent
    /// order"; a stable sort keeps the relative order of entries that compare equal.
    ///
    /// An `environments` list with an always-true marker says "any environment", which is what
    /// no list says; it becomes no list, as a true marker has no text to write.
    pub(crate) fn canonicalize(&mut self) {
        if self
            .environments
            .as_ref()
            .is_some_and(|environments| environments.iter().any(|marker| marker.is_true()))
        {
            self.environments = None;
        }
        if let Some(environments) = &mut self.environments {
            environments.sort_by_cached_key(|marker| marker_text(*marker));
        }
        if let Some(extras) = &mut self.extras {
            extras.sort();
        }
        if let Some(groups) = &mut self.dependency_groups {
            groups.sort();
        }
        if let Some(groups) = &mut self.default_groups {
            groups.sort();
        }
        for package in &mut self.packages {
            package
                .dependencies
                .sort_by_cached_key(|dependency| inline_table(&dependency.0));
            package
                .attestation_identities
                .sort_by_cached_key(identity_text);
            if let Source::Distributions { wheels, .. } = &mut package.source {
                wheels.sort_by_cached_key(wheel_text);
            }
        }
        self.packages.sort_by(compare_packages);
    }
}

/// Packages by (name, version, marker). Markers compare by their text: the marker type's own
/// order depends on the order expressions were first seen in the process.
fn compare_packages(first: &Package, second: &Package) -> Ordering {
    first
        .name
        .cmp(&second.name)
        .then_with(|| first.version.cmp(&second.version))
        .then_with(|| marker_text(first.marker).cmp(&marker_text(second.marker)))
}

/// A marker's text, for sorting and for `environments` (where no marker is always true, see
/// [`Lock::canonicalize`]).
fn marker_text(marker: MarkerTree) -> String {
    marker.try_to_string().unwrap_or_default()
}

fn write_package(out: &mut String, package: &Package) {
    line(out, "name", string(package.name.as_str()));
    if let Some(version) = &package.version {
        line(out, "version", string(&version.to_string()));
    }
    if let Some(marker) = package.marker.try_to_string() {
        line(out, "marker", string(&marker));
    }
    if let Some(requires_python) = &package.requires_python {
        line(out, "requires-python", string(&requires_python.to_string()));
    }
    if !package.dependencies.is_empty() {
        multiline(
            out,
            "dependencies",
            package
                .dependencies
                .iter()
                .map(|dependency| inline_table(&dependency.0)),
        );
    }
    match &package.source {
        Source::Vcs(vcs) => line(out, "vcs", vcs_text(vcs)),
        Source::Directory(directory) => line(out, "directory", directory_text(directory)),
        Source::Archive(archive) => line(out, "archive", archive_text(archive)),
        Source::Distributions { .. } => {}
    }
    // PEP 751 lists `index` after `archive` and before `sdist`.
    if let Some(index) = &package.index {
        line(out, "index", string(index.as_str()));
    }
    if let Source::Distributions { sdist, wheels } = &package.source {
        if let Some(sdist) = sdist {
            line(out, "sdist", sdist_text(sdist));
        }
        if !wheels.is_empty() {
            multiline(out, "wheels", wheels.iter().map(wheel_text));
        }
    }
    if !package.attestation_identities.is_empty() {
        multiline(
            out,
            "attestation-identities",
            package.attestation_identities.iter().map(identity_text),
        );
    }
    if let Some(tool) = &package.tool {
        line(out, "tool", inline_table(tool));
    }
}

fn vcs_text(vcs: &Vcs) -> String {
    let mut table = Fields::default();
    table.push("type", string(&vcs.kind));
    table.push_opt("url", vcs.url.as_ref().map(|url| string(url.as_str())));
    table.push_opt("path", vcs.path.as_deref().map(string));
    table.push_opt(
        "requested-revision",
        vcs.requested_revision.as_deref().map(string),
    );
    table.push("commit-id", string(&vcs.commit_id));
    table.push_opt("subdirectory", vcs.subdirectory.as_deref().map(string));
    table.finish()
}

fn directory_text(directory: &Directory) -> String {
    let mut table = Fields::default();
    table.push("path", string(&directory.path));
    table.push_opt(
        "editable",
        directory.editable.map(|editable| editable.to_string()),
    );
    table.push_opt(
        "subdirectory",
        directory.subdirectory.as_deref().map(string),
    );
    table.finish()
}

fn archive_text(archive: &Archive) -> String {
    let mut table = Fields::default();
    table.push_opt("url", archive.url.as_ref().map(|url| string(url.as_str())));
    table.push_opt("path", archive.path.as_deref().map(string));
    table.push_opt("size", archive.size.map(|size| size.to_string()));
    table.push_opt(
        "upload-time",
        archive.upload_time.map(|time| time.to_string()),
    );
    table.push("hashes", hashes_text(&archive.hashes));
    table.push_opt("subdirectory", archive.subdirectory.as_deref().map(string));
    table.finish()
}

fn sdist_text(sdist: &Sdist) -> String {
    let mut table = Fields::default();
    table.push_opt("name", sdist.name.as_deref().map(string));
    table.push_opt(
        "upload-time",
        sdist.upload_time.map(|time| time.to_string()),
    );
    table.push_opt("url", sdist.url.as_ref().map(|url| string(url.as_str())));
    table.push_opt("path", sdist.path.as_deref().map(string));
    table.push_opt("size", sdist.size.map(|size| size.to_string()));
    table.push("hashes", hashes_text(&sdist.hashes));
    table.finish()
}

fn wheel_text(wheel: &Wheel) -> String {
    let mut table = Fields::default();
    table.push_opt("name", wheel.name.as_deref().map(string));
    table.push_opt(
        "upload-time",
        wheel.upload_time.map(|time| time.to_string()),
    );
    table.push_opt("url", wheel.url.as_ref().map(|url| string(url.as_str())));
    table.push_opt("path", wheel.path.as_deref().map(string));
    table.push_opt("size", wheel.size.map(|size| size.to_string()));
    table.push("hashes", hashes_text(&wheel.hashes));
    table.finish()
}

fn hashes_text(hashes: &Hashes) -> String {
    let mut table = Fields::default();
    // A `BTreeMap`: sorted by algorithm.
    for (algorithm, digest) in &hashes.0 {
        table.push(&key(algorithm), string(digest));
    }
    table.finish()
}

/// `kind` first, then the publisher's keys sorted.
fn identity_text(identity: &AttestationIdentity) -> String {
    let mut table = Fields::default();
    table.push("kind", string(&identity.kind));
    for (name, value) in sorted(&identity.claims) {
        table.push(&key(name), inline(value));
    }
    table.finish()
}

/// An inline table being written: `{ key = value, ... }`.
#[derive(Default)]
struct Fields(String);

impl Fields {
    fn push(&mut self, key: &str, value: String) {
        self.0.push_str(if self.0.is_empty() { "{ " } else { ", " });
        let _ = write!(self.0, "{key} = {value}");
    }

    fn push_opt(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value {
            self.push(key, value);
        }
    }

    fn finish(self) -> String {
        if self.0.is_empty() {
            "{}".to_owned()
        } else {
            self.0 + " }"
        }
    }
}

fn line(out: &mut String, name: &str, value: String) {
    let _ = writeln!(out, "{} = {value}", key(name));
}

/// An array of inline values, one per line, each followed by a comma (diff-friendly).
fn multiline(out: &mut String, name: &str, items: impl Iterator<Item = String>) {
    let _ = writeln!(out, "{} = [", key(name));
    for item in items {
        let _ = writeln!(out, "    {item},");
    }
    out.push_str("]\n");
}

fn array(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    format!("[{}]", items.join(", "))
}

/// A TOML string, escaped by the `toml` crate.
fn string(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

/// A key: bare when TOML allows it, else quoted.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if bare { name.to_owned() } else { string(name) }
}

fn sorted(table: &toml::Table) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by(|first, second| first.0.cmp(second.0));
    entries
}

/// Any TOML value on one line, tables' keys sorted (opaque `tool` data, dependencies,
/// publisher claims).
fn inline(value: &Value) -> String {
    match value {
        Value::Table(table) => inline_table(table),
        Value::Array(items) => array(items.iter().map(inline)),
        scalar => scalar.to_string(),
    }
}

fn inline_table(table: &toml::Table) -> String {
    let mut fields = Fields::default();
    for (name, value) in sorted(table) {
        fields.push(&key(name), inline(value));
    }
    fields.finish()
}
