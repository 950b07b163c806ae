//! Why an upload was refused or failed, in the intake's own terms; the API edge
//! ([`crate::api::uploads`]) maps each case to its HTTP status and PeerTube's error shape.

use crate::runtime::blocking::PoolGone;
use crate::store::StoreError;

/// An upload refused or failed. Each message names the value at fault and is safe to show
/// the client (no server paths).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The request is malformed or breaks a rule (a bad field, range, size or order).
    #[error("{0}")]
    Invalid(String),
    /// The file is larger than the configured maximum.
    #[error("the file is {size} bytes; the largest accepted is {max} bytes")]
    TooLarge {
        /// Bytes announced or received.
        size: u64,
        /// `upload.max_file_bytes`.
        max: u64,
    },
    /// Storing this would take the user past their video quota (total or daily).
    #[error("The user video quota is exceeded with this video ({size} bytes; {left} bytes left of the {which} quota).")]
    QuotaExceeded {
        /// Bytes announced or received.
        size: u64,
        /// Bytes the user may still store.
        left: u64,
        /// `total` or `daily`.
        which: &'static str,
    },
    /// The user already has as many uploads in progress as allowed.
    #[error("you already have {limit} uploads in progress; finish or cancel one first")]
    TooMany {
        /// `upload.max_concurrent_per_user`.
        limit: u32,
    },
    /// No such session (or not the user's), or its video is gone.
    #[error("{0}")]
    NotFound(String),
    /// Another request is writing the same session.
    #[error("{0}")]
    Busy(&'static str),
    /// A chunk does not start where the received bytes end.
    #[error("chunk starts at byte {start}, but {received} bytes were received")]
    OutOfOrder {
        /// First byte of the chunk.
        start: u64,
        /// Bytes the server holds.
        received: u64,
    },
    /// The disk is full, or storing this would eat into the free-space reserve.
    #[error("{0}")]
    NoRoom(String),
    /// The uploading user was blocked or removed while the upload ran; it was not kept.
    #[error("{0}")]
    OwnerGone(String),
    /// The complete file is not a video the server can use.
    #[error("{0}")]
    NotAVideo(String),
    /// A file operation failed for another reason than a full disk.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The cause (logged, not shown).
        source: std::io::Error,
    },
    /// The metadata store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking pool is gone (shutting down).
    #[error(transparent)]
    Pool(#[from] PoolGone),
    /// Internal state is broken (a poisoned lock).
    #[error("{0}")]
    Internal(&'static str),
}

impl UploadError {
    /// A file operation (create, open, rename) that failed.
    pub fn file(context: &'static str, source: std::io::Error) -> UploadError {
        UploadError::Io { context, source }
    }

    /// A failed write of uploaded bytes: a full disk (or quota) is [`UploadError::NoRoom`].
    pub fn write_failed(source: std::io::Error) -> UploadError {
        if matches!(
            source.raw_os_error(),
            Some(libc::ENOSPC) | Some(libc::EDQUOT)
        ) {
            tracing::warn!(error = %source, "upload refused: the disk is full");
            return UploadError::NoRoom(
                "the server's disk is full; the upload was not stored. Try again later".into(),
            );
        }
        UploadError::Io {
            context: "writing the upload",
            source,
        }
    }
}
