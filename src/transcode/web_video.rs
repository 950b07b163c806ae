//! Web videos from the ladder's own output (PeerTube's `transcoding.web_videos.enabled`): each
//! rung's single-file fragmented MP4 is remuxed, packets copied and never encoded again, into a
//! regular MP4 with its `moov` before its `mdat` (`movflags=+faststart`), as PeerTube's web
//! videos are. The rungs carry the shared AAC stream, so the web video has its audio muxed in.

use super::pipeline::{libav, PipelineError};
use super::write_check::WriteWatch;
use ffmpeg_next as ff;
use std::path::Path;

/// Copies the video and audio streams of the rung file `from` into the faststart MP4 `to`.
pub fn remux_faststart(from: &Path, to: &Path) -> Result<(), PipelineError> {
    let step = |what: &str| format!("web video {}: {what}", to.display());
    // Through the accepted-demuxer door: the rung may have come from a remote runner.
    let mut input = super::source::open(from).map_err(|source| PipelineError::Reopen {
        step: step("open the rung file"),
        source,
    })?;
    let mut output = ff::format::output_as(&to, "mp4").map_err(libav(step("create the MP4")))?;
    let writes = WriteWatch::attach(&mut output);
    // Input stream index → (output stream index, input time base).
    let mut map: Vec<Option<(usize, ff::Rational)>> = vec![None; input.nb_streams() as usize];
    for ist in input.streams() {
        let medium = ist.parameters().medium();
        if medium != ff::media::Type::Video && medium != ff::media::Type::Audio {
            continue;
        }
        let mut ost = output
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(libav(step("add a stream")))?;
        ost.set_parameters(ist.parameters());
        map[ist.index()] = Some((ost.index(), ist.time_base()));
    }
    let mut opts = ff::Dictionary::new();
    opts.set("movflags", "+faststart");
    output
        .write_header_with(opts)
        .map_err(libav(step("write the header")))?;
    let mut packet = ff::Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(libav(step("read a packet"))(e)),
        }
        let Some((index, in_tb)) = map.get(packet.stream()).copied().flatten() else {
            continue;
        };
        let out_tb = output.stream(index).map(|s| s.time_base()).unwrap_or(in_tb);
        packet.rescale_ts(in_tb, out_tb);
        packet.set_position(-1);
        packet.set_stream(index);
        packet
            .write_interleaved(&mut output)
            .map_err(libav(step("write a packet")))?;
    }
    output
        .write_trailer()
        .map_err(libav(step("write the trailer (faststart)")))?;
    drop(output);
    writes.check().map_err(libav(step("write the file")))
}

/// The four-character types of the top-level boxes of an MP4, in file order (for checks that
/// the `moov` comes first).
pub fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size32 = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        let size = match size32 {
            0 => (bytes.len() - at) as u64,
            1 if at + 16 <= bytes.len() => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[at + 8..at + 16]);
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        boxes.push(kind);
        if size < 8 {
            break;
        }
        at = match usize::try_from(size).ok().and_then(|s| at.checked_add(s)) {
            Some(next) => next,
            None => break,
        };
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::testclip::generate;

    #[test]
    fn a_fragmented_rung_becomes_a_faststart_mp4_with_its_audio() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        // A single-file fMP4 as the HLS muxer writes it, video and AAC audio.
        let seg = format!("{d}/r-240-fragmented.mp4");
        generate(
            dir.path(),
            "r-240.m3u8",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:duration=3",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000:duration=3",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "50",
                "-c:a",
                "aac",
                "-f",
                "hls",
                "-hls_time",
                "2",
                "-hls_playlist_type",
                "vod",
                "-hls_segment_type",
                "fmp4",
                "-hls_flags",
                "single_file",
                "-hls_segment_filename",
                &seg,
            ],
        );
        let out = dir.path().join("w-240.mp4");
        remux_faststart(Path::new(&seg), &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let boxes = top_level_boxes(&bytes);
        let moov = boxes.iter().position(|b| b == "moov").expect("a moov");
        let mdat = boxes.iter().position(|b| b == "mdat").expect("an mdat");
        assert!(moov < mdat, "{boxes:?}");
        assert!(
            !boxes.iter().any(|b| b == "moof"),
            "still fragmented: {boxes:?}"
        );
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .args(["stream=codec_type,nb_frames:format=format_name,duration"])
            .args(["-of", "json"])
            .arg(&out)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
        assert!(v["format"]["format_name"]
            .as_str()
            .unwrap()
            .starts_with("mov,mp4"));
        let kinds: Vec<&str> = v["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["codec_type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["video", "audio"], "{v}");
        assert_eq!(v["streams"][0]["nb_frames"], "75", "{v}");
        let secs: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!((secs - 3.0).abs() < 0.1, "{secs}");
    }

    #[test]
    fn a_broken_rung_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.mp4");
        std::fs::write(&bad, b"not an mp4 at all").unwrap();
        let e = remux_faststart(&bad, &dir.path().join("out.mp4")).unwrap_err();
        assert!(e.to_string().contains("open the rung file"), "{e}");
    }

    #[test]
    fn box_walk_stops_on_garbage() {
        assert_eq!(top_level_boxes(b""), Vec::<String>::new());
        let mut b = vec![0, 0, 0, 8];
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(&[0, 0, 0, 2]);
        b.extend_from_slice(b"moov");
        assert_eq!(top_level_boxes(&b), ["ftyp", "moov"]);
    }
}
