//! Who is logged in graphically, from logind (org.freedesktop.login1 on the
//! system bus).

use zbus::proxy::{CacheProperties, MethodFlags};
use zbus::OwnedObjectPath;
use zbus_systemd::login1::{ManagerProxy, SessionProxy};

/// What decides whether a session is graphical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub uid: u32,
    /// The login name.
    pub user: String,
    /// `user`, `greeter`, `lock-screen`, `background`, ...
    pub class: String,
    /// `x11`, `wayland`, `mir`, `tty`, `unspecified`, ...
    pub kind: String,
    /// Empty when the session is on no seat (ssh, services).
    pub seat: String,
    /// `online`, `active` or `closing` (logged out, processes lingering).
    pub state: String,
    /// Logged in from elsewhere (ssh).
    pub remote: bool,
}

impl Session {
    /// A user's own session (not a greeter's or a lock screen's) that is
    /// still open and shows a desktop: of a graphical type, or of no stated
    /// type on a seat. Text consoles and ssh logins are not.
    pub fn is_graphical(&self) -> bool {
        self.class == "user"
            && self.state != "closing"
            && (matches!(self.kind.as_str(), "x11" | "wayland" | "mir")
                || (self.kind == "unspecified" && !self.seat.is_empty()))
    }
}

/// The uids with at least one graphical session, each once, ascending.
pub fn graphical_uids() -> zbus::Result<Vec<u32>> {
    let mut uids: Vec<u32> = sessions()?
        .into_iter()
        .filter(Session::is_graphical)
        .map(|s| s.uid)
        .collect();
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// Every session logind knows. One that ends while being read is left out.
///
/// Asked without starting logind (`NO_AUTO_START`): when logind is not on
/// the bus (restarting after the bus did, or stopped), this fails at once
/// instead of leaving the call to the bus's activation, which waits for
/// logind's start job up to its timeout (25 s): at a run's end that held
/// the recorder's exit for as long.
pub fn sessions() -> zbus::Result<Vec<Session>> {
    zbus::block_on(async {
        let bus = zbus::Connection::system().await?;
        let manager = ManagerProxy::builder(&bus)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let listed: Vec<(String, u32, String, String, OwnedObjectPath)> = manager
            .inner()
            .call_with_flags("ListSessions", MethodFlags::NO_AUTO_START, &())
            .await?
            .unwrap_or_default();
        let mut sessions = Vec::new();
        for (_id, uid, user, seat, path) in listed {
            let read = async {
                let proxy = SessionProxy::builder(&bus)
                    .path(path)
                    .cache_properties(CacheProperties::No)
                    .build()
                    .await?;
                zbus::Result::Ok(Session {
                    uid,
                    user: user.clone(),
                    class: proxy.class().await?,
                    kind: proxy.type_property().await?,
                    seat: seat.clone(),
                    state: proxy.state().await?,
                    remote: proxy.remote().await?,
                })
            };
            if let Ok(session) = read.await {
                sessions.push(session);
            }
        }
        Ok(sessions)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(class: &str, kind: &str, seat: &str, state: &str) -> Session {
        Session {
            uid: 1000,
            user: "alice".into(),
            class: class.into(),
            kind: kind.into(),
            seat: seat.into(),
            state: state.into(),
            remote: false,
        }
    }

    #[test]
    fn graphical_means_a_users_desktop() {
        assert!(session("user", "wayland", "seat0", "active").is_graphical());
        assert!(session("user", "x11", "", "online").is_graphical());
        assert!(session("user", "unspecified", "seat0", "active").is_graphical());
        // Greeters and lock screens run as system users before/around a login.
        assert!(!session("greeter", "wayland", "seat0", "active").is_graphical());
        assert!(!session("lock-screen", "x11", "seat0", "active").is_graphical());
        // Text logins, ssh and services.
        assert!(!session("user", "tty", "seat0", "active").is_graphical());
        assert!(!session("user", "tty", "", "active").is_graphical());
        assert!(!session("user", "unspecified", "", "online").is_graphical());
        assert!(!session("background", "unspecified", "", "online").is_graphical());
        // Logged out, processes lingering.
        assert!(!session("user", "wayland", "seat0", "closing").is_graphical());
    }
}
