//! One module per subcommand; each exposes `run(scope, &args) -> ExitCode`.

pub mod plan;
