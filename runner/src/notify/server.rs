//! Whether the caller's own session has a notification server yet: at the
//! start of a user's service manager, the desktop that provides one may
//! still be starting.

use std::time::{Duration, Instant};

/// The name a notification server owns on the session bus.
const NAME: &str = "org.freedesktop.Notifications";
/// How often [`wait_for_server`] looks again.
const POLL: Duration = Duration::from_millis(500);

/// Waits up to `timeout` until the session bus has a notification server,
/// running or one the bus can start; false when it has none by then, or
/// there is no session bus.
pub fn wait_for_server(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    zbus::block_on(async {
        let Ok(bus) = zbus::Connection::session().await else {
            return false;
        };
        let Ok(dbus) = zbus::fdo::DBusProxy::new(&bus).await else {
            return false;
        };
        let name = zbus::names::BusName::try_from(NAME).expect("a valid bus name");
        loop {
            if dbus.name_has_owner(name.clone()).await.unwrap_or(false) {
                return true;
            }
            let activatable = dbus.list_activatable_names().await.unwrap_or_default();
            if activatable.iter().any(|n| n.as_str() == NAME) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
    })
}
