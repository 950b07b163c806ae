//! `[object_storage]`: media on an S3-compatible cluster, in PeerTube's terms
//! (`object_storage.*` of its `production.yaml`; reference/peertube-runners-storage-redundancy.md
//! §2.1). Checked once at start: a bad value names its key and the value.

use serde::{Deserialize, Serialize};

/// `[object_storage]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectStorageConfig {
    /// Keep published videos' HLS files in the buckets below instead of `media/` (PeerTube's
    /// `object_storage.enabled`). Videos already on disk stay there until moved
    /// (`fleuve storage move`).
    pub enabled: bool,
    /// The S3 endpoint: `host[:port]` (HTTPS) or a URL with `http://` or `https://`.
    pub endpoint: String,
    /// The region requests are signed for (Garage: its `s3_region`).
    pub region: String,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-host style
    /// (`bucket.endpoint/key`). Garage and MinIO need path style.
    pub force_path_style: bool,
    /// The access key.
    pub credentials: CredentialsConfig,
    /// Canned ACLs sent with uploads (`x-amz-acl`); an empty value sends none.
    pub upload_acl: UploadAclConfig,
    /// Part size of multipart uploads in bytes; a file at least this large is uploaded in parts
    /// (PeerTube: 100 MB). S3 allows 5 MiB to 5 GiB.
    pub max_upload_part: u64,
    /// Parts of one file uploaded at once (PeerTube's `queueSize`: 4).
    pub upload_concurrency: u32,
    /// Attempts of one request before it fails (transport errors, 5xx, 429; backoff between).
    pub max_request_attempts: u32,
    /// Threads that fetch byte ranges from the bucket for viewers (cache misses).
    pub fetch_threads: u32,
    /// Seconds a chunk fetched for viewers may take to arrive once the bucket answered; past
    /// that the fetch fails (viewers get 502) and its thread is free again.
    pub fetch_timeout_secs: u64,
    /// Seconds an object's size and ETag are trusted before it is asked again (a file made
    /// private stops being served publicly by edges within this time).
    pub edge_revalidate_secs: u64,
    /// Bytes of bucket objects kept on disk (`<data_dir>/cache/objects`, emptied at start) and
    /// sent from there with `sendfile`; 0 = no on-disk cache (chunks are kept in memory only).
    pub disk_cache_bytes: u64,
    /// How private files are read.
    pub proxy: ProxyConfig,
    /// The HLS files (`hls/<uuid>/<file>` under the prefix).
    pub streaming_playlists: BucketConfig,
    /// The web videos (reserved: web videos stay on disk today).
    pub web_videos: BucketConfig,
    /// The kept originals (reserved: originals stay on disk today).
    pub original_video_files: BucketConfig,
}

/// `[object_storage.credentials]`: the access key, from here, from `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY`, or from an AWS shared-credentials file (first found wins, in that
/// order).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialsConfig {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never printed).
    pub secret_access_key: String,
    /// A file in AWS's shared-credentials format (`[default]`, `aws_access_key_id = …`,
    /// `aws_secret_access_key = …`), read at start; empty: none.
    pub file: String,
}

/// `[object_storage.upload_acl]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadAclConfig {
    /// ACL of public and unlisted videos' files (`public-read`); empty: none sent.
    pub public: String,
    /// ACL of private and internal videos' files (`private`); empty: none sent.
    pub private: String,
}

/// `[object_storage.proxy]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Serve private files through this server (`/object-storage-proxy/...`, with a video file
    /// token). Fleuve always does: private objects are never given out by bucket URL, so `false`
    /// is refused.
    pub proxify_private_files: bool,
}

/// One kind of file's bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BucketConfig {
    /// The bucket.
    pub bucket_name: String,
    /// Prepended to every key (`videos/` gives `videos/hls/<uuid>/<file>`).
    pub prefix: String,
    /// Replaces the bucket's address in public URLs (a CDN, Fleuve edges, Garage's web
    /// endpoint): a file's URL is `<base_url>/<prefix><key>`. Empty: the bucket's own URL.
    pub base_url: String,
}

impl Default for ObjectStorageConfig {
    fn default() -> Self {
        ObjectStorageConfig {
            enabled: false,
            endpoint: String::new(),
            region: "us-east-1".into(),
            force_path_style: false,
            credentials: CredentialsConfig::default(),
            upload_acl: UploadAclConfig::default(),
            max_upload_part: 100 * 1024 * 1024,
            upload_concurrency: 4,
            max_request_attempts: 3,
            fetch_threads: 8,
            fetch_timeout_secs: 30,
            edge_revalidate_secs: 10,
            disk_cache_bytes: 4 << 30,
            proxy: ProxyConfig::default(),
            streaming_playlists: BucketConfig::default(),
            web_videos: BucketConfig::default(),
            original_video_files: BucketConfig::default(),
        }
    }
}

impl Default for UploadAclConfig {
    fn default() -> Self {
        UploadAclConfig {
            public: "public-read".into(),
            private: "private".into(),
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            proxify_private_files: true,
        }
    }
}

/// S3's limits on a part.
const MIN_PART: u64 = 5 * 1024 * 1024;
const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Canned ACLs S3 defines.
const ACLS: [&str; 8] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

impl ObjectStorageConfig {
    /// Checks the values when enabled: `Err((key, message))`, the message naming the value.
    pub fn check(&self) -> Result<(), (String, String)> {
        if !self.enabled {
            return Ok(());
        }
        let err = |key: &str, m: String| Err((format!("object_storage.{key}"), m));
        if self.endpoint.is_empty() {
            return err(
                "endpoint",
                "is empty; set the S3 endpoint (host[:port] or URL)".into(),
            );
        }
        if let Err(m) = parse_endpoint(&self.endpoint) {
            return err("endpoint", m);
        }
        if self.region.is_empty() {
            return err(
                "region",
                "is empty (Garage: its s3_region; AWS: us-east-1…)".into(),
            );
        }
        if !(MIN_PART..=MAX_PART).contains(&self.max_upload_part) {
            return err(
                "max_upload_part",
                format!(
                    "{} is outside S3's part sizes (5 MiB to 5 GiB: {MIN_PART}..={MAX_PART})",
                    self.max_upload_part
                ),
            );
        }
        if !(1..=64).contains(&self.upload_concurrency) {
            return err(
                "upload_concurrency",
                format!("{} must be 1 to 64", self.upload_concurrency),
            );
        }
        if !(1..=20).contains(&self.max_request_attempts) {
            return err(
                "max_request_attempts",
                format!("{} must be 1 to 20", self.max_request_attempts),
            );
        }
        if self.fetch_timeout_secs == 0 {
            return err("fetch_timeout_secs", "0 must be at least 1".to_string());
        }
        if !(1..=256).contains(&self.fetch_threads) {
            return err(
                "fetch_threads",
                format!("{} must be 1 to 256", self.fetch_threads),
            );
        }
        for (key, acl) in [
            ("upload_acl.public", &self.upload_acl.public),
            ("upload_acl.private", &self.upload_acl.private),
        ] {
            if !acl.is_empty() && !ACLS.contains(&acl.as_str()) {
                return err(
                    key,
                    format!(
                        "{acl:?} is not a canned ACL ({}), nor empty",
                        ACLS.join(", ")
                    ),
                );
            }
        }
        if !self.proxy.proxify_private_files {
            return err(
                "proxy.proxify_private_files",
                "false is not supported: private files are only ever served through Fleuve".into(),
            );
        }
        let (key, b) = ("streaming_playlists", &self.streaming_playlists);
        if b.bucket_name.is_empty() {
            return err(
                &format!("{key}.bucket_name"),
                "is empty; name the bucket of the HLS files".into(),
            );
        }
        for (key, b) in [
            ("streaming_playlists", &self.streaming_playlists),
            ("web_videos", &self.web_videos),
            ("original_video_files", &self.original_video_files),
        ] {
            if !b.bucket_name.is_empty() {
                if let Err(m) = check_bucket_name(&b.bucket_name) {
                    return err(&format!("{key}.bucket_name"), m);
                }
            }
            if b.prefix.starts_with('/') || b.prefix.contains("..") || b.prefix.contains("//") {
                return err(
                    &format!("{key}.prefix"),
                    format!(
                        "{:?}: a key prefix starts without '/' and has no '..' or '//'",
                        b.prefix
                    ),
                );
            }
            if !(b.base_url.is_empty()
                || b.base_url.starts_with("http://")
                || b.base_url.starts_with("https://"))
            {
                return err(
                    &format!("{key}.base_url"),
                    format!("{:?} is not an http(s) URL", b.base_url),
                );
            }
        }
        Ok(())
    }
}

/// The endpoint as `(https, host[:port])`; no scheme means HTTPS, as in PeerTube.
pub fn parse_endpoint(endpoint: &str) -> Result<(bool, String), String> {
    let (https, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = endpoint.strip_prefix("http://") {
        (false, r)
    } else if endpoint.contains("://") {
        return Err(format!("{endpoint:?}: only http:// and https:// endpoints"));
    } else {
        (true, endpoint)
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty()
        || host.contains('/')
        || host.contains('?')
        || host.contains('@')
        || host.contains(char::is_whitespace)
    {
        return Err(format!(
            "{endpoint:?} is not host[:port] with an optional http:// or https:// (no path)"
        ));
    }
    Ok((https, host.to_string()))
}

/// S3's bucket naming rules (3–63 characters: lower-case letters, digits, '.', '-'; starts and
/// ends with a letter or digit).
fn check_bucket_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&name.len())
        || !ok_chars
        || !ends(name.bytes().next())
        || !ends(name.bytes().last())
    {
        return Err(format!(
            "{name:?} is not a bucket name (3 to 63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> ObjectStorageConfig {
        ObjectStorageConfig {
            enabled: true,
            endpoint: "http://127.0.0.1:3900".into(),
            streaming_playlists: BucketConfig {
                bucket_name: "media".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("s3.example.org").unwrap(),
            (true, "s3.example.org".into())
        );
        assert_eq!(
            parse_endpoint("http://127.0.0.1:3900/").unwrap(),
            (false, "127.0.0.1:3900".into())
        );
        assert!(parse_endpoint("ftp://x").is_err());
        assert!(parse_endpoint("http://x/path").is_err());
    }

    #[test]
    fn bad_values_name_their_key_and_value() {
        assert!(enabled().check().is_ok());
        assert!(ObjectStorageConfig::default().check().is_ok());
        let cases: Vec<(ObjectStorageConfig, &str, &str)> = vec![
            (
                ObjectStorageConfig {
                    endpoint: String::new(),
                    ..enabled()
                },
                "object_storage.endpoint",
                "empty",
            ),
            (
                ObjectStorageConfig {
                    max_upload_part: 1000,
                    ..enabled()
                },
                "object_storage.max_upload_part",
                "1000",
            ),
            (
                ObjectStorageConfig {
                    upload_acl: UploadAclConfig {
                        public: "world".into(),
                        private: "private".into(),
                    },
                    ..enabled()
                },
                "object_storage.upload_acl.public",
                "\"world\"",
            ),
            (
                ObjectStorageConfig {
                    streaming_playlists: BucketConfig {
                        bucket_name: "Bad_Bucket".into(),
                        ..Default::default()
                    },
                    ..enabled()
                },
                "object_storage.streaming_playlists.bucket_name",
                "Bad_Bucket",
            ),
            (
                ObjectStorageConfig {
                    streaming_playlists: BucketConfig {
                        bucket_name: "media".into(),
                        prefix: "/abs".into(),
                        base_url: String::new(),
                    },
                    ..enabled()
                },
                "object_storage.streaming_playlists.prefix",
                "/abs",
            ),
            (
                ObjectStorageConfig {
                    streaming_playlists: BucketConfig {
                        bucket_name: "media".into(),
                        prefix: String::new(),
                        base_url: "cdn.example".into(),
                    },
                    ..enabled()
                },
                "object_storage.streaming_playlists.base_url",
                "cdn.example",
            ),
        ];
        for (c, key, value) in cases {
            let (k, m) = c.check().unwrap_err();
            assert_eq!(k, key);
            assert!(m.contains(value), "{m}");
        }
    }
}
