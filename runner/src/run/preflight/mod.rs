//! Pre-flight conditions of a run (config.yaml `conditions:`): wait for the
//! network, then skip on battery or on a metered network; a scheduled run
//! also waits for the load and the memory to allow it (`calm`), and is
//! skipped when they do not within `wait_max`. `update-all run` checks them
//! before each service manager's run, unless `--force`; the timer's
//! `update-all.service` is such a run. A skipped run is recorded with its
//! reason (`stats::skips`).
//!
//! Free disk space is checked per plugin, not per run: in each unit, by
//! `space` (the unit's `ExecCondition=`).
//!
//! Everything is asked of the system's own services over the system bus,
//! also in user scope: logind for the power supply (the test behind
//! systemd's ConditionACPower=), NetworkManager for the metered state and
//! systemd for network-online.target. A service that is not there never
//! skips a run: no logind means mains power, no NetworkManager means not
//! metered.

mod calm;
mod network;
mod power;
pub mod space;

use std::time::Duration;
use update_all_core::config::Conditions;
use update_all_core::Scope;

/// The reasons a run is skipped, as recorded and shown.
pub const ON_BATTERY: &str = "on battery power";
pub const METERED: &str = "metered network";

/// How long a run waits for network-online.target before it goes ahead
/// anyway (its wait-online services have their own, shorter, timeouts).
const NETWORK_WAIT: Duration = Duration::from_secs(120);

/// Checks `conditions` for a run of `scope`: waits for the network if asked
/// to, then says why the run is to be skipped, if it is. Only a
/// `scheduled` run waits for the load and memory limits.
pub fn check(scope: Scope, conditions: &Conditions, scheduled: bool) -> Option<String> {
    if let Some(reason) = on_the_bus(scope, conditions) {
        return Some(reason.to_owned());
    }
    let limits = calm::Limits::of(conditions).filter(|_| scheduled)?;
    calm::wait(limits, conditions.wait_max)
}

/// The conditions asked of the system's services.
fn on_the_bus(scope: Scope, conditions: &Conditions) -> Option<&'static str> {
    let wanted =
        conditions.wait_for_network || conditions.skip_on_battery || conditions.skip_on_metered;
    if !wanted {
        return None;
    }
    zbus::block_on(async {
        let bus = match zbus::Connection::system().await {
            Ok(bus) => bus,
            Err(e) => {
                tracing::warn!(
                    "cannot reach the system bus to check the run's conditions ({e}); \
                     running anyway"
                );
                return None;
            }
        };
        if conditions.wait_for_network {
            network::wait_online(&bus, scope, NETWORK_WAIT).await;
        }
        if conditions.skip_on_battery && power::on_battery(&bus).await {
            return Some(ON_BATTERY);
        }
        if conditions.skip_on_metered && network::metered(&bus).await {
            return Some(METERED);
        }
        None
    })
}
