//! The binary archive end to end: `ringdrain --format binary` then `ringdrain decode` gives the
//! text drain's bytes exactly; a damaged or cut archive decodes what is whole and says what it
//! skipped; a binary drain killed and restarted loses and duplicates nothing.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use ringlog::{info, warn, ClockChoice, Logger};
use ringlog_testkit::{Drain, TestDir};
use ringlog_tests::{assert_prefix, rounds, split_log, Rng};

/// A ring of `slots` slots on the realtime clock (so two drains of copies of it convert every
/// timestamp the same way).
fn logger(ring: &Path, slots: u64) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(slots)
        .clock(ClockChoice::Realtime)
        .open()
        .expect("create ring")
}

/// Logs `n` records of many shapes: fields, escapes, unicode, long strings, byte slices.
fn log_variety(log: &Logger, n: u64) {
    for i in 0..n {
        match i % 6 {
            0 => info!(
                log,
                "request {} served in {} us",
                i,
                i as f64 / 4.0,
                worker = "w"
            ),
            1 => warn!(log, "line\nbreak and \"quotes\" \u{202e} {}", i, ok = true),
            2 => info!(log, "unicode héllo ✓ 日本 {}", i, bytes = &b"\x00\x01"[..]),
            3 => info!(
                log,
                "long {} {}",
                i,
                "x".repeat((i % 300) as usize),
                ms = 1.5f32
            ),
            4 => info!(log, "no args at all"),
            _ => info!(log, "{} {} {}", i as i128 * -3, 'c', u64::MAX),
        }
    }
}

/// `ringdrain --once --ring RING --out OUT EXTRA...`, which must succeed.
fn drain_once(ring: &Path, out: &Path, extra: &[&str]) {
    Drain::command()
        .args(["--once", "--ring"])
        .arg(ring)
        .arg("--out")
        .arg(out)
        .args(extra)
        .expect_success();
}

/// `ringdrain decode ARGS...` (not required to succeed).
fn decode(args: &[&Path], extra: &[&str]) -> Output {
    Drain::command()
        .arg("decode")
        .args(extra)
        .args(args)
        .output()
}

/// What `ringdrain decode EXTRA --format-threads THREADS FILE` prints, asserting it succeeds.
fn decoded(file: &Path, extra: &[&str], threads: &str) -> String {
    let out = decode(&[file], &[extra, &["--format-threads", threads]].concat());
    assert!(out.status.success(), "{extra:?}, {threads} threads");
    String::from_utf8(out.stdout).unwrap()
}

/// `base`'s rotated files oldest first, then `base` itself.
fn rotated_in_order(base: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..1000)
        .map(|i| PathBuf::from(format!("{}.{i}", base.display())))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    files.push(base.to_path_buf());
    files
}

fn concat(files: &[PathBuf]) -> Vec<u8> {
    files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect()
}

fn copy_ring(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy the ring");
}

#[test]
fn decoding_a_binary_drain_gives_the_text_drains_bytes() {
    let e = TestDir::new();
    let ring = e.ring();
    let log = logger(&ring, 1 << 15);
    log_variety(&log, 20_000);
    drop(log);
    let copies: Vec<PathBuf> = (0..4).map(|i| e.join(format!("copy{i}.ring"))).collect();
    for c in &copies {
        copy_ring(&ring, c);
    }
    // Small rotation: many chunks and several files, rotated at different points for text
    // and binary (their sizes differ); the concatenations must still agree.
    let rot = ["--rotate-size", "256k", "--rotate-keep", "100"];
    let text = e.join("app.log");
    drain_once(&copies[0], &text, &rot);
    let json = e.join("app.json");
    drain_once(
        &copies[1],
        &json,
        &[&["--format", "json"][..], &rot].concat(),
    );
    let bin = e.join("app.rlog");
    drain_once(
        &copies[2],
        &bin,
        &[&["--format", "binary"][..], &rot].concat(),
    );
    let zst = e.join("app.zst.rlog");
    drain_once(
        &copies[3],
        &zst,
        &[&["--format", "binary", "--archive-zstd", "3"][..], &rot].concat(),
    );
    let text_bytes = concat(&rotated_in_order(&text));
    assert_eq!(
        text_bytes.iter().filter(|&&b| b == b'\n').count(),
        20_000,
        "the text drain wrote every record"
    );
    let bin_files = rotated_in_order(&bin);
    assert!(bin_files.len() > 1, "the archive rotated");
    let refs: Vec<&Path> = bin_files.iter().map(PathBuf::as_path).collect();
    let out = decode(&refs, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == text_bytes,
        "decode differs from the text drain"
    );

    let out = decode(&refs, &["--format", "json"]);
    assert!(out.status.success());
    assert!(
        out.stdout == concat(&rotated_in_order(&json)),
        "JSON differs"
    );

    let zst_files = rotated_in_order(&zst);
    let zrefs: Vec<&Path> = zst_files.iter().map(PathBuf::as_path).collect();
    let out = decode(&zrefs, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == text_bytes,
        "decode of the zstd archive differs"
    );
    let (bin_size, zst_size) = (concat(&bin_files).len(), concat(&zst_files).len());
    assert!(zst_size < bin_size, "zstd chunks: {zst_size} >= {bin_size}");
}

/// An archive of many chunks, and the text the drain writes for the same records. The
/// drain rotates (a rotation size also caps each batch, so chunks are small); with no file
/// header, the rotated files concatenated are one archive.
fn archive_and_text(e: &TestDir, n: u64) -> (Vec<u8>, String) {
    archive_and_text_with(e, n, &[])
}

/// [`archive_and_text`] with `extra` flags for the binary drain (say, `--archive-zstd 1`).
fn archive_and_text_with(e: &TestDir, n: u64, extra: &[&str]) -> (Vec<u8>, String) {
    let ring = e.ring();
    let log = logger(&ring, 1 << 15);
    log_variety(&log, n);
    drop(log);
    let copy = e.join("copy.ring");
    copy_ring(&ring, &copy);
    let rot = ["--rotate-size", "256k", "--rotate-keep", "1000"];
    let text = e.join("app.log");
    drain_once(&copy, &text, &rot);
    let bin = e.join("app.rlog");
    drain_once(
        &ring,
        &bin,
        &[&["--format", "binary"][..], &rot, extra].concat(),
    );
    (
        concat(&rotated_in_order(&bin)),
        String::from_utf8(concat(&rotated_in_order(&text))).unwrap(),
    )
}

/// Chunk boundaries of an archive: where each chunk starts.
fn chunk_starts(bytes: &[u8]) -> Vec<usize> {
    let mut at = 0;
    let mut starts = Vec::new();
    while at < bytes.len() {
        starts.push(at);
        let (_, _, used) = ringdrain::archive::read_chunk(&bytes[at..]).expect("a whole chunk");
        at += used;
    }
    starts
}

#[test]
fn a_cut_or_damaged_archive_decodes_every_whole_chunk_and_says_what_it_skipped() {
    let e = TestDir::new();
    let (bytes, text) = archive_and_text(&e, 20_000);
    let starts = chunk_starts(&bytes);
    assert!(starts.len() >= 4, "only {} chunks", starts.len());
    let lines: Vec<&str> = text.lines().collect();

    // Cut in the middle of the third chunk's payload.
    let cut_at = starts[2] + (starts[3] - starts[2]) / 2;
    let cut = e.join("cut.rlog");
    std::fs::write(&cut, &bytes[..cut_at]).unwrap();
    let out = decode(&[&cut], &[]);
    assert_eq!(out.status.code(), Some(65), "damage exits 65");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "skipped {} bytes at offset {}",
            cut_at - starts[2],
            starts[2]
        )) && err.contains("incomplete chunk"),
        "{err}"
    );
    let got = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&got),
        "a cut archive decodes to a prefix of the text"
    );
    let whole_two = got.lines().count();
    assert!(whole_two > 0 && whole_two < lines.len());

    // Cut inside a chunk header.
    let cut2 = e.join("cut2.rlog");
    std::fs::write(&cut2, &bytes[..starts[1] + 20]).unwrap();
    let out = decode(&[&cut2], &[]);
    assert_eq!(out.status.code(), Some(65));
    assert!(text.starts_with(std::str::from_utf8(&out.stdout).unwrap()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 20 bytes"));

    // Flip bytes inside the second chunk: it is skipped, every other chunk decodes.
    let mut damaged = bytes.clone();
    for k in [100, 101, 5000] {
        let at = (starts[1] + k).min(starts[2] - 1);
        damaged[at] ^= 0x5a;
    }
    let flipped = e.join("flipped.rlog");
    std::fs::write(&flipped, &damaged).unwrap();
    let out = decode(&[&flipped], &[]);
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "skipped {} damaged bytes at offset {}: chunk checksum mismatch",
            starts[2] - starts[1],
            starts[1]
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let got = String::from_utf8(out.stdout).unwrap();
    let got: Vec<&str> = got.lines().collect();
    // What decoded is the text with one run of lines (the second chunk's) taken out.
    let head = got.iter().zip(&lines).take_while(|(a, b)| a == b).count();
    let tail = got
        .iter()
        .rev()
        .zip(lines.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    assert_eq!(
        head + tail,
        got.len(),
        "decoded lines are not the text minus one run"
    );
    assert!(got.len() < lines.len());

    // Damage to a header: the chunk is skipped up to the next header too.
    let mut damaged = bytes.clone();
    damaged[starts[3] + 10] = b'z';
    std::fs::write(&flipped, &damaged).unwrap();
    let out = decode(&[&flipped], &[]);
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged chunk header"));

    // Not an archive at all: every byte is reported skipped, nothing printed, no panic.
    let whole = e.join("whole.rlog");
    std::fs::write(&whole, &bytes).unwrap();
    let out = decode(&[&whole], &[]);
    assert!(
        out.status.success() && out.stdout == text.as_bytes(),
        "concatenated files"
    );
    let out = decode(&[&e.join("app.log")], &[]);
    assert_eq!(out.status.code(), Some(65));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a chunk header"), "{err}");
    assert!(!err.contains("panicked"));
}

/// Makes the chunk at `start` of `bytes` check again after its stored payload was changed:
/// its payload checksum, then its header checksum, written anew.
fn reseal(bytes: &mut [u8], start: usize) {
    use ringdrain::archive::{ChunkHeader, HEADER_LEN};
    let h = ChunkHeader::parse(&bytes[start..]).expect("a chunk header");
    let payload = start + HEADER_LEN..start + HEADER_LEN + h.stored_len;
    let crc = crc32fast::hash(&bytes[payload]);
    bytes[start + 31..start + 39].copy_from_slice(format!("{crc:08x}").as_bytes());
    let crc = crc32fast::hash(&bytes[start..start + 39]);
    bytes[start + 39..start + 47].copy_from_slice(format!("{crc:08x}").as_bytes());
}

#[test]
fn decode_writes_the_same_bytes_and_reports_the_same_damage_with_any_thread_count() {
    let e = TestDir::new();
    let (bytes, text) = archive_and_text_with(&e, 20_000, &["--archive-zstd", "1"]);
    let text = text.into_bytes();
    let starts = chunk_starts(&bytes);
    assert!(starts.len() >= 9, "only {} chunks", starts.len());

    // A chunk whose checksums hold but whose payload does not decompress (its zstd magic
    // garbled, the checksums made to hold again); another with a bad checksum; a damaged
    // header; a cut last chunk.
    let mut damaged = bytes.clone();
    // (Chunk 3: with two threads the decoder's jobs here are pairs of chunks, so it is the
    // second of its job, whose first chunk's lines must still be written.)
    let payload = starts[3] + ringdrain::archive::HEADER_LEN;
    damaged[payload..payload + 4].copy_from_slice(b"nope");
    reseal(&mut damaged, starts[3]);
    damaged[starts[5] + 60] ^= 0x5a;
    damaged[starts[7] + 10] = b'z';
    let last = *starts.last().unwrap();
    damaged.truncate(last + (bytes.len() - last) / 2);
    let whole = e.join("whole.rlog");
    std::fs::write(&whole, &bytes).unwrap();
    let broken = e.join("broken.rlog");
    std::fs::write(&broken, &damaged).unwrap();

    for (file, format) in [(&whole, "text"), (&whole, "json"), (&broken, "text")] {
        let runs: Vec<(String, Output)> = ["1", "2", "4"]
            .iter()
            .map(|t| {
                let out = decode(&[file], &["--format", format, "--format-threads", t]);
                (t.to_string(), out)
            })
            .collect();
        let (_, one) = &runs[0];
        for (threads, out) in &runs[1..] {
            assert_eq!(
                out.status.code(),
                one.status.code(),
                "{format}, {threads} threads"
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&one.stderr),
                "{format}, {threads} threads: what was skipped"
            );
            assert!(
                out.stdout == one.stdout,
                "{format}, {threads} threads: the lines differ from one thread's"
            );
        }
        if file == &whole && format == "text" {
            assert!(one.status.success());
            assert!(one.stdout == text, "decode differs from the text drain");
        }
        if file == &broken {
            assert_eq!(one.status.code(), Some(65));
            let err = String::from_utf8_lossy(&one.stderr);
            assert!(
                err.contains(&format!(
                    "skipped {} damaged bytes at offset {}: chunk does not decompress",
                    starts[4] - starts[3],
                    starts[3]
                )),
                "{err}"
            );
            assert!(err.contains("chunk checksum mismatch"), "{err}");
            assert!(err.contains("damaged chunk header"), "{err}");
            assert!(err.contains("incomplete chunk"), "{err}");
            assert_eq!(err.lines().count(), 4, "{err}");
            // Every chunk but the four damaged ones decoded.
            let lines = one.stdout.iter().filter(|&&b| b == b'\n').count();
            assert!(lines > 0 && lines < 20_000, "{lines} lines");
        }
    }
}

/// `-` is standard input: the rotated files one after another on stdin (`cat app.rlog.*
/// app.rlog | ringdrain decode -`) decode to the text drain's bytes, `--follow` ends with the
/// input (stdin is not a file that grows), and damage is reported against `-`.
#[test]
fn decode_reads_standard_input_given_as_a_dash() {
    let e = TestDir::new();
    let (bytes, text) = archive_and_text(&e, 5_000);
    let piped = |input: &[u8], extra: &[&str]| {
        let file = e.join("stdin.rlog");
        std::fs::write(&file, input).unwrap();
        Drain::command()
            .arg("decode")
            .args(extra)
            .arg("-")
            .stdin_from(std::fs::File::open(&file).unwrap())
            .output()
    };
    for extra in [&[][..], &["--follow"], &["--format-threads", "2"]] {
        let out = piped(&bytes, extra);
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == text.as_bytes(),
            "{extra:?}: not the text drain's bytes"
        );
    }
    let cut = piped(&bytes[..bytes.len() - 10], &[]);
    assert_eq!(cut.status.code(), Some(65), "a cut input exits 65");
    let err = String::from_utf8_lossy(&cut.stderr);
    assert!(
        err.contains("ringdrain: decode: -: skipped")
            && err.contains("an incomplete chunk (the input ended inside it)"),
        "{err}"
    );
    assert!(text.as_bytes().starts_with(&cut.stdout));
}

/// `decode --level` and `--target` print what `cat --level --target` would choose: the text
/// drain's lines at that level or more severe, or from targets starting with the prefix, with
/// any thread count.
#[test]
fn decode_prints_only_the_levels_and_targets_asked_for() {
    let e = TestDir::new();
    let (bytes, text) = archive_and_text(&e, 6_000);
    let file = e.join("all.rlog");
    std::fs::write(&file, &bytes).unwrap();
    let warn: String = text
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("WARN"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        warn.lines().count(),
        1_000,
        "one record in six is a warning"
    );
    let first = text.lines().next().unwrap();
    let target = first.split("] ").nth(1).unwrap().split(':').next().unwrap();
    let prefix = &target[..target.len() - 1];
    for threads in ["1", "2"] {
        let run = |extra: &[&str]| decoded(&file, extra, threads);
        assert!(
            run(&["--level", "warn"]) == warn,
            "{threads} threads: --level warn"
        );
        assert!(
            run(&["--level", "trace"]) == text,
            "{threads} threads: --level trace"
        );
        assert!(
            run(&["--target", prefix]) == text,
            "{threads} threads: --target {prefix}"
        );
        assert!(run(&["--target", "no-such-target"]).is_empty());
        assert!(run(&["--level", "error"]).is_empty());
    }
}

/// `decode --since` and `--until` print the text drain's lines stamped in the span (their
/// RFC 3339 stamps compare as strings), with any thread count, over an archive of several
/// chunks (those wholly outside the span are passed over unparsed).
#[test]
fn decode_since_and_until_print_the_text_drains_lines_in_the_span() {
    let e = TestDir::new();
    let (bytes, text) = archive_and_text(&e, 6_000);
    let file = e.join("all.rlog");
    std::fs::write(&file, &bytes).unwrap();
    let chunks = chunk_starts(&bytes).len();
    assert!(chunks >= 4, "{chunks} chunks");
    let stamp = |l: &str| l.split(' ').next().unwrap().to_string();
    let lines: Vec<&str> = text.lines().collect();
    let (since, until) = (stamp(lines[2_000]), stamp(lines[4_000]));
    let want = |lo: Option<&str>, hi: Option<&str>| -> String {
        lines
            .iter()
            .filter(|l| {
                let t = stamp(l);
                lo.is_none_or(|lo| t.as_str() >= lo) && hi.is_none_or(|hi| t.as_str() < hi)
            })
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let span = want(Some(&since), Some(&until));
    assert!(
        (1_900..=2_100).contains(&span.lines().count()),
        "{}",
        span.lines().count()
    );
    for threads in ["1", "2"] {
        let run = |extra: &[&str]| decoded(&file, extra, threads);
        assert!(
            run(&["--since", &since, "--until", &until]) == span,
            "{threads} threads: --since {since} --until {until}"
        );
        assert!(run(&["--since", &since]) == want(Some(&since), None));
        assert!(run(&["--until", &until]) == want(None, Some(&until)));
        assert!(run(&["--since", "2200-01-01T00:00:00Z"]).is_empty());
    }
}

#[test]
fn decode_follow_prints_chunks_as_a_running_binary_drain_appends_them() {
    let e = TestDir::new();
    let ring = e.ring();
    let log = logger(&ring, 1 << 14);
    let bin = e.join("app.rlog");
    let drain = Drain::start(&ring, &bin, &["--format", "binary"]);
    ringlog_testkit::segment::wait_attached(&ring);
    info!(log, "first {}", 1u32);
    ringlog_testkit::wait_until("the archive has a chunk", Duration::from_secs(60), || {
        std::fs::metadata(&bin).is_ok_and(|m| m.len() > 0)
    });
    let follow = ringlog_testkit::TestCommand::new(ringlog_testkit::bin!("ringdrain"))
        .args(["decode", "--follow"])
        .arg(&bin)
        .spawn();
    for i in 0..100u32 {
        info!(log, "later {}", i);
    }
    ringlog_testkit::wait_until(
        "decode --follow printed 101 lines",
        Duration::from_secs(60),
        || follow.stdout().lines().count() >= 101,
    );
    follow.signal(libc::SIGINT);
    let out = follow.finish(Duration::from_secs(60));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 101, "{text}");
    assert!(lines[0].ends_with("first 1"), "{}", lines[0]);
    assert!(lines[100].ends_with("later 99"), "{}", lines[100]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drain.stop();
}

#[test]
fn a_binary_drain_killed_and_restarted_loses_and_duplicates_nothing() {
    let mut rng = Rng::from_env("killed_binary_drain");
    let e = TestDir::new();
    // The ring holds every record, so producers never wait on the dead drain.
    logger(&e.ring(), 1 << 20);
    let n = 150_000u64;
    let producer = |name: &str| {
        ringlog_testkit::TestCommand::new(ringlog_testkit::bin!("ringlog-test-producer"))
            .arg(e.ring())
            .args(["load", name, &n.to_string()])
            .spawn()
    };
    let mut pa = producer("a");
    let mut pb = producer("b");
    let bin = e.join("app.rlog");
    let n_rounds = rounds(15);
    for r in 0..n_rounds {
        // Half the rounds compress chunks: reconciliation must work for either.
        let zstd: &[&str] = if r % 2 == 0 {
            &[]
        } else {
            &["--archive-zstd", "1"]
        };
        let d = Drain::start(
            &e.ring(),
            &bin,
            &[&["--format", "binary"][..], zstd].concat(),
        );
        std::thread::sleep(Duration::from_micros(rng.range(2_000, 60_000)));
        d.kill();
    }
    assert!(pa.wait(Duration::from_secs(120)).success());
    assert!(pb.wait(Duration::from_secs(120)).success());
    drain_once(&e.ring(), &bin, &["--format", "binary"]);
    let out = decode(&[&bin], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.is_empty(),
        "decode reported damage: {err}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (by_worker, other) = split_log(&text);
    assert!(
        other.is_empty(),
        "unparseable or unexpected lines: {:?}",
        &other[..other.len().min(3)]
    );
    assert_eq!(assert_prefix("a", &by_worker["a"]), n);
    assert_eq!(assert_prefix("b", &by_worker["b"]), n);
    eprintln!(
        "killed_binary_drain: {n_rounds} drain kills, {} records checked",
        2 * n
    );
}
