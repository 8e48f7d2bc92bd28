//! `ringdrain cat`: print what a ring holds without consuming it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use ringlog_segment::reader::CallsiteCache;
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::decode::decode_record;
use ringlog_wire::record::Level;
use ringlog_wire::ring::{Peek, Peeker};

use crate::format::{Format, Formatter, NoticeValue};

/// Prints the records in `ring` (from the drain's read position to the claim position).
pub fn run(ring: &str, format: Format) -> anyhow::Result<ExitCode> {
    let path = ringlog_segment::resolve(ring)?;
    let seg = Segment::open(&path, &SegmentConfig::default())
        .with_context(|| format!("cannot open ring {ring}"))?;
    let mut fmt = Formatter::new(format, seg.calibration());
    let mut cache = CallsiteCache::default();
    let mut peeker = Peeker::new(seg.ring());
    let mut buf = Vec::new();
    let mut out = Vec::with_capacity(1 << 16);
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    loop {
        buf.clear();
        match peeker.next(&mut buf) {
            Peek::End => break,
            Peek::Gap | Peek::Overtaken => continue,
            Peek::Record { .. } => match decode_record(&buf) {
                Ok(rec) => {
                    let cs = cache.resolve(&seg, rec.header.callsite);
                    fmt.record(&mut out, &rec, cs);
                }
                Err(e) => fmt.notice(
                    &mut out,
                    ringlog_segment::clock::unix_ns() as i64,
                    Level::Error,
                    "damaged record",
                    &[("reason", NoticeValue::Str(&e.to_string()))],
                ),
            },
        }
        if out.len() >= 1 << 15 {
            if let Err(e) = lock.write_all(&out) {
                return quiet_on_broken_pipe(e);
            }
            out.clear();
        }
    }
    if let Err(e) = lock.write_all(&out).and_then(|()| lock.flush()) {
        return quiet_on_broken_pipe(e);
    }
    Ok(ExitCode::SUCCESS)
}

fn quiet_on_broken_pipe(e: std::io::Error) -> anyhow::Result<ExitCode> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(e).context("cannot write to standard output")
    }
}
