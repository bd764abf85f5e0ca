//! `update-all plugins validate`: docs/plugin-protocol.md ("update-all
//! plugins validate") against a real plugin. The manifest is accepted, the
//! executable exists and may be run, every required command answers as the
//! protocol says, estimate-update's document and data parse, dynamic mutex
//! names are valid, and the manifest's claims (can_separate_download, requires_sudo,
//! supports_dynamic_mutexes) agree with the plugin's answers.
//!
//! Only commands without effect on the system are run: `update`,
//! `download`, `self-update` and `self-upgrade` never are. Whether they
//! exist is the word of the plugin's own `validate` (the shell library's
//! checks that `update` is defined) and of `can-separate-download`.
//! `rollback`, when the manifest says `supports_rollback: true`, is asked
//! only with an empty rollback file, which the protocol says changes
//! nothing: that it is known, and answers a valid document.

use super::catalog::{CatalogState, Entry};
use super::invoke::Invoker;
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use update_all_core::inventory::Plugin;
use update_all_core::Env;
use update_all_protocol::{
    Command, Estimate, EstimateAnswer, Health, PluginRun, Problem, ProtocolError, RolledBack,
    ROLLBACK_FILE_VAR,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// Makes the plugin invalid.
    Fail,
    /// Worth fixing; the plugin is still valid.
    Warn,
    /// Not checked, and why.
    Skip,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked: a command's name, or `manifest`, `executable`.
    pub check: String,
    pub verdict: Verdict,
    pub message: String,
    /// How long the command took, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The protocol error behind a failure, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ProtocolError>,
}

/// The checks of one plugin.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub plugin: String,
    /// enabled, disabled or refused.
    pub status: &'static str,
    pub source: std::path::PathBuf,
    pub valid: bool,
    pub checks: Vec<Check>,
}

/// Validates one catalog entry, running its plugin as this user; a
/// refused plugin is never run, its report says why it was refused.
pub fn validate(entry: &Entry, env: &Env) -> Report {
    let mut v = Validation::default();
    match (&entry.state, entry.runnable()) {
        (_, Some(plugin)) => {
            v.push("manifest", Verdict::Pass, "accepted".into());
            check_plugin(&mut v, plugin, env);
        }
        (CatalogState::Refused(reasons, _), None) => {
            for reason in reasons {
                v.push("manifest", Verdict::Fail, reason.to_string());
            }
            v.push("executable", Verdict::Skip, NOT_RUN.into());
        }
        (_, None) => unreachable!("only a refused plugin is not runnable"),
    }
    Report {
        plugin: entry.name.clone(),
        status: entry.state.as_str(),
        source: entry.source.clone(),
        valid: !v.checks.iter().any(|c| c.verdict == Verdict::Fail),
        checks: v.checks,
    }
}

/// What `validate` and `info` say instead of running a refused plugin.
pub const NOT_RUN: &str = "not run: update-all never runs a plugin that the generator \
                           refused (see why above)";

#[derive(Default)]
struct Validation {
    checks: Vec<Check>,
}

impl Validation {
    fn push(&mut self, check: &str, verdict: Verdict, message: String) {
        self.checks.push(Check {
            check: check.to_owned(),
            verdict,
            message,
            seconds: None,
            error: None,
        });
    }

    /// A check about `run`: `verdict` and `message`, with its time.
    fn ran(&mut self, run: &PluginRun, verdict: Verdict, message: String) {
        self.checks.push(Check {
            check: run.command.as_str().to_owned(),
            verdict,
            message,
            seconds: Some(run.elapsed.as_secs_f64()),
            error: None,
        });
    }

    /// A failed check for a protocol error.
    fn broken(&mut self, run: &PluginRun, verdict: Verdict, error: ProtocolError) {
        self.checks.push(Check {
            check: run.command.as_str().to_owned(),
            verdict,
            message: error.to_string(),
            seconds: Some(run.elapsed.as_secs_f64()),
            error: Some(error),
        });
    }

    /// Asks a yes/no question; checks the answer against the manifest's
    /// `claim` under `key` when there is one.
    fn yes_no(
        &mut self,
        invoker: &Invoker,
        command: Command,
        claim: Option<(&str, bool)>,
    ) -> Option<bool> {
        let run = invoker.run(command);
        let answer = match run.yes_no() {
            Ok(answer) => answer,
            Err(e) => {
                self.broken(&run, Verdict::Fail, e);
                return None;
            }
        };
        let said = if answer { "yes" } else { "no" };
        match claim {
            Some((key, claimed)) if claimed != answer => self.ran(
                &run,
                Verdict::Fail,
                format!(
                    "answers {said} (exit status {}) but the manifest says `{key}: {claimed}`; \
                     make the two agree",
                    u8::from(!answer)
                ),
            ),
            Some((key, _)) => self.ran(
                &run,
                Verdict::Pass,
                format!("{said}, as the manifest's `{key}` says"),
            ),
            None => self.ran(
                &run,
                Verdict::Pass,
                if answer {
                    "applies to this system".into()
                } else {
                    "does not apply to this system".into()
                },
            ),
        }
        Some(answer)
    }
}

fn check_plugin(v: &mut Validation, plugin: &Plugin, env: &Env) {
    let m = &plugin.manifest;
    let invoker = Invoker::new(plugin, env);
    if !check_executable(v, &invoker.executable, m.executable.as_str()) {
        return;
    }
    let applies = v.yes_no(&invoker, Command::IsApplicable, None);

    let run = invoker.run(Command::Version);
    match run.version() {
        Ok(version) if !m.version.as_str().is_empty() && version != m.version.as_str() => v.ran(
            &run,
            Verdict::Warn,
            format!(
                "prints {version}, but the manifest says version \"{}\"",
                m.version
            ),
        ),
        Ok(version) => v.ran(&run, Verdict::Pass, version),
        Err(e) => v.broken(&run, Verdict::Fail, e),
    }

    let separate = v.yes_no(
        &invoker,
        Command::CanSeparateDownload,
        Some(("can_separate_download", m.can_separate_download)),
    );
    let sudo = v.yes_no(
        &invoker,
        Command::DoesRequireSudo,
        Some(("requires_sudo", m.requires_sudo)),
    );
    if m.requires_sudo || sudo == Some(true) {
        check_sudo_programs(v, &invoker);
    }

    check_estimate(v, &invoker, applies);

    if m.supports_dynamic_mutexes {
        for command in Command::DYNAMIC {
            check_dynamic(v, &invoker, command);
        }
    } else {
        v.push(
            "dynamic mutexes",
            Verdict::Skip,
            "not asked: the manifest says `supports_dynamic_mutexes: false`".into(),
        );
    }

    let run = invoker.run(Command::Validate);
    let vouched = match run.health() {
        Ok(Health::Healthy) => {
            v.ran(&run, Verdict::Pass, "healthy".into());
            true
        }
        Ok(Health::Unhealthy(e)) => {
            v.ran(&run, Verdict::Fail, format!("unhealthy: {e}"));
            false
        }
        Err(e) if matches!(e.problem, Problem::NotImplemented(_)) => {
            v.ran(
                &run,
                Verdict::Skip,
                "not implemented (optional): nothing vouches for `update`".into(),
            );
            false
        }
        Err(e) => {
            v.broken(&run, Verdict::Fail, e);
            false
        }
    };
    let word = if vouched {
        "the plugin's validate vouches for it"
    } else {
        "not checked"
    };
    v.push(
        "update",
        Verdict::Skip,
        format!("not run, validate never applies updates; {word}"),
    );
    if separate == Some(true) || m.can_separate_download {
        v.push(
            "download",
            Verdict::Skip,
            "not run, validate never downloads; can-separate-download is the plugin's word \
             that it exists"
                .into(),
        );
    }
    if m.supports_self_update {
        v.push(
            "self-update",
            Verdict::Skip,
            "not run: it would change the plugin".into(),
        );
    }
    if m.supports_rollback {
        check_rollback(v, &invoker);
    }
}

/// `supports_rollback: true`: `rollback` is known and answers a valid
/// document. Asked with an empty rollback file (/dev/null), which asks for
/// nothing and must change nothing; rolling packages back is never tried.
fn check_rollback(v: &mut Validation, invoker: &Invoker) {
    let mut invoker = invoker.clone();
    invoker
        .env
        .push((ROLLBACK_FILE_VAR.to_owned(), "/dev/null".to_owned()));
    let run = invoker.run(Command::Rollback);
    match run.rollback() {
        Ok(answer) => match answer.error {
            None if answer.packages == RolledBack::default() => v.ran(
                &run,
                Verdict::Pass,
                "known; with an empty rollback file it changed nothing (rolling back is \
                 not tried: it would change the system)"
                    .into(),
            ),
            None => v.ran(
                &run,
                Verdict::Fail,
                "with an empty rollback file it says it rolled packages back; it must \
                 change nothing"
                    .into(),
            ),
            Some(e) => v.ran(
                &run,
                Verdict::Fail,
                format!(
                    "with an empty rollback file it fails ({e}); it must answer success \
                     and change nothing"
                ),
            ),
        },
        Err(mut e) => {
            if matches!(e.problem, Problem::NotImplemented(_)) {
                e.problem = Problem::Invalid(format!(
                    "{}, though the manifest says `supports_rollback: true`",
                    e.problem
                ));
            }
            v.broken(&run, Verdict::Fail, e)
        }
    }
}

/// The executable exists, is a file, and may be run; false stops the
/// checks that run it.
fn check_executable(v: &mut Validation, path: &Path, shown: &str) -> bool {
    let problem = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
            "{shown} does not exist; install it or fix `executable`"
        )),
        Err(e) => Some(format!("{shown}: {e}")),
        Ok(meta) if !meta.is_file() => Some(format!("{shown} is not a regular file")),
        Ok(meta) => nix::unistd::access(path, nix::unistd::AccessFlags::X_OK)
            .err()
            .map(|e| {
                format!(
                    "{shown} is not executable (mode {:o}: {e}); chmod +x it",
                    meta.permissions().mode() & 0o7777
                )
            }),
    };
    match problem {
        Some(message) => {
            v.push("executable", Verdict::Fail, message);
            false
        }
        None => {
            v.push("executable", Verdict::Pass, shown.to_owned());
            true
        }
    }
}

fn check_sudo_programs(v: &mut Validation, invoker: &Invoker) {
    let run = invoker.run(Command::SudoProgramsPaths);
    match run.lines() {
        Ok(paths) if paths.is_empty() => v.ran(
            &run,
            Verdict::Warn,
            "lists no programs; an administrator needs them for sudoers rules".into(),
        ),
        Ok(paths) => {
            let relative: Vec<&str> = paths
                .iter()
                .map(String::as_str)
                .filter(|p| !p.starts_with('/'))
                .collect();
            if relative.is_empty() {
                v.ran(&run, Verdict::Pass, paths.join(" "));
            } else {
                v.ran(
                    &run,
                    Verdict::Warn,
                    format!(
                        "{} not absolute (is the tool installed?): {}",
                        if relative.len() == 1 { "is" } else { "are" },
                        relative.join(" ")
                    ),
                );
            }
        }
        // Only a warning (docs/plugin-protocol.md, "Not implemented").
        Err(e) if matches!(e.problem, Problem::NotImplemented(_)) => {
            v.broken(&run, Verdict::Warn, e)
        }
        Err(e) => v.broken(&run, Verdict::Fail, e),
    }
}

fn check_estimate(v: &mut Validation, invoker: &Invoker, applies: Option<bool>) {
    let run = invoker.run(Command::EstimateUpdate);
    if let Ok(doc) = run.document() {
        if !doc.missing.is_empty() {
            v.ran(
                &run,
                Verdict::Warn,
                format!(
                    "the document lacks {}; the protocol wants status, data, error and progress",
                    doc.missing.join(", ")
                ),
            );
        }
    }
    let answer = match run.estimate() {
        Ok(answer) => answer,
        Err(e) => return v.broken(&run, Verdict::Fail, e),
    };
    match answer {
        EstimateAnswer::Updates(e) if applies == Some(false) => v.ran(
            &run,
            Verdict::Warn,
            format!(
                "found {} update(s) although is-applicable says the plugin does not apply",
                e.packages_to_update.len()
            ),
        ),
        EstimateAnswer::Updates(e) => v.ran(&run, Verdict::Pass, describe(&e)),
        EstimateAnswer::NotApplicable(why) if applies == Some(true) => v.ran(
            &run,
            Verdict::Warn,
            format!(
                "answers not_applicable ({}) although is-applicable says yes",
                why.as_deref().unwrap_or("no reason given")
            ),
        ),
        EstimateAnswer::NotApplicable(why) => v.ran(
            &run,
            Verdict::Pass,
            format!(
                "not applicable: {}",
                why.as_deref().unwrap_or("no reason given")
            ),
        ),
        // A valid answer: the plugin tried and says why it failed.
        EstimateAnswer::Failed(e) => v.ran(
            &run,
            Verdict::Warn,
            format!("the plugin reports an error: {e}"),
        ),
    }
}

/// "3 updates, 12.3 MiB to download, about 20 s".
fn describe(e: &Estimate) -> String {
    let n = e.packages_to_update.len();
    let mut text = crate::output::count(n, "update", "updates");
    if let Some(bytes) = e.total_download_size_bytes.filter(|_| n > 0) {
        text.push_str(&format!(
            ", {} to download",
            crate::output::format::bytes(bytes)
        ));
    }
    if let Some(s) = e.estimated_time_seconds.filter(|_| n > 0) {
        text.push_str(&format!(", about {s} s"));
    }
    text
}

fn check_dynamic(v: &mut Validation, invoker: &Invoker, command: Command) {
    let run = invoker.run(command);
    let names = match command {
        Command::RunsAfter => run
            .plugins()
            .map(|n| n.iter().map(ToString::to_string).collect::<Vec<_>>()),
        _ => run
            .mutexes()
            .map(|n| n.iter().map(ToString::to_string).collect::<Vec<_>>()),
    };
    match names {
        Ok(names) if names.is_empty() => v.ran(&run, Verdict::Pass, "(none)".into()),
        Ok(names) => v.ran(&run, Verdict::Pass, names.join(", ")),
        Err(mut e) => {
            if matches!(e.problem, Problem::NotImplemented(_)) {
                e.problem = Problem::Invalid(format!(
                    "{}, though the manifest says `supports_dynamic_mutexes: true`",
                    e.problem
                ));
            }
            v.broken(&run, Verdict::Fail, e)
        }
    }
}
