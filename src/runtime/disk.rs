//! Disk space on the data directory: how much is free, the reserve below which uploads are
//! refused, and the store's recovery after a write failed for lack of space (reopen once the
//! disk has room again, reported to the admin status, `/metrics` and systemd).

use crate::app::App;
use crate::store::Health;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bytes available to this (unprivileged) process on the file system holding `path`.
pub fn available_bytes(path: &Path) -> std::io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    // `fsblkcnt_t` and `c_ulong` are u64 only on 64-bit targets.
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(st.blocks_available()).saturating_mul(u64::from(st.fragment_size())))
}

/// The data directory's free space, as last measured (for `/metrics` and the status).
#[derive(Debug, Default)]
pub struct DiskGauge {
    /// Bytes available, at the last check.
    pub available: AtomicU64,
}

/// What one check of the store found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCheck {
    /// Writes work.
    Writable,
    /// Read-only, and the disk is still short of the reserve.
    WaitingForSpace,
    /// Reopened: writes work again.
    Recovered,
    /// The reopen failed; the store is closed (only a restart can help).
    Failed(String),
}

/// Measures the free space and, when the store is read-only and the disk has room again
/// (the upload reserve is free), reopens it. Blocking: run it on the blocking pool.
pub fn check_store(app: &App) -> StoreCheck {
    let free = available_bytes(&app.data_dir).unwrap_or(0);
    app.disk.available.store(free, Relaxed);
    match app.store.health() {
        Health::Writable => StoreCheck::Writable,
        Health::ReadOnly { .. } if free < app.config.upload.min_free_bytes => {
            StoreCheck::WaitingForSpace
        }
        Health::ReadOnly { error, .. } => {
            tracing::info!(free_bytes = free, after = %error, "disk space is back; reopening the metadata store");
            match app.store.reopen() {
                Ok(()) => StoreCheck::Recovered,
                Err(e) => {
                    tracing::error!(error = %e, "reopening the metadata store failed; restart fleuve");
                    StoreCheck::Failed(e.to_string())
                }
            }
        }
    }
}

/// Whether the disk can take `incoming` more bytes above the reserve; the error is for the
/// client (no paths).
pub fn room_for(app: &App, incoming: u64) -> Result<(), String> {
    let free = available_bytes(&app.data_dir).unwrap_or(0);
    app.disk.available.store(free, Relaxed);
    let reserve = app.config.upload.min_free_bytes;
    if free < reserve.saturating_add(incoming) {
        return Err(format!(
            "the server is short of disk space ({free} bytes free, {reserve} kept in reserve, {incoming} needed); try again later"
        ));
    }
    Ok(())
}

/// The store and disk figures for `/metrics`.
pub fn render_metrics(app: &App, out: &mut String) {
    let writable = matches!(app.store.health(), Health::Writable) as u8;
    let mut w = crate::metrics::exposition::Exposition::new(out);
    w.gauge(
        "fleuve_store_writable",
        "Whether the metadata store takes writes (0 after a failed write, until the disk has room again).",
    )
    .sample(&[], writable);
    if let Ok(m) = app.store.memory() {
        w.gauge(
            "fleuve_store_memory_bytes",
            "Memory the metadata store holds: memtables (flushed every engine.store_flush_secs), the shared block cache (16 MiB at most), SST index and filter blocks.",
        )
        .sample(&[("kind", &"memtables")], m.memtables)
        .sample(&[("kind", &"block_cache")], m.block_cache)
        .sample(&[("kind", &"table_readers")], m.table_readers);
    }
    w.gauge(
        "fleuve_disk_available_bytes",
        "Bytes available on the data directory's file system.",
    )
    .sample(&[], app.disk.available.load(Relaxed));
}

/// The store and disk figures for the admin status.
pub fn status_json(app: &App) -> serde_json::Value {
    let (writable, error, since) = match app.store.health() {
        Health::Writable => (true, None, None),
        Health::ReadOnly { error, since } => (
            false,
            Some(client_message(&error)),
            Some(httpdate::fmt_http_date(since)),
        ),
    };
    serde_json::json!({
        "writable": writable,
        "error": error,
        "since": since,
        "diskAvailableBytes": app.disk.available.load(Relaxed),
        "uploadReserveBytes": app.config.upload.min_free_bytes,
    })
}

/// A store error's cause in words safe to show (RocksDB's own messages carry file paths).
pub fn client_message(error: &str) -> String {
    if error.contains("No space left") || error.contains("NoSpace") {
        "no space left on device".into()
    } else {
        "storage I/O error".into()
    }
}
