//! The plain-HTTP/1.1 fast path for media. Each plain connection starts here: media GET/HEAD
//! requests are parsed (httparse) and answered directly on the socket, so hot ranges can go out
//! with sendfile and small files in one vectored write; the first request that is anything else
//! (API, WebSocket upgrade, a body, HTTP/2, a parse error) hands the connection, with the bytes
//! already read, to hyper for the rest of its life. So does a request for a private video's file
//! that carries an `Authorization` header and no valid video file token: its OAuth token is
//! checked off the event loop, on the hyper path. Objects of the bucket
//! ([`BucketRoutes`]) are answered here too, from the shard's chunk cache or the upstream.

use crate::media::layout::{is_media_path, is_private_path};
use crate::media::objstore::edge::{ObjectAnswer, ObjectRequest};
use crate::media::objstore::serve::{BucketRoute, BucketRoutes};
use crate::media::send::{send_more, sendfile_all, write_all_vectored};
use crate::media::serve::SegmentServer;
use crate::metrics::{RouteClass, ShardMetrics};
use crate::runtime::conn_limits::Activity;
use bytes::{Buf, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Largest request head the fast path parses; larger ones go to hyper (which answers 431).
const MAX_HEAD: usize = 16 * 1024;
/// Request headers the fast path looks at.
const MAX_HEADERS: usize = 64;

/// How a connection left the fast path.
pub enum Outcome {
    /// Closed (client done, error, `Connection: close`, shutdown).
    Closed,
    /// Hand the connection to hyper; these bytes were read but not consumed.
    HandOff(BytesMut),
}

/// What the fast path answers with.
pub struct FastPath<'a> {
    /// The shard's segment server.
    pub media: &'a SegmentServer,
    /// The shard's metrics.
    pub metrics: &'a ShardMetrics,
    /// How long a request head may take to arrive once it has started.
    pub header_timeout: Duration,
    /// The paths of bucket objects, when object storage is on.
    pub bucket: Option<&'a BucketRoutes>,
    /// Whether hyper's path can check an OAuth token (a primary; an edge has no database).
    pub oauth: bool,
    /// `Alt-Svc` for every response (HTTP/3 on, so the connection is TLS: kernel TLS here).
    pub alt_svc: Option<&'a HeaderValue>,
}

/// Serves media requests on `stream` until the connection closes or needs hyper.
///
/// Deadlines: a connection waiting for its next request is closed after the keep-alive idle
/// timeout; once a request's first byte has arrived, its whole head must arrive within
/// `header_timeout` (one deadline per head, however slowly the bytes trickle in).
/// `early`: request bytes already read (the plaintext that came with a TLS handshake).
/// `kernel_tls`: the socket's records are framed by the kernel ([`super::ktls`]); its reads
/// handle TLS control records.
pub async fn serve_media(
    stream: &TcpStream,
    early: BytesMut,
    kernel_tls: bool,
    server: &FastPath<'_>,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    activity: &Arc<Activity>,
) -> Outcome {
    let header_timeout = server.header_timeout;
    // Allocated when a request starts arriving and given back between requests, so an idle
    // keep-alive connection holds no read buffer.
    let mut buf = early;
    let mut deadlines = HeadDeadlines::new(header_timeout, activity.idle_timeout(), &buf);
    loop {
        let req = match parse_head(&buf) {
            Head::Media(req) => req,
            Head::Partial => {
                if buf.len() > MAX_HEAD {
                    return Outcome::HandOff(buf);
                }
                if buf.is_empty() && *shutdown.borrow() {
                    return Outcome::Closed;
                }
                let deadline = deadlines.next(&buf);
                match read_more(stream, kernel_tls, &mut buf, shutdown, deadline).await {
                    Ok(Read::Data) => continue,
                    Ok(Read::TimedOut) => {
                        activity.count_idle_timeout();
                        tracing::debug!(
                            waited_for = if buf.is_empty() {
                                "a request"
                            } else {
                                "the rest of a request head"
                            },
                            "closing a connection at its deadline"
                        );
                        return Outcome::Closed;
                    }
                    Ok(Read::Closed) | Err(_) => return Outcome::Closed,
                }
            }
            Head::HandOff => return Outcome::HandOff(buf),
        };
        // Boxed: what answering takes lives only while a request is answered, so the task of
        // an idle keep-alive connection keeps just the read's state.
        let keep_alive = req.keep_alive;
        let answered = Box::pin(answer(stream, server, req, activity)).await;
        match answered {
            Answered::Sent(len) => buf.advance(len),
            Answered::HandOff => return Outcome::HandOff(buf),
            Answered::Closed => return Outcome::Closed,
        }
        if !keep_alive || *shutdown.borrow() {
            return Outcome::Closed;
        }
        if buf.is_empty() {
            buf = BytesMut::new();
        }
        deadlines = HeadDeadlines::new(header_timeout, activity.idle_timeout(), &buf);
    }
}

/// How answering one request ended.
enum Answered {
    /// Sent; the request head was this many bytes.
    Sent(usize),
    /// Hand the connection to hyper, the request not consumed.
    HandOff,
    /// Close the connection.
    Closed,
}

/// Answers one media request on the fast path.
async fn answer(
    stream: &TcpStream,
    server: &FastPath<'_>,
    req: MediaRequest<'_>,
    activity: &Arc<Activity>,
) -> Answered {
    let FastPath {
        media,
        metrics,
        bucket,
        oauth,
        alt_svc,
        ..
    } = *server;
    if is_private_path(req.path)
        && req.headers.contains_key(http::header::AUTHORIZATION)
        && !private_token_opens(media, req.target, req.path)
    {
        // OAuth on a private file: hyper's path checks it on the blocking pool.
        return Answered::HandOff;
    }
    let mirror = req
        .path
        .starts_with(crate::media::layout::REDUNDANCY_PREFIX);
    let route = bucket.and_then(|b| Some((b, b.route(req.path)?)));
    let plan = match &route {
        Some((_, r)) if !r.disk_first => None,
        _ => Some(media.plan(&req.method, req.target, &req.headers)),
    };
    let sent = match (plan, route) {
        // Not on disk (or an edge, which keeps no files): the bucket's object.
        (plan, Some((bucket, route)))
            if plan
                .as_ref()
                .is_none_or(|p| p.head.status() == http::StatusCode::NOT_FOUND) =>
        {
            let Some(answer) = Box::pin(bucket_answer(media, bucket, &route, &req, oauth)).await
            else {
                return Answered::HandOff;
            };
            let answer = answer.with_header(http::header::ALT_SVC, alt_svc);
            send_object(stream, answer, req.version, req.keep_alive, activity).await
        }
        (plan, _) => {
            let mut plan =
                plan.unwrap_or_else(|| media.plan(&req.method, req.target, &req.headers));
            if let Some(v) = alt_svc {
                plan.head
                    .headers_mut()
                    .insert(http::header::ALT_SVC, v.clone());
            }
            let status = plan.head.status();
            let head = serialize_head(&plan.head, req.version, req.keep_alive);
            let (_, body) = plan.into_parts();
            media
                .send_plain(stream, &head, body, activity)
                .await
                .map(|n| (status, n))
        }
    };
    let (status, sent) = match sent {
        Ok(n) => n,
        Err(e) => {
            if e.kind() == io::ErrorKind::TimedOut {
                activity.count_send_timeout();
            }
            tracing::trace!(error = %e, "media send failed");
            return Answered::Closed;
        }
    };
    metrics.record(RouteClass::Media, status.as_u16(), sent);
    if mirror {
        metrics
            .mirror_bytes
            .fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
    }
    Answered::Sent(req.len)
}

/// The answer to a request for a bucket object; None when it needs hyper's path (a private
/// object asked for with an OAuth token, on a primary).
async fn bucket_answer(
    media: &SegmentServer,
    bucket: &BucketRoutes,
    route: &BucketRoute<'_>,
    req: &MediaRequest<'_>,
    oauth: bool,
) -> Option<ObjectAnswer> {
    if let Some(uuid) = route.private_uuid {
        if !media.token_opens(req.target, uuid) {
            if oauth && req.headers.contains_key(http::header::AUTHORIZATION) {
                return None;
            }
            return Some(ObjectAnswer::Response(crate::media::objstore::serve::text(
                http::StatusCode::FORBIDDEN,
                "this file needs a video file token (videoFileToken)\n",
            )));
        }
    }
    let object = ObjectRequest {
        method: &req.method,
        key: &route.key,
        headers: &req.headers,
        policy: bucket.policy(route.private_uuid.is_some()),
    };
    Some(media.answer_object(object, true).await.unwrap_or_else(|| {
        ObjectAnswer::Response(crate::media::objstore::serve::text(
            http::StatusCode::NOT_FOUND,
            "not found\n",
        ))
    }))
}

/// Sends an object's answer: a range of an on-disk cache file with `sendfile` (as hot local
/// files go), anything else as a response. Returns the status and the body bytes sent.
async fn send_object(
    stream: &TcpStream,
    answer: ObjectAnswer,
    version: u8,
    keep_alive: bool,
    activity: &Arc<Activity>,
) -> io::Result<(http::StatusCode, u64)> {
    match answer {
        ObjectAnswer::Response(resp) => {
            let status = resp.status();
            let sent = send_response(stream, resp, version, keep_alive, activity).await?;
            Ok((status, sent))
        }
        ObjectAnswer::File(resp, on, start, end) => {
            let (parts, _) = resp.into_parts();
            let status = parts.status;
            let head = serialize_head(&http::Response::from_parts(parts, ()), version, keep_alive);
            let timeout = activity.send_timeout();
            let len = end - start + 1;
            send_more(stream, &head, timeout).await?;
            sendfile_all(stream, &on.file, start, len, timeout).await?;
            activity.progress();
            Ok((status, len))
        }
    }
}

/// Writes a response (head, then its body's frames as they come) on the socket; returns the
/// body bytes sent. Each wait for the socket is bounded by the connection's send timeout.
async fn send_response(
    stream: &TcpStream,
    resp: http::Response<axum::body::Body>,
    version: u8,
    keep_alive: bool,
    activity: &Arc<Activity>,
) -> io::Result<u64> {
    use http_body_util::BodyExt;
    use std::io::IoSlice;
    let (parts, mut body) = resp.into_parts();
    let head = serialize_head(&http::Response::from_parts(parts, ()), version, keep_alive);
    let timeout = activity.send_timeout();
    let mut head = Some(head);
    let mut sent = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(io::Error::other)?.into_data() else {
            continue;
        };
        let mut slices = [
            IoSlice::new(head.as_deref().unwrap_or_default()),
            IoSlice::new(&data),
        ];
        write_all_vectored(stream, &mut slices, timeout).await?;
        head = None;
        sent += data.len() as u64;
    }
    if let Some(head) = head {
        write_all_vectored(stream, &mut [IoSlice::new(&head)], timeout).await?;
    }
    Ok(sent)
}

/// The deadlines of one request head: the keep-alive wait for its first byte, then one fixed
/// deadline for the whole head from that first byte.
struct HeadDeadlines {
    header_timeout: Duration,
    idle_until: Instant,
    head_until: Option<Instant>,
}

impl HeadDeadlines {
    fn new(header_timeout: Duration, idle_timeout: Duration, buf: &[u8]) -> HeadDeadlines {
        let now = Instant::now();
        HeadDeadlines {
            header_timeout,
            idle_until: now + idle_timeout,
            // Pipelined bytes already here: the head has started.
            head_until: (!buf.is_empty()).then(|| now + header_timeout),
        }
    }

    /// The deadline for the next read, given what has arrived so far.
    fn next(&mut self, buf: &[u8]) -> Instant {
        if buf.is_empty() {
            return self.idle_until;
        }
        *self
            .head_until
            .get_or_insert_with(|| Instant::now() + self.header_timeout)
    }
}

/// What a read brought.
enum Read {
    /// Some bytes.
    Data,
    /// End of stream or shutdown.
    Closed,
    /// The deadline passed.
    TimedOut,
}

/// Whether the target's video file token opens the private file at `path`.
fn private_token_opens(media: &SegmentServer, target: &str, path: &str) -> bool {
    let uuid = crate::media::layout::private_video_of(path).unwrap_or_default();
    media.token_opens(target, uuid)
}

/// What the fast path makes of the bytes read so far.
pub enum Head<'a> {
    /// The head is not complete yet.
    Partial,
    /// Not for the fast path (not a bodyless media GET/HEAD, or malformed): hand it to hyper.
    HandOff,
    /// A complete media GET/HEAD head.
    Media(MediaRequest<'a>),
}

/// A media request head, as the fast path answers it.
pub struct MediaRequest<'a> {
    /// `GET` or `HEAD`.
    pub method: Method,
    /// The target's path, without the query (still percent-encoded).
    pub path: &'a str,
    /// The whole target, path and query (a video file token rides in the query).
    pub target: &'a str,
    /// The request headers.
    pub headers: HeaderMap,
    /// HTTP/1.`version`.
    pub version: u8,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    /// Length of the head in bytes.
    pub len: usize,
}

/// Parses a request head at the start of `buf` (pure: no I/O; fuzzed by `fuzz::http_head`).
pub fn parse_head(buf: &[u8]) -> Head<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::HandOff,
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Head::HandOff;
    };
    let method = match method {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        _ => return Head::HandOff,
    };
    let path = target.split('?').next().unwrap_or(target);
    if !is_media_path(path) && !path.starts_with(crate::video::urls::OBJECT_STORAGE_PROXY_HLS) {
        return Head::HandOff;
    }
    let mut map = HeaderMap::with_capacity(req.headers.len());
    let mut keep_alive = version == 1;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            if h.value != b"0" {
                return Head::HandOff;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return Head::HandOff;
        } else if name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Head::HandOff;
        };
        map.append(n, v);
    }
    Head::Media(MediaRequest {
        method,
        path,
        target,
        headers: map,
        version,
        keep_alive,
        len,
    })
}

/// Reads more bytes, until `deadline` at the latest.
async fn read_more(
    stream: &TcpStream,
    kernel_tls: bool,
    buf: &mut BytesMut,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    deadline: Instant,
) -> io::Result<Read> {
    let deadline = tokio::time::sleep_until(deadline.into());
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            ready = stream.readable() => {
                ready?;
                if buf.capacity() - buf.len() < 1024 {
                    buf.reserve(4096);
                }
                let read = if kernel_tls {
                    super::ktls::try_read_buf(stream, buf)
                } else {
                    stream.try_read_buf(buf)
                };
                match read {
                    Ok(0) => return Ok(Read::Closed),
                    Ok(_) => return Ok(Read::Data),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // The readiness was stale (left from the last request): nothing came,
                        // so the connection goes back to waiting without a buffer.
                        if buf.is_empty() {
                            *buf = BytesMut::new();
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            changed = shutdown.changed() => {
                // Shutting down: a connection between requests (or mid-head) is closed.
                if changed.is_err() || *shutdown.borrow() {
                    return Ok(Read::Closed);
                }
            }
            _ = &mut deadline => return Ok(Read::TimedOut),
        }
    }
}

pub(crate) fn serialize_head(head: &http::Response<()>, version: u8, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let status = head.status();
    out.extend_from_slice(if version == 1 {
        b"HTTP/1.1 "
    } else {
        b"HTTP/1.0 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in head.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == 0 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A stream that first yields bytes already read, then the socket (for the hand-off to hyper).
pub struct Prepended<S> {
    buf: BytesMut,
    stream: S,
}

impl<S> Prepended<S> {
    /// Wraps `stream`, replaying `buf` first.
    pub fn new(buf: BytesMut, stream: S) -> Prepended<S> {
        Prepended { buf, stream }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prepended<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.buf.is_empty() {
            let n = self.buf.len().min(out.remaining());
            out.put_slice(&self.buf[..n]);
            self.buf.advance(n);
            if self.buf.is_empty() {
                // Replayed: give the buffer back for the rest of the connection's life.
                self.buf = BytesMut::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prepended<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Between requests a connection holds no read buffer, even when the wait starts on the
    /// readiness left from the last request (a read that finds nothing).
    #[tokio::test]
    async fn an_idle_connection_keeps_no_read_buffer() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_tx, mut shutdown) = tokio::sync::watch::channel(false);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = BytesMut::new();
        let far = Instant::now() + Duration::from_secs(10);
        let read = read_more(&server, false, &mut buf, &mut shutdown, far).await;
        assert!(matches!(read, Ok(Read::Data)));
        // Answered: the buffer goes back (as `serve_media` does), and the next wait begins.
        buf = BytesMut::new();
        let soon = Instant::now() + Duration::from_millis(100);
        let read = read_more(&server, false, &mut buf, &mut shutdown, soon).await;
        assert!(matches!(read, Ok(Read::TimedOut)));
        assert_eq!(buf.capacity(), 0, "an idle connection kept a read buffer");
    }

    #[test]
    fn heads_are_well_formed() {
        let mut r = http::Response::new(());
        *r.status_mut() = http::StatusCode::PARTIAL_CONTENT;
        r.headers_mut()
            .insert("content-length", HeaderValue::from(10u64));
        let h = String::from_utf8(serialize_head(&r, 1, true)).unwrap();
        assert!(h.starts_with("HTTP/1.1 206 Partial Content\r\ncontent-length: 10\r\ndate: "));
        assert!(h.ends_with("\r\n\r\n") && !h.contains("connection"));
        let h = String::from_utf8(serialize_head(&r, 0, true)).unwrap();
        assert!(h.starts_with("HTTP/1.0 206") && h.contains("connection: keep-alive\r\n"));
        let h = String::from_utf8(serialize_head(&r, 1, false)).unwrap();
        assert!(h.contains("connection: close\r\n"));
    }
}
