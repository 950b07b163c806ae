//! Transcoding: probing sources, planning the ladder, the decode-once pipeline, HLS playlists,
//! thumbnails and storyboards, studio edits and audio merges, the durable job queue, the worker
//! processes that run jobs, and publication. Only this module talks to libav.

pub mod assemble;
mod audio;
pub(crate) mod devscale;
pub mod edit;
pub(crate) mod hls;
pub(crate) mod hwdecode;
pub(crate) mod images;
pub(crate) mod jobs;
pub mod ladder;
pub(crate) mod limits;
pub mod live;
pub(crate) mod p2p;
pub mod pipeline;
pub mod probe;
pub(crate) mod progress;
pub(crate) mod publish;
pub(crate) mod runner;
pub(crate) mod source;
pub(crate) mod space;
pub mod split_audio;
pub(crate) mod status;
pub(crate) mod storyboard;
pub mod web_video;
pub mod worker;
pub(crate) mod write_check;

/// Test media, generated with Debian's `ffmpeg` CLI (nothing large is committed).
#[cfg(test)]
pub(crate) mod testclip {
    use std::path::{Path, PathBuf};

    /// Runs `ffmpeg <args> <dir/name>` and returns the output path.
    pub fn generate(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let out = dir.join(name);
        let status = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .arg(&out)
            .status()
            .expect("ffmpeg CLI is required for media tests (apt-get install ffmpeg)");
        assert!(status.success(), "ffmpeg failed to generate {name}");
        out
    }

    /// A `testsrc2` clip (`size`, `rate`, `secs`) in H.264, with a sine tone (`audio`, as
    /// `sample_rate:channels`) when asked.
    pub fn clip(
        dir: &Path,
        name: &str,
        size: &str,
        rate: u32,
        secs: u32,
        audio: Option<(u32, u32)>,
    ) -> PathBuf {
        let video = format!("testsrc2=size={size}:rate={rate}:duration={secs}");
        let mut args: Vec<String> = vec!["-f".into(), "lavfi".into(), "-i".into(), video];
        if let Some((sr, ch)) = audio {
            args.extend(["-f", "lavfi", "-i"].map(String::from));
            args.push(format!(
                "sine=frequency=440:sample_rate={sr}:duration={secs}"
            ));
            args.extend(["-c:a", "aac", "-ac"].map(String::from));
            args.push(ch.to_string());
        }
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ]
            .map(String::from),
        );
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        generate(dir, name, &refs)
    }
}
