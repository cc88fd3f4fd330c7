//! Command-line argument types for safevenv.
//!
//! Only types live here (as in uv's `uv-cli`): the binary turns them into settings and calls one
//! library function per command, so every option is documented in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Create Python virtual environments and install into them safely.
#[derive(Debug, Parser)]
#[command(name = "safevenv", version, about, long_about = None, propagate_version = true)]
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
}

/// Arguments of `safevenv install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub resolve: ResolveArgs,

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

    /// The policy file (default: `safevenv.toml` or `[tool.safevenv]` in `pyproject.toml`, found
    /// from the current directory upwards; else the `default` preset).
    #[arg(long, env = "SAFEVENV_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// Arguments of `safevenv sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The lockfile to install.
    #[arg(default_value = "pylock.toml", value_name = "LOCKFILE")]
    pub lockfile: PathBuf,

    /// The environment's interpreter (default: `VIRTUAL_ENV`, then `.venv` here).
    #[arg(long, short = 'p', env = "SAFEVENV_PYTHON", value_name = "PYTHON")]
    pub python: Option<String>,

    /// Fail, installing nothing, if the lockfile no longer satisfies these requirements files.
    #[arg(long, requires = "requirements")]
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

    /// The policy file (default: as for `install`).
    #[arg(long, env = "SAFEVENV_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Use only what is cached; fail instead of reaching the network.
    #[arg(long)]
    pub offline: bool,
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

    /// A further index, searched for projects the main index lacks (repeatable).
    ///
    /// A project comes from the first index that has it, never from several.
    #[arg(long, value_name = "URL")]
    pub extra_index_url: Vec<String>,

    /// Allow pre-release versions of every project.
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
}

/// What `safevenv lock` writes.
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

    /// Where to write the lockfile; `-` for standard output.
    ///
    /// Default: `pylock.toml` (for `--format requirements.txt`, standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The format to write.
    #[arg(long, value_enum, default_value_t = LockFormat::Pylock)]
    pub format: LockFormat,
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
}
