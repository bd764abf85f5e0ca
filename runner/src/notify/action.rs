//! A notification with an action button ("Reboot now"), shown on the
//! caller's own session bus, and the wait for the user's answer: the
//! specification's `ActionInvoked` or `NotificationClosed` signal for it.
//!
//! The signals are subscribed to before the `Notify` call, so an answer
//! that comes at once (a server that emits it before its reply reaches us)
//! is not lost; notify-rust's `wait_for_action` subscribes only after the
//! call, which is why this is not notify-rust. Runs as the user, in the
//! user's own service manager: root never waits on a user's bus.

use super::message::{Message, APP_NAME, ICON};
use futures_util::future::ready;
use futures_util::StreamExt;
use std::collections::HashMap;
use zbus::Variant;

#[zbus::proxy(
    interface = "org.freedesktop.Notifications",
    default_service = "org.freedesktop.Notifications",
    default_path = "/org/freedesktop/Notifications"
)]
trait Notifications {
    #[allow(clippy::too_many_arguments)] // the Notify call of the specification
    fn notify(
        &self,
        app_name: &str,
        replaces_id: u32,
        app_icon: &str,
        summary: &str,
        body: &str,
        actions: &[&str],
        hints: HashMap<&str, Variant<'_>>,
        expire_timeout: i32,
    ) -> zbus::Result<u32>;

    #[zbus(signal)]
    fn action_invoked(&self, id: u32, action_key: String) -> zbus::Result<()>;

    #[zbus(signal)]
    fn notification_closed(&self, id: u32, reason: u32) -> zbus::Result<()>;
}

/// A signal about one of the server's notifications.
enum Event {
    Invoked(u32, String),
    Closed(u32),
    /// The notification server left the bus.
    Gone,
}

/// How an offer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The user chose the action.
    Chosen,
    /// The notification was closed or dismissed, its server left the bus
    /// (the desktop ended), or the bus went away (the user's manager
    /// stopped).
    Closed,
}

/// Shows `message` with one action, `key` labelled `label`, on the
/// session bus and waits until the user chooses it or the notification
/// goes. `Err`: no bus or no notification server.
pub fn offer(message: &Message, key: &str, label: &str) -> zbus::Result<Answer> {
    zbus::block_on(async {
        let bus = zbus::Connection::session().await?;
        let server = NotificationsProxy::new(&bus).await?;
        let invoked = server.receive_action_invoked().await?;
        let closed = server.receive_notification_closed().await?;
        let owners = server.inner().receive_owner_changed().await?;
        let urgency: u8 = if message.critical { 2 } else { 1 };
        let hints = HashMap::from([("urgency", Variant::from(urgency))]);
        // Expire 0: it stays until the user answers.
        let id = server
            .notify(
                APP_NAME,
                0,
                ICON,
                &message.summary,
                &message.body,
                &[key, label],
                hints,
                0,
            )
            .await?;
        let invoked = invoked
            .filter_map(|s| ready(s.args().ok().map(|a| Event::Invoked(a.id, a.action_key))));
        let closed = closed.filter_map(|s| ready(s.args().ok().map(|a| Event::Closed(a.id))));
        // The server went away without a word (the desktop ended).
        let gone = owners.filter_map(|owner| ready(owner.is_none().then_some(Event::Gone)));
        let mut events =
            futures_util::stream::select(futures_util::stream::select(invoked, closed), gone);
        while let Some(event) = events.next().await {
            match event {
                Event::Invoked(of, chosen) if of == id && chosen == key => {
                    return Ok(Answer::Chosen)
                }
                Event::Closed(of) if of == id => return Ok(Answer::Closed),
                Event::Gone => return Ok(Answer::Closed),
                _ => {}
            }
        }
        // The bus went away.
        Ok(Answer::Closed)
    })
}
