//! A producer process for the fault-injection tests: logs the ringload message, crashes on
//! purpose, or leaves the ring in the states a crash at a precise instant would.
//!
//! ```text
//! ringlog-test-producer RING MODE [ARGS]
//!   load WORKER N [block|drop] [SLOTS]  log `request {i} served in {i/4} us by {WORKER}`, i in 0..N
//!   crash HOW N                         log `before crash {i}` i in 0..N, then HOW = panic|abort|segv
//!   claim-and-die                       claim a slot and exit without owning it
//!   own-and-die                         claim, own, write half a record, exit without committing
//!   slow MS                             own a slot, write half, sleep MS, finish and commit
//!   slow-claim MS                       claim, sleep MS, then try to own (revoked: claim again)
//! ```
//!
//! The raw modes take the first free lane for themselves (as a logging thread would), or share
//! lane 0 if every lane is held.

use std::mem::MaybeUninit;
use std::time::Duration;

use ringlog::{info, Level, Logger, Policy};
use ringlog_wire::args::Encoder;
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use ringlog_wire::record::{RecordHeader, RECORD_HEADER_LEN};
use ringlog_wire::ring::Revoked;

fn usage() -> ! {
    eprintln!("usage: ringlog-test-producer RING MODE [ARGS] (see the source)");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        usage();
    }
    let ring = &args[0];
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    let mut builder = Logger::builder().path(ring).level(Level::Trace);
    if args[1] == "load" {
        if let Some(p) = args.get(4) {
            builder = builder.policy(match p.as_str() {
                "drop" => Policy::Drop,
                _ => Policy::Block,
            });
        }
        if let Some(s) = args.get(5) {
            builder = builder.slot_count(s.parse().unwrap_or_else(|_| usage()));
        }
    }
    let log = builder.open().unwrap_or_else(|e| {
        eprintln!("producer: {e}");
        std::process::exit(1)
    });
    match args[1].as_str() {
        "load" => {
            let worker = arg(2);
            let n: u64 = arg(3).parse().unwrap_or_else(|_| usage());
            for i in 0..n {
                let lat = i as f64 / 4.0;
                info!(log, "request {} served in {} us by {}", i, lat, worker);
            }
            // Report drops for the tests that count them.
            println!("dropped {}", log.stats().dropped);
        }
        "crash" => {
            let how = arg(2).to_string();
            let n: u64 = arg(3).parse().unwrap_or_else(|_| usage());
            for i in 0..n {
                info!(log, "before crash {}", i, how = how.as_str());
            }
            match how.as_str() {
                "panic" => panic!("crashing on purpose"),
                "abort" => std::process::abort(),
                // SAFETY: not sound at all, on purpose: a write through a null pointer, so the
                // process dies of a real SIGSEGV with no chance to clean up.
                "segv" => unsafe {
                    std::ptr::null_mut::<u8>().write_volatile(1);
                },
                _ => usage(),
            }
        }
        mode @ ("claim-and-die" | "own-and-die" | "slow" | "slow-claim") => {
            let record = raw_record(&log, mode);
            // Take a lane as a logging thread would (the first free one), or share lane 0
            // when every lane is held (a one-lane ring with another producer in it).
            let seg = log.segment();
            let lane = (0..seg.lane_count())
                .map(|i| seg.lane(i))
                .find(|l| l.try_take(std::process::id(), std::process::id()))
                .unwrap_or_else(|| seg.lane(0));
            let ring = lane.ring();
            let cache = std::sync::atomic::AtomicU64::new(0);
            let pid = std::process::id();
            let span = ring.span_for(record.len());
            let claim = ring.claim(span, &cache).expect("ring has room");
            match mode {
                "claim-and-die" => {
                    std::mem::forget(claim);
                    // SAFETY: _exit ends the process at once, as a kill between claim and
                    // ownership would; nothing else runs.
                    unsafe { libc::_exit(0) }
                }
                "own-and-die" => {
                    let mut owned = claim.own(pid).expect("not revoked");
                    owned.write(0, &record[..record.len() / 2]);
                    std::mem::forget(owned);
                    // SAFETY: as above; the record is left owned and half written.
                    unsafe { libc::_exit(0) }
                }
                "slow" => {
                    let ms: u64 = arg(2).parse().unwrap_or_else(|_| usage());
                    let mut owned = claim.own(pid).expect("not revoked");
                    let half = record.len() / 2;
                    owned.write(0, &record[..half]);
                    std::thread::sleep(Duration::from_millis(ms));
                    owned.write(half, &record[half..]);
                    owned.commit();
                }
                "slow-claim" => {
                    let ms: u64 = arg(2).parse().unwrap_or_else(|_| usage());
                    std::thread::sleep(Duration::from_millis(ms));
                    match claim.own(pid) {
                        Ok(mut owned) => {
                            println!("owned");
                            owned.write(0, &record);
                            owned.commit();
                        }
                        Err(Revoked) => {
                            println!("revoked");
                            // What `push` and `own_one` count for a producer when their own
                            // ownership CAS finds the claim revoked (`Claim::own` leaves it to
                            // its caller): this claim's slots are claimed again, not lost.
                            // SYNC: Relaxed; a statistic.
                            seg.shared()
                                .counters
                                .reclaimed
                                .fetch_add(u64::from(span), std::sync::atomic::Ordering::Relaxed);
                            // Claim again as a Block producer would: a drain busy recovering
                            // the ring may not have freed room yet.
                            let deadline = std::time::Instant::now() + Duration::from_secs(60);
                            while let Err(e) = ring.push(&record, pid, &cache) {
                                assert!(std::time::Instant::now() < deadline, "push: {e}");
                                std::thread::sleep(Duration::from_millis(1));
                            }
                        }
                    }
                }
                _ => unreachable!(),
            }
        }
        _ => usage(),
    }
}

/// A complete record (header + args) for a callsite registered at run time.
fn raw_record(log: &Logger, mode: &str) -> Vec<u8> {
    let id = log
        .register_callsite(&CallsiteDesc {
            level: Level::Info,
            style: FormatStyle::Brace,
            line: 1,
            target: "faults",
            module: "faults",
            file: "producer.rs",
            format: "raw record from {} with payload {}",
            fields: vec![],
            layout: "",
        })
        .expect("register");
    let payload = "x".repeat(150); // spans several 64-byte slots
    let mut buf = [MaybeUninit::uninit(); 512];
    let mut e = Encoder::new(&mut buf);
    e.str(mode);
    e.str(&payload);
    let header = RecordHeader {
        timestamp: ringlog_segment::clock::now_raw(log.segment().clock_kind()),
        callsite: id,
        pid: std::process::id(),
        tid: std::process::id(),
        len: e.len() as u16,
        level: Level::Info as u8,
        flags: 0,
    };
    assert_eq!(RECORD_HEADER_LEN, 24);
    let mut v = bytemuck::bytes_of(&header).to_vec();
    v.extend_from_slice(e.as_bytes());
    v
}
