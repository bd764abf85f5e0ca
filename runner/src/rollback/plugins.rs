//! The first step of the ladder: each plugin's own `rollback` command
//! (docs/plugin-protocol.md, `rollback`), for the plugins the run updated
//! that declare `supports_rollback: true` and whose estimate plugin-exec
//! recorded (`stats::packages`).
//!
//! The packages go to the plugin in a file named by
//! `UPDATE_ALL_ROLLBACK_FILE`: one line per package,
//! `name<TAB>version_to_restore<TAB>version_installed_by_the_run` (an
//! empty field where the estimate gave no version). The file lives in the
//! scope's runtime directory (`super::runtime_dir`) while the command runs. The
//! command runs as this process does: root for system plugins (the system
//! rollback unit), the user for user plugins (the user's rollback unit).

use crate::plugin::invoke::Invoker;
use crate::stats::packages::RunPackage;
use crate::stats::RunId;
use serde::Serialize;
use update_all_core::inventory::Plugin;
use update_all_core::Env;
use update_all_protocol::Command;

/// The variable that names the rollback file.
pub const FILE_VAR: &str = "UPDATE_ALL_ROLLBACK_FILE";

/// One plugin to roll back, and its packages as the run's estimate said.
#[derive(Clone, Debug)]
pub struct Target {
    pub plugin: Plugin,
    pub packages: Vec<RunPackage>,
}

impl Target {
    pub fn name(&self) -> &str {
        self.plugin.manifest.name.as_str()
    }

    /// "npm: left-pad 1.3.0 → 1.0.0, eslint 9.0.0 → 8.0.0".
    pub fn describe(&self) -> String {
        let packages: Vec<String> = self
            .packages
            .iter()
            .map(|p| {
                format!(
                    "{} {} → {}",
                    p.name,
                    p.new_version.as_deref().unwrap_or("?"),
                    p.current_version.as_deref().unwrap_or("?")
                )
            })
            .collect();
        format!("{}: {}", self.name(), packages.join(", "))
    }
}

/// What one plugin's rollback did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Done {
    pub plugin: String,
    /// Packages now at their old version.
    pub rolled_back: Vec<String>,
    /// Packages it could not return: "name: why".
    pub failed: Vec<String>,
    /// The command failed (its error, or why it could not be run or read).
    pub error: Option<String>,
}

impl Done {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.failed.is_empty()
    }
}

/// The rollback file's text for `packages`.
pub fn tsv(packages: &[RunPackage]) -> String {
    let clean = |v: &Option<String>| v.as_deref().unwrap_or("").replace(['\t', '\n'], " ");
    packages
        .iter()
        .map(|p| {
            format!(
                "{}\t{}\t{}\n",
                p.name,
                clean(&p.current_version),
                clean(&p.new_version)
            )
        })
        .collect()
}

/// Runs `target`'s `rollback` for `run`.
pub fn roll_back(target: &Target, run: RunId, env: &Env) -> Done {
    let mut done = Done {
        plugin: target.name().to_owned(),
        ..Done::default()
    };
    let file = match super::runtime_dir(env.scope).and_then(|dir| {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = dir.join(format!("{run}-{}.tsv", target.name()));
        std::fs::write(&file, tsv(&target.packages))
            .map_err(|e| format!("{}: {e}", file.display()))?;
        Ok(file)
    }) {
        Ok(file) => file,
        Err(e) => {
            done.error = Some(format!("cannot write the rollback file: {e}"));
            return done;
        }
    };
    let mut invoker = Invoker::new(&target.plugin, env);
    invoker
        .env
        .push((FILE_VAR.to_owned(), file.to_string_lossy().into_owned()));
    let ran = invoker.run(Command::Rollback);
    let _ = std::fs::remove_file(&file);
    // What the plugin said goes to the journal of the rollback unit.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), &ran.stderr);
    if ran.is_unknown_command() {
        done.error = Some("the plugin has no rollback command".into());
        return done;
    }
    match ran.rollback() {
        Ok(answer) => {
            done.rolled_back = answer
                .packages
                .rolled_back
                .iter()
                .map(|p| match &p.version {
                    Some(v) => format!("{} {v}", p.name),
                    None => p.name.clone(),
                })
                .collect();
            done.failed = answer
                .packages
                .failed
                .iter()
                .map(|p| format!("{}: {}", p.name, p.reason.as_deref().unwrap_or("failed")))
                .collect();
            done.error = answer.error.map(|e| format!("{}: {}", e.code, e.message));
        }
        Err(e) => done.error = Some(e.to_string()),
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_has_a_line_per_package_with_empty_unknown_versions() {
        let p = |name: &str, from: Option<&str>, to: Option<&str>| RunPackage {
            name: name.into(),
            current_version: from.map(Into::into),
            new_version: to.map(Into::into),
            update_type: None,
        };
        assert_eq!(
            tsv(&[
                p("left-pad", Some("1.0.0"), Some("1.3.0")),
                p("new", None, Some("2"))
            ]),
            "left-pad\t1.0.0\t1.3.0\nnew\t\t2\n"
        );
    }
}
