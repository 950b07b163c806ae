//! Media on an S3-compatible cluster (Garage in the tests): the client ([`s3`]), whole-file
//! transfers with checksums ([`transfer`]), and [`ObjectStorage`], which knows the buckets,
//! PeerTube's keys and the public URLs.
//!
//! # Keys and URLs
//!
//! A public (or unlisted) video's HLS files are at PeerTube's keys, `<prefix>hls/<uuid>/<file>`
//! in the `streaming_playlists` bucket; their public URL is `<base_url>/<prefix>hls/<uuid>/<file>`
//! (the bucket's own URL without `base_url`). A private or internal video's files are at
//! `<prefix>hls/private/<uuid>/<file>` and uploaded with the private ACL: they are only ever
//! served by Fleuve, at PeerTube's `/object-storage-proxy/streaming-playlists/hls/private/…`,
//! to a holder of a video file token. Keeping them under their own keys (PeerTube keeps one key
//! and flips the ACL) is what keeps them private on servers without object ACLs (Garage answers
//! `PutObjectAcl` with `NotImplemented`), and lets an edge with no database tell from the path
//! alone that a file is not public.

pub mod disk;
pub mod edge;
pub mod s3;
pub mod serve;
pub mod transfer;
mod xml;

use crate::config::object_storage::{BucketConfig, ObjectStorageConfig};
use s3::{ObjectInfo, S3Client, S3Error};
use std::path::Path;
use transfer::{PartPlan, TransferError};

/// The buckets, their keys and URLs, and the client.
#[derive(Debug)]
pub struct ObjectStorage {
    s3: S3Client,
    hls: BucketConfig,
    acl_public: Option<String>,
    acl_private: Option<String>,
    plan: PartPlan,
}

/// The content type S3 stores (and serves) for an HLS file.
pub fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mp4") => "video/mp4",
        Some("json") => "application/json",
        Some("torrent") => "application/x-bittorrent",
        _ => "application/octet-stream",
    }
}

impl ObjectStorage {
    /// The object storage of `config`, or None when it is off. `env` reads `AWS_*` variables.
    pub fn from_config(
        config: &ObjectStorageConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<ObjectStorage>, S3Error> {
        if !config.enabled {
            return Ok(None);
        }
        let key = s3::credentials(config, env)?;
        let nonempty = |s: &String| (!s.is_empty()).then(|| s.clone());
        Ok(Some(ObjectStorage {
            s3: S3Client::new(config, key)?,
            hls: config.streaming_playlists.clone(),
            acl_public: nonempty(&config.upload_acl.public),
            acl_private: nonempty(&config.upload_acl.private),
            plan: PartPlan {
                part_size: config.max_upload_part,
                concurrency: config.upload_concurrency,
            },
        }))
    }

    /// The client.
    pub fn s3(&self) -> &S3Client {
        &self.s3
    }

    /// The HLS bucket's name.
    pub fn hls_bucket(&self) -> &str {
        &self.hls.bucket_name
    }

    /// How files are cut into parts.
    pub fn plan(&self) -> PartPlan {
        self.plan
    }

    /// Checks that the HLS bucket exists and the key may use it (at start, and for the admin
    /// status).
    pub fn check(&self) -> Result<(), S3Error> {
        self.s3.head_bucket(&self.hls.bucket_name)
    }

    /// The key of a file of a video's HLS directory.
    pub fn hls_key(&self, uuid: &str, private: bool, file: &str) -> String {
        let side = if private { "private/" } else { "" };
        format!("{}hls/{side}{uuid}/{file}", self.hls.prefix)
    }

    /// The key prefix of HLS objects (`streaming_playlists.prefix`, maybe empty).
    pub fn hls_prefix(&self) -> &str {
        &self.hls.prefix
    }

    /// The key prefix of a video's HLS directory (ends with '/').
    pub fn hls_dir_key(&self, uuid: &str, private: bool) -> String {
        self.hls_key(uuid, private, "")
    }

    /// Where public HLS files are read: `<base_url>/<prefix>` or the bucket's URL with the
    /// prefix; a file's URL is this followed by `hls/<uuid>/<file>`.
    pub fn hls_public_base(&self) -> String {
        if self.hls.base_url.is_empty() {
            self.s3.object_url(&self.hls.bucket_name, &self.hls.prefix)
        } else {
            format!(
                "{}/{}",
                self.hls.base_url.trim_end_matches('/'),
                self.hls.prefix
            )
        }
    }

    fn acl(&self, private: bool) -> Option<&str> {
        if private {
            self.acl_private.as_deref()
        } else {
            self.acl_public.as_deref()
        }
    }

    /// The public URL of a public video's HLS file in the bucket (`<public base>hls/<uuid>/<file>`).
    pub fn hls_public_url(&self, uuid: &str, file: &str) -> String {
        format!("{}hls/{uuid}/{file}", self.hls_public_base())
    }

    /// Aborts the multipart uploads in progress under a video's HLS directory: a move is the
    /// only writer there, so any it finds at its start was left by one that died (`kill -9`,
    /// power loss) and holds parts nobody will complete. Returns how many were aborted; a server
    /// without `ListMultipartUploads` is logged and skipped.
    pub fn abort_orphaned_uploads(&self, uuid: &str, private: bool) -> Result<usize, S3Error> {
        let prefix = self.hls_dir_key(uuid, private);
        let uploads = match self
            .s3
            .list_multipart_uploads(&self.hls.bucket_name, &prefix)
        {
            Ok(u) => u,
            Err(e) if matches!(e.status(), Some(400 | 404 | 405 | 501)) => {
                tracing::warn!(%prefix, error = %e, "cannot list multipart uploads in progress; orphaned parts, if any, stay");
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        for (key, id) in &uploads {
            self.s3.abort_multipart(&self.hls.bucket_name, key, id)?;
            tracing::info!(%key, upload_id = %id, "aborted a multipart upload a stopped move left");
        }
        Ok(uploads.len())
    }

    /// Uploads one HLS file (checked); returns its size and ETag.
    pub fn upload_hls_file(
        &self,
        uuid: &str,
        private: bool,
        path: &Path,
        file: &str,
    ) -> Result<(u64, String), TransferError> {
        transfer::upload_file(
            &self.s3,
            &self.hls.bucket_name,
            &self.hls_key(uuid, private, file),
            path,
            content_type(file),
            self.acl(private),
            self.plan,
        )
    }

    /// Whether the object of an HLS file holds exactly the bytes of `path` (same size and
    /// ETag).
    pub fn hls_file_matches(
        &self,
        uuid: &str,
        private: bool,
        path: &Path,
        file: &str,
    ) -> Result<bool, TransferError> {
        let key = self.hls_key(uuid, private, file);
        let Some(info) = self.s3.head_object(&self.hls.bucket_name, &key)? else {
            return Ok(false);
        };
        let size = std::fs::metadata(path)
            .map_err(|source| TransferError::Io {
                path: path.display().to_string(),
                source,
            })?
            .len();
        Ok(info.size == size && info.etag == transfer::expected_etag(path, self.plan)?)
    }

    /// Downloads one HLS file into `to` (checked); returns its size.
    pub fn download_hls_file(
        &self,
        uuid: &str,
        private: bool,
        file: &str,
        to: &Path,
    ) -> Result<u64, TransferError> {
        transfer::download_file(
            &self.s3,
            &self.hls.bucket_name,
            &self.hls_key(uuid, private, file),
            to,
            self.plan,
        )
    }

    /// The objects of a video's HLS directory.
    pub fn list_hls(&self, uuid: &str, private: bool) -> Result<Vec<ObjectInfo>, S3Error> {
        self.s3
            .list_objects(&self.hls.bucket_name, &self.hls_dir_key(uuid, private))
    }

    /// Deletes every object of a video's HLS directory.
    pub fn delete_hls(&self, uuid: &str, private: bool) -> Result<usize, S3Error> {
        let objects = self.list_hls(uuid, private)?;
        for o in &objects {
            self.s3.delete_object(&self.hls.bucket_name, &o.key)?;
        }
        Ok(objects.len())
    }

    /// Copies `from` to `to` on the server with `to_private`'s ACL. An object of at least one
    /// part (`max_upload_part`) is copied in parts of that size, as it was uploaded: its ETag
    /// stays the same, and objects past CopyObject's 5 GiB limit copy too.
    fn copy_object(&self, from: &ObjectInfo, to: &str, to_private: bool) -> Result<(), S3Error> {
        let bucket = &self.hls.bucket_name;
        let part = self.plan().part_size.max(1);
        if from.size < part {
            return self
                .s3
                .copy_object(bucket, &from.key, to, self.acl(to_private));
        }
        let file = to.rsplit('/').next().unwrap_or_default();
        let id = self
            .s3
            .create_multipart(bucket, to, content_type(file), self.acl(to_private))?;
        let mut etags = Vec::new();
        let mut start = 0u64;
        let copied = (|| {
            while start < from.size {
                let end = (start + part).min(from.size) - 1;
                let n = etags.len() as u32 + 1;
                etags.push(self.s3.upload_part_copy(
                    bucket,
                    &from.key,
                    to,
                    &id,
                    n,
                    (start, end),
                )?);
                start = end + 1;
            }
            self.s3.complete_multipart(bucket, to, &id, &etags)
        })();
        match copied {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.s3.abort_multipart(bucket, to, &id);
                Err(e)
            }
        }
    }

    /// Moves a video's objects to the keys (and ACL) of its new privacy: each is copied on the
    /// server, then the old ones are deleted. Returns how many. Run again after a failure, it
    /// finishes: what is already on the new side is not copied again.
    pub fn move_hls_side(&self, uuid: &str, to_private: bool) -> Result<usize, S3Error> {
        let from = self.list_hls(uuid, !to_private)?;
        let there: std::collections::HashSet<String> = self
            .list_hls(uuid, to_private)?
            .into_iter()
            .map(|o| o.key)
            .collect();
        let old_prefix = self.hls_dir_key(uuid, !to_private);
        for o in &from {
            let name = o.key.strip_prefix(&old_prefix).unwrap_or(&o.key);
            let to = self.hls_key(uuid, to_private, name);
            if !there.contains(&to) {
                self.copy_object(o, &to, to_private)?;
            }
        }
        for o in &from {
            self.s3.delete_object(&self.hls.bucket_name, &o.key)?;
        }
        Ok(from.len())
    }
}
