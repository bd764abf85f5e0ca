//! Plugin commands as transient units (`StartTransientUnit`): each one a
//! `Type=oneshot` service in `update-all.slice`, run by the scope's service
//! manager as the plugin's real units are (root, or the user), with the
//! plugin's settings in its environment, its stdout in a file the runner
//! reads afterwards and its stderr in the journal. systemd enforces the
//! timeout and the ordering (`After=`); the runner only starts and follows.
//!
//! Units are started with `CollectMode=inactive-or-failed` and pinned
//! (`RefUnit`) while this connection lasts, so that their result can be
//! read after their job ends and nothing is left behind afterwards.

use crate::systemd::{self, Bus, Event, Outcome, UnitProps};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use update_all_core::inventory::Plugin;
use update_all_core::manifest::Manifest;
use update_all_core::names::{setting_variable, SLICE};
use zbus::{OwnedVariant, Variant};

/// After a timeout's SIGTERM, how long the plugin has before SIGKILL: a
/// check must not hang for systemd's default 90 s.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One transient unit to start.
#[derive(Clone, Debug)]
pub struct Spec {
    /// `update-all--check-apt.service`.
    pub unit: String,
    pub description: String,
    /// Run first as `ExecCondition=` (exit 1 to 254 skips the unit).
    pub condition: Option<Vec<String>>,
    /// The `ExecStart=` command line (program first).
    pub command: Vec<String>,
    /// `KEY=VALUE` pairs.
    pub environment: Vec<String>,
    /// Units this one starts after, if they have jobs too.
    pub after: Vec<String>,
    /// The whole start (condition and command), as `TimeoutStartSec=`.
    pub timeout: Duration,
    /// Where its stdout goes (truncated first).
    pub stdout: PathBuf,
    pub syslog_identifier: String,
    /// Extra journal fields (`KEY=VALUE`), as `LogExtraFields=`.
    pub log_fields: Vec<String>,
    /// `Nice=`, `CPUWeight=`, `IOWeight=`, `MemoryMax=` from the manifest.
    pub resources: Vec<(&'static str, OwnedVariant)>,
}

impl Spec {
    /// The parts every unit of `plugin` shares: the settings as
    /// environment, the resource limits, the journal identity. It takes an
    /// inventory [`Plugin`], which only a plugin that passed the
    /// generator's trust checks has: nothing else is run.
    pub fn for_plugin(plugin: &Plugin, unit: String, command: &str, stdout: PathBuf) -> Spec {
        let manifest = &plugin.manifest;
        let name = manifest.name.as_str();
        let exe = manifest.executable.as_str().to_owned();
        Spec {
            unit,
            description: format!("update-all check: {name} {command}"),
            condition: None,
            command: vec![exe, command.to_owned()],
            environment: manifest
                .settings
                .iter()
                .map(|(k, v)| format!("{}={}", setting_variable(name, k.as_str()), v.as_str()))
                .collect(),
            after: Vec::new(),
            timeout: Duration::from_secs(manifest.timeouts.estimate_update.get() as u64),
            stdout,
            syslog_identifier: format!("update-all-{name}"),
            log_fields: vec![
                format!("UPDATE_ALL_PLUGIN={name}"),
                "UPDATE_ALL_PHASE=estimate".to_owned(),
            ],
            resources: resources(manifest),
        }
    }

    /// The unit's properties, as `StartTransientUnit` takes them.
    fn properties(&self) -> zbus::Result<Vec<(String, OwnedVariant)>> {
        fn v<'a>(value: impl Into<Variant<'a>>) -> zbus::Result<OwnedVariant> {
            OwnedVariant::try_from(value.into())
        }
        let exec = |argv: &[String]| v(vec![(argv[0].clone(), argv.to_vec(), false)]);
        let mut props = vec![
            ("Description", v(self.description.as_str())?),
            ("Type", v("oneshot")?),
            ("Slice", v(SLICE)?),
            ("CollectMode", v("inactive-or-failed")?),
            ("ExecStart", exec(&self.command)?),
            ("Environment", v(self.environment.clone())?),
            ("After", v(self.after.clone())?),
            ("TimeoutStartUSec", v(micros(self.timeout))?),
            ("TimeoutStopUSec", v(micros(STOP_GRACE))?),
            ("StandardInput", v("null")?),
            (
                "StandardOutputFileToTruncate",
                v(self.stdout.to_string_lossy().into_owned())?,
            ),
            ("StandardError", v("journal")?),
            ("SyslogIdentifier", v(self.syslog_identifier.as_str())?),
            (
                "LogExtraFields",
                v(self
                    .log_fields
                    .iter()
                    .map(|f| f.as_bytes().to_vec())
                    .collect::<Vec<_>>())?,
            ),
        ];
        if let Some(condition) = &self.condition {
            props.push(("ExecCondition", exec(condition)?));
        }
        let mut props: Vec<(String, OwnedVariant)> =
            props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        for (k, value) in &self.resources {
            props.push(((*k).to_owned(), value.try_clone()?));
        }
        Ok(props)
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().try_into().unwrap_or(u64::MAX)
}

/// The manifest's `resources` as unit properties.
fn resources(m: &Manifest) -> Vec<(&'static str, OwnedVariant)> {
    let r = &m.resources;
    let mut props = Vec::new();
    if let Some(nice) = r.nice {
        props.push(("Nice", OwnedVariant::from(nice.get() as i32)));
    }
    if let Some(w) = r.cpu_weight {
        props.push(("CPUWeight", OwnedVariant::from(w.get() as u64)));
    }
    if let Some(w) = r.io_weight {
        props.push(("IOWeight", OwnedVariant::from(w.get() as u64)));
    }
    if let Some(bytes) = r.memory_max.as_ref().and_then(|s| bytes(s.as_str())) {
        props.push(("MemoryMax", OwnedVariant::from(bytes)));
    }
    props
}

/// `512M` → bytes, as systemd reads sizes (powers of 1024); `infinity` is
/// the maximum.
fn bytes(size: &str) -> Option<u64> {
    if size == "infinity" {
        return Some(u64::MAX);
    }
    let (digits, shift) = match size.as_bytes().last()? {
        b'K' => (&size[..size.len() - 1], 10),
        b'M' => (&size[..size.len() - 1], 20),
        b'G' => (&size[..size.len() - 1], 30),
        b'T' => (&size[..size.len() - 1], 40),
        _ => (size, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// How a transient unit ended.
#[derive(Clone, Debug)]
pub struct Ended {
    pub unit: String,
    pub outcome: Outcome,
    pub props: UnitProps,
}

impl Ended {
    /// The `ExecStart=` command ran (the condition, if any, let it).
    pub fn command_ran(&self) -> bool {
        self.props.exec_main_start_us.is_some_and(|us| us > 0)
    }
}

/// The transient units started here that have not ended yet, with what the
/// watch has told of them.
pub struct Batch<'b> {
    bus: &'b Bus,
    running: HashMap<String, UnitProps>,
}

impl<'b> Batch<'b> {
    /// Start units only after [`Bus::watch`], so no end is missed.
    pub fn new(bus: &'b Bus) -> Self {
        Batch {
            bus,
            running: HashMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Starts `spec`'s unit. With `CollectMode=inactive-or-failed` nothing
    /// is left of an earlier check's unit once it ended; one that still
    /// runs is an error with systemd's "already exists".
    pub async fn start(&mut self, spec: &Spec) -> systemd::Result<()> {
        self.bus
            .manager()
            .start_transient_unit(
                spec.unit.clone(),
                "fail".to_owned(),
                spec.properties()?,
                Vec::new(),
            )
            .await
            .map_err(|e| refused(self.bus, &spec.unit, e))?;
        self.running.insert(spec.unit.clone(), UnitProps::default());
        // Best effort: if it ended already, the watch has its properties.
        let _ = self.bus.pin(&spec.unit).await;
        Ok(())
    }

    /// Takes in one event of the watch; returns the unit that ended with it.
    pub async fn handle(&mut self, event: Event) -> Option<Ended> {
        match event {
            Event::Changed { unit, props } => {
                if let Some(seen) = self.running.get_mut(&unit) {
                    seen.merge(&props);
                }
                None
            }
            Event::JobRemoved { unit, result, .. } => {
                let mut props = self.running.remove(&unit)?;
                if let Ok(now) = self.bus.outcome(&unit).await {
                    props.merge(&now);
                }
                let outcome = props.ended_as(Some(&result));
                Some(Ended {
                    unit,
                    outcome,
                    props,
                })
            }
            _ => None,
        }
    }
}

/// Why systemd would not start a transient unit, in words that say what to
/// do.
fn refused(bus: &Bus, unit: &str, e: zbus::Error) -> systemd::Error {
    use zbus::DBusError;
    let name = match &e {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        zbus::Error::FDO(fdo) => fdo.name().to_string(),
        _ => String::new(),
    };
    match name.as_str() {
        "org.freedesktop.DBus.Error.AccessDenied"
        | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => {
            systemd::Error::NotAuthorized {
                scope: bus.scope,
                detail: e.to_string(),
            }
        }
        "org.freedesktop.systemd1.UnitExists" => systemd::Error::Bus(zbus::Error::Failure(
            format!("{unit} is still running: is another update-all check in progress? ({e})"),
        )),
        _ => systemd::Error::Bus(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_systemd_reads_them() {
        assert_eq!(bytes("512"), Some(512));
        assert_eq!(bytes("2K"), Some(2048));
        assert_eq!(bytes("1G"), Some(1 << 30));
        assert_eq!(bytes("infinity"), Some(u64::MAX));
        assert_eq!(bytes("x"), None);
    }
}
