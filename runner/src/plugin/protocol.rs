//! The plugin protocol (docs/plugin-protocol.md, plan sections 4.1 to 4.4
//! and 5.1) as types: the commands, the JSON document, the estimate-update
//! data, and the line outputs (versions, paths, dynamic mutexes). Every
//! parser takes a finished [`Run`] and either returns what the plugin said
//! or a [`ProtocolError`] whose message names the plugin, the command, what
//! is wrong, what to do about it, and quotes what the plugin printed.
//!
//! A command is **not implemented** when the plugin exits 2 and prints
//! nothing on stdout (the shell library's answer to an unknown command,
//! with `unknown command "X"` on stderr), or answers with an error document
//! whose code is `NOT_IMPLEMENTED`.

use super::invoke::{Exit, Run};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;
use update_all_core::manifest::Timeouts;
use update_all_core::values::{MutexName, PluginName};
use update_all_core::Phase;

/// A plugin command (plan 4.1 and 4.2). Download, update and self-* are
/// here for completeness; the runner runs them only inside units.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    IsApplicable,
    EstimateUpdate,
    CanSeparateDownload,
    Download,
    Update,
    DoesRequireSudo,
    SudoProgramsPaths,
    Version,
    SelfUpdate,
    SelfUpgrade,
    Validate,
    /// `estimate-update-mutexes`, `download-mutexes`, `update-mutexes`.
    Mutexes(Phase),
    /// `estimate-update-dependency`, `download-dependency`, `update-dependency`.
    Dependency(Phase),
    RunsAfter,
}

impl Command {
    /// The dynamic mutex commands, in the order they are asked.
    pub const DYNAMIC: [Command; 7] = [
        Command::Mutexes(Phase::Estimate),
        Command::Mutexes(Phase::Download),
        Command::Mutexes(Phase::Update),
        Command::Dependency(Phase::Estimate),
        Command::Dependency(Phase::Download),
        Command::Dependency(Phase::Update),
        Command::RunsAfter,
    ];

    /// The command's name on the plugin's command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::IsApplicable => "is-applicable",
            Command::EstimateUpdate => "estimate-update",
            Command::CanSeparateDownload => "can-separate-download",
            Command::Download => "download",
            Command::Update => "update",
            Command::DoesRequireSudo => "does-require-sudo",
            Command::SudoProgramsPaths => "sudo-programs-paths",
            Command::Version => "version",
            Command::SelfUpdate => "self-update",
            Command::SelfUpgrade => "self-upgrade",
            Command::Validate => "validate",
            Command::Mutexes(Phase::Estimate) => "estimate-update-mutexes",
            Command::Mutexes(Phase::Download) => "download-mutexes",
            Command::Mutexes(Phase::Update) => "update-mutexes",
            Command::Dependency(Phase::Estimate) => "estimate-update-dependency",
            Command::Dependency(Phase::Download) => "download-dependency",
            Command::Dependency(Phase::Update) => "update-dependency",
            Command::RunsAfter => "runs-after",
        }
    }

    /// The command's time limit and the manifest key that sets it. The
    /// quick questions share `timeouts.is_applicable`; `validate` and the
    /// dynamic mutex commands may redo the estimate's work, so they get
    /// `timeouts.estimate_update`.
    pub fn timeout(self, t: &Timeouts) -> (Duration, &'static str) {
        let (seconds, key) = match self {
            Command::IsApplicable
            | Command::CanSeparateDownload
            | Command::DoesRequireSudo
            | Command::SudoProgramsPaths
            | Command::Version => (t.is_applicable, "timeouts.is_applicable"),
            Command::EstimateUpdate
            | Command::Validate
            | Command::Mutexes(_)
            | Command::Dependency(_)
            | Command::RunsAfter => (t.estimate_update, "timeouts.estimate_update"),
            Command::Download => (t.download, "timeouts.download"),
            Command::Update | Command::SelfUpdate | Command::SelfUpgrade => {
                (t.update, "timeouts.update")
            }
        };
        (Duration::from_secs(seconds.get().unsigned_abs()), key)
    }

    /// The exit statuses the protocol allows, as people read them.
    fn allowed_exits(self) -> (&'static [i32], &'static str) {
        match self {
            Command::IsApplicable | Command::CanSeparateDownload | Command::DoesRequireSudo => {
                (&[0, 1], "0 for yes, 1 for no")
            }
            Command::EstimateUpdate | Command::SelfUpdate | Command::SelfUpgrade => (
                &[0, 1, 2],
                "0 success, 1 not applicable or not supported, 2 error",
            ),
            Command::Download | Command::Update | Command::Validate => {
                (&[0, 1], "0 success, 1 failure")
            }
            Command::SudoProgramsPaths
            | Command::Version
            | Command::Mutexes(_)
            | Command::Dependency(_)
            | Command::RunsAfter => (&[0], "only 0"),
        }
    }

    /// The exit status that goes with a document (docs/plugin-protocol.md,
    /// "The status and the exit status agree").
    fn exit_for(self, doc: &Document) -> i32 {
        match (self, doc.status) {
            (_, Status::Success) => 0,
            (Command::EstimateUpdate, Status::Error) => 2,
            (Command::SelfUpdate | Command::SelfUpgrade, Status::Error) => {
                match doc.error.as_ref() {
                    Some(e) if e.code == "NOT_SUPPORTED" => 1,
                    _ => 2,
                }
            }
            _ => 1,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A document's `status` (plan 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Error,
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::NotApplicable => "not_applicable",
        }
    }
}

/// A document's `error` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
    pub details: Option<String>,
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        match &self.details {
            Some(d) if !d.is_empty() => write!(f, " ({})", excerpt(d.as_bytes())),
            _ => Ok(()),
        }
    }
}

/// The JSON document of plan 4.3.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub status: Status,
    /// `null` when absent.
    pub data: Value,
    /// Present when `status` is `error`.
    pub error: Option<ErrorInfo>,
    /// Keys of the four (status, data, error, progress) that were missing;
    /// the protocol wants all four, update-all reads the document anyway.
    pub missing: Vec<&'static str>,
}

/// What estimate-update found (plan 4.4).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Estimate {
    pub packages_to_update: Vec<Package>,
    pub total_download_size_bytes: Option<u64>,
    pub total_installed_size_bytes: Option<u64>,
    pub estimated_time_seconds: Option<u64>,
    pub affects_runtimes: Vec<String>,
    pub affects_applications: Vec<String>,
    pub requires_reboot: bool,
    pub security_updates: bool,
}

/// One entry of `packages_to_update`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub current_version: Option<String>,
    pub new_version: Option<String>,
    pub download_size_bytes: Option<u64>,
    pub installed_size_bytes: Option<u64>,
}

/// The answer of estimate-update.
#[derive(Clone, Debug, PartialEq)]
pub enum EstimateAnswer {
    Updates(Estimate),
    /// The plugin does not apply here; its message, if it gave one.
    NotApplicable(Option<String>),
    /// The plugin tried and failed (network, lock, …): a valid answer.
    Failed(ErrorInfo),
}

/// The answer of the optional `validate` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy(ErrorInfo),
}

/// What is wrong with a plugin's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The executable could not be started; why.
    NotStarted(String),
    TimedOut {
        after: Duration,
        setting: &'static str,
    },
    /// Killed by this signal (not by the timeout).
    Killed(i32),
    /// The command is not implemented; how the plugin said so.
    NotImplemented(&'static str),
    UnexpectedExit {
        code: i32,
        allowed: &'static str,
    },
    /// Nothing on stdout where a JSON document was due.
    Empty,
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// Parses, but does not follow the protocol; what is wrong.
    Invalid(String),
    StatusMismatch {
        status: Status,
        code: i32,
        expected: i32,
    },
}

impl Problem {
    /// A short stable name for JSON output and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::NotStarted(_) => "not_started",
            Problem::TimedOut { .. } => "timed_out",
            Problem::Killed(_) => "killed",
            Problem::NotImplemented(_) => "not_implemented",
            Problem::UnexpectedExit { .. } => "unexpected_exit",
            Problem::Empty => "empty",
            Problem::NotJson { .. } => "not_json",
            Problem::Invalid(_) => "invalid",
            Problem::StatusMismatch { .. } => "status_mismatch",
        }
    }

    /// Whether quoting stdout helps (it is what the problem is about).
    fn about_stdout(&self) -> bool {
        matches!(
            self,
            Problem::UnexpectedExit { .. }
                | Problem::NotJson { .. }
                | Problem::Invalid(_)
                | Problem::StatusMismatch { .. }
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Problem::NotStarted(why) => write!(f, "{why}; check the manifest's `executable`"),
            Problem::TimedOut { after, setting } => write!(
                f,
                "did not finish within {} s, so its process group was killed; \
                 raise `{setting}` in its manifest if it needs longer",
                after.as_secs()
            ),
            Problem::Killed(signal) => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map_or_else(|_| String::new(), |s| format!(" ({s})"));
                write!(f, "was killed by signal {signal}{name}")
            }
            Problem::NotImplemented(how) => write!(f, "is not implemented: {how}"),
            Problem::UnexpectedExit { code, allowed } => write!(
                f,
                "exited with status {code}, which the protocol does not allow here ({allowed})"
            ),
            Problem::Empty => f.write_str(
                "printed nothing on stdout; it must print one JSON document \
                 (docs/plugin-protocol.md)",
            ),
            Problem::NotJson {
                line,
                column,
                message,
            } => write!(
                f,
                "output is not JSON (line {line} column {column}: {message}); stdout must hold \
                 exactly one JSON document, and a tool's own output belongs on stderr"
            ),
            Problem::Invalid(what) => f.write_str(what),
            Problem::StatusMismatch {
                status,
                code,
                expected,
            } => write!(
                f,
                "the document says `{}` but the plugin exited with status {code}; \
                 the two must agree (`{}` goes with exit status {expected})",
                status.as_str(),
                status.as_str()
            ),
        }
    }
}

/// A plugin that broke the protocol, or could not answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    pub plugin: String,
    pub command: Command,
    pub problem: Problem,
    /// The start of stdout, when it matters.
    pub printed: Option<String>,
    /// The last lines of stderr other than progress lines, if any.
    pub stderr: Option<String>,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "plugin `{}` {}: {}",
            self.plugin, self.command, self.problem
        )?;
        if let Some(printed) = &self.printed {
            write!(f, "; the plugin printed: {printed}")?;
        }
        if let Some(stderr) = &self.stderr {
            write!(f, "; its stderr ends with: {stderr}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProtocolError {}

impl Serialize for ProtocolError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ProtocolError", 4)?;
        st.serialize_field("plugin", &self.plugin)?;
        st.serialize_field("command", &self.command)?;
        st.serialize_field("kind", self.problem.kind())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// How much of the plugin's output a message quotes.
const EXCERPT: usize = 200;

/// `bytes` quoted for a one-line message: the first [`EXCERPT`] bytes with
/// control characters escaped, and how long it really was.
pub fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(EXCERPT)];
    let text = String::from_utf8_lossy(cut);
    let mut quoted = format!("{text:?}");
    if bytes.len() > EXCERPT {
        quoted.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    quoted
}

/// The last few lines of stderr that are not progress lines, quoted.
fn stderr_tail(stderr: &[u8]) -> Option<String> {
    let lines: Vec<&[u8]> = stderr
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .filter(|l| crate::commands::plugin_exec::progress_status(l).is_none())
        .collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(&b'\n');
    if tail.is_empty() {
        return None;
    }
    let start = tail.len().saturating_sub(EXCERPT);
    Some(excerpt(&tail[start..]))
}

impl Run {
    /// The error for `problem`, quoting what helps.
    pub fn error(&self, problem: Problem) -> ProtocolError {
        let printed = (problem.about_stdout() && !self.stdout.trim_ascii().is_empty())
            .then(|| excerpt(self.stdout.trim_ascii()));
        ProtocolError {
            plugin: self.plugin.clone(),
            command: self.command,
            stderr: stderr_tail(&self.stderr),
            printed,
            problem,
        }
    }

    /// The exit status, or the error for a plugin that did not exit.
    pub fn code(&self) -> Result<i32, ProtocolError> {
        match &self.exit {
            Exit::Code(code) => Ok(*code),
            Exit::Signal(signal) => Err(self.error(Problem::Killed(*signal))),
            Exit::TimedOut { after, setting } => Err(self.error(Problem::TimedOut {
                after: *after,
                setting,
            })),
            Exit::NotStarted(why) => Err(self.error(Problem::NotStarted(why.clone()))),
        }
    }

    /// The protocol's answer to an unknown command: exit 2, nothing on
    /// stdout.
    pub fn is_unknown_command(&self) -> bool {
        self.exit == Exit::Code(2) && self.stdout.trim_ascii().is_empty()
    }

    fn unknown(&self) -> ProtocolError {
        self.error(Problem::NotImplemented(
            "it exited with status 2 and printed nothing, the answer to an unknown command",
        ))
    }

    /// A yes/no command (is-applicable, can-separate-download,
    /// does-require-sudo): exit 0 is yes, 1 is no.
    pub fn yes_no(&self) -> Result<bool, ProtocolError> {
        match self.code()? {
            0 => Ok(true),
            1 => Ok(false),
            _ if self.is_unknown_command() => Err(self.unknown()),
            code => Err(self.error(Problem::UnexpectedExit {
                code,
                allowed: self.command.allowed_exits().1,
            })),
        }
    }

    /// A command that prints lines (sudo-programs-paths, version, the
    /// dynamic mutex commands): its non-empty lines, trimmed.
    pub fn lines(&self) -> Result<Vec<String>, ProtocolError> {
        match self.code()? {
            0 => {}
            _ if self.is_unknown_command() => return Err(self.unknown()),
            code => {
                return Err(self.error(Problem::UnexpectedExit {
                    code,
                    allowed: self.command.allowed_exits().1,
                }))
            }
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

    /// A dynamic mutex command's mutex names (plan 5.1), lower-cased,
    /// without duplicates.
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
    /// self-update, self-upgrade or validate, checked against plan 4.3 and
    /// against the exit status.
    pub fn document(&self) -> Result<Document, ProtocolError> {
        let code = self.code()?;
        if self.is_unknown_command() {
            return Err(self.unknown());
        }
        let (allowed, allowed_text) = self.command.allowed_exits();
        if !allowed.contains(&code) {
            return Err(self.error(Problem::UnexpectedExit {
                code,
                allowed: allowed_text,
            }));
        }
        let text = self.stdout.trim_ascii();
        if text.is_empty() {
            return Err(self.error(Problem::Empty));
        }
        let value: Value = serde_json::from_slice(text).map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            self.error(Problem::NotJson {
                line: e.line(),
                column: e.column(),
                message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
            })
        })?;
        let doc = Document::from_value(value).map_err(|e| self.error(Problem::Invalid(e)))?;
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

    /// estimate-update's answer, its data checked against plan 4.4.
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

    /// The optional `validate` command's answer.
    pub fn health(&self) -> Result<Health, ProtocolError> {
        let doc = self.document()?;
        Ok(match doc.error {
            Some(e) => Health::Unhealthy(e),
            None => Health::Healthy,
        })
    }
}

/// The type of a JSON value, for messages.
fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => excerpt(s.as_bytes()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl Document {
    /// Reads a parsed document; the error says which key is wrong.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err(format!(
                "the output is {}, not a JSON object with status, data, error and progress",
                kind_of(&value)
            ));
        };
        let missing = ["status", "data", "error", "progress"]
            .into_iter()
            .filter(|k| !map.contains_key(*k))
            .collect();
        let status = match map.get("status") {
            Some(Value::String(s)) if s == "success" => Status::Success,
            Some(Value::String(s)) if s == "error" => Status::Error,
            Some(Value::String(s)) if s == "not_applicable" => Status::NotApplicable,
            Some(other) => {
                return Err(format!(
                    "`status` is {}; it must be \"success\", \"error\" or \"not_applicable\"",
                    kind_of(other)
                ))
            }
            None => return Err("the document has no `status`".into()),
        };
        let data = map.remove("data").unwrap_or(Value::Null);
        if !matches!(data, Value::Null | Value::Object(_)) {
            return Err(format!(
                "`data` is {}; it must be an object or null",
                kind_of(&data)
            ));
        }
        let error = match map.remove("error") {
            None | Some(Value::Null) => None,
            Some(Value::Object(e)) => Some(error_info(&e)?),
            Some(other) => {
                return Err(format!(
                    "`error` is {}; it must be null or an object with code, message and details",
                    kind_of(&other)
                ))
            }
        };
        if status == Status::Error && error.is_none() {
            return Err("`status` is \"error\" but there is no `error` object \
                        with code and message"
                .into());
        }
        Ok(Document {
            status,
            data,
            error,
            missing,
        })
    }
}

fn error_info(e: &Map<String, Value>) -> Result<ErrorInfo, String> {
    let text = |key: &str| match e.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(other) => Err(format!(
            "`error.{key}` is {}; it must be a string",
            kind_of(other)
        )),
    };
    let code = text("code")?
        .filter(|c| !c.is_empty())
        .ok_or("`error.code` is missing; it must be an UPPER_SNAKE word such as NETWORK_ERROR")?;
    let message = text("message")?.ok_or("`error.message` is missing")?;
    Ok(ErrorInfo {
        code,
        message,
        details: text("details")?,
    })
}

/// Typed access to one object of the estimate's data, naming the path in
/// every error.
struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, v: &Value, want: &str) -> String {
        format!("`{}.{key}` is {}; it must be {want}", self.path, kind_of(v))
    }

    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(key, v, "a string or null")),
        }
    }

    /// A whole, non-negative number (sizes in bytes, seconds).
    fn count(&self, key: &str, want: &str) -> Result<Option<u64>, String> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let whole = v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
                .map(|f| f as u64)
        });
        whole.map(Some).ok_or_else(|| self.wrong(key, v, want))
    }

    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.wrong(key, v, "true or false")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    v => Err(format!(
                        "`{}.{key}[{i}]` is {}; it must be a string",
                        self.path,
                        kind_of(v)
                    )),
                })
                .collect(),
            Some(v) => Err(self.wrong(key, v, "an array of strings")),
        }
    }
}

impl Estimate {
    /// Reads the `data` of a successful estimate-update; `None` when it
    /// says `"applicable": false`.
    pub fn from_data(data: &Value) -> Result<Option<Self>, String> {
        let Value::Object(map) = data else {
            return Err(format!(
                "`data` is {}; a successful estimate-update has an object with \
                 packages_to_update and the totals (plan 4.4)",
                kind_of(data)
            ));
        };
        let top = Fields {
            path: "data".into(),
            map,
        };
        match top.get("applicable") {
            None | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Ok(None),
            Some(v) => return Err(top.wrong("applicable", v, "true")),
        }
        let packages = match map.get("packages_to_update") {
            Some(Value::Array(items)) => items,
            Some(v) => return Err(top.wrong("packages_to_update", v, "an array")),
            None => {
                return Err(
                    "`data.packages_to_update` is missing; list the pending updates \
                            there, or [] when there are none"
                        .into(),
                )
            }
        };
        let bytes = "a whole number of bytes or null";
        let packages_to_update = packages
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("data.packages_to_update[{i}]");
                let Value::Object(map) = item else {
                    return Err(format!(
                        "`{path}` is {}; it must be an object",
                        kind_of(item)
                    ));
                };
                let p = Fields { path, map };
                let name = p.string("name")?.filter(|n| !n.is_empty()).ok_or_else(|| {
                    format!("`{}.name` is missing; every package has a name", p.path)
                })?;
                Ok(Package {
                    name,
                    current_version: p.string("current_version")?,
                    new_version: p.string("new_version")?,
                    download_size_bytes: p.count("download_size_bytes", bytes)?,
                    installed_size_bytes: p.count("installed_size_bytes", bytes)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Some(Estimate {
            packages_to_update,
            total_download_size_bytes: top.count("total_download_size_bytes", bytes)?,
            total_installed_size_bytes: top.count("total_installed_size_bytes", bytes)?,
            estimated_time_seconds: top
                .count("estimated_time_seconds", "a whole number of seconds")?,
            affects_runtimes: top.strings("affects_runtimes")?,
            affects_applications: top.strings("affects_applications")?,
            requires_reboot: top.flag("requires_reboot")?,
            security_updates: top.flag("security_updates")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: Command, code: i32, stdout: &str) -> Run {
        Run {
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

    const PLAN_4_4: &str = r#"{"status": "success", "data": {"applicable": true,
        "packages_to_update": [{"name": "python3.12", "current_version": "3.12.1",
        "new_version": "3.12.2", "download_size_bytes": 15000000,
        "installed_size_bytes": 45000000}], "total_download_size_bytes": 95000000,
        "total_installed_size_bytes": 295000000, "estimated_time_seconds": 180,
        "affects_runtimes": ["python"], "affects_applications": ["firefox"],
        "requires_reboot": false, "security_updates": true}}"#;

    #[test]
    fn the_plans_example_parses() {
        let Ok(EstimateAnswer::Updates(e)) = estimate(0, PLAN_4_4) else {
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
        // The plan's example has neither `error` nor `progress`.
        let doc = run(Command::EstimateUpdate, 0, PLAN_4_4)
            .document()
            .unwrap();
        assert_eq!(doc.missing, ["error", "progress"]);
    }

    #[test]
    fn other_answers_of_estimate_update() {
        let na = r#"{"status":"not_applicable","data":null,"error":{"code":"NOT_APPLICABLE","message":"no apt here","details":null},"progress":null}"#;
        assert_eq!(
            estimate(1, na).unwrap(),
            EstimateAnswer::NotApplicable(Some("no apt here".into()))
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
        assert_eq!(problem(estimate(3, PLAN_4_4)).0, "unexpected_exit");
        let (kind, msg) = problem(estimate(2, PLAN_4_4));
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

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt(b"a\nb\"c"), r#""a\nb\"c""#);
        let long = excerpt(&[b'x'; 1000]);
        assert!(long.ends_with("… (1000 bytes in all)"));
        assert_eq!(long.matches('x').count(), EXCERPT);
    }
}
