//! Orchestration of a run: the parts one `update-all run` covers (the
//! system's manager, then logged-in users'), each checked against its
//! pre-flight conditions before it is started and watched.

pub mod parts;
pub mod preflight;
pub mod users;
