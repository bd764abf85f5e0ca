//! Calling plugins from the runner, outside their units: for `update-all
//! plugins` and `update-all check`.
//!
//! [`Invoker`] runs one command of one plugin, as the invoking user, with
//! the manifest's settings and timeout, and returns a
//! [`PluginRun`](update_all_protocol::PluginRun) (exit, stdout, stderr,
//! time). The plugin protocol's crate, `update_all_protocol`, turns it into
//! typed answers, or into a `ProtocolError` that names the plugin and the
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
//!
//! [`catalog`] lists the manifests of a scope and what became of each;
//! [`validate`] checks one plugin against the protocol.

pub mod catalog;
pub mod invoke;
pub mod policy;
pub mod unit;
pub mod validate;

pub use invoke::Invoker;
