//! Whole files to and from a bucket, checked end to end: an upload sends `Content-MD5` with
//! every request (the server refuses bytes that do not match) and compares the ETag it gets
//! back with the one the file must have (the MD5, or for a multipart upload the MD5 of the
//! parts' MD5s followed by `-<parts>`); a file at least `part_size` long goes up in parts,
//! `concurrency` at a time, each read straight from the file (no part is held in memory). A
//! download is written to a temporary name, its length and MD5 checked against the object, then
//! renamed into place.

use super::s3::{Payload, S3Client, S3Error};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::{Digest, Md5};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The request failed.
    #[error(transparent)]
    S3(#[from] S3Error),
    /// The local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The bytes that arrived are not the bytes that were sent.
    #[error("{key}: checksum mismatch (expected ETag {expected}, got {got})")]
    Mismatch {
        /// The object.
        key: String,
        /// What the file's bytes give.
        expected: String,
        /// What the server holds.
        got: String,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TransferError + '_ {
    move |source| TransferError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// How files are cut into parts.
#[derive(Debug, Clone, Copy)]
pub struct PartPlan {
    /// Bytes per part; a file at least this long is a multipart upload.
    pub part_size: u64,
    /// Parts in flight at once.
    pub concurrency: u32,
}

fn md5_of_range(file: &File, start: u64, len: u64, path: &Path) -> Result<[u8; 16], TransferError> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = file
            .read_at(&mut buf[..want], start + done)
            .map_err(io(path))?;
        if n == 0 {
            return Err(TransferError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file shrank"),
            });
        }
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok(hasher.finalize().into())
}

/// The ETag an upload of `path` with `plan` gives (what a bucket holding it must show).
pub fn expected_etag(path: &Path, plan: PartPlan) -> Result<String, TransferError> {
    let file = File::open(path).map_err(io(path))?;
    let size = file.metadata().map_err(io(path))?.len();
    if size < plan.part_size {
        return Ok(hex::encode(md5_of_range(&file, 0, size, path)?));
    }
    let parts = size.div_ceil(plan.part_size);
    let mut all = Md5::new();
    for i in 0..parts {
        let start = i * plan.part_size;
        let len = plan.part_size.min(size - start);
        all.update(md5_of_range(&file, start, len, path)?);
    }
    Ok(format!("{}-{parts}", hex::encode(all.finalize())))
}

/// Uploads `path` to `key`; returns the object's size and ETag, both checked.
pub fn upload_file(
    s3: &S3Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
    acl: Option<&str>,
    plan: PartPlan,
) -> Result<(u64, String), TransferError> {
    let file = File::open(path).map_err(io(path))?;
    let size = file.metadata().map_err(io(path))?.len();
    if size < plan.part_size {
        let md5 = md5_of_range(&file, 0, size, path)?;
        let open = || -> std::io::Result<Box<dyn Read + Send>> {
            Ok(Box::new(File::open(path)?.take(size)))
        };
        let etag = s3.put_object(
            bucket,
            key,
            &Payload::Reader {
                len: size,
                open: &open,
            },
            content_type,
            &B64.encode(md5),
            acl,
        )?;
        let expected = hex::encode(md5);
        if etag != expected {
            return Err(TransferError::Mismatch {
                key: key.to_string(),
                expected,
                got: etag,
            });
        }
        return Ok((size, etag));
    }
    let upload_id = s3.create_multipart(bucket, key, content_type, acl)?;
    let parts = size.div_ceil(plan.part_size) as u32;
    let result = upload_parts(s3, bucket, key, &upload_id, path, size, parts, plan);
    let md5s = match result {
        Ok(m) => m,
        Err(e) => {
            if let Err(abort) = s3.abort_multipart(bucket, key, &upload_id) {
                tracing::warn!(%key, error = %abort, "cannot abort a failed multipart upload");
            }
            return Err(e);
        }
    };
    let etags: Vec<String> = md5s.iter().map(hex::encode).collect();
    let etag = match s3.complete_multipart(bucket, key, &upload_id, &etags) {
        Ok(e) => e,
        Err(e) => {
            let _ = s3.abort_multipart(bucket, key, &upload_id);
            return Err(e.into());
        }
    };
    let mut all = Md5::new();
    for m in &md5s {
        all.update(m);
    }
    let expected = format!("{}-{parts}", hex::encode(all.finalize()));
    if etag != expected {
        return Err(TransferError::Mismatch {
            key: key.to_string(),
            expected,
            got: etag,
        });
    }
    Ok((size, etag))
}

#[allow(clippy::too_many_arguments)]
fn upload_parts(
    s3: &S3Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    path: &Path,
    size: u64,
    parts: u32,
    plan: PartPlan,
) -> Result<Vec<[u8; 16]>, TransferError> {
    let next = AtomicU32::new(0);
    let failed = AtomicBool::new(false);
    let md5s = Mutex::new(vec![[0u8; 16]; parts as usize]);
    let first_error: Mutex<Option<TransferError>> = Mutex::new(None);
    let threads = plan.concurrency.clamp(1, parts);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= parts || failed.load(Ordering::Relaxed) {
                    return;
                }
                let start = u64::from(i) * plan.part_size;
                let len = plan.part_size.min(size - start);
                let result = (|| {
                    let file = File::open(path).map_err(io(path))?;
                    let md5 = md5_of_range(&file, start, len, path)?;
                    let open = || -> std::io::Result<Box<dyn Read + Send>> {
                        let mut f = File::open(path)?;
                        f.seek(SeekFrom::Start(start))?;
                        Ok(Box::new(f.take(len)))
                    };
                    let etag = s3.upload_part(
                        bucket,
                        key,
                        upload_id,
                        i + 1,
                        &Payload::Reader { len, open: &open },
                        &B64.encode(md5),
                    )?;
                    if etag != hex::encode(md5) {
                        return Err(TransferError::Mismatch {
                            key: format!("{key} part {}", i + 1),
                            expected: hex::encode(md5),
                            got: etag,
                        });
                    }
                    Ok(md5)
                })();
                match result {
                    Ok(md5) => md5s.lock().unwrap_or_else(|p| p.into_inner())[i as usize] = md5,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(md5s.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Downloads `key` into `to` (written beside it under a temporary name, checked, then renamed,
/// so `to` is whole or absent). The length must match the object's; the MD5 must match its ETag
/// when the ETag is a single upload's, or a multipart one cut at `plan.part_size`. Returns the
/// size.
pub fn download_file(
    s3: &S3Client,
    bucket: &str,
    key: &str,
    to: &Path,
    plan: PartPlan,
) -> Result<u64, TransferError> {
    let mut object = s3.get_object(bucket, key, None)?;
    let tmp = to.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut out = File::create(&tmp).map_err(io(&tmp))?;
        let mut whole = Md5::new();
        let mut part = Md5::new();
        let mut part_md5s: Vec<[u8; 16]> = Vec::new();
        let mut in_part = 0u64;
        let mut total = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = object.body.read(&mut buf).map_err(|e| {
                TransferError::S3(S3Error::Transport {
                    op: "GET object",
                    url: key.to_string(),
                    error: e.to_string(),
                })
            })?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(io(&tmp))?;
            whole.update(&buf[..n]);
            // Per-part MD5s at part_size boundaries, for multipart ETags.
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let take = ((plan.part_size - in_part) as usize).min(rest.len());
                part.update(&rest[..take]);
                in_part += take as u64;
                rest = &rest[take..];
                if in_part == plan.part_size {
                    part_md5s.push(std::mem::take(&mut part).finalize().into());
                    in_part = 0;
                }
            }
            total += n as u64;
        }
        if in_part > 0 {
            part_md5s.push(part.finalize().into());
        }
        if total != object.content_length {
            return Err(TransferError::Mismatch {
                key: key.to_string(),
                expected: format!("{} bytes", object.content_length),
                got: format!("{total} bytes"),
            });
        }
        let got = match object.etag.split_once('-') {
            None => hex::encode(whole.finalize()),
            // Cut at another part size (another tool uploaded it): the length is what is checked.
            Some((_, n)) if n.parse::<usize>().ok() != Some(part_md5s.len()) => object.etag.clone(),
            Some(_) => {
                let mut all = Md5::new();
                for m in &part_md5s {
                    all.update(m);
                }
                format!("{}-{}", hex::encode(all.finalize()), part_md5s.len())
            }
        };
        if !object.etag.is_empty() && got != object.etag {
            return Err(TransferError::Mismatch {
                key: key.to_string(),
                expected: object.etag.clone(),
                got,
            });
        }
        out.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, to).map_err(io(to))?;
        Ok(total)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
