//! Split audio (PeerTube's `transcoding.hls.split_audio_and_video`): the HLS audio rendition of
//! a video (`resolution: 0`, one AAC fragmented MP4 with its byte-range playlist), and one
//! source file made from a video-only file and its separate audio file, streams copied, so that
//! the decode-once pipeline reads one input.

use super::audio::AudioChain;
use super::pipeline::{
    libav, peak_bandwidth, rewrite_playlist, rung_files, PipelineError, RungOutput,
};
use super::write_check::WriteWatch;
use ffmpeg_next as ff;
use std::path::Path;

/// RFC 6381 codecs of the AAC-LC rendition.
pub const AAC_CODECS: &str = "mp4a.40.2";

/// Makes the audio-only rendition of `source` in `out_dir` (PeerTube's names for resolution 0:
/// `<prefix>-0-fragmented.mp4`, `<prefix>-0.m3u8`): its audio decoded, resampled to 48 kHz
/// stereo and encoded to AAC at `bitrate`, one fragmented MP4 cut into `segment_secs` segments.
/// `progress` gets the fraction done (by the source's timestamps).
pub fn audio_rendition(
    source: &Path,
    bitrate: u64,
    segment_secs: u32,
    out_dir: &Path,
    prefix: &str,
    progress: &dyn Fn(f64),
) -> Result<RungOutput, PipelineError> {
    let (file, playlist) = rung_files(prefix, 0);
    let (media_path, playlist_path) = (out_dir.join(file), out_dir.join(playlist));
    super::probe::init_libav();
    let mut input = super::source::open(source)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Audio)
        .ok_or_else(|| PipelineError::Output {
            resolution: 0,
            message: format!(
                "{}: no audio stream to make the audio rendition from",
                source.display()
            ),
        })?;
    let in_index = stream.index();
    let in_tb = stream.time_base();
    let duration = input.duration().max(0) as f64 / f64::from(ff::ffi::AV_TIME_BASE);
    let mut chain = AudioChain::new(&stream, bitrate)?;

    let mut output =
        ff::format::output_as(&playlist_path, "hls").map_err(libav("0p: create the playlist"))?;
    let writes = WriteWatch::attach(&mut output);
    let mut ost = output
        .add_stream(ff::encoder::find_by_name("aac"))
        .map_err(libav("0p: add audio stream"))?;
    ost.set_parameters(chain.params.clone());
    let mut opts = ff::Dictionary::new();
    opts.set("hls_time", &segment_secs.max(1).to_string());
    opts.set("hls_playlist_type", "vod");
    opts.set("hls_list_size", "0");
    opts.set("hls_segment_type", "fmp4");
    opts.set("hls_flags", "single_file");
    opts.set("hls_segment_filename", &media_path.to_string_lossy());
    output
        .write_header_with(opts)
        .map_err(libav("0p: write header"))?;
    let ost_tb = output
        .stream(0)
        .map(|s| s.time_base())
        .unwrap_or(chain.time_base);

    let chain_tb = chain.time_base;
    let write = |packets: Vec<ff::Packet>,
                 output: &mut ff::format::context::Output|
     -> Result<(), PipelineError> {
        for mut p in packets {
            p.set_stream(0);
            p.rescale_ts(chain_tb, ost_tb);
            p.write_interleaved(output)
                .map_err(libav("0p: write audio"))?;
        }
        Ok(())
    };
    let mut last_report = 0.0;
    for (stream, packet) in input.packets() {
        if stream.index() != in_index {
            continue;
        }
        let packets = chain.push(Some(&packet))?;
        write(packets, &mut output)?;
        if let (Some(pts), true) = (packet.pts(), duration > 0.0) {
            let done = pts as f64 * f64::from(in_tb) / duration;
            if done - last_report >= 0.01 {
                last_report = done;
                progress(done.clamp(0.0, 1.0));
            }
        }
    }
    let packets = chain.push(None)?;
    write(packets, &mut output)?;
    output.write_trailer().map_err(libav("0p: write trailer"))?;
    drop(output);
    writes.check().map_err(libav("0p: write the files"))?;
    let playlist = rewrite_playlist(&media_path, &playlist_path, 0)?;
    progress(1.0);
    Ok(RungOutput {
        resolution: 0,
        playlist: playlist_path,
        media_file: media_path,
        encoder: "aac".into(),
        scaler: "none".into(),
        fallback_reason: None,
        frames: 0,
        codecs: AAC_CODECS.into(),
        bandwidth: peak_bandwidth(&playlist).unwrap_or(bitrate),
    })
}

/// Writes `out` (Matroska) with the video stream of `video` and the audio stream of `audio`,
/// packets copied, interleaved by time so that neither file is held in memory.
pub fn join_separate_audio(video: &Path, audio: &Path, out: &Path) -> Result<(), PipelineError> {
    let step = |what: &str| format!("joining {} and its audio: {what}", video.display());
    super::probe::init_libav();
    let mut vin = super::source::open(video)?;
    let mut ain = super::source::open(audio)?;
    let vstream = vin
        .streams()
        .best(ff::media::Type::Video)
        .ok_or(PipelineError::NoVideo)?;
    let astream =
        ain.streams()
            .best(ff::media::Type::Audio)
            .ok_or_else(|| PipelineError::Output {
                resolution: 0,
                message: format!("{}: the separate audio file has no audio", audio.display()),
            })?;
    let (vindex, vtb, vpar) = (vstream.index(), vstream.time_base(), vstream.parameters());
    let (aindex, atb, apar) = (astream.index(), astream.time_base(), astream.parameters());

    let mut output =
        ff::format::output_as(&out, "matroska").map_err(libav(step("create the file")))?;
    let writes = WriteWatch::attach(&mut output);
    for par in [vpar, apar] {
        let mut ost = output
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(libav(step("add a stream")))?;
        ost.set_parameters(par);
        let mut par = ost.parameters();
        // SAFETY: `par` wraps the `codecpar` of a stream of the live output context, just
        // filled by `set_parameters`. The MP4 tag (`avc1`, `mp4a`) means nothing to Matroska,
        // which picks its own from the codec id when the tag is 0.
        unsafe {
            (*par.as_mut_ptr()).codec_tag = 0;
        }
    }
    output
        .write_header()
        .map_err(libav(step("write the header")))?;
    let otb = [
        output.stream(0).map(|s| s.time_base()).unwrap_or(vtb),
        output.stream(1).map(|s| s.time_base()).unwrap_or(atb),
    ];

    // The next packet of each input (video, audio), read ahead by one.
    let next = |input: &mut ff::format::context::Input,
                index: usize|
     -> Result<Option<ff::Packet>, PipelineError> {
        let mut p = ff::Packet::empty();
        loop {
            match p.read(input) {
                Ok(()) if p.stream() == index => return Ok(Some(p)),
                Ok(()) => continue,
                Err(ff::Error::Eof) => return Ok(None),
                Err(e) => return Err(libav(step("read a packet"))(e)),
            }
        }
    };
    let mut heads = [next(&mut vin, vindex)?, next(&mut ain, aindex)?];
    let tbs = [vtb, atb];
    let seconds =
        |p: &ff::Packet, tb: ff::Rational| p.dts().or(p.pts()).unwrap_or(0) as f64 * f64::from(tb);
    loop {
        let which = match (&heads[0], &heads[1]) {
            (None, None) => break,
            (Some(_), None) => 0,
            (None, Some(_)) => 1,
            (Some(v), Some(a)) => usize::from(seconds(a, atb) < seconds(v, vtb)),
        };
        let Some(mut p) = heads[which].take() else {
            break;
        };
        p.rescale_ts(tbs[which], otb[which]);
        p.set_position(-1);
        p.set_stream(which);
        p.write_interleaved(&mut output)
            .map_err(libav(step("write a packet")))?;
        heads[which] = if which == 0 {
            next(&mut vin, vindex)?
        } else {
            next(&mut ain, aindex)?
        };
    }
    output
        .write_trailer()
        .map_err(libav(step("write the trailer")))?;
    drop(output);
    writes.check().map_err(libav(step("write the file")))
}

#[cfg(test)]
mod tests {
    use super::super::testclip::{clip, generate};
    use super::*;

    fn ffprobe_streams(path: &Path) -> Vec<(String, String)> {
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,codec_name",
            ])
            .args(["-of", "csv=p=0"])
            .arg(path)
            .output()
            .expect("ffprobe");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (a, b) = l.split_once(',')?;
                Some((a.to_string(), b.to_string()))
            })
            .collect()
    }

    #[test]
    fn audio_rendition_is_aac_only_with_a_byte_range_playlist() {
        let dir = tempfile::tempdir().unwrap();
        let src = clip(dir.path(), "a.mp4", "320x240", 25, 5, Some((44_100, 1)));
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let seen = std::cell::Cell::new(0.0);
        let r = audio_rendition(&src, 128_000, 2, &out, "x", &|p| seen.set(p)).unwrap();
        assert_eq!(seen.get(), 1.0);
        assert_eq!(r.media_file, out.join("x-0-fragmented.mp4"));
        assert_eq!(r.codecs, AAC_CODECS);
        let streams = ffprobe_streams(&r.media_file);
        // codec_name comes first in ffprobe's csv of these entries.
        assert_eq!(streams, vec![("aac".to_string(), "audio".to_string())]);
        let text = std::fs::read_to_string(&r.playlist).unwrap();
        let list = super::super::hls::MediaPlaylist::parse(&text).unwrap();
        assert_eq!(list.file, "x-0-fragmented.mp4");
        assert!(list.segments.len() >= 2, "{text}");
        let total: f64 = list.segments.iter().map(|s| s.duration).sum();
        assert!((total - 5.0).abs() < 0.3, "{total}");
    }

    #[test]
    fn a_video_without_audio_has_no_audio_rendition() {
        let dir = tempfile::tempdir().unwrap();
        let src = clip(dir.path(), "v.mp4", "160x120", 25, 1, None);
        let err = audio_rendition(&src, 128_000, 2, dir.path(), "x", &|_| {}).unwrap_err();
        assert!(err.to_string().contains("no audio stream"), "{err}");
    }

    #[test]
    fn video_and_separate_audio_become_one_source() {
        let dir = tempfile::tempdir().unwrap();
        let video = clip(dir.path(), "v.mp4", "320x240", 25, 3, None);
        let audio = generate(
            dir.path(),
            "a.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000:duration=3",
                "-c:a",
                "aac",
                "-movflags",
                "+frag_keyframe+empty_moov",
            ],
        );
        let out = dir.path().join("joined.mkv");
        join_separate_audio(&video, &audio, &out).unwrap();
        let mut streams = ffprobe_streams(&out);
        streams.sort();
        assert_eq!(
            streams,
            vec![
                ("aac".to_string(), "audio".to_string()),
                ("h264".to_string(), "video".to_string())
            ]
        );
        // The joined file decodes as a source of the pipeline would be read.
        let info = super::super::probe::probe(&out).unwrap();
        assert!(info.audio.is_some() && info.video.is_some());
        assert!(
            (info.duration_secs - 3.0).abs() < 0.2,
            "{}",
            info.duration_secs
        );
        // An audio file without audio is named.
        let err = join_separate_audio(&video, &video, &out).unwrap_err();
        assert!(err.to_string().contains("has no audio"), "{err}");
    }
}
