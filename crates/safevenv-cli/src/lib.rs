//! Command-line argument types for safevenv.
//!
//! Only types live here (as in uv's `uv-cli`): the binary turns them into settings and calls one
//! library function per command, so every option is documented in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod reference;

pub use reference::reference_markdown;

/// safevenv creates Python virtual environments and installs into them safely.
///
/// Every package is resolved, pinned, hash-checked, provenance-checked and judged by a policy
/// before anything lands in the environment; a refusal leaves the environment as it was.
#[derive(Debug, Parser)]
#[command(
    name = "safevenv",
    version,
    about = "Create Python virtual environments and install into them safely",
    long_about = "safevenv creates Python virtual environments and installs into them safely: \
        requirements are resolved, locked (PEP 751 `pylock.toml`), fetched hash-pinned, their \
        attestations verified (PEP 740) and judged by a policy before anything lands in the \
        environment; a refusal (exit code 3) leaves the environment as it was.",
    after_help = "Start with `safevenv create`, then `safevenv install -r requirements.txt`; \
        `safevenv doctor` checks a project against the practices. Exit codes: 0 success, \
        1 safevenv failed, 2 bad input, 3 refused by the policy or a check.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Use this directory for caches instead of `SAFEVENV_CACHE_DIR` or the platform default.
    #[arg(global = true, long, env = "SAFEVENV_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Print more detail (repeat for more).
    #[arg(global = true, short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only errors.
    #[arg(global = true, short, long)]
    pub quiet: bool,

    /// When to use colours in output.
    #[arg(global = true, long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal that supports it.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a virtual environment.
    Create(CreateArgs),
    /// Resolve requirements and write a lockfile (PEP 751 `pylock.toml`).
    Lock(LockArgs),
    /// Resolve, verify, judge by the policy, and install into the environment.
    Install(InstallArgs),
    /// Make the environment hold exactly what a lockfile lists.
    Sync(SyncArgs),
    /// Remove distributions from the environment (journaled), and from the lockfile.
    Uninstall(UninstallArgs),
    /// List the installed distributions and where each came from.
    List(ListArgs),
    /// Print the installed distributions as pinned requirements with hashes (pip's format).
    Freeze(FreezeArgs),
    /// One project's health: versions, release history, yanks, attestations, vulnerabilities,
    /// dependencies, license and URLs.
    Show(ShowArgs),
    /// Report known vulnerabilities of a lockfile's, an environment's or pinned requirements'
    /// distributions.
    Audit(AuditArgs),
    /// Compare installed or locked versions with the newest the index offers.
    Outdated(OutdatedArgs),
    /// Check every installed file against its RECORD, and the environment against a lockfile.
    Verify(VerifyArgs),
    /// Write a CycloneDX 1.5 software bill of materials (JSON).
    Sbom(SbomArgs),
    /// Write, check against, and explain the policy.
    Policy(PolicyArgs),
    /// Verify PEP 740 attestations offline.
    #[command(subcommand)]
    Attest(AttestCommand),
    /// Check the project and its environment against the practices (exit 3 on an error).
    Doctor(DoctorArgs),
    /// Print a shell completion script (`safevenv completions bash > ~/.local/share/bash-completion/completions/safevenv`).
    Completions(CompletionsArgs),
    /// Add dependencies to the project's `pyproject.toml`, then lock and sync.
    Add(AddArgs),
    /// Remove dependencies from the project's `pyproject.toml`, then lock and sync.
    Remove(RemoveArgs),
}

/// The completion script for `shell`, generated from the definitions here (so it cannot drift).
pub fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "safevenv", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// Arguments of `safevenv completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// How `doctor` writes its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    /// For people: each finding with its rule, why it matters and the fix.
    Text,
    /// JSON, for tools.
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
}

/// Arguments of `safevenv doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The environment (default: the active environment, then `.venv` here).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,

    /// The lockfile the requirements and the environment are checked against.
    #[arg(long, default_value = "pylock.toml", value_name = "FILE")]
    pub lockfile: PathBuf,

    /// The requirements files (repeatable; default: `requirements.txt` here, if there is one).
    #[arg(short = 'r', long = "requirement", value_name = "FILE")]
    pub requirements: Vec<PathBuf>,

    /// The policy file (default: as for `install`).
    #[arg(long, env = "SAFEVENV_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Check known vulnerabilities against this offline advisory database (as for `audit
    /// --db`); without it they are not checked: `doctor` does not reach the network.
    #[arg(long, env = "SAFEVENV_AUDIT_DB", value_name = "PATH")]
    pub audit_db: Option<PathBuf>,

    /// The report's format (JSON and SARIF on standard output).
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    pub format: DoctorFormat,
}

/// Arguments of `safevenv install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub resolve: ResolveArgs,

    #[command(flatten)]
    pub attest: AttestOptions,

    /// The lockfile to keep up to date with the environment (read for preferred versions,
    /// written after a successful install).
    #[arg(
        long,
        default_value = "pylock.toml",
        value_name = "FILE",
        conflicts_with = "no_lockfile"
    )]
    pub lockfile: PathBuf,

    /// Write no lockfile.
    #[arg(long)]
    pub no_lockfile: bool,

    #[command(flatten)]
    pub gate: GateArgs,
}

/// The options of the commands that install: the policy gate and where to install.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The policy file (default: `safevenv.toml` or `[tool.safevenv]` in `pyproject.toml`, found
    /// from the current directory upwards; else the `default` preset).
    #[arg(long, env = "SAFEVENV_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// How to report policy refusals: `json` also writes them to standard output.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// An offline advisory database (OSV records: a folder, a file, a zip or a tar.gz); the
    /// policy's `vulnerabilities` rule judges the advisories it lists. Without it, no
    /// vulnerability facts are gathered.
    #[arg(long, env = "SAFEVENV_AUDIT_DB", value_name = "PATH")]
    pub audit_db: Option<PathBuf>,

    /// Install into the interpreter `--python` names (default: the active environment's, then
    /// `python3` on `PATH`) even when it is not an environment's. An installation marked
    /// externally managed (PEP 668 `EXTERNALLY-MANAGED`, as a Linux distribution's Python is) is
    /// refused; there is no override.
    #[arg(long)]
    pub system: bool,
}

/// Arguments of `safevenv sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The lockfile to install.
    #[arg(default_value = "pylock.toml", value_name = "LOCKFILE")]
    pub lockfile: PathBuf,

    #[command(flatten)]
    pub attest: AttestOptions,

    /// The environment's interpreter (default: `VIRTUAL_ENV`, then `.venv` here).
    #[arg(long, short = 'p', env = "SAFEVENV_PYTHON", value_name = "PYTHON")]
    pub python: Option<String>,

    /// Fail, installing nothing, if the lockfile no longer satisfies these requirements files
    /// (without `-r`: the project's `pyproject.toml`, with the extras and groups it was locked
    /// with unless others are chosen).
    #[arg(long)]
    pub frozen: bool,

    /// With `--frozen`: the requirements the lockfile must satisfy (repeatable).
    #[arg(
        short = 'r',
        long = "requirement",
        value_name = "FILE",
        requires = "frozen"
    )]
    pub requirements: Vec<PathBuf>,

    /// The index the lockfile's artifacts come from (for credentials and the policy's sources
    /// rule; default as for `lock`).
    #[arg(long, short = 'i', value_name = "URL")]
    pub index_url: Option<String>,

    /// Use only what is cached; fail instead of reaching the network.
    #[arg(long)]
    pub offline: bool,

    #[command(flatten)]
    pub project: ProjectArgs,

    #[command(flatten)]
    pub gate: GateArgs,
}

/// How a command reports its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people, on standard error.
    Text,
    /// Also as one JSON document on standard output, for tools.
    Json,
}

/// What `audit`, `outdated` and `sbom` read.
#[derive(Debug, Args)]
pub struct SubjectArgs {
    /// A lockfile (default: `pylock.toml` here if there is one, else the active environment,
    /// else `.venv` here).
    #[arg(value_name = "LOCKFILE", conflicts_with = "env")]
    pub lockfile: Option<PathBuf>,

    /// Read what is installed in the environment at PATH instead.
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,
}

/// How `audit` writes its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// A table for people.
    Table,
    /// JSON, for tools.
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
}

/// How `outdated` and `verify` write their report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A table for people.
    Table,
    /// JSON, for tools.
    Json,
}

/// Arguments of `safevenv audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// Audit a requirements file whose requirements are all pinned with `==`.
    #[arg(short = 'r', long = "requirement", value_name = "FILE", conflicts_with_all = ["lockfile", "env"])]
    pub requirement: Option<PathBuf>,

    /// An offline advisory database (OSV records: a folder, a file, a zip or a tar.gz); no
    /// network at all.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// The OSV API to ask when there is no `--db` (default: the public OSV API).
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    pub osv_url: Option<String>,

    /// Do not report this advisory (an id or any of its aliases; repeatable).
    #[arg(long, value_name = "ID")]
    pub ignore: Vec<String>,

    /// The report's format (on standard output).
    #[arg(long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
}

/// Arguments of `safevenv outdated`.
#[derive(Debug, Args)]
pub struct OutdatedArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// The index to compare with (default as for `lock`).
    #[arg(long, short = 'i', value_name = "URL")]
    pub index_url: Option<String>,

    /// The policy whose release age decides the newest allowed version (default: as for
    /// `install`).
    #[arg(long, env = "SAFEVENV_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Use only what is cached; fail instead of reaching the network.
    #[arg(long)]
    pub offline: bool,

    /// The report's format (on standard output).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Arguments of `safevenv verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The environment (default: the active environment, then `.venv` here).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,

    /// Also report distributions missing from, absent in, or at another version than this
    /// lockfile.
    #[arg(long, value_name = "FILE")]
    pub lockfile: Option<PathBuf>,

    /// The report's format (on standard output).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Arguments of `safevenv sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// Where to write the document (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `safevenv policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a commented starter `safevenv.toml` in the current directory.
    Init(PolicyInitArgs),
    /// Judge requirements or a lockfile by the policy, installing nothing.
    Check(PolicyCheckArgs),
    /// Print what a rule checks, why it exists, and the keys that configure it.
    Explain(PolicyExplainArgs),
}

/// The preset a new policy file extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyPreset {
    /// What applies without a policy file.
    Default,
    /// `default` plus a release-age wait, required attestations and every advisory.
    Strict,
    /// For unattended runs from a lockfile.
    Ci,
}

/// Arguments of `safevenv policy init`.
#[derive(Debug, Args)]
pub struct PolicyInitArgs {
    /// The preset the file extends.
    #[arg(long, value_enum, default_value_t = PolicyPreset::Default)]
    pub preset: PolicyPreset,

    /// Replace an existing `safevenv.toml`.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `safevenv policy check`.
#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The lockfile to judge, as `sync` would install it (default: `pylock.toml`, unless `-r`).
    #[arg(value_name = "LOCKFILE", conflicts_with = "requirements")]
    pub lockfile: Option<PathBuf>,

    /// Resolve and judge these requirements, as `install -r` would (repeatable).
    #[arg(short = 'r', long = "requirement", value_name = "FILE")]
    pub requirements: Vec<PathBuf>,

    /// With `-r`: constrain versions with a constraints file (repeatable).
    #[arg(
        short = 'c',
        long = "constraint",
        value_name = "FILE",
        requires = "requirements"
    )]
    pub constraints: Vec<PathBuf>,

    /// The environment (or interpreter) to judge for (default: `VIRTUAL_ENV`, then `.venv`
    /// here, then discovery).
    #[arg(long, short = 'p', env = "SAFEVENV_PYTHON", value_name = "PYTHON")]
    pub python: Option<String>,

    /// The index (default as for `lock`).
    #[arg(long, short = 'i', value_name = "URL")]
    pub index_url: Option<String>,

    /// With `-r`: a further index, asked for every project as the main one is (repeatable); a
    /// project two indexes serve is refused unless `[sources.packages]` pins it or PEP 708
    /// declares them one project.
    #[arg(long, value_name = "URL", requires = "requirements")]
    pub extra_index_url: Vec<String>,

    /// The policy file (default: as for `install`).
    #[arg(long, env = "SAFEVENV_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Use only what is cached; fail instead of reaching the network.
    #[arg(long)]
    pub offline: bool,

    /// Judge known vulnerabilities from this offline advisory database (as for `install`).
    #[arg(long, value_name = "PATH")]
    pub audit_db: Option<PathBuf>,

    /// Verify attestations against this Sigstore trusted root instead of the embedded one.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,

    /// `json`: the verdict as one JSON document on standard output.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Arguments of `safevenv policy explain`.
#[derive(Debug, Args)]
pub struct PolicyExplainArgs {
    /// The rule's id, as reports print it (`contents.pth-exec`).
    #[arg(value_name = "RULE")]
    pub rule: String,
}

/// Where requirements come from and which index serves them; shared by the commands that resolve.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Requirements to resolve, as on pip's command line (`requests>=2`, `rich[jupyter]`).
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<String>,

    /// Read requirements from a pip-compatible requirements file (repeatable).
    #[arg(short = 'r', long = "requirement", value_name = "FILE")]
    pub requirements: Vec<PathBuf>,

    /// Constrain versions with a constraints file (repeatable).
    #[arg(short = 'c', long = "constraint", value_name = "FILE")]
    pub constraints: Vec<PathBuf>,

    /// The interpreter to resolve for: a version, a path, or a name.
    ///
    /// Without it: the active environment (`VIRTUAL_ENV`), `.venv` here, then discovery.
    #[arg(long, short = 'p', env = "SAFEVENV_PYTHON", value_name = "PYTHON")]
    pub python: Option<String>,

    /// The index to resolve from (also `SAFEVENV_INDEX_URL`; then pip's `PIP_INDEX_URL` and
    /// configuration; then the interpreter's pip default).
    #[arg(long, short = 'i', value_name = "URL")]
    pub index_url: Option<String>,

    /// A further index, asked for every project as the main one is (repeatable).
    ///
    /// A project comes from one index, never from several: a project two indexes serve is
    /// refused unless `[sources.packages]` in the policy pins it to one (then only that index is
    /// asked) or PEP 708 `tracks` / `alternate-locations` declare them one project.
    #[arg(long, value_name = "URL")]
    pub extra_index_url: Vec<String>,

    /// Take the newest version of every project, pre-release or not (without it, a pre-release
    /// is chosen only when no stable release fits).
    #[arg(long)]
    pub pre: bool,

    /// Ignore the versions pinned by the existing lockfile.
    #[arg(long, short = 'U')]
    pub upgrade: bool,

    /// Ignore the pinned version of this project only (repeatable).
    #[arg(long, short = 'P', value_name = "PACKAGE")]
    pub upgrade_package: Vec<String>,

    /// Use only what is cached; fail instead of reaching the network.
    #[arg(long)]
    pub offline: bool,

    /// Build this local project and install it editable (PEP 660): edits to its sources are
    /// seen without reinstalling (repeatable).
    #[arg(short = 'e', long = "editable", value_name = "PATH")]
    pub editable: Vec<PathBuf>,

    /// Let this project be built WITHOUT isolation when this machine cannot contain a build
    /// (repeatable). Unsafe: its build backend then runs with your files and network.
    #[arg(long, value_name = "PACKAGE")]
    pub unsandboxed_build: Vec<String>,

    #[command(flatten)]
    pub project: ProjectArgs,
}

/// Which extras and groups of the project (`pyproject.toml`) to install when no `-r` file or
/// package is given; the lockfile holds every extra and group (see `docs/project.md`).
#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// Include the optional dependencies of this extra (repeatable).
    #[arg(long, value_name = "EXTRA")]
    pub extra: Vec<String>,

    /// Include the optional dependencies of every extra.
    #[arg(long, conflicts_with = "extra")]
    pub all_extras: bool,

    /// Include this PEP 735 dependency group, besides the default `dev` (repeatable).
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,

    /// Only this dependency group (repeatable), not the project's own dependencies; `lock` and
    /// `install` then lock these groups alone.
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["group", "extra", "all_extras", "no_default_groups"])]
    pub only_group: Vec<String>,

    /// Leave out the default group (`dev`).
    #[arg(long)]
    pub no_default_groups: bool,
}

/// Arguments of `safevenv add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The requirements to add (`requests>=2`); one naming a dependency already declared replaces
    /// its entry.
    #[arg(value_name = "PACKAGE", required = true)]
    pub packages: Vec<String>,

    #[command(flatten)]
    pub edit: EditArgs,
}

/// Arguments of `safevenv remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The projects to remove, by name (compared normalized: `Foo_Bar` is `foo-bar`).
    #[arg(value_name = "PACKAGE", required = true)]
    pub packages: Vec<String>,

    #[command(flatten)]
    pub edit: EditArgs,
}

/// What `add` and `remove` edit, and how they lock and sync afterwards.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Edit this PEP 735 dependency group (`[dependency-groups]`) instead of
    /// `project.dependencies`.
    #[arg(long, value_name = "NAME", conflicts_with = "optional")]
    pub group: Option<String>,

    /// Edit this extra (`[project.optional-dependencies]`) instead of `project.dependencies`.
    #[arg(long, value_name = "EXTRA")]
    pub optional: Option<String>,

    /// The interpreter to lock for and whose environment to sync.
    #[arg(long, short = 'p', env = "SAFEVENV_PYTHON", value_name = "PYTHON")]
    pub python: Option<String>,

    /// The index to resolve from.
    #[arg(long, short = 'i', value_name = "URL")]
    pub index_url: Option<String>,

    /// Use only what is cached; fail instead of reaching the network.
    #[arg(long)]
    pub offline: bool,

    #[command(flatten)]
    pub attest: AttestOptions,

    #[command(flatten)]
    pub gate: GateArgs,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LockFormat {
    /// PEP 751 `pylock.toml`.
    #[value(name = "pylock")]
    Pylock,
    /// Pinned requirements with `--hash` lines, as pip-compile writes.
    #[value(name = "requirements.txt")]
    RequirementsTxt,
}

/// Arguments of `safevenv lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub resolve: ResolveArgs,

    #[command(flatten)]
    pub attest: AttestOptions,

    /// Where to write the lockfile; `-` for standard output.
    ///
    /// Default: `pylock.toml` (for `--format requirements.txt`, standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The format to write.
    #[arg(long, value_enum, default_value_t = LockFormat::Pylock)]
    pub format: LockFormat,

    /// How to report what the run did: `json` also writes a summary (packages, lockfile,
    /// attestations verified and absent) to standard output, which then cannot take the
    /// lockfile itself (`-o -`).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub report: OutputFormat,
}

/// How `lock`, `install` and `sync` verify PEP 740 attestations (see `docs/attestations.md`).
#[derive(Debug, Args)]
pub struct AttestOptions {
    /// Verify attestations against this Sigstore `trusted_root.json` instead of the production
    /// root embedded in safevenv.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,

    /// Accept, for this run, a publisher of this project other than the one the lockfile
    /// records (or none); the lockfile then records the new one (repeatable).
    #[arg(long, value_name = "PACKAGE")]
    pub accept_publisher_change: Vec<String>,
}

/// The `safevenv attest` commands.
#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Verify a local artifact's attestation or provenance offline and print its publisher.
    Verify(AttestVerifyArgs),
}

/// Arguments of `safevenv attest verify`.
#[derive(Debug, Args)]
pub struct AttestVerifyArgs {
    /// The artifact (wheel or sdist); its file name must be the one attested.
    #[arg(value_name = "FILE")]
    pub artifact: PathBuf,

    /// A PEP 740 attestation object for the artifact.
    #[arg(long, value_name = "FILE", required_unless_present = "provenance")]
    pub attestation: Option<PathBuf>,

    /// A provenance object (as an index serves it) for the artifact.
    #[arg(long, value_name = "FILE", conflicts_with = "attestation")]
    pub provenance: Option<PathBuf>,

    /// Require the publisher's repository (`owner/name`).
    #[arg(long, value_name = "REPOSITORY")]
    pub repository: Option<String>,

    /// Require the publisher's workflow file (e.g. `release.yml`) or GitLab CI/CD file.
    #[arg(long, value_name = "WORKFLOW")]
    pub workflow: Option<String>,

    /// Verify against this Sigstore `trusted_root.json` instead of the embedded production root.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
}

/// Arguments of `safevenv uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// The distributions to remove, by name.
    #[arg(value_name = "PACKAGE", required = true)]
    pub packages: Vec<String>,

    /// The environment (default: the active environment, then `.venv` here).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,

    /// Remove them even when other installed distributions require them (which are named).
    #[arg(long)]
    pub force: bool,

    /// The lockfile to remove them from, when it exists.
    #[arg(
        long,
        default_value = "pylock.toml",
        value_name = "FILE",
        conflicts_with = "no_lockfile"
    )]
    pub lockfile: PathBuf,

    /// Leave the lockfile as it is.
    #[arg(long)]
    pub no_lockfile: bool,

    /// `json`: what was removed, as one JSON document on standard output.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// How `safevenv list` writes its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table for people.
    Table,
    /// JSON, for tools.
    Json,
    /// Pinned requirements, as `safevenv freeze` prints them.
    Freeze,
}

/// Arguments of `safevenv list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The environment (default: the active environment, then `.venv` here).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,

    /// The lockfile that names each distribution's index, read when it exists.
    #[arg(long, default_value = "pylock.toml", value_name = "FILE")]
    pub lockfile: PathBuf,

    /// The report's format (on standard output).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// Only the distributions with a newer version on the index, as `safevenv outdated --env`
    /// reports them (table or JSON).
    #[arg(long, conflicts_with = "format")]
    pub outdated: bool,

    /// With `--outdated`: the index to compare with (default as for `lock`).
    #[arg(long, short = 'i', value_name = "URL", requires = "outdated")]
    pub index_url: Option<String>,

    /// With `--outdated`: use only what is cached.
    #[arg(long, requires = "outdated")]
    pub offline: bool,
}

/// Arguments of `safevenv freeze`.
#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// The environment (default: the active environment, then `.venv` here).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,

    /// `json`: the same facts as `safevenv list --format json`.
    #[arg(long, value_enum, default_value_t = FreezeFormat::Requirements)]
    pub format: FreezeFormat,
}

/// How `safevenv freeze` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FreezeFormat {
    /// pip's requirements format with `--hash` lines.
    Requirements,
    /// JSON, for tools.
    Json,
}

/// Arguments of `safevenv show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The project.
    #[arg(value_name = "PACKAGE")]
    pub package: String,

    /// The environment whose installed version is shown (default: the active environment,
    /// then `.venv` here; none is fine).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,

    /// The lockfile whose pinned version is shown, read when it exists.
    #[arg(long, default_value = "pylock.toml", value_name = "FILE")]
    pub lockfile: PathBuf,

    /// The index to ask (default as for `lock`).
    #[arg(long, short = 'i', value_name = "URL")]
    pub index_url: Option<String>,

    /// Report known vulnerabilities from this offline advisory database (OSV records: a
    /// folder, a file, a zip or a tar.gz).
    #[arg(long, env = "SAFEVENV_AUDIT_DB", value_name = "PATH")]
    pub audit_db: Option<PathBuf>,

    /// Verify attestations against this Sigstore `trusted_root.json` instead of the embedded
    /// production root.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,

    /// Use only what is cached; fail instead of reaching the network.
    #[arg(long)]
    pub offline: bool,

    /// The report's format (on standard output).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Arguments of `safevenv create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Where to create the environment.
    #[arg(default_value = ".venv", value_name = "PATH")]
    pub path: PathBuf,

    /// The interpreter to use: a version (`3.12`), a path, or a name (`python3.12`).
    ///
    /// Without it: the base interpreter of `VIRTUAL_ENV`, then `python3` on `PATH`, then pyenv installs.
    #[arg(long, short = 'p', env = "SAFEVENV_PYTHON", value_name = "PYTHON")]
    pub python: Option<String>,

    /// The prompt shown by the activation scripts (default: the directory's name).
    #[arg(long, value_name = "PROMPT")]
    pub prompt: Option<String>,

    /// Give the environment access to the interpreter's own site-packages.
    #[arg(long)]
    pub system_site_packages: bool,

    /// Replace the environment at PATH if one exists there (never a directory that is not one).
    #[arg(long)]
    pub clear: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The completion scripts come from the same definitions: they name the commands and options.
    #[test]
    fn completions_name_every_command() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let script = super::completions(shell);
            for word in ["doctor", "install", "completions", "requirement"] {
                assert!(script.contains(word), "{shell}: no `{word}`");
            }
        }
    }
}
