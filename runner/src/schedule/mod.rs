//! When and where runs happen besides a person's `update-all run`: the
//! timer's schedule (a calendar expression checked by systemd, the drop-in
//! that sets it, the timer over D-Bus) and the service managers one run
//! covers (the system's, then users').
//!
//! The timer, `update-all.timer`, activates `update-all.service` (the unit
//! of its own name), a oneshot running `update-all --system run
//! --scheduled` — not `update-all.target` directly — so that a scheduled
//! run has its pre-flight conditions checked, a skip recorded and retried,
//! and the logged-in users' plugins run after the system's. The user
//! manager has the same pair, running `update-all --user run --scheduled`.

pub mod calendar;
pub mod dropin;
pub mod timer;

/// The timer, in either manager.
pub const TIMER: &str = "update-all.timer";
/// What the timer starts.
pub const SERVICE: &str = "update-all.service";
