//! The `amity` binary: parses the command line, runs it, and maps its one
//! `Result` to the documented exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match amity::cli::run(std::env::args_os()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("amity: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
