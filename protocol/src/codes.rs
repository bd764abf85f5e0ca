//! The error codes of a document's `error.code` that update-all acts on
//! ([docs/plugin-protocol.md, Error codes]). Plugins may use others; those
//! are shown, never acted on.
//!
//! [docs/plugin-protocol.md, Error codes]: https://github.com/update-all/update-all/blob/main/docs/plugin-protocol.md#error-codes

/// The network or a repository could not be reached.
pub const NETWORK_ERROR: &str = "NETWORK_ERROR";
/// The tool gave up waiting (a download or a server that did not answer).
pub const TIMEOUT: &str = "TIMEOUT";
/// Any other failure the plugin knows will likely pass by itself.
pub const TEMPORARY_FAILURE: &str = "TEMPORARY_FAILURE";
/// The package manager's lock was held (by another apt, dnf, … run).
pub const LOCKED: &str = "LOCKED";

/// `rollback`: the version to return to is no longer where the tool gets
/// packages (the archive, the registry, the cache); nothing was changed
/// for that package. Never transient: waiting does not bring it back.
pub const NOT_AVAILABLE: &str = "NOT_AVAILABLE";

/// The codes of failures that may pass if the command is run again a
/// little later: `plugin-exec` retries those, and only those.
pub const TRANSIENT: [&str; 4] = [NETWORK_ERROR, TIMEOUT, TEMPORARY_FAILURE, LOCKED];

/// Whether `code` says the failure is transient (see [`TRANSIENT`]).
pub fn is_transient(code: &str) -> bool {
    TRANSIENT.contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_transient_codes_and_nothing_else() {
        for code in ["NETWORK_ERROR", "TIMEOUT", "TEMPORARY_FAILURE", "LOCKED"] {
            assert!(is_transient(code), "{code}");
        }
        for code in [
            "PACKAGE_ERROR",
            "UPDATE_FAILED",
            "NOT_SUPPORTED",
            NOT_AVAILABLE,
            "INTERRUPTED",
            "network_error",
            "",
        ] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
