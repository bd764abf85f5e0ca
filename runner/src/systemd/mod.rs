//! The runner's D-Bus layer: one connection to the service manager of a
//! scope, the plugin units it knows, their jobs and state changes as they
//! happen, and how a finished unit ended.
//!
//! Used by `run`, `cancel` and the statistics recorder. Everything is async
//! (zbus on its own runtime); drive it with `zbus::block_on`.
//!
//! ```ignore
//! let bus = Bus::connect(scope).await?;
//! let mut events = bus.watch().await?;       // match rules, then Subscribe
//! let units = bus.plugin_units().await?;     // what update-all.target pulls in
//! bus.start(TARGET).await?;
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::JobRemoved { unit, result, .. } => {
//!             let outcome = bus.outcome(&unit).await?;
//!             let state = State::of_finished(Some(&result), &outcome);
//!         }
//!         // Signals may have been missed: read the jobs and units again.
//!         Event::Resync(_) => { /* bus.jobs(), bus.outcome(..) */ }
//!         _ => {}
//!     }
//! }
//! // None: the connection is gone (the bus restarted): Bus::reconnect.
//! ```
//!
//! The watch follows the manager: `systemctl daemon-reexec` (a systemd
//! package upgrade does it) gives it a new unique bus name, and its signals
//! are taken from that name on, after subscribing again (see [`Watch`]).

use futures_util::{FutureExt, Stream, StreamExt};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use update_all_core::{Phase, Scope};
use zbus::message::Type as MessageType;
use zbus::proxy::CacheProperties;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedObjectPath, OwnedVariant};
use zbus_systemd::systemd1::ManagerProxy;

/// The unit that runs every plugin.
pub const TARGET: &str = "update-all.target";
/// The statistics recorder: named like a plugin unit, but not one.
pub const RECORDER: &str = "update-all-recorder.service";

const SYSTEMD: &str = "org.freedesktop.systemd1";
const DBUS: &str = "org.freedesktop.DBus";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const UNIT_PATH_PREFIX: &str = "/org/freedesktop/systemd1/unit/";
const UNIT_IFACE: &str = "org.freedesktop.systemd1.Unit";
const SERVICE_IFACE: &str = "org.freedesktop.systemd1.Service";
/// Signals wait here while the watcher is busy with a method call. zbus stops
/// reading the socket when a queue is full, which would also hold up that
/// call's reply, so this is far more than a run ever produces.
const QUEUE: NonZeroUsize = NonZeroUsize::new(1 << 16).unwrap();
/// Changes of systemd's owner waiting to be read: a few at a time.
const OWNER_QUEUE: NonZeroUsize = NonZeroUsize::new(64).unwrap();
/// How often a watch asks for a [`Resync::Backstop`]: the bound on how long
/// a missed signal can hold up a run.
pub const BACKSTOP: Duration = Duration::from_secs(10);
/// How long [`Bus::reconnect`] tries before it gives up.
const RECONNECT_FOR: Duration = Duration::from_secs(90);

/// Why talking to systemd failed.
#[derive(Debug)]
pub enum Error {
    /// The bus of the scope could not be reached.
    Unreachable { scope: Scope, source: zbus::Error },
    /// systemd (polkit) refused: not root for system units.
    NotAuthorized { scope: Scope, detail: String },
    /// The unit is not installed (not found, or failed to load).
    NoSuchUnit { unit: String, detail: String },
    /// Any other D-Bus failure.
    Bus(zbus::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::Unreachable { scope, source } => match scope {
                Scope::System => write!(f, "cannot reach the system bus: {source}"),
                Scope::User => write!(
                    f,
                    "cannot reach your session bus (is your user manager running, \
                     XDG_RUNTIME_DIR set?): {source}"
                ),
            },
            Error::NotAuthorized { scope, detail } => match scope {
                Scope::System => write!(
                    f,
                    "not authorized to manage system units ({detail}): run it with sudo, \
                     or use --user for your own plugins"
                ),
                Scope::User => write!(f, "not authorized ({detail})"),
            },
            Error::NoSuchUnit { unit, detail } => write!(
                f,
                "{unit} is not installed ({detail}): the update-all units and generator \
                 are missing, or systemd has not been reloaded (systemctl daemon-reload)"
            ),
            Error::Bus(e) => write!(f, "D-Bus: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<zbus::Error> for Error {
    fn from(e: zbus::Error) -> Self {
        Error::Bus(e)
    }
}

impl From<zbus::fdo::Error> for Error {
    fn from(e: zbus::fdo::Error) -> Self {
        Error::Bus(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The D-Bus name of a method error, if `e` is one.
fn error_name(e: &zbus::Error) -> Option<String> {
    use zbus::DBusError;
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        zbus::Error::FDO(fdo) => Some(fdo.name().to_string()),
        _ => None,
    }
}

/// A plugin unit as loaded by systemd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginUnit {
    /// `update-all-apt-download.service`.
    pub name: String,
    pub path: OwnedObjectPath,
    pub plugin: String,
    pub phase: Phase,
}

/// A job systemd has queued or is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: u32,
    pub unit: String,
    /// `start`, `stop`, ...
    pub kind: String,
    /// `waiting` or `running`.
    pub state: String,
}

/// What the watch stream hands out, in the order systemd sent it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    JobNew {
        id: u32,
        unit: String,
    },
    /// `result`: done, canceled, timeout, failed, dependency, skipped.
    JobRemoved {
        id: u32,
        unit: String,
        result: String,
    },
    /// Properties of an `update-all-*` unit changed; only those are set.
    Changed {
        unit: String,
        props: UnitProps,
    },
    /// Signals may have been missed, or units changed: read again what
    /// matters (jobs, unit states) instead of trusting the signals so far.
    Resync(Resync),
}

/// Why a watch asks to read everything again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resync {
    /// The manager came back under a new bus name (`daemon-reexec`, or
    /// systemd reconnecting to a restarted bus); the watch subscribed
    /// again. Whatever happened while it was away sent no signal here.
    ManagerBack,
    /// The manager finished reloading its units (`daemon-reload`).
    Reloaded,
    /// [`BACKSTOP`] passed: a periodic check against any missed signal.
    Backstop,
}

/// Unit and service properties, as far as they are known. Filled from
/// `PropertiesChanged` (only what changed) or read whole by
/// [`Bus::outcome`]. Timestamps are CLOCK_REALTIME µs, 0 for never.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitProps {
    pub active_state: Option<String>,
    pub sub_state: Option<String>,
    /// The service's `Result`: success, exit-code, signal, timeout,
    /// oom-kill, exec-condition, ...
    pub result: Option<String>,
    pub condition_result: Option<bool>,
    /// What the plugin sent with sd_notify `STATUS=`.
    pub status_text: Option<String>,
    pub exec_main_status: Option<i32>,
    pub inactive_exit_us: Option<u64>,
    pub inactive_enter_us: Option<u64>,
    pub exec_main_start_us: Option<u64>,
    pub exec_main_exit_us: Option<u64>,
    /// Hex, 32 characters; empty before the first activation.
    pub invocation_id: Option<String>,
}

impl UnitProps {
    /// Takes over every property of `changed` this type knows.
    pub fn apply(&mut self, changed: &HashMap<String, OwnedVariant>) {
        for (name, value) in changed {
            let string = || <&str>::try_from(value).ok().map(str::to_owned);
            let u64_ = || u64::try_from(value).ok();
            match name.as_str() {
                "ActiveState" => self.active_state = string(),
                "SubState" => self.sub_state = string(),
                "Result" => self.result = string(),
                "ConditionResult" => self.condition_result = bool::try_from(value).ok(),
                "StatusText" => self.status_text = string(),
                "ExecMainStatus" => self.exec_main_status = i32::try_from(value).ok(),
                "InactiveExitTimestamp" => self.inactive_exit_us = u64_(),
                "InactiveEnterTimestamp" => self.inactive_enter_us = u64_(),
                "ExecMainStartTimestamp" => self.exec_main_start_us = u64_(),
                "ExecMainExitTimestamp" => self.exec_main_exit_us = u64_(),
                "InvocationID" => {
                    self.invocation_id = value
                        .try_clone()
                        .ok()
                        .and_then(|v| Vec::<u8>::try_from(v).ok())
                        .map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
                }
                _ => {}
            }
        }
    }

    /// Every field that is set in `newer` replaces this one's.
    pub fn merge(&mut self, newer: &UnitProps) {
        macro_rules! take {
            ($($field:ident),*) => {
                $( if newer.$field.is_some() { self.$field.clone_from(&newer.$field); } )*
            };
        }
        take!(
            active_state,
            sub_state,
            result,
            condition_result,
            status_text,
            exec_main_status,
            inactive_exit_us,
            inactive_enter_us,
            exec_main_start_us,
            exec_main_exit_us,
            invocation_id
        );
    }

    /// The unit is between leaving `inactive` and coming back: its
    /// ExecCondition or main process runs.
    pub fn is_active(&self) -> bool {
        matches!(
            self.active_state.as_deref(),
            Some("activating" | "active" | "reloading" | "deactivating")
        )
    }

    /// The whole activation (ExecCondition included): from leaving
    /// `inactive` to entering it again, if both happened in that order.
    pub fn duration(&self) -> Option<std::time::Duration> {
        let (start, end) = (self.inactive_exit_us?, self.inactive_enter_us?);
        (start > 0 && end >= start).then(|| std::time::Duration::from_micros(end - start))
    }
}

/// Where a plugin unit stands, or how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// It has a job that has not started running yet.
    Waiting,
    Running,
    /// Finished successfully.
    Done,
    Failed,
    /// Its is-applicable said no (ExecCondition) or a Condition was false.
    Skipped,
    Timeout,
    Oom,
    /// Stopped before it finished (`update-all cancel`, `systemctl stop`).
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::Timeout => "timeout",
            State::Oom => "oom",
            State::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, State::Waiting | State::Running)
    }

    /// Counts against the run: anything final but done or skipped.
    pub fn is_failure(self) -> bool {
        self.is_final() && !matches!(self, State::Done | State::Skipped)
    }

    /// How a unit ended, from its start job's result (when known) and its
    /// properties after the job was removed.
    pub fn of_finished(job_result: Option<&str>, props: &UnitProps) -> State {
        match job_result {
            Some("canceled") => return State::Cancelled,
            // A unit it Requires= failed (a plugin's download): it never ran.
            Some("dependency") => return State::Failed,
            Some("skipped") => return State::Skipped,
            Some("timeout") => return State::Timeout,
            _ => {}
        }
        match props.result.as_deref() {
            Some("success") if props.condition_result == Some(false) => State::Skipped,
            Some("success") => State::Done,
            Some("exec-condition") => State::Skipped,
            Some("timeout") => State::Timeout,
            Some("oom-kill") => State::Oom,
            _ => State::Failed,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection to the service manager of one scope.
pub struct Bus {
    pub scope: Scope,
    conn: Connection,
    manager: ManagerProxy<'static>,
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

    /// Starts watching: adds the match rules for systemd's signals and for
    /// changes of who owns its bus name, then calls `Subscribe` (without
    /// which systemd sends no unit or job signals). Call it before starting
    /// anything, so no change is missed.
    ///
    /// The stream has every job of every unit, the property changes of
    /// `update-all-*` units, and a [`Event::Resync`] whenever signals may
    /// have been missed; it ends when the connection closes (then
    /// [`Bus::reconnect`]).
    pub async fn watch(&self) -> Result<Watch> {
        let signals = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .path_namespace(MANAGER_PATH)
            .build()?;
        let signals = MessageStream::for_match_rule(signals, &self.conn, Some(QUEUE)).await?;
        let owners = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(DBUS)
            .interface(DBUS)
            .member("NameOwnerChanged")
            .add_arg(SYSTEMD)
            .build()?;
        let owners = MessageStream::for_match_rule(owners, &self.conn, Some(OWNER_QUEUE)).await?;
        // A method call waits for systemd to take its name on a bus that
        // just started; asking the bus for the owner before would fail.
        subscribe(&self.manager).await?;
        // Only systemd's own signals count: anyone may send on these paths.
        let owner = zbus::fdo::DBusProxy::new(&self.conn)
            .await?
            .get_name_owner(SYSTEMD.try_into().expect("valid bus name"))
            .await?
            .to_string();
        let runtime = zruntime::SharedRuntime::current()
            .map_err(|e| Error::Bus(zbus::Error::Failure(e.to_string())))?;
        let follow = Follow {
            signals,
            owners,
            owner: Some(owner),
            manager: self.manager.clone(),
            backstop: {
                let mut every = runtime.interval(BACKSTOP);
                every.set_missed_tick_behavior(zruntime::MissedTickBehavior::Skip);
                every
            },
            held: None,
        };
        Ok(Watch(
            Box::pin(futures_util::stream::unfold(
                follow,
                |mut follow| async move {
                    let event = follow.next().await?;
                    Some((event, follow))
                },
            )),
            None,
        ))
    }

    /// Connects again after the connection closed (the bus restarted, and
    /// the system survived it), trying for up to [`RECONNECT_FOR`] while
    /// the bus and systemd come back, and watches again. The watch starts
    /// with a [`Resync::ManagerBack`]: nothing was heard meanwhile.
    pub async fn reconnect(scope: Scope) -> Result<(Bus, Watch)> {
        let runtime = zruntime::SharedRuntime::current()
            .map_err(|e| Error::Bus(zbus::Error::Failure(e.to_string())))?;
        let deadline = Instant::now() + RECONNECT_FOR;
        loop {
            let attempt = async {
                let bus = Bus::connect(scope).await?;
                let watch = bus.watch().await?;
                Ok::<_, Error>((bus, watch))
            };
            // An attempt that hangs (a bus that accepts and never answers)
            // ends at the deadline too.
            let attempt = runtime
                .timeout_at(deadline, attempt)
                .await
                .unwrap_or_else(|e| {
                    Err(Error::Unreachable {
                        scope,
                        source: zbus::Error::Failure(e.to_string()),
                    })
                });
            match attempt {
                Ok((bus, mut watch)) => {
                    watch.resync();
                    return Ok((bus, watch));
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(e) => {
                    tracing::debug!("reconnecting to the {scope:?} bus: {e}");
                    runtime.sleep(Duration::from_millis(250)).await;
                }
            }
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
    /// the plugin and phase from its environment (`UPDATE_ALL_PLUGIN`,
    /// `UPDATE_ALL_PHASE`).
    pub async fn plugin_units(&self) -> Result<Vec<PluginUnit>> {
        let target = self.load(TARGET).await?;
        let mut wants: Vec<String> = self.property(&target, UNIT_IFACE, "Wants").await?;
        wants.retain(|name| is_plugin_unit(name));
        wants.sort();
        let mut units = Vec::with_capacity(wants.len());
        for name in wants {
            let path = self
                .manager
                .load_unit(name.clone())
                .await
                .map_err(|e| self.fail(&name, e))?;
            let env: Vec<String> = self
                .property(&path, SERVICE_IFACE, "Environment")
                .await
                .unwrap_or_default();
            let from_env = |key: &str| {
                env.iter()
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .map(str::to_owned)
            };
            let (plugin, phase) =
                match (from_env("UPDATE_ALL_PLUGIN"), from_env("UPDATE_ALL_PHASE")) {
                    (Some(plugin), Some(phase)) => match parse_phase(&phase) {
                        Some(phase) => (plugin, phase),
                        None => continue,
                    },
                    _ => match plugin_of_name(&name) {
                        Some(found) => found,
                        None => continue,
                    },
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
        let job = self
            .manager
            .stop_unit(unit.to_owned(), "replace".to_owned())
            .await
            .map_err(|e| self.fail(unit, e))?;
        Ok(job_id(job.as_str()))
    }

    /// Everything [`UnitProps`] holds, read now; for a unit whose job was
    /// just removed, that is how it ended: `State::of_finished(job_result,
    /// &props)`. A unit that was unloaded meanwhile is [`Error::NoSuchUnit`]
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

/// What [`Bus::watch`] hands out: systemd's signals as [`Event`]s, taken
/// from whichever connection owns `org.freedesktop.systemd1` now.
pub struct Watch(Pin<Box<dyn Stream<Item = Event>>>, Option<Event>);

impl Watch {
    /// The next event is a [`Resync::ManagerBack`].
    fn resync(&mut self) {
        self.1 = Some(Event::Resync(Resync::ManagerBack));
    }
}

impl Stream for Watch {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if let Some(event) = self.1.take() {
            return Poll::Ready(Some(event));
        }
        self.0.as_mut().poll_next(cx)
    }
}

/// The state behind a [`Watch`].
struct Follow {
    signals: MessageStream,
    /// `NameOwnerChanged` of systemd's name, sent by the bus.
    owners: MessageStream,
    /// The unique name systemd has now; none while it is away.
    owner: Option<String>,
    manager: ManagerProxy<'static>,
    backstop: zruntime::Interval<zruntime::Shared>,
    /// An event that came with a change of owner, handed out after it.
    held: Option<Event>,
}

/// What woke a [`Follow`] up.
enum Heard {
    Owner(Option<zbus::Result<Message>>),
    Signal(Option<zbus::Result<Message>>),
    Backstop,
}

impl Follow {
    async fn next(&mut self) -> Option<Event> {
        if let Some(event) = self.held.take() {
            return Some(event);
        }
        loop {
            let heard = futures_util::future::poll_fn(|cx| {
                // Owners first: the bus sends the change of owner before
                // anything the new owner sends.
                if let Poll::Ready(m) = self.owners.poll_next_unpin(cx) {
                    return Poll::Ready(Heard::Owner(m));
                }
                if let Poll::Ready(m) = self.signals.poll_next_unpin(cx) {
                    return Poll::Ready(Heard::Signal(m));
                }
                if self.backstop.poll_tick(cx).is_ready() {
                    return Poll::Ready(Heard::Backstop);
                }
                Poll::Pending
            })
            .await;
            match heard {
                Heard::Owner(Some(Ok(msg))) => {
                    if self.owner_changed(&msg).await {
                        return Some(Event::Resync(Resync::ManagerBack));
                    }
                }
                Heard::Owner(Some(Err(_))) | Heard::Signal(Some(Err(_))) => {}
                // The connection closed.
                Heard::Owner(None) | Heard::Signal(None) => return None,
                Heard::Signal(Some(Ok(msg))) => {
                    // Its change of owner may have come in just after the
                    // poll of the owners above.
                    let mut back = false;
                    while !self.sent_by_owner(&msg) {
                        match self.owners.next().now_or_never() {
                            Some(Some(Ok(change))) => back |= self.owner_changed(&change).await,
                            _ => break,
                        }
                    }
                    let event = if self.sent_by_owner(&msg) {
                        parse_signal(&msg)
                    } else {
                        None
                    };
                    if back {
                        self.held = event;
                        return Some(Event::Resync(Resync::ManagerBack));
                    }
                    if event.is_some() {
                        return event;
                    }
                }
                Heard::Backstop => return Some(Event::Resync(Resync::Backstop)),
            }
        }
    }

    fn sent_by_owner(&self, msg: &Message) -> bool {
        let header = msg.header();
        let sender = header.sender().map(|s| s.as_str());
        sender.is_some() && sender == self.owner.as_deref()
    }

    /// Takes a `NameOwnerChanged` in; true when systemd has a new owner
    /// now, which is subscribed again.
    async fn owner_changed(&mut self, msg: &Message) -> bool {
        // Only the bus says who owns a name: anyone may send a signal named
        // so to this connection, but the bus stamps each message with its
        // true sender (the match rule checks it too; this does not rely
        // on that).
        if msg.header().sender().map(|s| s.as_str()) != Some(DBUS) {
            return false;
        }
        let Ok((name, _old, new)) = msg.body().deserialize::<(String, String, String)>() else {
            return false;
        };
        if name != SYSTEMD || self.owner.as_deref() == Some(new.as_str()) {
            return false;
        }
        if new.is_empty() {
            tracing::debug!("systemd left the bus");
            self.owner = None;
            return false;
        }
        tracing::debug!("systemd is back on the bus as {new}");
        self.owner = Some(new);
        // systemd keeps its subscribers across a re-exec, but not across a
        // restart of the bus; a failure here leaves the backstop.
        if let Err(e) = subscribe(&self.manager).await {
            tracing::warn!("cannot subscribe to systemd again: {e}");
        }
        true
    }
}

/// `Subscribe`; being subscribed already is fine.
async fn subscribe(manager: &ManagerProxy<'static>) -> Result<()> {
    match manager.subscribe().await {
        Err(e)
            if error_name(&e).as_deref() == Some("org.freedesktop.systemd1.AlreadySubscribed") =>
        {
            Ok(())
        }
        other => Ok(other?),
    }
}

/// `update-all-*.service`, except the recorder.
pub fn is_plugin_unit(name: &str) -> bool {
    name.starts_with("update-all-")
        && name.ends_with(".service")
        && name != RECORDER
        && !name.starts_with(CHECK_PREFIX)
}

/// The transient units of `update-all check`. Plugin names never hold
/// `--`, so these cannot be taken for a plugin's units.
pub const CHECK_PREFIX: &str = "update-all--check-";

/// Plugin and phase from a unit name alone, for a unit without the
/// environment the generator gives it (`update-all-X-download.service` is
/// taken as X's download phase).
fn plugin_of_name(name: &str) -> Option<(String, Phase)> {
    let base = name.strip_prefix("update-all-")?.strip_suffix(".service")?;
    Some(match base.strip_suffix("-download") {
        Some(plugin) => (plugin.to_owned(), Phase::Download),
        None => (base.to_owned(), Phase::Update),
    })
}

pub fn parse_phase(s: &str) -> Option<Phase> {
    match s {
        "download" => Some(Phase::Download),
        "update" => Some(Phase::Update),
        "estimate" => Some(Phase::Estimate),
        _ => None,
    }
}

/// `/org/freedesktop/systemd1/job/42` → 42.
fn job_id(path: &str) -> u32 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The unit name of a unit object path: systemd escapes every byte but
/// `[A-Za-z0-9]` as `_xx` (hex).
pub fn unit_of_path(path: &str) -> Option<String> {
    let label = path.strip_prefix(UNIT_PATH_PREFIX)?;
    let bytes = label.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A signal of systemd's (the caller checked the sender) as an event.
fn parse_signal(msg: &Message) -> Option<Event> {
    let header = msg.header();
    let path = header.path()?.as_str();
    let body = msg.body();
    match header.member()?.as_str() {
        "JobNew" if path == MANAGER_PATH => {
            let (id, _job, unit): (u32, OwnedObjectPath, String) = body.deserialize().ok()?;
            Some(Event::JobNew { id, unit })
        }
        "JobRemoved" if path == MANAGER_PATH => {
            let (id, _job, unit, result): (u32, OwnedObjectPath, String, String) =
                body.deserialize().ok()?;
            Some(Event::JobRemoved { id, unit, result })
        }
        "Reloading" if path == MANAGER_PATH => {
            let active: bool = body.deserialize().ok()?;
            (!active).then_some(Event::Resync(Resync::Reloaded))
        }
        "PropertiesChanged" => {
            let unit = unit_of_path(path)?;
            if !unit.starts_with("update-all-") {
                return None;
            }
            let (_iface, changed, _invalidated): (
                String,
                HashMap<String, OwnedVariant>,
                Vec<String>,
            ) = body.deserialize().ok()?;
            let mut props = UnitProps::default();
            props.apply(&changed);
            Some(Event::Changed { unit, props })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn check_units_are_not_plugin_units() {
        // A plugin may be called check-x; the check's own units use `--`.
        assert!(is_plugin_unit("update-all-check-x.service"));
        assert!(!is_plugin_unit("update-all--check-x.service"));
        assert!(!is_plugin_unit(RECORDER));
    }

    use super::*;

    #[test]
    fn unit_paths_unescape() {
        assert_eq!(
            unit_of_path("/org/freedesktop/systemd1/unit/update_2dall_2dapt_2ddownload_2eservice")
                .as_deref(),
            Some("update-all-apt-download.service")
        );
        assert_eq!(unit_of_path("/org/freedesktop/systemd1/job/3"), None);
        assert_eq!(unit_of_path("/org/freedesktop/systemd1/unit/bad_4"), None);
    }

    #[test]
    fn names_and_phases() {
        assert!(is_plugin_unit("update-all-apt.service"));
        assert!(!is_plugin_unit(RECORDER));
        assert!(!is_plugin_unit(TARGET));
        assert_eq!(
            plugin_of_name("update-all-apt-download.service"),
            Some(("apt".into(), Phase::Download))
        );
        assert_eq!(
            plugin_of_name("update-all-apt.service"),
            Some(("apt".into(), Phase::Update))
        );
        assert_eq!(job_id("/org/freedesktop/systemd1/job/42"), 42);
    }

    #[test]
    fn signals_become_events() {
        fn signal<'a>(
            path: &'a str,
            iface: &'a str,
            member: &'a str,
        ) -> zbus::message::Builder<'a> {
            Message::signal(path, iface, member).sender(":1.1")
        }
        const MANAGER: &str = "org.freedesktop.systemd1.Manager";
        let removed = signal(MANAGER_PATH, MANAGER, "JobRemoved")
            .build(&(
                7u32,
                OwnedObjectPath::try_from("/org/freedesktop/systemd1/job/7").unwrap(),
                "update-all-apt.service",
                "done",
            ))
            .unwrap();
        assert_eq!(
            parse_signal(&removed),
            Some(Event::JobRemoved {
                id: 7,
                unit: "update-all-apt.service".into(),
                result: "done".into()
            })
        );
        // A reload asks for a resync once it is over.
        let reloading = |active: bool| {
            let msg = signal(MANAGER_PATH, MANAGER, "Reloading")
                .build(&(active,))
                .unwrap();
            parse_signal(&msg)
        };
        assert_eq!(reloading(true), None);
        assert_eq!(reloading(false), Some(Event::Resync(Resync::Reloaded)));
        // Property changes of other units are not the run's.
        let changed = |path: &str| {
            let props: HashMap<&str, zbus::Variant> =
                HashMap::from([("ActiveState", "active".into())]);
            let msg = signal(path, "org.freedesktop.DBus.Properties", "PropertiesChanged")
                .build(&(UNIT_IFACE, props, Vec::<&str>::new()))
                .unwrap();
            parse_signal(&msg)
        };
        assert_eq!(
            changed("/org/freedesktop/systemd1/unit/dbus_2eservice"),
            None
        );
        assert!(matches!(
            changed("/org/freedesktop/systemd1/unit/update_2dall_2dapt_2eservice"),
            Some(Event::Changed { unit, props })
                if unit == "update-all-apt.service"
                    && props.active_state.as_deref() == Some("active")
        ));
    }

    #[test]
    fn finished_states() {
        let with = |result: &str, cond: bool| UnitProps {
            result: Some(result.into()),
            condition_result: Some(cond),
            ..UnitProps::default()
        };
        assert_eq!(
            State::of_finished(Some("done"), &with("success", true)),
            State::Done
        );
        assert_eq!(
            State::of_finished(Some("done"), &with("success", false)),
            State::Skipped
        );
        assert_eq!(
            State::of_finished(Some("done"), &with("exec-condition", true)),
            State::Skipped
        );
        assert_eq!(
            State::of_finished(Some("failed"), &with("exit-code", true)),
            State::Failed
        );
        assert_eq!(
            State::of_finished(Some("failed"), &with("timeout", true)),
            State::Timeout
        );
        assert_eq!(
            State::of_finished(Some("failed"), &with("oom-kill", true)),
            State::Oom
        );
        assert_eq!(
            State::of_finished(Some("canceled"), &with("success", true)),
            State::Cancelled
        );
        assert_eq!(
            State::of_finished(Some("dependency"), &with("success", true)),
            State::Failed
        );
        assert_eq!(
            State::of_finished(None, &with("signal", true)),
            State::Failed
        );
        assert!(State::Timeout.is_failure() && !State::Skipped.is_failure());
        assert!(!State::Running.is_final());
    }
}
