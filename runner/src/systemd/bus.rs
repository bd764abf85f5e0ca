//! One connection to the service manager of a scope, and the calls the
//! runner makes on it.

use super::error::error_name;
use super::names::{is_plugin_unit, job_id};
use super::units::identity_from_systemd;
use super::{Error, Job, PlannedUnits, PluginUnit, Result, UnitProps};
use std::collections::HashMap;
use update_all_core::names::{HEALTH, ROLLBACK, TARGET};
use update_all_core::Scope;
use zbus::proxy::CacheProperties;
use zbus::{Connection, OwnedObjectPath, OwnedVariant};
use zbus_systemd::systemd1::ManagerProxy;

/// systemd's bus name.
pub(super) const SYSTEMD: &str = "org.freedesktop.systemd1";
/// The bus itself.
pub(super) const DBUS: &str = "org.freedesktop.DBus";
/// The manager object, which sends the job signals.
pub(super) const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const UNIT_IFACE: &str = "org.freedesktop.systemd1.Unit";
const SERVICE_IFACE: &str = "org.freedesktop.systemd1.Service";

/// A connection to the service manager of one scope.
pub struct Bus {
    pub scope: Scope,
    pub(super) conn: Connection,
    pub(super) manager: ManagerProxy<'static>,
}

impl Bus {
    /// Connects to the system bus, or for [`Scope::User`] to the session bus
    /// of the calling user (`DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`), where the user's systemd answers.
    pub async fn connect(scope: Scope) -> Result<Bus> {
        let conn = match scope {
            Scope::System => Connection::system().await,
            Scope::User => Connection::session().await,
        }
        .map_err(|source| Error::Unreachable { scope, source })?;
        let manager = ManagerProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok(Bus {
            scope,
            conn,
            manager,
        })
    }

    #[allow(dead_code)] // for callers beyond what this module wraps
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    #[allow(dead_code)] // for callers beyond what this module wraps
    pub fn manager(&self) -> &ManagerProxy<'static> {
        &self.manager
    }

    /// Maps a method's failure to [`Error`], naming `unit` when it is about one.
    fn fail(&self, unit: &str, e: zbus::Error) -> Error {
        match error_name(&e).as_deref() {
            Some(
                "org.freedesktop.DBus.Error.AccessDenied"
                | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
            ) => Error::NotAuthorized {
                scope: self.scope,
                detail: e.to_string(),
            },
            Some("org.freedesktop.systemd1.NoSuchUnit" | "org.freedesktop.systemd1.LoadFailed") => {
                Error::NoSuchUnit {
                    unit: unit.to_owned(),
                    detail: e.to_string(),
                }
            }
            _ => Error::Bus(e),
        }
    }

    /// Loads `unit` and returns its object path; [`Error::NoSuchUnit`] when
    /// it has no unit file or does not load.
    pub async fn load(&self, unit: &str) -> Result<OwnedObjectPath> {
        let path = self
            .manager
            .load_unit(unit.to_owned())
            .await
            .map_err(|e| self.fail(unit, e))?;
        let state: String = self.property(&path, UNIT_IFACE, "LoadState").await?;
        if state != "loaded" {
            return Err(Error::NoSuchUnit {
                unit: unit.to_owned(),
                detail: format!("load state {state}"),
            });
        }
        Ok(path)
    }

    /// Every plugin unit `update-all.target` wants, sorted by name, with
    /// its plugin and phase: from `planned` where the plan makes the unit,
    /// else as systemd has it (see [`identity_from_systemd`]).
    pub async fn plugin_units(&self, planned: &PlannedUnits) -> Result<Vec<PluginUnit>> {
        let target = self.load(TARGET).await?;
        let mut wants: Vec<String> = self.property(&target, UNIT_IFACE, "Wants").await?;
        wants.retain(|name| is_plugin_unit(name));
        // A failed health check starts the rollback (OnFailure=), which the
        // target does not want: it belongs to the run all the same.
        if wants.iter().any(|name| name == HEALTH) {
            wants.push(ROLLBACK.to_owned());
        }
        wants.sort();
        wants.dedup();
        let mut units = Vec::with_capacity(wants.len());
        for name in wants {
            let path = self
                .manager
                .load_unit(name.clone())
                .await
                .map_err(|e| self.fail(&name, e))?;
            let identity = match planned.get(&name) {
                Some(identity) => Some(identity),
                None => {
                    let env: Vec<String> = self
                        .property(&path, SERVICE_IFACE, "Environment")
                        .await
                        .unwrap_or_default();
                    identity_from_systemd(&name, &env)
                }
            };
            let Some((plugin, phase)) = identity else {
                continue;
            };
            units.push(PluginUnit {
                name,
                path,
                plugin,
                phase,
            });
        }
        Ok(units)
    }

    /// Keeps `unit` loaded while this connection lasts (`RefUnit`): an
    /// inactive unit nothing refers to (one started by `run --only`) is
    /// otherwise unloaded as soon as its job ends, and with it its Result.
    /// Needs the right to manage units.
    pub async fn pin(&self, unit: &str) -> Result<()> {
        self.manager
            .ref_unit(unit.to_owned())
            .await
            .map_err(|e| self.fail(unit, e))
    }

    /// The units `unit` is ordered after (`After=`).
    pub async fn after(&self, unit: &PluginUnit) -> Result<Vec<String>> {
        self.property(&unit.path, UNIT_IFACE, "After").await
    }

    /// Every job systemd has now.
    pub async fn jobs(&self) -> Result<Vec<Job>> {
        Ok(self
            .manager
            .list_jobs()
            .await?
            .into_iter()
            .map(|(id, unit, kind, state, _, _)| Job {
                id,
                unit,
                kind,
                state,
            })
            .collect())
    }

    /// Starts `unit` (mode `replace`); returns the job id.
    pub async fn start(&self, unit: &str) -> Result<u32> {
        let job = self
            .manager
            .start_unit(unit.to_owned(), "replace".to_owned())
            .await
            .map_err(|e| self.fail(unit, e))?;
        Ok(job_id(job.as_str()))
    }

    /// Stops `unit` (mode `replace`, which also cancels its start job).
    pub async fn stop(&self, unit: &str) -> Result<u32> {
        self.stop_with(unit, "replace").await
    }

    /// Stops `unit` unless a job of it is queued: systemd refuses the stop
    /// (job mode `fail`) rather than cancel that job, which someone else
    /// (a run just started) asked for.
    pub async fn stop_unless_queued(&self, unit: &str) -> Result<u32> {
        self.stop_with(unit, "fail").await
    }

    async fn stop_with(&self, unit: &str, mode: &str) -> Result<u32> {
        let job = self
            .manager
            .stop_unit(unit.to_owned(), mode.to_owned())
            .await
            .map_err(|e| self.fail(unit, e))?;
        Ok(job_id(job.as_str()))
    }

    /// Everything [`UnitProps`] holds, read now; for a unit whose job was
    /// just removed, that is how it ended:
    /// [`UnitProps::ended_as`]`(job_result)`. A unit that was unloaded meanwhile is [`Error::NoSuchUnit`]
    /// (see [`Bus::pin`]); systemd sends a unit's last property changes
    /// before the `JobRemoved` of its job, so a watcher has them anyway.
    pub async fn outcome(&self, unit: &str) -> Result<UnitProps> {
        let path = self
            .manager
            .get_unit(unit.to_owned())
            .await
            .map_err(|e| self.fail(unit, e))?;
        self.props(&path).await
    }

    /// Reads [`UnitProps`] of the unit at `path` (two `GetAll` calls).
    pub async fn props(&self, path: &OwnedObjectPath) -> Result<UnitProps> {
        let mut props = UnitProps::default();
        for iface in [UNIT_IFACE, SERVICE_IFACE] {
            props.apply(
                &self
                    .properties(path)
                    .await?
                    .get_all(iface.try_into()?)
                    .await?,
            );
        }
        Ok(props)
    }

    /// Every property of the unit at `path`, raw: the Unit interface's,
    /// then the Service interface's (two `GetAll`, as [`Bus::props`]), for
    /// what [`UnitProps`] leaves out: the recorder's accounting counters
    /// (`CPUUsageNSec`, `IOReadBytes`, `IPIngressBytes`, `MemoryPeak` where
    /// systemd has it) and `ExecMainCode`.
    pub async fn raw_properties(
        &self,
        path: &OwnedObjectPath,
    ) -> Result<[HashMap<String, OwnedVariant>; 2]> {
        let proxy = self.properties(path).await?;
        Ok([
            proxy.get_all(UNIT_IFACE.try_into()?).await?,
            proxy.get_all(SERVICE_IFACE.try_into()?).await?,
        ])
    }

    async fn properties(&self, path: &OwnedObjectPath) -> Result<zbus::fdo::PropertiesProxy<'_>> {
        Ok(zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(SYSTEMD)
            .path(path.clone())
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    async fn property<T>(&self, path: &OwnedObjectPath, iface: &str, name: &str) -> Result<T>
    where
        T: TryFrom<OwnedVariant>,
        T::Error: Into<zbus::Error>,
    {
        let value = self
            .properties(path)
            .await?
            .get(iface.try_into()?, name)
            .await?;
        T::try_from(value).map_err(|e| Error::Bus(e.into()))
    }
}
