//! `update-all man DIR` (hidden): writes update-all(8) and one page per
//! visible subcommand (update-all-plan(8), ...) into DIR, generated from the
//! command-line definition so they never drift from `--help`. The pages
//! that are not about the command line (the generator, config.yaml,
//! manifests) are written by hand in packaging/man/.

use crate::cli::{Cli, ManArgs};
use clap::CommandFactory;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

/// Section 8: update-all is mostly run by root and by timers; `--user`
/// runs exist too, but one section keeps the pages together.
const SECTION: &str = "8";

/// Pages every generated page points to, besides its parent and children.
const SEE_ALSO: &[&str] = &[
    "update-all-generator(8)",
    "update-all.conf(5)",
    "update-all.plugin(5)",
    "systemctl(1)",
    "journalctl(1)",
];

/// What update-all(8) says beyond the command line: the files it reads
/// and writes, and the systemd commands that work alongside it.
const MAIN_PAGE_EXTRA: &str = r#".SH FILES
.TP
.I /etc/update\-all/config.yaml
The configuration, with drop\-ins in
.IR config.d/ ;
see
.BR update\-all.conf (5).
.TP
.IR /usr/lib/update\-all/plugins.d/ ", " /run/update\-all/plugins.d/ ", " /etc/update\-all/plugins.d/
Plugin manifests (later directories override earlier ones by file name); see
.BR update\-all.plugin (5).
In user scope also
.IR ~/.config/update\-all/plugins.d/ .
.TP
.I /usr/lib/update\-all/plugins/
The builtin plugins.
.TP
.I /var/lib/update\-all/stats.db
The statistics database of the system scope (user scope:
.IR ~/.local/state/update\-all/stats.db ).
.TP
.IR update\-all.target ", " update\-all.timer ", " update\-all\-NAME.service
The units: the generator writes one service per plugin phase, all wanted by
the target.
.SH EXAMPLES
.nf
update\-all plan
update\-all run
sudo systemctl start update\-all.target
journalctl \-u update\-all\-apt
update\-all \-\-user run
.fi
"#;

pub fn run(args: &ManArgs) -> ExitCode {
    match write_pages(&args.dir) {
        Ok(n) => {
            println!("update-all: wrote {n} man pages to {}", args.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("cannot write man pages to {}: {e}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

/// Writes the pages; returns how many.
fn write_pages(dir: &Path) -> io::Result<usize> {
    fs::create_dir_all(dir)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    write_tree(dir, &cmd, None)
}

/// The page of `cmd` and of every visible subcommand below it (skipping
/// clap's `help`); SEE ALSO links each page to its parent and children.
fn write_tree(dir: &Path, cmd: &clap::Command, parent: Option<&str>) -> io::Result<usize> {
    let name = page_name(cmd);
    let children: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    let mut see_also: Vec<String> = parent
        .into_iter()
        .map(str::to_owned)
        .chain(children.iter().map(|c| page_name(c)))
        .map(|p| format!("{p}({SECTION})"))
        .collect();
    see_also.extend(SEE_ALSO.iter().map(|s| s.to_string()));
    let man = clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .manual("update-all")
        .source(format!("update-all {}", env!("CARGO_PKG_VERSION")));
    let mut text = Vec::new();
    man.render(&mut text)?;
    if parent.is_none() {
        text.extend_from_slice(MAIN_PAGE_EXTRA.as_bytes());
    }
    write_see_also(&mut text, &see_also)?;
    fs::write(dir.join(format!("{name}.{SECTION}")), text)?;
    let mut written = 1;
    for child in children {
        written += write_tree(dir, child, Some(&name))?;
    }
    Ok(written)
}

/// `update-all` or `update-all-plan`: clap's display name once built.
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

/// A SEE ALSO section of `name(section)` references, in roff.
fn write_see_also(out: &mut impl Write, pages: &[String]) -> io::Result<()> {
    writeln!(out, ".SH \"SEE ALSO\"")?;
    let refs: Vec<String> = pages
        .iter()
        .map(|p| {
            let (name, section) = p.split_once('(').unwrap_or((p, ")"));
            format!(".BR {} ({}", name.replace('-', "\\-"), section)
        })
        .collect();
    // Comma-separated: every reference but the last ends with ",".
    for (i, r) in refs.iter().enumerate() {
        if i + 1 < refs.len() {
            writeln!(out, "{r},")?;
        } else {
            writeln!(out, "{r}")?;
        }
    }
    Ok(())
}
