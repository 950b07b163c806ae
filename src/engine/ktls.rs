//! Kernel TLS. With the kernel's `tls` upper-layer protocol, a socket takes the session's keys
//! after the handshake and frames, encrypts and decrypts records itself, so media goes out with
//! `sendfile` over TLS as it does in the clear, and the HTTP/1.1 fast path serves HTTPS too.
//!
//! The handshake stays in rustls. Then ([`offload`]):
//! 1. reads stop at a record boundary ([`Cork`]): what rustls already decrypted is kept and
//!    replayed first, and no ciphertext is left half-read in user space;
//! 2. the traffic secrets and sequence numbers are taken from rustls;
//! 3. `setsockopt(TCP_ULP, "tls")`, then `SOL_TLS` `TLS_TX` and `TLS_RX` with those keys.
//!
//! From there the socket reads and writes plaintext. Records that are not application data come
//! back as control messages ([`recv`]): a `close_notify` reads as the end of the stream, any other
//! alert as an error, and a post-handshake message (a client's KeyUpdate) closes the connection,
//! since the kernel cannot change keys. Fleuve sends a `close_notify` when it closes.
//!
//! Which kernels and ciphers take it is probed once at start ([`probe`]): the probe opens
//! loopback sockets and gives each one zero keys of one cipher. A connection whose negotiated
//! cipher the kernel refused stays in rustls, as do all connections where the kernel has no
//! `tls` module or `tls.kernel_offload` is off.

use std::io;
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};

/// TLS record content types (RFC 8446 §5.1).
const CONTENT_ALERT: u8 = 21;
const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
/// Largest TLS ciphertext record body (2^14 + 256, RFC 8446 §5.2).
const MAX_RECORD: usize = 16384 + 256;

/// A protocol version and bulk cipher the kernel can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    tls13: bool,
    cipher: Cipher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

impl Suite {
    const ALL: [Suite; 6] = [
        Suite::new(true, Cipher::Aes128Gcm),
        Suite::new(true, Cipher::Aes256Gcm),
        Suite::new(true, Cipher::Chacha20Poly1305),
        Suite::new(false, Cipher::Aes128Gcm),
        Suite::new(false, Cipher::Aes256Gcm),
        Suite::new(false, Cipher::Chacha20Poly1305),
    ];

    const fn new(tls13: bool, cipher: Cipher) -> Suite {
        Suite { tls13, cipher }
    }

    /// The suite rustls negotiated, when it is one the kernel knows.
    fn of(conn: &rustls::ServerConnection) -> Option<Suite> {
        let tls13 = match conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => true,
            rustls::ProtocolVersion::TLSv1_2 => false,
            _ => return None,
        };
        let cipher = match conn.negotiated_cipher_suite()?.suite() {
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
            | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Cipher::Aes128Gcm,
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
            | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Cipher::Aes256Gcm,
            rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
                Cipher::Chacha20Poly1305
            }
            _ => return None,
        };
        Some(Suite { tls13, cipher })
    }

    /// A name for logs and the admin status.
    pub fn name(&self) -> &'static str {
        match (self.tls13, self.cipher) {
            (true, Cipher::Aes128Gcm) => "TLS1.3 AES-128-GCM",
            (true, Cipher::Aes256Gcm) => "TLS1.3 AES-256-GCM",
            (true, Cipher::Chacha20Poly1305) => "TLS1.3 CHACHA20-POLY1305",
            (false, Cipher::Aes128Gcm) => "TLS1.2 AES-128-GCM",
            (false, Cipher::Aes256Gcm) => "TLS1.2 AES-256-GCM",
            (false, Cipher::Chacha20Poly1305) => "TLS1.2 CHACHA20-POLY1305",
        }
    }
}

/// What the kernel takes: the suites whose keys it accepted in [`probe`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Support {
    pub suites: Vec<Suite>,
}

impl Support {
    fn takes(&self, suite: Suite) -> bool {
        self.suites.contains(&suite)
    }
}

/// Whether the kernel offers TLS offload, and for which suites; or why not (naming the errno).
pub fn probe() -> Result<Support, String> {
    let (client, _server) = loopback_pair()?;
    set_ulp(client.as_raw_fd()).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => format!(
            "this kernel has no `tls` upper-layer protocol (setsockopt TCP_ULP: ENOENT; available: {})",
            available_ulps()
        ),
        Some(libc::EPERM) => format!("kernel TLS is not permitted here (setsockopt TCP_ULP: {e})"),
        _ => format!("kernel TLS cannot be set up (setsockopt TCP_ULP: {e})"),
    })?;
    let mut support = Support::default();
    let mut last_error = None;
    for suite in Suite::ALL {
        // One socket per suite: a socket takes transmit keys once.
        let (client, _server) = loopback_pair()?;
        let fd = client.as_raw_fd();
        let zero = Keys {
            key: &[0; 32][..suite.cipher.key_len()],
            iv: &[0; 12],
            seq: 0,
        };
        match set_ulp(fd).and_then(|()| set_keys(fd, libc::TLS_TX, suite, &zero)) {
            Ok(()) => support.suites.push(suite),
            Err(e) => last_error = Some(format!("{}: {e}", suite.name())),
        }
    }
    if support.suites.is_empty() {
        return Err(format!(
            "the kernel's `tls` module takes none of the ciphers ({})",
            last_error.unwrap_or_default()
        ));
    }
    Ok(support)
}

fn loopback_pair() -> Result<(TcpStream, TcpStream), String> {
    let pair = || -> io::Result<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        Ok((client, server))
    };
    pair().map_err(|e| format!("cannot open a loopback socket: {e}"))
}

/// The upper-layer protocols the kernel has loaded, as it lists them.
pub fn available_ulps() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into())
}

fn set_ulp(fd: RawFd) -> io::Result<()> {
    let name = b"tls";
    // SAFETY: the option value is a live byte buffer of the given length.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_TCP,
            libc::TCP_ULP,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Cipher {
    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Gcm => 16,
            Cipher::Aes256Gcm | Cipher::Chacha20Poly1305 => 32,
        }
    }
}

/// One direction's keys: the AEAD key, the 12-byte IV rustls derived, the next record number.
struct Keys<'a> {
    key: &'a [u8],
    iv: &'a [u8],
    seq: u64,
}

/// Gives the kernel one direction's keys (`TLS_TX` or `TLS_RX`).
fn set_keys(fd: RawFd, direction: libc::c_int, suite: Suite, keys: &Keys<'_>) -> io::Result<()> {
    let version = if suite.tls13 {
        libc::TLS_1_3_VERSION
    } else {
        libc::TLS_1_2_VERSION
    };
    let seq = keys.seq.to_be_bytes();
    if keys.iv.len() != 12 || keys.key.len() != suite.cipher.key_len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "unexpected key material for {}: key {} bytes, IV {} bytes",
                suite.name(),
                keys.key.len(),
                keys.iv.len()
            ),
        ));
    }
    // The AES-GCM structures split rustls's 12-byte IV into a 4-byte salt and 8 bytes the
    // kernel calls the IV (TLS 1.2's initial explicit nonce; TLS 1.3 joins them again).
    macro_rules! gcm {
        ($ty:ident, $cipher:expr) => {{
            // SAFETY: a plain C struct of integers and byte arrays; all zeroes is valid.
            let mut info: libc::$ty = unsafe { std::mem::zeroed() };
            info.info.version = version;
            info.info.cipher_type = $cipher;
            info.salt.copy_from_slice(&keys.iv[..4]);
            info.iv.copy_from_slice(&keys.iv[4..]);
            info.key.copy_from_slice(keys.key);
            info.rec_seq = seq;
            setsockopt_tls(fd, direction, &info)
        }};
    }
    match suite.cipher {
        Cipher::Aes128Gcm => gcm!(tls12_crypto_info_aes_gcm_128, libc::TLS_CIPHER_AES_GCM_128),
        Cipher::Aes256Gcm => gcm!(tls12_crypto_info_aes_gcm_256, libc::TLS_CIPHER_AES_GCM_256),
        Cipher::Chacha20Poly1305 => {
            // SAFETY: as above.
            let mut info: libc::tls12_crypto_info_chacha20_poly1305 = unsafe { std::mem::zeroed() };
            info.info.version = version;
            info.info.cipher_type = libc::TLS_CIPHER_CHACHA20_POLY1305;
            info.iv.copy_from_slice(keys.iv);
            info.key.copy_from_slice(keys.key);
            info.rec_seq = seq;
            setsockopt_tls(fd, direction, &info)
        }
    }
}

fn setsockopt_tls<T>(fd: RawFd, direction: libc::c_int, info: &T) -> io::Result<()> {
    // SAFETY: `info` is a live crypto-info struct of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_TLS,
            direction,
            (info as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads of the handshake that stop at TLS record boundaries, so that when rustls is done the
/// socket holds every byte it has not seen, from a record's start: the kernel can take over
/// from there. Reads go straight through once [`Cork::open`] is called, and before the first
/// one when the connection will not be offloaded.
pub struct Cork<S> {
    io: S,
    state: CorkState,
    /// Shut at the end of the record being read.
    shut_at_boundary: bool,
}

#[derive(Clone, Copy)]
enum CorkState {
    /// Reading a record header; `have` of its 5 bytes read.
    Header { buf: [u8; 5], have: usize },
    /// Reading a record body; `left` bytes to its end.
    Body { left: usize },
    /// At a record boundary and corked: reads end (the stream looks finished to rustls).
    Shut,
    /// Not counting: reads go straight through.
    Open,
}

impl<S> Cork<S> {
    /// Counts records from the first byte (for a connection that may be offloaded).
    pub fn counting(io: S) -> Cork<S> {
        Cork {
            io,
            state: CorkState::Header {
                buf: [0; 5],
                have: 0,
            },
            shut_at_boundary: false,
        }
    }

    /// Reads go straight through from the start.
    pub fn open(io: S) -> Cork<S> {
        Cork {
            io,
            state: CorkState::Open,
            shut_at_boundary: false,
        }
    }

    /// Stops counting: reads go straight through from now on.
    fn uncork(&mut self) {
        self.state = CorkState::Open;
    }

    /// Ends reads at the next record boundary (at once if at one).
    fn shut(&mut self) {
        match self.state {
            CorkState::Header { have: 0, .. } => self.state = CorkState::Shut,
            // Mid-record: the read that completes the record shuts it.
            CorkState::Header { .. } | CorkState::Body { .. } => self.shut_at_boundary = true,
            CorkState::Shut | CorkState::Open => {}
        }
    }

    fn shutting(&self) -> bool {
        matches!(self.state, CorkState::Shut)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Cork<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let want = match this.state {
            CorkState::Open => return Pin::new(&mut this.io).poll_read(cx, out),
            CorkState::Shut => return Poll::Ready(Ok(())),
            CorkState::Header { have, .. } => 5 - have,
            CorkState::Body { left } => left,
        };
        let want = want.min(out.remaining());
        let mut part = ReadBuf::new(out.initialize_unfilled_to(want));
        ready!(Pin::new(&mut this.io).poll_read(cx, &mut part))?;
        let n = part.filled().len();
        match &mut this.state {
            CorkState::Header { buf, have } => {
                buf[*have..*have + n].copy_from_slice(part.filled());
                *have += n;
                if *have == 5 {
                    let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
                    if len > MAX_RECORD {
                        // Not TLS as we know it: let rustls see it all and fail.
                        this.state = CorkState::Open;
                    } else if len > 0 {
                        this.state = CorkState::Body { left: len };
                    } else {
                        this.state = CorkState::Header {
                            buf: [0; 5],
                            have: 0,
                        };
                    }
                }
            }
            CorkState::Body { left } => {
                *left -= n;
                if *left == 0 {
                    this.state = CorkState::Header {
                        buf: [0; 5],
                        have: 0,
                    };
                }
            }
            CorkState::Open | CorkState::Shut => {}
        }
        if this.shut_at_boundary && matches!(this.state, CorkState::Header { have: 0, .. }) {
            this.state = CorkState::Shut;
        }
        out.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Cork<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A connection after the handshake: offloaded to the kernel, or kept in rustls.
pub enum Session {
    /// The kernel frames and encrypts; `early` is plaintext rustls had already decrypted, to be
    /// read before the socket's.
    Kernel {
        tcp: tokio::net::TcpStream,
        early: bytes::BytesMut,
        alpn_h2: bool,
    },
    /// rustls frames and encrypts, in user space (boxed: rustls's connection state is large).
    User(Box<tokio_rustls::server::TlsStream<Cork<tokio::net::TcpStream>>>),
}

/// Hands a finished handshake to the kernel when it takes the negotiated suite; otherwise the
/// connection stays in rustls. An error means the connection is lost (the keys were already out
/// of rustls, or the socket failed while the handshake's last records were read or written).
pub async fn offload(
    mut tls: tokio_rustls::server::TlsStream<Cork<tokio::net::TcpStream>>,
    support: &Support,
) -> io::Result<Session> {
    let suite = Suite::of(tls.get_ref().1);
    let Some(suite) = suite.filter(|s| support.takes(*s)) else {
        tls.get_mut().0.uncork();
        return Ok(Session::User(Box::new(tls)));
    };
    let alpn_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    // Read what rustls has decrypted, and the rest of a record it has only begun, up to a
    // record boundary; from there on the socket's bytes are the kernel's.
    tls.get_mut().0.shut();
    let mut early = bytes::BytesMut::new();
    loop {
        if early.len() > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more than 1 MiB sent with the handshake",
            ));
        }
        early.reserve(16 * 1024);
        match tls.read_buf(&mut early).await {
            Ok(0) => break,
            Ok(_) => continue,
            // rustls calls a stream end without close_notify unexpected; here it is the cork.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    let (cork, mut conn) = tls.into_inner();
    if !cork.shutting() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection ended inside a TLS record",
        ));
    }
    let mut tcp = cork.io;
    // Records rustls still holds to send (session tickets) go out before the keys leave it.
    while conn.wants_write() {
        let mut pending = Vec::new();
        conn.write_tls(&mut pending)?;
        tcp.write_all(&pending).await?;
    }
    let secrets = conn
        .dangerous_extract_secrets()
        .map_err(|e| io::Error::other(format!("cannot take the TLS keys from rustls: {e}")))?;
    let fd = tcp.as_raw_fd();
    set_ulp(fd)?;
    for (direction, (seq, secret)) in [(libc::TLS_TX, secrets.tx), (libc::TLS_RX, secrets.rx)] {
        let (key, iv) = match &secret {
            rustls::ConnectionTrafficSecrets::Aes128Gcm { key, iv }
            | rustls::ConnectionTrafficSecrets::Aes256Gcm { key, iv }
            | rustls::ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (key, iv),
            _ => {
                return Err(io::Error::other("rustls gave keys of an unknown cipher"));
            }
        };
        let keys = Keys {
            key: key.as_ref(),
            iv: iv.as_ref(),
            seq,
        };
        set_keys(fd, direction, suite, &keys)?;
    }
    Ok(Session::Kernel {
        tcp,
        early,
        alpn_h2,
    })
}

/// Reads plaintext from a kernel TLS socket, without blocking: the bytes of application data
/// records, `Ok(0)` at the stream's end or the client's `close_notify`, `WouldBlock` when
/// nothing is there. Any other alert or a post-handshake message is an error (the connection
/// ends). One `recvmsg` per call.
pub fn recv(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    if buf.len() < 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "kernel TLS reads need room for an alert",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one control message carrying one byte, aligned for cmsghdr.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; all zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in `msg` is to live, writable memory of the stated length.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: `msg` was filled by recvmsg; the macros walk its control buffer.
    let record_type = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_TLS
            || (*cmsg).cmsg_type != libc::TLS_GET_RECORD_TYPE
        {
            CONTENT_APPLICATION_DATA
        } else {
            *libc::CMSG_DATA(cmsg)
        }
    };
    // SAFETY: recvmsg wrote the first `n` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
    match record_type {
        CONTENT_APPLICATION_DATA => Ok(n),
        CONTENT_ALERT => match bytes {
            // close_notify, or an alert cut short: the client is done.
            [_, 0] | [] | [_] => Ok(0),
            // Any other alert ends the connection too, warnings included (TLS 1.3 has no other
            // warnings; skipping them would let a client keep the shard reading alerts).
            [_, description, ..] => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("the client sent a TLS alert ({description})"),
            )),
        },
        CONTENT_HANDSHAKE => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "a TLS handshake message (type {}) after the handshake: kernel TLS cannot \
                 change keys, so the connection ends",
                bytes.first().copied().unwrap_or(0)
            ),
        )),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a TLS record of type {other} after the handshake"),
        )),
    }
}

/// Sends a `close_notify` alert on a kernel TLS socket (best effort: one non-blocking send).
pub fn send_close_notify(fd: RawFd) {
    let alert = [1u8, 0u8];
    let mut iov = libc::iovec {
        iov_base: alert.as_ptr() as *mut libc::c_void,
        iov_len: alert.len(),
    };
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; all zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(1) } as _;
    // SAFETY: the control buffer is live, aligned and at least CMSG_SPACE(1) long.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_TLS;
        (*cmsg).cmsg_type = libc::TLS_SET_RECORD_TYPE;
        (*cmsg).cmsg_len = libc::CMSG_LEN(1) as _;
        *libc::CMSG_DATA(cmsg) = CONTENT_ALERT;
        libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
    }
}

/// Reads into `buf`'s spare room from a kernel TLS socket, without blocking (as
/// `TcpStream::try_read_buf`).
pub fn try_read_buf(tcp: &tokio::net::TcpStream, buf: &mut bytes::BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 2 {
        buf.reserve(4096);
    }
    let fd = tcp.as_raw_fd();
    let n = tcp.try_io(Interest::READABLE, || recv(fd, buf.spare_capacity_mut()))?;
    // SAFETY: `recv` initialised the first `n` bytes of the spare room.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// A kernel TLS socket as a byte stream (for hyper): the early plaintext first, then the
/// socket's, with TLS control records handled by [`recv`]; a `close_notify` on shutdown.
pub struct KernelTlsStream {
    tcp: tokio::net::TcpStream,
    early: bytes::BytesMut,
    closed: bool,
}

impl KernelTlsStream {
    pub fn new(tcp: tokio::net::TcpStream, early: bytes::BytesMut) -> KernelTlsStream {
        KernelTlsStream {
            tcp,
            early,
            closed: false,
        }
    }
}

impl AsyncRead for KernelTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.early.is_empty() {
            let n = self.early.len().min(out.remaining());
            out.put_slice(&self.early.split_to(n));
            if self.early.is_empty() {
                self.early = bytes::BytesMut::new();
            }
            return Poll::Ready(Ok(()));
        }
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            let fd = self.tcp.as_raw_fd();
            // SAFETY: `recv` only writes bytes, and `assume_init` covers exactly those.
            let unfilled = unsafe { out.unfilled_mut() };
            match self.tcp.try_io(Interest::READABLE, || recv(fd, unfilled)) {
                Ok(n) => {
                    // SAFETY: `recv` initialised the first `n` unfilled bytes.
                    unsafe { out.assume_init(n) };
                    out.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for KernelTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.closed {
            self.closed = true;
            send_close_notify(self.tcp.as_raw_fd());
        }
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe agrees with the kernel: when it finds `tls`, the kernel lists it as loaded;
    /// when it does not (the kernels here), the reason names ENOENT and the list lacks it.
    #[test]
    fn the_probe_agrees_with_the_kernels_list() {
        let listed = || available_ulps().split_whitespace().any(|u| u == "tls");
        match probe() {
            Ok(support) => {
                assert!(listed(), "tls set up but not listed: {}", available_ulps());
                assert!(!support.suites.is_empty());
            }
            Err(why) => {
                assert!(!listed(), "tls listed but the probe failed: {why}");
                assert!(
                    why.contains("ENOENT") || why.contains("not permitted"),
                    "{why}"
                );
                eprintln!("kernel TLS: {why}");
            }
        }
    }

    /// The cork passes a handshake through record by record and ends reads at a boundary.
    #[tokio::test]
    async fn the_cork_stops_at_record_boundaries() {
        // Two records (5-byte headers, bodies of 3 and 2 bytes), then the start of a third.
        let wire: &[u8] = &[
            22, 3, 3, 0, 3, 1, 2, 3, 23, 3, 3, 0, 2, 4, 5, 23, 3, 3, 0, 9, 6,
        ];
        let mut cork = Cork::counting(wire);
        let mut got = vec![0u8; 64];
        let n = cork.read(&mut got).await.unwrap();
        assert_eq!(n, 5, "a header alone");
        let n = cork.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], &[1, 2, 3], "the body, and no further");
        cork.shut();
        assert!(cork.shutting());
        assert_eq!(cork.read(&mut got).await.unwrap(), 0, "shut at a boundary");
        let mut cork = Cork::counting(wire);
        let mut all = Vec::new();
        for _ in 0..3 {
            let mut b = [0u8; 64];
            let n = cork.read(&mut b).await.unwrap();
            all.extend_from_slice(&b[..n]);
        }
        // Mid-record (header read): shutting waits for the record's end.
        cork.shut();
        assert!(!cork.shutting());
        let mut b = [0u8; 64];
        let n = cork.read(&mut b).await.unwrap();
        all.extend_from_slice(&b[..n]);
        assert_eq!(all, &wire[..15]);
        cork.uncork();
        let n = cork.read(&mut b).await.unwrap();
        assert_eq!(&b[..n], &wire[15..], "open: straight through");
    }
}
