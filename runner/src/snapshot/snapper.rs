//! snapper: a run's pre/post pair as snap-pac makes one around a pacman
//! transaction.
//!
//! - pre: `snapper -c CONFIG create --type pre --cleanup-algorithm number
//!   --print-number --description "update-all run N" --userdata
//!   update-all-run=N`;
//! - post: `--type post --pre-number M`, with the same userdata;
//! - `important=yes` in both when the run's packages touch the kernel, the
//!   C library, systemd or the boot loader (snapper's number cleanup keeps
//!   `NUMBER_LIMIT_IMPORTANT` of those apart from the others): the pre's
//!   is set with `snapper modify` when the post is taken, since the
//!   packages are known only once the updates ran.
//!
//! The userdata is how a run finds its pair again (`snapper --jsonout
//! list`), also after a crash that lost the records: nothing is kept
//! elsewhere. snapper goes through snapperd on the system bus when
//! snapperd is there to answer, else it works on its own (`--no-dbus`).

use super::command;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::process::Command;

/// The userdata key that names a snapshot's run.
pub const RUN_KEY: &str = "update-all-run";
/// snapperd's name on the system bus.
const SNAPPERD: &str = "org.opensuse.Snapper";

/// One snapper configuration: its name and the subvolume it snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Config {
    #[serde(rename = "config")]
    pub name: String,
    pub subvolume: String,
}

/// How snapper is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapper {
    /// Through snapperd (else `--no-dbus`).
    pub dbus: bool,
}

impl Snapper {
    /// snapper as it can be used here: through snapperd when the system
    /// bus has it (running or activatable), else on its own.
    pub fn here() -> Snapper {
        Snapper {
            dbus: snapperd_reachable(),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("snapper");
        if !self.dbus {
            cmd.arg("--no-dbus");
        }
        cmd
    }

    /// Every configuration (`snapper --jsonout list-configs`).
    pub fn configs(&self) -> Result<Vec<Config>, String> {
        #[derive(Deserialize)]
        struct List {
            configs: Vec<Config>,
        }
        let out = command::output(self.command().args(["--jsonout", "list-configs"]))?;
        serde_json::from_str::<List>(&out)
            .map(|l| l.configs)
            .map_err(|e| format!("snapper list-configs: unexpected answer: {e}"))
    }

    /// Takes the pre snapshot of `run` in `config`; its number.
    pub fn create_pre(&self, config: &str, run: i64) -> Result<u32, String> {
        let mut cmd = self.command();
        cmd.args(["-c", config, "create", "--type", "pre"]);
        self.create(cmd, run, false)
    }

    /// Takes the post snapshot of `run` in `config`, paired with `pre`; its
    /// number. `important`: mark both.
    pub fn create_post(
        &self,
        config: &str,
        run: i64,
        pre: u32,
        important: bool,
    ) -> Result<u32, String> {
        if important {
            command::output(self.command().args([
                "-c",
                config,
                "modify",
                "--userdata",
                "important=yes",
                &pre.to_string(),
            ]))?;
        }
        let mut cmd = self.command();
        cmd.args(["-c", config, "create", "--type", "post"])
            .args(["--pre-number", &pre.to_string()]);
        self.create(cmd, run, important)
    }

    fn create(&self, mut cmd: Command, run: i64, important: bool) -> Result<u32, String> {
        let mut userdata = format!("{RUN_KEY}={run}");
        if important {
            userdata.push_str(",important=yes");
        }
        cmd.args(["--cleanup-algorithm", "number", "--print-number"])
            .args(["--description", &format!("update-all run {run}")])
            .args(["--userdata", &userdata]);
        let out = command::output(&mut cmd)?;
        out.trim()
            .parse()
            .map_err(|_| format!("snapper create printed no snapshot number: {out:?}"))
    }

    /// The snapshots of `config` whose userdata names `run`, as `snapper
    /// --jsonout list` has them.
    pub fn of_run(&self, config: &str, run: i64) -> Result<Vec<Listed>, String> {
        let out = command::output(self.command().args(["--jsonout", "-c", config, "list"]))?;
        let listed = parse_list(&out)?;
        let run = run.to_string();
        Ok(listed
            .into_iter()
            .filter(|s| s.userdata.get(RUN_KEY) == Some(&run))
            .collect())
    }
}

/// One snapshot of `snapper --jsonout list`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Listed {
    pub number: u32,
    /// single, pre or post.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "pre-number")]
    pub pre_number: Option<u32>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub userdata: BTreeMap<String, String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_default())
}

/// `snapper --jsonout list`: `{"CONFIG": [snapshot, ...]}`.
fn parse_list(out: &str) -> Result<Vec<Listed>, String> {
    serde_json::from_str::<BTreeMap<String, Vec<Listed>>>(out)
        .map(|m| m.into_values().flatten().collect())
        .map_err(|e| format!("snapper list: unexpected answer: {e}"))
}

/// Whether snapperd answers on the system bus, or the bus can start it.
fn snapperd_reachable() -> bool {
    zbus::block_on(async {
        let conn = zbus::Connection::system().await.ok()?;
        let bus = zbus::fdo::DBusProxy::new(&conn).await.ok()?;
        let name = zbus::names::BusName::try_from(SNAPPERD).ok()?;
        if bus.name_has_owner(name).await.ok()? {
            return Some(true);
        }
        let activatable = bus.list_activatable_names().await.ok()?;
        Some(activatable.iter().any(|n| n.as_str() == SNAPPERD))
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_pair_is_read_from_snappers_list() {
        let out = r#"{"root": [
          {"subvolume": "/", "number": 0, "type": "single", "pre-number": null,
           "userdata": null, "description": "current"},
          {"subvolume": "/", "number": 1, "type": "pre", "pre-number": null,
           "userdata": {"important": "yes", "update-all-run": "7"}},
          {"subvolume": "/", "number": 2, "type": "post", "pre-number": 1,
           "userdata": {"update-all-run": "7"}}
        ]}"#;
        let listed = parse_list(out).unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].userdata, BTreeMap::new());
        assert_eq!(listed[2].pre_number, Some(1));
        assert_eq!(
            listed[1].userdata.get(RUN_KEY).map(String::as_str),
            Some("7")
        );
        assert!(parse_list("not json").is_err());
    }
}
