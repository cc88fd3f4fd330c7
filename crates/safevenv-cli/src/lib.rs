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
