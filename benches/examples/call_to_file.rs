//! Issue 13's call-to-file latency at a low rate: logs `COUNT` records at `RATE` per second
//! into the ring `RING` (a `ringdrain` already attached writes text to `OUT`), each carrying
//! the wall-clock time (Unix ns) read just before the call, while a thread follows `OUT` with
//! inotify and takes, for each line, the time it saw the line minus the time in it. Prints
//! the distribution in microseconds.
//!
//! ```text
//! cargo build --release -p ringlog-benches --example call_to_file
//! target/release/examples/call_to_file RING OUT [RATE=100] [COUNT=1000] [WATCH=inotify]
//! ```
//!
//! `WATCH` is how the file is followed: `inotify` (the thread sleeps until the drain writes, so
//! each latency also holds the watcher's own wake-up: on a VM an idle vCPU's, tens of us) or
//! `poll` (the thread re-reads the file in a loop and sees a line as soon as the drain's
//! `write` returns, at the price of a core: it measures the record's way to the file alone).
//!
//! `benches/scripts/idle.sh` runs it against two drains (before/after) in one session.
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringlog::{info, Logger};
use rustix::fs::inotify;

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: call_to_file RING OUT [RATE=100] [COUNT=1000] [WATCH=inotify|poll]");
        std::process::exit(2);
    }
    let ring = &args[1];
    let out = PathBuf::from(&args[2]);
    let rate: f64 = args.get(3).map_or(100.0, |s| s.parse().expect("RATE"));
    let count: usize = args.get(4).map_or(1000, |s| s.parse().expect("COUNT"));
    let poll = match args.get(5).map_or("inotify", String::as_str) {
        "inotify" => false,
        "poll" => true,
        other => {
            eprintln!("call_to_file: WATCH is inotify or poll, not {other:?}");
            std::process::exit(2);
        }
    };
    let log = Logger::open(ring).expect("open ring");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC).expect("inotify_init");
    inotify::add_watch(&fd, &out, inotify::WatchFlags::MODIFY).expect("inotify_add_watch");
    let mut file = std::fs::File::open(&out).expect("open OUT");
    file.seek(SeekFrom::End(0)).expect("seek");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut events = [0u8; 4096];
        let mut pending = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            if !poll {
                // Blocks until the drain writes to OUT.
                if rustix::io::read(&fd, &mut events).is_err() {
                    return;
                }
            }
            let mut seen = unix_ns();
            let mut first = true;
            loop {
                let n = file.read(&mut chunk).expect("read OUT");
                if n == 0 {
                    break;
                }
                if poll && first {
                    // The read that found new bytes: they were in the file by now.
                    seen = unix_ns();
                    first = false;
                }
                pending.extend_from_slice(&chunk[..n]);
            }
            if poll && first {
                std::hint::spin_loop();
                continue;
            }
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                if let Some(rest) = line.split("callfile ").nth(1) {
                    let mut it = rest.split_whitespace();
                    let (Some(i), Some(t)) = (it.next(), it.next()) else {
                        continue;
                    };
                    let (Ok(i), Ok(t)) = (i.parse::<usize>(), t.parse::<u64>()) else {
                        continue;
                    };
                    if tx.send((i, seen.saturating_sub(t))).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    for i in 0..count {
        let at = start + period * i as u32;
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        info!(log, "callfile {} {}", i as u64, unix_ns());
    }
    let mut lat = vec![None; count];
    let mut got = 0;
    while got < count {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((i, ns)) if i < count => {
                if lat[i].replace(ns).is_none() {
                    got += 1;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if got < count {
        eprintln!("call_to_file: only {got} of {count} lines reached the file within 10 s");
        std::process::exit(1);
    }
    let mut v: Vec<u64> = lat.into_iter().flatten().collect();
    v.sort_unstable();
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1e3;
    println!(
        "watch={} records={} rate={}/s p50_us={:.1} p90_us={:.1} p99_us={:.1} max_us={:.1}",
        if poll { "poll" } else { "inotify" },
        v.len(),
        rate,
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}
