//! Waits for an uploaded video to be published, polling `GET /api/v1/videos/<uuid>` and showing
//! Fleuve's `transcoding` extension (state, progress, per-rung encoder and speed) on stderr.

use super::rest::{expect_ok, Client};
use super::video::{state, video_state, TranscodingView};
use super::ClientError;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::time::Duration;

/// Time between polls.
const POLL: Duration = Duration::from_millis(500);
/// Consecutive failed polls (transport errors, 5xx) before giving up (about a minute).
const MAX_FAILED_POLLS: u32 = 120;

/// Polls until the video is published; returns its last JSON.
pub fn until_published(client: &Client, uuid: &str) -> Result<Value, ClientError> {
    let bar = ProgressBar::new(1000);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{bar:30}] {percent:>3}% {elapsed} {wide_msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message("waiting for transcoding");
    let mut failed = 0u32;
    let mut last_state: Option<String> = None;
    loop {
        let video = match poll(client, uuid) {
            Ok(v) => {
                failed = 0;
                v
            }
            Err(e) if e.is_transient() && failed < MAX_FAILED_POLLS => {
                failed += 1;
                if failed == 1 || failed.is_multiple_of(20) {
                    bar.suspend(|| tracing::warn!(error = %e, attempt = failed, "polling the video failed; retrying"));
                }
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        };
        let view = TranscodingView::from_video(&video);
        if let Some(t) = &view {
            if let Some(p) = t.progress {
                bar.set_position((p * 1000.0).round() as u64);
            }
            bar.set_message(t.message());
            // Without a terminal the bar is hidden; say each state change once.
            if bar.is_hidden() && t.state != last_state {
                eprintln!("fleuve ingest: {uuid}: {}", t.message());
                last_state = t.state.clone();
            }
        }
        match video_state(&video) {
            Some(state::PUBLISHED) => {
                bar.finish_and_clear();
                return Ok(video);
            }
            Some(state::TRANSCODING_FAILED) => {
                bar.abandon();
                let reason = view
                    .and_then(|t| t.error)
                    .or_else(|| {
                        video
                            .get("state")
                            .and_then(|s| s.get("label"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| "the server gave no reason".into());
                return Err(ClientError::TranscodingFailed {
                    uuid: uuid.to_string(),
                    reason,
                });
            }
            _ => std::thread::sleep(POLL),
        }
    }
}

fn poll(client: &Client, uuid: &str) -> Result<Value, ClientError> {
    let target = client.target(&format!("/api/v1/videos/{uuid}"));
    let answer = client.get(&target)?;
    if matches!(answer.status, 429 | 500 | 502 | 503 | 504) {
        return Err(ClientError::Unavailable {
            request: format!("GET {}", target.url),
            status: answer.status,
            detail: answer.detail(),
            retry_after: answer.retry_after,
        });
    }
    expect_ok("GET", &target, answer)?.json("the video")
}
