//! Logs a handful of `tracing` events, some inside spans, into a ringlog ring.
//!
//! ```text
//! cargo run -p ringlog-tracing --example tracing_bridge -- --ring /tmp/x.ring
//! cargo run -p ringdrain -- cat /tmp/x.ring
//! ```
//!
//! The filter comes from `RINGLOG_LOG` or `RUST_LOG` (default `info,tracing_bridge::db=debug,hyper=warn`), through
//! `LoggerBuilder::from_env`.

use std::process::ExitCode;

use ringlog::Logger;
use ringlog_tracing::RingLayer;
use tracing_subscriber::layer::SubscriberExt;

mod db {
    #[tracing::instrument(level = "info", skip_all, fields(table = table))]
    pub fn query(table: &str, rows: u64) {
        tracing::debug!(rows, cached = false, "query done");
        tracing::trace!("not recorded unless RUST_LOG enables trace here");
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let ring = match (args.next().as_deref(), args.next()) {
        (Some("--ring"), Some(ring)) => ring,
        _ => {
            eprintln!("usage: tracing_bridge --ring NAME|PATH");
            return ExitCode::from(2);
        }
    };
    // Defaults, which RINGLOG_LOG or RUST_LOG replace (`from_env`); then the ring given here.
    let builder = Logger::builder()
        .directives(
            "info,tracing_bridge::db=debug,hyper=warn"
                .parse()
                .expect("default directives"),
        )
        .from_env()
        .map(|b| b.ring(&ring));
    let logger = match builder.map(|b| b.open()) {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            eprintln!("tracing_bridge: cannot open ring {ring}: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("tracing_bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger));
    if let Err(e) = tracing::subscriber::set_global_default(subscriber) {
        eprintln!("tracing_bridge: {e}");
        return ExitCode::FAILURE;
    }

    tracing::info!("service started");
    tracing::info!(target: "hyper::proto", "not recorded: hyper is at warn");
    tracing::warn!(target: "hyper::proto", "recorded: a warning from hyper");
    for i in 0..3u64 {
        let span = tracing::info_span!("request", id = i, user = tracing::field::Empty);
        let _enter = span.enter();
        span.record("user", "ada");
        let lat = i as f64 * 1.25;
        tracing::info!(lat, worker = "w1", "request {} served", i);
        if i == 2 {
            db::query("users", 1200);
        }
    }
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    tracing::warn!(%peer, retries = 3u64, "slow upstream");
    tracing::error!(code = 503u64, "giving up");
    tracing::debug!("not recorded: the default level is info");
    ExitCode::SUCCESS
}
