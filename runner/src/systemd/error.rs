//! Why talking to systemd failed, in words that say what to do.

use std::fmt;
use update_all_core::Scope;

/// Why talking to systemd failed.
#[derive(Debug)]
pub enum Error {
    /// The bus of the scope could not be reached.
    Unreachable { scope: Scope, source: zbus::Error },
    /// systemd (polkit) refused: not root for system units.
    NotAuthorized { scope: Scope, detail: String },
    /// The unit is not installed (not found, or failed to load).
    NoSuchUnit { unit: String, detail: String },
    /// Any other D-Bus failure.
    Bus(zbus::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::Unreachable { scope, source } => match scope {
                Scope::System => write!(f, "cannot reach the system bus: {source}"),
                Scope::User => write!(
                    f,
                    "cannot reach your session bus (is your user manager running, \
                     XDG_RUNTIME_DIR set?): {source}"
                ),
            },
            Error::NotAuthorized { scope, detail } => match scope {
                Scope::System => write!(
                    f,
                    "not authorized to manage system units ({detail}): run it with sudo, \
                     or use --user for your own plugins"
                ),
                Scope::User => write!(f, "not authorized ({detail})"),
            },
            Error::NoSuchUnit { unit, detail } => write!(
                f,
                "{unit} is not installed ({detail}): the update-all units and generator \
                 are missing, or systemd has not been reloaded (systemctl daemon-reload)"
            ),
            Error::Bus(e) => write!(f, "D-Bus: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<zbus::Error> for Error {
    fn from(e: zbus::Error) -> Self {
        Error::Bus(e)
    }
}

impl From<zbus::fdo::Error> for Error {
    fn from(e: zbus::fdo::Error) -> Self {
        Error::Bus(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The D-Bus name of a method error, if `e` is one.
pub(super) fn error_name(e: &zbus::Error) -> Option<String> {
    use zbus::DBusError;
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        zbus::Error::FDO(fdo) => Some(fdo.name().to_string()),
        _ => None,
    }
}
