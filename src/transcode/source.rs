//! Opening an uploaded source for libavformat: the one door through which the prober (at upload
//! and in the worker) and the pipeline read a file.
//!
//! An upload is hostile input. Left to itself, libavformat picks the demuxer from the bytes, and
//! some demuxers read *other* files: an HLS playlist or a concat list names paths anywhere on the
//! host (other users' sources, private renditions), `image2` expands patterns, and protocols
//! such as `subfile` or `data` reinterpret the name. So a source is opened with:
//! - an allowlist of plain container formats ([`ACCEPTED_FORMATS`]), checked against the probed
//!   demuxer before its header is read, then forced so nothing is probed again, and handed to
//!   libavformat as `format_whitelist` as well;
//! - the `file` protocol only (`protocol_whitelist=file`, and the name is a `file:` URL);
//! - no nested opens: the context's `io_open` opens the source itself once and refuses any other
//!   file a demuxer asks for.

use ffmpeg_next as ff;
use ffmpeg_next::ffi;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

/// Demuxers a source may be read with (libavformat names; a demuxer whose name lists several,
/// such as `mov,mp4,m4a,3gp,3g2,mj2` or `matroska,webm`, is accepted when one of them is here).
/// None of them opens other files (`mov` could with `enable_drefs`, which stays off).
pub const ACCEPTED_FORMATS: [&str; 17] = [
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "mpegts",
    "avi",
    "flv",
    "ogg",
    "asf",
    "mpeg",
    "mxf",
    "nut",
    "mpegvideo",
];

/// Demuxers a still image (a studio watermark, an audio merge's picture) may be read with: one
/// picture each, and none opens another file (`image2` could expand a pattern, but the context's
/// `io_open` opens only the file itself).
pub const ACCEPTED_IMAGE_FORMATS: [&str; 4] = ["png_pipe", "jpeg_pipe", "webp_pipe", "image2"];

/// Audio-only demuxers an audio file (an audio upload to merge with a picture, a video's separate
/// audio) may be read with, besides [`ACCEPTED_FORMATS`]. None opens another file.
pub const ACCEPTED_AUDIO_ONLY_FORMATS: [&str; 8] =
    ["mp3", "wav", "flac", "aac", "ac3", "eac3", "aiff", "w64"];

/// Why a source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is a format that is not accepted (a playlist, a list of files, an image, …).
    #[error("{format} is not an accepted container; accepted: {}", ACCEPTED_FORMATS.join(", "))]
    Refused {
        /// The demuxer libavformat detected.
        format: String,
    },
    /// The file is not in a format accepted for what it is used as (an image, an audio file).
    #[error("{format} is not an accepted {what} format; accepted: {accepted}")]
    RefusedAs {
        /// The demuxer libavformat detected.
        format: String,
        /// What the file is used as (`image`, `audio`).
        what: &'static str,
        /// The demuxers accepted for it.
        accepted: String,
    },
    /// libavformat could not open or parse it.
    #[error("{path}: not a readable media file ({message})")]
    Unreadable {
        /// The file.
        path: String,
        /// libav's message.
        message: String,
    },
}

/// Opens `path` with an accepted demuxer, reads its stream information, and returns it.
pub fn open(path: &Path) -> Result<ff::format::context::Input, OpenError> {
    open_allowing(path, &ACCEPTED_FORMATS)
}

/// Opens the still image `path` (PNG, JPEG, WebP) with an accepted image demuxer.
pub fn open_image(path: &Path) -> Result<ff::format::context::Input, OpenError> {
    open_as_kind(path, &ACCEPTED_IMAGE_FORMATS, "image")
}

/// Opens the audio file `path` with an accepted demuxer: a plain container, or an audio-only
/// one (MP3, WAV, FLAC, raw AAC, …).
pub fn open_audio(path: &Path) -> Result<ff::format::context::Input, OpenError> {
    let mut accepted: Vec<&str> = ACCEPTED_FORMATS.to_vec();
    accepted.extend_from_slice(&ACCEPTED_AUDIO_ONLY_FORMATS);
    open_as_kind(path, &accepted, "audio")
}

/// [`open_allowing`], its refusal naming `what` the file is used as and the list it missed.
fn open_as_kind(
    path: &Path,
    accepted: &[&str],
    what: &'static str,
) -> Result<ff::format::context::Input, OpenError> {
    open_allowing(path, accepted).map_err(|e| match e {
        OpenError::Refused { format } => OpenError::RefusedAs {
            format,
            what,
            accepted: accepted.join(", "),
        },
        other => other,
    })
}

/// Whether the demuxer `name` (possibly `a,b,c`) is one of `accepted`.
fn is_accepted(name: &str, accepted: &[&str]) -> bool {
    name.split(',').any(|part| accepted.contains(&part))
}

fn open_allowing(path: &Path, accepted: &[&str]) -> Result<ff::format::context::Input, OpenError> {
    super::probe::init_libav();
    let shown = path.display().to_string();
    let unreadable = |message: String| OpenError::Unreadable {
        path: shown.clone(),
        message,
    };
    // `file:` keeps a name like `data:…` or `subfile,…` from selecting another protocol.
    let mut url = b"file:".to_vec();
    url.extend_from_slice(path.as_os_str().as_bytes());
    let url = CString::new(url).map_err(|_| unreadable("the path holds a NUL byte".into()))?;
    let format = detect(&url).map_err(|e| unreadable(e.to_string()))?;
    // SAFETY: `format` is one of libavformat's static demuxer descriptions; `name` is a
    // NUL-terminated static string.
    let name = unsafe { CStr::from_ptr((*format).name) }
        .to_string_lossy()
        .into_owned();
    if !is_accepted(&name, accepted) {
        tracing::warn!(path = %shown, format = %name, "refused a source in a format that is not accepted");
        return Err(OpenError::Refused { format: name });
    }
    let input = open_as(&url, format, accepted).map_err(|e| unreadable(e.to_string()))?;
    let opened = input.format().name().to_string();
    if !is_accepted(&opened, accepted) {
        return Err(OpenError::Refused { format: opened });
    }
    Ok(input)
}

/// The demuxer libavformat would pick for `url`, from its first bytes (nothing else is read).
fn detect(url: &CStr) -> Result<*const ffi::AVInputFormat, ff::Error> {
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", "file");
    let mut pb: *mut ffi::AVIOContext = ptr::null_mut();
    // SAFETY: `url` is NUL-terminated; `pb`, `options` and `format` are valid out-pointers; the
    // options dictionary is taken back (and freed) and the I/O context closed before returning.
    unsafe {
        let mut options = options.disown();
        let opened = ffi::avio_open2(
            &mut pb,
            url.as_ptr(),
            ffi::AVIO_FLAG_READ as libc::c_int,
            ptr::null(),
            &mut options,
        );
        drop(ff::Dictionary::own(options));
        if opened < 0 {
            return Err(ff::Error::from(opened));
        }
        let mut format: *const ffi::AVInputFormat = ptr::null();
        let score =
            ffi::av_probe_input_buffer2(pb, &mut format, url.as_ptr(), ptr::null_mut(), 0, 0);
        ffi::avio_closep(&mut pb);
        if score < 0 {
            return Err(ff::Error::from(score));
        }
        if format.is_null() {
            return Err(ff::Error::InvalidData);
        }
        Ok(format)
    }
}

/// Opens `url` with the demuxer `format` (no probing), the whitelists set, nested opens refused.
fn open_as(
    url: &CStr,
    format: *const ffi::AVInputFormat,
    accepted: &[&str],
) -> Result<ff::format::context::Input, ff::Error> {
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", "file");
    options.set("format_whitelist", &accepted.join(","));
    // SAFETY: the context is allocated here and either handed to `Input` (which closes it) or
    // freed by libavformat (`avformat_open_input` frees it on failure) or here; `format` comes
    // from `detect`; the options dictionary is taken back and freed.
    unsafe {
        let mut ctx = ffi::avformat_alloc_context();
        if ctx.is_null() {
            return Err(ff::Error::Other {
                errno: libc::ENOMEM,
            });
        }
        (*ctx).io_open = Some(open_only_the_source);
        let mut options = options.disown();
        let opened = ffi::avformat_open_input(&mut ctx, url.as_ptr(), format, &mut options);
        drop(ff::Dictionary::own(options));
        if opened < 0 {
            return Err(ff::Error::from(opened));
        }
        let found = ffi::avformat_find_stream_info(ctx, ptr::null_mut());
        if found < 0 {
            ffi::avformat_close_input(&mut ctx);
            return Err(ff::Error::from(found));
        }
        Ok(ff::format::context::Input::wrap(ctx))
    }
}

/// The `io_open` of a source's context: opens the source itself (the context's own URL, once,
/// for reading) and refuses everything else a demuxer asks for.
unsafe extern "C" fn open_only_the_source(
    s: *mut ffi::AVFormatContext,
    pb: *mut *mut ffi::AVIOContext,
    url: *const libc::c_char,
    flags: libc::c_int,
    options: *mut *mut ffi::AVDictionary,
) -> libc::c_int {
    // SAFETY: libavformat calls this with its own live context, a NUL-terminated `url`, an
    // out-pointer `pb` and an optional options dictionary, as `avio_open2` expects them.
    unsafe {
        let own_url = (*s).url;
        let first = (*s).pb.is_null()
            && !own_url.is_null()
            && !url.is_null()
            && CStr::from_ptr(url) == CStr::from_ptr(own_url)
            && flags & ffi::AVIO_FLAG_WRITE as libc::c_int == 0;
        if !first {
            return -libc::EPERM;
        }
        if !options.is_null() {
            ffi::av_dict_set(options, c"protocol_whitelist".as_ptr(), c"file".as_ptr(), 0);
        }
        ffi::avio_open2(pb, url, flags, &(*s).interrupt_callback, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::testclip::{clip, generate};
    use std::path::PathBuf;

    fn refused(path: &Path) -> String {
        match open(path) {
            Err(OpenError::Refused { format }) => format,
            Err(e) => panic!("{}: expected a refusal, got {e}", path.display()),
            Ok(i) => panic!("{}: opened as {}", path.display(), i.format().name()),
        }
    }

    #[test]
    fn plain_containers_open() {
        let dir = tempfile::tempdir().unwrap();
        let mp4 = clip(dir.path(), "a.mp4", "64x48", 10, 1, Some((48000, 2)));
        let mut made = vec![mp4.clone()];
        for (name, extra) in [
            ("b.mkv", &["-c", "copy"][..]),
            ("c.ts", &["-c", "copy"][..]),
            ("d.webm", &["-c:v", "libvpx", "-b:v", "100k", "-an"][..]),
            ("e.mov", &["-c", "copy"][..]),
        ] {
            let mut args = vec!["-i", mp4.to_str().unwrap()];
            args.extend_from_slice(extra);
            made.push(generate(dir.path(), name, &args));
        }
        for (path, want) in made
            .iter()
            .zip(["mp4", "matroska", "mpegts", "webm", "mov"])
        {
            let input = open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = input.format().name().to_string();
            assert!(name.split(',').any(|n| n == want), "{name}");
            assert!(input.streams().best(ff::media::Type::Video).is_some());
        }
    }

    /// An HLS playlist named `name` that lists, by absolute path, a `.ts` file elsewhere on
    /// the host (the upload that published other files before sources had an allowlist).
    fn playlist_of_a_secret(dir: &Path, name: &str) -> PathBuf {
        let secret = clip(dir, "secret.mp4", "64x48", 10, 1, None);
        let ts = generate(
            dir,
            "secret.ts",
            &["-i", secret.to_str().unwrap(), "-c", "copy"],
        );
        let hls = dir.join(name);
        std::fs::write(
            &hls,
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{}\n#EXT-X-ENDLIST\n",
                ts.display()
            ),
        )
        .unwrap();
        hls
    }

    #[test]
    fn playlists_lists_and_images_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let hls = playlist_of_a_secret(dir.path(), "innocent.mp4");
        assert_eq!(refused(&hls), "hls");
        let message = open(&hls).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with("hls is not an accepted container; accepted: mov, mp4"),
            "{message}"
        );

        // The fixture's segment, listed again by an ffconcat file.
        let ts = dir.path().join("secret.ts");
        let concat = dir.path().join("list.mp4");
        std::fs::write(
            &concat,
            format!("ffconcat version 1.0\nfile '{}'\n", ts.display()),
        )
        .unwrap();
        assert_eq!(refused(&concat), "concat");

        let png = generate(
            dir.path(),
            "frame001.png",
            &["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1"],
        );
        let format = refused(&png);
        assert!(format.contains("png") || format == "image2", "{format}");
        // An image2 pattern names no file that exists: nothing is expanded.
        let pattern = dir.path().join("frame%03d.png");
        assert!(matches!(open(&pattern), Err(OpenError::Unreadable { .. })));
        // Neither does another protocol's syntax.
        for name in ["subfile,,start,0,end,100,,:secret.ts", "data:,hello"] {
            assert!(open(Path::new(name)).is_err(), "{name}");
        }
    }

    #[test]
    fn images_and_audio_files_open_through_their_own_lists() {
        let dir = tempfile::tempdir().unwrap();
        let picture = |name: &str| {
            generate(
                dir.path(),
                name,
                &["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1"],
            )
        };
        for path in [picture("p.png"), picture("p.jpg")] {
            let input = open_image(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(input.streams().best(ff::media::Type::Video).is_some());
        }
        // A video is not an image, and a playlist is neither.
        let mp4 = clip(dir.path(), "v.mp4", "64x48", 10, 1, None);
        match open_image(&mp4) {
            Err(OpenError::RefusedAs {
                what: "image",
                accepted,
                ..
            }) => {
                assert!(accepted.starts_with("png_pipe"), "{accepted}")
            }
            other => panic!("{:?}", other.map(|i| i.format().name().to_string())),
        }
        for name in ["s.mp3", "s.wav", "s.flac", "s.m4a"] {
            let path = generate(dir.path(), name, &["-f", "lavfi", "-i", "sine=duration=1"]);
            let input = open_audio(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                input.streams().best(ff::media::Type::Audio).is_some(),
                "{name}"
            );
            if name != "s.m4a" {
                assert!(open(&path).is_err(), "{name}: not a video container");
            }
        }
        let hls = playlist_of_a_secret(dir.path(), "sound.mp3");
        assert!(matches!(
            open_audio(&hls),
            Err(OpenError::RefusedAs { what: "audio", .. })
        ));
    }

    #[test]
    fn a_demuxer_cannot_open_other_files_even_when_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let hls = playlist_of_a_secret(dir.path(), "innocent.m3u8");
        // Were `hls` (and the segments' `mpegts`) allowed, its segments would still not be opened.
        if let Ok(mut input) = open_allowing(&hls, &["hls", "mpegts"]) {
            assert!(input.packets().next().is_none(), "a segment was read");
        }
    }
}
