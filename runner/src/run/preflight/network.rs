//! The network: whether NetworkManager calls it metered, and waiting for
//! network-online.target.

use futures_util::StreamExt;
use std::time::{Duration, Instant};
use update_all_core::Scope;
use zbus::names::BusName;
use zbus::proxy::CacheProperties;
use zbus_systemd::systemd1::ManagerProxy;

const NM: &str = "org.freedesktop.NetworkManager";
const NM_PATH: &str = "/org/freedesktop/NetworkManager";
const ONLINE: &str = "network-online.target";
/// NMMetered: unknown 0, yes 1, no 2, guess-yes 3, guess-no 4.
const METERED_YES: u32 = 1;
const METERED_GUESS_YES: u32 = 3;

/// NetworkManager's `Metered` says yes or guess-yes. Without NetworkManager
/// running: not metered (it is not started for this: only a running one is
/// asked, never a D-Bus-activatable one).
pub async fn metered(bus: &zbus::Connection) -> bool {
    let value = async {
        let dbus = zbus::fdo::DBusProxy::new(bus).await?;
        let name = BusName::try_from(NM)?;
        if !dbus.name_has_owner(name).await? {
            return Ok(None);
        }
        let props = zbus::fdo::PropertiesProxy::builder(bus)
            .destination(NM)
            .path(NM_PATH)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let value = props.get(NM.try_into()?, "Metered").await?;
        Ok::<_, zbus::Error>(u32::try_from(value).ok())
    };
    match value.await {
        Ok(Some(m)) => m == METERED_YES || m == METERED_GUESS_YES,
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(
                "cannot ask NetworkManager whether the network is metered ({e}); \
                 taking it as not metered"
            );
            false
        }
    }
}

/// Waits for network-online.target, as `Wants=` and `After=` on it would:
/// starts it (system scope, with the right to) and waits until its start
/// job is gone, at most `limit`. A user manager cannot start system units,
/// so without that right this only waits for a start job already under
/// way, as a bare `After=` would.
pub async fn wait_online(bus: &zbus::Connection, scope: Scope, limit: Duration) {
    let manager = match ManagerProxy::new(bus).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("cannot reach systemd to wait for the network: {e}");
            return;
        }
    };
    // Told of every job that ends, so the wait ends when the target's job
    // does, not at the next poll (a poll right after StartUnit can still
    // find the job, which systemd runs a few milliseconds later).
    let mut removed = manager.receive_job_removed().await.ok();
    if removed.is_some() && manager.subscribe().await.is_err() {
        removed = None;
    }
    if scope == Scope::System {
        // Refused to anyone but root (polkit): then only wait, as in user scope.
        let _ = manager
            .start_unit(ONLINE.to_owned(), "replace".to_owned())
            .await;
    }
    let deadline = Instant::now() + limit;
    let mut said = false;
    loop {
        let pending = match manager.list_jobs().await {
            Ok(jobs) => jobs.iter().any(|job| job.1 == ONLINE),
            Err(_) => false,
        };
        if !pending {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                "the network is not online after {} s; running anyway",
                limit.as_secs()
            );
            return;
        }
        if !said {
            tracing::info!("waiting for the network ({ONLINE})");
            said = true;
        }
        // A job ended (perhaps the target's), or the poll is due.
        let poll = sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        match removed.as_mut() {
            Some(stream) => {
                let ended = stream.next();
                futures_util::pin_mut!(ended, poll);
                futures_util::future::select(ended, poll).await;
            }
            None => poll.await,
        }
    }
}

/// How often the wait for network-online.target looks again when no job's
/// end was heard (without signals, or one missed).
const POLL: Duration = Duration::from_millis(250);

/// Sleeps on zbus's runtime (a thread sleep where there is none).
async fn sleep(d: Duration) {
    match zruntime::SharedRuntime::current() {
        Ok(runtime) => {
            runtime.sleep(d).await;
        }
        Err(_) => std::thread::sleep(d),
    }
}
