//! Bad edits and bad files: each refused with an error that names what was wrong.

use super::*;
use crate::transcode::edit::encode::Geometry;
use crate::transcode::edit::plan::{check_cut, place_mark};
use crate::transcode::edit::*;
use crate::transcode::testclip::{clip, generate};
use ffmpeg_next as ff;

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

    // An output name libav cannot take is refused, not a panic.
    let odd = dir
        .path()
        .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"out\xff.mp4"));
    let e = apply(&main, None, &[], dir.path(), &odd, &libx264(), &no_progress).unwrap_err();
    assert!(
        matches!(
            e,
            EditError::BadValue {
                name: "output path",
                ..
            }
        ),
        "{e}"
    );

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
