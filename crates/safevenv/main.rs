//! The `safevenv` binary: parses arguments and hands each command to one library call.
//!
//! Everything here is thin on purpose (cargo's "commands are thin wrappers around ops"): the
//! pipeline lives in the library crates listed in `crates/README.md`.

use std::process::ExitCode;

use clap::Parser;
use safevenv_cli::{Cli, Command};

mod commands;
mod diagnostic;
mod errors;
mod printer;

use printer::Printer;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout and usage errors to stderr with its own exit code (2).
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let printer = Printer::new(&cli.global);
    printer.init_logging(cli.global.verbose);

    let result = match &cli.command {
        Command::Create(args) => commands::create::run(args, &cli.global, &printer),
        Command::Lock(args) => commands::lock::run(args, &cli.global, &printer),
        Command::Install(args) => commands::install::install(args, &cli.global, &printer),
        Command::Sync(args) => commands::install::sync(args, &cli.global, &printer),
        Command::Uninstall(args) => commands::uninstall::run(args, &cli.global, &printer),
        Command::List(args) => commands::listing::run_list(args, &cli.global, &printer),
        Command::Freeze(args) => commands::listing::run_freeze(args, &cli.global, &printer),
        Command::Show(args) => commands::show::run(args, &cli.global, &printer),
        Command::Audit(args) => commands::audit::run(args, &cli.global, &printer),
        Command::Outdated(args) => commands::outdated::run(args, &cli.global, &printer),
        Command::Verify(args) => commands::verify::run(args, &cli.global, &printer),
        Command::Sbom(args) => commands::sbom::run(args, &cli.global, &printer),
        Command::Policy(args) => commands::policy::run(args, &cli.global, &printer),
        Command::Attest(command) => commands::attest::run(command, &printer),
        Command::Doctor(args) => commands::doctor::run(args, &cli.global, &printer),
        Command::Completions(args) => {
            commands::audit::print_stdout(&safevenv_cli::completions(args.shell));
            Ok(())
        }
        Command::Add(args) => commands::project::add(args, &cli.global, &printer),
        Command::Remove(args) => commands::project::remove(args, &cli.global, &printer),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(diagnostic) => {
            printer.error(&diagnostic);
            diagnostic.exit_code()
        }
    }
}
