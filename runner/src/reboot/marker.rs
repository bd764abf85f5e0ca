//! The marker a plugin's `requires_reboot: true` leaves: `plugin-exec`
//! sees the update's answer, the recorder does not, so `plugin-exec`
//! writes `<runtime>/update-all/reboot-required.d/<plugin>` (runtime:
//! `/run` for system units, `$XDG_RUNTIME_DIR` for user units) and
//! detection reads it. It is never removed: `/run` and the user's runtime
//! directory are emptied at boot, so the marker lasts as long as the need,
//! like Debian's `/run/reboot-required`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::PathBuf;
use update_all_core::Scope;
use update_all_protocol::{Applied, Document, Status};

/// The directory of markers of `scope`; none for a user without
/// `$XDG_RUNTIME_DIR`.
pub fn dir(scope: Scope) -> Option<PathBuf> {
    let runtime = match scope {
        Scope::System => PathBuf::from("/run"),
        Scope::User => std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())?,
    };
    Some(runtime.join("update-all/reboot-required.d"))
}

/// What `plugin-exec` does with the document a command ended with
/// (`answer`): a successful `update` (`phase`, its last argument) whose
/// data says `requires_reboot: true` leaves the marker of the plugin
/// `program` runs. A data field it cannot read is left to the protocol's
/// checks; a marker it cannot write is a warning.
pub fn note_answer(
    scope: Scope,
    program: &OsStr,
    phase: Option<&OsString>,
    answer: Option<&Document>,
) {
    let Some(doc) = answer.filter(|d| d.status == Status::Success) else {
        return;
    };
    if phase.map(OsString::as_os_str) != Some(OsStr::new("update")) {
        return;
    }
    if !Applied::from_data(&doc.data).is_ok_and(|a| a.requires_reboot) {
        return;
    }
    let plugin = crate::inhibit::plugin_name(program);
    match mark(scope, &plugin) {
        Ok(()) => {
            tracing::info!(update_all_plugin = %plugin, "{plugin}'s update requires a reboot")
        }
        Err(e) => tracing::warn!(
            update_all_plugin = %plugin,
            "{plugin}'s update requires a reboot, but it cannot be noted: {e}"
        ),
    }
}

/// Notes that `plugin`'s update needs a reboot.
fn mark(scope: Scope, plugin: &str) -> io::Result<()> {
    let dir = dir(scope).ok_or_else(|| io::Error::other("no XDG_RUNTIME_DIR"))?;
    // A plugin name is a file name (core::values::PluginName); anything
    // else is not taken as one.
    if plugin.is_empty() || plugin.starts_with('.') || plugin.contains('/') {
        return Err(io::Error::other(format!("{plugin:?} is not a plugin name")));
    }
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(plugin), b"")
}

/// The plugins whose update said a reboot is needed since the boot,
/// sorted.
pub fn marked(scope: Scope) -> Vec<String> {
    let Some(entries) = dir(scope).and_then(|d| fs::read_dir(d).ok()) else {
        return Vec::new();
    };
    let mut plugins: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.is_empty())
        .collect();
    plugins.sort();
    plugins
}
