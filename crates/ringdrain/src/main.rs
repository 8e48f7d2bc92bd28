//! `ringdrain`: drains ringlog rings into log files. See `ringdrain --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match ringdrain::cli::run(ringdrain::cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringdrain: error: {}", ringdrain::exit::one_line(&e));
            ringdrain::exit::exit_code(&e)
        }
    }
}
