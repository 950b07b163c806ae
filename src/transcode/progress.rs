//! Live progress of one transcode: counters the pipeline bumps as it goes (frames decoded, frames
//! encoded per rung, the encoder each rung runs on), and the JSON report a worker sends to its
//! parent over a pipe several times a second.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Counters of one rung.
#[derive(Debug)]
pub struct RungStats {
    /// The rung's resolution.
    pub resolution: u32,
    /// Frames encoded so far.
    pub frames: AtomicU64,
    /// Encoder in use (empty until one opened).
    pub encoder: Mutex<String>,
}

/// Counters of the whole pipeline, shared by the decode thread and every rung thread.
#[derive(Debug)]
pub struct PipelineStats {
    /// Frames decoded from the source.
    pub decoded: AtomicU64,
    /// Frames the source is expected to have (duration × frame rate), 0 when unknown.
    pub expected_frames: u64,
    /// Per rung, in ladder order.
    pub rungs: Vec<RungStats>,
    started: Instant,
}

impl PipelineStats {
    /// Counters for a ladder of `resolutions` over a source of about `expected_frames` frames.
    pub fn new(resolutions: &[u32], expected_frames: u64) -> PipelineStats {
        PipelineStats {
            decoded: AtomicU64::new(0),
            expected_frames,
            rungs: resolutions
                .iter()
                .map(|&resolution| RungStats {
                    resolution,
                    frames: AtomicU64::new(0),
                    encoder: Mutex::new(String::new()),
                })
                .collect(),
            started: Instant::now(),
        }
    }

    /// The counters of the rung at `resolution`.
    pub fn rung(&self, resolution: u32) -> Option<&RungStats> {
        self.rungs.iter().find(|r| r.resolution == resolution)
    }

    /// A report of where the pipeline is now.
    pub fn report(&self) -> Progress {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let decoded = self.decoded.load(Ordering::Relaxed);
        let rungs: Vec<RungProgress> = self
            .rungs
            .iter()
            .map(|r| {
                let frames = r.frames.load(Ordering::Relaxed);
                RungProgress {
                    resolution: r.resolution,
                    encoder: r.encoder.lock().map(|e| e.clone()).unwrap_or_default(),
                    frames,
                    fps: frames as f64 / secs,
                }
            })
            .collect();
        // The slowest rung sets the pace (the decoder waits for it).
        let done = rungs.iter().map(|r| r.frames).min().unwrap_or(decoded);
        let progress = if self.expected_frames > 0 {
            (done as f64 / self.expected_frames as f64).min(1.0)
        } else {
            0.0
        };
        let eta_secs = (progress > 0.01).then(|| secs * (1.0 - progress) / progress);
        Progress {
            decoded,
            expected_frames: self.expected_frames,
            progress,
            eta_secs,
            elapsed_secs: secs,
            rungs,
        }
    }
}

/// One rung in a progress report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RungProgress {
    /// Resolution.
    pub resolution: u32,
    /// Encoder in use.
    pub encoder: String,
    /// Frames encoded.
    pub frames: u64,
    /// Average frames per second so far.
    pub fps: f64,
}

/// A progress report (what `fleuve worker` prints, one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Frames decoded.
    pub decoded: u64,
    /// Frames expected.
    pub expected_frames: u64,
    /// 0..1.
    pub progress: f64,
    /// Estimated seconds left.
    pub eta_secs: Option<f64>,
    /// Seconds since the pipeline started.
    pub elapsed_secs: f64,
    /// Per rung.
    pub rungs: Vec<RungProgress>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_follows_the_slowest_rung() {
        let stats = PipelineStats::new(&[720, 360], 100);
        stats.decoded.store(60, Ordering::Relaxed);
        stats.rungs[0].frames.store(50, Ordering::Relaxed);
        stats.rungs[1].frames.store(60, Ordering::Relaxed);
        *stats.rungs[0].encoder.lock().unwrap() = "libx264".into();
        let p = stats.report();
        assert_eq!(p.progress, 0.5);
        assert!(p.eta_secs.is_some());
        assert_eq!(p.rungs[0].encoder, "libx264");
        let line = serde_json::to_string(&p).unwrap();
        let back: Progress = serde_json::from_str(&line).unwrap();
        assert_eq!(back.rungs.len(), 2);
        assert!(PipelineStats::new(&[144], 0).report().progress == 0.0);
    }
}
