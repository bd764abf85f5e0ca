//! The ordering a run's dynamic mutexes add, as runtime drop-ins: one
//! `50-dynamic-mutexes.conf` with `After=` lines per unit that waits, in
//! the runtime unit directory of the scope (gone at reboot). A
//! `daemon-reload` makes systemd read them; removing them and reloading
//! again ends their effect.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::PathBuf;
use update_all_core::Scope;

const FILE: &str = "50-dynamic-mutexes.conf";

/// Where a scope's manager reads runtime units and drop-ins:
/// `/run/systemd/system`, or `$XDG_RUNTIME_DIR/systemd/user`.
pub fn unit_dir(scope: Scope) -> io::Result<PathBuf> {
    match scope {
        Scope::System => Ok(PathBuf::from("/run/systemd/system")),
        Scope::User => std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("systemd/user"))
            .ok_or_else(|| io::Error::other("XDG_RUNTIME_DIR is not set")),
    }
}

/// One unit's extra ordering: the units it starts after, each with why.
pub type After = BTreeMap<String, Vec<(String, String)>>;

/// Writes a drop-in for each unit of `after`; returns the files written.
pub fn write(scope: Scope, after: &After) -> io::Result<Vec<PathBuf>> {
    let base = unit_dir(scope)?;
    let mut written = Vec::new();
    for (unit, befores) in after {
        let dir = base.join(format!("{unit}.d"));
        fs::create_dir_all(&dir)?;
        let path = dir.join(FILE);
        fs::write(&path, text(befores))?;
        written.push(path);
    }
    Ok(written)
}

fn text(befores: &[(String, String)]) -> String {
    let mut s = String::from(
        "# Written by `update-all run --check` for this run only; removed when it ends.\n\
         # Dynamic mutexes: see docs/plugin-protocol.md.\n",
    );
    for (unit, why) in befores {
        let _ = writeln!(s, "#   after {unit}: {why}");
    }
    s.push_str("\n[Unit]\n");
    for (unit, _) in befores {
        let _ = writeln!(s, "After={unit}");
    }
    s
}

/// Every such drop-in of update-all's units now there: this run's, or
/// what a run left that went on without its watcher.
pub fn list(scope: Scope) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(unit_dir(scope)?) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let dir = entry?.path();
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("update-all-") && name.ends_with(".service.d") {
            let file = dir.join(FILE);
            if file.exists() {
                found.push(file);
            }
        }
    }
    Ok(found)
}

/// Removes them all; returns how many there were.
pub fn remove_all(scope: Scope) -> io::Result<usize> {
    let found = list(scope)?;
    for file in &found {
        fs::remove_file(file)?;
        // The directory too, if nothing else is in it.
        if let Some(dir) = file.parent() {
            let _ = fs::remove_dir(dir);
        }
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_in_text() {
        let t = text(&[(
            "update-all-a.service".into(),
            "mutex runtime:python (b update-mutexes)".into(),
        )]);
        assert!(t.ends_with("[Unit]\nAfter=update-all-a.service\n"), "{t}");
        assert!(t.contains("#   after update-all-a.service: mutex runtime:python"));
    }
}
