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

/// Log levels. `Level as u8` is the wire value; the filter compares [`Level::verbosity`], and
/// the order (`Ord`) is most severe first.
///
/// `Critical` came last (Python's `CRITICAL`), so it has the next free wire value (6) and
/// segments written before it still decode as they did; a filter treats it as `Error` (a filter
/// at `error` lets it through, and there is no filter level above `error`). The text format
/// prints it `CRIT` (five columns, like `WARN`), JSON and logfmt `critical`, syslog severity 2,
/// OTLP severity number 21.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// Something failed and the program may not go on (Python's `CRITICAL`).
    Critical = 6,
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
    /// The levels a filter can be set to, most severe first (`Critical` passes where `Error`
    /// does, see [`Level::verbosity`]).
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
            6 => Level::Critical,
            _ => return None,
        })
    }

    /// What a filter compares: 1 (`Critical` and `Error`) to 5 (`Trace`); a record passes a
    /// filter whose most verbose level has a verbosity at least this. 0 is "off" to filters.
    #[inline(always)]
    pub const fn verbosity(self) -> u8 {
        match self {
            Level::Critical => 1,
            l => l as u8,
        }
    }

    /// Severity rank for ordering: 0 (`Critical`) to 5 (`Trace`).
    const fn rank(self) -> u8 {
        match self {
            Level::Critical => 0,
            l => l as u8,
        }
    }

    /// Upper-case name, as the text format prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Critical => "CRIT",
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
            Level::Critical => "critical",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

impl PartialOrd for Level {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Level {
    /// Most severe first: `Critical < Error < Warn < Info < Debug < Trace`.
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl core::fmt::Display for Level {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A level name that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {0:?} (expected critical, error, warn, info, debug or trace)")]
pub struct ParseLevelError(pub String);

impl core::str::FromStr for Level {
    type Err = ParseLevelError;
    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "critical" | "crit" => Level::Critical,
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return Err(ParseLevelError(s.to_string())),
        })
    }
}

#[cfg(test)]
mod level_tests {
    use super::Level;

    #[test]
    fn critical_is_the_most_severe_level_and_filters_as_error() {
        let mut all = vec![Level::Trace, Level::Critical, Level::Info, Level::Error];
        all.sort();
        assert_eq!(
            all,
            [Level::Critical, Level::Error, Level::Info, Level::Trace]
        );
        assert_eq!(Level::Critical.verbosity(), Level::Error.verbosity());
        assert_eq!(Level::from_u8(Level::Critical as u8), Some(Level::Critical));
        assert_eq!(
            Level::Critical as u8,
            6,
            "the wire value of a level never changes"
        );
        assert_eq!(Level::from_u8(7), None);
        assert_eq!("CRITICAL".parse::<Level>(), Ok(Level::Critical));
        assert_eq!(format!("[{:<5}]", Level::Critical), "[CRIT ]");
        assert_eq!(Level::Critical.as_lower_str(), "critical");
    }
}
