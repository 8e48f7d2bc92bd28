//! Connections for the network outputs ([`crate::syslog`], [`crate::otlp`]): URL parsing,
//! TCP with timeouts, optional TLS (rustls with the `ring` provider), and the two things a
//! sender without application acknowledgements can still learn from its socket: how many
//! written bytes the peer's TCP has not acknowledged yet, and whether the peer has gone.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// How long a connection attempt (each address) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write or read may block before the connection is given up (a receiver that
/// stopped reading for this long is treated as gone: reconnect, and resend).
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a network output connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL scheme as given (`tcp`, `tls`, `http`, `https`).
    pub scheme: String,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
    /// Path (with any query), `""` if none was given.
    pub path: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "{}://[{}]:{}{}",
                self.scheme, self.host, self.port, self.path
            )
        } else {
            write!(
                f,
                "{}://{}:{}{}",
                self.scheme, self.host, self.port, self.path
            )
        }
    }
}

/// Parses `SCHEME://HOST[:PORT][/PATH]`. `schemes` lists each accepted scheme with whether it
/// means TLS and its default port.
pub fn parse_url(url: &str, schemes: &[(&str, bool, u16)]) -> Result<Endpoint, String> {
    let expected = || {
        schemes
            .iter()
            .map(|(s, _, _)| format!("{s}://HOST:PORT"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL (expected {})", expected()))?;
    let scheme = scheme.to_ascii_lowercase();
    let &(_, tls, default_port) =
        schemes
            .iter()
            .find(|(s, _, _)| *s == scheme)
            .ok_or_else(|| {
                format!(
                    "{url:?}: unsupported scheme {scheme:?} (expected {})",
                    expected()
                )
            })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{url:?}: expected ':PORT' after ']'"))?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(['@', ' ', '/']) {
        return Err(format!("{url:?}: missing or invalid host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("{url:?}: {p:?} is not a port number"))?,
    };
    Ok(Endpoint {
        scheme,
        host: host.to_string(),
        port,
        tls,
        path: path.to_string(),
    })
}

/// Opens connections to one endpoint.
#[derive(Debug, Clone)]
pub struct Connector {
    endpoint: Endpoint,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl Connector {
    /// For `endpoint`; with TLS, trusts the certificates in the PEM file `ca` if given, else the
    /// system's CA store. Fails (one line) on an unreadable CA file or an empty trust store.
    pub fn new(endpoint: Endpoint, ca: Option<&Path>) -> Result<Connector, String> {
        let tls = if endpoint.tls {
            let roots = root_store(ca)?;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|_| format!("{:?} is not a valid TLS server name", endpoint.host))?;
            Some((Arc::new(config), name))
        } else {
            None
        };
        Ok(Connector { endpoint, tls })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Connects (trying each address the host resolves to) and, with TLS, completes the
    /// handshake.
    pub fn connect(&self) -> io::Result<Conn> {
        let addrs = (self.endpoint.host.as_str(), self.endpoint.port).to_socket_addrs()?;
        let mut last = None;
        let mut sock = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let sock = match sock {
            Some(s) => s,
            None => {
                return Err(last.unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "host resolves to no address")
                }))
            }
        };
        sock.set_nodelay(true)?;
        sock.set_write_timeout(Some(IO_TIMEOUT))?;
        sock.set_read_timeout(Some(IO_TIMEOUT))?;
        match &self.tls {
            None => Ok(Conn::Plain(sock)),
            Some((config, name)) => {
                let mut tls = ClientConnection::new(config.clone(), name.clone())
                    .map_err(io::Error::other)?;
                let mut sock = sock;
                while tls.is_handshaking() {
                    tls.complete_io(&mut sock)?;
                }
                Ok(Conn::Tls(Box::new(StreamOwned::new(tls, sock))))
            }
        }
    }
}

fn root_store(ca: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "CA file {} holds no usable certificate",
                    path.display()
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "no system CA certificates found: give the receiver's CA with a CA file option"
                        .to_string(),
                );
            }
        }
    }
    Ok(roots)
}

/// An open connection.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// What a look at an idle connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Nothing to say: the connection is open as far as we can tell.
    Open,
    /// The peer closed the connection in order (FIN, or TLS close_notify).
    Closed,
    /// The connection failed (reset, timeout, TLS error).
    Failed,
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }

    /// Bytes written but not yet acknowledged by the peer's TCP (Linux `SIOCOUTQ`); `None` if
    /// unknown.
    pub fn unacked(&self) -> Option<usize> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let mut n: libc::c_int = 0;
            // SAFETY: TIOCOUTQ (SIOCOUTQ on a TCP socket) writes one c_int through the pointer,
            // which points to a live local; the fd is an open socket owned by `self`.
            let r = unsafe { libc::ioctl(self.tcp().as_raw_fd(), libc::TIOCOUTQ, &mut n) };
            if r == 0 && n >= 0 {
                return Some(n as usize);
            }
        }
        None
    }

    /// Looks, without blocking, whether the peer closed or the connection failed. Receivers of
    /// syslog never send application data, so anything readable is a close, an error, or TLS
    /// housekeeping (session tickets), which is processed and ignored.
    pub fn peer_state(&mut self) -> PeerState {
        if self.tcp().set_nonblocking(true).is_err() {
            return PeerState::Failed;
        }
        let state = match self {
            Conn::Plain(s) => {
                let mut buf = [0u8; 512];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => break PeerState::Closed,
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break PeerState::Open,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break PeerState::Failed,
                    }
                }
            }
            Conn::Tls(s) => loop {
                match s.conn.read_tls(&mut s.sock) {
                    Ok(0) => break PeerState::Closed,
                    Ok(_) => match s.conn.process_new_packets() {
                        Err(_) => break PeerState::Failed,
                        Ok(st) => {
                            if st.plaintext_bytes_to_read() > 0 {
                                let mut sink = vec![0u8; st.plaintext_bytes_to_read()];
                                let _ = s.conn.reader().read(&mut sink);
                            }
                            if st.peer_has_closed() {
                                break PeerState::Closed;
                            }
                        }
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break PeerState::Open,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break PeerState::Failed,
                }
            },
        };
        if self.tcp().set_nonblocking(false).is_err() {
            return PeerState::Failed;
        }
        state
    }
}

impl Conn {
    /// Closes in order, so the receiver reads everything: TLS close_notify, then a TCP
    /// half-close, then reading whatever the peer still sends until it closes too (at most two
    /// seconds). Closing with unread bytes (TLS session tickets, say) would make the kernel
    /// reset the connection, and a reset can discard our last bytes on the receiver's side.
    pub fn close(mut self) {
        if let Conn::Tls(s) = &mut self {
            s.conn.send_close_notify();
            while s.conn.wants_write() {
                if s.conn.write_tls(&mut s.sock).is_err() {
                    break;
                }
            }
        }
        let mut tcp = self.tcp();
        let _ = tcp.flush();
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 4096];
        while std::time::Instant::now() < deadline {
            match tcp.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(_) => break,
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// This machine's host name (`gethostname`), or `None`.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the live local buffer.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..len]).into_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSLOG: &[(&str, bool, u16)] = &[("tcp", false, 514), ("tls", true, 6514)];

    #[test]
    fn urls_parse_with_default_ports_ipv6_and_paths() {
        let e = parse_url("tcp://127.0.0.1:1514", SYSLOG).unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 1514, false));
        let e = parse_url("TLS://logs.example", SYSLOG).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("logs.example", 6514, true)
        );
        let e = parse_url("tcp://[::1]:99", SYSLOG).unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 99));
        assert_eq!(e.to_string(), "tcp://[::1]:99");
        let e = parse_url("http://h:4318/custom/logs", &[("http", false, 4318)]).unwrap();
        assert_eq!(e.path, "/custom/logs");
    }

    #[test]
    fn bad_urls_are_one_line_errors() {
        for bad in [
            "127.0.0.1:514",
            "udp://h:514",
            "tcp://:514",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://h:x",
            "tcp://[::1",
            "tcp://[::1]x",
        ] {
            let e = parse_url(bad, SYSLOG).unwrap_err();
            assert!(!e.contains('\n') && e.contains(bad), "{bad}: {e}");
        }
    }
}
