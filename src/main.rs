//! The `amity` binary: parses the command line, runs it, and maps its one
//! `Result` to the documented exit code.

use std::process::ExitCode;

/// mimalloc, not glibc's allocator: decoding and folding records allocate
/// and free many small strings, often on different threads, and glibc's
/// malloc spent a quarter of a rebuild on that (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    amity::tune_allocator();
    // Colour only for a person at a terminal who has not asked for none.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
    match amity::cli::run(std::env::args_os()) {
        Ok(code) => code,
        Err(error) => {
            amity::say!("amity: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
