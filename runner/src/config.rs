//! The configuration as the runner's commands read it, and the one place
//! that says when it is broken.
//!
//! `config.yaml` and `config.d/*.yaml` are read by the generator's
//! [`config::load`]: a file that does not parse, cannot be read or is not
//! trusted is ignored as a whole, and the other files and the defaults
//! apply (docs/configuration.md, "Errors and warnings"). The generator
//! applies the same fallback to the units. No command may go on with it
//! silently: [`load`] warns once per process and scope, with file, line and
//! column of each problem, followed by the settings in effect instead.
//! `run`, `check`, `status`, `schedule` and `record` call [`warn_if_broken`]
//! when they start; code that needs a setting calls [`load`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use update_all_core::config::{self, Config};
use update_all_core::{Diagnostic, Env, Scope, Severity};

/// Whether the problems of each scope's configuration were reported.
static REPORTED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

/// The configuration of `scope`'s runs; its problems are reported the
/// first time in this process.
pub fn load(scope: Scope) -> Config {
    let (config, problems) = config::load(&Env::from_process(Some(scope)));
    let slot = match scope {
        Scope::System => 0,
        Scope::User => 1,
    };
    if !problems.is_empty() && !REPORTED[slot].swap(true, Ordering::SeqCst) {
        for line in report(&config, &problems) {
            tracing::warn!("{line}");
        }
    }
    config
}

/// Reports the problems of `scope`'s configuration, if any (once).
pub fn warn_if_broken(scope: Scope) {
    load(scope);
}

/// The lines that report `problems`: one per problem (`FILE:LINE:COLUMN:
/// what`), then, when a file was ignored, what applies instead.
fn report(config: &Config, problems: &[Diagnostic]) -> Vec<String> {
    let mut lines: Vec<String> = problems.iter().map(located).collect();
    if problems.iter().any(|p| p.severity == Severity::Error) {
        let from = if config.files.is_empty() {
            "the defaults alone (no other configuration file applies)".to_owned()
        } else {
            let files: Vec<String> = config
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect();
            format!("{} and the defaults", files.join(", "))
        };
        lines.push(format!("in effect instead: {from}: {}", in_effect(config)));
    }
    lines
}

/// `FILE:LINE:COLUMN: message` (as much of the place as is known).
fn located(problem: &Diagnostic) -> String {
    let mut s = String::new();
    if let Some(file) = &problem.file {
        let _ = write!(s, "{}:", file.display());
        if let Some(line) = problem.line {
            let _ = write!(s, "{line}:");
            if let Some(column) = problem.column {
                let _ = write!(s, "{column}:");
            }
        }
        s.push(' ');
    }
    if problem.severity == Severity::Error {
        s.push_str("broken configuration: ");
    }
    s.push_str(&problem.message);
    s
}

/// The settings in effect, as `key: value` in the files' own terms.
fn in_effect(config: &Config) -> String {
    let names = |list: &[update_all_core::values::PluginName]| {
        let names: Vec<&str> = list.iter().map(|n| n.as_str()).collect();
        format!("[{}]", names.join(", "))
    };
    let enabled = config
        .enabled
        .as_deref()
        .map_or_else(|| "all".to_owned(), names);
    let c = &config.conditions;
    let n = &config.notifications;
    let slice = &config.slice;
    format!(
        "plugins.enabled: {enabled}, plugins.disabled: {}, \
         conditions: skip_on_battery {}, skip_on_metered {}, wait_for_network {}, \
         max_load {}, min_available_memory {}, wait_max {:?}; \
         notifications: enabled {}, on_success {}, on_failure {}; \
         schedule.update_logged_in_users: {}; retries: attempts {}, backoff {:?}; \
         resume: {}; services.restart: {}; reboot: {}; slice: {}; paths.runner: {}; \
         policy: {}; policy_overrides: {}; safety: {}",
        names(&config.disabled),
        c.skip_on_battery,
        c.skip_on_metered,
        c.wait_for_network,
        c.max_load
            .map_or_else(|| "none".to_owned(), |l| l.to_string()),
        c.min_available_memory
            .map_or_else(|| "none".to_owned(), |b| format!("{b} bytes")),
        c.wait_max,
        n.enabled,
        n.on_success,
        n.on_failure,
        config.schedule.update_logged_in_users,
        config.retries.attempts,
        config.retries.backoff,
        config.resume.as_str(),
        config.services.restart.as_str(),
        config.reboot.describe(),
        if slice.is_empty() {
            "no limits"
        } else {
            "limits from the files above"
        },
        config.paths.runner,
        config.policy.describe(),
        update_all_core::policy::describe_overrides(&config.policy_overrides),
        config.safety.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn each_problem_has_its_place_then_what_applies() {
        let mut problem = Diagnostic::error(
            Some(Path::new("/etc/update-all/config.yaml")),
            "notifications: unknown field `on_succes`. This configuration file is ignored \
             until it is fixed.",
        );
        problem.line = Some(3);
        problem.column = Some(5);
        let lines = report(&Config::default(), &[problem]);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert_eq!(
            lines[0],
            "/etc/update-all/config.yaml:3:5: broken configuration: notifications: unknown \
             field `on_succes`. This configuration file is ignored until it is fixed."
        );
        assert_eq!(
            lines[1],
            "in effect instead: the defaults alone (no other configuration file \
             applies): plugins.enabled: all, plugins.disabled: [], \
             conditions: skip_on_battery false, skip_on_metered true, wait_for_network true, \
             max_load none, min_available_memory none, wait_max 1800s; \
             notifications: enabled true, on_success true, on_failure true; \
             schedule.update_logged_in_users: false; retries: attempts 3, backoff 2s; \
             resume: ask; services.restart: list; reboot: never; slice: no limits; \
             paths.runner: /usr/bin/update-all; policy: none; policy_overrides: none; \
             safety: snapshot auto of [/] (continue on failure), health settle 30s \
             timeout 60s, rollback auto, boot_check_attempts 3"
        );
    }

    #[test]
    fn warnings_alone_change_nothing_and_say_so_once() {
        let warning = Diagnostic::warning(None, "something odd");
        let config = Config {
            files: vec!["/etc/update-all/config.yaml".into()],
            ..Config::default()
        };
        assert_eq!(report(&config, &[warning]), ["something odd"]);
    }
}
