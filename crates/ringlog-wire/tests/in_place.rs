//! Writing a record in place: `Encode::encoded_len` (the size a log call learns before it
//! claims a slot) and `Ring::own_one` / `OwnedSlot` (the slot it then writes into).

use std::mem::MaybeUninit;

use ringlog_wire::args::{Encode, Encoder, UNSIZED};
use ringlog_wire::ring::{Consumer, HeapSlots, Next, PushError, Ring, RingCursors, Stall};
use ringlog_wire::sync::AtomicU64;

/// Bytes `v` actually encodes to, with room to spare.
fn written<T: Encode + ?Sized>(v: &T) -> usize {
    let mut buf = [MaybeUninit::<u8>::uninit(); 512];
    let mut e = Encoder::new(&mut buf);
    v.encode(&mut e);
    assert!(!e.truncated());
    e.len()
}

fn assert_exact<T: Encode + ?Sized + std::fmt::Debug>(v: &T) {
    assert_eq!(v.encoded_len(), written(v), "{v:?}");
}

#[test]
fn every_built_in_type_knows_its_encoded_size_exactly() {
    assert_exact(&7u8);
    assert_exact(&7u16);
    assert_exact(&7u32);
    assert_exact(&7u64);
    assert_exact(&7u128);
    assert_exact(&7usize);
    assert_exact(&-7i8);
    assert_exact(&-7i16);
    assert_exact(&-7i32);
    assert_exact(&-7i64);
    assert_exact(&-7i128);
    assert_exact(&-7isize);
    assert_exact(&1.5f32);
    assert_exact(&1.5f64);
    assert_exact(&true);
    assert_exact(&'é');
    assert_exact("");
    assert_exact("p0-t0");
    assert_exact(&String::from("héllo"));
    assert_exact(&std::borrow::Cow::Borrowed("cow"));
    assert_exact(&b"bytes"[..]);
    assert_exact(&vec![1u8, 2, 3]);
    assert_exact(&[9u8; 4]);
    assert_exact(&&&5u32);
    assert_exact(&Some(5u64));
    assert_exact(&None::<u64>);
    assert_exact(&Some("inner"));
}

#[test]
fn a_type_that_does_not_say_its_size_is_unsized() {
    struct Plain;
    impl Encode for Plain {
        fn encode(&self, e: &mut Encoder<'_>) {
            e.u8(1)
        }
    }
    assert_eq!(Plain.encoded_len(), UNSIZED);
    assert_eq!(Some(Plain).encoded_len(), UNSIZED);
}

#[test]
fn strings_longer_than_a_length_field_say_more_than_they_can_write() {
    // The encoder cuts a value at u16::MAX bytes: the size is an upper bound there.
    let big = "z".repeat(70_000);
    assert_eq!(big.encoded_len(), 70_003);
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 80_000];
    let mut e = Encoder::new(&mut buf);
    big.encode(&mut e);
    assert!(e.truncated());
    assert_eq!(e.len(), 3 + u16::MAX as usize);
}

#[test]
fn an_encoder_over_initialised_bytes_writes_them_in_place_and_cuts_what_does_not_fit() {
    let mut bytes = [0xAAu8; 16];
    let mut e = Encoder::over(&mut bytes);
    e.u32(5);
    e.str("abcdefghij"); // 13 bytes: only 11 left
    assert!(e.truncated());
    let n = e.len();
    assert_eq!(&bytes[..5], &[3, 5, 0, 0, 0]);
    assert_eq!(bytes[5], 15, "the string's tag");
    assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]) as usize, n - 8);
    assert_eq!(&bytes[8..n], &b"abcdefghij"[..n - 8]);
}

#[test]
fn a_record_written_in_place_is_read_like_a_pushed_one() {
    let (cursors, slots) = (RingCursors::new(), HeapSlots::new(8, 56));
    let ring = Ring::new(&cursors, &slots, 4);
    let cache = AtomicU64::new(0);
    assert_eq!(ring.body_len(), 56);
    ring.push(&[1; 56], 42, &cache).unwrap();
    let mut slot = ring.own_one(43, &cache).unwrap();
    assert_eq!(slot.position(), 1);
    slot.fill(|body| {
        assert_eq!(body.len(), 56);
        body.fill(2)
    });
    assert_eq!(slot.commit(), 1);
    // SAFETY: the only consumer of this ring.
    let mut consumer = unsafe { Consumer::new(ring) };
    let mut out = Vec::new();
    assert_eq!(
        consumer.next(&mut out),
        Next::Record {
            pos: 0,
            span: 1,
            pid: 42
        }
    );
    out.clear();
    assert_eq!(
        consumer.next(&mut out),
        Next::Record {
            pos: 1,
            span: 1,
            pid: 43
        }
    );
    assert_eq!(out, vec![2; 56]);
    assert_eq!(consumer.next(&mut out), Next::Empty);
}

#[test]
fn an_owned_slot_dropped_unwritten_is_skipped_and_one_forgotten_waits_for_its_owner() {
    let (cursors, slots) = (RingCursors::new(), HeapSlots::new(8, 56));
    let ring = Ring::new(&cursors, &slots, 4);
    let cache = AtomicU64::new(0);
    // Dropped (a panic while filling): published as SKIP.
    drop(ring.own_one(7, &cache).unwrap());
    ring.push(&[3; 20], 7, &cache).unwrap();
    // Forgotten (the producer killed mid-record): stays WRITING with its pid.
    std::mem::forget(ring.own_one(9, &cache).unwrap());
    // SAFETY: the only consumer of this ring.
    let mut consumer = unsafe { Consumer::new(ring) };
    let mut out = Vec::new();
    assert_eq!(consumer.next(&mut out), Next::Skipped);
    assert!(matches!(
        consumer.next(&mut out),
        Next::Record { pos: 1, pid: 7, .. }
    ));
    assert_eq!(
        consumer.next(&mut out),
        Next::Stalled(Stall::Writing {
            pos: 2,
            pid: 9,
            span: 1
        })
    );
}

#[test]
fn a_full_ring_refuses_an_owned_slot_without_claiming() {
    let (cursors, slots) = (RingCursors::new(), HeapSlots::new(2, 56));
    let ring = Ring::new(&cursors, &slots, 1);
    let cache = AtomicU64::new(0);
    ring.push(&[1; 8], 1, &cache).unwrap();
    ring.push(&[1; 8], 1, &cache).unwrap();
    assert_eq!(
        ring.own_one(1, &cache).unwrap_err(),
        PushError::Full { span: 1 }
    );
    assert_eq!(cursors.claim.load(ringlog_wire::sync::Ordering::Relaxed), 2);
}

#[test]
fn is_full_answers_what_a_claim_would_without_claiming() {
    let (cursors, slots) = (RingCursors::new(), HeapSlots::new(4, 56));
    let ring = Ring::new(&cursors, &slots, 2);
    let cache = AtomicU64::new(0);
    assert!(!ring.is_full(1, &cache) && !ring.is_full(4, &cache));
    ring.push(&[1; 8], 1, &cache).unwrap();
    ring.push(&[1; 8], 1, &cache).unwrap();
    ring.push(&[1; 8], 1, &cache).unwrap();
    // One slot left: room for one slot, not for two.
    assert!(!ring.is_full(1, &cache));
    assert!(ring.is_full(2, &cache));
    ring.push(&[1; 8], 1, &cache).unwrap();
    assert!(ring.is_full(1, &cache));
    assert_eq!(
        ring.own_one(1, &cache).unwrap_err(),
        PushError::Full { span: 1 }
    );
    assert_eq!(
        cursors.claim.load(ringlog_wire::sync::Ordering::Relaxed),
        4,
        "nothing claimed"
    );
    // The drain frees two slots; the producer's cached read cursor is stale, and the look
    // refreshes it.
    // SAFETY: this test's only consumer of the ring.
    let mut consumer = unsafe { Consumer::new(ring) };
    let mut buf = Vec::new();
    for _ in 0..2 {
        assert!(matches!(consumer.next(&mut buf), Next::Record { .. }));
    }
    consumer.release();
    assert_eq!(
        cache.load(ringlog_wire::sync::Ordering::Relaxed),
        0,
        "stale"
    );
    assert!(!ring.is_full(2, &cache));
    assert!(ring.is_full(3, &cache));
    assert_eq!(
        cache.load(ringlog_wire::sync::Ordering::Relaxed),
        2,
        "refreshed"
    );
    ring.push(&[1; 8], 1, &cache).unwrap();
    ring.push(&[1; 8], 1, &cache).unwrap();
    assert!(ring.is_full(1, &cache));
}
