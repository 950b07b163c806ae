//! Which available jobs go together: the resolution jobs (`vod-hls-transcoding`,
//! `vod-web-video-transcoding`) and the storyboard of one input video are one batch, decoded
//! once; everything else (a live job, …) is a batch of its own. Jobs this runner cannot do are
//! left for others.

use crate::runners::protocol::{AvailableJob, JobType, Payload};

/// Why a job is left for another runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The job.
    pub uuid: String,
    /// Why.
    pub reason: String,
}

/// Jobs to accept together, in the instance's order (highest priority first).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The input they share (see [`input_key`]), when they read one.
    pub input: Option<String>,
    /// Whether the resolutions carry the audio (false: `separatedAudio` HLS renditions).
    pub with_audio: bool,
    /// The jobs.
    pub jobs: Vec<AvailableJob>,
}

/// What identifies an input file across jobs. PeerTube's input URLs name the job:
/// `<instance>/api/v1/runners/jobs/<jobUUID>/files/videos/<videoUUID>/max-quality`; the key is
/// the URL without the job's uuid (instance + video + which file).
pub fn input_key(url: &str) -> String {
    const MARK: &str = "/api/v1/runners/jobs/";
    match url.find(MARK) {
        Some(i) => {
            let rest = &url[i + MARK.len()..];
            match rest.find('/') {
                Some(j) => format!("{}{MARK}*{}", &url[..i], &rest[j..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// What a resolution job asks for: input key, whether with audio, resolution (0: the audio-only
/// rendition), fps.
fn vod_output(job: &AvailableJob) -> Result<(String, bool, u32, u32), String> {
    let payload = Payload::parse(job.kind, &job.payload).map_err(|e| format!("payload: {e}"))?;
    let (input, audio, resolution, fps) = match &payload {
        Payload::Hls(p) => (
            &p.input,
            !p.output.separated_audio,
            p.output.resolution,
            p.output.fps,
        ),
        Payload::WebVideo(p) => (&p.input, true, p.output.resolution, p.output.fps),
        _ => return Err("not a resolution job".into()),
    };
    if input.separated_audio_file_url.len() > 1 {
        return Err(format!(
            "the input has {} separate audio files; fleuve runner takes one",
            input.separated_audio_file_url.len()
        ));
    }
    Ok((input_key(&input.video_file_url), audio, resolution, fps))
}

/// Splits `jobs` (as `/jobs/request` listed them) into batches, keeping only `types`.
pub fn batches(jobs: &[AvailableJob], types: &[JobType]) -> (Vec<Batch>, Vec<Skipped>) {
    let mut out: Vec<Batch> = Vec::new();
    let mut skipped = Vec::new();
    // Per batch: (resolution, fps) of its rungs, so one rung never has two frame rates.
    let mut rungs: Vec<Vec<(u32, u32)>> = Vec::new();
    let mut storyboards = Vec::new();
    for job in jobs {
        let skip = |reason: String| Skipped {
            uuid: job.uuid.clone(),
            reason,
        };
        if !types.contains(&job.kind) {
            skipped.push(skip(format!("{} is not in jobs.types", job.kind)));
            continue;
        }
        match job.kind {
            JobType::VodHlsTranscoding | JobType::VodWebVideoTranscoding => {
                let (key, audio, res, fps) = match vod_output(job) {
                    Ok(v) => v,
                    Err(reason) => {
                        skipped.push(skip(reason));
                        continue;
                    }
                };
                // The audio-only rendition (resolution 0) goes with any batch of its input; a
                // batch of audio-only jobs takes the first resolution job of its input.
                let audio_only = |r: &[(u32, u32)]| r.iter().all(|(res, _)| *res == 0);
                let at = out.iter().zip(&rungs).position(|(b, r)| {
                    b.input.as_deref() == Some(&key)
                        && (res == 0 || b.with_audio == audio || audio_only(r))
                        && !r
                            .iter()
                            .any(|(r2, f2)| *r2 == res && *f2 != fps && res != 0)
                });
                match at {
                    Some(i) => {
                        if res != 0 && audio_only(&rungs[i]) {
                            out[i].with_audio = audio;
                        }
                        out[i].jobs.push(job.clone());
                        rungs[i].push((res, fps));
                    }
                    None => {
                        out.push(Batch {
                            input: Some(key),
                            with_audio: audio && res != 0,
                            jobs: vec![job.clone()],
                        });
                        rungs.push(vec![(res, fps)]);
                    }
                }
            }
            JobType::VodAudioMergeTranscoding | JobType::VideoStudioTranscoding => {
                match Payload::parse(job.kind, &job.payload) {
                    Ok(_) => {
                        // Inputs of their own: a batch each.
                        out.push(Batch {
                            input: None,
                            with_audio: true,
                            jobs: vec![job.clone()],
                        });
                        rungs.push(Vec::new());
                    }
                    Err(e) => skipped.push(skip(format!("payload: {e}"))),
                }
            }
            JobType::GenerateVideoStoryboard => match Payload::parse(job.kind, &job.payload) {
                Ok(Payload::Storyboard(p)) => {
                    storyboards.push((input_key(&p.input.video_file_url), job.clone()))
                }
                _ => skipped.push(skip("storyboard payload is not PeerTube's".into())),
            },
            JobType::LiveRtmpHlsTranscoding => {
                match super::process::live::payload_of(job.kind, &job.payload) {
                    Ok(_) => {
                        out.push(Batch {
                            input: None,
                            with_audio: true,
                            jobs: vec![job.clone()],
                        });
                        // No input: never joined by another job.
                        rungs.push(Vec::new());
                    }
                    Err(reason) => skipped.push(skip(reason)),
                }
            }
            other => skipped.push(skip(format!("{other} is not processed by fleuve runner"))),
        }
    }
    // A storyboard joins the first batch decoding its video, else is a batch of its own.
    for (key, job) in storyboards {
        match out
            .iter_mut()
            .find(|b| b.input.as_deref() == Some(&key) && b.jobs.iter().all(|j| j.kind != job.kind))
        {
            Some(b) => b.jobs.push(job),
            None => out.push(Batch {
                input: Some(key),
                with_audio: false,
                jobs: vec![job],
            }),
        }
    }
    (out, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(
        uuid: &str,
        kind: JobType,
        video: &str,
        res: u32,
        extra: serde_json::Value,
    ) -> AvailableJob {
        let url = format!("http://pt/api/v1/runners/jobs/{uuid}/files/videos/{video}/max-quality");
        let mut output = json!({"resolution": res, "fps": 30});
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                output[k] = v.clone();
            }
        }
        let payload = match kind {
            JobType::GenerateVideoStoryboard => json!({"input": {"videoFileUrl": url},
                "sprites": {"size": {"width": 192, "height": 108}, "count": {"width": 2, "height": 2}, "duration": 1}}),
            _ => {
                json!({"input": {"videoFileUrl": url, "separatedAudioFileUrl": []}, "output": output})
            }
        };
        AvailableJob {
            uuid: uuid.into(),
            kind,
            payload,
        }
    }

    const ALL: [JobType; 7] = JobType::ALL;

    #[test]
    fn input_key_drops_the_job_uuid() {
        assert_eq!(
            input_key("http://pt/api/v1/runners/jobs/J1/files/videos/V/max-quality"),
            input_key("http://pt/api/v1/runners/jobs/J2/files/videos/V/max-quality")
        );
        assert_ne!(
            input_key("http://pt/api/v1/runners/jobs/J1/files/videos/V/max-quality"),
            input_key("http://pt/api/v1/runners/jobs/J1/files/videos/V/max-quality/audio")
        );
        assert_ne!(
            input_key("http://a/api/v1/runners/jobs/J/files/videos/V/max-quality"),
            input_key("http://b/api/v1/runners/jobs/J/files/videos/V/max-quality")
        );
        assert_eq!(input_key("http://cdn/x.mp4"), "http://cdn/x.mp4");
    }

    #[test]
    fn resolutions_of_one_video_are_one_batch() {
        let jobs = vec![
            job("a", JobType::VodHlsTranscoding, "V", 480, json!({})),
            job("b", JobType::VodHlsTranscoding, "W", 480, json!({})),
            job("c", JobType::VodHlsTranscoding, "V", 360, json!({})),
            job("d", JobType::VodWebVideoTranscoding, "V", 480, json!({})),
            job("e", JobType::GenerateVideoStoryboard, "V", 0, json!({})),
            job("f", JobType::GenerateVideoStoryboard, "X", 0, json!({})),
            job("g", JobType::VideoTranscription, "V", 0, json!({})),
        ];
        let (batches, skipped) = batches(&jobs, &ALL);
        let uuids: Vec<Vec<&str>> = batches
            .iter()
            .map(|b| b.jobs.iter().map(|j| j.uuid.as_str()).collect())
            .collect();
        assert_eq!(uuids, vec![vec!["a", "c", "d", "e"], vec!["b"], vec!["f"]]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].uuid, "g");
    }

    #[test]
    fn a_live_job_is_a_batch_of_its_own() {
        let live = |uuid: &str, url: &str| AvailableJob {
            uuid: uuid.into(),
            kind: JobType::LiveRtmpHlsTranscoding,
            payload: json!({"input": {"rtmpUrl": url}, "output": {"toTranscode":
                [{"resolution": 360, "fps": 25}], "segmentDuration": 2, "segmentListSize": 3}}),
        };
        let jobs = vec![
            job("a", JobType::VodHlsTranscoding, "V", 480, json!({})),
            live("l", "rtmp://pt/live/key"),
            job("c", JobType::VodHlsTranscoding, "V", 360, json!({})),
            live("m", "file:///etc/passwd"),
        ];
        let (batches, skipped) = batches(&jobs, &ALL);
        let uuids: Vec<Vec<&str>> = batches
            .iter()
            .map(|b| b.jobs.iter().map(|j| j.uuid.as_str()).collect())
            .collect();
        assert_eq!(uuids, vec![vec!["a", "c"], vec!["l"]]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].reason.contains("not an RTMP URL"), "{skipped:?}");
    }

    #[test]
    fn separated_audio_frame_rates_and_unsupported_outputs_split_or_skip() {
        let jobs = vec![
            job(
                "a",
                JobType::VodHlsTranscoding,
                "V",
                480,
                json!({"separatedAudio": true}),
            ),
            job("b", JobType::VodWebVideoTranscoding, "V", 480, json!({})),
            job(
                "c",
                JobType::VodHlsTranscoding,
                "V",
                0,
                json!({"separatedAudio": true}),
            ),
            job(
                "d",
                JobType::VodHlsTranscoding,
                "V",
                360,
                json!({"separatedAudio": true}),
            ),
            job(
                "e",
                JobType::VodWebVideoTranscoding,
                "V",
                480,
                json!({"fps": 60}),
            ),
        ];
        let (batches, skipped) = batches(&jobs, &ALL);
        let uuids: Vec<(bool, Vec<&str>)> = batches
            .iter()
            .map(|b| {
                (
                    b.with_audio,
                    b.jobs.iter().map(|j| j.uuid.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            uuids,
            vec![
                (false, vec!["a", "c", "d"]),
                (true, vec!["b"]),
                (true, vec!["e"])
            ]
        );
        assert!(skipped.is_empty(), "{skipped:?}");
        // The audio rendition alone first: the resolution jobs of its input join it.
        let (batches, _) = super::batches(&[jobs[2].clone(), jobs[1].clone()], &ALL);
        assert_eq!(batches.len(), 1);
        assert!(batches[0].with_audio);
        // Two separate audio files are not one source.
        let mut two = jobs[0].clone();
        two.payload["input"]["separatedAudioFileUrl"] = json!(["http://pt/a", "http://pt/b"]);
        let (batches, skipped) = super::batches(&[two], &ALL);
        assert!(batches.is_empty());
        assert!(
            skipped[0].reason.contains("2 separate audio files"),
            "{skipped:?}"
        );
        // Types not configured are left alone.
        let (batches, skipped) = super::batches(&jobs[..2], &[JobType::VodWebVideoTranscoding]);
        assert_eq!(batches.len(), 1);
        assert_eq!(skipped[0].uuid, "a");
    }
}
