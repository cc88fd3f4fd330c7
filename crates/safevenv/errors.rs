//! Library errors as diagnostics: the exit code they deserve and the hints that fix them.

use safevenv_ops::{
    BuildError, InputError, InstallError, OpsError, SubjectError, TargetError, UninstallError,
};
use safevenv_resolver::ResolveError;

use crate::diagnostic::{Diagnostic, Failure};

pub fn ops_diagnostic(err: OpsError) -> Diagnostic {
    let (failure, hints): (Failure, Vec<String>) = match &err {
        OpsError::Input(input) => (Failure::Input, input_hints(input)),
        OpsError::Selection(selection) => (Failure::Input, selection_hints(selection)),
        OpsError::Direct(_) => (Failure::Input, Vec::new()),
        OpsError::Build(build) => build_hints(build),
        OpsError::Target(TargetError::Discovery(discovery)) => {
            (Failure::Internal, vec![discovery.hint()])
        }
        OpsError::Target(TargetError::Request(_)) => (
            Failure::Input,
            vec!["pass a version (`3.12`), a path, or a name (`python3.12`)".to_string()],
        ),
        OpsError::UnconfiguredIndex { url, .. } => (
            Failure::Input,
            vec![format!(
                "to resolve from it, say so yourself: `--index-url {url}` (or `--extra-index-url`)"
            )],
        ),
        OpsError::Resolve(ResolveError::NoSolution { .. }) => (
            Failure::Input,
            vec!["loosen or remove the conflicting requirements shown above".to_string()],
        ),
        OpsError::PinnedHashMismatch { pinned, .. } => (
            Failure::Input,
            vec![format!(
                "pinned: {}; if the new artifact is expected, update the `--hash` lines",
                pinned.join(", ")
            )],
        ),
        OpsError::PreviousLock { .. } => (
            Failure::Input,
            vec!["fix the lockfile, or remove it to lock afresh".to_string()],
        ),
        OpsError::OutputIsInput { .. } => (
            Failure::Input,
            vec!["write the lockfile elsewhere with `-o FILE`".to_string()],
        ),
        OpsError::Refused(refusals) => (
            Failure::Refused,
            refused_hints(refusals),
        ),
        OpsError::NameOnTwoIndexes { name, index, others, .. } => (
            Failure::Refused,
            vec![format!(
                "pin `{name} = \"<the index it must come from>\"` (`{index}` or `{}`) in `[sources.packages]` of the policy, so that it is resolved from that index only",
                others.join("` or `")
            )],
        ),
        OpsError::PublisherChanged { name, .. } => (Failure::Refused, vec![publisher_change_hint(name)]),
        OpsError::AttestationInvalid { .. } => (
            Failure::Refused,
            vec!["the artifact or its attestation was tampered with; report it to the publisher, or set the project's attestation mode to `off` in the policy".to_string()],
        ),
        OpsError::AttestationRefused { .. } | OpsError::ReadInput { .. } => (Failure::Input, Vec::new()),
        OpsError::TrustRoot { .. } => (
            Failure::Input,
            vec!["`--trusted-root` takes a Sigstore `trusted_root.json`; see `docs/attestations.md`".to_string()],
        ),
        OpsError::LockedIdentity { .. } => (
            Failure::Input,
            vec!["fix the entry's `attestation-identities`, or remove them to pin the publisher afresh".to_string()],
        ),
        OpsError::Target(TargetError::NoEnvironment { .. }) => (
            Failure::Input,
            vec!["create one with `safevenv create`, activate one, or pass its interpreter with `--python`".to_string()],
        ),
        OpsError::Target(TargetError::NotAnEnvironment { .. }) => (
            Failure::Input,
            vec!["create an environment with `safevenv create` and install there, or pass `--system` to install into this interpreter itself".to_string()],
        ),
        OpsError::Target(TargetError::ExternallyManaged { .. }) => (
            Failure::Input,
            vec!["create an environment with `safevenv create` and install there (safevenv has no option to install into an externally managed installation)".to_string()],
        ),
        OpsError::Target(TargetError::SystemLayout { .. }) => (
            Failure::Input,
            vec!["a transaction stages files below the interpreter's prefix and moves them in with renames, on one file system; create an environment with `safevenv create` and install there".to_string()],
        ),
        OpsError::WrongEnvironment { .. } => (
            Failure::Input,
            vec!["lock again for this environment with `safevenv lock`".to_string()],
        ),
        OpsError::Frozen { .. } => (
            Failure::Input,
            vec!["run `safevenv lock` to update the lockfile, then commit it".to_string()],
        ),
        OpsError::FrozenWithoutRequirements => (
            Failure::Input,
            vec!["pass the requirements with `-r FILE`".to_string()],
        ),
        OpsError::LockfileAfterInstall { .. } => (
            Failure::Internal,
            vec![
                "the environment is consistent and holds the new set; fix the cause, then run `safevenv lock` with the same requirements to write the lockfile".to_string(),
                "to go back instead, run `safevenv sync` with the previous lockfile".to_string(),
            ],
        ),
        OpsError::PolicyFileExists { .. } => (
            Failure::Input,
            vec!["add `--force` to replace it".to_string()],
        ),
        OpsError::LockfileRead { .. } | OpsError::LockedPackage { .. } => (Failure::Input, Vec::new()),
        OpsError::Policy(_) => (Failure::Input, Vec::new()),
        OpsError::Subject(SubjectError::Unpinned { .. }) => (
            Failure::Input,
            vec!["pin every requirement as `name==version`, e.g. with `safevenv lock --format requirements.txt`".to_string()],
        ),
        OpsError::Subject(SubjectError::Interpreter { .. }) => (Failure::Internal, Vec::new()),
        OpsError::Subject(_) | OpsError::AuditDb { .. } => (Failure::Input, Vec::new()),
        OpsError::Osv(online) if matches!(**online, safevenv_audit::OnlineError::InvalidUrl { .. }) => {
            (Failure::Input, Vec::new())
        }
        OpsError::Osv(_) => (
            Failure::Internal,
            vec!["audit offline with `--db PATH` (a copy of an advisory database)".to_string()],
        ),
        OpsError::Uninstall(UninstallError::Required { required }) => (
            Failure::Input,
            vec![
                format!(
                    "remove the requirers too (`safevenv uninstall {}`), or pass `--force` to remove anyway",
                    required
                        .iter()
                        .flat_map(|(requirer, _, removed)| [removed.to_string(), requirer.to_string()])
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ],
        ),
        OpsError::Install(InstallError::NotInstalled { .. }) => (
            Failure::Input,
            vec!["see what is installed with `safevenv list`".to_string()],
        ),
        OpsError::Install(
            InstallError::RecordPathOutsideEnvironment { .. }
            | InstallError::RecordPathInStateDir { .. }
            | InstallError::RecordPathEnvironmentFile { .. },
        ) => (
            Failure::Refused,
            vec!["nothing was removed; that `RECORD` was not written by an installer for this environment: inspect it, and recreate the environment if it was tampered with".to_string()],
        ),
        _ if is_offline_miss(&err) => (
            Failure::Internal,
            vec!["run once without `--offline` to fill the cache".to_string()],
        ),
        _ => (Failure::Internal, Vec::new()),
    };
    Diagnostic::from_error(&err, failure).with_hints(hints)
}

/// The general hint, and how to accept each publisher change the policy refused.
fn refused_hints(refusals: &safevenv_policy::Refusals) -> Vec<String> {
    let changed = refusals
        .refusals()
        .iter()
        .filter(|refusal| refusal.rule == safevenv_policy::RuleId::AttestationsPublisherChange)
        .map(|refusal| publisher_change_hint(&refusal.package));
    std::iter::once(
        "each refusal above names the policy key that would allow it; see `docs/policy.md`"
            .to_string(),
    )
    .chain(changed)
    .collect()
}

/// How to accept a publisher change the user has reviewed (`docs/attestations.md`).
fn publisher_change_hint(name: &uv_normalize::PackageName) -> String {
    format!(
        "if `{name}` really changed publisher, review it, then run again with `--accept-publisher-change {name}`; the lockfile then records the new publisher"
    )
}

/// Whether a cache miss with `--offline` lies anywhere in the chain (the resolver wraps index
/// errors in its own).
fn is_offline_miss(err: &OpsError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = cause {
        if let Some(safevenv_index::IndexError::OfflineMiss { .. }) = error.downcast_ref() {
            return true;
        }
        cause = error.source();
    }
    false
}

fn build_hints(err: &BuildError) -> (Failure, Vec<String>) {
    match err {
        BuildError::SandboxUnavailable { name, .. } => (
            Failure::Input,
            vec![
                "safevenv runs build backends only inside its sandbox (see docs/build.md for what it needs)".to_string(),
                format!(
                    "to build it anyway WITHOUT isolation (its backend then sees your files and the network), pass `--unsandboxed-build {name}`"
                ),
            ],
        ),
        BuildError::NestedBuild { .. } => (
            Failure::Input,
            vec!["build dependencies must be wheels from the index".to_string()],
        ),
        BuildError::MissingHook { .. } => (
            Failure::Input,
            vec!["install it without `-e`, or use a build backend that supports PEP 660".to_string()],
        ),
        BuildError::HookFailed { .. } | BuildError::BadResult { .. } => (
            Failure::Input,
            vec!["the project's build backend failed; its output is above".to_string()],
        ),
        BuildError::Io { .. } | BuildError::Sandbox { .. } => (Failure::Internal, Vec::new()),
        _ => (Failure::Input, Vec::new()),
    }
}

fn input_hints(err: &InputError) -> Vec<String> {
    match err {
        InputError::UnsupportedSource { .. } => vec![
            "require the project by name and version from the index instead (`name==1.2.3`)"
                .to_string(),
        ],
        InputError::NeedsBuild { .. } => vec![
            "build a wheel or an sdist from it and name that (`./dist/name-1.0.tar.gz`), or require a published version (`name==1.2.3`)"
                .to_string(),
        ],
        InputError::DirectUrlUnpinned { .. } => vec![
            "pin it: append `#sha256=<digest>` to the URL, or add `--hash=sha256:<digest>` to the line"
                .to_string(),
        ],
        InputError::NameMismatch { .. }
        | InputError::InvalidWheelFilename { .. }
        | InputError::ConflictingDirect { .. } => Vec::new(),
        InputError::FindLinks { .. } | InputError::NoIndex { .. } => {
            vec!["publish the artifacts on an index and pass it with `--index-url`".to_string()]
        }
        InputError::NoBinary { .. } => {
            vec!["remove `--no-binary`; safevenv installs published wheels".to_string()]
        }
        InputError::TrustedHost { .. } => vec![
            "remove `--trusted-host`; give the index a valid certificate, or add its CA to the system store"
                .to_string(),
        ],
        InputError::NotPinnedWithHash { .. } => vec![
            "pin it as `name==version --hash=sha256:<digest>`, e.g. from `safevenv lock --format requirements.txt`"
                .to_string(),
        ],
        InputError::Empty => vec![
            "name packages (`safevenv lock requests`) or a file (`-r requirements.txt`), or run it in a project (a `pyproject.toml` with a `[project]` table)".to_string(),
        ],
        InputError::Requirements(_) | InputError::Unnamed { .. } => Vec::new(),
        InputError::Project(project) => project_hints(project),
        InputError::RequiresPython { .. } => vec![
            "choose a supported interpreter with `--python`, or widen `requires-python`".to_string(),
        ],
    }
}

fn selection_hints(err: &safevenv_ops::SelectionError) -> Vec<String> {
    use safevenv_ops::SelectionError;
    match err {
        SelectionError::UnknownExtra { .. } | SelectionError::UnknownGroup { .. } => vec![
            "choose one the lockfile holds, or lock again (`safevenv lock`) after adding it to `pyproject.toml`".to_string(),
        ],
        SelectionError::OnlyGroupWithDependencies { .. } => vec![
            "lock the groups alone (`safevenv lock --only-group NAME`), or use `--no-default-groups --group NAME`".to_string(),
        ],
    }
}

fn project_hints(err: &safevenv_ops::ProjectError) -> Vec<String> {
    use safevenv_ops::ProjectError;
    match err {
        ProjectError::MissingProject { .. } | ProjectError::MissingName { .. } => vec![
            "declare the project: `[project]` with `name = \"...\"` and `dependencies = [...]`, or pass requirements with `-r FILE`".to_string(),
        ],
        ProjectError::DynamicDependencies { .. } | ProjectError::DynamicOptionalDependencies { .. } => vec![
            "write the dependencies in `pyproject.toml` and remove them from `project.dynamic`, or pass requirements with `-r FILE`".to_string(),
        ],
        ProjectError::UnknownExtra { .. } | ProjectError::UnknownGroup { .. } => vec![
            "choose one the project defines, or add it to `pyproject.toml`".to_string(),
        ],
        ProjectError::NotADependency { .. } => vec![
            "name a declared dependency; `--group NAME` or `--optional EXTRA` edit those arrays".to_string(),
        ],
        ProjectError::NotFound { .. } => vec![
            "run it in a project directory, or pass requirements with `-r FILE`".to_string(),
        ],
        _ => Vec::new(),
    }
}
