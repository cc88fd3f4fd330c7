//! `docs/cli-reference.md`, generated from the clap definitions so it cannot drift from them.
//!
//! Written here rather than with a crate: the Markdown generators for clap write one long page
//! in their own layout; this keeps the reference in the tables `docs/` uses, in a few lines.
//! A test regenerates the file and fails when it differs (`SAFEVENV_UPDATE_DOCS=1` rewrites it).

use std::fmt::Write;

use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::Cli;

/// The whole reference page.
pub fn reference_markdown() -> String {
    let mut cli = Cli::command();
    cli.build();
    let mut out = String::from(
        "# Command-line reference\n\n\
         <!-- Generated from the clap definitions in `crates/safevenv-cli` by its test \
         `the_cli_reference_is_up_to_date`; do not edit. Rewrite it with \
         `SAFEVENV_UPDATE_DOCS=1 cargo nextest run -p safevenv-cli`. The explanations are in \
         `cli.md`. -->\n",
    );
    write_command(&mut out, &cli, "safevenv", 2);
    out
}

fn write_command(out: &mut String, command: &Command, path: &str, depth: usize) {
    let _ = write!(out, "\n{} `{path}`\n\n", "#".repeat(depth));
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        let _ = writeln!(out, "{}", one_line(&about.to_string()));
    }
    let positionals: Vec<&Arg> = command.get_positionals().collect();
    let options: Vec<&Arg> = command
        .get_arguments()
        .filter(|arg| !arg.is_positional() && !arg.is_hide_set())
        // Global options, `--help` and `--version` are listed once, on `safevenv` itself.
        .filter(|arg| {
            depth == 2
                || !(arg.is_global_set() || ["help", "version"].contains(&arg.get_id().as_str()))
        })
        .collect();
    if !positionals.is_empty() || !options.is_empty() {
        out.push_str("\n| argument | meaning |\n| --- | --- |\n");
        for arg in positionals.into_iter().chain(options) {
            let _ = writeln!(out, "| {} | {} |", usage(arg), meaning(arg));
        }
    }
    let subcommands: Vec<&Command> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .collect();
    if !subcommands.is_empty() {
        out.push_str("\n| command | what it does |\n| --- | --- |\n");
        for sub in &subcommands {
            let about = sub
                .get_about()
                .map(|about| one_line(&about.to_string()))
                .unwrap_or_default();
            let _ = writeln!(out, "| `{path} {}` | {about} |", sub.get_name());
        }
        for sub in subcommands {
            write_command(out, sub, &format!("{path} {}", sub.get_name()), depth + 1);
        }
    }
}

/// `-r`, `--requirement FILE` or `LOCKFILE`.
fn usage(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    let takes_value = matches!(arg.get_action(), ArgAction::Set | ArgAction::Append);
    if arg.is_positional() {
        return format!("`{value}`");
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("`-{short}`"));
    }
    if let Some(long) = arg.get_long() {
        names.push(if takes_value {
            format!("`--{long} {value}`")
        } else {
            format!("`--{long}`")
        });
    }
    names.join(", ")
}

/// The help text, then the choices, the default and the variable.
fn meaning(arg: &Arg) -> String {
    let mut text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|help| sentence(&one_line(&help.to_string())))
        .unwrap_or_default();
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| format!("`{}`", value.get_name()))
        .collect();
    let takes_value = matches!(arg.get_action(), ArgAction::Set | ArgAction::Append);
    if takes_value && !choices.is_empty() {
        let _ = write!(text, " Choices: {}.", choices.join(", "));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|value| format!("`{}`", value.to_string_lossy()))
        .collect();
    if takes_value && !defaults.is_empty() {
        let _ = write!(text, " Default: {}.", defaults.join(", "));
    }
    if let Some(env) = arg.get_env() {
        let _ = write!(text, " Also `{}`.", env.to_string_lossy());
    }
    text.trim().replace('|', "\\|")
}

/// Help text ending with a full stop, so the choices and defaults that follow read apart.
fn sentence(text: &str) -> String {
    if text.ends_with(['.', ')', '?', '!']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// Help text joined into one table cell.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::reference_markdown;

    /// Fails when `docs/cli-reference.md` differs from the clap definitions; with
    /// `SAFEVENV_UPDATE_DOCS=1` it rewrites the file instead.
    #[test]
    fn the_cli_reference_is_up_to_date() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli-reference.md");
        let generated = reference_markdown();
        if std::env::var_os("SAFEVENV_UPDATE_DOCS").is_some_and(|value| value == "1") {
            fs_err::write(&path, &generated).unwrap();
            return;
        }
        let written = fs_err::read_to_string(&path).unwrap_or_default();
        assert!(
            written == generated,
            "`docs/cli-reference.md` is out of date with the clap definitions; rewrite it with \
             `SAFEVENV_UPDATE_DOCS=1 cargo nextest run -p safevenv-cli`"
        );
    }

    #[test]
    fn the_reference_lists_every_command_and_option() {
        let page = reference_markdown();
        for expected in [
            "## `safevenv`",
            "### `safevenv doctor`",
            "#### `safevenv policy check`",
            "`--format FORMAT`",
            "`-r`, `--requirement FILE`",
            "Also `SAFEVENV_CACHE_DIR`.",
        ] {
            assert!(page.contains(expected), "missing {expected}");
        }
        // Global options appear once.
        assert_eq!(page.matches("`--cache-dir DIR`").count(), 1);
    }
}
