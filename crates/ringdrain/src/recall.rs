//! The drain's record gate: `--level` (records below it are not written), the flight recorder
//! (`--flight-recorder N`: the last N records below `--level`, from every ring and process, are
//! kept in memory and written before a record at ERROR or above, or before the notice of a
//! record abandoned by a producer that died mid-record), and the rate limits of
//! [`crate::limit`].
//!
//! # What a recalled record looks like
//!
//! A recalled record is written as it would have been without `--level`, with its original
//! timestamp, plus one last field `recalled=true` (a boolean): in text and logfmt
//! ` recalled=true`, in JSON `"recalled":true` inside `"fields"`, in syslog an SD-PARAM
//! `recalled="true"`, in OTLP a boolean attribute `recalled`. Kept records are written oldest
//! first (by timestamp, across rings and processes), then the record that triggered the recall.
//!
//! # Exactly-once and restarts
//!
//! A kept record is held by the drain, not the ring: its slot is released with the batch it
//! arrived in (nothing of it is written then, so nothing is checkpointed as written). Recalled
//! records are written in the batch of their trigger, under that batch's checkpoint, so they
//! are written exactly once like every other line. What a drain restart (or crash) loses is the
//! kept-but-unwritten records: they were below `--level`, so the drain would not have written
//! them anyway; an error that arrives after the restart recalls only what was kept since. If
//! the drain dies after reading a trigger but before writing its batch, the restarted drain
//! reads the trigger again from the checkpoint and writes it without the records kept before
//! the crash.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use ringlog_segment::reader::CallsiteInfo;
use ringlog_wire::args::Arg;
use ringlog_wire::callsite::FormatStyle;
use ringlog_wire::clock::Calibration;
use ringlog_wire::decode::RecordRef;
use ringlog_wire::record::{Level, RecordHeader};
use ringlog_wire::view::{ArgBuf, RecordView};

use crate::format::Formatter;
use crate::limit::Limiter;

/// Name of the field that marks a recalled record.
pub const RECALLED_FIELD: &str = "recalled";

/// What the drain does with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it.
    Write,
    /// Write the kept records (recalled), then it.
    RecallThenWrite,
    /// Write the kept records (recalled), but not it (an error over its rate limit).
    RecallThenSkip,
    /// Do not write it (below `--level`, or over a rate limit); it may have been kept.
    Skip,
}

impl Verdict {
    /// Whether the kept records are written first.
    pub fn recalls(self) -> bool {
        matches!(self, Verdict::RecallThenWrite | Verdict::RecallThenSkip)
    }

    /// Whether the event itself is written.
    pub fn writes(self) -> bool {
        matches!(self, Verdict::Write | Verdict::RecallThenWrite)
    }
}

/// A record kept by the flight recorder: its bytes (owned) and its callsite with the
/// `recalled` field appended.
#[derive(Debug)]
struct Kept {
    unix_ns: i64,
    header: RecordHeader,
    payload: Vec<u8>,
    callsite: Result<Option<Arc<CallsiteInfo>>, String>,
}

/// Counts of what the gate did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateCounts {
    /// Records not written because they were below `--level` (kept or not).
    pub below_level: u64,
    /// Records written as recalled.
    pub recalled: u64,
    /// Kept records pushed out of the flight recorder by newer ones (never written).
    pub evicted: u64,
    /// Records suppressed by rate limits.
    pub suppressed: u64,
}

/// The record gate (see the [module docs](self)).
#[derive(Debug)]
pub struct Gate {
    /// Least severe level written (`None`: every level).
    min_level: Option<Level>,
    /// Flight recorder capacity (0: off).
    capacity: usize,
    kept: VecDeque<Kept>,
    /// Callsites with the `recalled` field appended, by (ring index, callsite id).
    variants: HashMap<(usize, u32), Arc<CallsiteInfo>>,
    limiter: Option<Limiter>,
    counts: GateCounts,
}

impl Gate {
    /// A gate writing records at `min_level` or more severe, keeping the last `capacity` below
    /// it, and enforcing `limiter`.
    pub fn new(min_level: Option<Level>, capacity: usize, limiter: Option<Limiter>) -> Self {
        Gate {
            min_level,
            capacity,
            kept: VecDeque::with_capacity(capacity.min(1 << 16)),
            variants: HashMap::new(),
            limiter,
            counts: GateCounts::default(),
        }
    }

    /// Whether the gate lets everything through unchanged (the drain then skips it).
    pub fn is_open(&self) -> bool {
        self.min_level.is_none() && self.capacity == 0 && self.limiter.is_none()
    }

    /// What it did so far.
    pub fn counts(&self) -> GateCounts {
        let mut c = self.counts;
        if let Some(l) = &self.limiter {
            c.suppressed = l.suppressed_total();
        }
        c
    }

    /// The rate limiter, if any.
    pub fn limiter_mut(&mut self) -> Option<&mut Limiter> {
        self.limiter.as_mut()
    }

    /// Decides about a record of ring `ring` at `unix_ns`; keeps it if it is below the level
    /// and the flight recorder is on.
    pub fn on_record(
        &mut self,
        ring: usize,
        record: &RecordRef<'_>,
        callsite: Result<Option<&CallsiteInfo>, &str>,
        unix_ns: i64,
    ) -> Verdict {
        let level = record.level();
        if self
            .min_level
            .is_some_and(|min| level.verbosity() > min.verbosity())
        {
            self.counts.below_level += 1;
            if self.capacity > 0 {
                self.keep(ring, record, callsite, unix_ns);
            }
            return Verdict::Skip;
        }
        let trigger = level.verbosity() <= Level::Error.verbosity() && !self.kept.is_empty();
        if let Some(limiter) = &mut self.limiter {
            let (target, file, line) = match callsite {
                Ok(Some(cs)) => (cs.target.as_str(), cs.file.as_str(), cs.line),
                _ => ("", "", 0),
            };
            if !limiter.admit(ring, record.header.callsite, target, file, line, unix_ns) {
                // Over its limit, but an error still brings out what led up to it.
                return if trigger {
                    Verdict::RecallThenSkip
                } else {
                    Verdict::Skip
                };
            }
        }
        if trigger {
            Verdict::RecallThenWrite
        } else {
            Verdict::Write
        }
    }

    /// Decides about a loss notice: a record abandoned by a dead producer triggers a recall.
    pub fn on_abandoned(&mut self) -> Verdict {
        if self.kept.is_empty() {
            Verdict::Write
        } else {
            Verdict::RecallThenWrite
        }
    }

    fn keep(
        &mut self,
        ring: usize,
        record: &RecordRef<'_>,
        callsite: Result<Option<&CallsiteInfo>, &str>,
        unix_ns: i64,
    ) {
        if self.kept.len() == self.capacity {
            self.kept.pop_front();
            self.counts.evicted += 1;
        }
        let callsite = match callsite {
            Ok(Some(cs)) => Ok(Some(
                self.variants
                    .entry((ring, cs.id))
                    .or_insert_with(|| Arc::new(recalled_variant(cs)))
                    .clone(),
            )),
            Ok(None) => Ok(None),
            Err(why) => Err(why.to_string()),
        };
        self.kept.push_back(Kept {
            unix_ns,
            header: record.header,
            payload: record.payload.to_vec(),
            callsite,
        });
    }

    /// Writes every kept record, oldest first, with `fmt` (one formatter per output: call once
    /// per output with the same `recall` list), and empties the recorder. `each(unix_ns, start,
    /// end)` is told where each record went in `out` (for the drain's merge staging).
    pub fn take_kept(&mut self) -> Recall {
        let mut kept: Vec<Kept> = self.kept.drain(..).collect();
        // Rings and processes interleave: order by time (stable, so ties keep arrival order).
        kept.sort_by_key(|k| k.unix_ns);
        self.counts.recalled += kept.len() as u64;
        Recall { kept }
    }
}

/// Records taken out of the flight recorder, to be written.
#[derive(Debug)]
pub struct Recall {
    kept: Vec<Kept>,
}

impl Recall {
    /// How many.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Encodes record `i` with `fmt` into `out`; returns its timestamp.
    pub fn encode(&self, i: usize, fmt: &mut Formatter, out: &mut Vec<u8>) -> i64 {
        let cal = fmt.calibration();
        self.with_view(i, &cal, |view| fmt.encode(out, view));
        self.kept[i].unix_ns
    }

    /// Calls `f` with the view of record `i` (marked `recalled`, at its original time), as
    /// every output encodes it.
    pub fn with_view(&self, i: usize, calibration: &Calibration, f: impl FnOnce(&RecordView<'_>)) {
        let k = &self.kept[i];
        let record = RecordRef {
            header: k.header,
            payload: &k.payload,
        };
        let decoded = ArgBuf::decode(&record);
        let mut args: Vec<Arg<'_>> = decoded.as_slice().to_vec();
        let callsite = match &k.callsite {
            Ok(Some(cs)) => {
                // The callsite's own fields come first; `recalled` is its last field.
                let wanted = cs.fields.len() + positional(cs);
                // A record with fewer arguments than its callsite describes (truncated) or more
                // (a mismatch) still gets `recalled` as the field the variant names last.
                while args.len() < wanted - 1 {
                    args.push(Arg::Str(""));
                }
                args.truncate(wanted - 1);
                Ok(Some(&**cs))
            }
            Ok(None) => Ok(None),
            Err(why) => Err(why.as_str()),
        };
        args.push(Arg::Bool(true));
        let args = ArgBuf::from_args(&args);
        let mut view = RecordView::new(&record, callsite, &args, calibration);
        view.unix_ns = k.unix_ns;
        if decoded.error().is_some() {
            view.arg_error = decoded.error();
        }
        f(&view)
    }
}

/// Arguments of `cs` before its fields.
fn positional(cs: &CallsiteInfo) -> usize {
    match cs.style {
        FormatStyle::Literal => 0,
        _ => cs.template.positional(),
    }
}

/// `cs` with the `recalled` field appended.
fn recalled_variant(cs: &CallsiteInfo) -> CallsiteInfo {
    let mut fields: Vec<&str> = cs.fields.iter().map(String::as_str).collect();
    fields.push(RECALLED_FIELD);
    let desc = ringlog_wire::callsite::CallsiteDesc {
        level: cs.level,
        style: cs.style,
        line: cs.line,
        target: &cs.target,
        module: &cs.module,
        file: &cs.file,
        format: &cs.format,
        fields,
        // A Python Formatter's layout would not show the `recalled` field: a recalled record
        // gets ringlog's own line, where the marker is visible.
        layout: "",
    };
    CallsiteInfo::new(cs.id, &desc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Encoder as OutputEncoder, Item};
    use crate::format::Format;
    use core::mem::MaybeUninit;
    use ringlog_wire::args::Encoder;
    use ringlog_wire::callsite::CallsiteDesc;
    use ringlog_wire::clock::{Calibration, ClockKind};

    fn callsite() -> CallsiteInfo {
        CallsiteInfo::new(
            9,
            &CallsiteDesc {
                level: Level::Debug,
                style: FormatStyle::Brace,
                line: 3,
                target: "app",
                module: "app",
                file: "app.rs",
                format: "step {}",
                fields: vec!["k"],
                layout: "",
            },
        )
    }

    fn record(level: Level, step: u64, ts: u64) -> (RecordHeader, Vec<u8>) {
        let mut buf = [MaybeUninit::uninit(); 64];
        let mut e = Encoder::new(&mut buf);
        e.u64(step);
        e.u64(7);
        let payload = e.as_bytes().to_vec();
        let header = RecordHeader {
            timestamp: ts,
            callsite: 9,
            pid: 1,
            tid: 2,
            len: payload.len() as u16,
            level: level as u8,
            flags: 0,
        };
        (header, payload)
    }

    /// Runs three debug records and an error through a gate and returns what each format
    /// writes for the recall and the error.
    fn recall_in(mut enc: Box<dyn OutputEncoder>) -> String {
        let cal = Calibration::new(ClockKind::Realtime, 0, 0, 0);
        let cs = callsite();
        let mut gate = Gate::new(Some(Level::Info), 2, None);
        for (i, ts) in [(0u64, 30u64), (1, 10), (2, 20)] {
            let (h, p) = record(Level::Debug, i, ts);
            let r = RecordRef {
                header: h,
                payload: &p,
            };
            assert_eq!(
                gate.on_record(0, &r, Ok(Some(&cs)), ts as i64),
                Verdict::Skip
            );
        }
        let (h, p) = record(Level::Error, 9, 40);
        let r = RecordRef {
            header: h,
            payload: &p,
        };
        assert_eq!(
            gate.on_record(0, &r, Ok(Some(&cs)), 40),
            Verdict::RecallThenWrite
        );
        let mut out = Vec::new();
        let recall = gate.take_kept();
        assert_eq!(recall.len(), 2, "the oldest of three was evicted");
        for i in 0..recall.len() {
            recall.with_view(i, &cal, |view| enc.encode(&mut out, &Item::view(view)));
        }
        let args = ArgBuf::decode(&r);
        let view = RecordView::new(&r, Ok(Some(&cs)), &args, &cal);
        enc.encode(&mut out, &Item::view(&view));
        assert_eq!(gate.counts().evicted, 1);
        assert_eq!(gate.counts().recalled, 2);
        assert_eq!(gate.counts().below_level, 3);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn recalled_records_carry_recalled_true_in_text_json_and_logfmt_in_time_order() {
        let text = recall_in(crate::encode::encoder(Format::Text));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with("app: step 1 k=7 recalled=true"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("app: step 2 k=7 recalled=true"),
            "{text}"
        );
        assert!(lines[2].ends_with("app: step 9 k=7"), "{text}");
        let json = recall_in(crate::encode::encoder(Format::Json));
        let v: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["fields"]["recalled"], true);
        assert_eq!(v[0]["fields"]["k"], 7);
        assert_eq!(v[0]["msg"], "step 1");
        assert!(v[2]["fields"].get("recalled").is_none());
        let logfmt = recall_in(crate::encode::encoder(Format::Logfmt));
        assert!(
            logfmt
                .lines()
                .next()
                .unwrap()
                .ends_with(" k=7 recalled=true"),
            "{logfmt}"
        );
    }

    #[test]
    fn recalled_records_carry_the_marker_in_syslog_and_otlp() {
        let header = crate::syslog::Header::new(1, "host", "app").unwrap();
        let syslog = recall_in(Box::new(crate::syslog::SyslogEncoder::new(Arc::new(
            header,
        ))));
        assert_eq!(syslog.matches("recalled=\"true\"").count(), 2, "{syslog}");
        let otlp = recall_in(Box::new(crate::otlp::OtlpEncoder));
        assert_eq!(otlp.matches("recalled").count(), 2);
    }
}
