//! Forwarding to syslog receivers (rsyslog, syslog-ng, journald's remote, ...): one RFC 5424
//! message per record, framed by octet counting (RFC 6587), over TCP or TLS (RFC 5425).
//!
//! ```text
//! 187 <14>1 2026-11-25T23:18:53.123456Z web1 myapp 4242 - [ringlog@32473 tid="4243" target="app::http" file="src/http.rs" line="88" status="200"] request 7 served
//! ```
//!
//! PRI is `facility * 8 + severity` (ERROR 3, WARN 4, INFO 6, DEBUG and TRACE 7); the timestamp
//! is RFC 3339 UTC with microseconds (RFC 5424's limit); PROCID is the producer's pid; MSGID is
//! `-`; one SD-ELEMENT `[ringlog@32473 ...]` carries the thread id, target, file, line and the
//! record's fields (32473 is the private enterprise number RFC 5612 reserves for examples). MSG
//! is the message, preceded by a UTF-8 BOM only when it is not pure ASCII (RFC 5424 MSG-UTF8;
//! pure ASCII is valid MSG-ANY).
//!
//! # Delivery
//!
//! Plain TCP syslog has no acknowledgement: a sender cannot learn what the receiver processed.
//! [`SyslogSink`] narrows what can go wrong as far as the socket tells:
//!
//! * A batch is accepted (and its records leave the ring) when it is fully written to the
//!   socket. A write error drops the connection; the drain keeps the batch and retries it on a
//!   new connection (with back-off), so a batch half-sent when the connection broke is sent
//!   whole again: its first part may arrive twice.
//! * The sink keeps the most recently written batches in memory: all bytes the peer's TCP has
//!   not acknowledged yet (`SIOCOUTQ`) plus the last `resend_bytes` of acknowledged ones. After a
//!   connection is lost they are sent again first, so what sat in the socket buffers or in the
//!   receiver's unread queue when the receiver went down is not lost (it may arrive twice).
//! * Before each batch the sink checks whether the receiver closed the connection. After a
//!   close in order (FIN) only the batches written in the last [`RESEND_AFTER_CLOSE`] are sent
//!   again (a receiver shutting down may read and drop what arrives meanwhile), so a receiver
//!   restarted while the drain was idle gets no duplicates.
//!
//! docs/OPERATIONS.md ("Forwarding over the network") states the resulting window.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlog_wire::args::Arg;
use ringlog_wire::decode::{write_display, Out};
use ringlog_wire::record::Level;

use crate::encode::{Encoder, Item};
use crate::format::{Entry, Timestamps};
use crate::net::{Connector, Endpoint, PeerState};

/// The SD-ID of the structured-data element every message carries.
pub const SD_ID: &str = "ringlog@32473";

/// Bytes of acknowledged messages kept to send again after a connection loss, by default.
pub const DEFAULT_RESEND_BYTES: usize = 4 << 20;

/// URL schemes `--syslog` accepts: `tcp://` (default port 514) and `tls://` (6514, RFC 5425).
pub const SCHEMES: &[(&str, bool, u16)] = &[("tcp", false, 514), ("tls", true, 6514)];

/// Facility names (RFC 5424 table 1, with the names syslog daemons use), by code.
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Parses a facility: a name (`user`, `daemon`, `local0` ... `local7`, ...) or its code 0..=23.
pub fn parse_facility(s: &str) -> Result<u8, String> {
    let t = s.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<u8>() {
        if n < 24 {
            return Ok(n);
        }
    }
    FACILITIES
        .iter()
        .position(|f| *f == t)
        .map(|i| i as u8)
        .ok_or_else(|| {
            format!("{s:?} is not a syslog facility (user, daemon, local0..local7, ... or 0..23)")
        })
}

/// RFC 5424 severity of a level.
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Critical => 2,
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// PRI: `facility * 8 + severity`.
pub fn pri(facility: u8, level: Level) -> u8 {
    facility * 8 + severity(level)
}

/// The parts of the HEADER that do not change from record to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    facility: u8,
    hostname: String,
    app_name: String,
}

impl Header {
    /// Checks the fields against RFC 5424 (printable US-ASCII; HOSTNAME at most 255 characters,
    /// APP-NAME at most 48; facility 0..=23).
    pub fn new(facility: u8, hostname: &str, app_name: &str) -> Result<Header, String> {
        if facility > 23 {
            return Err(format!("syslog facility {facility} is out of range 0..23"));
        }
        check_printable("hostname", hostname, 255)?;
        check_printable("app-name", app_name, 48)?;
        Ok(Header {
            facility,
            hostname: hostname.to_string(),
            app_name: app_name.to_string(),
        })
    }

    /// `name` made into a valid HOSTNAME or APP-NAME: characters outside printable US-ASCII
    /// become `_`, cut to `max` characters; `-` (NILVALUE) if empty.
    pub fn sanitize(name: &str, max: usize) -> String {
        let s: String = name
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .take(max)
            .collect();
        if s.is_empty() {
            "-".to_string()
        } else {
            s
        }
    }

    /// The facility code.
    pub fn facility(&self) -> u8 {
        self.facility
    }
}

fn check_printable(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "syslog {what} {s:?} must be 1 to {max} printable ASCII characters without spaces"
        ));
    }
    Ok(())
}

/// Encodes each view as one octet-counted RFC 5424 message.
#[derive(Debug)]
pub struct SyslogEncoder {
    header: Arc<Header>,
    ts: Timestamps,
}

impl SyslogEncoder {
    /// An encoder stamping every message with `header`.
    pub fn new(header: Arc<Header>) -> Self {
        SyslogEncoder {
            header,
            ts: Timestamps::default(),
        }
    }
}

impl Encoder for SyslogEncoder {
    fn encode(&mut self, out: &mut Vec<u8>, item: &Item<'_>) {
        crate::format::with_entry(item.view, |e| encode(&mut self.ts, out, &self.header, e))
    }
}

/// Appends one record as an octet-counted RFC 5424 message (`LEN SP SYSLOG-MSG`).
pub(crate) fn encode(ts: &mut Timestamps, out: &mut Vec<u8>, h: &Header, e: &Entry<'_>) {
    let start = out.len();
    out.push(b'<');
    out.extend_from_slice(
        itoa::Buffer::new()
            .format(pri(h.facility, e.level))
            .as_bytes(),
    );
    out.extend_from_slice(b">1 ");
    if !ts.write_frac(out, e.unix_ns, 6) {
        out.push(b'-');
    }
    out.push(b' ');
    out.extend_from_slice(h.hostname.as_bytes());
    out.push(b' ');
    out.extend_from_slice(h.app_name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(e.pid).as_bytes());
    out.extend_from_slice(b" - [");
    out.extend_from_slice(SD_ID.as_bytes());
    sd_param(out, "tid", &Arg::U64(e.tid.into()));
    if !e.target.is_empty() {
        sd_param(out, "target", &Arg::Str(e.target));
    }
    if !e.file.is_empty() {
        sd_param(out, "file", &Arg::Str(e.file));
        sd_param(out, "line", &Arg::U64(e.line.into()));
    }
    for (name, value) in e.fields {
        sd_param(out, name, value);
    }
    out.push(b']');
    if !e.message.is_empty() {
        out.push(b' ');
        if !e.message.is_ascii() {
            out.extend_from_slice("\u{feff}".as_bytes());
        }
        out.extend_from_slice(e.message.as_bytes());
    }
    let len = out.len() - start;
    let mut prefix = itoa::Buffer::new().format(len).as_bytes().to_vec();
    prefix.push(b' ');
    out.splice(start..start, prefix);
}

/// Appends ` NAME="VALUE"` to an SD-ELEMENT.
fn sd_param(out: &mut Vec<u8>, name: &str, value: &Arg<'_>) {
    out.push(b' ');
    sd_name(out, name);
    out.extend_from_slice(b"=\"");
    write_display(&mut SdEscape(out), value);
    out.push(b'"');
}

/// An SD-NAME: 1 to 32 printable US-ASCII characters except `=`, space, `]` and `"`; others
/// become `_` (names come from the untrusted callsite table).
fn sd_name(out: &mut Vec<u8>, name: &str) {
    let mut n = 0;
    for c in name.chars().take(32) {
        let ok = c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"');
        out.push(if ok { c as u8 } else { b'_' });
        n += 1;
    }
    if n == 0 {
        out.push(b'_');
    }
}

/// PARAM-VALUE escaping: `"`, `\` and `]` get a backslash (RFC 5424 section 6.3.3).
struct SdEscape<'a>(&'a mut Vec<u8>);

impl Out for SdEscape<'_> {
    fn push_str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if matches!(b, b'"' | b'\\' | b']') {
                self.0.push(b'\\');
            }
            self.0.push(b);
        }
    }
}

/// Settings of a syslog output.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    /// `tcp://HOST:PORT` or `tls://HOST:PORT`.
    pub endpoint: Endpoint,
    /// PEM file with the CA(s) to trust for TLS instead of the system's.
    pub ca: Option<PathBuf>,
    /// Facility, hostname, app-name.
    pub header: Arc<Header>,
    /// Acknowledged bytes kept to send again after a connection loss.
    pub resend_bytes: usize,
}

/// How long after writing a batch a receiver that closes the connection in order may still
/// have read it without writing it (rsyslog reads, then discards, what arrives while it shuts
/// down): such batches are sent again after the close.
pub const RESEND_AFTER_CLOSE: Duration = Duration::from_secs(10);

/// A connection to a syslog receiver, with the recent batches it may have to send again.
#[derive(Debug)]
pub struct SyslogSink {
    connector: Connector,
    header: Arc<Header>,
    conn: Option<crate::net::Conn>,
    /// Recently written batches with when they were written, oldest first.
    recent: VecDeque<(Instant, Vec<u8>)>,
    recent_bytes: usize,
    resend_bytes: usize,
    /// The connection was lost: what to send again after reconnecting.
    resend: Resend,
    /// Bytes sent again after connection losses (a statistic).
    resent: u64,
}

/// What to send again on the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Nothing (no connection was lost).
    Nothing,
    /// The batches written after this instant (the receiver closed in order).
    WrittenAfter(Instant),
    /// Every recent batch (the connection failed: reset, write error, timeout).
    All,
}

impl SyslogSink {
    /// Prepares the output (connects lazily, on the first batch). Fails on bad TLS settings.
    pub fn new(cfg: &SyslogConfig) -> Result<SyslogSink, String> {
        Ok(SyslogSink {
            connector: Connector::new(cfg.endpoint.clone(), cfg.ca.as_deref())?,
            header: cfg.header.clone(),
            conn: None,
            recent: VecDeque::new(),
            recent_bytes: 0,
            resend_bytes: cfg.resend_bytes,
            resend: Resend::Nothing,
            resent: 0,
        })
    }

    /// The receiver's URL.
    pub fn endpoint(&self) -> &Endpoint {
        self.connector.endpoint()
    }

    /// The header the formatter needs.
    pub fn header(&self) -> Arc<Header> {
        self.header.clone()
    }

    /// Bytes sent again after connection losses so far.
    pub fn resent_bytes(&self) -> u64 {
        self.resent
    }

    fn lost(&mut self, resend: Resend) {
        self.conn = None;
        self.resend = match (self.resend, resend) {
            (Resend::All, _) | (_, Resend::All) => Resend::All,
            (Resend::WrittenAfter(a), Resend::WrittenAfter(b)) => Resend::WrittenAfter(a.min(b)),
            (Resend::Nothing, r) | (r, Resend::Nothing) => r,
        };
    }

    /// Before a batch: notices a receiver that went away, (re)connects, and sends the recent
    /// batches again if the connection was lost.
    pub fn prepare(&mut self) -> io::Result<()> {
        if let Some(conn) = &mut self.conn {
            match conn.peer_state() {
                PeerState::Open => {}
                // An orderly close: what we wrote well before it was read (and, the receiver
                // closing on its own terms, written); what we wrote shortly before it may
                // have been read and dropped. We learn of the close only now, so count from
                // now.
                PeerState::Closed => self.lost(
                    Instant::now()
                        .checked_sub(RESEND_AFTER_CLOSE)
                        .map_or(Resend::All, Resend::WrittenAfter),
                ),
                PeerState::Failed => self.lost(Resend::All),
            }
        }
        if self.conn.is_none() {
            let mut conn = self.connector.connect()?;
            let again: Vec<&Vec<u8>> = match self.resend {
                Resend::Nothing => Vec::new(),
                Resend::All => self.recent.iter().map(|(_, b)| b).collect(),
                Resend::WrittenAfter(t) => self
                    .recent
                    .iter()
                    .filter(|(at, _)| *at >= t)
                    .map(|(_, b)| b)
                    .collect(),
            };
            let n: usize = again.iter().map(|b| b.len()).sum();
            if n > 0 {
                eprintln!(
                    "ringdrain: reconnected to {}; sending the last {n} bytes of messages again (the receiver may have lost them)",
                    self.connector.endpoint(),
                );
                for batch in again {
                    conn.write_all(batch)?;
                }
                conn.flush()?;
                self.resent += n as u64;
            }
            self.resend = Resend::Nothing;
            self.conn = Some(conn);
        }
        Ok(())
    }

    /// Writes a batch whole to the socket (after [`SyslogSink::prepare`]). On an error the
    /// connection is dropped and the next `prepare` reconnects and sends the recent batches
    /// again; the drain retries this batch.
    pub fn write_batch(&mut self, buf: &[u8]) -> io::Result<()> {
        let Some(conn) = &mut self.conn else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "not connected"));
        };
        if let Err(e) = conn.write_all(buf).and_then(|()| conn.flush()) {
            self.lost(Resend::All);
            return Err(e);
        }
        // Keep every byte the peer has not acknowledged, plus `resend_bytes` more. (Where the
        // kernel cannot say, only the `resend_bytes` are kept, bounding memory.)
        let keep = conn
            .unacked()
            .unwrap_or(0)
            .saturating_add(self.resend_bytes);
        self.recent.push_back((Instant::now(), buf.to_vec()));
        self.recent_bytes += buf.len();
        while let Some((_, front)) = self.recent.front() {
            if self.recent_bytes - front.len() < keep {
                break;
            }
            self.recent_bytes -= front.len();
            self.recent.pop_front();
        }
        Ok(())
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header::new(1, "web1", "myapp").unwrap()
    }

    fn entry<'a>(
        message: &'a str,
        fields: &'a [(std::borrow::Cow<'a, str>, Arg<'a>)],
    ) -> Entry<'a> {
        Entry {
            // 2026-11-25T23:18:53.123456789Z
            unix_ns: 1_795_648_733_123_456_789,
            level: Level::Info,
            pid: 4242,
            tid: 4243,
            target: "app::http",
            file: "src/http.rs",
            line: 88,
            message,
            fields,
        }
    }

    fn encoded(h: &Header, e: &Entry<'_>) -> Vec<u8> {
        let mut ts = Timestamps::default();
        let mut out = b"previous".to_vec();
        encode(&mut ts, &mut out, h, e);
        assert!(out.starts_with(b"previous"));
        out.split_off(8)
    }

    #[test]
    fn a_record_is_an_octet_counted_rfc5424_message() {
        let fields = [
            ("status".into(), Arg::U64(200)),
            ("ms".into(), Arg::F64(1.5)),
        ];
        let got = encoded(&header(), &entry("request 7 served", &fields));
        let msg = "<14>1 2026-11-25T23:18:53.123456Z web1 myapp 4242 - [ringlog@32473 tid=\"4243\" target=\"app::http\" file=\"src/http.rs\" line=\"88\" status=\"200\" ms=\"1.5\"] request 7 served";
        let want = format!("{} {msg}", msg.len());
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn structured_data_escapes_quote_backslash_and_bracket_and_cleans_names() {
        let fields = [
            ("a b=c]\"d".into(), Arg::Str("x\"y\\z]w")),
            ("".into(), Arg::Bool(true)),
            (
                "0123456789012345678901234567890123456789".into(),
                Arg::I64(-1),
            ),
        ];
        let mut e = entry("", &fields);
        e.file = "";
        e.target = "";
        let got = String::from_utf8(encoded(&header(), &e)).unwrap();
        let sd = got.split_once(" - ").unwrap().1;
        assert_eq!(
            sd,
            "[ringlog@32473 tid=\"4243\" a_b_c__d=\"x\\\"y\\\\z\\]w\" _=\"true\" 01234567890123456789012345678901=\"-1\"]",
            "no MSG (and no space) for an empty message"
        );
    }

    #[test]
    fn a_non_ascii_message_starts_with_a_bom_and_the_length_counts_octets() {
        let got = encoded(&header(), &entry("héllo\nwörld", &[]));
        let (len, msg) = got.split_at(got.iter().position(|&b| b == b' ').unwrap());
        let msg = &msg[1..];
        assert_eq!(
            std::str::from_utf8(len).unwrap().parse::<usize>().unwrap(),
            msg.len()
        );
        assert!(msg.ends_with("] \u{feff}héllo\nwörld".as_bytes()));
    }

    #[test]
    fn pri_is_facility_times_eight_plus_severity() {
        assert_eq!(pri(1, Level::Info), 14);
        assert_eq!(pri(0, Level::Error), 3);
        assert_eq!(pri(0, Level::Critical), 2);
        assert_eq!(pri(16, Level::Warn), 132);
        assert_eq!(pri(23, Level::Trace), 191);
        assert_eq!(pri(3, Level::Debug), 31);
        assert_eq!(parse_facility("local0"), Ok(16));
        assert_eq!(parse_facility("USER"), Ok(1));
        assert_eq!(parse_facility("23"), Ok(23));
        assert!(parse_facility("24").is_err());
        assert!(parse_facility("locale").is_err());
    }

    #[test]
    fn header_fields_are_checked_and_sanitized() {
        assert!(Header::new(1, "web 1", "app").is_err());
        assert!(Header::new(1, "web1", &"a".repeat(49)).is_err());
        assert!(Header::new(1, "", "app").is_err());
        assert!(Header::new(24, "h", "app").is_err());
        assert_eq!(Header::sanitize("my host\u{e9}", 255), "my_host_");
        assert_eq!(Header::sanitize("", 48), "-");
        assert_eq!(Header::sanitize(&"x".repeat(60), 48).len(), 48);
    }
}
