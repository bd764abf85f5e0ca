//! `update-all completions SHELL`: the shell's completion script, generated
//! from the command-line definition, on standard output. Packages install
//! these at build time (see install.sh); by hand e.g.
//! `update-all completions bash > ~/.local/share/bash-completion/completions/update-all`.

use crate::cli::{Cli, CompletionsArgs};
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::{self, Write};
use std::process::ExitCode;

pub fn run(args: &CompletionsArgs) -> ExitCode {
    let mut cmd = without_hidden(Cli::command());
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "update-all", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if args.shell == Shell::Bash {
        // clap_complete 4.6 spells the states of a hyphenated program two
        // ways (update__all__subcmd__run while parsing the words,
        // update__subcmd__all__subcmd__run in the arms), so no subcommand's
        // options would complete (clap issue 6421): one spelling.
        script = script.replace("update__subcmd__all", "update__all");
    }
    match io::stdout().write_all(script.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("cannot write the completion script: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cmd` without its hidden subcommands (plugin-exec, record, ...), which
/// clap_complete would offer too: internal commands are not for typing.
fn without_hidden(cmd: clap::Command) -> clap::Command {
    let visible: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut top = clap::Command::new("update-all")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cmd.get_arguments().cloned())
        .subcommands(visible)
        .subcommand_required(cmd.is_subcommand_required_set());
    if let Some(about) = cmd.get_about() {
        top = top.about(about.clone());
    }
    top
}
