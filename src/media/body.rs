//! Media response bodies for the hyper path (HTTP/2, TLS, handed-off HTTP/1.1): bytes are read
//! only when hyper asks for the next frame, one piece at a time, and every piece holds its share
//! of the connection's and the process's send budget until it has been written. A client that
//! reads nothing (a zero HTTP/2 window, a full TCP window) therefore costs no reads and at most
//! one piece per response, bounded again per connection and per process.

use super::cache::CHUNK;
use super::serve::{RangeBody, SegmentServer, STREAM_THRESHOLD};
use crate::runtime::conn_limits::{Activity, MediaBodyGuard};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The pieces of `start..=end`: aligned on cache chunks when the range goes through the cache
/// (so each piece is one chunk's slice), plain `CHUNK`-sized reads when it bypasses it.
pub(super) struct Pieces {
    next: u64,
    end: u64,
    aligned: bool,
}

impl Pieces {
    pub(super) fn new(start: u64, end: u64) -> Pieces {
        Pieces {
            next: start,
            end,
            aligned: end - start < STREAM_THRESHOLD,
        }
    }

    /// Whether the pieces go through the cache.
    pub(super) fn cached(&self) -> bool {
        self.aligned
    }
}

impl Iterator for Pieces {
    /// Offset and length of the next piece.
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        if self.next > self.end {
            return None;
        }
        let room = if self.aligned {
            CHUNK - self.next % CHUNK
        } else {
            CHUNK
        };
        let len = room.min(self.end - self.next + 1);
        let item = (self.next, len);
        self.next += len;
        Some(item)
    }
}

impl SegmentServer {
    /// One piece of a planned range: from the cache (filling it) when `cached`, else straight
    /// from disk.
    pub(super) async fn piece(
        &self,
        r: &RangeBody,
        cached: bool,
        off: u64,
        len: u64,
    ) -> io::Result<Bytes> {
        if cached {
            let mut parts = self
                .read_cached(&r.path, &r.meta, off, off + len - 1)
                .await?;
            Ok(parts.pop().unwrap_or_default())
        } else {
            let file = self.open(&r.path, &r.meta).await?;
            file.read_at(off, len as usize).await
        }
    }
}

/// Builds the lazy body of `r`: a task on the shard reads each piece when the body is polled.
pub(super) fn lazy(server: Rc<SegmentServer>, r: RangeBody, guard: MediaBodyGuard) -> MediaBody {
    let (demand_tx, mut demand_rx) = mpsc::channel::<()>(1);
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(1);
    let activity: Arc<Activity> = guard.activity().clone();
    let remaining = r.len();
    tokio::task::spawn_local(async move {
        let pieces = Pieces::new(r.start, r.end);
        let cached = pieces.cached();
        for (off, len) in pieces {
            // Nothing is read before hyper asks for it.
            if demand_rx.recv().await.is_none() {
                return;
            }
            let reservation = activity.reserve(len).await;
            let out = server.piece(&r, cached, off, len).await;
            let failed = match &out {
                Err(e) => {
                    server.read_failed(&r.path, e);
                    true
                }
                Ok(_) => false,
            };
            if tx.send(out.map(|b| reservation.attach(b))).await.is_err() || failed {
                return;
            }
        }
    });
    MediaBody {
        rx,
        demand: demand_tx,
        asked: false,
        remaining,
        guard,
    }
}

/// A media body read on demand (see the module docs).
pub struct MediaBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    demand: mpsc::Sender<()>,
    asked: bool,
    remaining: u64,
    guard: MediaBodyGuard,
}

impl http_body::Body for MediaBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        if !self.asked {
            match self.demand.try_send(()) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(())) => self.asked = true,
                Err(mpsc::error::TrySendError::Closed(())) => {
                    return Poll::Ready(Some(Err(io::Error::other("media reader stopped"))))
                }
            }
            self.guard.activity().progress();
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(data))) => {
                self.asked = false;
                self.remaining = self.remaining.saturating_sub(data.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(e))) => {
                self.remaining = 0;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.remaining = 0;
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "media reader ended early",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_pieces_follow_chunk_boundaries() {
        let p: Vec<_> = Pieces::new(10, 2 * CHUNK + 5).collect();
        assert_eq!(p, vec![(10, CHUNK - 10), (CHUNK, CHUNK), (2 * CHUNK, 6)]);
        assert!(Pieces::new(10, 2 * CHUNK + 5).cached());
    }

    #[test]
    fn streamed_pieces_are_chunk_sized_reads() {
        let end = STREAM_THRESHOLD + 100;
        let p = Pieces::new(7, end);
        assert!(!p.cached());
        let v: Vec<_> = p.collect();
        assert_eq!(v[0], (7, CHUNK));
        assert_eq!(v.iter().map(|x| x.1).sum::<u64>(), end - 7 + 1);
    }
}
