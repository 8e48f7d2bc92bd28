//! `ringload`: ringlog's standard load generator. See `ringlog_benches::ringload`.

#[path = "ringload/cli.rs"]
mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match ringlog_benches::ringload::run(cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringload: {e:#}");
            ExitCode::FAILURE
        }
    }
}
