//! The S3 requests Fleuve makes, signed with AWS Signature V4 (awslabs' `aws-sigv4`) and sent
//! with ureq on the calling (blocking) thread: objects (PUT, ranged GET, HEAD, DELETE, copy,
//! ACL), multipart uploads and listings. Path-style or virtual-host addressing; every request is
//! tried up to `max_request_attempts` times on transport errors, 5xx and 429, with a doubling
//! backoff. Payloads are not hashed (`UNSIGNED-PAYLOAD`); uploads carry `Content-MD5`, which the
//! server checks, and callers compare the returned ETag.

use super::xml;
use crate::config::object_storage::{parse_endpoint, ObjectStorageConfig};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::io::Read;
use std::time::{Duration, SystemTime};

/// Characters S3 keys keep as they are in a URL path (RFC 3986 unreserved, and '/').
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
/// The same for query values ('/' encoded too).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why an S3 request failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The server answered with an error status.
    #[error("{op} {url}: HTTP {status} {code}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Status {
        /// The operation (`PUT object`, `GET object`…).
        op: &'static str,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// S3's error code (`NoSuchBucket`, `AccessDenied`…), or empty.
        code: String,
        /// S3's message.
        message: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("{op} {url}: {error}")]
    Transport {
        /// The operation.
        op: &'static str,
        /// The URL.
        url: String,
        /// What went wrong.
        error: String,
    },
    /// The server's answer does not hold together.
    #[error("{op} {url}: unexpected answer: {reason}")]
    BadAnswer {
        /// The operation.
        op: &'static str,
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The access key is missing or unusable.
    #[error("object storage credentials: {0}")]
    Credentials(String),
}

impl S3Error {
    /// The HTTP status of a [`S3Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            S3Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// S3's error code of a [`S3Error::Status`] (`NoSuchKey`…).
    pub fn code(&self) -> &str {
        match self {
            S3Error::Status { code, .. } => code,
            _ => "",
        }
    }
}

/// An object's size and ETag (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key (without the bucket).
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// ETag without its quotes (an MD5 in hex for single uploads, `<md5>-<parts>` for
    /// multipart ones).
    pub etag: String,
}

/// A GET's answer, body not yet read.
pub struct GetObject {
    /// 200 or 206.
    pub status: u16,
    /// Bytes in the body.
    pub content_length: u64,
    /// The object's whole size (from `Content-Range`, else the body's length).
    pub total_size: u64,
    /// ETag without quotes.
    pub etag: String,
    /// The body.
    pub body: Box<dyn Read + Send>,
}

/// A request body that can be sent again (each attempt gets a fresh reader).
pub enum Payload<'a> {
    /// None.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// `len` bytes from a reader made anew for each attempt.
    Reader {
        /// Bytes.
        len: u64,
        /// Makes the reader.
        open: &'a (dyn Fn() -> std::io::Result<Box<dyn Read + Send>> + Sync),
    },
}

/// The connection to one S3 endpoint with one access key.
pub struct S3Client {
    agent: ureq::Agent,
    https: bool,
    host: String,
    region: String,
    identity: Identity,
    path_style: bool,
    attempts: u32,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("host", &self.host)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// Reads the access key: the config's, else `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
/// from `env`, else the config's shared-credentials file (profile `default`).
pub fn credentials(
    config: &ObjectStorageConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, String), S3Error> {
    let c = &config.credentials;
    if !c.access_key_id.is_empty() || !c.secret_access_key.is_empty() {
        if c.access_key_id.is_empty() || c.secret_access_key.is_empty() {
            return Err(S3Error::Credentials(
                "object_storage.credentials needs both access_key_id and secret_access_key".into(),
            ));
        }
        return Ok((c.access_key_id.clone(), c.secret_access_key.clone()));
    }
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        if !id.is_empty() && !secret.is_empty() {
            return Ok((id, secret));
        }
    }
    if !c.file.is_empty() {
        let text = std::fs::read_to_string(&c.file).map_err(|e| {
            S3Error::Credentials(format!("object_storage.credentials.file {:?}: {e}", c.file))
        })?;
        return shared_credentials(&text).ok_or_else(|| {
            S3Error::Credentials(format!(
                "object_storage.credentials.file {:?} has no [default] profile with aws_access_key_id and aws_secret_access_key",
                c.file
            ))
        });
    }
    Err(S3Error::Credentials(
        "no access key: set object_storage.credentials.access_key_id and secret_access_key, \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or object_storage.credentials.file"
            .into(),
    ))
}

/// The `[default]` profile of an AWS shared-credentials file.
fn shared_credentials(text: &str) -> Option<(String, String)> {
    let mut profile = String::new();
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(p) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            profile = p.trim().to_string();
            continue;
        }
        if profile != "default" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some((id?, secret?))
}

impl S3Client {
    /// A client for the endpoint of `config` with the access key `(id, secret)`.
    pub fn new(config: &ObjectStorageConfig, key: (String, String)) -> Result<S3Client, S3Error> {
        let (https, host) = parse_endpoint(&config.endpoint).map_err(S3Error::Credentials)?;
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_connect(Some(Duration::from_secs(10)))
                .timeout_recv_response(Some(Duration::from_secs(120)))
                .max_idle_connections_per_host(64)
                .user_agent(concat!("fleuve/", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        Ok(S3Client {
            agent,
            https,
            host,
            region: config.region.clone(),
            identity: Credentials::new(key.0, key.1, None, None, "fleuve-config").into(),
            path_style: config.force_path_style,
            attempts: config.max_request_attempts.max(1),
        })
    }

    /// The URL of `key` in `bucket` (no query), as the server is addressed.
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let key = utf8_percent_encode(key, KEY);
        if self.path_style {
            format!("{scheme}://{}/{bucket}/{key}", self.host)
        } else {
            format!("{scheme}://{bucket}.{}/{key}", self.host)
        }
    }

    fn signed_headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<Vec<(String, String)>, S3Error> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| S3Error::Credentials(e.to_string()))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| S3Error::Credentials(format!("signing {method} {url}: {e}")))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| S3Error::Credentials(format!("signing {method} {url}: {e}")))?
            .into_parts();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        all.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Ok(all)
    }

    /// Sends one request (with retries); returns the response of the last attempt when its
    /// status is below 300, else the error it carries.
    pub fn send(
        &self,
        op: &'static str,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        payload: &Payload<'_>,
    ) -> Result<http::Response<ureq::Body>, S3Error> {
        self.send_within(op, method, url, headers, payload, None)
    }

    /// Like [`send`](Self::send); with `body_deadline`, reading the response body fails once
    /// that long has passed since its headers (a stalled server does not hold the reader).
    pub fn send_within(
        &self,
        op: &'static str,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        payload: &Payload<'_>,
        body_deadline: Option<Duration>,
    ) -> Result<http::Response<ureq::Body>, S3Error> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let result = self.send_once(op, method, url, headers, payload, body_deadline);
            let retry = match &result {
                Ok(_) => false,
                Err(S3Error::Status { status, .. }) => *status >= 500 || *status == 429,
                Err(S3Error::Transport { .. }) => true,
                Err(_) => false,
            };
            if !retry || attempt >= self.attempts {
                return result;
            }
            if let Err(e) = &result {
                tracing::debug!(attempt, error = %e, "object storage request failed; trying again");
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(5));
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        op: &'static str,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        payload: &Payload<'_>,
        body_deadline: Option<Duration>,
    ) -> Result<http::Response<ureq::Body>, S3Error> {
        let transport = |error: String| S3Error::Transport {
            op,
            url: url.to_string(),
            error,
        };
        let signed = self.signed_headers(method, url, headers)?;
        let mut builder = http::Request::builder().method(method).uri(url);
        for (k, v) in &signed {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let response = match payload {
            Payload::Empty => {
                let builder = if matches!(method, "PUT" | "POST") {
                    builder.header("content-length", "0")
                } else {
                    builder
                };
                let request = builder.body(()).map_err(|e| transport(e.to_string()))?;
                match body_deadline {
                    Some(d) => {
                        use ureq::RequestExt;
                        request
                            .with_agent(&self.agent)
                            .configure()
                            .timeout_recv_body(Some(d))
                            .build()
                            .run()
                    }
                    None => self.agent.run(request),
                }
            }
            Payload::Bytes(b) => {
                let request = builder
                    .header("content-length", b.len().to_string())
                    .body(*b)
                    .map_err(|e| transport(e.to_string()))?;
                self.agent.run(request)
            }
            Payload::Reader { len, open } => {
                let mut reader = open().map_err(|e| transport(format!("reading the body: {e}")))?;
                let request = builder
                    .header("content-length", len.to_string())
                    .body(ureq::SendBody::from_reader(&mut reader))
                    .map_err(|e| transport(e.to_string()))?;
                self.agent.run(request)
            }
        };
        let mut response = response.map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        if status >= 300 {
            let text = response
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .unwrap_or_default();
            let (code, message) = xml::error(&text).unwrap_or_else(|| {
                (
                    String::new(),
                    text.chars()
                        .take(200)
                        .collect::<String>()
                        .trim()
                        .to_string(),
                )
            });
            return Err(S3Error::Status {
                op,
                url: url.to_string(),
                status,
                code,
                message,
            });
        }
        Ok(response)
    }

    fn send_text(
        &self,
        op: &'static str,
        method: &'static str,
        url: &str,
        headers: &[(&str, String)],
        payload: &Payload<'_>,
    ) -> Result<(http::HeaderMap, String), S3Error> {
        let mut response = self.send(op, method, url, headers, payload)?;
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| S3Error::Transport {
                op,
                url: url.to_string(),
                error: e.to_string(),
            })?;
        Ok((response.headers().clone(), text))
    }

    /// `HEAD bucket`: whether the bucket exists and the key may use it.
    pub fn head_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let url = self.object_url(bucket, "");
        self.send("HEAD bucket", "HEAD", &url, &[], &Payload::Empty)
            .map(|_| ())
    }

    /// `PUT object` of `payload` with `content_md5` (base64) checked by the server; returns the
    /// ETag.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        payload: &Payload<'_>,
        content_type: &str,
        content_md5: &str,
        acl: Option<&str>,
    ) -> Result<String, S3Error> {
        let url = self.object_url(bucket, key);
        let mut headers = vec![
            ("content-type", content_type.to_string()),
            ("content-md5", content_md5.to_string()),
        ];
        if let Some(acl) = acl {
            headers.push(("x-amz-acl", acl.to_string()));
        }
        let response = self.send("PUT object", "PUT", &url, &headers, payload)?;
        etag_of(response.headers(), "PUT object", &url)
    }

    /// `GET object`, bytes `range` (inclusive) or all of it.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<GetObject, S3Error> {
        self.get_object_ranged(
            bucket,
            key,
            range.map(|(a, b)| format!("bytes={a}-{b}")),
            None,
        )
    }

    /// `GET object` with a `Range` header as a client sent it (one range: `bytes=a-b`,
    /// `bytes=a-`, `bytes=-n`); a range past the end is a [`S3Error::Status`] 416.
    /// With `body_deadline`, reading the body fails once that long has passed since the headers.
    pub fn get_object_ranged(
        &self,
        bucket: &str,
        key: &str,
        range: Option<String>,
        body_deadline: Option<Duration>,
    ) -> Result<GetObject, S3Error> {
        let url = self.object_url(bucket, key);
        let mut headers = Vec::new();
        if let Some(r) = range {
            headers.push(("range", r));
        }
        let response = self.send_within(
            "GET object",
            "GET",
            &url,
            &headers,
            &Payload::Empty,
            body_deadline,
        )?;
        let status = response.status().as_u16();
        let h = response.headers();
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let content_length = num("content-length").ok_or_else(|| S3Error::BadAnswer {
            op: "GET object",
            url: url.clone(),
            reason: "no Content-Length".into(),
        })?;
        let total_size = h
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(content_length);
        let etag = etag_of(h, "GET object", &url).unwrap_or_default();
        let body = response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader();
        Ok(GetObject {
            status,
            content_length,
            total_size,
            etag,
            body: Box::new(body),
        })
    }

    /// `HEAD object`: its size and ETag, or None when there is no such key.
    pub fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        let url = self.object_url(bucket, key);
        match self.send("HEAD object", "HEAD", &url, &[], &Payload::Empty) {
            Ok(response) => {
                let h = response.headers();
                let size = h
                    .get("content-length")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| S3Error::BadAnswer {
                        op: "HEAD object",
                        url: url.clone(),
                        reason: "no Content-Length".into(),
                    })?;
                Ok(Some(ObjectInfo {
                    key: key.to_string(),
                    size,
                    etag: etag_of(h, "HEAD object", &url)?,
                }))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE object` (no error when it is already gone).
    pub fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let url = self.object_url(bucket, key);
        match self.send("DELETE object", "DELETE", &url, &[], &Payload::Empty) {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `PUT object` copied from `from_key` of the same bucket on the server, with `acl`.
    pub fn copy_object(
        &self,
        bucket: &str,
        from_key: &str,
        to_key: &str,
        acl: Option<&str>,
    ) -> Result<(), S3Error> {
        let url = self.object_url(bucket, to_key);
        let mut headers = vec![(
            "x-amz-copy-source",
            format!("/{bucket}/{}", utf8_percent_encode(from_key, KEY)),
        )];
        if let Some(acl) = acl {
            headers.push(("x-amz-acl", acl.to_string()));
        }
        let (_, text) = self.send_text("COPY object", "PUT", &url, &headers, &Payload::Empty)?;
        if let Some((code, message)) = xml::error(&text) {
            return Err(S3Error::Status {
                op: "COPY object",
                url,
                status: 200,
                code,
                message,
            });
        }
        Ok(())
    }

    /// `UPLOAD part (copy)`: part `number` of a multipart upload to `to_key`, bytes
    /// `range` (inclusive) of `from_key` in the same bucket, copied on the server; returns the
    /// part's ETag.
    pub fn upload_part_copy(
        &self,
        bucket: &str,
        from_key: &str,
        to_key: &str,
        upload_id: &str,
        number: u32,
        range: (u64, u64),
    ) -> Result<String, S3Error> {
        let url = format!(
            "{}?partNumber={number}&uploadId={}",
            self.object_url(bucket, to_key),
            utf8_percent_encode(upload_id, QUERY)
        );
        let headers = [
            (
                "x-amz-copy-source",
                format!("/{bucket}/{}", utf8_percent_encode(from_key, KEY)),
            ),
            (
                "x-amz-copy-source-range",
                format!("bytes={}-{}", range.0, range.1),
            ),
        ];
        let (_, text) = self.send_text("COPY part", "PUT", &url, &headers, &Payload::Empty)?;
        if let Some((code, message)) = xml::error(&text) {
            return Err(S3Error::Status {
                op: "COPY part",
                url,
                status: 200,
                code,
                message,
            });
        }
        xml::complete_etag(&text).map_err(|reason| S3Error::BadAnswer {
            op: "COPY part",
            url,
            reason,
        })
    }

    /// `PUT object acl` with a canned ACL. `Ok(false)` when the server has no ACLs (Garage
    /// answers `NotImplemented`).
    pub fn put_object_acl(&self, bucket: &str, key: &str, acl: &str) -> Result<bool, S3Error> {
        let url = format!("{}?acl", self.object_url(bucket, key));
        match self.send(
            "PUT object ACL",
            "PUT",
            &url,
            &[("x-amz-acl", acl.to_string())],
            &Payload::Empty,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(501) || e.code() == "NotImplemented" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every object whose key starts with `prefix`, in key order.
    pub fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = format!(
                "{}?list-type=2&prefix={}",
                self.object_url(bucket, ""),
                utf8_percent_encode(prefix, QUERY)
            );
            if let Some(t) = &token {
                url.push_str(&format!(
                    "&continuation-token={}",
                    utf8_percent_encode(t, QUERY)
                ));
            }
            let (_, text) = self.send_text("LIST objects", "GET", &url, &[], &Payload::Empty)?;
            let page = xml::list(&text).map_err(|reason| S3Error::BadAnswer {
                op: "LIST objects",
                url: url.clone(),
                reason,
            })?;
            out.extend(page.objects);
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Starts a multipart upload; returns its id.
    pub fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        acl: Option<&str>,
    ) -> Result<String, S3Error> {
        let url = format!("{}?uploads", self.object_url(bucket, key));
        let mut headers = vec![("content-type", content_type.to_string())];
        if let Some(acl) = acl {
            headers.push(("x-amz-acl", acl.to_string()));
        }
        let (_, text) = self.send_text(
            "CREATE multipart upload",
            "POST",
            &url,
            &headers,
            &Payload::Empty,
        )?;
        xml::upload_id(&text).map_err(|reason| S3Error::BadAnswer {
            op: "CREATE multipart upload",
            url,
            reason,
        })
    }

    /// Uploads part `number` (from 1); returns its ETag.
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        payload: &Payload<'_>,
        content_md5: &str,
    ) -> Result<String, S3Error> {
        let url = format!(
            "{}?partNumber={number}&uploadId={}",
            self.object_url(bucket, key),
            utf8_percent_encode(upload_id, QUERY)
        );
        let response = self.send(
            "UPLOAD part",
            "PUT",
            &url,
            &[("content-md5", content_md5.to_string())],
            payload,
        )?;
        etag_of(response.headers(), "UPLOAD part", &url)
    }

    /// Completes a multipart upload from its parts' ETags (in order); returns the ETag.
    pub fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<String, S3Error> {
        let url = format!(
            "{}?uploadId={}",
            self.object_url(bucket, key),
            utf8_percent_encode(upload_id, QUERY)
        );
        let body = xml::complete_body(etags);
        let (headers, text) = self.send_text(
            "COMPLETE multipart upload",
            "POST",
            &url,
            &[("content-type", "application/xml".into())],
            &Payload::Bytes(body.as_bytes()),
        )?;
        // S3 may answer 200 with an error document once it has started answering.
        if let Some((code, message)) = xml::error(&text) {
            return Err(S3Error::Status {
                op: "COMPLETE multipart upload",
                url,
                status: 200,
                code,
                message,
            });
        }
        xml::complete_etag(&text)
            .or_else(|_| etag_of(&headers, "COMPLETE multipart upload", &url))
            .map_err(|_| S3Error::BadAnswer {
                op: "COMPLETE multipart upload",
                url,
                reason: "no ETag".into(),
            })
    }

    /// The multipart uploads in progress under `prefix`: `(key, upload id)`.
    pub fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, S3Error> {
        let mut out = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut url = format!(
                "{}?prefix={}&uploads",
                self.object_url(bucket, ""),
                utf8_percent_encode(prefix, QUERY)
            );
            if let Some((key, id)) = &marker {
                url.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    utf8_percent_encode(key, QUERY),
                    utf8_percent_encode(id, QUERY)
                ));
            }
            let (_, text) =
                self.send_text("LIST multipart uploads", "GET", &url, &[], &Payload::Empty)?;
            let page = xml::uploads(&text).map_err(|reason| S3Error::BadAnswer {
                op: "LIST multipart uploads",
                url: url.clone(),
                reason,
            })?;
            out.extend(page.uploads);
            match page.next {
                Some(m) if Some(&m) != marker.as_ref() => marker = Some(m),
                _ => return Ok(out),
            }
        }
    }

    /// Abandons a multipart upload (its parts are freed).
    pub fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), S3Error> {
        let url = format!(
            "{}?uploadId={}",
            self.object_url(bucket, key),
            utf8_percent_encode(upload_id, QUERY)
        );
        match self.send(
            "ABORT multipart upload",
            "DELETE",
            &url,
            &[],
            &Payload::Empty,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn etag_of(h: &http::HeaderMap, op: &'static str, url: &str) -> Result<String, S3Error> {
    h.get("etag")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| S3Error::BadAnswer {
            op,
            url: url.to_string(),
            reason: "no ETag".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::object_storage::BucketConfig;

    fn config(path_style: bool) -> ObjectStorageConfig {
        ObjectStorageConfig {
            enabled: true,
            endpoint: "http://127.0.0.1:3900".into(),
            region: "garage".into(),
            force_path_style: path_style,
            streaming_playlists: BucketConfig {
                bucket_name: "media".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A server that answers the headers of a 1 MiB body, sends 10 bytes and then nothing: the
    /// read fails at the deadline instead of holding the fetch thread.
    #[test]
    fn a_stalled_body_fails_at_its_deadline() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut head = [0u8; 4096];
            let _ = sock.read(&mut head);
            sock.write_all(
                b"HTTP/1.1 206 Partial Content\r\ncontent-length: 1048576\r\netag: \"e\"\r\ncontent-range: bytes 0-1048575/2097152\r\n\r\n0123456789",
            )
            .unwrap();
            // Holds the connection (without sending) until the client gives up, 20 s at most.
            sock.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let _ = sock.read(&mut head);
        });
        let mut c = config(true);
        c.endpoint = format!("http://127.0.0.1:{port}");
        let client = S3Client::new(&c, ("id".into(), "secret".into())).unwrap();
        let mut got = client
            .get_object_ranged(
                "media",
                "k",
                Some("bytes=0-1048575".into()),
                Some(Duration::from_secs(1)),
            )
            .unwrap();
        let mut body = Vec::new();
        let e = got.body.read_to_end(&mut body).unwrap_err();
        assert!(e.to_string().to_lowercase().contains("timeout"), "{e}");
        assert_eq!(body.len(), 10);
        drop(got);
        server.join().unwrap();
    }

    #[test]
    fn urls_by_addressing_style() {
        let k = ("id".to_string(), "secret".to_string());
        let c = S3Client::new(&config(true), k.clone()).unwrap();
        assert_eq!(
            c.object_url("media", "hls/u/a b+c.m3u8"),
            "http://127.0.0.1:3900/media/hls/u/a%20b%2Bc.m3u8"
        );
        let c = S3Client::new(&config(false), k).unwrap();
        assert_eq!(
            c.object_url("media", "hls/u/x.mp4"),
            "http://media.127.0.0.1:3900/hls/u/x.mp4"
        );
    }

    #[test]
    fn requests_are_signed_for_s3() {
        let c = S3Client::new(&config(true), ("AKID".into(), "SECRET".into())).unwrap();
        let h = c
            .signed_headers(
                "PUT",
                "http://127.0.0.1:3900/media/k",
                &[("content-md5", "x".into())],
            )
            .unwrap();
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("x-amz-content-sha256").unwrap(), "UNSIGNED-PAYLOAD");
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"),
            "{auth}"
        );
        assert!(auth.contains("/garage/s3/aws4_request"), "{auth}");
        assert!(auth.contains("content-md5"), "{auth}");
        assert!(get("x-amz-date").is_some());
    }

    #[test]
    fn credentials_come_from_config_env_or_file() {
        let mut c = config(true);
        let none = |_: &str| None;
        assert!(matches!(
            credentials(&c, &none),
            Err(S3Error::Credentials(_))
        ));
        let env = |n: &str| match n {
            "AWS_ACCESS_KEY_ID" => Some("envid".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("envsecret".to_string()),
            _ => None,
        };
        assert_eq!(credentials(&c, &env).unwrap().0, "envid");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[other]\naws_access_key_id = no\n[default]\naws_access_key_id = fid\naws_secret_access_key = fsecret\n",
        )
        .unwrap();
        c.credentials.file = file.display().to_string();
        assert_eq!(
            credentials(&c, &none).unwrap(),
            ("fid".to_string(), "fsecret".to_string())
        );
        c.credentials.access_key_id = "cid".into();
        assert!(credentials(&c, &none).is_err(), "half a key is refused");
        c.credentials.secret_access_key = "csecret".into();
        assert_eq!(credentials(&c, &env).unwrap().0, "cid");
    }
}
