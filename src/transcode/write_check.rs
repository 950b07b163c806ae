//! Write errors of libav's muxers, which the HLS muxer would otherwise drop. libavformat keeps a
//! failed write in the `AVIOContext`'s `error` field, but `avio_close` (FFmpeg 5.1) returns only
//! the close's own status and the HLS muxer ignores even that: on a full disk a rung "succeeds"
//! with a truncated fMP4 and an empty playlist, and the job fails later with a misleading
//! "invalid HLS playlist". An output watched here closes every file it opened (the segment file,
//! the playlist's temp file, nested muxers' files) through [`close_checked`], which flushes, reads
//! the error, closes, and remembers the first failure for [`WriteWatch::check`].

use ff::ffi;
use ffmpeg_next as ff;
use std::cell::Cell;

thread_local! {
    /// The first write error of the outputs watched on this thread (0 = none). Muxers call
    /// their I/O callbacks synchronously on the thread that drives them, and each rung is muxed
    /// on its own thread, so a thread-local needs no pointer into the context.
    static FIRST_ERROR: Cell<libc::c_int> = const { Cell::new(0) };
}

/// Watches the writes of one output context on the current thread.
pub struct WriteWatch {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl WriteWatch {
    /// Routes `output`'s file closes (and those of the muxers it nests) through
    /// [`close_checked`], and forgets earlier errors of this thread.
    pub fn attach(output: &mut ff::format::context::Output) -> WriteWatch {
        FIRST_ERROR.with(|e| e.set(0));
        // SAFETY: `output` owns a live `AVFormatContext`; `io_close2` is a plain callback field
        // that libavformat reads when it closes a file, and `close_checked` has its signature.
        // The default `io_close` stays in place, which is what makes libavformat call
        // `io_close2` (and the HLS muxer copies both into its nested contexts).
        unsafe {
            (*output.as_mut_ptr()).io_close2 = Some(close_checked);
        }
        WriteWatch {
            _not_send: std::marker::PhantomData,
        }
    }

    /// The first write that failed since [`WriteWatch::attach`], as libav's error.
    pub fn check(&self) -> Result<(), ff::Error> {
        match FIRST_ERROR.with(|e| e.get()) {
            0 => Ok(()),
            code => Err(ff::Error::from(code)),
        }
    }
}

/// An `io_close2` that reports what `avio_close` would lose: flushes, takes the context's
/// sticky write error, closes, and records the first failure of this thread.
unsafe extern "C" fn close_checked(
    _s: *mut ffi::AVFormatContext,
    pb: *mut ffi::AVIOContext,
) -> libc::c_int {
    if pb.is_null() {
        return 0;
    }
    // SAFETY: libavformat hands over a live I/O context it opened through `io_open` and no
    // longer uses; flushing, reading `error` and closing it is what its default `io_close2`
    // (`avio_close`) does.
    let code = unsafe {
        let writing = (*pb).write_flag != 0;
        if writing {
            ffi::avio_flush(pb);
        }
        let failed = if writing { (*pb).error } else { 0 };
        let closed = ffi::avio_close(pb);
        if failed < 0 {
            failed
        } else {
            closed
        }
    };
    if code < 0 {
        FIRST_ERROR.with(|e| {
            if e.get() == 0 {
                e.set(code);
            }
        });
    }
    code
}
