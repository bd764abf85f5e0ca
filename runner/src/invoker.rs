//! Who ran this program: through `sudo` or `pkexec`, the real user behind
//! it. `update-all run` as root runs that user's plugins after the system's
//! (`run::parts`) and notifies that user's session (`notify`).

/// The real user behind sudo (`SUDO_UID`) or pkexec (`PKEXEC_UID`); never
/// root itself, and `None` when this process was not started through either.
pub fn elevated_from() -> Option<u32> {
    ["SUDO_UID", "PKEXEC_UID"]
        .iter()
        .filter_map(|key| std::env::var(key).ok()?.parse::<u32>().ok())
        .find(|&uid| uid != 0)
}
