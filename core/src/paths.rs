//! Where update-all reads its input, per scope, under an optional root
//! prefix (`UPDATE_ALL_ROOT`, for tests and packagers).

use crate::manifest::Scope;
use std::path::{Path, PathBuf};

/// The environment a generator or runner reads its input from.
#[derive(Clone, Debug)]
pub struct Env {
    /// Prefix under which every absolute path is read; `/` normally.
    pub root: PathBuf,
    pub scope: Scope,
    /// The user's configuration directory (`$XDG_CONFIG_HOME` or
    /// `~/.config`), as an absolute path on the real system. User scope only.
    pub user_config: Option<PathBuf>,
}

/// Directories holding manifests and configuration, lowest priority first,
/// as systemd orders its own: vendor, runtime, admin.
const SYSTEM_DIRS: [&str; 3] = ["/usr/lib/update-all", "/run/update-all", "/etc/update-all"];

impl Env {
    /// Reads `UPDATE_ALL_ROOT`, `SYSTEMD_SCOPE`, `XDG_CONFIG_HOME` and `HOME`.
    pub fn from_process(scope: Option<Scope>) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let scope = scope.unwrap_or_else(|| match var("SYSTEMD_SCOPE") {
            Some(s) if s == "user" => Scope::User,
            _ => Scope::System,
        });
        let user_config = match scope {
            Scope::System => None,
            Scope::User => var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config"))),
        };
        Env {
            root: var("UPDATE_ALL_ROOT").map_or_else(|| PathBuf::from("/"), PathBuf::from),
            scope,
            user_config,
        }
    }

    /// `path` (absolute on the real system) as it is read under the root.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// `path` (as read under the root) as the real system will see it.
    pub fn unresolve(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.root) {
            Ok(rel) => Path::new("/").join(rel),
            Err(_) => path.to_path_buf(),
        }
    }

    /// Manifest directories, lowest priority first.
    pub fn manifest_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).collect();
        if let Some(user) = &self.user_config {
            dirs.push(user.join("update-all"));
        }
        dirs.iter()
            .map(|d| self.resolve(&d.join("plugins.d")))
            .collect()
    }

    /// The health checks' drop-in directories (`health.d`, holding
    /// `required.d/` and `wanted.d/`), lowest priority first; none in user
    /// scope, whose health checks are the user's units and the plugins'
    /// own (docs/safety.md, "Health checks").
    pub fn health_dirs(&self) -> Vec<PathBuf> {
        match self.scope {
            Scope::System => SYSTEM_DIRS
                .iter()
                .map(|d| self.resolve(&Path::new(d).join("health.d")))
                .collect(),
            Scope::User => Vec::new(),
        }
    }

    /// The uid whose files are trusted besides root's: the user's own in
    /// user scope.
    pub fn trusted_user(&self) -> Option<u32> {
        match self.scope {
            Scope::System => None,
            Scope::User => Some(nix::unistd::geteuid().as_raw()),
        }
    }

    /// Configuration layers, lowest priority first: each is a main file
    /// and its drop-in directories (`config.d`, lowest priority first). The
    /// system layer comes first; in user scope the user's layer overrides it.
    pub fn config_layers(&self) -> Vec<(PathBuf, Vec<PathBuf>)> {
        let system_dirs = SYSTEM_DIRS
            .iter()
            .map(|d| self.resolve(&Path::new(d).join("config.d")))
            .collect();
        let mut layers = vec![(
            self.resolve(Path::new("/etc/update-all/config.yaml")),
            system_dirs,
        )];
        if let Some(user) = &self.user_config {
            let base = self.resolve(&user.join("update-all"));
            layers.push((base.join("config.yaml"), vec![base.join("config.d")]));
        }
        layers
    }
}
