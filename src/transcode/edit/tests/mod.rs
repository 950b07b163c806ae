//! What PeerTube's server would check of a studio edit or an audio merge: codecs, size,
//! duration and faststart as ffprobe reads them, the pixels of a watermark, and the errors of
//! bad inputs. Media is made with the `ffmpeg` CLI; outputs are read with `ffprobe`/`ffmpeg`.

mod merge;
mod refused;
mod studio;

use crate::transcode::testclip::generate;
use crate::transcode::web_video::top_level_boxes;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(super) fn libx264() -> Vec<String> {
    vec!["libx264".into()]
}

pub(super) fn no_progress(_: f64) {}

fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe is required (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The streams of `path` by type, and its duration.
pub(super) struct Probed {
    json: serde_json::Value,
}

impl Probed {
    pub(super) fn of(path: &Path) -> Probed {
        Probed {
            json: ffprobe(path),
        }
    }

    pub(super) fn stream(&self, kind: &str) -> Option<&serde_json::Value> {
        self.json["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == kind)
    }

    pub(super) fn video(&self) -> &serde_json::Value {
        self.stream("video").expect("a video stream")
    }

    pub(super) fn size(&self) -> (u64, u64) {
        let v = self.video();
        (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
    }

    pub(super) fn duration(&self) -> f64 {
        self.json["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub(super) fn stream_duration(&self, kind: &str) -> f64 {
        self.stream(kind).unwrap()["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub(super) fn frames(&self) -> u64 {
        self.video()["nb_read_frames"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// What every output must be: MP4, H.264 High yuv420p, AAC 48 kHz stereo when it has sound,
/// `moov` before `mdat`.
pub(super) fn assert_peertube_mp4(path: &Path, audio: bool) -> Probed {
    let p = Probed::of(path);
    assert!(
        p.json["format"]["format_name"]
            .as_str()
            .unwrap()
            .starts_with("mov,mp4"),
        "{}",
        p.json
    );
    let v = p.video();
    assert_eq!(v["codec_name"], "h264", "{v}");
    assert_eq!(v["profile"], "High", "{v}");
    assert_eq!(v["pix_fmt"], "yuv420p", "{v}");
    match p.stream("audio") {
        Some(a) => {
            assert!(audio, "unexpected audio: {a}");
            assert_eq!(a["codec_name"], "aac", "{a}");
            assert_eq!(a["sample_rate"], "48000", "{a}");
            assert_eq!(a["channels"], 2, "{a}");
        }
        None => assert!(!audio, "no audio stream: {}", p.json),
    }
    let boxes = top_level_boxes(&std::fs::read(path).unwrap());
    let moov = boxes.iter().position(|b| b == "moov").expect("a moov");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("an mdat");
    assert!(moov < mdat, "not faststart: {boxes:?}");
    p
}

pub(super) fn assert_near(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got} (expected {want} ± {tolerance})"
    );
}

/// One frame of `path` at `secs` as RGB24 bytes (and its width).
pub(super) fn rgb_frame(path: &Path, secs: f64) -> (Vec<u8>, usize) {
    let width = Probed::of(path).size().0 as usize;
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss", &secs.to_string(), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success() && !out.stdout.is_empty());
    (out.stdout, width)
}

pub(super) fn pixel(frame: &(Vec<u8>, usize), x: usize, y: usize) -> (u8, u8, u8) {
    let i = (y * frame.1 + x) * 3;
    (frame.0[i], frame.0[i + 1], frame.0[i + 2])
}

pub(super) fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

/// A PNG of `size`, red, its left half transparent.
pub(super) fn half_transparent_red(dir: &Path, size: &str) -> PathBuf {
    generate(
        dir,
        "mark.png",
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("color=c=red:size={size}"),
            "-vf",
            "format=rgba,geq=r=255:g=0:b=0:a='if(lt(X,W/2),0,255)'",
            "-frames:v",
            "1",
        ],
    )
}

/// Where the first silence of `path`'s audio ends (seconds), as `silencedetect` hears it.
pub(super) fn silence_end(path: &Path) -> Option<f64> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(path)
        .args(["-af", "silencedetect=n=-50dB:d=0.5", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let at = log.split("silence_end: ").nth(1)?;
    at.split_whitespace().next()?.parse().ok()
}
