//! A throw-away root (`UPDATE_ALL_ROOT`) to build manifest trees in.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use update_all_core::{inventory, plan, Env, Plan, Scope};

pub const VENDOR: &str = "usr/lib/update-all/plugins.d";
pub const ADMIN: &str = "etc/update-all/plugins.d";
pub const RUNTIME: &str = "run/update-all/plugins.d";

pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    pub fn new() -> Root {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Root { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `rel` (relative to the root) with `mode`, creating parents.
    pub fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A plugin executable at /usr/lib/update-all/plugins/NAME.
    pub fn executable(&self, name: &str) -> String {
        let abs = format!("/usr/lib/update-all/plugins/{name}");
        self.write(&abs[1..], "#!/bin/sh\nexit 0\n", 0o755);
        abs
    }

    /// A manifest `NAME.yaml` in the vendor directory with its executable;
    /// `body` is indented under `plugin:` after name and executable. Without
    /// `scope:` or `requires_sudo:` in it, the plugin is a system one.
    pub fn plugin(&self, name: &str, body: &str) -> PathBuf {
        self.plugin_in(VENDOR, name, body)
    }

    pub fn plugin_in(&self, dir: &str, name: &str, body: &str) -> PathBuf {
        let exe = self.executable(name);
        let mut text = format!("plugin:\n  name: {name}\n  executable: {exe}\n");
        if !body.contains("scope:") && !body.contains("requires_sudo:") {
            text.push_str("  scope: system\n");
        }
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            text.push_str("  ");
            text.push_str(line);
            text.push('\n');
        }
        self.write(&format!("{dir}/{name}.yaml"), &text, 0o644)
    }

    pub fn env(&self, scope: Scope) -> Env {
        Env {
            root: self.path().to_path_buf(),
            scope,
            user_config: (scope == Scope::User).then(|| PathBuf::from("/home/u/.config")),
        }
    }

    pub fn plan(&self) -> Plan {
        plan::plan(inventory::load(&self.env(Scope::System)))
    }
}

/// Every message of a plan (refusals and warnings), one per line.
pub fn messages(plan: &Plan) -> String {
    let mut lines: Vec<String> = plan
        .refused
        .iter()
        .flat_map(|r| r.reasons.iter().map(|d| d.to_string()))
        .chain(plan.warnings.iter().map(|d| d.to_string()))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Names of the planned units.
pub fn unit_names(plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = plan.units.iter().map(|u| plan.unit_name(u)).collect();
    names.sort();
    names
}

pub fn refused_names(plan: &Plan) -> Vec<String> {
    plan.refused.iter().filter_map(|r| r.name.clone()).collect()
}
