//! `video-studio-transcoding` and `vod-audio-merge-transcoding` against the PeerTube-shaped
//! instance: the task files and the preview fetched by POST with both tokens from PeerTube's
//! URLs (`…/studio/task-files/<name>`, `…/previews/max-quality`), the edits applied in order
//! (cut, intro, watermark), and each result a faststart H.264 + AAC MP4 that ffprobe reads as
//! PeerTube's server would.

use super::*;

/// The RGB of pixel (x, y) of the frame at `at` seconds.
fn pixel(path: &str, at: f64, x: u32, y: u32, width: u32) -> [u8; 3] {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-ss"])
        .arg(at.to_string())
        .args([
            "-i",
            path,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let i = ((y * width + x) * 3) as usize;
    [out.stdout[i], out.stdout[i + 1], out.stdout[i + 2]]
}

fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn studio_edits_and_audio_merges_come_back_as_peertube_expects() {
    let dir = tempfile::tempdir().unwrap();
    let main = clip(dir.path());
    let intro = make(
        dir.path(),
        "intro.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:size=320x240:rate=30:duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let watermark = make(
        dir.path(),
        "watermark.png",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=red:size=64x64",
            "-frames:v",
            "1",
        ],
    );
    let audio = make(
        dir.path(),
        "audio.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:sample_rate=44100:duration=3",
            "-c:a",
            "aac",
        ],
    );
    let preview = make(
        dir.path(),
        "preview.jpg",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360",
            "-frames:v",
            "1",
        ],
    );
    let pt = Pt::start(main, dir.path().join("results"));
    let (studio_video, merge_video) = (
        "44444444-aaaa-4bbb-8ccc-000000000004",
        "55555555-aaaa-4bbb-8ccc-000000000005",
    );
    {
        let mut i = pt.inner.lock().unwrap();
        i.files.insert(
            format!("{studio_video}/studio/task-files/intro-1.mp4"),
            intro,
        );
        i.files.insert(
            format!("{studio_video}/studio/task-files/wm-1.png"),
            watermark,
        );
        i.files
            .insert(format!("{merge_video}/max-quality/audio"), audio);
        i.files
            .insert(format!("{merge_video}/previews/max-quality"), preview);
    }
    let state = dir.path().join("runner");
    register(&pt, &state, "studio-1", 2);
    let runner = Running::start(&state);
    eventually("the socket.io connection", &runner, 30, || {
        pt.inner.lock().unwrap().log.sockets > 0
    });

    let (studio, merge) = (
        "d0000000-0000-4000-8000-000000000001",
        "d0000000-0000-4000-8000-000000000002",
    );
    let files = |job: &str, video: &str| {
        format!("{}/api/v1/runners/jobs/{job}/files/videos/{video}", pt.url)
    };
    pt.add_job(
        studio,
        "video-studio-transcoding",
        json!({"input": {"videoFileUrl": pt.input_url(studio, studio_video), "separatedAudioFileUrl": []},
               "tasks": [
                   {"name": "cut", "options": {"start": 0.5, "end": 2.5}},
                   {"name": "add-intro", "options": {"file": format!("{}/studio/task-files/intro-1.mp4", files(studio, studio_video))}},
                   {"name": "add-watermark", "options": {"file": format!("{}/studio/task-files/wm-1.png", files(studio, studio_video)),
                       "watermarkSizeRatio": 0.1, "horitonzalMarginRatio": 0.05, "verticalMarginRatio": 0.05}}
               ],
               "output": {}}),
    );
    pt.add_job(
        merge,
        "vod-audio-merge-transcoding",
        json!({"input": {"audioFileUrl": format!("{}/max-quality/audio", files(merge, merge_video)),
                         "previewFileUrl": format!("{}/previews/max-quality", files(merge, merge_video))},
               "output": {"resolution": 240, "fps": 25}}),
    );
    eventually("both jobs completed", &runner, 120, || {
        [studio, merge].iter().all(|u| pt.job(u).state == 3)
    });
    let i = pt.inner.lock().unwrap();
    assert!(i.log.errors.is_empty(), "{:?}", i.log.errors);
    for uuid in [studio, merge] {
        assert!(
            i.log.updates.iter().any(|(u, p)| u == uuid && p.is_some()),
            "no progress for {uuid}"
        );
    }

    // Studio: 2 s kept + 1 s intro, at the main video's size, with the watermark top right.
    let file = file_field(&i.log.successes[studio], "payload[videoFile]");
    assert_eq!(file.content_type.as_deref(), Some("video/mp4"));
    let probe = ffprobe(&file.value);
    let streams = probe["streams"].as_array().unwrap();
    let v = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(
        (
            v["codec_name"].as_str(),
            v["width"].as_u64(),
            v["height"].as_u64()
        ),
        (Some("h264"), Some(640), Some(360))
    );
    assert!(streams
        .iter()
        .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"));
    let d = duration(&probe);
    assert!((d - 3.0).abs() < 0.25, "studio result lasts {d} s");
    let top = boxes(&file.value);
    let (moov, mdat) = (
        top.iter().position(|b| b == "moov").unwrap(),
        top.iter().position(|b| b == "mdat").unwrap(),
    );
    assert!(moov < mdat, "not faststart: {top:?}");
    // The watermark is 36 px high (0.1 × 360), 18 px from the top and the right (0.05 × 360).
    let inside = pixel(&file.value, 2.0, 640 - 18 - 10, 18 + 10, 640);
    assert!(
        inside[0] > 180 && inside[1] < 80 && inside[2] < 80,
        "{inside:?}"
    );
    // The intro (blue, letterboxed to 640x360) plays first, without the watermark's corner
    // being anything but the intro's.
    let intro_px = pixel(&file.value, 0.3, 320, 180, 640);
    assert!(intro_px[2] > 180 && intro_px[0] < 80, "{intro_px:?}");

    // Audio merge: the image for the whole audio, 240p at 25 fps.
    let file = file_field(&i.log.successes[merge], "payload[videoFile]");
    let probe = ffprobe(&file.value);
    let streams = probe["streams"].as_array().unwrap();
    let v = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(
        (v["codec_name"].as_str(), v["height"].as_u64()),
        (Some("h264"), Some(240))
    );
    assert_eq!(v["r_frame_rate"], "25/1");
    assert!(streams
        .iter()
        .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"));
    let d = duration(&probe);
    assert!((d - 3.0).abs() < 0.25, "merge lasts {d} s");

    // Every file was fetched by POST with the job's tokens, each once.
    let fetched: Vec<&str> = i.log.downloads.iter().map(|d| d.1.as_str()).collect();
    for want in [
        studio_video.to_string(),
        format!("{studio_video}/studio/task-files/intro-1.mp4"),
        format!("{studio_video}/studio/task-files/wm-1.png"),
        format!("{merge_video}/max-quality/audio"),
        format!("{merge_video}/previews/max-quality"),
    ] {
        assert_eq!(
            fetched.iter().filter(|f| **f == want).count(),
            1,
            "{want}: {fetched:?}"
        );
    }
}
