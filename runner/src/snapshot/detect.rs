//! Which backend snapshots each path of `safety.paths`
//! (docs/safety.md, "Snapshots"):
//!
//! - `auto`: snapper when one of its configurations has the path as its
//!   SUBVOLUME; else plain btrfs when the path is a btrfs subvolume; else
//!   nothing for that path;
//! - `snapper` / `btrfs`: that backend for every path. A path it cannot
//!   serve is [`Kind::Unusable`], so that the pre snapshot fails and says
//!   why (the admin asked for it), rather than being skipped in silence;
//! - `off`: nothing.
//!
//! No path left: no backend applies; then only the plugins' own rollback
//! is possible.

use super::btrfs;
use super::snapper::{self, Snapper};
use std::path::Path;
use update_all_core::safety::{Safety, SnapshotChoice};

/// The backend of one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// This snapper configuration, through `snapper`.
    Snapper { config: String, snapper: Snapper },
    /// Plain read-only btrfs snapshots.
    Btrfs,
    /// Asked for, but cannot be: why, and what to do.
    Unusable { backend: &'static str, why: String },
}

/// One path to snapshot, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub path: String,
    pub kind: Kind,
}

impl Target {
    /// The backend's name as the records keep it: snapper or btrfs.
    pub fn backend(&self) -> &'static str {
        match &self.kind {
            Kind::Snapper { .. } => "snapper",
            Kind::Btrfs => "btrfs",
            Kind::Unusable { backend, .. } => backend,
        }
    }

    /// The snapper configuration's name, or the path: the records'
    /// `config_or_path`.
    pub fn key(&self) -> &str {
        match &self.kind {
            Kind::Snapper { config, .. } => config,
            _ => &self.path,
        }
    }

    /// "snapper configuration 'root' (/)" or "btrfs subvolume /".
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Snapper { config, .. } => {
                format!("snapper configuration '{config}' ({})", self.path)
            }
            Kind::Btrfs => format!("btrfs subvolume {}", self.path),
            Kind::Unusable { backend, .. } => format!("{backend} snapshots of {}", self.path),
        }
    }
}

/// The paths of `safety` to snapshot and how; empty when none applies or
/// snapshots are off.
pub fn targets(safety: &Safety) -> Vec<Target> {
    if safety.snapshot == SnapshotChoice::Off {
        return Vec::new();
    }
    let wants_snapper = matches!(
        safety.snapshot,
        SnapshotChoice::Auto | SnapshotChoice::Snapper
    );
    let snapper = (wants_snapper && installed("snapper")).then(Snapper::here);
    let configs = match snapper.map(|s| s.configs()) {
        Some(Ok(configs)) => Ok(configs),
        Some(Err(e)) => Err(e),
        None => Ok(Vec::new()),
    };
    if let Err(e) = &configs {
        tracing::warn!("snapper's configurations could not be read: {e}");
    }
    let found = Found {
        snapper,
        configs: configs.as_deref().unwrap_or_default(),
    };
    safety
        .paths
        .iter()
        .filter_map(|path| choose(safety.snapshot, path, &found, btrfs::is_subvolume))
        .collect()
}

/// What was found on the machine.
struct Found<'a> {
    /// snapper, when installed (and wanted).
    snapper: Option<Snapper>,
    configs: &'a [snapper::Config],
}

/// The target of `path` under `choice`, given what was found;
/// `is_subvolume` tells a btrfs subvolume.
fn choose(
    choice: SnapshotChoice,
    path: &str,
    found: &Found,
    is_subvolume: impl Fn(&Path) -> bool,
) -> Option<Target> {
    let config = found.configs.iter().find(|c| same_path(&c.subvolume, path));
    let target = |kind| {
        Some(Target {
            path: path.to_owned(),
            kind,
        })
    };
    let snapper_kind = |c: &snapper::Config, s: Snapper| Kind::Snapper {
        config: c.name.clone(),
        snapper: s,
    };
    match choice {
        SnapshotChoice::Off => None,
        SnapshotChoice::Auto => match (config, found.snapper) {
            (Some(c), Some(s)) => target(snapper_kind(c, s)),
            _ if is_subvolume(Path::new(path)) => target(Kind::Btrfs),
            _ => None,
        },
        SnapshotChoice::Snapper => match (config, found.snapper) {
            (Some(c), Some(s)) => target(snapper_kind(c, s)),
            (_, None) => target(Kind::Unusable {
                backend: "snapper",
                why: "safety.snapshot is snapper, but snapper is not installed: install it, \
                      or set safety.snapshot: auto"
                    .into(),
            }),
            (None, Some(_)) => target(Kind::Unusable {
                backend: "snapper",
                why: format!(
                    "safety.snapshot is snapper, but no snapper configuration has \
                     SUBVOLUME=\"{path}\": create one (snapper -c NAME create-config {path}), \
                     or set safety.snapshot: auto"
                ),
            }),
        },
        SnapshotChoice::Btrfs if is_subvolume(Path::new(path)) => target(Kind::Btrfs),
        SnapshotChoice::Btrfs => target(Kind::Unusable {
            backend: "btrfs",
            why: format!(
                "safety.snapshot is btrfs, but {path} is not a btrfs subvolume: \
                 set safety.paths to btrfs subvolumes, or safety.snapshot: auto"
            ),
        }),
    }
}

/// Whether two absolute paths name the same directory as written
/// (`/var/` and `/var` do).
fn same_path(a: &str, b: &str) -> bool {
    let trim = |p: &str| {
        let t = p.trim_end_matches('/');
        if t.is_empty() {
            "/".to_owned()
        } else {
            t.to_owned()
        }
    };
    trim(a) == trim(b)
}

/// Whether `tool` is an executable file in `$PATH`.
fn installed(tool: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Snapper = Snapper { dbus: false };

    fn configs() -> Vec<snapper::Config> {
        vec![
            snapper::Config {
                name: "root".into(),
                subvolume: "/".into(),
            },
            snapper::Config {
                name: "data".into(),
                subvolume: "/srv/data".into(),
            },
        ]
    }

    fn kind(choice: SnapshotChoice, path: &str, snapper: bool, subvolume: bool) -> Option<Kind> {
        let configs = configs();
        let found = Found {
            snapper: snapper.then_some(S),
            configs: if snapper { &configs } else { &[] },
        };
        choose(choice, path, &found, |_| subvolume).map(|t| t.kind)
    }

    #[test]
    fn auto_prefers_snapper_then_btrfs_then_nothing() {
        let root = Some(Kind::Snapper {
            config: "root".into(),
            snapper: S,
        });
        assert_eq!(kind(SnapshotChoice::Auto, "/", true, true), root);
        assert_eq!(
            kind(SnapshotChoice::Auto, "/srv/data/", true, false),
            Some(Kind::Snapper {
                config: "data".into(),
                snapper: S
            })
        );
        assert_eq!(
            kind(SnapshotChoice::Auto, "/home", true, true),
            Some(Kind::Btrfs)
        );
        assert_eq!(
            kind(SnapshotChoice::Auto, "/", false, true),
            Some(Kind::Btrfs)
        );
        assert_eq!(kind(SnapshotChoice::Auto, "/", false, false), None);
        assert_eq!(kind(SnapshotChoice::Off, "/", true, true), None);
    }

    #[test]
    fn a_forced_backend_that_cannot_serve_a_path_says_why() {
        let Some(Kind::Unusable { backend, why }) =
            kind(SnapshotChoice::Snapper, "/home", true, true)
        else {
            panic!("not unusable");
        };
        assert_eq!(backend, "snapper");
        assert!(why.contains("create-config /home"), "{why}");
        assert!(matches!(
            kind(SnapshotChoice::Snapper, "/", false, true),
            Some(Kind::Unusable { .. })
        ));
        assert_eq!(
            kind(SnapshotChoice::Btrfs, "/", true, true),
            Some(Kind::Btrfs)
        );
        assert!(matches!(
            kind(SnapshotChoice::Btrfs, "/", true, false),
            Some(Kind::Unusable {
                backend: "btrfs",
                ..
            })
        ));
    }

    #[test]
    fn targets_are_described_by_config_or_path() {
        let t = Target {
            path: "/".into(),
            kind: Kind::Snapper {
                config: "root".into(),
                snapper: S,
            },
        };
        assert_eq!((t.backend(), t.key()), ("snapper", "root"));
        assert_eq!(t.describe(), "snapper configuration 'root' (/)");
        let b = Target {
            path: "/srv".into(),
            kind: Kind::Btrfs,
        };
        assert_eq!((b.backend(), b.key()), ("btrfs", "/srv"));
        assert!(same_path("/", "//") && same_path("/a/", "/a") && !same_path("/a", "/b"));
    }
}
