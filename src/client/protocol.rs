//! The wire bits of `fleuve ingest`'s upload, as pure functions: where the server is
//! (`fleuve.addr`), node-uploadx's `Range`/`Content-Range`/`Location` headers, media types and
//! RFC 7807 problem bodies. No I/O here.

use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

/// Where requests go: the address to connect to, the `Host` to claim, and the public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://authority` that requests are sent to (no trailing slash).
    pub base: String,
    /// `Host` header to send when it differs from `base`'s authority (the public host of a
    /// server reached through its local address).
    pub host: Option<String>,
    /// The instance's public URL, for the links shown to the user.
    pub public_url: String,
}

impl Endpoint {
    /// An endpoint from a URL given by the user (`--server`).
    pub fn from_url(url: &str) -> Result<Endpoint, String> {
        let url = url.trim().trim_end_matches('/');
        let (scheme, authority, rest) =
            split_url(url).ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
        if !rest.is_empty() {
            return Err(format!(
                "{url:?} has a path ({rest:?}); expected only scheme://host[:port]"
            ));
        }
        let base = format!("{scheme}://{authority}");
        Ok(Endpoint {
            public_url: base.clone(),
            base,
            host: None,
        })
    }

    /// An endpoint from the contents of a running server's `fleuve.addr`: the bound socket
    /// address on the first line, the public URL on the second.
    ///
    /// Requests go to the bound address (over loopback when bound to every interface) with the
    /// public host in `Host`, so that a server behind a reverse proxy is reached directly. When
    /// the public URL is HTTPS on the bound port, the server terminates TLS itself and the
    /// public URL is used as is (its certificate names the public host, not the address).
    pub fn from_addr_file(text: &str) -> Result<Endpoint, String> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let bound_line = lines
            .next()
            .ok_or("the file is empty; expected the bound address on the first line")?;
        let bound: SocketAddr = bound_line.parse().map_err(|_| {
            format!("first line {bound_line:?} is not a socket address like 127.0.0.1:9000")
        })?;
        let connect = match bound {
            SocketAddr::V4(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
            SocketAddr::V6(a) if a.ip().is_unspecified() => format!("[::1]:{}", a.port()),
            a => a.to_string(),
        };
        let Some(public) = lines.next() else {
            let base = format!("http://{connect}");
            return Ok(Endpoint {
                public_url: base.clone(),
                base,
                host: None,
            });
        };
        let public = public.trim_end_matches('/');
        let (scheme, authority, _) = split_url(public)
            .ok_or_else(|| format!("second line {public:?} is not an http:// or https:// URL"))?;
        let public_port = port_of(scheme, authority);
        if scheme == "https" && public_port == Some(bound.port()) {
            return Ok(Endpoint {
                base: format!("{scheme}://{authority}"),
                host: None,
                public_url: public.to_string(),
            });
        }
        let host = (!same_authority(authority, &connect)).then(|| authority.to_string());
        Ok(Endpoint {
            base: format!("http://{connect}"),
            host,
            public_url: public.to_string(),
        })
    }

    /// The URL of an API path (`/api/v1/…`) on this endpoint.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Where PeerTube's web client shows a video: `<public URL>/w/<shortUUID or uuid>`.
    pub fn watch_url(&self, id: &str) -> String {
        format!("{}/w/{id}", self.public_url)
    }
}

/// A request target: the URL to send to and the `Host` header to claim, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Absolute URL.
    pub url: String,
    /// `Host` header override.
    pub host: Option<String>,
}

/// Resolves the `Location` of a new upload session (protocol-relative `//host/path`, absolute,
/// or a path) against the endpoint. A location on the endpoint's own host (public or bound) is
/// sent the same way as every other request; one on another host is followed as is.
pub fn resolve_location(endpoint: &Endpoint, location: &str) -> Result<Target, String> {
    let location = location.trim();
    let (base_scheme, base_authority, _) =
        split_url(&endpoint.base).ok_or_else(|| format!("bad base URL {:?}", endpoint.base))?;
    let absolute = if let Some(rest) = location.strip_prefix("//") {
        format!("{base_scheme}://{rest}")
    } else if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        return Ok(Target {
            url: format!("{}{location}", endpoint.base),
            host: endpoint.host.clone(),
        });
    } else {
        return Err(format!(
            "Location {location:?} is neither a URL nor an absolute path"
        ));
    };
    let (_, authority, rest) =
        split_url(&absolute).ok_or_else(|| format!("Location {location:?} has no host"))?;
    let ours = same_authority(authority, base_authority)
        || endpoint
            .host
            .as_deref()
            .is_some_and(|h| same_authority(authority, h));
    if ours {
        Ok(Target {
            url: format!("{}{rest}", endpoint.base),
            host: endpoint.host.clone(),
        })
    } else {
        Ok(Target {
            url: absolute,
            host: None,
        })
    }
}

/// Splits `scheme://authority/rest` (rest keeps its leading `/`, may be empty). Only http(s).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, after) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let cut = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(cut);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((scheme, authority, rest))
}

/// The port of an authority, or the scheme's default.
fn port_of(scheme: &str, authority: &str) -> Option<u16> {
    let host_end = authority.rfind(']').unwrap_or(0);
    match authority[host_end..].rsplit_once(':') {
        Some((_, p)) => p.parse().ok(),
        None => Some(if scheme == "https" { 443 } else { 80 }),
    }
}

/// Whether two authorities name the same host and port: case-insensitive, with a default port
/// (`:80`, `:443`) the same as none (as the server's own `Host` check does).
fn same_authority(a: &str, b: &str) -> bool {
    let norm = |x: &str| {
        let x = x.to_ascii_lowercase();
        match x.strip_suffix(":80").or_else(|| x.strip_suffix(":443")) {
            Some(bare) => bare.to_string(),
            None => x,
        }
    };
    norm(a) == norm(b)
}

/// The offset of the next byte the server wants, from a 308's `Range: bytes=0-<last>` header
/// (no header, or an empty one: nothing received).
pub fn next_offset(range: Option<&str>) -> Result<u64, String> {
    let Some(range) = range.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(0);
    };
    let spec = range.strip_prefix("bytes=").unwrap_or(range).trim();
    let (start, end) = spec
        .split_once('-')
        .ok_or_else(|| format!("Range {range:?} is not of the form bytes=0-<last byte>"))?;
    let start: u64 = start
        .trim()
        .parse()
        .map_err(|_| format!("Range {range:?} has a bad first byte"))?;
    let end: u64 = end
        .trim()
        .parse()
        .map_err(|_| format!("Range {range:?} has a bad last byte"))?;
    if end < start {
        return Err(format!("Range {range:?} ends before it starts"));
    }
    end.checked_add(1)
        .ok_or_else(|| format!("Range {range:?} ends past the largest byte offset"))
}

/// `Content-Range` of a chunk of `len` (> 0) bytes at `start` of a `total`-byte file.
pub fn content_range(start: u64, len: u64, total: u64) -> String {
    format!("bytes {start}-{}/{total}", start + len.max(1) - 1)
}

/// `Content-Range` of the empty request that asks the server how much it has.
pub fn status_query_range(total: u64) -> String {
    format!("bytes */{total}")
}

/// The media type announced in `X-Upload-Content-Type`, from the file's extension.
pub fn mime_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "ogv" => "video/ogg",
        "mpg" | "mpeg" => "video/mpeg",
        "ts" | "m2ts" => "video/mp2t",
        "flv" => "video/x-flv",
        "wmv" => "video/x-ms-wmv",
        "3gp" => "video/3gpp",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// What to show of an error answer: the problem document's `detail` (else `error`, else the
/// start of the body, else the status's reason).
pub fn problem_detail(status: u16, body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        for key in ["detail", "error", "message", "title"] {
            if let Some(s) = v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                return s.to_string();
            }
        }
    }
    let text = body.trim();
    if !text.is_empty() {
        let mut cut = text.len().min(300);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        return text[..cut].to_string();
    }
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no detail")
        .to_string()
}

/// Parses a byte count: a number, optionally with a `K`, `M`, `G` (×1000) or `KiB`, `MiB`, `GiB`
/// (×1024) suffix.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count like 8388608 or 8MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit; use K, M, G, KiB, MiB or GiB"
            ))
        }
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err(format!("{text:?}: the size must be at least 1 byte"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_header_gives_the_next_offset() {
        assert_eq!(next_offset(None), Ok(0));
        assert_eq!(next_offset(Some("")), Ok(0));
        assert_eq!(next_offset(Some("bytes=0-8388607")), Ok(8_388_608));
        assert_eq!(next_offset(Some(" bytes=0-0 ")), Ok(1));
        assert_eq!(next_offset(Some("0-99")), Ok(100));
    }

    #[test]
    fn bad_range_headers_are_errors_naming_the_value() {
        for bad in [
            "bytes=0-",
            "bytes=abc",
            "bytes=5-3",
            "bytes=-5",
            "bytes=0--1",
            // The next offset would be 2^64 (it wrapped to 0: found by fuzzing).
            "bytes=0-18446744073709551615",
        ] {
            let e = next_offset(Some(bad)).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn content_range_is_inclusive() {
        assert_eq!(content_range(0, 8, 20), "bytes 0-7/20");
        assert_eq!(content_range(16, 4, 20), "bytes 16-19/20");
        assert_eq!(status_query_range(20), "bytes */20");
    }

    #[test]
    fn mime_from_extension() {
        assert_eq!(mime_for(Path::new("a/b.MP4")), "video/mp4");
        assert_eq!(mime_for(Path::new("x.webm")), "video/webm");
        assert_eq!(mime_for(Path::new("x.mkv")), "video/x-matroska");
        assert_eq!(mime_for(Path::new("x.mov")), "video/quicktime");
        assert_eq!(mime_for(Path::new("noext")), "application/octet-stream");
        assert_eq!(mime_for(Path::new("x.exe")), "application/octet-stream");
    }

    #[test]
    fn server_url_validation() {
        let e = Endpoint::from_url("http://127.0.0.1:9000/").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:9000");
        assert_eq!(
            e.url("/api/v1/config"),
            "http://127.0.0.1:9000/api/v1/config"
        );
        assert_eq!(e.watch_url("abc"), "http://127.0.0.1:9000/w/abc");
        for bad in ["127.0.0.1:9000", "ftp://x", "http://", "http://x/sub"] {
            assert!(Endpoint::from_url(bad).unwrap_err().contains(bad));
        }
    }

    #[test]
    fn addr_file_default_config() {
        let e = Endpoint::from_addr_file("127.0.0.1:9000\nhttp://127.0.0.1:9000\n").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:9000");
        assert_eq!(e.host, None);
        assert_eq!(e.public_url, "http://127.0.0.1:9000");
    }

    #[test]
    fn addr_file_every_interface_goes_through_loopback() {
        let e = Endpoint::from_addr_file("0.0.0.0:9000\nhttp://localhost:9000\n").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:9000");
        assert_eq!(e.host.as_deref(), Some("localhost:9000"));
        let e = Endpoint::from_addr_file("[::]:9000\n").unwrap();
        assert_eq!(e.base, "http://[::1]:9000");
        assert_eq!(e.public_url, "http://[::1]:9000");
    }

    #[test]
    fn addr_file_behind_a_reverse_proxy_claims_the_public_host() {
        let e = Endpoint::from_addr_file("127.0.0.1:9000\nhttps://videos.example.org\n").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:9000");
        assert_eq!(e.host.as_deref(), Some("videos.example.org"));
        assert_eq!(e.watch_url("k"), "https://videos.example.org/w/k");
    }

    #[test]
    fn addr_file_with_own_tls_uses_the_public_url() {
        let e = Endpoint::from_addr_file("0.0.0.0:443\nhttps://videos.example.org\n").unwrap();
        assert_eq!(e.base, "https://videos.example.org");
        assert_eq!(e.host, None);
    }

    #[test]
    fn bad_addr_files_name_the_line() {
        assert!(Endpoint::from_addr_file("").is_err());
        assert!(Endpoint::from_addr_file("localhost\n")
            .unwrap_err()
            .contains("\"localhost\""));
        assert!(Endpoint::from_addr_file("127.0.0.1:1\nnot a url\n")
            .unwrap_err()
            .contains("not a url"));
    }

    #[test]
    fn protocol_relative_location_resolves_against_the_endpoint() {
        let e = Endpoint::from_url("http://127.0.0.1:9000").unwrap();
        let t = resolve_location(
            &e,
            "//127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=ab12",
        )
        .unwrap();
        assert_eq!(
            t.url,
            "http://127.0.0.1:9000/api/v1/videos/upload-resumable?upload_id=ab12"
        );
        assert_eq!(t.host, None);
    }

    #[test]
    fn location_on_the_public_host_goes_to_the_bound_address() {
        let e = Endpoint::from_addr_file("127.0.0.1:9000\nhttps://Videos.Example.org\n").unwrap();
        let t = resolve_location(&e, "//videos.example.org:443/api/v1/x?upload_id=1").unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9000/api/v1/x?upload_id=1");
        assert_eq!(t.host.as_deref(), Some("Videos.Example.org"));
        let t = resolve_location(&e, "/api/v1/x?upload_id=2").unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9000/api/v1/x?upload_id=2");
        assert_eq!(t.host.as_deref(), Some("Videos.Example.org"));
    }

    #[test]
    fn location_on_another_host_is_followed_as_is() {
        let e = Endpoint::from_url("https://a.example").unwrap();
        let t = resolve_location(&e, "https://upload.example/u?upload_id=1").unwrap();
        assert_eq!(t.url, "https://upload.example/u?upload_id=1");
        assert_eq!(t.host, None);
        let t = resolve_location(&e, "//upload.example/u").unwrap();
        assert_eq!(t.url, "https://upload.example/u");
    }

    #[test]
    fn bad_locations_are_errors() {
        let e = Endpoint::from_url("http://h:1").unwrap();
        assert!(resolve_location(&e, "upload?x")
            .unwrap_err()
            .contains("upload?x"));
        assert!(resolve_location(&e, "//").is_err());
        assert!(resolve_location(&e, "ftp://h/x").is_err());
    }

    #[test]
    fn problem_details_prefer_detail() {
        let body = r#"{"type":"about:blank","status":400,"detail":"file too big","code":"x","error":"legacy"}"#;
        assert_eq!(problem_detail(400, body), "file too big");
        assert_eq!(problem_detail(400, r#"{"error":"legacy"}"#), "legacy");
        assert_eq!(
            problem_detail(502, "Bad gateway from nginx\n"),
            "Bad gateway from nginx"
        );
        assert_eq!(problem_detail(503, ""), "Service Unavailable");
        let long = "é".repeat(400);
        assert!(problem_detail(500, &long).len() <= 300);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8388608"), Ok(8 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("5M"), Ok(5_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("8 parsecs").unwrap_err().contains("8 parsecs"));
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
