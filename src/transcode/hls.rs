//! HLS VOD playlists as PeerTube publishes them (reference §4.2–4.3): a media playlist per
//! rendition addressing byte ranges of one fragmented MP4, the master playlist, and the
//! segments-sha256 JSON the P2P player checks every segment against. Plain data and text; the
//! pipeline fills them in, the tests parse what they render.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::io::{Read, Seek, SeekFrom};

/// A byte range of the rendition file: `len@offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// Length in bytes.
    pub len: u64,
    /// Offset of the first byte.
    pub offset: u64,
}

/// One media segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Duration in seconds.
    pub duration: f64,
    /// Where it lies in the file.
    pub range: ByteRange,
}

/// A VOD media playlist over one single-file fMP4.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// The fMP4 file name (relative URI).
    pub file: String,
    /// The init section (`EXT-X-MAP`).
    pub init: ByteRange,
    /// Segments in order.
    pub segments: Vec<Segment>,
}

/// Why a playlist could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid HLS playlist, line {line}: {message}")]
pub struct PlaylistError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl MediaPlaylist {
    /// `#EXT-X-TARGETDURATION`: the longest segment, rounded up.
    pub fn target_duration(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.duration.ceil() as u64)
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Renders the playlist as ffmpeg's hls muxer does in single-file fMP4 mode.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128 + self.segments.len() * 64);
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"{}\",BYTERANGE=\"{}@{}\"\n",
            self.target_duration(),
            self.file,
            self.init.len,
            self.init.offset
        );
        for s in &self.segments {
            let _ = write!(
                out,
                "#EXTINF:{:.6},\n#EXT-X-BYTERANGE:{}@{}\n{}\n",
                s.duration, s.range.len, s.range.offset, self.file
            );
        }
        out.push_str("#EXT-X-ENDLIST\n");
        out
    }

    /// Parses a single-file VOD media playlist (ours, or ffmpeg's).
    pub fn parse(text: &str) -> Result<MediaPlaylist, PlaylistError> {
        let err = |line: usize, message: &str| PlaylistError {
            line,
            message: message.to_string(),
        };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.next() {
            Some((_, "#EXTM3U")) => {}
            _ => return Err(err(1, "does not start with #EXTM3U")),
        }
        let mut init = None;
        let mut file: Option<String> = None;
        let mut segments = Vec::new();
        let mut pending_duration = None;
        let mut pending_range = None;
        for (n, line) in lines {
            if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
                let uri = attr(rest, "URI").ok_or_else(|| err(n, "EXT-X-MAP without URI"))?;
                let br =
                    attr(rest, "BYTERANGE").ok_or_else(|| err(n, "EXT-X-MAP without BYTERANGE"))?;
                init = Some(parse_range(&br).ok_or_else(|| err(n, "bad BYTERANGE"))?);
                let name = file_name(&uri).ok_or_else(|| err(n, "bad EXT-X-MAP URI"))?;
                match &file {
                    Some(f) if f != name => return Err(err(n, "segments of more than one file")),
                    _ => file = Some(name.to_string()),
                }
            } else if let Some(rest) = line.strip_prefix("#EXTINF:") {
                let d = rest.split(',').next().unwrap_or("");
                // A decimal number of seconds (RFC 8216 §4.3.2.1): not negative, NaN or infinite.
                pending_duration = Some(
                    d.parse::<f64>()
                        .ok()
                        .filter(|d| d.is_finite() && *d >= 0.0)
                        .ok_or_else(|| err(n, "bad EXTINF duration"))?,
                );
            } else if let Some(rest) = line.strip_prefix("#EXT-X-BYTERANGE:") {
                pending_range =
                    Some(parse_range(rest).ok_or_else(|| err(n, "bad EXT-X-BYTERANGE"))?);
            } else if !line.is_empty() && !line.starts_with('#') {
                let duration = pending_duration
                    .take()
                    .ok_or_else(|| err(n, "segment without EXTINF"))?;
                let range = pending_range
                    .take()
                    .ok_or_else(|| err(n, "segment without EXT-X-BYTERANGE"))?;
                let line = file_name(line).ok_or_else(|| err(n, "bad segment URI"))?;
                match &file {
                    Some(f) if f == line => {}
                    Some(_) => return Err(err(n, "segments of more than one file")),
                    None => file = Some(line.to_string()),
                }
                segments.push(Segment { duration, range });
            }
        }
        Ok(MediaPlaylist {
            file: file.ok_or_else(|| err(0, "no segment"))?,
            init: init.ok_or_else(|| err(0, "no EXT-X-MAP"))?,
            segments,
        })
    }

    /// The segments-sha256 entry of this rendition: `"<start>-<end>"` (inclusive) to the hex
    /// SHA-256 of those bytes of `file` (the init section is not hashed, as in PeerTube).
    pub fn segment_hashes<R: Read + Seek>(
        &self,
        file: &mut R,
    ) -> std::io::Result<Map<String, Value>> {
        let mut map = Map::new();
        let mut buf = vec![0u8; 256 * 1024];
        for s in &self.segments {
            file.seek(SeekFrom::Start(s.range.offset))?;
            let mut left = s.range.len;
            let mut h = Sha256::new();
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                file.read_exact(&mut buf[..n])?;
                h.update(&buf[..n]);
                left -= n as u64;
            }
            let end = s.range.offset + s.range.len - 1;
            map.insert(
                format!("{}-{}", s.range.offset, end),
                Value::String(hex::encode(h.finalize())),
            );
        }
        Ok(map)
    }
}

/// A rendition as listed in the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Media playlist file name (relative).
    pub playlist: String,
    /// Peak bandwidth in bit/s.
    pub bandwidth: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frame rate.
    pub fps: u32,
    /// RFC 6381 codecs (`avc1.64001f,mp4a.40.2`).
    pub codecs: String,
}

/// Renders the master playlist, as PeerTube writes it.
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for v in variants {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION={}x{},FRAME-RATE={},CODECS=\"{}\"\n{}\n",
            v.bandwidth, v.width, v.height, v.fps, v.codecs, v.playlist
        );
    }
    out
}

/// The last path component of a URI or path (ffmpeg may write paths where URIs belong).
fn base_name(uri: &str) -> &str {
    uri.rsplit('/').next().unwrap_or(uri)
}

/// The file a URI names, if it can be written back into a playlist: not empty, not a comment,
/// no quote, control character or surrounding space.
fn file_name(uri: &str) -> Option<&str> {
    let name = base_name(uri);
    let writable = !name.is_empty()
        && !name.starts_with('#')
        && name.trim() == name
        && !name.chars().any(|c| c == '"' || c.is_control());
    writable.then_some(name)
}

/// `len@offset` of at least one byte that ends within the 64-bit offsets.
fn parse_range(s: &str) -> Option<ByteRange> {
    let (len, offset) = s.trim().split_once('@')?;
    let range = ByteRange {
        len: len.parse().ok()?,
        offset: offset.parse().ok()?,
    };
    (range.len > 0 && range.offset.checked_add(range.len).is_some()).then_some(range)
}

/// The value of attribute `name` in an attribute list (`NAME=value,NAME="quoted, value"`),
/// read pair by pair: a name inside another attribute's value is not a match.
fn attr(list: &str, name: &str) -> Option<String> {
    let mut rest = list;
    loop {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                let tail = &quoted[end + 1..];
                (&quoted[..end], tail.split_once(',').map_or("", |(_, n)| n))
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key.trim() == name {
            return Some(value.to_string());
        }
        if next.is_empty() {
            return None;
        }
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a playlist written by ffmpeg's hls muxer (`-hls_segment_type fmp4
    /// -hls_flags single_file`), as in PeerTube's storage.
    const FFMPEG: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"8f-720-fragmented.mp4\",BYTERANGE=\"1400@0\"\n#EXTINF:4.000000,\n#EXT-X-BYTERANGE:812345@1400\n8f-720-fragmented.mp4\n#EXTINF:2.500000,\n#EXT-X-BYTERANGE:1000@813745\n8f-720-fragmented.mp4\n#EXT-X-ENDLIST\n";

    #[test]
    fn parses_and_renders_single_file_playlists() {
        let p = MediaPlaylist::parse(FFMPEG).unwrap();
        assert_eq!(p.file, "8f-720-fragmented.mp4");
        assert_eq!(
            p.init,
            ByteRange {
                len: 1400,
                offset: 0
            }
        );
        assert_eq!(p.segments.len(), 2);
        assert_eq!(
            p.segments[1].range,
            ByteRange {
                len: 1000,
                offset: 813_745
            }
        );
        assert_eq!(p.target_duration(), 4);
        let again = MediaPlaylist::parse(&p.render()).unwrap();
        assert_eq!(again, p);
        assert!(p.render().ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn refuses_malformed_playlists() {
        assert!(MediaPlaylist::parse("").is_err());
        assert!(MediaPlaylist::parse("#EXTM3U\nfile.mp4\n").is_err());
        let e = MediaPlaylist::parse("#EXTM3U\n#EXTINF:x,\n").unwrap_err();
        assert_eq!(e.line, 2);
        let two_files = FFMPEG.replacen(
            "8f-720-fragmented.mp4\n#EXT-X-ENDLIST",
            "other.mp4\n#EXT-X-ENDLIST",
            1,
        );
        assert!(MediaPlaylist::parse(&two_files).is_err());
        // An attribute name inside another attribute's value, and file names that cannot be
        // written back (found by fuzzing).
        for (map, message) in [
            ("URI=a.mp4!BYTERANGE=900@0", "EXT-X-MAP without BYTERANGE"),
            ("URI=\"x,BYTERANGE=1@2\"", "EXT-X-MAP without BYTERANGE"),
            ("URI=a\"b.mp4,BYTERANGE=1@0", "bad EXT-X-MAP URI"),
            ("URI=\"x/#a.mp4\",BYTERANGE=1@0", "bad EXT-X-MAP URI"),
            ("URI=\"x/\",BYTERANGE=1@0", "bad EXT-X-MAP URI"),
            (
                "URI=\"other.mp4\",BYTERANGE=1@0",
                "segments of more than one file",
            ),
        ] {
            let text = FFMPEG.replace("#EXT-X-MAP:", &format!("#EXT-X-MAP:{map}\n#X:"));
            let e = MediaPlaylist::parse(&text).unwrap_err();
            assert_eq!(e.message, message, "{map}");
        }
        // Empty ranges and ranges past 2^64: `segment_hashes` computed `offset + len - 1`
        // (found by fuzzing).
        for bad in ["0@900", "1@18446744073709551615", "18446744073709551615@1"] {
            let text = FFMPEG.replacen("812345@1400", bad, 1);
            let e = MediaPlaylist::parse(&text).unwrap_err();
            assert_eq!(
                (e.line, e.message.as_str()),
                (8, "bad EXT-X-BYTERANGE"),
                "{bad}"
            );
        }
        // Durations that are not a number of seconds (found by fuzzing).
        for bad in ["-9223372036854775808", "-1", "NaN", "inf", "1e309"] {
            let text = FFMPEG.replacen("#EXTINF:4.000000,", &format!("#EXTINF:{bad},"), 1);
            let e = MediaPlaylist::parse(&text).unwrap_err();
            assert_eq!(
                (e.line, e.message.as_str()),
                (7, "bad EXTINF duration"),
                "{bad}"
            );
        }
    }

    #[test]
    fn segment_hashes_use_inclusive_ranges() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i % 256) as u8).collect();
        let p = MediaPlaylist {
            file: "x.mp4".into(),
            init: ByteRange {
                len: 100,
                offset: 0,
            },
            segments: vec![
                Segment {
                    duration: 4.0,
                    range: ByteRange {
                        len: 900,
                        offset: 100,
                    },
                },
                Segment {
                    duration: 4.0,
                    range: ByteRange {
                        len: 1000,
                        offset: 1000,
                    },
                },
            ],
        };
        let map = p.segment_hashes(&mut std::io::Cursor::new(&data)).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(
            map["100-999"],
            hex::encode(Sha256::digest(&data[100..1000]))
        );
        assert_eq!(
            map["1000-1999"],
            hex::encode(Sha256::digest(&data[1000..2000]))
        );
        let short = &data[..1500];
        assert!(p.segment_hashes(&mut std::io::Cursor::new(short)).is_err());
    }

    #[test]
    fn reads_what_ffmpeg_writes() {
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("ffmpeg")
            .current_dir(dir.path())
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:duration=9",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "50",
                "-f",
                "hls",
                "-hls_time",
                "4",
            ])
            .args([
                "-hls_playlist_type",
                "vod",
                "-hls_segment_type",
                "fmp4",
                "-hls_flags",
                "single_file",
            ])
            .args([
                "-hls_segment_filename",
                "r-240-fragmented.mp4",
                "r-240.m3u8",
            ])
            .status()
            .expect("ffmpeg CLI is required for media tests");
        assert!(st.success());
        let text = std::fs::read_to_string(dir.path().join("r-240.m3u8")).unwrap();
        let p = MediaPlaylist::parse(&text).unwrap();
        assert_eq!(p.file, "r-240-fragmented.mp4");
        assert!(p.segments.len() >= 2, "{text}");
        // Init and segments tile the file exactly.
        let size = std::fs::metadata(dir.path().join(&p.file)).unwrap().len();
        let mut next = p.init.offset + p.init.len;
        for s in &p.segments {
            assert_eq!(s.range.offset, next);
            next += s.range.len;
        }
        assert_eq!(next, size);
        let total: f64 = p.segments.iter().map(|s| s.duration).sum();
        assert!((total - 9.0).abs() < 0.1, "{total}");
        let mut f = std::fs::File::open(dir.path().join(&p.file)).unwrap();
        assert_eq!(p.segment_hashes(&mut f).unwrap().len(), p.segments.len());
    }

    #[test]
    fn master_lists_every_variant() {
        let m = master_playlist(&[Variant {
            playlist: "a-720.m3u8".into(),
            bandwidth: 3_000_000,
            width: 1280,
            height: 720,
            fps: 30,
            codecs: "avc1.64001f,mp4a.40.2".into(),
        }]);
        assert_eq!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,FRAME-RATE=30,CODECS=\"avc1.64001f,mp4a.40.2\"\na-720.m3u8\n"
        );
    }
}
