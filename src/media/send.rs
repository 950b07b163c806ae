//! Sending a planned media response on a plain TCP connection, for the HTTP/1.1 fast path:
//! hot ranges go out with `sendfile(2)` straight from the page cache (no copy through user
//! space, as nginx does), everything else with vectored writes of cached chunks.

use super::cache::CHUNK;
use super::serve::{ChunkReads, PlanBody, RangeBody, SegmentServer, STREAM_THRESHOLD};
use std::io::{self, IoSlice};
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Ranges at least this long are sent with sendfile when hot; shorter ones are cheaper to copy.
const SENDFILE_MIN: u64 = 64 * 1024;

impl SegmentServer {
    /// Writes the serialized response head, then the body. Returns the body bytes sent.
    pub async fn send_plain(
        &self,
        stream: &TcpStream,
        head: &[u8],
        body: PlanBody,
    ) -> io::Result<u64> {
        match body {
            PlanBody::None => {
                write_all_vectored(stream, &mut [IoSlice::new(head)]).await?;
                Ok(0)
            }
            PlanBody::Text(t) => {
                write_all_vectored(
                    stream,
                    &mut [IoSlice::new(head), IoSlice::new(t.as_bytes())],
                )
                .await?;
                Ok(t.len() as u64)
            }
            PlanBody::Range(r) => self.send_range(stream, head, r).await,
        }
    }

    async fn send_range(&self, stream: &TcpStream, head: &[u8], r: RangeBody) -> io::Result<u64> {
        let len = r.len();
        if (SENDFILE_MIN..=STREAM_THRESHOLD).contains(&len) {
            let hot =
                self.cache
                    .borrow_mut()
                    .contains_all(r.meta.id, r.start / CHUNK, r.end / CHUNK);
            if hot {
                if let Some(file) = self.open_file(&r) {
                    self.publish_cache_metrics();
                    send_more(stream, head).await?;
                    sendfile_all(stream, &file, r.start, len).await?;
                    return Ok(len);
                }
            }
        }
        if len > STREAM_THRESHOLD {
            write_all_vectored(stream, &mut [IoSlice::new(head)]).await?;
            let reads = ChunkReads {
                path: r.path.clone(),
                next: r.start,
                end: r.end,
            };
            for (path, off, n) in reads {
                let data = self.reader.read_at(path, off, n).await?;
                write_all_vectored(stream, &mut [IoSlice::new(&data)]).await?;
            }
            return Ok(len);
        }
        let parts = match self.read_cached(&r.path, &r.meta, r.start, r.end).await {
            Ok(p) => p,
            Err(e) => {
                // The head is not sent yet: the caller closes the connection.
                self.read_failed(&r.path, &e);
                return Err(e);
            }
        };
        let mut slices = Vec::with_capacity(parts.len() + 1);
        slices.push(IoSlice::new(head));
        slices.extend(parts.iter().map(|p| IoSlice::new(p)));
        write_all_vectored(stream, &mut slices).await?;
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

/// Writes every slice, waiting for the socket as needed.
pub async fn write_all_vectored(
    stream: &TcpStream,
    mut bufs: &mut [IoSlice<'_>],
) -> io::Result<()> {
    while !bufs.is_empty() {
        if bufs[0].is_empty() {
            IoSlice::advance_slices(&mut bufs, 0);
            bufs = &mut bufs[1..];
            continue;
        }
        stream.writable().await?;
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
async fn send_more(stream: &TcpStream, mut head: &[u8]) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    while !head.is_empty() {
        stream.writable().await?;
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
async fn sendfile_all(
    stream: &TcpStream,
    file: &std::fs::File,
    offset: u64,
    len: u64,
) -> io::Result<()> {
    let mut off = offset as libc::off_t;
    let end = offset + len;
    while (off as u64) < end {
        let want = (end - off as u64).min(1 << 30) as usize;
        stream.writable().await?;
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
