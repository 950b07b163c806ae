//! The upload client, `fleuve ingest`: the *client* side of PeerTube's upload protocol. It
//! uploads a media file to a Fleuve (or PeerTube) server through its public HTTP API (password
//! login, PeerTube's resumable upload), optionally waits until it is transcoded and published,
//! and prints what the server made of it. It runs in the CLI process and talks to the server
//! over HTTP only; the server's side of uploads (what receives, stores and registers them) is
//! [`crate::uploads`].
//!
//! The wire formats are pure functions in [`protocol`] and [`video`]; [`rest`] makes the
//! REST calls, [`upload`] runs the resumable upload and [`wait`] follows transcoding.

pub(crate) mod protocol;
pub(crate) mod rest;
pub mod storage;
pub(crate) mod upload;
pub(crate) mod video;
pub(crate) mod wait;

use protocol::Endpoint;
use rest::Client;
use serde_json::Value;
use std::path::{Path, PathBuf};
use video::{published_rungs, rung_text, TranscodingView};

/// Server used when neither `--server` nor `--data-dir` says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:9000";

/// How the CLI reaches a running server and logs in (`fleuve ingest`, `fleuve storage`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Server URL. Default: the running server of --data-dir (its fleuve.addr), else
    /// http://127.0.0.1:9000.
    #[arg(long)]
    pub server: Option<String>,
    /// OAuth access token (sent as `Authorization: Bearer`); skips the password login.
    #[arg(long, env = "FLEUVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The server's data directory: where to find its address (fleuve.addr) and the generated
    /// root password (root-password).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Account to log in as (password from FLEUVE_ROOT_PASSWORD, else <data-dir>/root-password).
    #[arg(long, default_value = "root")]
    pub username: String,
}

/// Options of `fleuve ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The media file to upload.
    pub file: PathBuf,
    /// Video name. Default: the file name without its extension.
    #[arg(long)]
    pub title: Option<String>,
    /// Wait until the video is transcoded and published (or transcoding failed).
    #[arg(long)]
    pub wait: bool,
    /// Print the video as JSON on stdout (and nothing else there).
    #[arg(long)]
    pub json: bool,
    /// The server and the account.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Bytes per upload request (a number, or with a K/M/G/KiB/MiB/GiB suffix).
    #[arg(long, default_value = "8MiB", value_parser = protocol::parse_size)]
    pub chunk_size: u64,
}

/// Why `fleuve ingest` failed. Each variant names the file, URL or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The media file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a `source()`).
        error: std::io::Error,
    },
    /// The path is not a regular file.
    #[error("{} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    /// The media file is empty.
    #[error("{} is empty; there is nothing to upload", .0.display())]
    EmptyFile(PathBuf),
    /// A bad `--server` or `fleuve.addr`.
    #[error("{what}: {reason}")]
    Address {
        /// Which value.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No way to authenticate.
    #[error("no credentials: {0}")]
    Credentials(String),
    /// The request did not get an answer.
    #[error("{request}: {error}")]
    Transport {
        /// Method and URL.
        request: String,
        /// The transport error (in the message, so not also a `source()`).
        error: ureq::Error,
    },
    /// A 429 or 5xx that a retry may cure.
    #[error("{request} answered {status}: {detail}")]
    Unavailable {
        /// Method and URL.
        request: String,
        /// HTTP status.
        status: u16,
        /// The problem document's detail.
        detail: String,
        /// The server's `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// A definitive error answer.
    #[error("{request} answered {status}: {detail}{}", hint(*status))]
    Api {
        /// Method and URL.
        request: String,
        /// HTTP status.
        status: u16,
        /// The problem document's detail.
        detail: String,
    },
    /// The login was refused.
    #[error("logging in as {user:?} at {url} failed ({status}): {detail}")]
    Login {
        /// Username.
        user: String,
        /// Token URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The problem document's detail.
        detail: String,
    },
    /// An answer that does not follow the protocol.
    #[error("{what}: {reason}")]
    Protocol {
        /// The request or object.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// Transient failures went on too long.
    #[error("giving up after {tries} failed tries; last error: {last}")]
    GaveUp {
        /// Tries made.
        tries: u32,
        /// The last failure.
        last: Box<ClientError>,
    },
    /// The server could not transcode the video.
    #[error("transcoding video {uuid} failed: {reason}")]
    TranscodingFailed {
        /// The video.
        uuid: String,
        /// The server's `transcoding.error`.
        reason: String,
    },
}

fn hint(status: u16) -> &'static str {
    match status {
        413 => " (a proxy may limit request sizes; try a smaller --chunk-size)",
        401 => " (check --token or the password)",
        _ => "",
    }
}

impl ClientError {
    /// Whether retrying the same request may succeed (no answer, 429 or a passing 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { error, .. } => matches!(
                error,
                ureq::Error::Io(_)
                    | ureq::Error::Timeout(_)
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::Protocol(_)
            ),
            ClientError::Unavailable { .. } => true,
            _ => false,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ClientError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Runs `fleuve ingest`: log in, upload, optionally wait, print the result.
pub fn run(opts: &Options) -> Result<(), ClientError> {
    // Fail on a bad file before talking to the server.
    let meta = std::fs::metadata(&opts.file).map_err(|error| ClientError::File {
        path: opts.file.clone(),
        error,
    })?;
    if !meta.is_file() {
        return Err(ClientError::NotAFile(opts.file.clone()));
    }
    if meta.len() == 0 {
        return Err(ClientError::EmptyFile(opts.file.clone()));
    }
    let client = connect(&opts.server)?;
    let channel_id = client.first_channel()?;
    let title = opts
        .title
        .clone()
        .unwrap_or_else(|| default_title(&opts.file));
    let uploaded = upload::upload(
        &client,
        &upload::UploadRequest {
            path: &opts.file,
            title: &title,
            channel_id,
            chunk_size: opts.chunk_size,
        },
    )?;
    let video = uploaded.get("video").unwrap_or(&uploaded);
    let uuid = video
        .get("uuid")
        .and_then(Value::as_str)
        .ok_or_else(|| ClientError::Protocol {
            what: "the finished upload".into(),
            reason: format!("no video.uuid in {uploaded}"),
        })?
        .to_string();
    let short = video
        .get("shortUUID")
        .and_then(Value::as_str)
        .unwrap_or(&uuid)
        .to_string();
    let published = if opts.wait {
        Some(wait::until_published(&client, &uuid)?)
    } else {
        None
    };
    if opts.json {
        let out = published.as_ref().unwrap_or(&uploaded);
        println!(
            "{}",
            serde_json::to_string_pretty(out).unwrap_or_else(|_| out.to_string())
        );
    } else {
        print!(
            "{}",
            summary(
                &title,
                &uuid,
                &short,
                &client.endpoint.watch_url(&short),
                published.as_ref()
            )
        );
    }
    Ok(())
}

/// The human summary printed on stdout.
fn summary(title: &str, uuid: &str, short: &str, watch: &str, video: Option<&Value>) -> String {
    let mut out = format!(
        "ingested {title:?}\n  uuid       {uuid}\n  shortUUID  {short}\n  watch      {watch}\n"
    );
    let Some(video) = video else {
        out.push_str(
            "  state      uploaded; transcoding runs on the server (--wait to follow it)\n",
        );
        return out;
    };
    let mut rungs = published_rungs(video);
    if rungs.is_empty() {
        rungs = TranscodingView::from_video(video)
            .map(|t| t.rungs)
            .unwrap_or_default();
    }
    if let Some(hls) = video["streamingPlaylists"][0]["playlistUrl"].as_str() {
        // Playable today in any HLS player (mpv, VLC, ffplay, Safari).
        out.push_str(&format!("  hls        {hls}\n"));
    }
    if rungs.is_empty() {
        out.push_str("  state      published\n");
    } else {
        let rungs: Vec<String> = rungs.iter().map(|r| rung_text(r, false)).collect();
        out.push_str(&format!("  rungs      {}\n", rungs.join(", ")));
    }
    out
}

fn default_title(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "video".into())
}

/// `--server`, else the running server of `--data-dir`, else [`DEFAULT_SERVER`].
/// A logged-in client of the server `opts` names.
pub(crate) fn connect(opts: &ServerArgs) -> Result<Client, ClientError> {
    let endpoint = endpoint(opts)?;
    tracing::debug!(base = %endpoint.base, host = ?endpoint.host, "server");
    let mut client = Client::new(endpoint);
    match &opts.token {
        Some(t) if !t.trim().is_empty() => client.set_token(t.trim().to_string()),
        _ => {
            let password = password(opts)?;
            client.login(&opts.username, &password)?;
        }
    }
    Ok(client)
}

fn endpoint(opts: &ServerArgs) -> Result<Endpoint, ClientError> {
    if let Some(url) = &opts.server {
        return Endpoint::from_url(url).map_err(|reason| ClientError::Address {
            what: "--server".into(),
            reason,
        });
    }
    if let Some(dir) = &opts.data_dir {
        let path = dir.join(crate::engine::ADDR_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ClientError::Address {
            what: path.display().to_string(),
            reason: format!(
                "{e} (is the server running with --data-dir {}?)",
                dir.display()
            ),
        })?;
        return Endpoint::from_addr_file(&text).map_err(|reason| ClientError::Address {
            what: path.display().to_string(),
            reason,
        });
    }
    Endpoint::from_url(DEFAULT_SERVER).map_err(|reason| ClientError::Address {
        what: DEFAULT_SERVER.into(),
        reason,
    })
}

/// `FLEUVE_ROOT_PASSWORD`, else `<data-dir>/root-password`.
fn password(opts: &ServerArgs) -> Result<String, ClientError> {
    if let Ok(p) = std::env::var("FLEUVE_ROOT_PASSWORD") {
        if !p.is_empty() {
            return Ok(p);
        }
    }
    let Some(dir) = &opts.data_dir else {
        return Err(ClientError::Credentials(
            "pass --token, set FLEUVE_ROOT_PASSWORD, or --data-dir DIR holding root-password"
                .into(),
        ));
    };
    let path = dir.join(crate::config::ROOT_PASSWORD_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ClientError::Credentials(format!(
            "cannot read {}: {e}; pass --token or set FLEUVE_ROOT_PASSWORD",
            path.display()
        ))
    })?;
    let p = text.trim();
    if p.is_empty() {
        return Err(ClientError::Credentials(format!(
            "{} is empty",
            path.display()
        )));
    }
    Ok(p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn title_defaults_to_the_file_stem() {
        assert_eq!(
            default_title(Path::new("/tmp/My clip.final.mp4")),
            "My clip.final"
        );
        assert_eq!(default_title(Path::new("/")), "video");
    }

    #[test]
    fn summary_lists_rungs_with_their_encoder() {
        let v = json!({"state": {"id": 1}, "transcoding": {"state": "done", "rungs": [
            {"resolution": 720, "encoder": "libx264", "fps": 50.0},
            {"resolution": 480, "encoder": "h264_nvenc"}]}});
        let s = summary("t", "u-u-i-d", "short", "http://h/w/short", Some(&v));
        assert!(s.contains("  uuid       u-u-i-d\n"), "{s}");
        assert!(s.contains("  watch      http://h/w/short\n"), "{s}");
        assert!(
            s.contains("  rungs      720p libx264, 480p h264_nvenc\n"),
            "{s}"
        );
        let s = summary("t", "u", "s", "w", None);
        assert!(s.contains("--wait"), "{s}");
        let published = json!({"state": {"id": 1}, "streamingPlaylists": [{"files": [
            {"resolution": {"id": 360, "label": "360p"}, "encoder": "libx264"}]}]});
        let s = summary("t", "u", "s", "w", Some(&published));
        assert!(s.contains("  rungs      360p libx264\n"), "{s}");
    }

    #[test]
    fn server_from_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let opts = |server: Option<&str>, data_dir: Option<&Path>| ServerArgs {
            server: server.map(str::to_string),
            token: None,
            data_dir: data_dir.map(Path::to_path_buf),
            username: "root".into(),
        };
        let e = endpoint(&opts(None, Some(dir.path()))).unwrap_err();
        assert!(e.to_string().contains("fleuve.addr"), "{e}");
        std::fs::write(
            dir.path().join("fleuve.addr"),
            "0.0.0.0:9123\nhttp://localhost:9123\n",
        )
        .unwrap();
        let e = endpoint(&opts(None, Some(dir.path()))).unwrap();
        assert_eq!(e.base, "http://127.0.0.1:9123");
        assert_eq!(e.host.as_deref(), Some("localhost:9123"));
        let e = endpoint(&opts(Some("http://h:1"), Some(dir.path()))).unwrap();
        assert_eq!(e.base, "http://h:1");
        assert_eq!(endpoint(&opts(None, None)).unwrap().base, DEFAULT_SERVER);
    }

    #[test]
    fn transient_errors() {
        let unavailable = ClientError::Unavailable {
            request: "PUT x".into(),
            status: 503,
            detail: "busy".into(),
            retry_after: Some(3),
        };
        assert!(unavailable.is_transient());
        assert_eq!(unavailable.retry_after(), Some(3));
        let api = ClientError::Api {
            request: "PUT x".into(),
            status: 413,
            detail: "too big".into(),
        };
        assert!(!api.is_transient());
        assert!(api.to_string().contains("--chunk-size"));
    }
}
