//! Caps on what one source may cost to transcode, checked from its probed headers before a job
//! is planned (at upload, and again in the worker): frame size, frame rate, duration, and the
//! pixels the job would decode. The work of a job is duration × frame rate × pixels whatever the
//! file's size: a few kilobytes of still image encoded as 1080p60 cost as much as any 1080p60
//! video of that length, so the byte limit of uploads bounds none of these.

use super::probe::SourceInfo;
use serde::{Deserialize, Serialize};

/// The caps (`transcode.max_source_*`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceLimits {
    /// Longest side (width or height), in pixels.
    pub max_side: u32,
    /// Width × height.
    pub max_pixels: u64,
    /// Frame rate.
    pub max_fps: u32,
    /// Duration in seconds (0 = no limit).
    pub max_duration_secs: u64,
    /// Duration × frame rate × width × height, in billions of pixels (0 = no limit).
    pub max_gigapixels: u64,
}

impl Default for SourceLimits {
    /// The caps of the default `[transcode]` section (8192 px sides, 8192 × 4320 pixels,
    /// 300 fps, 12 hours, 4000 gigapixels).
    fn default() -> Self {
        crate::config::TranscodeConfig::default().source_limits()
    }
}

/// A source over one of the caps.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// A side is too long.
    #[error("the video is {width}x{height}; its longest side is above transcode.max_source_side = {limit}")]
    Side {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// The cap.
        limit: u32,
    },
    /// Too many pixels per frame.
    #[error("the video is {width}x{height} ({pixels} pixels), above transcode.max_source_pixels = {limit}")]
    Pixels {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Width × height.
        pixels: u64,
        /// The cap.
        limit: u64,
    },
    /// Too many frames per second.
    #[error(
        "the video runs at {fps:.2} frames per second, above transcode.max_source_fps = {limit}"
    )]
    Fps {
        /// Its frame rate.
        fps: f64,
        /// The cap.
        limit: u32,
    },
    /// Too long.
    #[error("the video lasts {secs:.0} s, above transcode.max_source_duration_secs = {limit}")]
    Duration {
        /// Its duration.
        secs: f64,
        /// The cap.
        limit: u64,
    },
    /// Too much work in all.
    #[error("transcoding the video means decoding {gigapixels:.0} billion pixels ({secs:.0} s × {fps:.2} fps × {width}x{height}), above transcode.max_source_gigapixels = {limit}")]
    Work {
        /// Duration × frame rate × pixels, in billions.
        gigapixels: f64,
        /// Duration.
        secs: f64,
        /// Frame rate.
        fps: f64,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// The cap.
        limit: u64,
    },
}

impl SourceLimits {
    /// Checks `source` against the caps (a source without video passes: it is refused elsewhere).
    pub fn check(&self, source: &SourceInfo) -> Result<(), LimitError> {
        let Some(v) = &source.video else {
            return Ok(());
        };
        let (width, height) = (v.width, v.height);
        if width.max(height) > self.max_side {
            return Err(LimitError::Side {
                width,
                height,
                limit: self.max_side,
            });
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(LimitError::Pixels {
                width,
                height,
                pixels,
                limit: self.max_pixels,
            });
        }
        if v.fps.is_finite() && v.fps > f64::from(self.max_fps) {
            return Err(LimitError::Fps {
                fps: v.fps,
                limit: self.max_fps,
            });
        }
        let secs = source.duration_secs;
        if self.max_duration_secs > 0 && secs.is_finite() && secs > self.max_duration_secs as f64 {
            return Err(LimitError::Duration {
                secs,
                limit: self.max_duration_secs,
            });
        }
        let gigapixels = secs * v.fps * pixels as f64 / 1e9;
        if self.max_gigapixels > 0
            && gigapixels.is_finite()
            && gigapixels > self.max_gigapixels as f64
        {
            return Err(LimitError::Work {
                gigapixels,
                secs,
                fps: v.fps,
                width,
                height,
                limit: self.max_gigapixels,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::probe::VideoInfo;

    fn source(width: u32, height: u32, fps: f64, secs: f64) -> SourceInfo {
        SourceInfo {
            format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_secs: secs,
            bitrate: None,
            video: Some(VideoInfo {
                codec: "h264".into(),
                width,
                height,
                fps,
                pixel_format: "yuv420p".into(),
            }),
            audio: None,
        }
    }

    #[test]
    fn ordinary_sources_pass() {
        let l = SourceLimits::default();
        for s in [
            source(1920, 1080, 60.0, 2.0 * 3600.0),
            source(3840, 2160, 60.0, 2.0 * 3600.0),
            source(4320, 7680, 30.0, 60.0),
            source(1920, 1080, 30.0, 11.0 * 3600.0),
            source(1280, 720, 240.0, 10.0),
        ] {
            l.check(&s).unwrap();
        }
    }

    #[test]
    fn each_cap_names_the_value_and_the_key() {
        let l = SourceLimits::default();
        let e = l
            .check(&source(16000, 16000, 24.0, 1.0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("16000x16000") && e.contains("transcode.max_source_side = 8192"),
            "{e}"
        );
        let e = l
            .check(&source(8000, 8000, 24.0, 1.0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("64000000 pixels") && e.contains("transcode.max_source_pixels = 35389440"),
            "{e}"
        );
        let e = l
            .check(&source(640, 360, 1000.0, 1.0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("1000.00 frames") && e.contains("transcode.max_source_fps = 300"),
            "{e}"
        );
        let e = l
            .check(&source(640, 360, 25.0, 50000.0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("50000 s") && e.contains("transcode.max_source_duration_secs = 43200"),
            "{e}"
        );
        // Ten hours of a still 4K image at 60 fps: small file, enormous job.
        let e = l
            .check(&source(3840, 2160, 60.0, 36000.0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("17916 billion pixels")
                && e.contains("transcode.max_source_gigapixels = 4000"),
            "{e}"
        );
        let none = SourceLimits {
            max_duration_secs: 0,
            max_gigapixels: 0,
            ..l
        };
        none.check(&source(3840, 2160, 60.0, 36000.0)).unwrap();
    }
}
