//! Where a user's service manager is: its runtime directory `/run/user/UID`
//! (made by logind) holds the bus it answers on.
//!
//! `update-all run` as root reaches the invoker's manager there
//! (`run::parts`), and every `--user` command finds the caller's own
//! there the same way when `XDG_RUNTIME_DIR` is not set: root after
//! `sudo -i` or `su -`, a cron job, an ssh session without pam_systemd.

use nix::unistd::geteuid;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// `/run/user/UID`.
pub fn runtime_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/run/user/{uid}"))
}

/// The manager of `uid` runs: its bus is in its runtime directory, and that
/// directory belongs to `uid`.
pub fn runs(uid: u32) -> bool {
    let dir = runtime_dir(uid);
    dir.metadata().is_ok_and(|m| m.uid() == uid) && dir.join("bus").exists()
}

/// Makes the caller's own manager reachable for a `--user` command: without
/// `XDG_RUNTIME_DIR`, sets it to the caller's runtime directory when the
/// manager runs there (what the manager gives its own units). The bus,
/// the runtime unit directory and the check's output all follow from it.
///
/// Call it first thing in `main`, before any thread starts.
pub fn find_own() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|dir| !dir.is_empty()) {
        return;
    }
    let uid = geteuid().as_raw();
    if runs(uid) {
        std::env::set_var("XDG_RUNTIME_DIR", runtime_dir(uid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_without_a_runtime_directory_has_no_manager() {
        assert_eq!(runtime_dir(1000), PathBuf::from("/run/user/1000"));
        // No account has this uid (it is `(uid_t) -2`, never given out).
        assert!(!runs(u32::MAX - 1));
    }
}
