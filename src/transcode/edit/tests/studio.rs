//! Studio edits: cuts, intros and outros, watermarks, their folding into passes, and inputs
//! that are not plain (offset timestamps, B-frames, rotation, odd sizes, separate audio).

use super::*;
use crate::transcode::edit::*;
use crate::transcode::testclip::{clip, generate};
use std::cell::RefCell;

#[test]
fn a_cut_keeps_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "src.mp4", "320x240", 25, 4, Some((44_100, 1)));
    let out = dir.path().join("cut.mp4");
    let calls = RefCell::new(Vec::new());
    let record = |f: f64| calls.borrow_mut().push(f);
    let edits = [Edit::Cut {
        start: Some(1.0),
        end: Some(3.0),
    }];
    let made = apply(&src, None, &edits, dir.path(), &out, &libx264(), &record).unwrap();
    assert_eq!((made.width, made.height, made.fps), (320, 240, 25.0));
    assert_eq!((made.encoder.as_str(), made.has_audio), ("libx264", true));
    assert_eq!(made.passes, 1);
    assert_near("reported duration", made.duration_secs, 2.0, 0.1);
    let p = assert_peertube_mp4(&out, true);
    assert_eq!(p.size(), (320, 240));
    assert_near("duration", p.duration(), 2.0, 0.1);
    assert_near("audio", p.stream_duration("audio"), 2.0, 0.1);
    assert_eq!(p.frames(), 50);
    // The first frame is the source's at 1 s, not its first.
    let first = rgb_frame(&out, 0.0).0;
    let at_one = rgb_frame(&src, 1.0).0;
    let at_zero = rgb_frame(&src, 0.0).0;
    let (near, far) = (
        mean_abs_diff(&first, &at_one),
        mean_abs_diff(&first, &at_zero),
    );
    assert!(near < far / 2.0, "diff to 1 s {near}, to 0 s {far}");
    // Progress: from 0, never backwards, ends at 1.
    let calls = calls.into_inner();
    assert_eq!(calls.first(), Some(&0.0));
    assert_eq!(calls.last(), Some(&1.0));
    assert!(calls.windows(2).all(|w| w[0] <= w[1]), "{calls:?}");
    assert!(calls.len() > 3, "{calls:?}");
}

#[test]
fn cuts_open_at_either_end_and_fold_together() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "src.mp4", "320x240", 25, 4, Some((48_000, 2)));
    for (edits, want) in [
        (
            vec![Edit::Cut {
                start: None,
                end: Some(1.5),
            }],
            1.5,
        ),
        (
            vec![Edit::Cut {
                start: Some(2.5),
                end: None,
            }],
            1.5,
        ),
        // The second cut counts in the first's output: 0.5..3.5, then 1..2 of that.
        (
            vec![
                Edit::Cut {
                    start: Some(0.5),
                    end: Some(3.5),
                },
                Edit::Cut {
                    start: Some(1.0),
                    end: Some(2.0),
                },
            ],
            1.0,
        ),
        // An end past the video is its end.
        (
            vec![Edit::Cut {
                start: Some(3.0),
                end: Some(60.0),
            }],
            1.0,
        ),
    ] {
        let out = dir.path().join("out.mp4");
        let made = apply(
            &src,
            None,
            &edits,
            dir.path(),
            &out,
            &libx264(),
            &no_progress,
        )
        .unwrap_or_else(|e| panic!("{edits:?}: {e}"));
        assert_eq!(made.passes, 1, "{edits:?}");
        let p = assert_peertube_mp4(&out, true);
        assert_near(&format!("{edits:?}"), p.duration(), want, 0.1);
    }
}

#[test]
fn an_intro_of_another_shape_without_sound_is_fitted_and_given_silence() {
    let dir = tempfile::tempdir().unwrap();
    let main = clip(dir.path(), "main.mp4", "320x240", 25, 4, Some((48_000, 2)));
    let intro = clip(dir.path(), "intro.mp4", "160x160", 15, 2, None);
    let out = dir.path().join("out.mp4");
    let made = apply(
        &main,
        None,
        &[Edit::Intro(intro)],
        dir.path(),
        &out,
        &libx264(),
        &no_progress,
    )
    .unwrap();
    assert!(made.has_audio);
    let p = assert_peertube_mp4(&out, true);
    assert_eq!(p.size(), (320, 240));
    assert_near("duration", p.duration(), 6.0, 0.1);
    assert_near("audio", p.stream_duration("audio"), 6.0, 0.1);
    assert_eq!(p.video()["r_frame_rate"], "25/1");
    // 2 s of intro brought to 25 fps, then the 4 s main, its sound from 2 s on.
    assert_eq!(p.frames(), 150);
    let sound = silence_end(&out).expect("silence, then the main's tone");
    assert_near("the main's sound starts", sound, 2.0, 0.05);
    // The square intro is scaled to 240x240 and padded with black at the sides.
    let first = rgb_frame(&out, 0.0);
    let (r, g, b) = pixel(&first, 10, 120);
    assert!(r < 30 && g < 30 && b < 30, "left pad is black: {r},{g},{b}");
    let middle = pixel(&first, 160, 120);
    assert_ne!(middle, (r, g, b), "the intro's picture in the middle");
}

#[test]
fn an_outro_with_sound_after_a_silent_video_keeps_its_sound() {
    let dir = tempfile::tempdir().unwrap();
    let main = clip(dir.path(), "main.mp4", "320x240", 25, 3, None);
    let outro = clip(dir.path(), "outro.mkv", "640x360", 30, 2, Some((44_100, 1)));
    let out = dir.path().join("out.mp4");
    let made = apply(
        &main,
        None,
        &[Edit::Outro(outro)],
        dir.path(),
        &out,
        &libx264(),
        &no_progress,
    )
    .unwrap();
    assert!(made.has_audio);
    let p = assert_peertube_mp4(&out, true);
    assert_eq!(p.size(), (320, 240));
    assert_near("duration", p.duration(), 5.0, 0.1);
    assert_near("audio", p.stream_duration("audio"), 5.0, 0.1);
    let sound = silence_end(&out).expect("silence, then the outro's tone");
    assert_near("the outro's sound starts", sound, 3.0, 0.05);
}

#[test]
fn a_watermark_sits_top_right_with_its_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let main = generate(
        dir.path(),
        "blue.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:size=320x240:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let mark = half_transparent_red(dir.path(), "40x40");
    let out = dir.path().join("out.mp4");
    let edits = [Edit::Watermark {
        image: mark,
        size_ratio: 0.25,
        horizontal_margin_ratio: 0.05,
        vertical_margin_ratio: 0.05,
    }];
    let made = apply(
        &main,
        None,
        &edits,
        dir.path(),
        &out,
        &libx264(),
        &no_progress,
    )
    .unwrap();
    assert!(!made.has_audio);
    let p = assert_peertube_mp4(&out, false);
    assert_near("duration", p.duration(), 2.0, 0.1);
    // 60x60 (a quarter of the height), x = 320 - 60 - 240 × 0.05 = 248, y = 12.
    for secs in [0.0, 1.5] {
        let f = rgb_frame(&out, secs);
        let red = |(r, g, b): (u8, u8, u8)| r > 180 && g < 80 && b < 80;
        let blue = |(r, g, b): (u8, u8, u8)| b > 180 && r < 80 && g < 80;
        assert!(
            red(pixel(&f, 248 + 45, 12 + 30)),
            "{:?}",
            pixel(&f, 293, 42)
        );
        // The transparent half shows the video.
        assert!(
            blue(pixel(&f, 248 + 15, 12 + 30)),
            "{:?}",
            pixel(&f, 263, 42)
        );
        // Outside the watermark: the video.
        for (x, y) in [(20, 20), (20, 220), (300, 220), (300, 4), (240, 40)] {
            assert!(blue(pixel(&f, x, y)), "({x},{y}) {:?}", pixel(&f, x, y));
        }
    }
}

#[test]
fn edits_apply_in_order_in_as_few_passes_as_they_allow() {
    let dir = tempfile::tempdir().unwrap();
    let main = clip(dir.path(), "main.mp4", "320x240", 25, 4, Some((48_000, 2)));
    let intro = clip(dir.path(), "intro.mp4", "320x240", 25, 2, Some((48_000, 2)));
    let mark = half_transparent_red(dir.path(), "32x32");
    let work = dir.path().join("work");
    let out = dir.path().join("out.mp4");
    // Intro (2 s) + main (4 s), then cut 1..5 of that: 4 s, in two passes.
    let edits = [
        Edit::Intro(intro.clone()),
        Edit::Cut {
            start: Some(1.0),
            end: Some(5.0),
        },
        Edit::Watermark {
            image: mark.clone(),
            size_ratio: 0.1,
            horizontal_margin_ratio: 0.0,
            vertical_margin_ratio: 0.0,
        },
    ];
    let made = apply(&main, None, &edits, &work, &out, &libx264(), &no_progress).unwrap();
    assert_eq!(made.passes, 2);
    let p = assert_peertube_mp4(&out, true);
    assert_near("duration", p.duration(), 4.0, 0.15);
    let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(left.is_empty(), "intermediates removed: {left:?}");

    // Cut, watermark, intro, outro: one pass.
    let edits = [
        Edit::Cut {
            start: Some(1.0),
            end: Some(3.0),
        },
        Edit::Watermark {
            image: mark,
            size_ratio: 0.1,
            horizontal_margin_ratio: 0.0,
            vertical_margin_ratio: 0.0,
        },
        Edit::Intro(intro.clone()),
        Edit::Outro(intro),
    ];
    let made = apply(&main, None, &edits, &work, &out, &libx264(), &no_progress).unwrap();
    assert_eq!(made.passes, 1);
    let p = assert_peertube_mp4(&out, true);
    assert_near("duration", p.duration(), 6.0, 0.15);
}

#[test]
fn separate_audio_replaces_the_videos() {
    let dir = tempfile::tempdir().unwrap();
    let main = clip(dir.path(), "main.mp4", "320x240", 25, 3, None);
    let audio = generate(
        dir.path(),
        "audio.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=3",
            "-c:a",
            "aac",
        ],
    );
    let out = dir.path().join("out.mp4");
    let made = apply(
        &main,
        Some(&audio),
        &[],
        dir.path(),
        &out,
        &libx264(),
        &no_progress,
    )
    .unwrap();
    assert!(made.has_audio);
    let p = assert_peertube_mp4(&out, true);
    assert_near("duration", p.duration(), 3.0, 0.1);
    assert_near("audio", p.stream_duration("audio"), 3.0, 0.1);
}

#[test]
fn an_unusable_encoder_falls_back_to_libx264() {
    let dir = tempfile::tempdir().unwrap();
    let main = clip(dir.path(), "main.mp4", "320x240", 25, 1, None);
    let out = dir.path().join("out.mp4");
    let chain = vec!["h264_nvenc_missing".to_string(), "h264_vaapi".to_string()];
    let made = apply(&main, None, &[], dir.path(), &out, &chain, &no_progress).unwrap();
    assert_eq!(made.encoder, "libx264");
    assert_peertube_mp4(&out, false);
}

#[test]
fn offset_timestamps_b_frames_rotation_and_odd_sizes_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = clip(d, "base.mp4", "320x240", 25, 4, Some((48_000, 2)));
    // MPEG-TS starts its clock at 1.4 s; B-frames reorder the frames.
    let ts = generate(
        d,
        "src.ts",
        &[
            "-i",
            base.to_str().unwrap(),
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-bf",
            "3",
            "-c:a",
            "aac",
        ],
    );
    let out = d.join("cut.mp4");
    let edits = [Edit::Cut {
        start: Some(1.0),
        end: Some(3.0),
    }];
    apply(&ts, None, &edits, d, &out, &libx264(), &no_progress).unwrap();
    let p = assert_peertube_mp4(&out, true);
    assert_near("duration", p.duration(), 2.0, 0.1);
    assert_eq!(p.frames(), 50);
    let first = rgb_frame(&out, 0.0).0;
    let (near, far) = (
        mean_abs_diff(&first, &rgb_frame(&base, 1.0).0),
        mean_abs_diff(&first, &rgb_frame(&base, 0.0).0),
    );
    assert!(near < far / 2.0, "diff to 1 s {near}, to 0 s {far}");

    // An MP4 with keyframes every second and B-frames: the cut seeks to the keyframe before
    // its start and still starts on the right frame.
    let gops = generate(
        d,
        "gops.mp4",
        &[
            "-i",
            base.to_str().unwrap(),
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-bf",
            "3",
            "-c:a",
            "copy",
        ],
    );
    let edits = [Edit::Cut {
        start: Some(2.5),
        end: None,
    }];
    apply(&gops, None, &edits, d, &out, &libx264(), &no_progress).unwrap();
    let p = assert_peertube_mp4(&out, true);
    assert_near("duration", p.duration(), 1.5, 0.1);
    assert_near("audio", p.stream_duration("audio"), 1.5, 0.1);
    let first = rgb_frame(&out, 0.0).0;
    let (near, far) = (
        mean_abs_diff(&first, &rgb_frame(&base, 2.5).0),
        mean_abs_diff(&first, &rgb_frame(&base, 2.0).0),
    );
    assert!(near < far / 2.0, "diff to 2.5 s {near}, to 2 s {far}");

    // The same cut of a fragmented MP4, as an HLS-only PeerTube video gives (its index grows
    // as fragments are read).
    let fragmented = d.join("hls-fragmented.mp4");
    generate(
        d,
        "hls.m3u8",
        &[
            "-i",
            base.to_str().unwrap(),
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_type",
            "fmp4",
            "-hls_flags",
            "single_file",
            "-hls_segment_filename",
            fragmented.to_str().unwrap(),
        ],
    );
    apply(&fragmented, None, &edits, d, &out, &libx264(), &no_progress).unwrap();
    let p = assert_peertube_mp4(&out, true);
    assert_near("duration", p.duration(), 1.5, 0.1);
    let first = rgb_frame(&out, 0.0).0;
    let (near, far) = (
        mean_abs_diff(&first, &rgb_frame(&base, 2.5).0),
        mean_abs_diff(&first, &rgb_frame(&base, 2.0).0),
    );
    assert!(near < far / 2.0, "diff to 2.5 s {near}, to 2 s {far}");

    // Recorded sideways: shown (and so edited) upright, as the ffmpeg CLI autorotates.
    let sideways = generate(
        d,
        "sideways.mp4",
        &[
            "-i",
            base.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    let made = apply(&sideways, None, &[], d, &out, &libx264(), &no_progress).unwrap();
    assert_eq!((made.width, made.height), (240, 320));
    let p = assert_peertube_mp4(&out, true);
    assert_eq!(p.size(), (240, 320));
    assert!(
        p.video()["side_data_list"].is_null(),
        "no rotation left: {}",
        p.video()
    );

    // Odd sizes become even.
    let odd = clip(d, "odd.mkv", "321x241", 25, 1, None);
    let made = apply(&odd, None, &[], d, &out, &libx264(), &no_progress).unwrap();
    assert_eq!((made.width, made.height), (320, 240));
    assert_eq!(assert_peertube_mp4(&out, false).size(), (320, 240));
}
