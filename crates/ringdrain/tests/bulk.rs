//! The binary archive's bulk path (issue 13: records written into the archive straight from
//! their ring slots, in runs) against the text drain on a segment with damage in it: `decode`
//! of the archive gives the text drain's lines, and the damage is reported the same way.

use std::path::Path;
use std::sync::atomic::AtomicU64;

use ringlog::{info, warn, ClockChoice, Logger};
use ringlog_testkit::{TestCommand, TestDir};
use ringlog_wire::record::{Level, RecordHeader, FLAG_TRUNCATED, RECORD_HEADER_LEN};

fn ringdrain() -> TestCommand {
    TestCommand::new(ringlog_testkit::bin!("ringdrain"))
}

fn once(ring: &Path, out: &Path, format: &str) {
    ringdrain()
        .arg("--ring")
        .arg(ring)
        .arg("--out")
        .arg(out)
        .args(["--once", "--format", format])
        .expect_success();
}

/// A loss notice carries the drain's pid and the time it was found, which differ between two
/// drains: compare it from its message on.
fn comparable(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.find("skipped damaged record") {
            Some(at) => l[at..].to_string(),
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn decoding_the_bulk_archive_of_a_damaged_segment_gives_the_text_drains_lines() {
    let e = TestDir::new();
    let ring = e.ring();
    let long = "x".repeat(150);
    {
        let log = Logger::builder()
            .path(&ring)
            .slot_count(1 << 10)
            // Two drains of copies convert every stamp the same way only on this clock.
            .clock(ClockChoice::Realtime)
            .open()
            .unwrap();
        for i in 0..300u64 {
            info!(
                log,
                "request {} served in {} us by {}",
                i,
                i as f64 / 4.0,
                "w-1"
            );
            if i % 17 == 0 {
                // A record of several slots: the copying path, between in-place runs.
                warn!(log, "long {}", long.as_str());
            }
        }
    }
    // Records written straight into a lane, as damage or a hostile writer would leave them:
    // a bad level, unknown flags, a length past the slot (each reported as damaged), an
    // unknown callsite id with bytes that are no arguments, a bare truncated record.
    let seg = ringlog_segment::Segment::open(&ring, &Default::default()).unwrap();
    let pid = std::process::id();
    seg.attach_producer(pid);
    let cache = AtomicU64::new(0);
    let info = Level::Info as u8;
    let rows: [(u8, u8, u32, u16); 5] = [
        (99, 0, 0, 0),
        (info, 0x80, 0, 0),
        (info, 0, 0, 60),
        (info, 0, 8 * 4001, 4),
        (info, FLAG_TRUNCATED, 0, 0),
    ];
    for lane in [0, 1] {
        for (k, &(level, flags, callsite, len)) in rows.iter().enumerate() {
            let header = RecordHeader {
                timestamp: 1,
                callsite,
                pid,
                tid: 9000 + k as u32,
                len,
                level,
                flags,
            };
            let mut bytes = bytemuck::bytes_of(&header).to_vec();
            bytes.resize(RECORD_HEADER_LEN + (len as usize).min(4), 0xfe);
            seg.lane(lane).ring().push(&bytes, pid, &cache).unwrap();
        }
    }
    drop(seg);
    let copy = e.join("ring2");
    std::fs::copy(&ring, &copy).unwrap();
    once(&ring, &e.out(), "text");
    let archive = e.join("out.rlog");
    once(&copy, &archive, "binary");
    let text = e.out_text();
    let decoded = ringdrain().arg("decode").arg(&archive).stdout();
    assert_eq!(comparable(&decoded), comparable(&text));
    assert_eq!(text.matches("request ").count(), 300, "{text}");
    assert_eq!(text.matches("long xxx").count(), 18);
    assert_eq!(text.matches("skipped damaged record").count(), 6, "{text}");
    // The unknown callsite takes the archive's general way (a view), the rest its bulk one.
    assert_eq!(
        text.matches("unknown callsite id 32008").count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("[truncated]").count(), 2, "{text}");
}
