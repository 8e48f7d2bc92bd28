//! The network outputs against tiny in-process receivers on 127.0.0.1: OTLP/HTTP requests
//! decoded with the official OpenTelemetry .proto files (tests/proto), and syslog over TCP and
//! TLS parsed frame by frame.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage};
use ringdrain::drain::{run, DrainConfig, Output, Signals};
use ringdrain::net::parse_url;
use ringdrain::otlp::OtlpConfig;
use ringdrain::syslog::{Header, SyslogConfig};
use ringlog_testkit::{TestCommand, TestDir};
use serde_json::Value;

/// Watchdog for every blocking read in these tests.
const WATCHDOG: Duration = Duration::from_secs(60);

fn manifest(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Logs the records every test sends: three levels, typed fields, a non-ASCII message.
fn fill_ring(ring: &Path) {
    let log = ringlog::Logger::builder()
        .path(ring)
        .slot_count(1024)
        .level(ringlog::Level::Trace)
        .open()
        .unwrap();
    ringlog::info!(
        log,
        "request {} served",
        7u32,
        status = 200u32,
        ms = 1.5f64,
        ok = true,
        who = "a\"b]c\\d",
        big = u64::MAX,
        neg = -3i64,
        raw = [1u8, 2, 3]
    );
    ringlog::warn!(log, "slow query", table = "users");
    ringlog::error!(log, "héllo wörld");
}

fn drain_once(ring: &Path, output: Output) {
    let mut cfg = DrainConfig::new(ring.to_path_buf(), output);
    cfg.once = true;
    run(&cfg, &Signals::default()).unwrap();
}

// ---- OTLP ----------------------------------------------------------------------------------

/// One HTTP request as the server saw it.
struct Request {
    head: String,
    body: Vec<u8>,
}

/// Serves `answers` (status lines, in order; the last one repeats) to POSTs on 127.0.0.1 and
/// hands each request over the channel. Stops after `max` requests.
fn http_server(answers: Vec<&'static str>, max: usize) -> (u16, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut served = 0;
        while served < max {
            let Ok((sock, _)) = listener.accept() else {
                return;
            };
            sock.set_read_timeout(Some(WATCHDOG)).unwrap();
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let mut sock = sock;
            // Keep-alive: several requests per connection.
            while served < max {
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                if head.is_empty() {
                    break;
                }
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .expect("Content-Length");
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let status = answers[served.min(answers.len() - 1)];
                served += 1;
                tx.send(Request { head, body }).unwrap();
                let resp_body = b"";
                write!(
                    sock,
                    "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
                    resp_body.len()
                )
                .unwrap();
            }
        }
    });
    (port, rx)
}

/// Decodes an ExportLogsServiceRequest with descriptors compiled from the official .proto
/// files, as protobuf's JSON mapping.
fn decode_official(body: &[u8]) -> Value {
    let fds = protox::compile(
        ["opentelemetry/proto/collector/logs/v1/logs_service.proto"],
        [manifest("tests/proto")],
    )
    .unwrap();
    let pool = DescriptorPool::from_file_descriptor_set(fds).unwrap();
    let desc = pool
        .get_message_by_name("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest")
        .unwrap();
    let msg = DynamicMessage::decode(desc, body).unwrap();
    assert_no_unknown_fields(&msg);
    serde_json::to_value(&msg).unwrap()
}

/// Every field we wrote must be one the official definitions know.
fn assert_no_unknown_fields(msg: &DynamicMessage) {
    assert_eq!(
        msg.unknown_fields().count(),
        0,
        "unknown fields in {}",
        msg.descriptor().full_name()
    );
    for (_, value) in msg.fields() {
        match value {
            prost_reflect::Value::Message(m) => assert_no_unknown_fields(m),
            prost_reflect::Value::List(l) => {
                for v in l {
                    if let prost_reflect::Value::Message(m) = v {
                        assert_no_unknown_fields(m);
                    }
                }
            }
            _ => {}
        }
    }
}

fn attr<'a>(record: &'a Value, key: &str) -> &'a Value {
    record["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
        .unwrap_or_else(|| panic!("no attribute {key} in {record}"))
}

#[test]
fn otlp_export_decodes_with_the_official_protos_after_a_retried_503() {
    let dir = TestDir::new();
    let ring = dir.join("svc.ring");
    fill_ring(&ring);
    let (port, rx) = http_server(vec!["503 Service Unavailable", "200 OK"], 2);
    let endpoint = parse_url(
        &format!("http://127.0.0.1:{port}"),
        ringdrain::otlp::SCHEMES,
    )
    .unwrap();
    drain_once(
        &ring,
        Output::Otlp(OtlpConfig {
            endpoint,
            ca: None,
            service_name: "svc".into(),
            host_name: "web1".into(),
        }),
    );
    let first = rx.recv_timeout(WATCHDOG).expect("watchdog: no request");
    let second = rx
        .recv_timeout(WATCHDOG)
        .expect("watchdog: the 503 was not retried");
    assert_eq!(first.body, second.body, "the retry sends the same batch");
    assert!(
        second.head.starts_with("POST /v1/logs HTTP/1.1\r\n"),
        "{}",
        second.head
    );
    assert!(second
        .head
        .to_ascii_lowercase()
        .contains("content-type: application/x-protobuf\r\n"));

    let req = decode_official(&second.body);
    let rl = &req["resourceLogs"];
    assert_eq!(rl.as_array().unwrap().len(), 1, "{req}");
    let res = &rl[0]["resource"]["attributes"];
    assert_eq!(res[0]["key"], "service.name");
    assert_eq!(res[0]["value"]["stringValue"], "svc");
    assert_eq!(res[1]["key"], "host.name");
    assert_eq!(res[1]["value"]["stringValue"], "web1");

    let scopes = rl[0]["scopeLogs"].as_array().unwrap();
    let records: Vec<&Value> = scopes
        .iter()
        .flat_map(|s| s["logRecords"].as_array().unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{req}");
    let info = records[0];
    assert_eq!(scopes[0]["scope"]["name"], "network", "target is the scope");
    assert_eq!(info["severityNumber"], "SEVERITY_NUMBER_INFO");
    assert_eq!(info["severityText"], "INFO");
    assert_eq!(info["body"]["stringValue"], "request 7 served");
    let t: u64 = info["timeUnixNano"].as_str().unwrap().parse().unwrap();
    let observed: u64 = info["observedTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        t > 1_600_000_000_000_000_000 && observed >= t,
        "{t} {observed}"
    );
    assert_eq!(
        attr(info, "process.pid")["intValue"],
        std::process::id().to_string()
    );
    assert!(attr(info, "thread.id")["intValue"].is_string());
    assert!(attr(info, "code.file.path")["stringValue"]
        .as_str()
        .unwrap()
        .ends_with("network.rs"));
    assert!(attr(info, "code.line.number")["intValue"].is_string());
    assert_eq!(attr(info, "status")["intValue"], "200");
    assert_eq!(attr(info, "ms")["doubleValue"], 1.5);
    assert_eq!(attr(info, "ok")["boolValue"], true);
    assert_eq!(attr(info, "who")["stringValue"], "a\"b]c\\d");
    assert_eq!(attr(info, "big")["stringValue"], u64::MAX.to_string());
    assert_eq!(attr(info, "neg")["intValue"], "-3");
    assert_eq!(attr(info, "raw")["bytesValue"], "AQID");
    assert_eq!(records[1]["severityNumber"], "SEVERITY_NUMBER_WARN");
    assert_eq!(attr(records[1], "table")["stringValue"], "users");
    assert_eq!(records[2]["severityNumber"], "SEVERITY_NUMBER_ERROR");
    assert_eq!(records[2]["severityText"], "ERROR");
    assert_eq!(records[2]["body"]["stringValue"], "héllo wörld");
}

#[test]
fn our_prost_types_match_the_official_descriptors_both_ways() {
    use prost::Message;
    use ringdrain::otlp::proto::*;
    // What the official decoder reads from our hand-written types.
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource::default()),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "s".into(),
                    version: "1".into(),
                    ..Default::default()
                }),
                log_records: vec![LogRecord {
                    time_unix_nano: 1,
                    observed_time_unix_nano: 2,
                    severity_number: 21,
                    severity_text: "FATAL".into(),
                    dropped_attributes_count: 3,
                    flags: 1,
                    trace_id: vec![7; 16],
                    span_id: vec![8; 8],
                    event_name: "e".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue {
                                value: Some(any_value::Value::KvlistValue(KeyValueList {
                                    values: vec![KeyValue {
                                        key: "k".into(),
                                        value: Some(AnyValue {
                                            value: Some(any_value::Value::DoubleValue(0.5)),
                                        }),
                                    }],
                                })),
                            }],
                        })),
                    }),
                    attributes: vec![],
                }],
                schema_url: "u".into(),
            }],
            schema_url: "r".into(),
        }],
    };
    let v = decode_official(&req.encode_to_vec());
    let r = &v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(r["timeUnixNano"], "1");
    assert_eq!(r["observedTimeUnixNano"], "2");
    assert_eq!(r["severityNumber"], "SEVERITY_NUMBER_FATAL");
    assert_eq!(r["droppedAttributesCount"], 3);
    assert_eq!(r["flags"], 1);
    assert_eq!(r["eventName"], "e");
    assert_eq!(
        r["body"]["arrayValue"]["values"][0]["kvlistValue"]["values"][0]["value"]["doubleValue"],
        0.5
    );
    assert_eq!(
        v["resourceLogs"][0]["scopeLogs"][0]["scope"]["version"],
        "1"
    );
    assert_eq!(v["resourceLogs"][0]["schemaUrl"], "r");
}

// ---- syslog --------------------------------------------------------------------------------

/// Reads octet-counted frames until the peer closes; returns the messages.
/// A syslog receiver on 127.0.0.1 for one plain TCP connection: returns the port and the
/// thread that hands back the frames once the drain closes the connection.
fn syslog_tcp_server() -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WATCHDOG)).unwrap();
        read_frames(sock)
    });
    (port, server)
}

fn read_frames(mut r: impl Read) -> Vec<String> {
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    let mut msgs = Vec::new();
    let mut rest = &all[..];
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ').expect("frame length");
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        let msg = &rest[sp + 1..sp + 1 + len];
        msgs.push(String::from_utf8(msg.to_vec()).unwrap());
        rest = &rest[sp + 1 + len..];
    }
    msgs
}

fn syslog_config(url: &str, ca: Option<PathBuf>) -> SyslogConfig {
    SyslogConfig {
        endpoint: parse_url(url, ringdrain::syslog::SCHEMES).unwrap(),
        ca,
        header: Arc::new(Header::new(16, "web1", "svc").unwrap()),
        resend_bytes: 1 << 20,
    }
}

fn check_syslog_messages(msgs: &[String]) {
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    let pid = std::process::id();
    // local0 (16): INFO 134, WARN 132, ERROR 131.
    let info = &msgs[0];
    assert!(info.starts_with("<134>1 20"), "{info}");
    assert!(
        info.contains(&format!("Z web1 svc {pid} - [ringlog@32473 tid=\"")),
        "{info}"
    );
    assert!(info.contains(" target=\"network\" file=\""), "{info}");
    assert!(
        info.contains(" status=\"200\" ms=\"1.5\" ok=\"true\" who=\"a\\\"b\\]c\\\\d\""),
        "{info}"
    );
    assert!(info.ends_with("\"] request 7 served"), "{info}");
    // The timestamp has microseconds.
    let ts = info.split(' ').nth(1).unwrap();
    assert_eq!(ts.len(), "2026-11-25T23:18:53.123456Z".len(), "{ts}");
    assert!(msgs[1].starts_with("<132>1 ") && msgs[1].ends_with("] slow query"));
    assert!(msgs[2].starts_with("<131>1 "));
    assert!(msgs[2].ends_with("] \u{feff}héllo wörld"), "{}", msgs[2]);
}

#[test]
fn syslog_over_tcp_sends_octet_counted_rfc5424_messages() {
    let dir = TestDir::new();
    let ring = dir.join("svc.ring");
    fill_ring(&ring);
    let (port, server) = syslog_tcp_server();
    drain_once(
        &ring,
        Output::Syslog(syslog_config(&format!("tcp://127.0.0.1:{port}"), None)),
    );
    // The drain has exited and closed the connection: the server sees the end.
    check_syslog_messages(&server.join().unwrap());
}

#[test]
fn syslog_over_tls_verifies_the_server_against_the_given_ca() {
    let config = tls_server_config();

    let dir = TestDir::new();
    let ring = dir.join("svc.ring");
    fill_ring(&ring);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WATCHDOG)).unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut plain = Vec::new();
        // The client closes without close_notify when the drain exits: read to the TCP end.
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => plain.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("TLS server: {e}"),
            }
        }
        read_frames(&plain[..])
    });
    drain_once(
        &ring,
        Output::Syslog(syslog_config(
            &format!("tls://localhost:{port}"),
            Some(manifest("tests/tls/ca.pem")),
        )),
    );
    check_syslog_messages(&server.join().unwrap());
}

fn tls_server_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(manifest("tests/tls/server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(manifest("tests/tls/server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(config)
}

#[test]
fn syslog_over_tls_refuses_a_server_the_ca_did_not_sign() {
    let dir = TestDir::new();
    let ring = dir.join("svc.ring");
    fill_ring(&ring);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = tls_server_config();
    let handshakes = std::thread::spawn(move || {
        // Each attempt ends in the client rejecting our certificate; count two of them.
        let mut errors = Vec::new();
        while errors.len() < 2 {
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(WATCHDOG)).unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            loop {
                match conn.complete_io(&mut sock) {
                    Ok(_) if conn.is_handshaking() => continue,
                    Ok(_) => panic!("the handshake succeeded with an untrusted certificate"),
                    Err(e) => {
                        errors.push(e.to_string());
                        break;
                    }
                }
            }
        }
        errors
    });
    let mut cfg = DrainConfig::new(
        ring.clone(),
        Output::Syslog(syslog_config(
            &format!("tls://localhost:{port}"),
            // A trust anchor that did not sign the server's certificate.
            Some(manifest("tests/tls/server.pem")),
        )),
    );
    cfg.once = true;
    let signals = Signals::default();
    let stop = signals.stop.clone();
    let drain = std::thread::spawn(move || run(&cfg, &signals));
    let errors = handshakes.join().unwrap();
    assert!(
        errors[0].contains("UnknownCA") || errors[0].contains("alert"),
        "{errors:?}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let err = drain.join().unwrap().unwrap_err().to_string();
    assert!(
        err.contains("while stopping") && err.contains("syslog tls://"),
        "{err}"
    );
    // Nothing was released: the records are all still in the ring.
    let seg = ringlog_segment::Segment::open(&ring, &Default::default()).unwrap();
    let mut reader = ringlog_segment::reader::Reader::new(seg.acquire_drain().unwrap());
    let mut n = 0;
    reader.poll(100, |_| n += 1);
    assert_eq!(n, 3);
}

// ---- the command line ----------------------------------------------------------------------

fn ringdrain() -> TestCommand {
    TestCommand::new(ringlog_testkit::bin!("ringdrain"))
}

#[test]
fn bad_network_settings_are_one_line_cli_errors() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let ring = ring.to_str().unwrap();
    for (args, needle) in [
        (&["--syslog", "udp://h:514"][..], "unsupported scheme"),
        (&["--syslog", "tcp://h:notaport"][..], "not a port"),
        (&["--syslog", "h:514"][..], "not a URL"),
        (&["--otlp", "grpc://h:4317"][..], "unsupported scheme"),
        (
            &["--syslog", "tcp://h", "--syslog-facility", "bogus"][..],
            "not a syslog facility",
        ),
        (
            &["--syslog", "tcp://h", "--syslog-hostname", "a b"][..],
            "printable ASCII",
        ),
        (
            &["--syslog", "tls://h", "--syslog-ca", "/nonexistent/ca.pem"][..],
            "cannot read CA file",
        ),
    ] {
        let err = ringdrain()
            .args(["--ring", ring, "--once"])
            .args(args)
            .expect_one_line_error();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn syslog_alongside_a_file_gets_the_same_records() {
    let dir = TestDir::new();
    let ring = dir.join("svc.ring");
    fill_ring(&ring);
    let (port, server) = syslog_tcp_server();
    let log = dir.join("app.log");
    ringdrain()
        .args([
            "--ring",
            ring.to_str().unwrap(),
            "--out",
            log.to_str().unwrap(),
            "--syslog",
            &format!("tcp://127.0.0.1:{port}"),
            "--syslog-facility",
            "local0",
            "--syslog-hostname",
            "web1",
            "--syslog-app-name",
            "svc",
            "--once",
        ])
        .expect_success();
    let msgs = server.join().unwrap();
    check_syslog_messages(&msgs);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("request 7 served status=200 ms=1.5 ok=true who=\"a\\\"b]c\\\\d\" big=18446744073709551615 neg=-3 raw=[1, 2, 3]"),
        "{text}"
    );
}
