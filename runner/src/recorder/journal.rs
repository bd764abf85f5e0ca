//! What only the journal remembers of plugin units' invocations, as their
//! service manager logged them.
//!
//! - A skip: when `is-applicable` says no (ExecCondition), systemd 252
//!   resets the unit as if it had never started: `InvocationID`,
//!   `InactiveExitTimestamp` and the rest read empty afterwards, and only
//!   `ConditionResult=no` is left. The manager's own messages keep the
//!   invocation: "Starting …" and "Skipped due to 'exec-condition'", both
//!   tagged with it.
//! - Every invocation but the latest: the manager's properties describe a
//!   unit's latest invocation only. A unit that ran twice while no
//!   recorder ran has its first run in the journal alone ("Starting …",
//!   "Main process exited …", "Failed with result …" or "Deactivated
//!   successfully", "Consumed …"), each message tagged with the
//!   invocation.
//!
//! Trust: anyone may log a message with any `MESSAGE_ID=`, `UNIT=` and
//! `INVOCATION_ID=`. Only the fields journald adds itself, which start with
//! `_` and which no client can set, say who wrote an entry: `_PID` and
//! `_UID`, from the sender's socket credentials. Only entries the service
//! manager wrote count: `_PID=1 _UID=0` for the system manager, the user
//! manager's PID and the user's UID for a user manager. A forged entry
//! changes nothing.

use crate::stats::{store, Outcome, Record};
use crate::systemd::{classify, exit_code_of_name};
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use update_all_core::Scope;

/// `SD_MESSAGE_UNIT_STARTING`: "Starting <unit> - <description>...".
const UNIT_STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";
/// `SD_MESSAGE_UNIT_SKIPPED`: "<unit>: Skipped due to '<condition>'."
const UNIT_SKIPPED: &str = "0e4284a0caca4bfc81c0bb6786972673";
/// `SD_MESSAGE_UNIT_SUCCESS`: "<unit>: Deactivated successfully." (a user
/// manager logs it at debug level only)
const UNIT_SUCCESS: &str = "7ad2d189f7e94e70a38c781354912448";
/// `SD_MESSAGE_UNIT_STARTED`: "Finished <unit> - …", its start job's end,
/// with `JOB_RESULT=`; of a oneshot unit, "done" says it succeeded.
const UNIT_STARTED: &str = "39f53479d3a045ac8e11786248231fbf";
/// `SD_MESSAGE_UNIT_FAILURE_RESULT`: "<unit>: Failed with result '…'.",
/// with `UNIT_RESULT=`.
const UNIT_FAILURE_RESULT: &str = "d9b373ed55a64feb8242e02dbe79a49c";
/// `SD_MESSAGE_UNIT_PROCESS_EXIT`: "Main process exited, code=…", with
/// `EXIT_CODE=` and `EXIT_STATUS=` (logged when it failed).
const UNIT_PROCESS_EXIT: &str = "98e322203f7a4ed290d09fe03c09fe15";
/// `SD_MESSAGE_UNIT_RESOURCES`: "<unit>: Consumed … CPU time.", with the
/// accounting counters.
const UNIT_RESOURCES: &str = "ae8f7b866b0347b9af31fe1c80b127c0";
/// `SD_MESSAGE_UNIT_STOPPING`: "Stopping <unit>...": a stop was asked for.
const UNIT_STOPPING: &str = "de5b426a63be47a7b6ac3eaac82e2f6f";
/// Every message an invocation is put together from.
const INVOCATION_MESSAGES: [&str; 8] = [
    UNIT_STARTING,
    UNIT_SKIPPED,
    UNIT_SUCCESS,
    UNIT_STARTED,
    UNIT_FAILURE_RESULT,
    UNIT_PROCESS_EXIT,
    UNIT_RESOURCES,
    UNIT_STOPPING,
];
/// How many messages [`last_skips`] reads, newest first: a skip is two.
const LINES: usize = 2000;

/// The service manager of a scope, the one writer whose entries count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manager {
    pid: u32,
    uid: u32,
    /// The system manager tags its messages `UNIT=` and `INVOCATION_ID=`,
    /// a user manager `USER_UNIT=` and `USER_INVOCATION_ID=`.
    unit_field: &'static str,
    invocation_field: &'static str,
}

impl Manager {
    /// The manager this process serves: PID 1 for the system; for a user,
    /// the manager that started it (`$MANAGERPID`, which a user manager
    /// passes to its services, else the parent) running as this user.
    pub fn of(scope: Scope) -> Manager {
        match scope {
            Scope::System => Manager {
                pid: 1,
                uid: 0,
                unit_field: "UNIT",
                invocation_field: "INVOCATION_ID",
            },
            Scope::User => Manager::user(
                std::env::var("MANAGERPID")
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| nix::unistd::getppid().as_raw().unsigned_abs()),
                nix::unistd::getuid().as_raw(),
            ),
        }
    }

    /// The user manager with process id `pid`, of the user `uid`.
    fn user(pid: u32, uid: u32) -> Manager {
        Manager {
            pid,
            uid,
            unit_field: "USER_UNIT",
            invocation_field: "USER_INVOCATION_ID",
        }
    }

    /// The journal matches of its own entries of this boot.
    fn matches(&self) -> Vec<String> {
        let mut m = vec![format!("_PID={}", self.pid), format!("_UID={}", self.uid)];
        let boot = store::boot_id().replace('-', "");
        if !boot.is_empty() {
            m.push(format!("_BOOT_ID={boot}"));
        }
        m
    }

    /// Whether the manager wrote `entry` (the matches already say so; this
    /// holds whatever `journalctl` did with them).
    fn wrote(&self, entry: &Value) -> bool {
        let number = |k: &str| text(entry, k).and_then(|v| v.parse::<u32>().ok());
        number("_PID") == Some(self.pid) && number("_UID") == Some(self.uid)
    }
}

/// Runs `journalctl` for the manager's entries with one of `ids` about one
/// of `units` (matches on one field are ORed, on different fields ANDed),
/// with `extra` options; the entries it wrote, in the order read; none
/// where the journal cannot be read.
fn read(manager: &Manager, ids: &[&str], units: &[&str], extra: &[String]) -> Vec<Value> {
    if units.is_empty() {
        return Vec::new();
    }
    let out = Command::new("journalctl")
        .args(["--no-pager", "-q", "-o", "json"])
        .args(extra)
        .args(manager.matches())
        .args(ids.iter().map(|id| format!("MESSAGE_ID={id}")))
        .args(units.iter().map(|u| format!("{}={u}", manager.unit_field)))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| manager.wrote(e))
        .collect()
}

fn text(e: &Value, k: &str) -> Option<String> {
    e.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn time(e: &Value) -> Option<i64> {
    text(e, "__REALTIME_TIMESTAMP")?.parse().ok()
}

/// An invocation of a unit that its `ExecCondition=` (or a `Condition…=`)
/// skipped, as the journal tells it; not a skipped run (`stats::skips`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionSkip {
    pub invocation_id: String,
    /// The "Starting …" message of that invocation (else the skip's).
    pub started_us: i64,
    /// The skip message.
    pub ended_us: i64,
}

/// The latest skip the journal has of each of `units` (one `journalctl`
/// for all of them); none where it has none or cannot be read.
pub fn last_skips(scope: Scope, units: &[&str]) -> HashMap<String, ConditionSkip> {
    let manager = Manager::of(scope);
    let extra = ["-r".to_owned(), "-n".to_owned(), LINES.to_string()];
    let entries = read(&manager, &[UNIT_SKIPPED, UNIT_STARTING], units, &extra);
    skips_of(&entries, &manager)
}

/// The newest skip per unit among `entries` (newest first).
fn skips_of(entries: &[Value], manager: &Manager) -> HashMap<String, ConditionSkip> {
    let mut skips: HashMap<String, ConditionSkip> = HashMap::new();
    for e in entries {
        if text(e, "MESSAGE_ID").as_deref() != Some(UNIT_SKIPPED) {
            continue;
        }
        let (Some(unit), Some(invocation_id), Some(ended_us)) = (
            text(e, manager.unit_field),
            text(e, manager.invocation_field),
            time(e),
        ) else {
            continue;
        };
        if skips.contains_key(&unit) {
            continue;
        }
        let started_us = entries
            .iter()
            .filter(|s| text(s, manager.invocation_field).as_deref() == Some(&invocation_id))
            .filter_map(time)
            .min()
            .unwrap_or(ended_us);
        skips.insert(
            unit,
            ConditionSkip {
                invocation_id,
                started_us,
                ended_us,
            },
        );
    }
    skips
}

/// One invocation of a unit as its manager's messages tell it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    pub unit: String,
    pub invocation_id: String,
    /// Its "Starting …" message, where read.
    pub started_us: Option<i64>,
    /// The first message that it ended: skipped, deactivated, failed, or
    /// its start job done (plugin units are oneshot); None while it has
    /// not.
    pub ended_us: Option<i64>,
    skipped: bool,
    /// `UNIT_RESULT` of a failure, "success" when deactivated successfully.
    result: Option<String>,
    /// A stop was asked for while it ran.
    stopped: bool,
    /// How its main process ended, where the manager said so.
    exit_code: Option<String>,
    exit_status: Option<i64>,
    /// From "Consumed …".
    counters: HashMap<&'static str, i64>,
}

/// The accounting fields of "Consumed …" that a record keeps.
const COUNTERS: [&str; 5] = [
    "CPU_USAGE_NSEC",
    "IO_METRIC_READ_BYTES",
    "IO_METRIC_WRITE_BYTES",
    "IP_METRIC_INGRESS_BYTES",
    "IP_METRIC_EGRESS_BYTES",
];

impl Invocation {
    /// Its record, once it has ended; run id still to be set, peak memory
    /// unknown (the journal of systemd 252 does not have it).
    pub fn record(&self, plugin: &str, phase: &str) -> Option<Record> {
        let ended_us = self.ended_us?;
        let (result, exit_code, exit_status) = if self.skipped {
            (Outcome::Skipped, None, None)
        } else {
            let result = self.result.as_deref().unwrap_or("success");
            // The manager says how the main process ended when it failed;
            // one that succeeded exited with 0.
            let (code, status) = match (&self.exit_code, result) {
                (Some(code), _) => (Some(code.clone()), self.exit_status),
                (None, "success") => (Some("exited".to_owned()), Some(0)),
                (None, _) => (None, None),
            };
            let main_code = code.as_deref().and_then(exit_code_of_name);
            // A stop asked for while it ran cancelled its start job.
            let job = self.stopped.then_some("canceled");
            let outcome = classify(job, Some(result), Some(true), main_code);
            (outcome, code, status)
        };
        let counter = |k: &str| self.counters.get(k).copied();
        Some(Record {
            run_id: 0,
            plugin: plugin.to_owned(),
            phase: phase.to_owned(),
            unit: self.unit.clone(),
            invocation_id: self.invocation_id.clone(),
            started_us: self.started_us,
            ended_us: Some(ended_us),
            result,
            exit_code,
            exit_status,
            cpu_ns: counter("CPU_USAGE_NSEC"),
            memory_peak_bytes: None,
            io_read_bytes: counter("IO_METRIC_READ_BYTES"),
            io_write_bytes: counter("IO_METRIC_WRITE_BYTES"),
            ip_ingress_bytes: counter("IP_METRIC_INGRESS_BYTES"),
            ip_egress_bytes: counter("IP_METRIC_EGRESS_BYTES"),
            // Only the unit's last status text tells, and the journal
            // does not keep it.
            attempts: None,
            detail: None,
        })
    }
}

/// Every invocation of `units` that the manager of `scope` logged in this
/// boot since `since_us` (all of this boot without), oldest first; only
/// those that ended have an `ended_us`.
pub fn invocations(scope: Scope, units: &[&str], since_us: Option<i64>) -> Vec<Invocation> {
    let manager = Manager::of(scope);
    let extra: Vec<String> = since_us
        .map(|us| format!("--since=@{}", us.max(0) / 1_000_000))
        .into_iter()
        .collect();
    let entries = read(&manager, &INVOCATION_MESSAGES, units, &extra);
    invocations_of(&entries, &manager)
}

/// Groups `entries` (oldest first) by their invocation.
fn invocations_of(entries: &[Value], manager: &Manager) -> Vec<Invocation> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: HashMap<String, Invocation> = HashMap::new();
    for e in entries {
        let (Some(unit), Some(id), Some(at)) = (
            text(e, manager.unit_field),
            text(e, manager.invocation_field).filter(|id| !id.is_empty()),
            time(e),
        ) else {
            continue;
        };
        let inv = by_id.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            Invocation {
                unit,
                invocation_id: id,
                ..Invocation::default()
            }
        });
        match text(e, "MESSAGE_ID").as_deref() {
            Some(UNIT_STARTING) => inv.started_us = Some(at),
            Some(UNIT_SKIPPED) => {
                inv.skipped = true;
                inv.ended_us.get_or_insert(at);
            }
            Some(UNIT_SUCCESS) => {
                inv.result.get_or_insert_with(|| "success".to_owned());
                inv.ended_us.get_or_insert(at);
            }
            Some(UNIT_STARTED) if text(e, "JOB_RESULT").as_deref() == Some("done") => {
                inv.result.get_or_insert_with(|| "success".to_owned());
                inv.ended_us.get_or_insert(at);
            }
            Some(UNIT_FAILURE_RESULT) => {
                inv.result = Some(text(e, "UNIT_RESULT").unwrap_or_else(|| "failed".into()));
                inv.ended_us.get_or_insert(at);
            }
            Some(UNIT_PROCESS_EXIT) => {
                inv.exit_code = text(e, "EXIT_CODE");
                inv.exit_status = text(e, "EXIT_STATUS").and_then(|s| s.parse().ok());
            }
            Some(UNIT_RESOURCES) => {
                for k in COUNTERS {
                    if let Some(v) = text(e, k).and_then(|v| v.parse().ok()) {
                        inv.counters.insert(k, v);
                    }
                }
            }
            Some(UNIT_STOPPING) => inv.stopped = true,
            _ => {}
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn system() -> Manager {
        Manager::of(Scope::System)
    }

    /// An entry of the system manager's, with `fields` on top.
    fn entry(id: &str, unit: &str, inv: &str, t: u64, fields: &[(&str, &str)]) -> Value {
        let mut e = Map::new();
        for (k, v) in [
            ("MESSAGE_ID", id),
            ("UNIT", unit),
            ("INVOCATION_ID", inv),
            ("__REALTIME_TIMESTAMP", &t.to_string()),
            ("_PID", "1"),
            ("_UID", "0"),
        ]
        .into_iter()
        .chain(fields.iter().copied())
        {
            e.insert(k.to_owned(), json!(v));
        }
        Value::Object(e)
    }

    #[test]
    fn finds_each_units_newest_skip_and_its_start() {
        let entries = [
            entry(UNIT_STARTING, "x", "c", 400, &[]),
            entry(UNIT_SKIPPED, "y", "b", 250, &[]),
            entry(UNIT_STARTING, "y", "b", 200, &[]),
            entry(UNIT_SKIPPED, "y", "a", 150, &[]),
            entry(UNIT_STARTING, "y", "a", 100, &[]),
        ];
        let skips = skips_of(&entries, &system());
        assert_eq!(
            skips.get("y"),
            Some(&ConditionSkip {
                invocation_id: "b".into(),
                started_us: 200,
                ended_us: 250
            })
        );
        assert_eq!(skips.len(), 1, "x never skipped: {skips:?}");
    }

    #[test]
    fn only_the_managers_own_entries_count() {
        let m = system();
        assert!(m.wrote(&entry(UNIT_SUCCESS, "u", "i", 1, &[])));
        // What a local user's `logger --journald` gets: its own credentials.
        let forged = entry(
            UNIT_SUCCESS,
            "u",
            "i",
            1,
            &[("_PID", "4242"), ("_UID", "1000")],
        );
        assert!(!m.wrote(&forged));
        let root_not_pid1 = entry(UNIT_SUCCESS, "u", "i", 1, &[("_PID", "4242")]);
        assert!(!m.wrote(&root_not_pid1));
        let mut unstamped = entry(UNIT_SUCCESS, "u", "i", 1, &[]);
        unstamped.as_object_mut().unwrap().remove("_PID");
        assert!(!m.wrote(&unstamped));
        assert!(m
            .matches()
            .starts_with(&["_PID=1".to_owned(), "_UID=0".to_owned()]));

        // A user manager: its PID and the user's UID, and USER_UNIT=.
        let user = Manager::user(777, 1000);
        let mut theirs = entry(
            UNIT_SUCCESS,
            "u",
            "i",
            1,
            &[("_PID", "777"), ("_UID", "1000")],
        );
        assert!(user.wrote(&theirs));
        theirs["_UID"] = json!("4242");
        assert!(!user.wrote(&theirs));
        assert_eq!(user.unit_field, "USER_UNIT");
    }

    #[test]
    fn puts_invocations_together_in_order() {
        let u = "update-all-apt.service";
        let entries = [
            entry(UNIT_STARTING, u, "a", 100, &[]),
            entry(
                UNIT_RESOURCES,
                u,
                "a",
                210,
                &[("CPU_USAGE_NSEC", "5000"), ("IO_METRIC_READ_BYTES", "7")],
            ),
            entry(UNIT_SUCCESS, u, "a", 200, &[]),
            entry(UNIT_STARTED, u, "a", 201, &[("JOB_RESULT", "done")]),
            entry(UNIT_STARTING, u, "b", 300, &[]),
            entry(
                UNIT_PROCESS_EXIT,
                u,
                "b",
                390,
                &[("EXIT_CODE", "exited"), ("EXIT_STATUS", "3")],
            ),
            entry(
                UNIT_FAILURE_RESULT,
                u,
                "b",
                400,
                &[("UNIT_RESULT", "exit-code")],
            ),
            entry(UNIT_STARTING, u, "c", 500, &[]),
            entry(UNIT_SKIPPED, u, "c", 510, &[]),
            entry(UNIT_STARTING, u, "d", 600, &[]),
            entry(UNIT_STOPPING, u, "d", 650, &[]),
            entry(UNIT_SUCCESS, u, "d", 660, &[]),
            entry(UNIT_STARTING, u, "e", 700, &[]),
        ];
        let invs = invocations_of(&entries, &system());
        let ids: Vec<&str> = invs.iter().map(|i| i.invocation_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        let rec = |i: usize| invs[i].record("apt", "update");

        let a = rec(0).unwrap();
        assert_eq!((a.started_us, a.ended_us), (Some(100), Some(200)));
        assert_eq!(a.result, Outcome::Success);
        assert_eq!(
            (a.exit_code.as_deref(), a.exit_status),
            (Some("exited"), Some(0))
        );
        assert_eq!(
            (a.cpu_ns, a.io_read_bytes, a.io_write_bytes),
            (Some(5000), Some(7), None)
        );
        assert_eq!((a.unit.as_str(), a.plugin.as_str()), (u, "apt"));

        let b = rec(1).unwrap();
        assert_eq!(b.result, Outcome::Failed);
        assert_eq!(
            (b.exit_code.as_deref(), b.exit_status),
            (Some("exited"), Some(3))
        );

        let c = rec(2).unwrap();
        assert_eq!(c.result, Outcome::Skipped);
        assert_eq!(
            (c.started_us, c.ended_us, c.exit_code),
            (Some(500), Some(510), None)
        );

        assert_eq!(rec(3).unwrap().result, Outcome::Cancelled);
        assert_eq!(rec(4), None, "e has not ended");
    }

    #[test]
    fn user_managers_tag_their_messages_differently() {
        let user = Manager::user(778, 1000);
        let e = json!({"MESSAGE_ID": UNIT_SUCCESS, "USER_UNIT": "u", "USER_INVOCATION_ID": "i",
                       "UNIT": "user@1000.service", "INVOCATION_ID": "other",
                       "__REALTIME_TIMESTAMP": "5", "_PID": "778", "_UID": "1000"});
        // It logs "Deactivated successfully" at debug level only: its
        // start job's end says that a oneshot unit succeeded.
        let finished = json!({"MESSAGE_ID": UNIT_STARTED, "USER_UNIT": "v", "USER_INVOCATION_ID": "j",
                              "JOB_RESULT": "done", "__REALTIME_TIMESTAMP": "9", "_PID": "778", "_UID": "1000"});
        let invs = invocations_of(&[e, finished], &user);
        assert_eq!(invs.len(), 2);
        assert_eq!(
            (invs[0].unit.as_str(), invs[0].invocation_id.as_str()),
            ("u", "i")
        );
        let v = invs[1].record("v", "update").unwrap();
        assert_eq!((v.result, v.ended_us), (Outcome::Success, Some(9)));
    }
}
