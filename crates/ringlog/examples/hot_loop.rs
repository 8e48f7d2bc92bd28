//! The hot path in a loop, for instruction-level profiling:
//!
//! ```text
//! cargo build --release -p ringlog --example hot_loop
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/examples/hot_loop 200000
//! callgrind_annotate cg.out | head -40
//! ```
//!
//! Logs N records (default 200,000) of the ringload message into a private ring big enough
//! that it never fills, so only the producer's own work is measured.

use ringlog::{info, Logger};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("ringlog-hot-loop-{}", std::process::id()));
    let log = Logger::builder()
        .path(&dir)
        .slot_count((n + 16).next_power_of_two())
        .open()
        .expect("open ring");
    let worker = "p0-t0";
    for i in 0..n {
        let lat = i as f64 / 4.0;
        info!(log, "request {} served in {} us by {}", i, lat, worker);
    }
    drop(log);
    let _ = std::fs::remove_file(&dir);
}
