//! The `archive` target's check: any bytes through ringdrain's archive decoder.

use ringdrain::archive::{ArchiveEncoder, Compression, Decoder, Span, Step};
use ringdrain::encode::{Encoder, Item};
use ringdrain::format::{Format, Formatter};
use ringlog_wire::args::Arg;
use ringlog_wire::record::Level;
use ringlog_wire::view::RecordView;

/// Decodes `data` as an archive, chunk by chunk, rendering every entry as a text line: never
/// panics, always advances, and every rendered line is one `\n`-terminated line; so too when
/// only a span of time is wanted (its bounds from `data`'s first 16 bytes), where chunks with
/// nothing in it are passed over. Then the same bytes, as the strings of notices written into
/// a fresh archive (stored and zstd), decode back to exactly those notices, even with `data`
/// appended as trailing damage, and are passed over whole by a span after them.
pub fn check_archive(data: &[u8]) {
    decode_all(data, Span::default());
    if let Some(b) = data.get(..16) {
        let word = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        decode_all(
            data,
            Span {
                since: Some(word(0)),
                until: Some(word(8)),
            },
        );
    }
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
        let (recs, steps) = decode_all(&archive, Span::default());
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
        // Stamped 0..words: a span from `words` on passes the first chunk over.
        let after = Span {
            since: Some(words.len() as i64),
            until: None,
        };
        let mut d = Decoder {
            base: 0,
            span: after,
        };
        let mut seen = 0;
        let (step, used) = d.next(&archive, |_| seen += 1);
        let want = Step::Chunk {
            entries: words.len() as u64,
            damaged: None,
        };
        assert_eq!((step, used, seen), (want, whole, 0));
    }
}

/// Decodes every chunk of `data` that may hold entries in `span`; returns the entries and the
/// number of whole chunks.
fn decode_all(data: &[u8], span: Span) -> (Vec<ringlog_wire::view::OwnedRecord>, usize) {
    let mut f = Formatter::new(
        Format::Text,
        ringlog_wire::clock::Calibration::new(ringlog_wire::clock::ClockKind::Realtime, 0, 0, 0),
    );
    let mut d = Decoder { base: 0, span };
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

/// The `decode_parallel` target's check: `ringdrain decode` with two threads (`decode_to`,
/// `--format-threads 2`) writes the same lines, reports the same damage and counts the same as
/// one thread, on a valid archive large enough for the parallel path (64 chunks of 40 entries:
/// several jobs of at least 16 KiB) with `data` written over it. `data`'s first four bytes
/// choose where (little-endian, modulo the length), its fifth whether the file is also cut short
/// after the patch, the rest are the bytes written; shorter inputs decode the archive whole.
pub fn check_parallel_decode(data: &[u8]) {
    use std::sync::atomic::AtomicBool;
    use std::sync::OnceLock;
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let mut enc = ArchiveEncoder::new(Compression::None);
        let mut archive = Vec::new();
        let names = ["w", "n"];
        for chunk in 0..64u64 {
            let start = archive.len();
            for i in 0..40u64 {
                let word = format!("word-{chunk}-{i} \"quoted\"\tand\\escaped");
                let args = [Arg::Str(&word), Arg::U64(chunk * 1000 + i)];
                let view = RecordView::notice(
                    (chunk * 40 + i) as i64,
                    Level::Info,
                    1,
                    &word,
                    &names,
                    &args,
                );
                enc.encode(&mut archive, &Item::view(&view));
            }
            enc.seal(&mut archive, start);
        }
        archive
    });
    let mut bytes = base.clone();
    if data.len() > 5 {
        let at = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize % bytes.len();
        let patch = &data[5..];
        let end = (at + patch.len()).min(bytes.len());
        bytes[at..end].copy_from_slice(&patch[..end - at]);
        if data[4] & 1 == 1 {
            bytes.truncate(end);
        }
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a.rlog");
    std::fs::write(&path, &bytes).expect("the archive written");
    let decode = |threads| {
        let opts = ringdrain::decode::DecodeOptions {
            files: vec![path.clone()],
            format: ringdrain::format::LineFormat::Text,
            follow: false,
            threads,
            filter: Default::default(),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let report =
            ringdrain::decode::decode_to(&opts, &mut out, &mut err, &AtomicBool::new(false))
                .expect("decoding a file that exists");
        (out, err, report)
    };
    let one = decode(1);
    let two = decode(2);
    assert_eq!(two.2, one.2, "the counts");
    assert_eq!(
        String::from_utf8_lossy(&two.1),
        String::from_utf8_lossy(&one.1),
        "the damage reports"
    );
    assert!(two.0 == one.0, "the lines");
    if data.len() <= 5 {
        assert_eq!(one.2.entries, 64 * 40);
        assert_eq!(one.2.damaged, 0);
    }
}
