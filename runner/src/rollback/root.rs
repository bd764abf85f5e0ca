//! The last step of the ladder: a root rollback, `snapper rollback PRE`,
//! when `/` is a btrfs subvolume that a snapper configuration covers. It
//! makes a writable copy of the pre snapshot the default subvolume, which
//! the next boot mounts as `/`; so the machine reboots, through the reboot
//! policy (`crate::reboot`: now, unless users or inhibitors hold it back,
//! in which case the policy's `update-all-reboot.timer` tries again).

use super::undo::snapper;
use crate::reboot::{self, timer, Attempt};
use serde::Serialize;
use update_all_core::reboot::Reboot;

/// What the root rollback did.
#[derive(Clone, Debug, Serialize)]
pub struct Rebooting {
    /// The snapshot now the default subvolume, as snapper printed it.
    pub new_default: String,
    /// "rebooting now", or what holds it back.
    pub reboot: String,
}

/// Whether snapper's configuration `config` is the root's, on btrfs.
pub fn applies(config: &str) -> bool {
    let root_is_btrfs = nix::sys::statfs::statfs("/")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BTRFS_SUPER_MAGIC);
    root_is_btrfs
        && snapper(&["--jsonout", "-c", config, "get-config"]).is_ok_and(|text| is_root(&text))
}

/// Whether `snapper --jsonout get-config` says the configuration's
/// subvolume is `/`.
fn is_root(get_config: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(get_config)
        .is_ok_and(|v| v["SUBVOLUME"].as_str() == Some("/"))
}

/// `snapper rollback PRE` of `config`, then the reboot (`runner`: the
/// configuration's `paths.runner`, which a held-back reboot's timer runs).
pub fn roll_back(
    config: &str,
    pre: &str,
    policy: &Reboot,
    runner: &str,
) -> Result<Rebooting, String> {
    let new_default = snapper(&[
        "-c",
        config,
        "rollback",
        "--print-number",
        "--description",
        "update-all rollback",
        pre,
    ])?
    .trim()
    .to_owned();
    let reboot = match reboot::now(policy, None)? {
        Attempt::Rebooting => "rebooting now".to_owned(),
        Attempt::Held(holders) => {
            timer::schedule(runner, update_all_core::reboot::RebootTime::Now)?;
            format!(
                "the reboot waits for {} (update-all-reboot.timer tries again)",
                holders
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    Ok(Rebooting {
        new_default,
        reboot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configuration_of_slash_is_the_roots() {
        assert!(is_root(r#"{"SUBVOLUME": "/", "FSTYPE": "btrfs"}"#));
        assert!(!is_root(r#"{"SUBVOLUME": "/home", "FSTYPE": "btrfs"}"#));
        assert!(!is_root("Config 'root' not found."));
    }
}
