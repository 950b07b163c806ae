//! Sending a planned media response on a plain TCP connection, for the HTTP/1.1 fast path:
//! hot ranges go out with `sendfile(2)` straight from the page cache (no copy through user
//! space, as nginx does), everything else with vectored writes of cached chunks.

use super::body::Pieces;
use super::cache::CHUNK;
use super::fileio::{resident, OpenFile};
use super::serve::{PlanBody, RangeBody, SegmentServer, STREAM_THRESHOLD};
use crate::metrics::RangeSource;
use crate::runtime::conn_limits::Activity;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Ranges at least this long are sent with sendfile when hot; shorter ones are cheaper to copy.
const SENDFILE_MIN: u64 = 64 * 1024;
/// The first piece of a cold range: small, so the first bytes leave before the rest is read.
const COLD_FIRST: u64 = 128 * 1024;
/// The later pieces of a cold range (each costs the shard's loop a turn: not too small).
const COLD_PIECE: u64 = 1024 * 1024;

/// The pieces a cold range is read in: [`COLD_FIRST`], then [`COLD_PIECE`]s, the later ones
/// aligned on [`COLD_PIECE`] in the file.
struct ColdPieces {
    next: u64,
    end: u64,
    first: bool,
}

impl ColdPieces {
    fn new(start: u64, end: u64) -> ColdPieces {
        ColdPieces {
            next: start,
            end,
            first: true,
        }
    }
}

impl Iterator for ColdPieces {
    /// Offset and length.
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        if self.next > self.end {
            return None;
        }
        let room = if std::mem::take(&mut self.first) {
            COLD_FIRST - self.next % COLD_FIRST
        } else {
            COLD_PIECE - self.next % COLD_PIECE
        };
        let len = room.min(self.end - self.next + 1);
        let item = (self.next, len);
        self.next += len;
        Some(item)
    }
}

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

    /// Sends `r`: short ranges through the shard's cache; longer ones from the cache when all
    /// their chunks are there, else with `sendfile` when the kernel says every page is in the
    /// page cache (hot), else read from disk through the ring in pieces (cold; see
    /// [`send_cold`](Self::send_cold)). The page cache is the cache of long ranges here: they do
    /// not enter the shard's cache, so their bytes are not held twice.
    async fn send_range(
        &self,
        stream: &TcpStream,
        head: &[u8],
        r: RangeBody,
        activity: &Arc<Activity>,
    ) -> io::Result<u64> {
        let len = r.len();
        let timeout = activity.send_timeout();
        if len >= SENDFILE_MIN {
            let in_memory = len <= STREAM_THRESHOLD
                && self
                    .cache
                    .borrow_mut()
                    .contains_all(r.meta.id, r.start / CHUNK, r.end / CHUNK);
            if !in_memory {
                let file = match self.open(&r.path, &r.meta).await {
                    Ok(f) => f,
                    Err(e) => {
                        self.read_failed(&r.path, &e);
                        return Err(e);
                    }
                };
                if resident(&file, r.start, len) != Some(false) {
                    self.metrics.large_range(RangeSource::PageCache);
                    send_more(stream, head, timeout).await?;
                    sendfile_all(stream, &file, r.start, len, timeout).await?;
                    activity.progress();
                    return Ok(len);
                }
                self.metrics.large_range(RangeSource::Disk);
                return self.send_cold(stream, head, &r, file, activity).await;
            }
            self.metrics.large_range(RangeSource::Memory);
            self.publish_cache_metrics();
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

    /// Sends a cold range: read through the shard's ring (the shard serves its other
    /// connections meanwhile), a short first piece so the head and the first bytes leave at
    /// once, then larger pieces, each read while the one before it is written (one read ahead).
    /// Each piece holds its share of the send budget until written.
    async fn send_cold(
        &self,
        stream: &TcpStream,
        head: &[u8],
        r: &RangeBody,
        file: OpenFile,
        activity: &Arc<Activity>,
    ) -> io::Result<u64> {
        let timeout = activity.send_timeout();
        let mut pieces = ColdPieces::new(r.start, r.end);
        let read = |(off, n): (u64, u64)| {
            let f = file.clone();
            async move {
                let reservation = activity.reserve(n).await;
                f.read_at(off, n as usize)
                    .await
                    .map(|d| reservation.attach(d))
            }
        };
        let Some(first) = pieces.next() else {
            return Ok(0);
        };
        let mut ready = read(first).await;
        let mut head = Some(head);
        loop {
            let data = match ready {
                Ok(d) => d,
                Err(e) => {
                    self.read_failed(&r.path, &e);
                    return Err(e);
                }
            };
            let h = head.take();
            // The piece (and its share of the budget) goes as soon as it is written, while the
            // next one may still be reading.
            let write = async {
                let data = data;
                let mut slices = [IoSlice::new(h.unwrap_or_default()), IoSlice::new(&data)];
                write_all_vectored(stream, &mut slices, timeout).await
            };
            match pieces.next() {
                Some(next) => {
                    let (written, next) = tokio::join!(write, read(next));
                    written?;
                    ready = next;
                }
                None => {
                    write.await?;
                    break;
                }
            }
            activity.progress();
        }
        Ok(r.len())
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
    file: &impl std::os::fd::AsFd,
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
    fn cold_pieces_start_small_then_align() {
        let p: Vec<_> = ColdPieces::new(1000, 2 * COLD_PIECE + 10).collect();
        assert_eq!(p[0], (1000, COLD_FIRST - 1000));
        assert_eq!(p[1], (COLD_FIRST, COLD_PIECE - COLD_FIRST));
        assert_eq!(p[2], (COLD_PIECE, COLD_PIECE));
        assert_eq!(p.last().unwrap(), &(2 * COLD_PIECE, 11));
        assert_eq!(
            p.iter().map(|x| x.1).sum::<u64>(),
            2 * COLD_PIECE + 10 - 1000 + 1
        );
        assert_eq!(ColdPieces::new(5, 5).collect::<Vec<_>>(), vec![(5, 1)]);
    }

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
