//! What people add to a video beside its media, as plain data with PeerTube's rules: comments
//! (threads of replies, [`Comment`]), captions ([`Caption`], WebVTT, SRT converted) and chapters
//! ([`Chapter`]). The store keeps them under their keys (`store::comments`); the API and
//! federation shape them.

use serde::{Deserialize, Serialize};

/// Longest comment, in characters (PeerTube's `VIDEO_COMMENTS.TEXT`).
pub const MAX_COMMENT_CHARS: usize = 10_000;
/// Largest caption file, in bytes (PeerTube's `VIDEO_CAPTIONS.CAPTION_FILE.FILE_SIZE`: 20 MiB).
pub const MAX_CAPTION_BYTES: usize = 20 * 1024 * 1024;
/// Caption file extensions PeerTube accepts.
pub const CAPTION_EXTENSIONS: [&str; 2] = [".vtt", ".srt"];
/// Longest chapter title, in characters (PeerTube's `VIDEO_CHAPTERS.TITLE`).
pub const MAX_CHAPTER_TITLE_CHARS: usize = 100;

/// Who wrote a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentAuthor {
    /// The local user, for a comment written here.
    pub user: Option<u64>,
    /// The author's ActivityPub actor id (ours or another instance's).
    pub actor: String,
}

/// A comment: the root of a thread (`in_reply_to` None) or a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    /// Id (PeerTube's comment ids are numbers).
    pub id: u64,
    /// The video it is about.
    pub video_id: u64,
    /// The root comment of its thread (its own id for a root).
    pub thread_id: u64,
    /// The comment it answers (None for a thread's root).
    pub in_reply_to: Option<u64>,
    /// Its ActivityPub id.
    pub url: String,
    /// Markdown text (emptied when deleted).
    pub text: String,
    /// Its author.
    pub author: CommentAuthor,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
    /// When it was deleted: it stays as a placeholder while replies hang from it.
    pub deleted_at: Option<u64>,
}

/// Checks a comment's text as PeerTube does: 1 to [`MAX_COMMENT_CHARS`] characters, not blank.
pub fn check_comment_text(text: &str) -> Result<(), String> {
    let n = text.chars().count();
    if text.trim().is_empty() {
        return Err("text must not be empty".into());
    }
    if n > MAX_COMMENT_CHARS {
        return Err(format!(
            "text must have at most {MAX_COMMENT_CHARS} characters (got {n})"
        ));
    }
    Ok(())
}

/// A caption track of a video (its file is `<uuid>-<language>.vtt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caption {
    /// Language code (one of PeerTube's languages).
    pub language: String,
    /// The language's name.
    pub label: String,
    /// The WebVTT file's name.
    pub file: String,
    /// Its HLS playlist's name.
    pub playlist: String,
    /// Last change (Unix seconds).
    pub updated_at: u64,
}

impl Caption {
    /// The file names of `uuid`'s caption in `language`.
    pub fn of(uuid: &str, language: &str, label: &str, updated_at: u64) -> Caption {
        Caption {
            language: language.to_string(),
            label: label.to_string(),
            file: format!("{uuid}-{language}.vtt"),
            playlist: format!("{uuid}-{language}.m3u8"),
            updated_at,
        }
    }
}

impl Caption {
    /// URL path of the WebVTT file (PeerTube's).
    pub fn path(&self) -> String {
        format!("{CAPTIONS_PATH}{}", self.file)
    }

    /// URL path of its HLS playlist.
    pub fn playlist_path(&self) -> String {
        format!("{CAPTIONS_PATH}{}", self.playlist)
    }
}

/// URL path prefix of caption files (PeerTube's).
pub const CAPTIONS_PATH: &str = "/lazy-static/video-captions/";

/// Why a caption file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptionError {
    /// Larger than [`MAX_CAPTION_BYTES`].
    #[error("caption file is {0} bytes; the limit is {MAX_CAPTION_BYTES} bytes (20 MiB)")]
    TooLarge(usize),
    /// Not UTF-8 text.
    #[error("caption file is not UTF-8 text")]
    NotText,
    /// Neither WebVTT (`WEBVTT` header) nor SRT (numbered cues with `-->` timings).
    #[error("caption file is neither WebVTT (it must start with \"WEBVTT\") nor SRT")]
    NotCaptions,
}

/// The WebVTT of an uploaded caption file: WebVTT as is, SRT converted (its header added, the
/// decimal comma of its timings made a point). Anything else is refused.
pub fn to_webvtt(bytes: &[u8]) -> Result<String, CaptionError> {
    if bytes.len() > MAX_CAPTION_BYTES {
        return Err(CaptionError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| CaptionError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    let first = text.lines().next().unwrap_or_default();
    if first == "WEBVTT" || first.starts_with("WEBVTT ") || first.starts_with("WEBVTT\t") {
        return Ok(text);
    }
    // SRT: blocks of an index, a timing line, text.
    let mut out = String::from("WEBVTT\n\n");
    let mut cues = 0;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.trim_start_matches('\n').lines();
        let index = lines.next().unwrap_or_default();
        let timing = lines.next().unwrap_or_default();
        if index.trim().parse::<u64>().is_err() || !is_srt_timing(timing) {
            return Err(CaptionError::NotCaptions);
        }
        out.push_str(&timing.replace(',', "."));
        out.push('\n');
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push('\n');
        cues += 1;
    }
    if cues == 0 {
        return Err(CaptionError::NotCaptions);
    }
    Ok(out)
}

fn is_srt_timing(line: &str) -> bool {
    let Some((a, b)) = line.split_once("-->") else {
        return false;
    };
    let stamp = |s: &str| {
        let s = s.split_whitespace().next().unwrap_or_default();
        let b = s.as_bytes();
        b.len() == 12
            && b[2] == b':'
            && b[5] == b':'
            && (b[8] == b',' || b[8] == b'.')
            && b.iter()
                .enumerate()
                .all(|(i, c)| matches!(i, 2 | 5 | 8) || c.is_ascii_digit())
    };
    stamp(a.trim()) && stamp(b.trim())
}

/// The HLS playlist of a WebVTT caption (what PeerTube 8 gives as a caption's `m3u8Url`): one
/// segment, the whole file.
pub fn caption_playlist(vtt_file: &str, duration: f64) -> String {
    let d = duration.ceil().max(1.0) as u64;
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{d}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{d},\n{vtt_file}\n#EXT-X-ENDLIST\n"
    )
}

/// A chapter: where it starts (whole seconds) and its title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chapter {
    /// Start, in seconds from the beginning.
    pub timecode: u64,
    /// Title.
    pub title: String,
}

/// Checks chapters as PeerTube does (timecodes within the video and unique, titles 1 to
/// [`MAX_CHAPTER_TITLE_CHARS`] characters) and sorts them by timecode.
pub fn check_chapters(mut chapters: Vec<Chapter>, duration: f64) -> Result<Vec<Chapter>, String> {
    let mut seen = std::collections::BTreeSet::new();
    for c in &chapters {
        let n = c.title.chars().count();
        if c.title.trim().is_empty() || n > MAX_CHAPTER_TITLE_CHARS {
            return Err(format!(
                "chapter title must have 1 to {MAX_CHAPTER_TITLE_CHARS} characters (got {n} at timecode {})",
                c.timecode
            ));
        }
        if c.timecode as f64 > duration {
            return Err(format!(
                "chapter timecode {} is beyond the video's duration ({} s)",
                c.timecode,
                duration.round()
            ));
        }
        if !seen.insert(c.timecode) {
            return Err(format!("chapter timecode {} appears twice", c.timecode));
        }
    }
    chapters.sort_by_key(|c| c.timecode);
    Ok(chapters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_text_limits() {
        assert!(check_comment_text("hi").is_ok());
        assert!(check_comment_text("   ").unwrap_err().contains("empty"));
        let long = "é".repeat(MAX_COMMENT_CHARS + 1);
        assert!(check_comment_text(&long).unwrap_err().contains("10001"));
        assert!(check_comment_text(&"é".repeat(MAX_COMMENT_CHARS)).is_ok());
    }

    #[test]
    fn webvtt_is_kept_and_srt_converted() {
        let vtt = "WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n";
        assert_eq!(to_webvtt(vtt.as_bytes()).unwrap(), vtt);
        let srt = "1\r\n00:00:00,000 --> 00:00:01,500\r\nHello\r\n\r\n2\r\n00:00:02,000 --> 00:00:03,000\r\nWorld\r\nagain\r\n";
        assert_eq!(
            to_webvtt(srt.as_bytes()).unwrap(),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello\n\n00:00:02.000 --> 00:00:03.000\nWorld\nagain\n\n"
        );
        assert_eq!(to_webvtt(b"not captions"), Err(CaptionError::NotCaptions));
        assert_eq!(to_webvtt(b""), Err(CaptionError::NotCaptions));
        assert_eq!(to_webvtt(&[0xff, 0xfe, 0]), Err(CaptionError::NotText));
        let big = vec![b'a'; MAX_CAPTION_BYTES + 1];
        assert_eq!(
            to_webvtt(&big),
            Err(CaptionError::TooLarge(MAX_CAPTION_BYTES + 1))
        );
    }

    #[test]
    fn chapters_are_checked_and_sorted() {
        let c = |t, s: &str| Chapter {
            timecode: t,
            title: s.into(),
        };
        let ok = check_chapters(vec![c(5, "b"), c(0, "a")], 10.0).unwrap();
        assert_eq!(ok, vec![c(0, "a"), c(5, "b")]);
        assert!(check_chapters(vec![c(11, "x")], 10.0)
            .unwrap_err()
            .contains("beyond"));
        assert!(check_chapters(vec![c(1, "x"), c(1, "y")], 10.0)
            .unwrap_err()
            .contains("twice"));
        assert!(check_chapters(vec![c(1, &"t".repeat(101))], 10.0)
            .unwrap_err()
            .contains("101"));
        assert!(check_chapters(vec![c(1, "")], 10.0).is_err());
    }

    #[test]
    fn caption_playlists_name_their_file() {
        let p = caption_playlist("u-fr.vtt", 4.2);
        assert!(p.starts_with("#EXTM3U\n"), "{p}");
        assert!(p.contains("#EXTINF:5,\nu-fr.vtt\n"), "{p}");
    }
}
