//! Logs a handful of records through the `log` crate into a ringlog ring.
//!
//! ```text
//! cargo run -p ringlog-log --example log_bridge -- --ring /tmp/x.ring
//! cargo run -p ringdrain -- cat /tmp/x.ring
//! ```
//!
//! The level filter comes from `RINGLOG_LOG` or `RUST_LOG` (default `info,log_bridge::db=debug,hyper=warn`), through
//! `LoggerBuilder::from_env`.

use std::process::ExitCode;

use ringlog::Logger;

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
    // Defaults, which RINGLOG_LOG or RUST_LOG replace (`from_env`); then the ring given here.
    let builder = Logger::builder()
        .directives(
            "info,log_bridge::db=debug,hyper=warn"
                .parse()
                .expect("default directives"),
        )
        .from_env()
        .map(|b| b.ring(&ring));
    let logger = match builder.map(|b| b.open()) {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            eprintln!("log_bridge: cannot open ring {ring}: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("log_bridge: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = ringlog_log::init(logger) {
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
    log::info!(target: "hyper::proto", "not recorded: hyper is at warn");
    log::warn!(target: "hyper::proto", "recorded: a warning from hyper");
    ExitCode::SUCCESS
}
