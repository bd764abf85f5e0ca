//! The exit statuses of `update-all run`, and which of two is worse when
//! one invocation runs several parts.
//!
//! 0 every unit succeeded or was skipped; 1 something failed, timed out,
//! ran out of memory or was cancelled; [`CANNOT_START`] the run could not
//! start (or the bus was gone for 90 s), with the reason on stderr;
//! [`SKIPPED`] a pre-flight condition skipped it; [`DETACHED`] Ctrl-C or
//! SIGTERM while the updates go on.

/// The run could not start (exit status 2).
pub const CANNOT_START: u8 = 2;
/// A run that a pre-flight condition skipped (EX_TEMPFAIL):
/// update-all.service takes it as success and retries an hour later.
pub const SKIPPED: u8 = 75;
/// Ctrl-C: the watcher left, the run goes on (128 + SIGINT, as a shell says).
pub const DETACHED: u8 = 130;

/// The worse of two exit statuses: success, then skipped, then failed,
/// then could not start, then detached (the run was left).
pub fn worse(a: u8, b: u8) -> u8 {
    let rank = |s: u8| match s {
        0 => 0,
        SKIPPED => 1,
        1 => 2,
        DETACHED => 4,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_part_decides() {
        assert_eq!(worse(0, SKIPPED), SKIPPED);
        assert_eq!(worse(SKIPPED, 1), 1);
        assert_eq!(worse(1, CANNOT_START), CANNOT_START);
        assert_eq!(worse(CANNOT_START, 0), CANNOT_START);
        assert_eq!(worse(DETACHED, CANNOT_START), DETACHED);
    }
}
