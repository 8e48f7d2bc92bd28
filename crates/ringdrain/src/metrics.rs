//! Prometheus text exposition (format 0.0.4) of rings and of a running drain: `ringdrain stats
//! --prometheus` prints it, `ringdrain --metrics-listen ADDR` serves it at `GET /metrics`.
//!
//! Ring metrics come from the segment's shared counters, so they are the same whoever reads
//! them; drain metrics (`ringdrain_*`) come from the running drain's [`Monitor`].
//!
//! | metric | type | what |
//! |---|---|---|
//! | `ringlog_ring_slots{ring}` | gauge | slots in the ring |
//! | `ringlog_ring_fill_slots{ring}` | gauge | slots written and not yet drained (the drain's lag) |
//! | `ringlog_ring_fill_ratio{ring}` | gauge | fill / slots |
//! | `ringlog_ring_claimed_slots_total{ring}` | counter | slots producers claimed |
//! | `ringlog_ring_drained_records_total{ring}` | counter | records drains consumed |
//! | `ringlog_ring_dropped_records_total{ring}` | counter | records producers dropped (ring full, no drain) |
//! | `ringlog_ring_abandoned_slots_total{ring}` | counter | slots skipped after a producer died or stalled mid-record, or left a claim unowned past the grace period |
//! | `ringlog_ring_reclaimed_slots_total{ring}` | counter | of those, slots of revoked claims whose living producer claimed again (not lost) |
//! | `ringlog_ring_corrupt_records_total{ring}` | counter | damaged records skipped |
//! | `ringlog_ring_truncated_records_total{ring}` | counter | records truncated to fit |
//! | `ringlog_ring_drain_up{ring}` | gauge | 1 if a living drain is attached with a fresh heartbeat |
//! | `ringlog_ring_drain_heartbeat_age_seconds{ring}` | gauge | age of the drain's heartbeat |
//! | `ringlog_ring_producers{ring}` | gauge | producer processes attached |
//! | `ringlog_ring_lanes_stalled{ring}` | gauge | lanes a living producer's unfinished record holds up (flagged after 100 ms) |
//! | `ringlog_ring_lanes_fenced{ring}` | gauge | lanes where the drain stepped over such a record and waits for its owner to finish it or die |
//! | `ringdrain_records_total` | counter | records this drain wrote since it started |
//! | `ringdrain_notices_total` | counter | loss notices this drain wrote |
//! | `ringdrain_output_bytes_total{output}` | counter | bytes an output accepted |
//! | `ringdrain_output_batches_total{output}` | counter | batches an output accepted |
//! | `ringdrain_output_write_errors_total{output}` | counter | failed (retried) writes |
//! | `ringdrain_start_time_seconds` | gauge | when the drain started (Unix time) |

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use ringlog_segment::{clock, Segment, SegmentConfig};

use crate::exit::Sysexit;
use crate::monitor::Monitor;

/// A heartbeat older than this means the drain is stuck or gone (it beats every 50 ms).
pub const STALE_HEARTBEAT_S: f64 = 2.0;

/// One reading of a ring's shared counters.
#[derive(Debug, Clone, Default)]
pub struct RingSample {
    /// The ring's path.
    pub ring: String,
    /// Slots in the ring.
    pub slots: u64,
    /// Claim cursor.
    pub claimed: u64,
    /// Read (release) cursor.
    pub released: u64,
    /// Records drains consumed.
    pub drained: u64,
    /// Records producers dropped.
    pub dropped: u64,
    /// Slots abandoned (revoked claims included).
    pub abandoned: u64,
    /// Slots of revoked claims their producers claimed again (part of `abandoned`, not lost).
    pub reclaimed: u64,
    /// Damaged records skipped.
    pub corrupt: u64,
    /// Records truncated.
    pub truncated: u64,
    /// Lanes flagged as stalled by the drain.
    pub lanes_stalled: u64,
    /// Lanes holding a fence.
    pub lanes_fenced: u64,
    /// The attached drain's pid (0: none).
    pub drain_pid: u32,
    /// Whether that pid is alive.
    pub drain_alive: bool,
    /// Age of the drain's heartbeat in seconds (`None`: never beat).
    pub heartbeat_age_s: Option<f64>,
    /// Producer processes attached.
    pub producers: usize,
}

/// How many lanes have one word of their drain line set (Relaxed: a statistical snapshot).
pub fn lanes_flagged(
    seg: &Segment,
    word: impl Fn(&ringlog_wire::layout::LaneDrainLine) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    (0..seg.lane_count())
        .filter(|&i| word(&seg.lane(i).header().pending_end).load(Ordering::Relaxed) != 0)
        .count() as u64
}

/// The sum of one cursor over every lane (Relaxed: a statistical snapshot).
pub fn lanes_sum(
    seg: &Segment,
    cursor: impl Fn(&ringlog_wire::ring::RingCursors) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    (0..seg.lane_count())
        // SYNC: Relaxed; a statistic.
        .map(|i| cursor(&seg.lane(i).header().cursors).load(Ordering::Relaxed))
        .sum()
}

impl RingSample {
    /// Reads `seg`'s counters.
    pub fn read(seg: &Segment) -> RingSample {
        let sh = seg.shared();
        let (c, d) = (&sh.counters, &sh.drain);
        // SYNC: Relaxed loads throughout: a statistical snapshot, no data read through them.
        let hb = d.heartbeat_ns.load(Ordering::Relaxed);
        let drain_pid = d.pid.load(Ordering::Relaxed);
        RingSample {
            ring: seg.path().display().to_string(),
            slots: seg.header().slot_count * seg.lane_count() as u64,
            claimed: lanes_sum(seg, |c| &c.claim),
            released: lanes_sum(seg, |c| &c.read),
            drained: d.consumed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            abandoned: c.abandoned.load(Ordering::Relaxed),
            reclaimed: c.reclaimed.load(Ordering::Relaxed),
            corrupt: c.corrupt.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            lanes_stalled: lanes_flagged(seg, |l| &l.stalled),
            lanes_fenced: lanes_flagged(seg, |l| &l.fence),
            drain_pid,
            drain_alive: drain_pid != 0 && seg.drain_alive(),
            heartbeat_age_s: (hb != 0).then(|| clock::unix_ns().saturating_sub(hb) as f64 / 1e9),
            producers: seg.live_producers().len(),
        }
    }

    /// Slots written and not yet drained.
    pub fn fill(&self) -> u64 {
        self.claimed.saturating_sub(self.released)
    }

    /// A living drain with a fresh heartbeat is attached.
    pub fn drain_up(&self) -> bool {
        self.drain_alive && self.heartbeat_age_s.is_some_and(|a| a < STALE_HEARTBEAT_S)
    }

    /// Abandoned slots whose records were lost: the revoked claims that their producers
    /// claimed again taken out.
    pub fn abandoned_lost(&self) -> u64 {
        self.abandoned.saturating_sub(self.reclaimed)
    }

    /// Records lost in all ways the segment counts.
    pub fn lost(&self) -> u64 {
        self.dropped + self.abandoned_lost() + self.corrupt
    }
}

/// Appends a label value, escaped as the exposition format requires.
fn label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes one metric family: its HELP and TYPE lines, then one sample per labelled value.
fn family<'a>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    label_name: &str,
    samples: impl IntoIterator<Item = (&'a str, f64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (l, v) in samples {
        out.push_str(name);
        if !label_name.is_empty() {
            let _ = write!(out, "{{{label_name}=\"");
            label(out, l);
            out.push_str("\"}");
        }
        let _ = writeln!(out, " {v}");
    }
}

type RingMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RingSample) -> f64,
);

const RING_METRICS: &[RingMetric] = &[
    ("ringlog_ring_slots", "gauge", "Slots in the ring.", |s| {
        s.slots as f64
    }),
    (
        "ringlog_ring_fill_slots",
        "gauge",
        "Slots written and not yet drained (the drain's lag).",
        |s| s.fill() as f64,
    ),
    (
        "ringlog_ring_fill_ratio",
        "gauge",
        "Fill level: fill slots / slots.",
        |s| s.fill() as f64 / s.slots.max(1) as f64,
    ),
    (
        "ringlog_ring_claimed_slots_total",
        "counter",
        "Slots producers claimed.",
        |s| s.claimed as f64,
    ),
    (
        "ringlog_ring_drained_records_total",
        "counter",
        "Records drains consumed.",
        |s| s.drained as f64,
    ),
    (
        "ringlog_ring_dropped_records_total",
        "counter",
        "Records producers dropped (ring full or no drain).",
        |s| s.dropped as f64,
    ),
    (
        "ringlog_ring_abandoned_slots_total",
        "counter",
        "Slots skipped after a producer died or stalled mid-record, or left a claim unowned past the grace period.",
        |s| s.abandoned as f64,
    ),
    (
        "ringlog_ring_reclaimed_slots_total",
        "counter",
        "Slots of revoked claims whose living producer claimed again (counted in abandoned, not lost).",
        |s| s.reclaimed as f64,
    ),
    (
        "ringlog_ring_corrupt_records_total",
        "counter",
        "Damaged records skipped.",
        |s| s.corrupt as f64,
    ),
    (
        "ringlog_ring_truncated_records_total",
        "counter",
        "Records truncated to fit the ring.",
        |s| s.truncated as f64,
    ),
    (
        "ringlog_ring_drain_up",
        "gauge",
        "1 if a living drain with a fresh heartbeat is attached.",
        |s| u8::from(s.drain_up()) as f64,
    ),
    (
        "ringlog_ring_drain_heartbeat_age_seconds",
        "gauge",
        "Age of the drain's heartbeat (-1: never).",
        |s| s.heartbeat_age_s.unwrap_or(-1.0),
    ),
    (
        "ringlog_ring_producers",
        "gauge",
        "Producer processes attached.",
        |s| s.producers as f64,
    ),
    (
        "ringlog_ring_lanes_stalled",
        "gauge",
        "Lanes a living producer's unfinished record holds up (flagged after 100 ms).",
        |s| s.lanes_stalled as f64,
    ),
    (
        "ringlog_ring_lanes_fenced",
        "gauge",
        "Lanes where the drain stepped over a frozen producer's record and waits for it to finish or die.",
        |s| s.lanes_fenced as f64,
    ),
];

/// The exposition of `rings` (and of a running drain, with `monitor`).
pub fn render(rings: &[RingSample], monitor: Option<&Monitor>) -> String {
    let mut out = String::new();
    for (name, kind, help, f) in RING_METRICS {
        family(
            &mut out,
            name,
            kind,
            help,
            "ring",
            rings.iter().map(|s| (s.ring.as_str(), f(s))),
        );
    }
    if let Some(m) = monitor {
        let outputs = m.outputs();
        family(
            &mut out,
            "ringdrain_records_total",
            "counter",
            "Records this drain wrote since it started.",
            "",
            [("", m.records() as f64)],
        );
        family(
            &mut out,
            "ringdrain_notices_total",
            "counter",
            "Loss notices this drain wrote since it started.",
            "",
            [("", m.notices() as f64)],
        );
        family(
            &mut out,
            "ringdrain_start_time_seconds",
            "gauge",
            "When this drain started (Unix time).",
            "",
            [("", m.started_unix_s())],
        );
        family(
            &mut out,
            "ringdrain_ready",
            "gauge",
            "1 once the drain holds its rings and outputs.",
            "",
            [("", u8::from(m.is_ready()) as f64)],
        );
        type OutputMetric = (
            &'static str,
            &'static str,
            fn(&crate::monitor::OutputCounters) -> u64,
        );
        const OUTPUT_METRICS: &[OutputMetric] = &[
            (
                "ringdrain_output_bytes_total",
                "Bytes an output accepted.",
                |c| c.bytes,
            ),
            (
                "ringdrain_output_batches_total",
                "Batches an output accepted.",
                |c| c.batches,
            ),
            (
                "ringdrain_output_write_errors_total",
                "Failed (retried) writes to an output.",
                |c| c.errors,
            ),
        ];
        for (name, help, f) in OUTPUT_METRICS {
            family(
                &mut out,
                name,
                "counter",
                help,
                "output",
                outputs.iter().map(|(o, c)| (o.as_str(), f(c) as f64)),
            );
        }
    }
    out
}

/// Opens `ring` (name or path) to read its counters (it must exist).
pub fn open_ring(ring: &str) -> anyhow::Result<Segment> {
    let path = crate::exit::resolve_ring(ring)?;
    open_path(&path).map_err(|e| crate::exit::open_ring_error(&path, e))
}

fn open_path(path: &std::path::Path) -> Result<Segment, ringlog_segment::OpenError> {
    Segment::open(
        path,
        &SegmentConfig {
            // Only counters are read.
            allow_foreign_owner: true,
            ..SegmentConfig::default()
        },
    )
}

/// The `/metrics` server of a running drain; stops when dropped.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    addr: std::net::SocketAddr,
    monitor: Arc<OnceLock<Arc<Monitor>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// The address it listens on (useful with port 0).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Adds the drain's own metrics (`ringdrain_*`) from now on.
    pub fn attach(&self, monitor: Arc<Monitor>) {
        let _ = self.monitor.set(monitor);
    }
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `GET /metrics` for `rings` at `addr` (IP:PORT) on a thread; the drain's own
/// metrics once [`MetricsServer::attach`]ed.
pub fn serve(addr: &str, rings: Vec<PathBuf>) -> anyhow::Result<MetricsServer> {
    let sock: std::net::SocketAddr = addr.parse().map_err(|e| {
        Sysexit::Config.msg(format_args!(
            "--metrics-listen {addr:?}: {e} (use IP:PORT, e.g. 127.0.0.1:9464)"
        ))
    })?;
    let server = tiny_http::Server::http(sock).map_err(|e| {
        Sysexit::Unavailable.msg(format_args!("--metrics-listen {addr}: cannot listen: {e}"))
    })?;
    let addr = server.server_addr().to_ip().unwrap_or(sock);
    let server = Arc::new(server);
    let srv = server.clone();
    let monitor = Arc::new(OnceLock::<Arc<Monitor>>::new());
    let mon = monitor.clone();
    let thread = std::thread::Builder::new()
        .name("ringdrain-metrics".into())
        .spawn(move || {
            while let Ok(req) = srv.recv() {
                let path = req.url().split('?').next().unwrap_or("");
                let resp = if *req.method() != tiny_http::Method::Get {
                    tiny_http::Response::from_string("only GET\n").with_status_code(405)
                } else if path == "/metrics" {
                    let samples = rings
                        .iter()
                        .filter_map(|p| open_path(p).ok())
                        .map(|s| RingSample::read(&s))
                        .collect::<Vec<_>>();
                    let body = render(&samples, mon.get().map(|m| &**m));
                    let mut r = tiny_http::Response::from_string(body);
                    if let Ok(h) = tiny_http::Header::from_bytes(
                        &b"Content-Type"[..],
                        &b"text/plain; version=0.0.4; charset=utf-8"[..],
                    ) {
                        r.add_header(h);
                    }
                    r
                } else {
                    tiny_http::Response::from_string("not found: try /metrics\n")
                        .with_status_code(404)
                };
                let _ = req.respond(resp);
            }
        })
        .map_err(|e| {
            Sysexit::Unavailable.msg(format_args!("cannot start the metrics thread: {e}"))
        })?;
    Ok(MetricsServer {
        server,
        addr,
        monitor,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn families_group_every_ring_under_one_help_and_type() {
        let rings = [
            RingSample {
                ring: "/a".into(),
                slots: 8,
                claimed: 6,
                released: 2,
                ..Default::default()
            },
            RingSample {
                ring: "/b".into(),
                slots: 8,
                ..Default::default()
            },
        ];
        let text = render(&rings, None);
        assert_eq!(
            text.matches("# TYPE ringlog_ring_fill_slots gauge").count(),
            1
        );
        assert!(
            text.contains(
                "ringlog_ring_fill_slots{ring=\"/a\"} 4\nringlog_ring_fill_slots{ring=\"/b\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("ringlog_ring_fill_ratio{ring=\"/a\"} 0.5\n"),
            "{text}"
        );
    }
}
