//! `update-all completions SHELL`: the shell's completion script, generated
//! from the command-line definition, on standard output. Packages install
//! these at build time (see install.sh); by hand e.g.
//! `update-all completions bash > ~/.local/share/bash-completion/completions/update-all`.

use crate::cli::{Cli, CompletionsArgs};
use clap::CommandFactory;
use std::io;
use std::process::ExitCode;

pub fn run(args: &CompletionsArgs) -> ExitCode {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "update-all", &mut io::stdout());
    ExitCode::SUCCESS
}
