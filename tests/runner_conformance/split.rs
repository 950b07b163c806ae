//! A split-audio instance (PeerTube's `transcoding.hls.split_audio_and_video`): the source is a
//! video-only file plus `separatedAudioFileUrl`, the HLS renditions are video-only
//! (`separatedAudio`) and the audio is its own rendition (`resolution: 0`); and PeerTube
//! develop's `*CustomUpload` targets, which receive their file instead of `success`.

use super::*;

fn streams(path: &str) -> Vec<(String, String)> {
    let probe = ffprobe(path);
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or_default().to_string(),
                s["codec_name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn split_audio_sources_renditions_and_custom_uploads() {
    let dir = tempfile::tempdir().unwrap();
    // PeerTube's max quality of a split-audio video: a video-only fragmented MP4, and the audio
    // rendition's file apart.
    let video_only = make(
        dir.path(),
        "video.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
        ],
    );
    let audio_only = make(
        dir.path(),
        "audio.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=3",
            "-c:a",
            "aac",
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
        ],
    );
    let pt = Pt::start(video_only, dir.path().join("results"));
    let video = "22222222-aaaa-4bbb-8ccc-000000000002";
    pt.inner
        .lock()
        .unwrap()
        .files
        .insert(format!("{video}/max-quality/audio"), audio_only);
    let state = dir.path().join("runner");
    register(&pt, &state, "split-1", 5);
    let runner = Running::start(&state);
    eventually("the socket.io connection", &runner, 30, || {
        pt.inner.lock().unwrap().log.sockets > 0
    });

    let payload = |job: &str, res: u32, separated: bool, extra: Value| {
        let mut output = json!({"resolution": res, "fps": 25, "separatedAudio": separated});
        for (k, v) in extra.as_object().unwrap() {
            output[k] = v.clone();
        }
        let url = pt.input_url(job, video);
        json!({"input": {"videoFileUrl": url, "separatedAudioFileUrl": [format!("{url}/audio")]},
               "output": output})
    };
    let (hls360, hls240, audio, web) = (
        "b0000000-0000-4000-8000-000000000001",
        "b0000000-0000-4000-8000-000000000002",
        "b0000000-0000-4000-8000-000000000003",
        "b0000000-0000-4000-8000-000000000004",
    );
    let put_target = format!("{}/custom-upload/hls-240.mp4", pt.url);
    let post_target = format!("{}/custom-upload/web-240.mp4", pt.url);
    pt.add_jobs(vec![
        (
            hls360.into(),
            "vod-hls-transcoding",
            payload(hls360, 360, true, json!({})),
        ),
        (
            hls240.into(),
            "vod-hls-transcoding",
            payload(
                hls240,
                240,
                true,
                json!({"videoFileCustomUpload": {"url": put_target}}),
            ),
        ),
        (
            audio.into(),
            "vod-hls-transcoding",
            payload(audio, 0, true, json!({})),
        ),
    ]);
    pt.add_job(
        web,
        "vod-web-video-transcoding",
        payload(
            web,
            240,
            false,
            json!({"videoFileCustomUpload": {"url": post_target, "method": "POST"}}),
        ),
    );
    let all = [hls360, hls240, audio, web];
    eventually("every job completed", &runner, 90, || {
        all.iter().all(|u| pt.job(u).state == 3)
    });
    let i = pt.inner.lock().unwrap();
    assert!(i.log.errors.is_empty(), "{:?}", i.log.errors);

    // The video-only renditions carry no audio; the audio rendition nothing else.
    for (uuid, res) in [(hls360, 360), (hls240, 240)] {
        let path = match i.custom_uploads.iter().find(|c| c.1 == "hls-240.mp4") {
            Some(c) if uuid == hls240 => c.2.display().to_string(),
            _ => file_field(&i.log.successes[uuid], "payload[videoFile]")
                .value
                .clone(),
        };
        assert_eq!(streams(&path), [("video".into(), "h264".into())], "{uuid}");
        assert_eq!(ffprobe(&path)["streams"][0]["height"], res);
    }
    let fields = &i.log.successes[audio];
    let file = file_field(fields, "payload[videoFile]");
    assert_eq!(streams(&file.value), [("audio".into(), "aac".into())]);
    assert!(boxes(&file.value).contains(&"moof".to_string()));
    let m3u8 =
        std::fs::read_to_string(&file_field(fields, "payload[resolutionPlaylistFile]").value)
            .unwrap();
    assert!(m3u8.contains("#EXT-X-BYTERANGE:"), "{m3u8}");
    let duration: f64 = m3u8
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse::<f64>().unwrap())
        .sum();
    assert!((duration - 3.0).abs() < 0.3, "{m3u8}");

    // Custom uploads: each target got its file with its method, and `success` left it out.
    let methods: Vec<(&str, &str)> = i
        .custom_uploads
        .iter()
        .map(|(m, n, _)| (m.as_str(), n.as_str()))
        .collect();
    assert!(methods.contains(&("PUT", "hls-240.mp4")), "{methods:?}");
    assert!(methods.contains(&("POST", "web-240.mp4")), "{methods:?}");
    let hls240_files: Vec<&str> = i.log.successes[hls240]
        .iter()
        .filter(|f| f.file_name.is_some())
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(hls240_files, ["payload[resolutionPlaylistFile]"]);
    assert!(i.log.successes[web].iter().all(|f| f.file_name.is_none()));
    // The web video has the separate audio muxed back in, and is faststart.
    let web_file = i
        .custom_uploads
        .iter()
        .find(|c| c.1 == "web-240.mp4")
        .unwrap();
    let web_path = web_file.2.display().to_string();
    let mut got = streams(&web_path);
    got.sort();
    assert_eq!(
        got,
        [
            ("audio".into(), "aac".into()),
            ("video".into(), "h264".into())
        ]
    );
    let top = boxes(&web_path);
    let (moov, mdat) = (
        top.iter().position(|b| b == "moov").unwrap(),
        top.iter().position(|b| b == "mdat").unwrap(),
    );
    assert!(moov < mdat, "{top:?}");

    // The three split-audio jobs were one batch: the video and its audio fetched once for them.
    let fetched: Vec<&str> = i
        .log
        .downloads
        .iter()
        .filter(|d| [hls360, hls240, audio].contains(&d.0.as_str()))
        .map(|d| d.1.as_str())
        .collect();
    assert_eq!(fetched.len(), 2, "{:?}", i.log.downloads);
    assert!(fetched.contains(&video), "{fetched:?}");
    assert!(fetched.contains(&format!("{video}/max-quality/audio").as_str()));
}
