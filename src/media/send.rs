//! Sending a planned media response on a plain TCP connection, for the HTTP/1.1 fast path:
//! hot ranges go out with `sendfile(2)` straight from the page cache (no copy through user
//! space, as nginx does), everything else with vectored writes of cached chunks.

use super::body::Pieces;
use super::cache::CHUNK;
use super::serve::{PlanBody, RangeBody, SegmentServer, STREAM_THRESHOLD};
use crate::runtime::conn_limits::Activity;
use std::io::{self, IoSlice};
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Ranges at least this long are sent with sendfile when hot; shorter ones are cheaper to copy.
const SENDFILE_MIN: u64 = 64 * 1024;

impl SegmentServer {
    /// Writes the serialized response head, then the body. Returns the body bytes sent. Every
    /// wait for the socket is bounded by the connection's send timeout, and the body goes out one
    /// piece at a time, each held against the send budget while it is written.
    pub async fn send_plain(
        &self,
        stream: &TcpStream,
        head: &[u8],
        body: PlanBody,
        activity: &Arc<Activity>,
    ) -> io::Result<u64> {
        let timeout = activity.send_timeout();
        match body {
            PlanBody::None => {
                write_all_vectored(stream, &mut [IoSlice::new(head)], timeout).await?;
                Ok(0)
            }
            PlanBody::Text(t) => {
                write_all_vectored(
                    stream,
                    &mut [IoSlice::new(head), IoSlice::new(t.as_bytes())],
                    timeout,
                )
                .await?;
                Ok(t.len() as u64)
            }
            PlanBody::Range(r) => self.send_range(stream, head, r, activity).await,
        }
    }

    async fn send_range(
        &self,
        stream: &TcpStream,
        head: &[u8],
        r: RangeBody,
        activity: &Arc<Activity>,
    ) -> io::Result<u64> {
        let len = r.len();
        let timeout = activity.send_timeout();
        if (SENDFILE_MIN..=STREAM_THRESHOLD).contains(&len) {
            let hot =
                self.cache
                    .borrow_mut()
                    .contains_all(r.meta.id, r.start / CHUNK, r.end / CHUNK);
            if hot {
                if let Some(file) = self.open_file(&r) {
                    self.publish_cache_metrics();
                    send_more(stream, head, timeout).await?;
                    sendfile_all(stream, &file, r.start, len, timeout).await?;
                    activity.progress();
                    return Ok(len);
                }
            }
        }
        let pieces = Pieces::new(r.start, r.end);
        let cached = pieces.cached();
        let mut head = Some(head);
        for (off, n) in pieces {
            let reservation = activity.reserve(n).await;
            let data = match self.piece(&r, cached, off, n).await {
                Ok(d) => d,
                Err(e) => {
                    // Before the head is sent the caller just closes the connection; after, the
                    // short body tells the client the response is incomplete.
                    self.read_failed(&r.path, &e);
                    return Err(e);
                }
            };
            match head.take() {
                Some(h) => {
                    write_all_vectored(stream, &mut [IoSlice::new(h), IoSlice::new(&data)], timeout)
                        .await?
                }
                None => write_all_vectored(stream, &mut [IoSlice::new(&data)], timeout).await?,
            }
            drop(reservation);
        }
        Ok(len)
    }

    /// An open descriptor of exactly the file version in `r` (reused across requests).
    fn open_file(&self, r: &RangeBody) -> Option<Rc<std::fs::File>> {
        let id = r.meta.id;
        if let Some(f) = self.files.borrow_mut().get(&id) {
            return Some(f.clone());
        }
        let file = std::fs::File::open(&r.path).ok()?;
        let md = file.metadata().ok()?;
        if md.ino() != id.ino || md.dev() != id.dev || md.len() != id.size {
            return None;
        }
        let file = Rc::new(file);
        self.files.borrow_mut().put(id, file.clone());
        Some(file)
    }
}

/// Waits until `stream` is writable, at most `timeout` (a client that reads nothing for that long
/// is given up on, as nginx's `send_timeout` does).
async fn writable(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    match tokio::time::timeout(timeout, stream.writable()).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "send timeout: the client read nothing",
        )),
    }
}

/// Writes every slice, waiting for the socket as needed (each wait at most `timeout`).
pub async fn write_all_vectored(
    stream: &TcpStream,
    mut bufs: &mut [IoSlice<'_>],
    timeout: Duration,
) -> io::Result<()> {
    while !bufs.is_empty() {
        if bufs[0].is_empty() {
            // Drops the empty slices at the front (and only those).
            IoSlice::advance_slices(&mut bufs, 0);
            continue;
        }
        writable(stream, timeout).await?;
        match stream.try_write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `head` with `MSG_MORE`, so it leaves in the same segment as the first body bytes.
pub(crate) async fn send_more(
    stream: &TcpStream,
    mut head: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    while !head.is_empty() {
        writable(stream, timeout).await?;
        match stream.try_io(Interest::WRITABLE, || {
            sock.send_with_flags(head, libc::MSG_MORE)
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => head = &head[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// sendfile(2) of `len` bytes at `offset`, waiting for the socket as needed.
pub(crate) async fn sendfile_all(
    stream: &TcpStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
    timeout: Duration,
) -> io::Result<()> {
    let mut off = offset as libc::off_t;
    let end = offset + len;
    while (off as u64) < end {
        let want = (end - off as u64).min(1 << 30) as usize;
        writable(stream, timeout).await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile(stream, file, Some(&mut off), want)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than planned",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_slices_are_skipped_and_nothing_else() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            let timeout = Duration::from_secs(5);
            let mut slices = [
                IoSlice::new(b""),
                IoSlice::new(b"abc"),
                IoSlice::new(b""),
                IoSlice::new(b"de"),
            ];
            write_all_vectored(&client, &mut slices, timeout)
                .await
                .unwrap();
            write_all_vectored(&client, &mut [IoSlice::new(b"")], timeout)
                .await
                .unwrap();
            drop(client);
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut server, &mut got)
                .await
                .unwrap();
            assert_eq!(got, b"abcde");
        });
    }
}
