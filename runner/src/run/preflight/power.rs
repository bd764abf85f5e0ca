//! On battery or on mains power, as logind sees it.

use zbus::proxy::CacheProperties;
use zbus_systemd::login1::ManagerProxy;

/// logind's `OnExternalPower` is false: the machine runs on battery. It is
/// computed as systemd's ConditionACPower= is (a machine without any power
/// supply information counts as on mains). Without logind: not on battery.
pub async fn on_battery(bus: &zbus::Connection) -> bool {
    let external = async {
        ManagerProxy::builder(bus)
            .cache_properties(CacheProperties::No)
            .build()
            .await?
            .on_external_power()
            .await
    };
    match external.await {
        Ok(on_mains) => !on_mains,
        Err(e) => {
            tracing::warn!("cannot ask logind about the power supply ({e}); taking mains power");
            false
        }
    }
}
