//! The parts of PeerTube's video JSON that `fleuve ingest --wait` follows: `state.id`, and
//! Fleuve's `transcoding` extension (state, progress, ETA, per-rung encoder and speed), read
//! leniently so that a missing or oddly typed field never stops a wait. No I/O here.

use serde_json::Value;

/// PeerTube's `VideoState` ids that end a wait.
pub mod state {
    /// Published: transcoding is done and the video plays.
    pub const PUBLISHED: u64 = 1;
    /// Transcoding failed.
    pub const TRANSCODING_FAILED: u64 = 7;
}

/// `state.id` of a video object.
pub fn video_state(video: &Value) -> Option<u64> {
    video.get("state")?.get("id")?.as_u64()
}

/// One rung of Fleuve's `transcoding` extension, every field optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RungView {
    /// Height in pixels.
    pub resolution: Option<u64>,
    /// Encoder name (`libx264`, `h264_nvenc`, …).
    pub encoder: Option<String>,
    /// Frames encoded so far.
    pub frames: Option<u64>,
    /// Encoding speed in frames per second.
    pub fps: Option<f64>,
}

/// Fleuve's `transcoding` extension of the video object, read leniently: missing or oddly typed
/// fields are left out, never an error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscodingView {
    /// `queued`, `running`, `done` or `failed`.
    pub state: Option<String>,
    /// Attempts so far.
    pub attempts: Option<u64>,
    /// 0.0 to 1.0.
    pub progress: Option<f64>,
    /// Seconds left, as the server estimates.
    pub eta_secs: Option<f64>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The ladder's rungs.
    pub rungs: Vec<RungView>,
}

impl TranscodingView {
    /// The `transcoding` object of a video, if it has one.
    pub fn from_video(video: &Value) -> Option<TranscodingView> {
        let t = video.get("transcoding").filter(|t| t.is_object())?;
        let string = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
        let rungs = t
            .get("rungs")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().map(rung_view).collect())
            .unwrap_or_default();
        Some(TranscodingView {
            state: string("state"),
            attempts: t.get("attempts").and_then(Value::as_u64),
            progress: t
                .get("progress")
                .and_then(Value::as_f64)
                .map(|p| p.clamp(0.0, 1.0)),
            eta_secs: t
                .get("etaSecs")
                .and_then(Value::as_f64)
                .filter(|e| e.is_finite() && *e >= 0.0),
            error: string("error").filter(|e| !e.is_empty()),
            rungs,
        })
    }

    /// A one-line description for the progress bar, e.g.
    /// `transcoding 720p libx264 58 fps · 480p libx264 61 fps · eta 12 s`.
    pub fn message(&self) -> String {
        let mut parts = Vec::new();
        let state = self.state.as_deref().unwrap_or("waiting");
        let head = match (state, self.attempts) {
            ("running", _) => "transcoding".to_string(),
            (s, Some(n)) if n > 1 => format!("{s} (attempt {n})"),
            (s, _) => s.to_string(),
        };
        if self.rungs.is_empty() || state == "queued" {
            parts.push(head);
        } else {
            parts.push(format!("{head} {}", rung_text(&self.rungs[0], true)));
            parts.extend(self.rungs[1..].iter().map(|r| rung_text(r, true)));
        }
        if let Some(eta) = self.eta_secs.filter(|_| state == "running") {
            parts.push(format!("eta {}", human_secs(eta)));
        }
        parts.join(" · ")
    }
}

fn rung_view(r: &Value) -> RungView {
    let resolution = r.get("resolution").and_then(|v| {
        v.as_u64()
            .or_else(|| v.get("id").and_then(Value::as_u64))
            .or_else(|| v.as_str()?.trim_end_matches('p').parse().ok())
    });
    RungView {
        resolution,
        encoder: r.get("encoder").and_then(Value::as_str).map(str::to_string),
        frames: r.get("frames").and_then(Value::as_u64),
        fps: r
            .get("fps")
            .and_then(Value::as_f64)
            .filter(|f| f.is_finite()),
    }
}

/// The renditions of a published video: its HLS playlists' files (`resolution`, and Fleuve's
/// `encoder` extension), then web-video files, highest first, one per resolution, audio-only
/// files left out.
pub fn published_rungs(video: &Value) -> Vec<RungView> {
    let hls = video
        .get("streamingPlaylists")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("files").and_then(Value::as_array))
        .flatten();
    let web = video
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let mut rungs: Vec<RungView> = Vec::new();
    for r in hls.chain(web).map(rung_view) {
        // Resolution 0 is PeerTube's audio-only file, not a rung.
        let video_rung = r.resolution.is_some_and(|h| h > 0);
        if video_rung && !rungs.iter().any(|x| x.resolution == r.resolution) {
            rungs.push(r);
        }
    }
    rungs.sort_by_key(|r| std::cmp::Reverse(r.resolution));
    rungs
}

/// `720p libx264 58 fps` (speed left out when `with_speed` is false or unknown).
pub fn rung_text(r: &RungView, with_speed: bool) -> String {
    let mut words = Vec::new();
    words.push(match r.resolution {
        Some(h) => format!("{h}p"),
        None => "?p".to_string(),
    });
    if let Some(e) = &r.encoder {
        words.push(e.clone());
    }
    if let Some(fps) = r.fps.filter(|_| with_speed) {
        words.push(format!("{fps:.0} fps"));
    }
    words.join(" ")
}

fn human_secs(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transcoding_view_is_lenient() {
        let v = json!({"state": {"id": 2, "label": "To transcode"}, "transcoding": {
        "state": "running", "attempts": 1, "progress": 0.42, "etaSecs": 12.4, "error": null,
        "rungs": [
            {"resolution": 720, "encoder": "libx264", "frames": 300, "fps": 58.2},
            {"resolution": {"id": 480, "label": "480p"}, "encoder": "h264_nvenc"},
            {"resolution": "360p", "fps": "fast"},
            "garbage"
        ]}});
        assert_eq!(video_state(&v), Some(2));
        let t = TranscodingView::from_video(&v).unwrap();
        assert_eq!(t.progress, Some(0.42));
        assert_eq!(t.rungs.len(), 4);
        assert_eq!(
            t.message(),
            "transcoding 720p libx264 58 fps · 480p h264_nvenc · 360p · ?p · eta 12 s"
        );
        let q = TranscodingView::from_video(
            &json!({"transcoding": {"state": "queued", "attempts": 2}}),
        )
        .unwrap();
        assert_eq!(q.message(), "queued (attempt 2)");
        assert_eq!(
            TranscodingView::from_video(&json!({"transcoding": {}}))
                .unwrap()
                .message(),
            "waiting"
        );
        assert!(TranscodingView::from_video(&json!({"transcoding": 3})).is_none());
        assert!(TranscodingView::from_video(&json!({})).is_none());
        assert_eq!(video_state(&json!({"state": 1})), None);
    }

    #[test]
    fn published_rungs_come_from_the_playlist_files() {
        // Shape of Fleuve's GET /api/v1/videos/<uuid> once published (trimmed).
        let v = json!({"state": {"id": 1, "label": "Published"}, "files": [],
        "streamingPlaylists": [{"id": 1, "type": 1, "files": [
            {"resolution": {"id": 240, "label": "240p"}, "encoder": "libx264"},
            {"resolution": {"id": 360, "label": "360p"}, "encoder": "h264_nvenc"},
            {"resolution": {"id": 360, "label": "360p"}, "encoder": "libx264"},
            {"resolution": {"id": 0, "label": "Audio"}},
            {"size": 5}
        ]}]});
        let text: Vec<String> = published_rungs(&v)
            .iter()
            .map(|r| rung_text(r, false))
            .collect();
        assert_eq!(text, ["360p h264_nvenc", "240p libx264"]);
        assert!(published_rungs(&json!({"state": {"id": 1}})).is_empty());
    }

    #[test]
    fn failed_transcoding_keeps_its_error() {
        let v = json!({"state": {"id": 7}, "transcoding": {"state": "failed", "progress": 7,
            "error": "libx264: out of memory"}});
        let t = TranscodingView::from_video(&v).unwrap();
        assert_eq!(t.error.as_deref(), Some("libx264: out of memory"));
        assert_eq!(t.progress, Some(1.0));
        assert_eq!(video_state(&v), Some(state::TRANSCODING_FAILED));
    }
}
