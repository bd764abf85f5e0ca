//! A notification server for tests: owns `org.freedesktop.Notifications` on
//! the session bus of `$DBUS_SESSION_BUS_ADDRESS` and appends every Notify
//! call as one JSON line to the file given as its only argument. The file
//! is created (empty) once the name is owned, so its existence means ready.
//!
//! Each line also says who called: the caller's uid as the bus daemon saw
//! it, and the Uid, Gid, Groups, CapEff and NoNewPrivs lines of its
//! `/proc/PID/status`, read while it waits for the reply.
//!
//! It can also act as the user: when a file next to the log, with the
//! extension `.invoke` instead (`alice.invoke` for `alice.jsonl`), holds
//! an action key, every notification that offers that action is answered
//! with the specification's `ActionInvoked` signal for it, emitted beside
//! the reply to its Notify call (the line says `"invoked"`).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::Connection;
use zbus::OwnedVariant;

struct Recorder {
    log: PathBuf,
    last_id: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)] // the Notify call of the specification
    async fn notify(
        &mut self,
        app_name: String,
        replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedVariant>,
        expire_timeout: i32,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<u32> {
        let (uid, pid) = match header.sender() {
            Some(sender) => {
                let dbus = zbus::fdo::DBusProxy::new(connection).await?;
                let name = zbus::names::BusName::from(sender.to_owned());
                let uid = dbus.get_connection_unix_user(name.clone()).await?;
                let pid = dbus.get_connection_unix_process_id(name).await?;
                (Some(uid), Some(pid))
            }
            None => (None, None),
        };
        let status = pid
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        self.last_id += 1;
        let invoke = std::fs::read_to_string(self.log.with_extension("invoke"))
            .ok()
            .map(|k| k.trim().to_owned())
            .filter(|k| actions.chunks(2).any(|pair| pair[0] == *k));
        let record = serde_json::json!({
            "invoked": invoke,
            "app_name": app_name,
            "replaces_id": replaces_id,
            "app_icon": app_icon,
            "summary": summary,
            "body": body,
            "actions": actions,
            "urgency": urgency,
            "expire_timeout": expire_timeout,
            "sender_uid": uid,
            "sender_pid": pid,
            "Uid": field("Uid"),
            "Gid": field("Gid"),
            "Groups": field("Groups"),
            "CapEff": field("CapEff"),
            "NoNewPrivs": field("NoNewPrivs"),
        });
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.log)
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        writeln!(file, "{record}").map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
        if let Some(key) = invoke {
            let id = self.last_id;
            let emitter = emitter.into_owned();
            // Beside the reply to this call, as a user's click would come
            // after it (a client subscribes before it calls Notify).
            std::thread::spawn(move || {
                let sent = zbus::block_on(Recorder::action_invoked(&emitter, id, &key));
                if let Err(e) = sent {
                    eprintln!("notify-recorder: cannot emit ActionInvoked: {e}");
                }
            });
        }
        Ok(self.last_id)
    }

    #[zbus(signal)]
    async fn action_invoked(
        emitter: &SignalEmitter<'_>,
        id: u32,
        action_key: &str,
    ) -> zbus::Result<()>;

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into(), "actions".into()]
    }

    #[zbus(out_args("name", "vendor", "version", "spec_version"))]
    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "notify-recorder".into(),
            "update-all testbed".into(),
            env!("CARGO_PKG_VERSION").into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let log = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .ok_or("usage: notify-recorder LOG-FILE")?,
    );
    zbus::block_on(async {
        let recorder = Recorder {
            log: log.clone(),
            last_id: 0,
        };
        let _connection = zbus::connection::Builder::session()
            .name("org.freedesktop.Notifications")
            .serve_at("/org/freedesktop/Notifications", recorder)
            .build()
            .await?;
        std::fs::File::create(&log)?;
        std::future::pending::<()>().await;
        Ok(())
    })
}
