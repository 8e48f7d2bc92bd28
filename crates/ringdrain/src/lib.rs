//! The ringlog drain: reads records from a shared-memory ring, formats them and writes them to
//! a log file, as the `ringdrain` binary or embedded in another program.
//!
//! The pipeline is reader -> formatter -> sink, with a checkpoint around each write:
//!
//! | module | what it does |
//! |---|---|
//! | [`drain`] | the loop: batches, idle backoff, loss notices, signals, heartbeat ([`drain::run`]) |
//! | [`parallel`] | `--format-threads`: large batches formatted on worker threads, written in order |
//! | [`doze`] | the idle drain's sleep on the ring's futex wake word |
//! | [`format`](mod@format) | text, JSON and logfmt lines ([`format::LineEncoder`]), no allocation per record |
//! | [`sink`] | the output file with rotation and SIGHUP reopen, stdout, or a network receiver |
//! | [`rotate`] | wall-clock rotation schedule, dated names, compression thread, retention |
//! | [`syslog`], [`otlp`], [`net`] | forwarding: RFC 5424 syslog over TCP/TLS, OTLP/HTTP logs |
//! | [`checkpoint`] | exactly-once output across drain crashes |
//! | [`encode`] | the `Encoder` trait every output implements over the one record view |
//! | [`archive`], [`decode`] | the binary archive (`--format binary`) and `ringdrain decode` |
//! | [`stats`], [`cat`], [`gc`], [`level`] | `ringdrain stats`, `ringdrain cat`, `ringdrain gc`, `ringdrain level` (directives on the ring's control page) |
//! | [`recall`], [`limit`] | the flight recorder (`--flight-recorder N`) and drain-side rate limits (`--limit`) |
//! | [`cli`], [`settings`] | flags; the one settings struct behind flags, config file and environment |
//! | [`exit`] | exit codes (sysexits) |
//! | [`monitor`], [`metrics`] | systemd notification, live counters, Prometheus exposition and `/metrics` |
//!
//! # Example: drain a ring's backlog into a file
//!
//! ```
//! use ringdrain::drain::{run, DrainConfig, Output, Signals};
//! use ringdrain::sink::Rotation;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let ring = dir.path().join("app.ring");
//! let log = ringlog::Logger::builder().path(&ring).slot_count(1024).open().unwrap();
//! ringlog::info!(log, "hello {}", "world", answer = 42u32);
//!
//! let out = dir.path().join("app.log");
//! let mut cfg = DrainConfig::new(
//!     ring,
//!     Output::File { path: out.clone(), rotation: Rotation::default(), mode: 0o600 },
//! );
//! cfg.once = true;
//! run(&cfg, &Signals::default()).unwrap();
//! let text = std::fs::read_to_string(out).unwrap();
//! assert!(text.contains("INFO "), "{text}");
//! assert!(text.ends_with("hello world answer=42\n"), "{text}");
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

pub mod archive;
pub mod behind;
pub mod cat;
pub mod checkpoint;
pub mod cli;
pub mod decode;
pub mod doze;
pub mod drain;
pub mod encode;
pub mod exit;
pub mod format;
pub mod gc;
pub mod level;
pub mod limit;
pub mod metrics;
pub mod monitor;
pub mod net;
pub mod otlp;
pub mod parallel;
pub mod pyline;
pub mod recall;
pub mod rotate;
pub mod settings;
pub mod sink;
pub mod stats;
pub mod syslog;

/// The `ringdrain` command line as a function, for programs that embed the drain (the Python
/// package's `ringdrain` command): `args` are the arguments after the program name. Prints
/// what the binary prints and returns its exit status: 0 on success, clap's status (2) for bad
/// flags (0 for `--help`/`--version`), 1 for errors.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    use clap::Parser;
    let argv = std::iter::once("ringdrain".into()).chain(args);
    let cli = match cli::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cli::run(cli) {
        Ok(code) if code == std::process::ExitCode::SUCCESS => 0,
        Ok(_) => 1,
        Err(e) => {
            eprintln!("ringdrain: error: {}", crate::exit::one_line(&e));
            1
        }
    }
}
