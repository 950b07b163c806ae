//! PeerTube's resumable upload (node-uploadx): open a session, `PUT` the file in chunks where
//! the server's `Range` says to, and after a dropped connection or a 5xx ask the server how far
//! it got and go on from there.

use super::protocol::{
    content_range, mime_for, next_offset, resolve_location, status_query_range, Target,
};
use super::rest::{expect_ok, Answer, Client};
use super::ClientError;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// Consecutive failures (without progress) before giving up.
const MAX_TRIES: u32 = 10;

/// What to upload.
pub struct UploadRequest<'a> {
    /// The file.
    pub path: &'a Path,
    /// Video name.
    pub title: &'a str,
    /// Channel to publish in.
    pub channel_id: u64,
    /// Bytes per `PUT`.
    pub chunk_size: u64,
}

/// Uploads a file; returns the server's final answer (`{"video": {...}}`).
pub fn upload(client: &Client, req: &UploadRequest) -> Result<Value, ClientError> {
    let file_err = |error| ClientError::File {
        path: req.path.to_path_buf(),
        error,
    };
    let mut file = File::open(req.path).map_err(file_err)?;
    let total = file.metadata().map_err(file_err)?.len();
    if total == 0 {
        return Err(ClientError::EmptyFile(req.path.to_path_buf()));
    }
    let filename = req
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "video".into());

    let bar = upload_bar(total, &filename);
    let (session, mut offset, done) = open_session(client, req, total, &filename, &bar)?;
    if let Some(video) = done {
        bar.finish_and_clear();
        return Ok(video);
    }
    bar.set_position(offset);
    bar.reset_eta();

    let mut buf = Vec::new();
    let mut failures = 0u32;
    loop {
        if offset >= total {
            // The server has every byte but did not say it finished; ask it.
            failures += 1;
            if failures > MAX_TRIES {
                return Err(ClientError::Protocol {
                    what: format!("PUT {}", session.url),
                    reason: format!(
                        "the server says it has all {total} bytes but never finished the upload"
                    ),
                });
            }
            backoff(&bar, failures, None);
            match resume_point(client, &session, total, &bar, &mut failures)? {
                Progress::Done(video) => {
                    bar.finish_and_clear();
                    return Ok(video);
                }
                Progress::At(o) => {
                    offset = o;
                    continue;
                }
            }
        }
        let len = req.chunk_size.min(total - offset);
        read_chunk(&mut file, offset, len, &mut buf).map_err(file_err)?;
        let range = content_range(offset, len, total);
        let mut body = BarReader {
            inner: &buf[..],
            bar: &bar,
        };
        bar.set_position(offset);
        let outcome = client
            .put_bytes(&session, &range, len, &mut body)
            .and_then(|a| classify(&session, a));
        match outcome {
            Ok(Progress::Done(video)) => {
                bar.finish_and_clear();
                return Ok(video);
            }
            Ok(Progress::At(next)) => {
                if next > offset {
                    failures = 0;
                } else {
                    failures += 1;
                    if failures > MAX_TRIES {
                        return Err(ClientError::Protocol {
                            what: format!("PUT {}", session.url),
                            reason: format!(
                                "the server keeps refusing the bytes at {offset} ({range})"
                            ),
                        });
                    }
                }
                offset = next;
                bar.set_position(offset);
            }
            Err(e) if e.is_transient() => {
                failures += 1;
                if failures > MAX_TRIES {
                    return Err(ClientError::GaveUp {
                        tries: MAX_TRIES,
                        last: Box::new(e),
                    });
                }
                bar.suspend(|| {
                    tracing::warn!(error = %e, offset, attempt = failures, "chunk failed; asking the server where to resume");
                });
                backoff(&bar, failures, e.retry_after());
                match resume_point(client, &session, total, &bar, &mut failures)? {
                    Progress::Done(video) => {
                        bar.finish_and_clear();
                        return Ok(video);
                    }
                    Progress::At(o) => {
                        offset = o;
                        bar.set_position(offset);
                        bar.reset_eta();
                    }
                }
            }
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        }
    }
}

/// Where the upload stands after a `PUT`.
enum Progress {
    /// The server wants the bytes from this offset on.
    At(u64),
    /// The upload is complete; the server's answer.
    Done(Value),
}

/// `POST /api/v1/videos/upload-resumable`: the session's target, the offset to start at, and
/// the final answer when the file was already fully uploaded.
fn open_session(
    client: &Client,
    req: &UploadRequest,
    total: u64,
    filename: &str,
    bar: &ProgressBar,
) -> Result<(Target, u64, Option<Value>), ClientError> {
    let target = client.target("/api/v1/videos/upload-resumable");
    let body = json!({"name": req.title, "channelId": req.channel_id, "filename": filename});
    let headers = [
        ("X-Upload-Content-Length", total.to_string()),
        ("X-Upload-Content-Type", mime_for(req.path).to_string()),
    ];
    let mut failures = 0;
    let answer = loop {
        let result = client
            .post_json(&target, &headers, &body)
            .and_then(|a| transient_status("POST", &target, a));
        match result {
            Ok(a) => break a,
            Err(e) if e.is_transient() && failures < MAX_TRIES => {
                failures += 1;
                bar.suspend(|| tracing::warn!(error = %e, attempt = failures, "opening the upload failed; retrying"));
                backoff(bar, failures, e.retry_after());
            }
            Err(e) => return Err(e),
        }
    };
    let answer = expect_ok("POST", &target, answer)?;
    let location = answer
        .location
        .as_deref()
        .ok_or_else(|| ClientError::Protocol {
            what: format!("POST {}", target.url),
            reason: format!("answer {} has no Location header", answer.status),
        })?;
    let session =
        resolve_location(&client.endpoint, location).map_err(|reason| ClientError::Protocol {
            what: format!("POST {}", target.url),
            reason,
        })?;
    tracing::debug!(url = %session.url, status = answer.status, "upload session");
    if answer.status == 200 {
        // An upload of this file already exists: resume it.
        let mut failures = 0;
        return match resume_point(client, &session, total, bar, &mut failures)? {
            Progress::At(o) => Ok((session, o, None)),
            Progress::Done(v) => Ok((session, total, Some(v))),
        };
    }
    Ok((session, 0, None))
}

/// Asks the server where it is, retrying transient failures (counted in `failures`).
fn resume_point(
    client: &Client,
    session: &Target,
    total: u64,
    bar: &ProgressBar,
    failures: &mut u32,
) -> Result<Progress, ClientError> {
    loop {
        match query(client, session, total) {
            Ok(p) => return Ok(p),
            Err(e) if e.is_transient() && *failures < MAX_TRIES => {
                *failures += 1;
                bar.suspend(|| tracing::warn!(error = %e, attempt = *failures, "asking the server where to resume failed; retrying"));
                backoff(bar, *failures, e.retry_after());
            }
            Err(e) if e.is_transient() => {
                return Err(ClientError::GaveUp {
                    tries: MAX_TRIES,
                    last: Box::new(e),
                })
            }
            Err(e) => return Err(e),
        }
    }
}

/// `PUT` with an empty body and `Content-Range: bytes */<total>`.
fn query(client: &Client, session: &Target, total: u64) -> Result<Progress, ClientError> {
    let answer = client.put_bytes(
        session,
        &status_query_range(total),
        0,
        &mut std::io::empty(),
    )?;
    classify(session, answer)
}

/// Reads a `PUT` answer: 308 = go on at the server's `Range`, 200/201 = done, 5xx/429 =
/// transient, other = fatal. A 409 (the chunk did not start where the server is) also carries
/// the server's `Range` and is followed like a 308; the caller counts it as a failure.
fn classify(session: &Target, answer: Answer) -> Result<Progress, ClientError> {
    let answer = transient_status("PUT", session, answer)?;
    match answer.status {
        308 | 409 => next_offset(answer.range.as_deref())
            .map(Progress::At)
            .map_err(|reason| ClientError::Protocol {
                what: format!("PUT {}", session.url),
                reason,
            }),
        200 | 201 => Ok(Progress::Done(answer.json("the finished upload")?)),
        _ => {
            let answer = expect_ok("PUT", session, answer)?;
            Err(ClientError::Protocol {
                what: format!("PUT {}", session.url),
                reason: format!("unexpected status {}", answer.status),
            })
        }
    }
}

/// Turns 429 and the 5xx that a retry may cure into [`ClientError::Unavailable`].
fn transient_status(method: &str, target: &Target, answer: Answer) -> Result<Answer, ClientError> {
    if matches!(answer.status, 429 | 500 | 502 | 503 | 504) {
        return Err(ClientError::Unavailable {
            request: format!("{method} {}", target.url),
            status: answer.status,
            detail: answer.detail(),
            retry_after: answer.retry_after,
        });
    }
    Ok(answer)
}

/// Sleeps before retry number `attempt`, showing why on the bar.
fn backoff(bar: &ProgressBar, attempt: u32, retry_after: Option<u64>) {
    let wait = backoff_delay(attempt, retry_after);
    bar.set_message(format!("retrying in {:.1} s", wait.as_secs_f64()));
    std::thread::sleep(wait);
    bar.set_message("");
}

/// 0.5 s doubling to 10 s, or the server's `Retry-After` (at most a minute).
fn backoff_delay(attempt: u32, retry_after: Option<u64>) -> Duration {
    let ms = 500u64
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(5))
        .min(10_000);
    retry_after
        .map(|s| Duration::from_secs(s.min(60)))
        .unwrap_or(Duration::from_millis(ms))
}

fn read_chunk(file: &mut File, offset: u64, len: u64, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let len = usize::try_from(len).map_err(|_| std::io::Error::other("chunk too large"))?;
    buf.resize(len, 0);
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

fn upload_bar(total: u64, filename: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("uploading {filename}"));
    bar
}

/// Reads a chunk for ureq while moving the progress bar.
struct BarReader<'a> {
    inner: &'a [u8],
    bar: &'a ProgressBar,
}

impl Read for BarReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, range: Option<&str>, body: &str) -> Answer {
        Answer {
            status,
            range: range.map(str::to_string),
            location: None,
            retry_after: None,
            body: body.to_string(),
        }
    }

    fn session() -> Target {
        Target {
            url: "http://h/api/v1/videos/upload-resumable?upload_id=1".into(),
            host: None,
        }
    }

    fn offset(r: Result<Progress, ClientError>) -> u64 {
        match r {
            Ok(Progress::At(o)) => o,
            Ok(Progress::Done(v)) => panic!("done early: {v}"),
            Err(e) => panic!("error: {e}"),
        }
    }

    #[test]
    fn resume_incomplete_follows_the_server_range() {
        assert_eq!(offset(classify(&session(), answer(308, None, ""))), 0);
        let a = answer(308, Some("bytes=0-1048575"), "");
        assert_eq!(offset(classify(&session(), a)), 1_048_576);
        let conflict = answer(409, Some("bytes=0-99"), r#"{"detail":"chunk starts at 7"}"#);
        assert_eq!(offset(classify(&session(), conflict)), 100);
    }

    #[test]
    fn completion_returns_the_video() {
        let body = r#"{"video":{"id":3,"shortUUID":"s","uuid":"u"}}"#;
        match classify(&session(), answer(200, None, body)) {
            Ok(Progress::Done(v)) => assert_eq!(v["video"]["uuid"], "u"),
            _ => panic!("expected Done"),
        }
        let e = classify(&session(), answer(200, None, "<html>"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("not JSON"), "{e}");
    }

    #[test]
    fn server_trouble_is_transient_and_client_errors_are_fatal() {
        let busy = answer(
            503,
            None,
            r#"{"detail":"another request is writing this upload"}"#,
        );
        let e = classify(&session(), busy).err().unwrap();
        assert!(e.is_transient());
        assert!(e.to_string().contains("another request"), "{e}");
        let gone = answer(404, None, r#"{"status":404,"detail":"no upload 1"}"#);
        let e = classify(&session(), gone).err().unwrap();
        assert!(!e.is_transient());
        assert!(e.to_string().contains("404: no upload 1"), "{e}");
        let bad_range = classify(&session(), answer(308, Some("bytes=zz"), ""));
        assert!(!bad_range.err().unwrap().is_transient());
    }

    #[test]
    fn backoff_doubles_up_to_ten_seconds_unless_the_server_says() {
        let delays: Vec<u128> = (1..=8)
            .map(|n| backoff_delay(n, None).as_millis())
            .collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        assert_eq!(backoff_delay(1, Some(5)), Duration::from_secs(5));
        assert_eq!(backoff_delay(1, Some(3600)), Duration::from_secs(60));
    }
}
