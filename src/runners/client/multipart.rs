//! `multipart/form-data` bodies for `update` and `success`, streamed from the files (outputs can
//! be gigabytes): the length is known up front, the bytes are read as ureq sends them. Field
//! names are qs bracket names (`payload[videoFile]`, see [`crate::runners::protocol::fields`]).

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// One part of the body.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// A text field.
    Text {
        /// Its name.
        name: String,
        /// Its value.
        value: String,
    },
    /// A file, sent with a file name and a content type.
    File {
        /// Its name.
        name: String,
        /// The file to send.
        path: PathBuf,
        /// The part's `Content-Type` (PeerTube's multer checks it: `video/mp4`,
        /// `application/vnd.apple.mpegurl`, `image/jpeg`).
        content_type: String,
    },
}

/// A form to send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    parts: Vec<Part>,
}

/// The content type PeerTube accepts for a file, by its extension.
pub fn content_type_of(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("mp4") => "video/mp4",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("vtt") => "text/vtt",
        Some("ts") => "video/mp2t",
        _ => "application/octet-stream",
    }
}

impl Form {
    /// An empty form.
    pub fn new() -> Form {
        Form::default()
    }

    /// Adds a text field.
    pub fn text(mut self, name: &str, value: impl Into<String>) -> Form {
        self.parts.push(Part::Text {
            name: name.to_string(),
            value: value.into(),
        });
        self
    }

    /// Adds a file, typed by its extension.
    pub fn file(mut self, name: &str, path: &Path) -> Form {
        self.parts.push(Part::File {
            name: name.to_string(),
            path: path.to_path_buf(),
            content_type: content_type_of(path).to_string(),
        });
        self
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Opens the files and returns the body: its content type, its length, and a reader.
    pub fn into_body(self, boundary: &str) -> std::io::Result<Body> {
        let mut segments: Vec<Box<dyn Read + Send>> = Vec::new();
        let mut len = 0u64;
        for part in self.parts {
            let (head, file) = match part {
                Part::Text { name, value } => (
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                        quote(&name)
                    ),
                    None,
                ),
                Part::File {
                    name,
                    path,
                    content_type,
                } => {
                    let file_name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "file".into());
                    (
                        format!(
                            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
                            quote(&name),
                            quote(&file_name)
                        ),
                        Some(path),
                    )
                }
            };
            len += head.len() as u64;
            segments.push(Box::new(Cursor::new(head.into_bytes())));
            if let Some(path) = file {
                let file = File::open(&path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                })?;
                let size = file.metadata()?.len();
                // Exactly `size` bytes, even if the file grew since.
                segments.push(Box::new(file.take(size)));
                segments.push(Box::new(Cursor::new(b"\r\n".to_vec())));
                len += size + 2;
            }
        }
        let end = format!("--{boundary}--\r\n");
        len += end.len() as u64;
        segments.push(Box::new(Cursor::new(end.into_bytes())));
        Ok(Body {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            len,
            reader: Chain {
                segments: segments.into(),
            },
        })
    }
}

fn quote(s: &str) -> String {
    s.replace('"', "%22").replace(['\r', '\n'], " ")
}

/// A multipart body ready to send.
pub struct Body {
    /// `multipart/form-data; boundary=…`.
    pub content_type: String,
    /// Its length in bytes (`Content-Length`).
    pub len: u64,
    /// Its bytes.
    pub reader: Chain,
}

/// The body's segments read one after the other.
pub struct Chain {
    segments: std::collections::VecDeque<Box<dyn Read + Send>>,
}

impl Read for Chain {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(seg) = self.segments.front_mut() {
            let n = seg.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.segments.pop_front();
        }
        Ok(0)
    }
}

/// A fresh random boundary.
pub fn boundary() -> String {
    format!("----fleuve-runner-{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_multipart_with_bracket_names_and_exact_length() {
        use crate::runners::protocol::fields;
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("a-480-fragmented.mp4");
        let playlist = dir.path().join("a-480.m3u8");
        std::fs::write(&video, b"MP4BYTES").unwrap();
        std::fs::write(&playlist, b"#EXTM3U\n").unwrap();
        let form = Form::new()
            .text(fields::RUNNER_TOKEN, "ptrt-1")
            .text(fields::JOB_TOKEN, "ptrjt-2")
            .file(fields::VIDEO_FILE, &video)
            .file(fields::RESOLUTION_PLAYLIST_FILE, &playlist);
        let mut body = form.into_body("XYZ").unwrap();
        assert_eq!(body.content_type, "multipart/form-data; boundary=XYZ");
        let mut bytes = Vec::new();
        body.reader.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, body.len);
        let text = String::from_utf8(bytes).unwrap();
        let expected = "--XYZ\r\nContent-Disposition: form-data; name=\"runnerToken\"\r\n\r\nptrt-1\r\n\
            --XYZ\r\nContent-Disposition: form-data; name=\"jobToken\"\r\n\r\nptrjt-2\r\n\
            --XYZ\r\nContent-Disposition: form-data; name=\"payload[videoFile]\"; filename=\"a-480-fragmented.mp4\"\r\nContent-Type: video/mp4\r\n\r\nMP4BYTES\r\n\
            --XYZ\r\nContent-Disposition: form-data; name=\"payload[resolutionPlaylistFile]\"; filename=\"a-480.m3u8\"\r\nContent-Type: application/vnd.apple.mpegurl\r\n\r\n#EXTM3U\n\r\n\
            --XYZ--\r\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = Form::new()
            .file("payload[videoFile]", Path::new("/nonexistent/x.mp4"))
            .into_body("b")
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/x.mp4"), "{e}");
    }

    #[test]
    fn content_types_are_the_ones_peertube_accepts() {
        assert_eq!(content_type_of(Path::new("x.mp4")), "video/mp4");
        assert_eq!(
            content_type_of(Path::new("x.m3u8")),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(content_type_of(Path::new("x.jpg")), "image/jpeg");
    }
}
