//! The audio merge: a still picture for the whole sound, at the asked size and rate.

use super::*;
use crate::transcode::edit::merge_audio_and_image;
use crate::transcode::testclip::generate;

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
