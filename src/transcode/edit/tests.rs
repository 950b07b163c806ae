//! What PeerTube's server would check of a studio edit or an audio merge: codecs, size,
//! duration and faststart as ffprobe reads them, the pixels of a watermark, and the errors of
//! bad inputs.

use super::*;
use crate::transcode::testclip::{clip, generate};
use crate::transcode::web_video::top_level_boxes;
use std::cell::RefCell;
use std::process::Command;

fn libx264() -> Vec<String> {
    vec!["libx264".into()]
}

fn no_progress(_: f64) {}

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
struct Probed {
    json: serde_json::Value,
}

impl Probed {
    fn of(path: &Path) -> Probed {
        Probed {
            json: ffprobe(path),
        }
    }

    fn stream(&self, kind: &str) -> Option<&serde_json::Value> {
        self.json["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == kind)
    }

    fn video(&self) -> &serde_json::Value {
        self.stream("video").expect("a video stream")
    }

    fn size(&self) -> (u64, u64) {
        let v = self.video();
        (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
    }

    fn duration(&self) -> f64 {
        self.json["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn stream_duration(&self, kind: &str) -> f64 {
        self.stream(kind).unwrap()["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn frames(&self) -> u64 {
        self.video()["nb_read_frames"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// What every output must be: MP4, H.264 High yuv420p, AAC 48 kHz stereo when it has sound,
/// `moov` before `mdat`.
fn assert_peertube_mp4(path: &Path, audio: bool) -> Probed {
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

fn assert_near(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got} (expected {want} ± {tolerance})"
    );
}

/// One frame of `path` at `secs` as RGB24 bytes (and its width).
fn rgb_frame(path: &Path, secs: f64) -> (Vec<u8>, usize) {
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

fn pixel(frame: &(Vec<u8>, usize), x: usize, y: usize) -> (u8, u8, u8) {
    let i = (y * frame.1 + x) * 3;
    (frame.0[i], frame.0[i + 1], frame.0[i + 2])
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

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
    // 2 s of intro brought to 25 fps, then the 4 s main.
    assert_eq!(p.frames(), 150);
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
}

/// A PNG of `size`, red, its left half transparent.
fn half_transparent_red(dir: &Path, size: &str) -> PathBuf {
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
fn an_audio_merge_shows_the_picture_for_the_whole_sound() {
    let dir = tempfile::tempdir().unwrap();
    let audio = generate(
        dir.path(),
        "sound.mp3",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=3",
        ],
    );
    let jpeg = generate(
        dir.path(),
        "picture.jpg",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480",
            "-frames:v",
            "1",
        ],
    );
    let out = dir.path().join("merged.mp4");
    let made =
        merge_audio_and_image(&audio, &jpeg, 240, 25, &out, &libx264(), &no_progress).unwrap();
    assert_eq!((made.width, made.height, made.fps), (320, 240, 25.0));
    let p = assert_peertube_mp4(&out, true);
    assert_eq!(p.size(), (320, 240));
    assert_near("duration", p.duration(), 3.0, 0.1);
    assert_near("video", p.stream_duration("video"), 3.0, 0.1);
    assert_near("frames", p.frames() as f64, 75.0, 1.0);

    // A portrait PNG: the shorter side is the resolution.
    let png = generate(
        dir.path(),
        "tall.png",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=240x320",
            "-frames:v",
            "1",
        ],
    );
    let made =
        merge_audio_and_image(&audio, &png, 120, 10, &out, &libx264(), &no_progress).unwrap();
    assert_eq!((made.width, made.height), (120, 160));
    let p = assert_peertube_mp4(&out, true);
    assert_eq!(p.size(), (120, 160));
    assert_near("duration", p.duration(), 3.0, 0.15);
}

#[test]
fn bad_edits_are_refused_with_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let main = clip(dir.path(), "main.mp4", "320x240", 25, 2, Some((48_000, 2)));
    let out = dir.path().join("out.mp4");
    let run = |edits: &[Edit]| {
        apply(
            &main,
            None,
            edits,
            dir.path(),
            &out,
            &libx264(),
            &no_progress,
        )
        .expect_err("refused")
    };
    let cut = |start, end| Edit::Cut { start, end };
    for edits in [
        [cut(Some(1.5), Some(1.0))],
        [cut(Some(1.0), Some(1.0))],
        [cut(Some(-1.0), None)],
        [cut(Some(f64::NAN), None)],
        [cut(None, Some(f64::INFINITY))],
    ] {
        let e = run(&edits);
        assert!(matches!(e, EditError::CutRange { .. }), "{edits:?}: {e}");
    }
    let e = run(&[cut(Some(5.0), Some(8.0))]);
    let message = e.to_string();
    assert!(
        matches!(e, EditError::CutRange { .. }) && message.contains("cut 5..8"),
        "{message}"
    );
    assert!(message.contains("lasts 2.0"), "{message}");

    let mark = half_transparent_red(dir.path(), "8x8");
    let watermark = |size_ratio, horizontal_margin_ratio| Edit::Watermark {
        image: mark.clone(),
        size_ratio,
        horizontal_margin_ratio,
        vertical_margin_ratio: 0.0,
    };
    for (size, margin) in [
        (0.0, 0.1),
        (1.5, 0.1),
        (f64::NAN, 0.1),
        (0.2, -0.1),
        (0.2, 2.0),
    ] {
        let e = run(&[watermark(size, margin)]);
        assert!(matches!(e, EditError::Ratio { .. }), "{size} {margin}: {e}");
    }

    // An intro without video.
    let sound = generate(
        dir.path(),
        "sound.m4a",
        &["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"],
    );
    let e = run(&[Edit::Intro(sound.clone())]);
    assert!(matches!(e, EditError::NoVideo { role: "intro", .. }), "{e}");
    // A corrupt input, a missing clip, an undecodable watermark.
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"this is not a video at all, just bytes").unwrap();
    let e = apply(&junk, None, &[], dir.path(), &out, &libx264(), &no_progress).unwrap_err();
    assert!(matches!(e, EditError::Open { .. }), "{e}");
    assert!(e.to_string().contains("junk.mp4"), "{e}");
    let e = run(&[Edit::Outro(dir.path().join("missing.mp4"))]);
    assert!(matches!(e, EditError::Open { role: "outro", .. }), "{e}");
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"\x89PNG\r\n\x1a\n but then nothing").unwrap();
    let e = run(&[Edit::Watermark {
        image: fake,
        size_ratio: 0.1,
        horizontal_margin_ratio: 0.0,
        vertical_margin_ratio: 0.0,
    }]);
    assert!(matches!(e, EditError::Image { .. }), "{e}");
    // A video is not an image.
    let e = run(&[Edit::Watermark {
        image: main.clone(),
        size_ratio: 0.1,
        horizontal_margin_ratio: 0.0,
        vertical_margin_ratio: 0.0,
    }]);
    assert!(matches!(e, EditError::Image { .. }), "{e}");
    // Separate audio without audio.
    let silent = clip(dir.path(), "silent.mp4", "64x48", 10, 1, None);
    let e = apply(
        &main,
        Some(&silent),
        &[],
        dir.path(),
        &out,
        &libx264(),
        &no_progress,
    )
    .unwrap_err();
    assert!(matches!(e, EditError::NoAudio { .. }), "{e}");

    // Merges: no audio stream, a bad picture, bad numbers.
    let jpeg = generate(
        dir.path(),
        "p.jpg",
        &["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1"],
    );
    let merge = |audio: &Path, image: &Path, res, fps| {
        merge_audio_and_image(audio, image, res, fps, &out, &libx264(), &no_progress)
            .expect_err("refused")
    };
    let e = merge(&silent, &jpeg, 240, 25);
    assert!(matches!(e, EditError::NoAudio { .. }), "{e}");
    let e = merge(&sound, &junk, 240, 25);
    assert!(matches!(e, EditError::Image { .. }), "{e}");
    let e = merge(&sound, &jpeg, 0, 25);
    assert!(
        matches!(
            e,
            EditError::BadValue {
                name: "resolution",
                ..
            }
        ),
        "{e}"
    );
    let e = merge(&sound, &jpeg, 240, 0);
    assert!(matches!(e, EditError::BadValue { name: "fps", .. }), "{e}");
}

#[test]
fn watermarks_are_placed_as_peertubes_filter_places_them() {
    let g = Geometry {
        width: 1280,
        height: 720,
        fps: 30,
    };
    let picture = ff::frame::Video::new(ff::format::Pixel::RGBA, 200, 100);
    // PeerTube's defaults: 1/10 of the height, margins of 1/20 of the height.
    let m = place_mark(picture, g, 0.1, 0.05, 0.05);
    assert_eq!((m.width, m.height), (144, 72));
    assert_eq!((m.x, m.y), (1280 - 144 - 36, 36));
}

#[test]
fn cut_ranges_are_checked_against_the_duration() {
    assert_eq!(check_cut(None, None, 10.0).unwrap(), (0.0, None));
    assert_eq!(
        check_cut(Some(2.0), Some(4.0), 10.0).unwrap(),
        (2.0, Some(4.0))
    );
    assert_eq!(check_cut(Some(2.0), Some(10.0), 10.0).unwrap(), (2.0, None));
    // An unknown duration checks only the range itself.
    assert_eq!(check_cut(Some(20.0), None, 0.0).unwrap(), (20.0, None));
    let e = check_cut(Some(12.0), None, 10.0).unwrap_err().to_string();
    assert_eq!(
        e,
        "cut 12..end: the start is at or after the end of the video (the video lasts 10.000 s)"
    );
    let e = check_cut(None, Some(0.0), 10.0).unwrap_err().to_string();
    assert!(e.starts_with("cut beginning..0: the range is empty"), "{e}");
}

#[test]
fn edits_read_and_write_as_json() {
    let edits = vec![
        Edit::Cut {
            start: Some(1.5),
            end: None,
        },
        Edit::Intro(PathBuf::from("/tmp/intro.mp4")),
        Edit::Watermark {
            image: PathBuf::from("/tmp/w.png"),
            size_ratio: 0.1,
            horizontal_margin_ratio: 0.05,
            vertical_margin_ratio: 0.05,
        },
    ];
    let json = serde_json::to_string(&edits).unwrap();
    let back: Vec<Edit> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, edits);
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
