//! `Note`, a comment as PeerTube federates it (reference/peertube-interop.md §1.7): markdown
//! `content`, `inReplyTo` the video (a thread's root) or the parent comment, `attributedTo` the
//! author's account. Mentions (`tag`) are neither sent nor read.

use super::{audience, id_of, kind, ProtocolError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

kind!(NoteType, "Note");

/// A comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// Its id (also its `url`).
    pub id: String,
    /// `Note`.
    #[serde(rename = "type")]
    pub kind: NoteType,
    /// The text.
    pub content: String,
    /// `text/markdown` from PeerTube, `text/html` (or absent) from Mastodon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The video (for a thread's root) or the comment it answers.
    pub in_reply_to: String,
    /// Creation time (ISO 8601).
    #[serde(default)]
    pub published: String,
    /// Last change (ISO 8601).
    #[serde(default)]
    pub updated: String,
    /// Its URL (the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The author's account.
    pub attributed_to: String,
    /// Primary audience.
    #[serde(default, deserialize_with = "audience")]
    pub to: Option<Vec<String>>,
    /// Secondary audience.
    #[serde(default, deserialize_with = "audience")]
    pub cc: Option<Vec<String>>,
}

/// Longest `content` kept (PeerTube truncates remote comments to its text limit).
const MAX_CONTENT_CHARS: usize = 10_000;

impl Note {
    /// Reads a received `Note`: id, `inReplyTo` and `attributedTo` must be URLs (an
    /// `attributedTo` object or list counts by its first id), `content` a string; HTML content is
    /// reduced to its text and the text cut at PeerTube's limit.
    pub fn parse(doc: &Value) -> Result<Note, ProtocolError> {
        let field = |name: &'static str| -> Result<String, ProtocolError> {
            let v = doc.get(name).ok_or(ProtocolError::Missing {
                what: "Note",
                field: name,
            })?;
            let id = match v {
                Value::Array(a) => a.iter().find_map(id_of),
                v => id_of(v),
            };
            match id {
                Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
                    Ok(s.to_string())
                }
                _ => Err(ProtocolError::invalid(name, v, "a URL")),
            }
        };
        let id = field("id")?;
        let in_reply_to = field("inReplyTo")?;
        let attributed_to = field("attributedTo")?;
        let content = doc
            .get("content")
            .and_then(Value::as_str)
            .ok_or(ProtocolError::Missing {
                what: "Note",
                field: "content",
            })?;
        let media_type = doc
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut content = if media_type.as_deref() == Some("text/markdown") {
            content.to_string()
        } else {
            html_to_text(content)
        };
        if let Some((i, _)) = content.char_indices().nth(MAX_CONTENT_CHARS) {
            content.truncate(i);
        }
        let date = |name: &str| {
            doc.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(Note {
            url: Some(id.clone()),
            id,
            kind: NoteType::Kind,
            content,
            media_type,
            in_reply_to,
            published: date("published"),
            updated: date("updated"),
            attributed_to,
            to: None,
            cc: None,
        })
    }
}

/// The text of an HTML fragment: tags dropped (`<br>` and `</p>` become line breaks), the
/// common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('>') else {
            rest = &rest[i..];
            break;
        };
        let tag = rest[i + 1..i + j].trim().to_ascii_lowercase();
        if tag.starts_with("br") || tag == "/p" {
            out.push('\n');
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    let text = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn peertube_and_mastodon_notes_read() {
        let pt = json!({
            "type": "Note", "id": "https://b/videos/watch/u/comments/3", "content": "**hi** <x>",
            "mediaType": "text/markdown", "inReplyTo": "https://a/videos/watch/u",
            "published": "2026-01-01T00:00:00.000Z", "attributedTo": "https://b/accounts/root",
        });
        let n = Note::parse(&pt).unwrap();
        assert_eq!(n.content, "**hi** <x>");
        assert_eq!(n.in_reply_to, "https://a/videos/watch/u");
        let masto = json!({
            "type": "Note", "id": "https://m/users/x/statuses/1",
            "content": "<p>Hello &amp; welcome</p><p>again<br/>you</p>",
            "inReplyTo": "https://a/videos/watch/u",
            "attributedTo": [{"type": "Person", "id": "https://m/users/x"}],
        });
        let n = Note::parse(&masto).unwrap();
        assert_eq!(n.content, "Hello & welcome\nagain\nyou");
        assert_eq!(n.attributed_to, "https://m/users/x");
    }

    #[test]
    fn bad_notes_name_the_field() {
        let e = Note::parse(
            &json!({"type": "Note", "id": "https://b/c/1", "content": "x",
                                    "attributedTo": "https://b/a"}),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "Note has no inReplyTo");
        let e = Note::parse(
            &json!({"type": "Note", "id": "https://b/c/1", "content": "x",
                                    "inReplyTo": "javascript:1", "attributedTo": "https://b/a"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("inReplyTo"), "{e}");
        let long = "a".repeat(20_000);
        let n = Note::parse(&json!({"type": "Note", "id": "https://b/c/1", "content": long,
            "mediaType": "text/markdown", "inReplyTo": "https://a/v", "attributedTo": "https://b/a"}))
        .unwrap();
        assert_eq!(n.content.len(), 10_000);
    }
}
