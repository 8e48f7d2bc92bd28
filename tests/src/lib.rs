//! Helpers for ringlog's multi-process integration and fault-injection tests that know the
//! `ringload` message (`request {i} served in {lat} us by {worker}`): running `ringload`, parsing
//! and checking its records in a drained log, and reproducible fault rounds. The general
//! scaffolding (binaries, temp dirs, processes, drains, watchdogs) is `ringlog-testkit`.
#![warn(missing_docs)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use ringlog_testkit::lines::text_message;
use ringlog_testkit::TestCommand;

/// Runs `ringload` with `args` (watchdog 5 min); returns its stdout, failing the test with
/// everything it printed unless it succeeds.
pub fn ringload(args: &[&str]) -> String {
    TestCommand::new(ringlog_testkit::bin!("ringload"))
        .args(args)
        .limit(Duration::from_secs(300))
        .stdout()
}

/// Runs `ringload --ring RING --procs P --threads T --records N` (see [`ringload`]).
pub fn ringload_into(ring: &Path, procs: u32, threads: u32, records: u64) -> String {
    let ring = ring.to_str().expect("a UTF-8 ring path");
    let (p, t, n) = (procs.to_string(), threads.to_string(), records.to_string());
    ringload(&[
        "--ring",
        ring,
        "--procs",
        &p,
        "--threads",
        &t,
        "--records",
        &n,
    ])
}

/// A parsed ringload message: `request {i} served in {lat} us by {worker}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRecord {
    /// Worker (`p{p}-t{t}`).
    pub worker: String,
    /// Record number.
    pub i: u64,
    /// Latency value as printed.
    pub lat: f64,
}

/// Parses a ringload message, or `None` if `msg` is not one.
pub fn parse_load_message(msg: &str) -> Option<LoadRecord> {
    let rest = msg.strip_prefix("request ")?;
    let (i, rest) = rest.split_once(" served in ")?;
    let (lat, worker) = rest.split_once(" us by ")?;
    Some(LoadRecord {
        worker: worker.to_string(),
        i: i.parse().ok()?,
        lat: lat.parse().ok()?,
    })
}

/// Checks ringload records: every (worker, i) for `procs x threads` workers and `0..n` present
/// exactly once, `lat == i / 4` exactly, and each worker's records in order. Returns a
/// description of the first problem.
pub fn check_load_records(
    records: impl IntoIterator<Item = LoadRecord>,
    procs: u32,
    threads: u32,
    n: u64,
) -> Result<u64, String> {
    let mut next: HashMap<String, u64> = HashMap::new();
    for p in 0..procs {
        for t in 0..threads {
            next.insert(format!("p{p}-t{t}"), 0);
        }
    }
    let mut total = 0u64;
    for r in records {
        let Some(expect) = next.get_mut(&r.worker) else {
            return Err(format!("unknown worker {:?}", r.worker));
        };
        if r.i != *expect {
            return Err(format!(
                "worker {}: expected record {}, found {} (lost, duplicated or out of order)",
                r.worker, expect, r.i
            ));
        }
        if r.lat != r.i as f64 / 4.0 {
            return Err(format!(
                "worker {} record {}: lat {} != i/4",
                r.worker, r.i, r.lat
            ));
        }
        *expect += 1;
        total += 1;
    }
    for (w, got) in &next {
        if *got != n {
            return Err(format!("worker {w}: {got} of {n} records"));
        }
    }
    Ok(total)
}

/// A small deterministic PRNG (xorshift64*) so fault rounds are reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `RINGLOG_SEED` if set, else from the clock; prints the seed so a failing
    /// run can be replayed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("RINGLOG_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: RINGLOG_SEED={seed}");
        Rng(seed.max(1))
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}

/// Rounds for a fault test: `RINGLOG_FAULT_ROUNDS` if set (the long run), else `default`.
pub fn rounds(default: u64) -> u64 {
    std::env::var("RINGLOG_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Load records in a text log, keyed by worker, plus every other message line.
pub fn split_log(text: &str) -> (HashMap<String, Vec<u64>>, Vec<String>) {
    let mut by_worker: HashMap<String, Vec<u64>> = HashMap::new();
    let mut other = Vec::new();
    for line in text.lines() {
        match text_message(line).and_then(parse_load_message) {
            Some(r) => {
                assert_eq!(r.lat, r.i as f64 / 4.0, "torn or wrong value in {line:?}");
                by_worker.entry(r.worker).or_default().push(r.i);
            }
            None => other.push(line.to_string()),
        }
    }
    (by_worker, other)
}

/// Asserts `seq` is exactly `0..seq.len()` (a prefix: nothing lost before the end, no
/// duplicates, in order). Returns its length.
pub fn assert_prefix(worker: &str, seq: &[u64]) -> u64 {
    for (k, &i) in seq.iter().enumerate() {
        assert_eq!(
            i, k as u64,
            "worker {worker}: record {k} is {i} (a gap, duplicate or reordering)"
        );
    }
    seq.len() as u64
}

/// Sums `key=N` over the drain's notice lines containing `needle`.
pub fn notice_sum(lines: &[String], needle: &str, key: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            l.split(' ')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}
