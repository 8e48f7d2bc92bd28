//! `ringdrain level RING [DIRECTIVES | --reset]`: sets, resets or shows the filter directives
//! on a ring's control page ([`ringlog_wire::control`]), which every producer process of the
//! ring applies on its next log call in place of its own filter, until `--reset`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ringlog_segment::{clock, pid_alive};
use ringlog_wire::control::{ControlState, ControlWriteError};
use ringlog_wire::filter::Directives;

use crate::exit::Sysexit;

/// `ringdrain level`.
#[derive(Debug, clap::Args)]
pub struct LevelArgs {
    /// Ring name or path.
    pub ring: String,
    /// Directives for every producer, `RUST_LOG` syntax (`debug`, `info,app::db=trace`).
    /// Without them (and without --reset): print what is in force.
    #[arg(conflicts_with = "reset")]
    pub directives: Option<String>,
    /// Give every producer its own filter back.
    #[arg(long)]
    pub reset: bool,
}

/// How long to wait for another `ringdrain level` writing at the same time.
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// Runs `ringdrain level`.
pub fn run(a: &LevelArgs) -> anyhow::Result<ExitCode> {
    let seg = crate::metrics::open_ring(&a.ring).map_err(|e| Sysexit::DataErr.wrap(e))?;
    let control = seg.control();
    let change = match (&a.directives, a.reset) {
        (None, false) => {
            let state = control
                .read()
                .map_err(|e| Sysexit::DataErr.msg(format_args!("{}: {e}", a.ring)))?;
            println!("{}", describe(&a.ring, &state));
            return Ok(ExitCode::SUCCESS);
        }
        (Some(text), _) => {
            let d: Directives = text
                .parse()
                .map_err(|e| Sysexit::Config.msg(format_args!("{e}")))?;
            Some(d.to_string())
        }
        (None, true) => None,
    };
    let deadline = Instant::now() + BUSY_WAIT;
    let generation = loop {
        match control.set(
            change.as_deref(),
            std::process::id(),
            clock::unix_ns(),
            |pid| !pid_alive(pid),
        ) {
            Ok(g) => break g,
            Err(ControlWriteError::Busy { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(Sysexit::Unavailable.msg(format_args!("{}: {e}", a.ring))),
        }
    };
    match &change {
        Some(d) => println!(
            "{}: directives {d} in force for every producer (generation {generation})",
            a.ring
        ),
        None => println!(
            "{}: reset: every producer uses its own filter (generation {generation})",
            a.ring
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// One line saying what is in force.
pub fn describe(ring: &str, s: &ControlState) -> String {
    let when = |ns: u64| {
        jiff::Timestamp::from_nanosecond(ns as i128)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| format!("@{ns}"))
    };
    match (&s.directives, s.generation) {
        (_, 0) => format!("{ring}: no directives set: every producer uses its own filter"),
        (Some(d), g) => format!(
            "{ring}: directives {d} in force for every producer, overriding their own filters (set by pid {} at {}, generation {g})",
            s.setter_pid,
            when(s.set_unix_ns)
        ),
        (None, g) => format!(
            "{ring}: no directives set: every producer uses its own filter (reset by pid {} at {}, generation {g})",
            s.setter_pid,
            when(s.set_unix_ns)
        ),
    }
}
