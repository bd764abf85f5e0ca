//! The runner's D-Bus layer: one connection to the service manager of a
//! scope, the plugin units it knows, their jobs and state changes as they
//! happen, and how a finished unit ended.
//!
//! Used by `run`, `cancel` and the statistics recorder. Everything is async
//! (zbus on its own runtime); drive it with `zbus::block_on`.
//!
//! ```ignore
//! let bus = Bus::connect(scope).await?;
//! let mut events = bus.subscribe().await?;       // match rules, then Subscribe
//! let units = bus.plugin_units().await?;     // what update-all.target pulls in
//! bus.start(TARGET).await?;
//! while let Some(event) = events.next().await {
//!     match event {
//!         Event::JobRemoved { unit, result, .. } => {
//!             let outcome = bus.outcome(&unit).await?.ended_as(Some(&result));
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
//! are taken from that name on, after subscribing again (see [`Subscription`]).
//!
//! Where things are: `bus` (the connection and its calls), `watch`
//! (following the signals across re-execs and bus restarts), `events`
//! (signals as [`Event`]s), `properties` ([`UnitProps`]), `units` (plugin
//! units, whose plugin and phase they run, jobs), `names` (which units are plugin units, object paths),
//! `classify` (how a finished unit ended) and `outcome` (its words),
//! `error`.

mod bus;
mod classify;
mod error;
mod events;
mod names;
mod outcome;
mod properties;
mod subscription;
mod units;

pub use bus::Bus;
pub use classify::{
    classify, exit_code_name, exit_code_of_name, UnitState, CLD_DUMPED, CLD_EXITED, CLD_KILLED,
    SKIPPED_STATUS,
};
pub use error::{Error, Result};
pub use events::{Event, Resync};
pub use names::{is_plugin_unit, CHECK_PREFIX};
pub use outcome::Outcome;
pub use properties::UnitProps;
pub use subscription::Subscription;
pub use units::{Job, PlannedUnits, PluginUnit};
