//! Logs a handful of records through the `log` crate into a ringlog ring.
//!
//! ```text
//! cargo run -p ringlog-log --example log_bridge -- --ring /tmp/x.ring
//! cargo run -p ringdrain -- cat /tmp/x.ring
//! ```
//!
//! The level filter comes from `RUST_LOG` (default `info,log_bridge::db=debug`).

use std::process::ExitCode;

use ringlog::{Level, Logger};
use ringlog_log::Directives;

mod db {
    pub fn query(table: &str, rows: u64) {
        log::debug!(table, rows; "query done");
        log::trace!("not recorded unless RUST_LOG enables trace here");
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let ring = match (args.next().as_deref(), args.next()) {
        (Some("--ring"), Some(ring)) => ring,
        _ => {
            eprintln!("usage: log_bridge --ring NAME|PATH");
            return ExitCode::from(2);
        }
    };
    let directives = match Directives::from_env_or("RUST_LOG", "info,log_bridge::db=debug") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("log_bridge: RUST_LOG: {e}");
            return ExitCode::from(2);
        }
    };
    let logger = match Logger::builder().ring(&ring).level(Level::Trace).open() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("log_bridge: cannot open ring {ring}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = ringlog_log::init(logger, directives) {
        eprintln!("log_bridge: {e}");
        return ExitCode::FAILURE;
    }

    log::info!("service started");
    for i in 0..3u64 {
        let lat = i as f64 * 1.25;
        log::info!(worker = "w1", ok = true; "request {} served in {} ms", i, lat);
    }
    db::query("users", 1200);
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    log::warn!(peer:% = peer, retries = 3; "slow upstream");
    log::error!(code = 503; "giving up");
    log::debug!("not recorded: the default level is info");
    ExitCode::SUCCESS
}
