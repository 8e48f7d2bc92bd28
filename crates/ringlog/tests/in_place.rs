//! The macros' in-place path: a call whose arguments know their size and fit one slot is
//! encoded straight into the slot it claims (`Logger::write`), instead of into a stack buffer
//! that is then copied. These tests read the lanes' raw records, so they see exactly what each
//! path wrote.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ringlog::{info, Encode, Encoder, Level, Logger};
use ringlog_testkit::TestDir;
use ringlog_wire::args::{Arg, Args};
use ringlog_wire::decode::decode_record;
use ringlog_wire::ring::{Consumer, Next};

fn logger(dir: &TestDir) -> Logger {
    Logger::builder()
        .path(dir.join("ring"))
        .slot_count(64)
        .lanes(2)
        .level(Level::Info)
        .open()
        .unwrap()
}

/// What a lane holds, in ring order: a record's bytes, or `None` for a skipped slot.
fn raw_lane(log: &Logger, lane: usize) -> Vec<Option<Vec<u8>>> {
    let ring = log.segment().lane(lane).ring();
    // SAFETY: no drain runs in these tests; this consumer is the lane's only one and ends with
    // this function.
    let mut consumer = unsafe { Consumer::new(ring) };
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        match consumer.next(&mut buf) {
            Next::Record { .. } => out.push(Some(buf)),
            Next::Skipped => out.push(None),
            Next::Empty => return out,
            other => panic!("lane {lane}: {other:?}"),
        }
    }
}

/// Every lane's raw contents, the lanes that hold something only.
fn raw(log: &Logger) -> Vec<Vec<Option<Vec<u8>>>> {
    (0..log.segment().lane_count())
        .map(|l| raw_lane(log, l))
        .filter(|l| !l.is_empty())
        .collect()
}

fn args(payload: &[u8]) -> Vec<Arg<'_>> {
    Args::new(payload).collect::<Result<Vec<_>, _>>().unwrap()
}

#[test]
fn a_record_written_in_place_has_the_bytes_the_buffered_path_writes() {
    let dir = TestDir::new();
    let log = logger(&dir);
    let worker = String::from("p0-t0");
    // The first call takes the thread's lane, so it goes the buffered way; the second finds
    // the lane held and writes in place.
    for i in 0..2u64 {
        info!(
            log,
            "request {} served in {} us by {}",
            i,
            2.5f64,
            worker.as_str()
        );
    }
    let lanes = raw(&log);
    assert_eq!(lanes.len(), 1, "one thread, one lane");
    let records: Vec<Vec<u8>> = lanes[0].iter().map(|r| r.clone().unwrap()).collect();
    assert_eq!(records.len(), 2);
    let (a, b) = (
        decode_record(&records[0]).unwrap(),
        decode_record(&records[1]).unwrap(),
    );
    // Header: everything but the timestamp is the same; the timestamps are in call order.
    assert_eq!(
        (
            a.header.callsite,
            a.header.pid,
            a.header.tid,
            a.header.level
        ),
        (
            b.header.callsite,
            b.header.pid,
            b.header.tid,
            b.header.level
        )
    );
    assert_eq!(a.header.pid, std::process::id());
    assert_eq!((a.header.flags, b.header.flags), (0, 0));
    assert!(a.header.timestamp <= b.header.timestamp);
    assert_eq!(a.header.len, b.header.len);
    assert_eq!(a.header.len, 9 + 9 + 3 + 5);
    // Payload: the same encoding of the same arguments but the first.
    assert_eq!(
        args(a.payload),
        vec![Arg::U64(0), Arg::F64(2.5), Arg::Str("p0-t0")]
    );
    assert_eq!(
        args(b.payload),
        vec![Arg::U64(1), Arg::F64(2.5), Arg::Str("p0-t0")]
    );
}

#[test]
fn strings_of_every_short_length_arrive_whole_in_place() {
    // The in-place path copies short strings with overlapping word stores; every length up to
    // what one slot holds must come out byte for byte.
    let dir = TestDir::new();
    let log = logger(&dir);
    let text: String = ('a'..='z').chain('A'..='Z').collect();
    info!(log, "warm {}", 0u8); // takes the lane
    for n in 0..=29 {
        info!(log, "{}", &text[..n]);
    }
    let lanes = raw(&log);
    assert_eq!(lanes.len(), 1);
    let strings: Vec<String> = lanes[0][1..]
        .iter()
        .map(|r| {
            let r = r.as_ref().unwrap();
            let rec = decode_record(r).unwrap();
            assert_eq!(rec.header.flags, 0);
            match Args::new(rec.payload).next() {
                Some(Ok(Arg::Str(s))) => s.to_string(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let want: Vec<String> = (0..=29).map(|n| text[..n].to_string()).collect();
    assert_eq!(strings, want);
}

/// An argument whose `encode` panics after claiming to fit.
struct Explodes;

impl Encode for Explodes {
    fn encode(&self, _: &mut Encoder<'_>) {
        panic!("encode failed");
    }
    fn encoded_len(&self) -> usize {
        1
    }
}

#[test]
fn an_argument_that_panics_while_written_in_place_leaves_a_skipped_slot_and_the_lane_works_on() {
    let dir = TestDir::new();
    let log = logger(&dir);
    info!(log, "before {}", 1u32);
    let caught = catch_unwind(AssertUnwindSafe(|| info!(log, "boom {}", Explodes)));
    assert!(caught.is_err(), "the panic reaches the caller");
    info!(log, "after {}", 2u32);
    let lanes = raw(&log);
    assert_eq!(lanes.len(), 1);
    let lane = &lanes[0];
    // The panicking call had claimed and owned its slot (it was on the in-place path): the
    // guard published it as skipped, so the drain moves on instead of waiting for it.
    assert_eq!(lane.len(), 3, "{lane:?}");
    assert!(lane[0].is_some() && lane[1].is_none() && lane[2].is_some());
    let last = decode_record(lane[2].as_ref().unwrap()).unwrap();
    assert_eq!(
        Args::new(last.payload).next().unwrap().unwrap(),
        Arg::U64(2)
    );
}

/// An argument that writes more than its `encoded_len` says.
struct Understated(&'static str);

impl Encode for Understated {
    fn encode(&self, e: &mut Encoder<'_>) {
        e.str(self.0)
    }
    fn encoded_len(&self) -> usize {
        3
    }
}

#[test]
fn an_argument_that_understates_its_size_is_cut_to_the_slot_and_marked_truncated() {
    let dir = TestDir::new();
    let log = logger(&dir);
    info!(log, "warm {}", 0u8);
    let long = "x".repeat(100);
    let long: &'static str = Box::leak(long.into_boxed_str());
    info!(log, "{}", Understated(long));
    let lanes = raw(&log);
    let rec = lanes[0][1].as_ref().unwrap();
    let rec = decode_record(rec).unwrap();
    assert_eq!(rec.header.flags, ringlog_wire::record::FLAG_TRUNCATED);
    match Args::new(rec.payload).next() {
        Some(Ok(Arg::Str(s))) => {
            assert!(!s.is_empty() && s.len() < long.len() && s.bytes().all(|b| b == b'x'))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.stats().truncated, 1);
}

#[test]
fn records_too_long_for_one_slot_or_formatted_on_the_caller_take_the_buffered_path() {
    let dir = TestDir::new();
    let log = logger(&dir);
    info!(log, "warm {}", 0u8);
    let long = "y".repeat(100);
    info!(log, "long {}", long.as_str()); // sized, but spans two slots
    info!(log, "shown {}", std::net::Ipv4Addr::LOCALHOST); // Display only: formatted here
    info!(log, "debug", v = ?vec![1, 2]); // `?` field: formatted here
    let lanes = raw(&log);
    assert_eq!(lanes.len(), 1);
    let payloads: Vec<Vec<Arg<'_>>> = lanes[0]
        .iter()
        .map(|r| {
            let rec = decode_record(r.as_ref().unwrap()).unwrap();
            assert_eq!(rec.header.flags, 0);
            args(rec.payload)
        })
        .collect();
    assert_eq!(payloads.len(), 4);
    assert_eq!(payloads[1], vec![Arg::Str(&long)]);
    assert_eq!(payloads[2], vec![Arg::Display("127.0.0.1")]);
    assert_eq!(payloads[3], vec![Arg::Display("[1, 2]")]);
}

/// An argument that counts how often it is encoded.
struct Counted<'a>(&'a std::sync::atomic::AtomicUsize);

impl Encode for Counted<'_> {
    fn encode(&self, e: &mut Encoder<'_>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        e.u64(7)
    }
    fn encoded_len(&self) -> usize {
        9
    }
}

/// A `Policy::Drop` logger whose lanes hold four slots (no drain runs in these tests).
fn small_dropping_logger(dir: &TestDir) -> Logger {
    Logger::builder()
        .path(dir.join("ring"))
        .slot_count(4)
        .lanes(2)
        .policy(ringlog::Policy::Drop)
        .open()
        .unwrap()
}

#[test]
fn under_the_drop_policy_a_call_that_finds_its_lane_full_is_dropped_without_encoding() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = TestDir::new();
    let log = small_dropping_logger(&dir);
    let encoded = AtomicUsize::new(0);
    // Nobody drains: the first four records fill the thread's lane (the first takes it).
    for _ in 0..4 {
        info!(log, "kept {}", Counted(&encoded));
    }
    assert_eq!(encoded.load(Ordering::Relaxed), 4);
    for _ in 0..10 {
        info!(log, "dropped {}", Counted(&encoded));
    }
    // The full lane is found at the claim, before anything is encoded: a dropped call costs
    // neither the encoding nor a second clock read and push (the buffered path's).
    assert_eq!(
        encoded.load(Ordering::Relaxed),
        4,
        "dropped calls encoded nothing"
    );
    assert_eq!(log.stats().dropped, 10);
    let lanes = raw(&log);
    assert_eq!(lanes.len(), 1);
    assert_eq!(lanes[0].len(), 4);
    assert!(lanes[0].iter().all(|r| r.is_some()));
}

#[test]
fn under_the_drop_policy_a_bridge_call_after_a_drop_skips_its_encoding_until_the_lane_has_room() {
    use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
    use std::cell::Cell;
    use std::time::Duration;
    let dir = TestDir::new();
    let log = small_dropping_logger(&dir);
    // A bridge's callsite (`log`, `tracing` and Python register theirs at run time) and its
    // buffered call: the arguments are encoded before the push.
    let id = log
        .register_callsite(&CallsiteDesc {
            level: Level::Info,
            style: FormatStyle::Brace,
            line: 1,
            target: "bridge",
            module: "bridge",
            file: "bridge.rs",
            format: "n={}",
            fields: vec![],
            layout: "",
        })
        .unwrap();
    let encoded = Cell::new(0u64);
    let call = |n: u64| {
        log.log_with_id(id, Level::Info, |e| {
            encoded.set(encoded.get() + 1);
            e.u64(n)
        })
    };
    // Nobody drains: four records fill the thread's lane; the fifth is encoded, finds the
    // lane full and is dropped.
    for n in 0..5 {
        call(n);
    }
    assert_eq!((encoded.get(), log.stats().dropped), (5, 1));
    // While the lane stays full, the calls after a drop are dropped before their encoding.
    for n in 5..15 {
        call(n);
    }
    assert_eq!(
        (encoded.get(), log.stats().dropped),
        (5, 11),
        "calls after a drop on a full lane encoded their records"
    );
    // A drain frees the lane: the next call is encoded and written again.
    let mut reader = ringlog_segment::reader::Reader::new(log.segment().acquire_drain().unwrap());
    let (records, lost) = reader.read_owned(Duration::from_millis(100));
    assert_eq!((records.len(), lost.len()), (4, 0));
    call(15);
    assert_eq!((encoded.get(), log.stats().dropped), (6, 11));
    let (records, _) = reader.read_owned(Duration::from_millis(100));
    let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["n=15"]);
}
