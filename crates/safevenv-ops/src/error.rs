//! Why an operation failed: each variant says which stage, and keeps its cause.

use std::path::PathBuf;

use safevenv_fetch::FetchError;
use safevenv_index::{IndexError, IndexUrlError};
use safevenv_installer::InstallError;
use safevenv_lock::LockError;
use safevenv_policy::{PolicyError, Refusals};
use safevenv_python::TagsError;
use safevenv_resolver::ResolveError;
use uv_normalize::PackageName;
use uv_pep440::Version;

use crate::input::InputError;
use crate::target::TargetError;

/// An operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The requirements were refused.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The extras or dependency groups chosen are not in the lockfile.
    #[error(transparent)]
    Selection(#[from] crate::project::SelectionError),
    /// An sdist or a source tree could not be built.
    #[error(transparent)]
    Build(Box<crate::build::BuildError>),
    /// A direct wheel (a URL or a local file) could not be used.
    #[error(transparent)]
    Direct(#[from] crate::direct::DirectError),
    /// No interpreter to work for.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The interpreter's platform tags could not be computed.
    #[error("cannot compute the interpreter's wheel tags")]
    Tags {
        /// Why.
        #[source]
        source: TagsError,
    },
    /// No index is configured, or its URL is invalid.
    #[error(transparent)]
    IndexUrl {
        /// Why.
        #[from]
        source: IndexUrlError,
    },
    /// A requirements file names an index that is not configured.
    #[error("{origin} names the index `{url}`, which is not the configured index")]
    UnconfiguredIndex {
        /// The index URL (redacted).
        url: String,
        /// Where the line is.
        origin: String,
    },
    /// The index client failed.
    #[error(transparent)]
    Index {
        /// Why (boxed: index errors carry URLs and are large).
        source: Box<IndexError>,
    },
    /// Resolution failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Two configured indexes serve a resolved name, which no pin routes and PEP 708 does not
    /// declare one project (rule `sources.index`; `lock` fails where `install` is refused).
    #[error(
        "refused[sources.index]: `{name}` is served by `{index}` and by `{}`: a name on two indexes is how dependency confusion works, and safevenv does not choose between them{}",
        others.join("`, `"),
        if more.is_empty() { String::new() } else { format!(" (so are `{}`)", more.iter().map(ToString::to_string).collect::<Vec<_>>().join("`, `")) }
    )]
    NameOnTwoIndexes {
        /// The project.
        name: PackageName,
        /// The index resolution read it from (redacted).
        index: String,
        /// The other indexes serving it (redacted).
        others: Vec<String>,
        /// The other names refused alike, so that one run reports them all.
        more: Vec<PackageName>,
    },
    /// The index gave no sha256 for the chosen artifact.
    #[error(
        "the index gives no sha256 for `{filename}` ({name}); safevenv pins every artifact by hash"
    )]
    NoIndexHash {
        /// The project.
        name: PackageName,
        /// The artifact.
        filename: String,
    },
    /// The chosen artifact's hash is not among the `--hash` pins.
    #[error("`{filename}` ({name} {version}) matches none of the hashes pinned for `{name}`")]
    PinnedHashMismatch {
        /// The project.
        name: PackageName,
        /// The version chosen.
        version: Version,
        /// The artifact chosen.
        filename: String,
        /// The pins, `algorithm:hex`.
        pinned: Vec<String>,
    },
    /// An index gave a file URL that is not a URL.
    #[error("the index gave the invalid file URL `{url}`: {reason}")]
    InvalidFileUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The lockfile already at the output path is invalid.
    #[error("cannot read the existing lockfile `{}`", path.display())]
    PreviousLock {
        /// The file.
        path: PathBuf,
        /// Why (boxed: lockfile errors are large).
        #[source]
        source: Box<LockError>,
    },
    /// The output file is one of the inputs.
    #[error("the output `{}` is also an input; writing it would replace your requirements", path.display())]
    OutputIsInput {
        /// The file.
        path: PathBuf,
    },
    /// The install committed (the environment holds the new set), but its lockfile could not be
    /// written: the two disagree until it is.
    #[error("the environment was updated ({installed} installed, {removed} removed), but the lockfile `{}` could not be written", path.display())]
    LockfileAfterInstall {
        /// The lockfile.
        path: PathBuf,
        /// Distributions the committed transaction installed.
        installed: usize,
        /// Distributions it removed.
        removed: usize,
        /// Why the write failed.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the network runtime")]
    Runtime {
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A package of the lockfile cannot be installed.
    #[error("the lockfile's `{name}` cannot be installed: {reason}")]
    LockedPackage {
        /// The project.
        name: PackageName,
        /// Why.
        reason: String,
    },
    /// The lockfile could not be read.
    #[error("cannot read the lockfile `{}`", path.display())]
    LockfileRead {
        /// The file.
        path: PathBuf,
        /// Why (boxed: lockfile errors are large).
        #[source]
        source: Box<LockError>,
    },
    /// The lockfile was made for another environment.
    #[error("the lockfile `{}` is not for this environment: {reason}", lockfile.display())]
    WrongEnvironment {
        /// The lockfile.
        lockfile: PathBuf,
        /// What differs.
        reason: String,
    },
    /// `--frozen` and the lockfile no longer satisfies the requirements.
    #[error("the lockfile `{}` no longer satisfies the requirements: {}", lockfile.display(), stale.join(", "))]
    Frozen {
        /// The lockfile.
        lockfile: PathBuf,
        /// The requirements it does not satisfy.
        stale: Vec<String>,
    },
    /// `--frozen` without requirements to check.
    #[error("`--frozen` checks the lockfile against requirements, and none were given")]
    FrozenWithoutRequirements,
    /// `policy init` would replace an existing policy file.
    #[error("`{}` already exists; safevenv does not replace a policy file unasked", path.display())]
    PolicyFileExists {
        /// The file.
        path: PathBuf,
    },
    /// The policy could not be loaded.
    #[error(transparent)]
    Policy(Box<PolicyError>),
    /// The policy refused the resolved set: nothing was installed.
    #[error("the policy refused the installation; the environment was not changed\n{0}")]
    Refused(Refusals),
    /// An artifact could not be fetched or did not match its pinned hash.
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// The environment could not be changed (it was left as it was).
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The seal key's place could not be chosen.
    #[error(transparent)]
    SealKeyLocation(#[from] safevenv_cache::CacheError),
    /// The provenance of an artifact could not be fetched from the index.
    #[error("cannot fetch the provenance of `{filename}` ({name})")]
    Provenance {
        /// The project.
        name: PackageName,
        /// The artifact.
        filename: String,
        /// Why (boxed: index errors are large).
        #[source]
        source: Box<IndexError>,
    },
    /// The Sigstore trusted root could not be read or is invalid.
    #[error(transparent)]
    TrustRoot {
        /// Why.
        source: Box<safevenv_attest::AttestError>,
    },
    /// A lockfile's `attestation-identities` entry cannot be read.
    #[error("the lockfile `{}` pins a publisher for `{name}` that cannot be read: {reason}", lockfile.display())]
    LockedIdentity {
        /// The lockfile.
        lockfile: PathBuf,
        /// The project.
        name: PackageName,
        /// Why.
        reason: String,
    },
    /// The index offered an attestation that does not verify.
    #[error(
        "the index offered an attestation for `{filename}` ({name}) that does not verify: {reason}"
    )]
    AttestationInvalid {
        /// The project.
        name: PackageName,
        /// The artifact.
        filename: String,
        /// Why.
        reason: String,
    },
    /// The publisher differs from the one the lockfile pins, or the attestation vanished.
    #[error("`{filename}` ({name}) {actual}, but the lockfile records the publisher {locked}")]
    PublisherChanged {
        /// The project.
        name: PackageName,
        /// The artifact.
        filename: String,
        /// What was found (`published by ...`, or no attestation).
        actual: String,
        /// The pinned publishers.
        locked: String,
    },
    /// `attest verify`: the attestation or provenance of a local artifact does not verify.
    #[error("the attestation of `{}` does not verify", artifact.display())]
    AttestationRefused {
        /// The artifact.
        artifact: PathBuf,
        /// Why.
        #[source]
        source: Box<safevenv_attest::AttestError>,
    },
    /// An input file could not be read.
    #[error("cannot read `{}`", path.display())]
    ReadInput {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// What `audit`, `outdated` or `sbom` was asked to read could not be read.
    #[error(transparent)]
    Subject(#[from] crate::subject::SubjectError),
    /// `uninstall` was refused before anything changed.
    #[error(transparent)]
    Uninstall(#[from] crate::uninstall::UninstallError),
    /// The offline advisory database (`--db`, `--audit-db`) could not be read.
    #[error("cannot read the advisory database `{}`", path.display())]
    AuditDb {
        /// The database.
        path: PathBuf,
        /// Why (boxed: load errors carry paths).
        #[source]
        source: Box<safevenv_audit::LoadError>,
    },
    /// The OSV API could not be asked.
    #[error(transparent)]
    Osv(Box<safevenv_audit::OnlineError>),
    /// `verify` could not read the environment.
    #[error("cannot read `{}`", path.display())]
    Verify {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A bug in safevenv: an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::build::BuildError> for OpsError {
    fn from(error: crate::build::BuildError) -> Self {
        Self::Build(Box::new(error))
    }
}
