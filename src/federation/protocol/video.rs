//! The `Video` object as PeerTube 6/7 emits and accepts it (reference §1.5–1.6): `duration` as
//! `PT<s>S`, the `url` list of `Link`s (watch page, the HLS master with its `Infohash` tags,
//! segments-sha256 link and per-file Links, the tracker Links), `icon` images, `attributedTo`
//! account and channel, audience. Received `Video` objects are checked by
//! [`crate::federation::remote_videos::parse`].

use super::kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

kind!(VideoType, "Video");
kind!(LinkType, "Link");
kind!(InfohashType, "Infohash");
kind!(ImageType, "Image");
kind!(PropertyValueType, "PropertyValue");

/// A `Link`: the watch page, a playlist, a file, a torrent, a tracker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// `Link`.
    #[serde(rename = "type")]
    pub kind: LinkType,
    /// `sha256`, `tracker-http`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `["tracker", "websocket"]`, `["metadata", "video/mp4"]`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<Vec<String>>,
    /// The target's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The target.
    pub href: String,
    /// A file's height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A file's width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// A file's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A file's frame rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    /// A file's properties (codec types, format flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Vec<PropertyValue>>,
    /// A playlist's tags (info-hashes, its files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Vec<Tag>>,
}

impl Link {
    /// A link to `href` of `media_type`.
    pub fn to(media_type: &str, href: impl Into<String>) -> Link {
        Link {
            media_type: Some(media_type.to_string()),
            href: href.into(),
            ..Link::default()
        }
    }

    /// With a file's dimensions and frame rate.
    pub fn sized(mut self, height: u32, width: u32, fps: u32) -> Link {
        self.height = Some(height);
        self.width = Some(width);
        self.fps = Some(fps);
        self
    }
}

/// A `PropertyValue` (`ffprobe_codec_type: video`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyValue {
    /// `PropertyValue`.
    #[serde(rename = "type")]
    pub kind: PropertyValueType,
    /// The property.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl PropertyValue {
    /// `name: value`.
    pub fn new(name: &str, value: &str) -> PropertyValue {
        PropertyValue {
            kind: PropertyValueType::Kind,
            name: name.to_string(),
            value: value.to_string(),
        }
    }
}

/// A P2P info-hash of an HLS playlist (hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Infohash {
    /// `Infohash`.
    #[serde(rename = "type")]
    pub kind: InfohashType,
    /// The hash, hex.
    pub name: String,
}

/// A tag of a playlist `Link`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tag {
    /// An info-hash.
    Infohash(Infohash),
    /// A link (segments hashes, a file and its torrent).
    Link(Link),
}

/// A thumbnail or preview image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// `Image`.
    #[serde(rename = "type")]
    pub kind: ImageType,
    /// Where it is.
    pub url: String,
    /// `image/jpeg`.
    pub media_type: String,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

/// A storyboard, in `preview` (PeerTube's `ActivityPubStoryboard`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryboardImage {
    /// `Image`.
    #[serde(rename = "type")]
    pub kind: ImageType,
    /// `["storyboard"]`.
    pub rel: Vec<String>,
    /// The sprite sheet (one).
    pub url: Vec<StoryboardSheet>,
}

/// A storyboard's sprite sheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryboardSheet {
    /// Where it is.
    pub href: String,
    /// `image/jpeg`.
    pub media_type: String,
    /// The sheet's width (pixels).
    pub width: u32,
    /// The sheet's height (pixels).
    pub height: u32,
    /// One sprite's width.
    pub tile_width: u32,
    /// One sprite's height.
    pub tile_height: u32,
    /// Seconds per sprite, `PT<n>S`.
    pub tile_duration: String,
}

/// The kind of an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorKind {
    /// An account.
    Person,
    /// A channel.
    Group,
    /// An instance.
    Application,
    /// A bot.
    Service,
    /// An organisation.
    Organization,
}

/// An actor named by kind and id (`attributedTo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActorRef {
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: ActorKind,
    /// Its id.
    pub id: String,
}

/// A category, licence or language: PeerTube's `{identifier, name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    /// The id (`"15"`) or code (`"fr"`).
    pub identifier: String,
    /// Its label.
    pub name: String,
}

/// A `Hashtag` of a video's `tag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hashtag {
    /// `Hashtag`.
    #[serde(rename = "type")]
    pub kind: HashtagType,
    /// The tag.
    pub name: String,
}

kind!(HashtagType, "Hashtag");

/// A `Video` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Video {
    /// The JSON-LD context (when served on its own).
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// `Video`.
    #[serde(rename = "type")]
    pub kind: VideoType,
    /// Its id (`<base>/videos/watch/<uuid>`).
    pub id: String,
    /// Title.
    pub name: String,
    /// `PT<seconds>S`.
    pub duration: String,
    /// UUID.
    pub uuid: String,
    /// Category, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Named>,
    /// Licence, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<Named>,
    /// Language, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Named>,
    /// Views.
    pub views: u64,
    /// Sensitive content.
    pub sensitive: bool,
    /// Whether players wait for transcoding.
    pub wait_transcoding: bool,
    /// PeerTube's video state id.
    pub state: u8,
    /// PeerTube's comments policy (1: enabled).
    pub comments_policy: u8,
    /// Who may reply.
    pub can_reply: Option<Value>,
    /// Downloads allowed.
    pub download_enabled: bool,
    /// ISO 8601.
    pub published: String,
    /// ISO 8601.
    pub originally_published_at: Option<String>,
    /// ISO 8601.
    pub updated: String,
    /// ISO 8601.
    pub upload_date: String,
    /// Hashtags.
    pub tag: Vec<Hashtag>,
    /// Media type of `content`.
    pub media_type: String,
    /// Description.
    pub content: Option<String>,
    /// Support text.
    pub support: Option<String>,
    /// Subtitle languages.
    pub subtitle_language: Vec<Value>,
    /// Thumbnail and preview.
    pub icon: Vec<Image>,
    /// Storyboards.
    pub preview: Vec<StoryboardImage>,
    /// Width over height, 4 decimals.
    pub aspect_ratio: Option<f64>,
    /// The Links.
    pub url: Vec<Link>,
    /// Likes collection.
    pub likes: String,
    /// Dislikes collection.
    pub dislikes: String,
    /// Shares collection.
    pub shares: String,
    /// Comments collection.
    pub comments: String,
    /// Account and channel.
    pub attributed_to: Vec<ActorRef>,
    /// A live.
    pub is_live_broadcast: bool,
    /// Live settings (lives only).
    pub live_save_replay: Option<bool>,
    /// Live settings (lives only).
    pub permanent_live: Option<bool>,
    /// Live settings (lives only).
    pub latency_mode: Option<u8>,
    /// Primary audience.
    pub to: Vec<String>,
    /// Secondary audience.
    pub cc: Vec<String>,
}

/// `PT<seconds>S` of a duration in seconds (rounded).
pub fn duration(seconds: f64) -> String {
    format!("PT{}S", seconds.round() as u64)
}

/// An aspect ratio rounded to 4 decimals, as PeerTube sends it.
pub fn aspect_ratio(r: f64) -> f64 {
    (r * 10_000.0).round() / 10_000.0
}
