//! What a running drain tells the outside: systemd's notification protocol (`READY=1`,
//! `WATCHDOG=1`, `STOPPING=1` over `$NOTIFY_SOCKET`) and live counters for `/metrics`.
//!
//! The drain loop calls the [`Monitor`]'s hooks ([`Monitor::ready`], [`Monitor::tick`],
//! [`Monitor::written`], ...); they cost one clock read per loop turn and one short lock per
//! written batch.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A client of systemd's `sd_notify` protocol: datagrams of `KEY=VALUE` lines sent to the
/// socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: std::os::unix::net::SocketAddr,
    /// `WATCHDOG_USEC` (when `WATCHDOG_PID` is unset or ours): ping at half of it.
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment; `None` when `$NOTIFY_SOCKET` is unset (not run by systemd).
    pub fn from_env() -> std::io::Result<Option<Notifier>> {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        let path = path.to_string_lossy().into_owned();
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None => std::os::unix::net::SocketAddr::from_pathname(&path)?,
        };
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(Duration::from_micros);
        Ok(Some(Notifier {
            sock: UnixDatagram::unbound()?,
            addr,
            watchdog,
        }))
    }

    /// Sends one message (e.g. `"READY=1"`).
    pub fn send(&self, msg: &str) -> std::io::Result<()> {
        self.sock.send_to_addr(msg.as_bytes(), &self.addr).map(drop)
    }

    /// The watchdog interval systemd asked for.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }
}

/// Counters of one output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCounters {
    /// Bytes accepted.
    pub bytes: u64,
    /// Batches accepted.
    pub batches: u64,
    /// Failed write attempts (each retried).
    pub errors: u64,
}

/// Live state of a running drain, shared with the metrics server and systemd.
#[derive(Debug)]
pub struct Monitor {
    notifier: Option<Notifier>,
    /// Printed on stderr when the drain is ready.
    banner: Option<String>,
    started_unix_s: f64,
    last_ping: Mutex<Instant>,
    ready: AtomicBool,
    stopping: AtomicBool,
    records: AtomicU64,
    notices: AtomicU64,
    outputs: Mutex<BTreeMap<String, OutputCounters>>,
}

impl Monitor {
    /// A monitor that notifies `notifier` (if any).
    pub fn new(notifier: Option<Notifier>) -> Monitor {
        Monitor {
            notifier,
            banner: None,
            started_unix_s: ringlog_segment::clock::unix_ns() as f64 / 1e9,
            last_ping: Mutex::new(Instant::now()),
            ready: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            records: AtomicU64::new(0),
            notices: AtomicU64::new(0),
            outputs: Mutex::new(BTreeMap::new()),
        }
    }

    /// Prints `line` on stderr when the drain is ready (its start-up line).
    pub fn with_banner(mut self, line: String) -> Monitor {
        self.banner = Some(line);
        self
    }

    fn notify(&self, msg: &str) {
        if let Some(n) = &self.notifier {
            if let Err(e) = n.send(msg) {
                eprintln!("ringdrain: cannot notify the service manager ({msg}): {e}");
            }
        }
    }

    /// The drain holds its rings and outputs and is about to loop: `READY=1`.
    pub fn ready(&self) {
        // SYNC: Relaxed; a once-flag only this drain's threads read, no data behind it.
        if !self.ready.swap(true, Ordering::Relaxed) {
            if let Some(b) = &self.banner {
                eprintln!("{b}");
            }
            self.notify(&format!("READY=1\nMAINPID={}", std::process::id()));
        }
    }

    /// Whether [`Monitor::ready`] was called.
    pub fn is_ready(&self) -> bool {
        // SYNC: Relaxed; see `ready`.
        self.ready.load(Ordering::Relaxed)
    }

    /// The drain was asked to stop (or finished its backlog): `STOPPING=1`, once.
    pub fn stopping(&self) {
        // SYNC: Relaxed; as in `ready`.
        if !self.stopping.swap(true, Ordering::Relaxed) {
            self.notify("STOPPING=1");
        }
    }

    /// The drain loop is alive (called every turn, also while retrying an output): sends
    /// `WATCHDOG=1` at half the interval systemd asked for.
    pub fn tick(&self) {
        let Some(every) = self.notifier.as_ref().and_then(Notifier::watchdog) else {
            return;
        };
        let mut last = self.last_ping.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() >= every / 2 {
            *last = Instant::now();
            drop(last);
            self.notify("WATCHDOG=1");
        }
    }

    /// A batch of `records` records and `notices` loss notices left the ring.
    pub fn batch(&self, records: u64, notices: u64) {
        // SYNC: Relaxed; statistics counters, read without ordering by the metrics server.
        self.records.fetch_add(records, Ordering::Relaxed);
        self.notices.fetch_add(notices, Ordering::Relaxed);
    }

    /// `output` accepted a batch of `bytes` bytes (`Ok`) or failed to (`Err`).
    pub fn written(&self, output: &str, ok: Result<u64, ()>) {
        let mut map = self.outputs.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(output.to_string()).or_default();
        match ok {
            Ok(bytes) => {
                c.bytes += bytes;
                c.batches += 1;
            }
            Err(()) => c.errors += 1,
        }
    }

    /// Records written since start.
    pub fn records(&self) -> u64 {
        // SYNC: Relaxed; see `batch`.
        self.records.load(Ordering::Relaxed)
    }

    /// Loss notices written since start.
    pub fn notices(&self) -> u64 {
        // SYNC: Relaxed; see `batch`.
        self.notices.load(Ordering::Relaxed)
    }

    /// Counters per output (by its description: a path, `standard output`, `syslog URL`, ...).
    pub fn outputs(&self) -> BTreeMap<String, OutputCounters> {
        self.outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When the drain started (Unix seconds).
    pub fn started_unix_s(&self) -> f64 {
        self.started_unix_s
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Monitor::new(None)
    }
}
