//! What systemd tells a watcher: its signals, as events.

use super::bus::MANAGER_PATH;
use super::names::unit_of_path;
use super::UnitProps;
use std::collections::HashMap;
use zbus::{Message, OwnedObjectPath, OwnedVariant};

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

/// A signal of systemd's (the caller checked the sender) as an event.
pub(super) fn parse_signal(msg: &Message) -> Option<Event> {
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
    use super::*;
    use crate::systemd::bus::MANAGER_PATH;

    const UNIT_IFACE: &str = "org.freedesktop.systemd1.Unit";

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
}
