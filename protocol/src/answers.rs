//! The parsers of [`PluginRun`], one per kind of answer: yes/no by exit
//! status, lines (versions, paths, mutex and plugin names), and the JSON
//! document with the data of each command. Each returns what the plugin
//! said, or a [`ProtocolError`].
//!
//! A command is **not implemented** when the plugin exits 2 and prints
//! nothing on stdout (the shell library's answer to an unknown command,
//! with `unknown command "X"` on stderr), or answers with an error document
//! whose code is `NOT_IMPLEMENTED`.

use crate::document::{Document, ErrorInfo, Status};
use crate::error::{Problem, ProtocolError};
use crate::estimate::{Estimate, EstimateAnswer};
use crate::plugin_run::PluginRun;
use crate::rolled_back::RolledBack;
use serde_json::Value;
use update_all_core::values::{MutexName, PluginName};

/// The answer of the optional `validate` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy(ErrorInfo),
}

/// The answer of the optional `rollback` command: what it returned and
/// what it could not, and, when it failed (exit 1), its error. An error
/// whose code is [`crate::codes::NOT_AVAILABLE`] means the old versions
/// are gone from where the tool gets packages: the next step of the
/// ladder has to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackAnswer {
    pub packages: RolledBack,
    pub error: Option<ErrorInfo>,
}

impl RollbackAnswer {
    /// Whether the plugin refused because the old version is no longer
    /// available.
    pub fn is_not_available(&self) -> bool {
        self.error
            .as_ref()
            .is_some_and(|e| e.code == crate::codes::NOT_AVAILABLE)
    }
}

impl PluginRun {
    /// A yes/no command (is-applicable, can-separate-download,
    /// does-require-sudo): exit 0 is yes, 1 is no.
    pub fn yes_no(&self) -> Result<bool, ProtocolError> {
        match self.code()? {
            0 => Ok(true),
            1 => Ok(false),
            _ if self.is_unknown_command() => Err(self.unknown()),
            code => Err(self.unexpected(code)),
        }
    }

    /// A command that prints lines (sudo-programs-paths, version, the
    /// dynamic mutex commands): its non-empty lines, trimmed.
    pub fn lines(&self) -> Result<Vec<String>, ProtocolError> {
        match self.code()? {
            0 => {}
            _ if self.is_unknown_command() => return Err(self.unknown()),
            code => return Err(self.unexpected(code)),
        }
        let text = std::str::from_utf8(&self.stdout)
            .map_err(|e| self.error(Problem::Invalid(format!("output is not UTF-8 ({e})"))))?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// `version`: exactly one line.
    pub fn version(&self) -> Result<String, ProtocolError> {
        let mut lines = self.lines()?;
        match lines.len() {
            1 => Ok(lines.remove(0)),
            0 => Err(self.error(Problem::Invalid(
                "printed no version; it must print one line such as `1.0.0`".into(),
            ))),
            n => Err(self.error(Problem::Invalid(format!(
                "printed {n} lines; it must print one line, the version"
            )))),
        }
    }

    /// A dynamic mutex command's mutex names (docs/plugin-protocol.md,
    /// "Dynamic mutex commands"), lower-cased, without duplicates.
    pub fn mutexes(&self) -> Result<Vec<MutexName>, ProtocolError> {
        self.names(|l| MutexName::try_from(l))
    }

    /// `runs-after`: plugin names.
    pub fn plugins(&self) -> Result<Vec<PluginName>, ProtocolError> {
        self.names(|l| PluginName::try_from(l))
    }

    fn names<T: Ord>(
        &self,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ProtocolError> {
        let mut names = Vec::new();
        for line in self.lines()? {
            names.push(parse(&line).map_err(|why| self.error(Problem::Invalid(why)))?);
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The one JSON document of estimate-update, download, update,
    /// self-update, self-upgrade or validate, checked against the protocol
    /// and against the exit status.
    pub fn document(&self) -> Result<Document, ProtocolError> {
        let code = self.code()?;
        if self.is_unknown_command() {
            return Err(self.unknown());
        }
        if !self.command.allowed_exits().0.contains(&code) {
            return Err(self.unexpected(code));
        }
        let doc = Document::parse(&self.stdout).map_err(|problem| self.error(problem))?;
        let expected = self.command.exit_for(&doc);
        if code != expected {
            return Err(self.error(Problem::StatusMismatch {
                status: doc.status,
                code,
                expected,
            }));
        }
        if doc
            .error
            .as_ref()
            .is_some_and(|e| e.code == "NOT_IMPLEMENTED")
        {
            return Err(self.error(Problem::NotImplemented(
                "it answered with an error document of code NOT_IMPLEMENTED",
            )));
        }
        Ok(doc)
    }

    /// estimate-update's answer, its data checked as the protocol says.
    pub fn estimate(&self) -> Result<EstimateAnswer, ProtocolError> {
        let doc = self.document()?;
        match doc.status {
            Status::NotApplicable => Ok(EstimateAnswer::NotApplicable(
                doc.error.map(|e| e.message).or_else(|| {
                    doc.data
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
            )),
            Status::Error => Ok(EstimateAnswer::Failed(doc.error.expect("checked"))),
            Status::Success => Estimate::from_data(&doc.data)
                .map(|e| e.map_or(EstimateAnswer::NotApplicable(None), EstimateAnswer::Updates))
                .map_err(|e| self.error(Problem::Invalid(e))),
        }
    }

    /// The optional `rollback` command's answer: its document, checked
    /// against the exit status, and its data, success or error alike.
    pub fn rollback(&self) -> Result<RollbackAnswer, ProtocolError> {
        let doc = self.document()?;
        let packages =
            RolledBack::from_data(&doc.data).map_err(|e| self.error(Problem::Invalid(e)))?;
        Ok(RollbackAnswer {
            packages,
            error: doc.failure().cloned(),
        })
    }

    /// The optional `validate` command's answer.
    pub fn health(&self) -> Result<Health, ProtocolError> {
        let doc = self.document()?;
        Ok(match doc.error {
            Some(e) => Health::Unhealthy(e),
            None => Health::Healthy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::plugin_run::Exit;
    use std::fmt;
    use std::time::Duration;
    use update_all_core::Phase;

    fn run(command: Command, code: i32, stdout: &str) -> PluginRun {
        PluginRun {
            plugin: "foo".into(),
            command,
            exit: Exit::Code(code),
            stdout: stdout.as_bytes().to_vec(),
            stderr: b"{\"type\":\"progress\",\"percent\":5,\"message\":\"x\"}\nreal error\n"
                .to_vec(),
            elapsed: Duration::ZERO,
        }
    }

    fn estimate(code: i32, stdout: &str) -> Result<EstimateAnswer, ProtocolError> {
        run(Command::EstimateUpdate, code, stdout).estimate()
    }

    fn problem(r: Result<impl fmt::Debug, ProtocolError>) -> (&'static str, String) {
        let e = r.unwrap_err();
        (e.problem.kind(), e.to_string())
    }

    /// The example of docs/plugin-protocol.md, estimate-update, without
    /// `error` and `progress`.
    const EXAMPLE: &str = r#"{"status": "success", "data": {"applicable": true,
        "packages_to_update": [{"name": "python3.12", "current_version": "3.12.1",
        "new_version": "3.12.2", "download_size_bytes": 15000000,
        "installed_size_bytes": 45000000}], "total_download_size_bytes": 95000000,
        "total_installed_size_bytes": 295000000, "estimated_time_seconds": 180,
        "affects_runtimes": ["python"], "affects_applications": ["firefox"],
        "requires_reboot": false, "security_updates": true}}"#;

    #[test]
    fn the_example_parses() {
        let Ok(EstimateAnswer::Updates(e)) = estimate(0, EXAMPLE) else {
            panic!("not an estimate");
        };
        assert_eq!(e.packages_to_update[0].name, "python3.12");
        assert_eq!(
            e.packages_to_update[0].download_size_bytes,
            Some(15_000_000)
        );
        assert_eq!(e.total_installed_size_bytes, Some(295_000_000));
        assert_eq!(e.estimated_time_seconds, Some(180));
        assert_eq!(e.affects_runtimes, ["python"]);
        assert!(e.security_updates && !e.requires_reboot);
        let doc = run(Command::EstimateUpdate, 0, EXAMPLE).document().unwrap();
        assert_eq!(doc.missing, ["error", "progress"]);
    }

    #[test]
    fn other_answers_of_estimate_update() {
        let na = r#"{"status":"not_applicable","data":null,"error":{"code":"NOT_APPLICABLE","message":"no apt here","details":null},"progress":null}"#;
        assert_eq!(
            estimate(1, na).unwrap(),
            EstimateAnswer::NotApplicable(Some("no apt here".into()))
        );
        let na = r#"{"status":"not_applicable","data":{"message":"no tool"}}"#;
        assert_eq!(
            estimate(1, na).unwrap(),
            EstimateAnswer::NotApplicable(Some("no tool".into()))
        );
        let no = r#"{"status":"success","data":{"applicable":false}}"#;
        assert_eq!(
            estimate(0, no).unwrap(),
            EstimateAnswer::NotApplicable(None)
        );
        let failed = r#"{"status":"error","data":null,"error":{"code":"NETWORK_ERROR","message":"offline","details":"timed out"},"progress":null}"#;
        let Ok(EstimateAnswer::Failed(e)) = estimate(2, failed) else {
            panic!("not a failure");
        };
        assert_eq!(e.to_string(), "NETWORK_ERROR: offline (\"timed out\")");
        let none = r#"{"status":"success","data":{"packages_to_update":[],"total_download_size_bytes":null},"error":null,"progress":null}"#;
        assert_eq!(
            estimate(0, none).unwrap(),
            EstimateAnswer::Updates(Estimate::default())
        );
    }

    #[test]
    fn broken_documents_say_what_and_where() {
        let (kind, msg) = problem(estimate(0, "Reading lists\n{}"));
        assert_eq!(kind, "not_json");
        assert!(
            msg.starts_with(
                "plugin `foo` estimate-update: output is not JSON (line 1 column 1: expected value)"
            ),
            "{msg}"
        );
        assert!(
            msg.contains(r#"the plugin printed: "Reading lists\n{}""#),
            "{msg}"
        );
        // Progress lines are left out of the stderr quoted.
        assert!(
            msg.ends_with(r#"its stderr ends with: "real error""#),
            "{msg}"
        );

        let (kind, msg) = problem(estimate(0, "{} {}"));
        assert_eq!(kind, "not_json");
        assert!(msg.contains("trailing characters"), "{msg}");
        assert_eq!(problem(estimate(0, " \n")).0, "empty");
        assert!(problem(estimate(0, ""))
            .1
            .contains("its stderr ends with: \"real error\""));
        assert_eq!(problem(estimate(3, EXAMPLE)).0, "unexpected_exit");
        let (kind, msg) = problem(estimate(2, EXAMPLE));
        assert_eq!(kind, "status_mismatch");
        assert!(msg.contains("`success` goes with exit status 0"), "{msg}");
        assert_eq!(problem(estimate(2, "")).0, "not_implemented");

        for (doc, wanted) in [
            ("[]", "the output is an array"),
            (r#"{"data":{}}"#, "no `status`"),
            (r#"{"status":"ok"}"#, r#"`status` is "ok""#),
            (
                r#"{"status":"error","data":null,"error":null}"#,
                "no `error` object",
            ),
            (r#"{"status":"success","data":[]}"#, "`data` is an array"),
            (
                r#"{"status":"success","data":{}}"#,
                "`data.packages_to_update` is missing",
            ),
            (
                r#"{"status":"success","data":{"packages_to_update":[{"name":"a","download_size_bytes":-1}]}}"#,
                "`data.packages_to_update[0].download_size_bytes` is -1",
            ),
            (
                r#"{"status":"success","data":{"packages_to_update":[{"new_version":"2"}]}}"#,
                "`data.packages_to_update[0].name` is missing",
            ),
            (
                r#"{"status":"success","data":{"packages_to_update":[],"affects_runtimes":"python"}}"#,
                r#"`data.affects_runtimes` is "python"; it must be an array of strings"#,
            ),
            (
                r#"{"status":"success","data":{"packages_to_update":[],"requires_reboot":"no"}}"#,
                "`data.requires_reboot` is \"no\"; it must be true or false",
            ),
        ] {
            let code = if doc.contains("error") { 2 } else { 0 };
            let (kind, msg) = problem(estimate(code, doc));
            assert_eq!(kind, "invalid", "{doc}: {msg}");
            assert!(msg.contains(wanted), "{doc}: {msg}");
        }
        let (kind, _) = problem(estimate(
            1,
            r#"{"status":"error","data":null,"error":{"code":"NOT_IMPLEMENTED","message":"no"},"progress":null}"#,
        ));
        assert_eq!(kind, "status_mismatch");
        let (kind, _) = problem(run(
            Command::Update,
            1,
            r#"{"status":"error","data":null,"error":{"code":"NOT_IMPLEMENTED","message":"no"},"progress":null}"#,
        ).document());
        assert_eq!(kind, "not_implemented");
    }

    #[test]
    fn sizes_may_be_whole_floats() {
        let doc = r#"{"status":"success","data":{"packages_to_update":[{"name":"a","download_size_bytes":1e3}]}}"#;
        let Ok(EstimateAnswer::Updates(e)) = estimate(0, doc) else {
            panic!()
        };
        assert_eq!(e.packages_to_update[0].download_size_bytes, Some(1000));
        let doc = r#"{"status":"success","data":{"packages_to_update":[{"name":"a","download_size_bytes":1.5}]}}"#;
        assert_eq!(problem(estimate(0, doc)).0, "invalid");
    }

    #[test]
    fn line_commands() {
        assert!(run(Command::IsApplicable, 0, "").yes_no().unwrap());
        assert!(!run(Command::DoesRequireSudo, 1, "").yes_no().unwrap());
        assert_eq!(
            problem(run(Command::IsApplicable, 2, "").yes_no()).0,
            "not_implemented"
        );
        let (kind, msg) = problem(run(Command::CanSeparateDownload, 4, "").yes_no());
        assert_eq!(kind, "unexpected_exit");
        assert!(msg.contains("exited with status 4") && msg.contains("0 for yes, 1 for no"));

        assert_eq!(
            run(Command::Version, 0, "1.2.3\n").version().unwrap(),
            "1.2.3"
        );
        assert_eq!(problem(run(Command::Version, 0, "").version()).0, "invalid");
        assert_eq!(
            problem(run(Command::Version, 0, "1\n2\n").version()).0,
            "invalid"
        );

        let m = run(
            Command::Mutexes(Phase::Update),
            0,
            "pkgmgr:DPKG\n\n runtime:python \npkgmgr:dpkg\n",
        );
        let names: Vec<String> = m.mutexes().unwrap().iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["pkgmgr:dpkg", "runtime:python"]);
        let (kind, msg) = problem(run(Command::Mutexes(Phase::Update), 0, "a:b:c").mutexes());
        assert_eq!(kind, "invalid");
        assert!(msg.starts_with("plugin `foo` update-mutexes: invalid mutex name \"a:b:c\""));
        assert_eq!(
            problem(run(Command::RunsAfter, 0, "Apt").plugins()).0,
            "invalid"
        );
        assert_eq!(
            run(Command::RunsAfter, 0, "apt\n").plugins().unwrap().len(),
            1
        );
        assert_eq!(
            problem(run(Command::Dependency(Phase::Download), 2, "").mutexes()).0,
            "not_implemented"
        );
    }

    #[test]
    fn runs_that_did_not_finish() {
        let mut r = run(Command::EstimateUpdate, 0, "");
        r.exit = Exit::TimedOut {
            after: Duration::from_secs(1),
            setting: "timeouts.estimate_update",
        };
        let (kind, msg) = problem(r.estimate());
        assert_eq!(kind, "timed_out");
        assert!(msg.contains("within 1 s") && msg.contains("raise `timeouts.estimate_update`"));
        r.exit = Exit::Signal(9);
        assert!(problem(r.estimate())
            .1
            .contains("killed by signal 9 (SIGKILL)"));
        r.exit = Exit::NotStarted("cannot run /x: No such file".into());
        assert_eq!(problem(r.yes_no()).0, "not_started");
    }

    #[test]
    fn rollback_documents() {
        let done = r#"{"status":"success","data":{"rolled_back":[{"name":"a","version":"1"}],"failed":[]},"error":null,"progress":null}"#;
        let answer = run(Command::Rollback, 0, done).rollback().unwrap();
        assert_eq!(answer.packages.rolled_back[0].name, "a");
        assert!(answer.error.is_none() && !answer.is_not_available());
        // Part done: the error document still lists what was rolled back.
        let gone = r#"{"status":"error","data":{"rolled_back":[{"name":"a","version":"1"}],"failed":[{"name":"b","reason":"2 is gone"}]},"error":{"code":"NOT_AVAILABLE","message":"b 2 is gone","details":null},"progress":null}"#;
        let answer = run(Command::Rollback, 1, gone).rollback().unwrap();
        assert!(answer.is_not_available());
        assert_eq!(
            answer.packages.failed[0].reason.as_deref(),
            Some("2 is gone")
        );
        assert_eq!(answer.packages.rolled_back.len(), 1);
        assert_eq!(
            problem(run(Command::Rollback, 0, gone).rollback()).0,
            "status_mismatch"
        );
        assert_eq!(
            problem(run(Command::Rollback, 2, "").rollback()).0,
            "not_implemented"
        );
        let wrong = r#"{"status":"success","data":{"rolled_back":{"name":"a"}}}"#;
        let (kind, msg) = problem(run(Command::Rollback, 0, wrong).rollback());
        assert_eq!(kind, "invalid");
        assert!(msg.contains("`data.rolled_back` is an object"), "{msg}");
    }

    #[test]
    fn validate_and_self_update_documents() {
        let ok = r#"{"status":"success","data":{"healthy":true},"error":null,"progress":null}"#;
        assert_eq!(
            run(Command::Validate, 0, ok).health().unwrap(),
            Health::Healthy
        );
        let bad = r#"{"status":"error","data":null,"error":{"code":"UNHEALTHY","message":"no tool"},"progress":null}"#;
        assert!(matches!(
            run(Command::Validate, 1, bad).health().unwrap(),
            Health::Unhealthy(e) if e.code == "UNHEALTHY"
        ));
        let unsupported = r#"{"status":"error","data":null,"error":{"code":"NOT_SUPPORTED","message":"no"},"progress":null}"#;
        assert!(run(Command::SelfUpdate, 1, unsupported).document().is_ok());
        assert_eq!(
            problem(run(Command::SelfUpdate, 2, unsupported).document()).0,
            "status_mismatch"
        );
    }
}
