//! One module per subcommand; each exposes `run(scope, &args) -> ExitCode`.

pub mod notify_test;
pub mod plan;
