//! Issue 12's "opening an existing segment and logging the first record in a fresh process":
//! opens the ring given as the first argument (creating it first if it does not exist, which
//! is timed separately), logs one record, and prints both times in microseconds.
//!
//! ```text
//! cargo build --release -p ringlog-benches --example first_record
//! rm -f /dev/shm/ringlog-first; target/release/examples/first_record first   # creates
//! for i in 1 2 3 4 5; do target/release/examples/first_record first; done    # opens
//! ```
use std::time::Instant;

use ringlog::{info, Logger};

fn main() {
    let ring = std::env::args().nth(1).unwrap_or_else(|| "first".into());
    let existed = ringlog_segment::resolve(&ring)
        .map(|p| p.exists())
        .unwrap_or(false);
    let t = Instant::now();
    let log = Logger::open(&ring).expect("open ring");
    let opened = t.elapsed();
    info!(log, "first record {}", 1u32);
    let first = t.elapsed();
    println!(
        "{} {:.0} us open, {:.0} us open + first record",
        if existed { "existing" } else { "created" },
        opened.as_secs_f64() * 1e6,
        first.as_secs_f64() * 1e6
    );
}
