//! The shared setup of the `log` and `tracing` bridge tests: a ring to log into, and draining
//! it through ringdrain's library into a file in a given format.
//!
//! This file is not part of the kit's library: it drives `ringdrain`, which the kit must not
//! depend on (ringdrain's own tests use the kit). The bridge crates' tests, which have
//! `ringdrain` and `ringlog` as dev-dependencies, include it with
//! `#[path = "../../ringlog-testkit/include/bridge.rs"] mod bridge;`.

use std::path::Path;

use ringdrain::drain::{run, DrainConfig, Output, Signals};
use ringdrain::format::Format;
use ringdrain::sink::Rotation;
use ringlog::{Level, Logger};

/// A ring of 4096 slots at `ring` (created if need be), logging at `level` and above.
pub fn logger(ring: &Path, level: Level) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 12)
        .level(level)
        .open()
        .expect("open ring")
}

/// Drains the ring's backlog into a new file `name` beside it, in `format`, and returns the
/// file's lines.
pub fn drain(ring: &Path, format: Format, name: &str) -> Vec<String> {
    let out = ring.with_file_name(name);
    let mut cfg = DrainConfig::new(
        ring.to_path_buf(),
        Output::File {
            path: out.clone(),
            rotation: Rotation::default(),
            mode: 0o600,
        },
    );
    cfg.format = format;
    cfg.once = true;
    run(&cfg, &Signals::default()).expect("drain");
    ringlog_testkit::lines::read_lines(&out)
}
