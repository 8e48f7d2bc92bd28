//! End-to-end throughput of the usual alternatives, for comparison with `ringload` +
//! `ringdrain`: `T` threads each log `N` ringload messages, and the clock stops when every line
//! is in the file.
//!
//! ```text
//! peer_e2e tracing-blocking THREADS RECORDS FILE   # tracing + tracing-appender non_blocking(lossy=false)
//! peer_e2e mutex THREADS RECORDS FILE              # Mutex<BufWriter<File>>, formatting on the caller
//! ```
//!
//! Prints one JSON object: `{"peer", "threads", "records", "lines", "secs", "records_per_s"}`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing_appender::non_blocking::NonBlockingBuilder;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!("usage: peer_e2e tracing-blocking|mutex THREADS RECORDS FILE");
        ExitCode::from(2)
    };
    if args.len() != 4 {
        return usage();
    }
    let (Ok(threads), Ok(records)) = (args[1].parse::<u64>(), args[2].parse::<u64>()) else {
        return usage();
    };
    let path = &args[3];
    let file = match File::create(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("peer_e2e: cannot create {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    match args[0].as_str() {
        "tracing-blocking" => {
            let (writer, guard) = NonBlockingBuilder::default().lossy(false).finish(file);
            let subscriber = tracing_subscriber::fmt()
                .with_writer(writer)
                .with_ansi(false)
                .finish();
            let dispatch = tracing::Dispatch::new(subscriber);
            std::thread::scope(|s| {
                for t in 0..threads {
                    let dispatch = dispatch.clone();
                    s.spawn(move || {
                        tracing::dispatcher::with_default(&dispatch, || {
                            let worker = format!("p0-t{t}");
                            for i in 0..records {
                                let lat = i as f64 / 4.0;
                                tracing::info!(
                                    "request {} served in {} us by {}",
                                    i,
                                    lat,
                                    worker.as_str()
                                );
                            }
                        })
                    });
                }
            });
            drop(dispatch);
            drop(guard); // blocks until the writer thread has written everything
        }
        "mutex" => {
            let log = Mutex::new(BufWriter::new(file));
            std::thread::scope(|s| {
                for t in 0..threads {
                    let log = &log;
                    s.spawn(move || {
                        let worker = format!("p0-t{t}");
                        for i in 0..records {
                            let lat = i as f64 / 4.0;
                            let ts = SystemTime::now()
                                .duration_since(UNIX_EPOCH)
                                .map_or(0, |d| d.as_nanos());
                            let mut w = log.lock().expect("lock");
                            let _ =
                                writeln!(w, "{ts} INFO request {i} served in {lat} us by {worker}");
                        }
                    });
                }
            });
            let _ = log.into_inner().expect("lock").flush();
        }
        _ => return usage(),
    }
    let secs = start.elapsed().as_secs_f64();
    let lines = File::open(path)
        .map(|f| BufReader::new(f).lines().count() as u64)
        .unwrap_or(0);
    let total = threads * records;
    println!(
        "{{\"peer\":\"{}\",\"threads\":{threads},\"records\":{total},\"lines\":{lines},\"secs\":{secs:.6},\"records_per_s\":{:.0}}}",
        args[0],
        total as f64 / secs
    );
    if lines != total {
        eprintln!("peer_e2e: {} lines lost", total - lines);
    }
    ExitCode::SUCCESS
}
