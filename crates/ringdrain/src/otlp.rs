//! Forwarding to OpenTelemetry collectors: OTLP/HTTP with protobuf bodies (`POST /v1/logs`,
//! `Content-Type: application/x-protobuf`), over a small blocking HTTP/1.1 client.
//!
//! The mapping to the OTLP log data model:
//!
//! | ringlog | OTLP |
//! |---|---|
//! | timestamp | `time_unix_nano`; `observed_time_unix_nano` is when the drain read it |
//! | level | `severity_number` (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17) and `severity_text` |
//! | message | `body` (string) |
//! | fields | `attributes`: integers `int_value` (beyond i64: string), floats `double_value`, bools, byte slices `bytes_value`, the rest strings |
//! | pid, tid, file, line | attributes `process.pid`, `thread.id`, `code.file.path`, `code.line.number` |
//! | target | the instrumentation scope's name (as OpenTelemetry's Rust log bridges do) |
//! | ring / machine | resource attributes `service.name` (default: the ring's name), `host.name` |
//!
//! The messages are written by hand with prost's derive, mirroring the field numbers of
//! opentelemetry-proto's `logs.proto`, `common.proto`, `resource.proto` and
//! `logs_service.proto` (the tests decode our bytes with the official files). Each record is
//! encoded on its own as one `ScopeLogs` (so the drain can batch, merge and order records as
//! byte ranges); the sink wraps a batch in one `ExportLogsServiceRequest`.
//!
//! A 2xx response accepts the batch; anything else (or no response) is an error, and the drain
//! keeps the records in the ring and retries with back-off. A partial success (records the
//! collector rejected) is reported on stderr; those records are not sent again.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use prost::Message;
use ringlog_segment::clock;
use ringlog_wire::args::Arg;
use ringlog_wire::decode::write_display;
use ringlog_wire::record::Level;

use crate::encode::{Encoder, Item};
use crate::format::Entry;
use crate::net::{Conn, Connector, Endpoint};

/// URL schemes `--otlp` accepts (default port 4318, OTLP/HTTP's).
pub const SCHEMES: &[(&str, bool, u16)] = &[("http", false, 4318), ("https", true, 4318)];

/// Largest response head or body we read (a collector's answer is tiny).
const MAX_RESPONSE: usize = 1 << 20;

/// OTLP protobuf messages (package `opentelemetry.proto.*.v1`), the fields ringdrain uses.
pub mod proto {
    /// `collector.logs.v1.ExportLogsServiceRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportLogsServiceRequest {
        /// Field 1.
        #[prost(message, repeated, tag = "1")]
        pub resource_logs: Vec<ResourceLogs>,
    }

    /// `collector.logs.v1.ExportLogsServiceResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportLogsServiceResponse {
        /// Field 1.
        #[prost(message, optional, tag = "1")]
        pub partial_success: Option<ExportLogsPartialSuccess>,
    }

    /// `collector.logs.v1.ExportLogsPartialSuccess`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportLogsPartialSuccess {
        /// Field 1.
        #[prost(int64, tag = "1")]
        pub rejected_log_records: i64,
        /// Field 2.
        #[prost(string, tag = "2")]
        pub error_message: String,
    }

    /// `logs.v1.ResourceLogs`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceLogs {
        /// Field 1.
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        /// Field 2.
        #[prost(message, repeated, tag = "2")]
        pub scope_logs: Vec<ScopeLogs>,
        /// Field 3.
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }

    /// `logs.v1.ScopeLogs`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeLogs {
        /// Field 1.
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        /// Field 2.
        #[prost(message, repeated, tag = "2")]
        pub log_records: Vec<LogRecord>,
        /// Field 3.
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }

    /// `logs.v1.LogRecord`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogRecord {
        /// Field 1.
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        /// Field 11.
        #[prost(fixed64, tag = "11")]
        pub observed_time_unix_nano: u64,
        /// Field 2: a `SeverityNumber` (an enum is an int32 varint on the wire).
        #[prost(int32, tag = "2")]
        pub severity_number: i32,
        /// Field 3.
        #[prost(string, tag = "3")]
        pub severity_text: String,
        /// Field 5.
        #[prost(message, optional, tag = "5")]
        pub body: Option<AnyValue>,
        /// Field 6.
        #[prost(message, repeated, tag = "6")]
        pub attributes: Vec<KeyValue>,
        /// Field 7.
        #[prost(uint32, tag = "7")]
        pub dropped_attributes_count: u32,
        /// Field 8.
        #[prost(fixed32, tag = "8")]
        pub flags: u32,
        /// Field 9.
        #[prost(bytes = "vec", tag = "9")]
        pub trace_id: Vec<u8>,
        /// Field 10.
        #[prost(bytes = "vec", tag = "10")]
        pub span_id: Vec<u8>,
        /// Field 12.
        #[prost(string, tag = "12")]
        pub event_name: String,
    }

    /// `resource.v1.Resource`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        /// Field 1.
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
        /// Field 2.
        #[prost(uint32, tag = "2")]
        pub dropped_attributes_count: u32,
    }

    /// `common.v1.InstrumentationScope`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        /// Field 1.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Field 2.
        #[prost(string, tag = "2")]
        pub version: String,
        /// Field 3.
        #[prost(message, repeated, tag = "3")]
        pub attributes: Vec<KeyValue>,
        /// Field 4.
        #[prost(uint32, tag = "4")]
        pub dropped_attributes_count: u32,
    }

    /// `common.v1.KeyValue`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        /// Field 1.
        #[prost(string, tag = "1")]
        pub key: String,
        /// Field 2.
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }

    /// `common.v1.AnyValue`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        /// The `value` oneof.
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
        pub value: Option<any_value::Value>,
    }

    /// `AnyValue`'s oneof.
    pub mod any_value {
        /// `oneof value`.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// Field 1.
            #[prost(string, tag = "1")]
            StringValue(String),
            /// Field 2.
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            /// Field 3.
            #[prost(int64, tag = "3")]
            IntValue(i64),
            /// Field 4.
            #[prost(double, tag = "4")]
            DoubleValue(f64),
            /// Field 5.
            #[prost(message, tag = "5")]
            ArrayValue(super::ArrayValue),
            /// Field 6.
            #[prost(message, tag = "6")]
            KvlistValue(super::KeyValueList),
            /// Field 7.
            #[prost(bytes = "vec", tag = "7")]
            BytesValue(Vec<u8>),
        }
    }

    /// `common.v1.ArrayValue`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ArrayValue {
        /// Field 1.
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<AnyValue>,
    }

    /// `common.v1.KeyValueList`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValueList {
        /// Field 1.
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<KeyValue>,
    }
}

use proto::any_value::Value;
use proto::{AnyValue, InstrumentationScope, KeyValue, LogRecord, ScopeLogs};

/// OTLP severity number and text of a level.
pub fn severity(level: Level) -> (i32, &'static str) {
    match level {
        Level::Trace => (1, "TRACE"),
        Level::Debug => (5, "DEBUG"),
        Level::Info => (9, "INFO"),
        Level::Warn => (13, "WARN"),
        Level::Error => (17, "ERROR"),
        // 21 is FATAL's range; the text is the name the source uses (Python's CRITICAL).
        Level::Critical => (21, "CRITICAL"),
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

/// A field's typed value.
fn any_value(arg: &Arg<'_>) -> Option<Value> {
    Some(match *arg {
        Arg::U64(v) => match i64::try_from(v) {
            Ok(i) => Value::IntValue(i),
            Err(_) => Value::StringValue(v.to_string()),
        },
        Arg::I64(v) => Value::IntValue(v),
        Arg::U128(v) => match i64::try_from(v) {
            Ok(i) => Value::IntValue(i),
            Err(_) => Value::StringValue(v.to_string()),
        },
        Arg::I128(v) => match i64::try_from(v) {
            Ok(i) => Value::IntValue(i),
            Err(_) => Value::StringValue(v.to_string()),
        },
        Arg::F64(v) => Value::DoubleValue(v),
        // Through the shortest decimal, so 0.1f32 is 0.1, not 0.10000000149.
        Arg::F32(v) => Value::DoubleValue(v.to_string().parse().unwrap_or(v as f64)),
        Arg::Bool(v) => Value::BoolValue(v),
        Arg::Bytes(b) => Value::BytesValue(b.to_vec()),
        Arg::Str(_) | Arg::Display(_) | Arg::Char(_) => {
            let mut s = String::new();
            write_display(&mut s, arg);
            Value::StringValue(s)
        }
        Arg::None => return None,
    })
}

/// Encodes each view as one OTLP `ScopeLogs` (a `ResourceLogs.scope_logs` field; the sink adds
/// the request around the batch).
#[derive(Debug, Default)]
pub struct OtlpEncoder;

impl Encoder for OtlpEncoder {
    fn encode(&mut self, out: &mut Vec<u8>, item: &Item<'_>) {
        crate::format::with_entry(item.view, |e| encode(out, e))
    }
}

/// Appends one record as a `ResourceLogs.scope_logs` field (tag 2): a `ScopeLogs` named after
/// the record's target holding the one `LogRecord`.
pub(crate) fn encode(out: &mut Vec<u8>, e: &Entry<'_>) {
    let (number, text) = severity(e.level);
    let mut attributes = Vec::with_capacity(e.fields.len() + 4);
    attributes.push(kv("process.pid", Value::IntValue(e.pid.into())));
    if e.tid != 0 {
        attributes.push(kv("thread.id", Value::IntValue(e.tid.into())));
    }
    if !e.file.is_empty() {
        attributes.push(kv("code.file.path", Value::StringValue(e.file.to_string())));
        attributes.push(kv("code.line.number", Value::IntValue(e.line.into())));
    }
    for (name, value) in e.fields {
        attributes.push(KeyValue {
            key: name.to_string(),
            value: Some(AnyValue {
                value: any_value(value),
            }),
        });
    }
    let record = LogRecord {
        time_unix_nano: u64::try_from(e.unix_ns).unwrap_or(0),
        observed_time_unix_nano: clock::unix_ns(),
        severity_number: number,
        severity_text: text.to_string(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(e.message.to_string())),
        }),
        attributes,
        ..LogRecord::default()
    };
    let scope = ScopeLogs {
        scope: (!e.target.is_empty()).then(|| InstrumentationScope {
            name: e.target.to_string(),
            ..InstrumentationScope::default()
        }),
        log_records: vec![record],
        schema_url: String::new(),
    };
    prost::encoding::message::encode(2, &scope, out);
}

/// The `ResourceLogs.resource` field (tag 1) for `service.name` and `host.name`.
pub fn resource_field(service_name: &str, host_name: &str) -> Vec<u8> {
    let resource = proto::Resource {
        attributes: vec![
            kv("service.name", Value::StringValue(service_name.to_string())),
            kv("host.name", Value::StringValue(host_name.to_string())),
        ],
        dropped_attributes_count: 0,
    };
    let mut out = Vec::new();
    prost::encoding::message::encode(1, &resource, &mut out);
    out
}

/// Wraps a batch of encoded records (see `encode`) in an `ExportLogsServiceRequest` with one
/// `ResourceLogs`.
pub fn request_body(body: &mut Vec<u8>, resource_field: &[u8], batch: &[u8]) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    body.clear();
    encode_key(1, WireType::LengthDelimited, body);
    encode_varint((resource_field.len() + batch.len()) as u64, body);
    body.extend_from_slice(resource_field);
    body.extend_from_slice(batch);
}

/// Settings of an OTLP output.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// `http://HOST:PORT` (path `/v1/logs` unless the URL has one).
    pub endpoint: Endpoint,
    /// PEM file with the CA(s) to trust for `https` instead of the system's.
    pub ca: Option<PathBuf>,
    /// Resource attribute `service.name`.
    pub service_name: String,
    /// Resource attribute `host.name`.
    pub host_name: String,
}

/// An OTLP/HTTP exporter: one POST per batch on a kept-alive connection.
#[derive(Debug)]
pub struct OtlpSink {
    connector: Connector,
    path: String,
    host_header: String,
    resource: Vec<u8>,
    conn: Option<Conn>,
    body: Vec<u8>,
}

impl OtlpSink {
    /// Prepares the output (connects on the first batch). Fails on bad TLS settings.
    pub fn new(cfg: &OtlpConfig) -> Result<OtlpSink, String> {
        let e = &cfg.endpoint;
        let path = match e.path.as_str() {
            "" | "/" => "/v1/logs".to_string(),
            p => p.to_string(),
        };
        let host_header = if e.host.contains(':') {
            format!("[{}]:{}", e.host, e.port)
        } else {
            format!("{}:{}", e.host, e.port)
        };
        Ok(OtlpSink {
            connector: Connector::new(e.clone(), cfg.ca.as_deref())?,
            path,
            host_header,
            resource: resource_field(&cfg.service_name, &cfg.host_name),
            conn: None,
            body: Vec::new(),
        })
    }

    /// The collector's URL.
    pub fn endpoint(&self) -> &Endpoint {
        self.connector.endpoint()
    }

    /// Sends a batch; `Ok` once the collector answered 2xx.
    pub fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        let mut body = std::mem::take(&mut self.body);
        request_body(&mut body, &self.resource, batch);
        // A kept-alive connection the collector closed in the meantime fails at once: try a
        // fresh one before reporting an error.
        let reused = self.conn.is_some();
        let mut r = self.post(&body);
        if reused && matches!(&r, Err(e) if e.kind() != io::ErrorKind::Other) {
            r = self.post(&body);
        }
        self.body = body;
        r
    }

    fn post(&mut self, body: &[u8]) -> io::Result<()> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connector.connect()?,
        };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nUser-Agent: ringdrain/{}\r\n\r\n",
            self.path,
            self.host_header,
            body.len(),
            env!("CARGO_PKG_VERSION")
        );
        conn.write_all(head.as_bytes())?;
        conn.write_all(body)?;
        conn.flush()?;
        let resp = read_response(&mut conn)?;
        if resp.keep_alive {
            self.conn = Some(conn);
        }
        if !(200..300).contains(&resp.status) {
            let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)])
                .replace(['\r', '\n'], " ");
            return Err(io::Error::other(format!(
                "collector answered HTTP {} {}{}{}",
                resp.status,
                resp.reason,
                if text.is_empty() { "" } else { ": " },
                text.trim()
            )));
        }
        if let Ok(r) = proto::ExportLogsServiceResponse::decode(resp.body.as_slice()) {
            if let Some(p) = r.partial_success {
                if p.rejected_log_records > 0 {
                    eprintln!(
                        "ringdrain: the OTLP collector rejected {} log records: {}",
                        p.rejected_log_records, p.error_message
                    );
                }
            }
        }
        Ok(())
    }
}

impl Drop for OtlpSink {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    reason: String,
    keep_alive: bool,
    body: Vec<u8>,
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad HTTP response: {msg}"),
    )
}

/// Reads one response (skipping 1xx ones): status line, headers, and a body framed by
/// Content-Length, chunked encoding, or the end of the connection.
fn read_response(conn: &mut impl Read) -> io::Result<Response> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_RESPONSE {
                return Err(bad("header too long"));
            }
            if fill(conn, &mut buf)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the response",
                ));
            }
        };
        let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("not text"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(bad("not HTTP/1.x"));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status code"))?;
        let reason = parts.next().unwrap_or("").to_string();
        let mut length = None;
        let mut chunked = false;
        let mut keep_alive = version != "HTTP/1.0";
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    length = Some(v.parse::<usize>().map_err(|_| bad("Content-Length"))?)
                }
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                "connection" => keep_alive = !v.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        buf.drain(..head_end);
        if (100..200).contains(&status) {
            continue;
        }
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            read_chunked(conn, &mut buf)?
        } else if let Some(n) = length {
            if n > MAX_RESPONSE {
                return Err(bad("body too long"));
            }
            while buf.len() < n {
                if fill(conn, &mut buf)? == 0 {
                    return Err(bad("body cut short"));
                }
            }
            buf.truncate(n);
            buf
        } else {
            keep_alive = false;
            while fill(conn, &mut buf)? > 0 {
                if buf.len() > MAX_RESPONSE {
                    return Err(bad("body too long"));
                }
            }
            buf
        };
        return Ok(Response {
            status,
            reason,
            keep_alive,
            body,
        });
    }
}

fn fill(conn: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 8192];
    loop {
        match conn.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn read_chunked(conn: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            if buf.len() > 1024 {
                return Err(bad("chunk size line too long"));
            }
            if fill(conn, buf)? == 0 {
                return Err(bad("chunked body cut short"));
            }
        };
        let line = std::str::from_utf8(&buf[..line_end]).map_err(|_| bad("chunk size"))?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("chunk size"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    let empty = i == 0;
                    buf.drain(..i + 2);
                    if empty {
                        return Ok(body);
                    }
                    continue;
                }
                if buf.len() > 8192 || fill(conn, buf)? == 0 {
                    return Err(bad("chunked trailer"));
                }
            }
        }
        if body.len() + size > MAX_RESPONSE {
            return Err(bad("body too long"));
        }
        while buf.len() < size + 2 {
            if fill(conn, buf)? == 0 {
                return Err(bad("chunked body cut short"));
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> io::Result<Response> {
        read_response(&mut &raw[..])
    }

    #[test]
    fn responses_parse_with_length_chunks_and_continue() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi").unwrap();
        assert_eq!(
            (r.status, r.keep_alive, r.body.as_slice()),
            (200, true, &b"hi"[..])
        );
        let r = parse(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.reason, "Busy");
        assert!(!r.keep_alive);
        assert_eq!(r.body, b"abcde");
        let r = parse(b"HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(
            (r.keep_alive, r.body.as_slice()),
            (false, &b"until close"[..])
        );
    }

    #[test]
    fn bad_responses_are_errors_not_panics() {
        for raw in [
            &b""[..],
            b"garbage\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
        ] {
            assert!(parse(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn severities_follow_the_otlp_ranges() {
        assert_eq!(severity(Level::Trace), (1, "TRACE"));
        assert_eq!(severity(Level::Debug), (5, "DEBUG"));
        assert_eq!(severity(Level::Info), (9, "INFO"));
        assert_eq!(severity(Level::Warn), (13, "WARN"));
        assert_eq!(severity(Level::Error), (17, "ERROR"));
        assert_eq!(severity(Level::Critical), (21, "CRITICAL"));
    }

    #[test]
    fn field_values_keep_their_types() {
        assert_eq!(any_value(&Arg::U64(7)), Some(Value::IntValue(7)));
        assert_eq!(
            any_value(&Arg::U64(u64::MAX)),
            Some(Value::StringValue(u64::MAX.to_string()))
        );
        assert_eq!(any_value(&Arg::F32(0.1)), Some(Value::DoubleValue(0.1)));
        assert_eq!(any_value(&Arg::Bool(true)), Some(Value::BoolValue(true)));
        assert_eq!(
            any_value(&Arg::Char('x')),
            Some(Value::StringValue("x".into()))
        );
        assert_eq!(
            any_value(&Arg::Bytes(&[1, 2])),
            Some(Value::BytesValue(vec![1, 2]))
        );
        assert_eq!(any_value(&Arg::None), None);
    }
}
