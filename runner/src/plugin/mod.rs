//! Calling plugins from the runner, outside their units: for `update-all
//! plugins` and `update-all check`.
//!
//! [`Invoker`] runs one command of one plugin, as the invoking user, with
//! the manifest's settings and timeout, and returns a [`Run`] (exit, stdout,
//! stderr, time). The parsers of [`protocol`] turn a `Run` into typed
//! answers, or into a [`ProtocolError`] that names the plugin and the
//! command, says what is wrong and what to do, and quotes the output:
//!
//! ```ignore
//! let invoker = Invoker::new(&plugin, &env); // an inventory::Plugin: trusted
//! match invoker.run(Command::EstimateUpdate).estimate() {
//!     Ok(EstimateAnswer::Updates(e)) => …,
//!     Ok(EstimateAnswer::NotApplicable(_)) => …,
//!     Ok(EstimateAnswer::Failed(error)) => …, // the plugin's own error
//!     Err(broken) => eprintln!("{broken}"),   // broke the protocol, hung, …
//! }
//! ```

pub mod catalog;
pub mod invoke;
pub mod protocol;
pub mod validate;

pub use invoke::Invoker;
pub use protocol::{Command, Estimate, ProtocolError};
