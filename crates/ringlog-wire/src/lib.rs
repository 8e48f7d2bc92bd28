//! The shared contract between ringlog's producers and its drain: the segment layout, the
//! lock-free ring protocol, the record header, the binary argument encoding, the callsite table
//! and the decoders. It does no I/O and holds no global state; every decoder takes untrusted
//! bytes and returns a `Result`. Both `ringlog` (producers) and `ringdrain` depend on it, never on
//! each other.
//!
//! | module | what it defines |
//! |---|---|
//! | [`layout`] | [`SegmentHeader`](layout::SegmentHeader), [`SharedState`](layout::SharedState), [`validate`](layout::validate) |
//! | [`ring`] | the MPSC ring: [`Ring`](ring::Ring), [`Claim`](ring::Claim)/[`Owned`](ring::Owned), [`Consumer`](ring::Consumer), [`Peeker`](ring::Peeker) |
//! | [`record`] | [`RecordHeader`](record::RecordHeader), [`Level`](record::Level) |
//! | [`args`] | [`Encoder`](args::Encoder), [`Encode`](args::Encode), [`Args`](args::Args) |
//! | [`callsite`] | [`CallsiteTable`](callsite::CallsiteTable), [`CallsiteDesc`](callsite::CallsiteDesc) |
//! | [`decode`] | [`decode_record`](decode::decode_record), [`render_message`](decode::render_message), [`Template`](decode::Template) |
//! | [`view`] | the one decoded view every output reads: [`RecordView`](view::RecordView), [`OwnedRecord`](view::OwnedRecord) |
//! | [`clock`] | [`Calibration`](clock::Calibration) |
//! | [`filter`] | `RUST_LOG`-style [`Directives`](filter::Directives), the one parser producers and the drain share |
//! | [`control`] | the control page: [`ControlBlock`](control::ControlBlock), directives set from outside under a seqlock |
//! | [`wake`] | the idle drain's wake word: [`announce_sleep`](wake::announce_sleep), [`asleep`](wake::asleep) and [`claim_wake`](wake::claim_wake) |
//! | [`pyfmt`] | Python's `%` formatting for Python producers' templates: [`parse_spec`](pyfmt::parse_spec), [`write_arg`](pyfmt::write_arg) |
//!
//! # Example: one record through a heap-backed ring
//!
//! ```
//! use core::mem::MaybeUninit;
//! use ringlog_wire::args::{Arg, Encoder};
//! use ringlog_wire::decode::decode_record;
//! use ringlog_wire::record::{Level, RecordHeader, RECORD_HEADER_LEN};
//! use ringlog_wire::ring::{Consumer, HeapSlots, Next, Ring, RingCursors};
//! use std::sync::atomic::AtomicU64;
//!
//! let (cursors, slots) = (RingCursors::new(), HeapSlots::new(8, 56));
//! let ring = Ring::new(&cursors, &slots, 4);
//!
//! // Producer: header + binary arguments, then push.
//! let mut buf = [MaybeUninit::uninit(); 256];
//! let mut enc = Encoder::new(&mut buf[RECORD_HEADER_LEN..]);
//! enc.u64(42);
//! enc.str("hello");
//! let len = enc.len();
//! let header = RecordHeader { callsite: 8, level: Level::Info as u8, len: len as u16, ..Default::default() };
//! let mut record = bytemuck::bytes_of(&header).to_vec();
//! record.extend_from_slice(enc.as_bytes());
//! ring.push(&record, 1234, &AtomicU64::new(0)).unwrap();
//!
//! // Drain: read, decode, release. (A segment's consumer comes from its drain lease; on the
//! // heap the caller vouches that there is one.)
//! // SAFETY: the only consumer of this ring.
//! let mut consumer = unsafe { Consumer::new(ring) };
//! let mut out = Vec::new();
//! assert!(matches!(consumer.next(&mut out), Next::Record { pid: 1234, .. }));
//! let rec = decode_record(&out).unwrap();
//! let args: Vec<_> = rec.args().collect::<Result<_, _>>().unwrap();
//! assert_eq!(args, [Arg::U64(42), Arg::Str("hello")]);
//! consumer.release();
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

pub mod args;
pub mod callsite;
pub mod clock;
pub mod control;
pub mod decode;
pub mod filter;
pub mod layout;
pub mod pyfmt;
pub mod record;
pub mod ring;
pub mod sync;
pub mod view;
pub mod wake;
