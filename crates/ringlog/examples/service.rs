//! A toy service: logs a mix of records with fields into a ring, as a real service would.
//!
//! `cargo run --release --example service -- --ring demo --records 1000`

use std::time::Duration;

use ringlog::{debug, error, info, warn, Level, Logger};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut ring = String::from("demo");
    let mut records: u64 = 1000;
    let mut name = format!("svc-{}", std::process::id());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ring" => ring = args.next().expect("--ring NAME|PATH"),
            "--records" => {
                records = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--records N")
            }
            "--name" => name = args.next().expect("--name NAME"),
            other => {
                eprintln!("service: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let log = match Logger::builder().ring(&ring).level(Level::Info).open() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("service: cannot open ring {ring}: {e}");
            std::process::exit(1);
        }
    };
    info!(log, "{} starting", name.as_str(), records = records);
    for i in 0..records {
        let ms = (i % 97) as f64 * 0.25;
        if i % 100 == 99 {
            warn!(
                log,
                "slow request {} took {} ms",
                i,
                ms,
                worker = name.as_str()
            );
        } else if i % 250 == 249 {
            error!(
                log,
                "request {} failed: {}",
                i,
                "upstream timeout",
                status = 504u16
            );
        } else {
            info!(
                log,
                "request {} served in {} ms",
                i,
                ms,
                worker = name.as_str(),
                status = 200u16
            );
        }
        debug!(log, "never recorded at level info {}", i);
        if i % 200 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    info!(log, "{} done", name.as_str(), dropped = log.stats().dropped);
}
