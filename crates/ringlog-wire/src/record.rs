//! The record header every record starts with, and log levels.

use bytemuck::{Pod, Zeroable};

/// Size of [`RecordHeader`] in bytes.
pub const RECORD_HEADER_LEN: usize = 24;

/// Record flag: the payload was cut to fit the largest record; the drain shows a marker.
pub const FLAG_TRUNCATED: u8 = 1;

/// The fixed header at the start of every record (host byte order; see `layout` for why).
///
/// ```text
/// offset  size  field
///      0     8  timestamp   raw clock reading (see `clock::Calibration`)
///      8     4  callsite    id in the callsite table (0: none, the message is the first arg)
///     12     4  pid         writer's process id
///     16     4  tid         writer's thread id
///     20     2  len         payload bytes (encoded arguments) after the header
///     22     1  level       `Level as u8`
///     23     1  flags       FLAG_TRUNCATED
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RecordHeader {
    /// Raw clock reading when the record was made.
    pub timestamp: u64,
    /// Callsite id (byte offset of its entry in the callsite table); 0 for none.
    pub callsite: u32,
    /// Writer's process id.
    pub pid: u32,
    /// Writer's thread id.
    pub tid: u32,
    /// Payload length in bytes.
    pub len: u16,
    /// Level (`Level as u8`).
    pub level: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
}

const _: () = {
    assert!(core::mem::size_of::<RecordHeader>() == RECORD_HEADER_LEN);
    assert!(core::mem::offset_of!(RecordHeader, callsite) == 8);
    assert!(core::mem::offset_of!(RecordHeader, pid) == 12);
    assert!(core::mem::offset_of!(RecordHeader, tid) == 16);
    assert!(core::mem::offset_of!(RecordHeader, len) == 20);
    assert!(core::mem::offset_of!(RecordHeader, level) == 22);
    assert!(core::mem::offset_of!(RecordHeader, flags) == 23);
};

/// Log levels, most severe first (the numeric order the filter compares).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something is wrong but work goes on.
    Warn = 2,
    /// Normal operation worth recording.
    Info = 3,
    /// Detail for debugging.
    Debug = 4,
    /// Very fine detail.
    Trace = 5,
}

impl Level {
    /// All levels, most severe first.
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    /// The level for a byte from a record, if valid.
    pub fn from_u8(v: u8) -> Option<Level> {
        Some(match v {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            5 => Level::Trace,
            _ => return None,
        })
    }

    /// Upper-case name, as the text format prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// Lower-case name, as JSON and logfmt print it.
    pub fn as_lower_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl core::fmt::Display for Level {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A level name that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {0:?} (expected error, warn, info, debug or trace)")]
pub struct ParseLevelError(pub String);

impl core::str::FromStr for Level {
    type Err = ParseLevelError;
    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return Err(ParseLevelError(s.to_string())),
        })
    }
}
