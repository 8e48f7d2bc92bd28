//! Outputs as encoders over one decoded view.
//!
//! The drain decodes each record once into ringlog-wire's [`RecordView`] and hands it, as an
//! [`Item`], to every output's [`Encoder`]: text, JSON and logfmt lines
//! ([`crate::format::LineEncoder`]), RFC 5424 syslog ([`crate::syslog::SyslogEncoder`]), OTLP
//! ([`crate::otlp::OtlpEncoder`]) and the binary archive ([`crate::archive::ArchiveEncoder`]).
//! An encoder appends bytes to the batch buffer it is given and knows nothing of sinks; a sink
//! only moves the bytes (tracing-subscriber's `FormatEvent` split).
//!
//! A batch is encoded item by item (with several rings merged by time, the drain reorders the
//! items' byte ranges), then [`Encoder::seal`] turns the batch's bytes into what is written:
//! nothing to do for lines, a chunk header, callsite table and optional compression for the
//! archive.

use ringlog_wire::decode::RecordRef;
use ringlog_wire::view::RecordView;

use crate::format::{Format, LineEncoder};

/// One record or notice to encode.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// The decoded view every encoder renders.
    pub view: &'a RecordView<'a>,
    /// The record's wire form, when it came from a ring: the archive keeps its argument bytes
    /// as they are, so decoding them later gives the same view, damage included.
    pub wire: Option<&'a RecordRef<'a>>,
    /// Which of the drain's rings it came from (callsite ids are per ring).
    pub source: u32,
}

impl<'a> Item<'a> {
    /// A view with no wire form (the drain's own notices, tools).
    pub fn view(view: &'a RecordView<'a>) -> Self {
        Item {
            view,
            wire: None,
            source: 0,
        }
    }

    /// A record read from ring number `source`.
    pub fn wire(view: &'a RecordView<'a>, wire: &'a RecordRef<'a>, source: u32) -> Self {
        Item {
            view,
            wire: Some(wire),
            source,
        }
    }
}

/// Encodes views for one output.
pub trait Encoder: std::fmt::Debug + Send {
    /// Appends `item`'s encoding to `out`. Each item's bytes stand alone until
    /// [`Encoder::seal`]: the drain may reorder them.
    fn encode(&mut self, out: &mut Vec<u8>, item: &Item<'_>);

    /// Turns the items encoded into `out[start..]` since the last seal into the bytes to
    /// write (in place), and starts a new batch. Lines need nothing; the default does nothing.
    fn seal(&mut self, out: &mut Vec<u8>, start: usize) {
        let _ = (out, start);
    }

    /// Whether this encoder reads the view's decoded arguments (message, fields, problems)
    /// of items that carry their wire form. The drain skips decoding the arguments when no
    /// output needs them (an archive keeps the wire bytes). Default: true.
    fn needs_args(&self) -> bool {
        true
    }
}

/// The encoder for a file or stdout output in `format`.
pub fn encoder(format: Format) -> Box<dyn Encoder> {
    match format.line() {
        Some(line) => Box::new(LineEncoder::new(line)),
        None => Box::new(crate::archive::ArchiveEncoder::new(
            crate::archive::Compression::None,
        )),
    }
}
