//! The `archive` target's check: any bytes through ringdrain's archive decoder.

use ringdrain::archive::{ArchiveEncoder, Compression, Decoder, Step};
use ringdrain::encode::{Encoder, Item};
use ringdrain::format::{Format, Formatter};
use ringlog_wire::args::Arg;
use ringlog_wire::record::Level;
use ringlog_wire::view::RecordView;

/// Decodes `data` as an archive, chunk by chunk, rendering every entry as a text line: never
/// panics, always advances, and every rendered line is one `\n`-terminated line. Then the same
/// bytes, as the strings of notices written into a fresh archive (stored and zstd), decode back
/// to exactly those notices, even with `data` appended as trailing damage.
pub fn check_archive(data: &[u8]) {
    decode_all(data);
    if data.len() > 4096 {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let words: Vec<&str> = text.split(' ').take(64).collect();
    for compression in [Compression::None, Compression::Zstd(1)] {
        let mut enc = ArchiveEncoder::new(compression);
        let mut archive = Vec::new();
        let names = ["w", "n"];
        for (i, w) in words.iter().enumerate() {
            let args = [Arg::Str(w), Arg::U64(i as u64)];
            let view = RecordView::notice(i as i64, Level::Info, 1, w, &names, &args);
            enc.encode(&mut archive, &Item::view(&view));
        }
        enc.seal(&mut archive, 0);
        let whole = archive.len();
        archive.extend_from_slice(data);
        let (recs, steps) = decode_all(&archive);
        assert!(
            recs.len() >= words.len(),
            "{} < {}",
            recs.len(),
            words.len()
        );
        for (i, (r, w)) in recs.iter().zip(&words).enumerate() {
            assert_eq!(r.message, *w);
            assert_eq!(r.unix_ns, i as i64);
            assert_eq!(r.fields.len(), 2);
        }
        if data.is_empty() {
            assert_eq!(steps, 1, "one chunk of {whole} bytes");
        }
    }
}

/// Decodes every chunk of `data`; returns the entries and the number of whole chunks.
fn decode_all(data: &[u8]) -> (Vec<ringlog_wire::view::OwnedRecord>, usize) {
    let mut f = Formatter::new(
        Format::Text,
        ringlog_wire::clock::Calibration::new(ringlog_wire::clock::ClockKind::Realtime, 0, 0, 0),
    );
    let mut d = Decoder::default();
    let mut at = 0;
    let mut recs = Vec::new();
    let mut chunks = 0;
    loop {
        let mut line = Vec::new();
        let (step, used) = d.next(&data[at..], |v| {
            line.clear();
            f.encode(&mut line, v);
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            recs.push(v.to_owned_record());
        });
        match step {
            Step::Incomplete { .. } => {
                assert_eq!(used, 0);
                return (recs, chunks);
            }
            Step::Chunk { .. } => chunks += 1,
            Step::Skipped { bytes, .. } => assert_eq!(bytes as usize, used),
        }
        assert!(used > 0, "no progress at {at}");
        at += used;
        assert!(at <= data.len());
    }
}
