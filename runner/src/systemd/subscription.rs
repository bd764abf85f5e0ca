//! Following systemd's signals across re-executions, reloads and restarts
//! of the bus: [`Bus::subscribe`] and [`Bus::reconnect`].

use super::bus::{DBUS, MANAGER_PATH, SYSTEMD};
use super::error::error_name;
use super::events::parse_signal;
use super::{Bus, Error, Event, Result, Resync};
use futures_util::{FutureExt, Stream, StreamExt};
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use update_all_core::Scope;
use zbus::message::Type as MessageType;
use zbus::{MatchRule, Message, MessageStream};
use zbus_systemd::systemd1::ManagerProxy;

/// Signals wait here while the watcher is busy with a method call. zbus stops
/// reading the socket when a queue is full, which would also hold up that
/// call's reply, so this is far more than a run ever produces.
const QUEUE: NonZeroUsize = NonZeroUsize::new(1 << 16).unwrap();
/// Changes of systemd's owner waiting to be read: a few at a time.
const OWNER_QUEUE: NonZeroUsize = NonZeroUsize::new(64).unwrap();
/// How often a subscription asks for a [`Resync::Backstop`]: the bound on how long
/// a missed signal can hold up a run.
pub const BACKSTOP: Duration = Duration::from_secs(10);
/// How long [`Bus::reconnect`] tries before it gives up.
const RECONNECT_FOR: Duration = Duration::from_secs(90);

impl Bus {
    /// Starts watching: adds the match rules for systemd's signals and for
    /// changes of who owns its bus name, then calls `Subscribe` (without
    /// which systemd sends no unit or job signals). Call it before starting
    /// anything, so no change is missed.
    ///
    /// The stream has every job of every unit, the property changes of
    /// `update-all-*` units, and a [`Event::Resync`] whenever signals may
    /// have been missed; it ends when the connection closes (then
    /// [`Bus::reconnect`]).
    pub async fn subscribe(&self) -> Result<Subscription> {
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
        Ok(Subscription(
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
    /// the bus and systemd come back, and subscribes again. The subscription starts
    /// with a [`Resync::ManagerBack`]: nothing was heard meanwhile.
    pub async fn reconnect(scope: Scope) -> Result<(Bus, Subscription)> {
        let runtime = zruntime::SharedRuntime::current()
            .map_err(|e| Error::Bus(zbus::Error::Failure(e.to_string())))?;
        let deadline = Instant::now() + RECONNECT_FOR;
        loop {
            let attempt = async {
                let bus = Bus::connect(scope).await?;
                let subscription = bus.subscribe().await?;
                Ok::<_, Error>((bus, subscription))
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
                Ok((bus, mut subscription)) => {
                    subscription.resync();
                    return Ok((bus, subscription));
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(e) => {
                    tracing::debug!("reconnecting to the {scope:?} bus: {e}");
                    runtime.sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
}

/// What [`Bus::subscribe`] hands out: systemd's signals as [`Event`]s, taken
/// from whichever connection owns `org.freedesktop.systemd1` now.
pub struct Subscription(Pin<Box<dyn Stream<Item = Event>>>, Option<Event>);

impl Subscription {
    /// The next event is a [`Resync::ManagerBack`].
    fn resync(&mut self) {
        self.1 = Some(Event::Resync(Resync::ManagerBack));
    }
}

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if let Some(event) = self.1.take() {
            return Poll::Ready(Some(event));
        }
        self.0.as_mut().poll_next(cx)
    }
}

/// The state behind a [`Subscription`].
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
