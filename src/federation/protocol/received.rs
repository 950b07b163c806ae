//! What other instances send us, as serde types read as leniently as PeerTube's own sanitizers
//! read them: a field of the wrong kind is absent rather than fatal, and a list item of the
//! wrong kind is left out. The rules that decide whether an object is usable (which fields are
//! required, URL schemes, lengths, attribution, audience) are checked on these types by
//! [`crate::federation::remote_videos::parse`] and [`crate::federation::remote::parse_actor`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `Some` when the value deserializes as `T`, `None` for anything else (absent, null, or of
/// another kind).
pub(crate) fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// The items of an array that deserialize as `T` (`None` when it is not an array).
pub(crate) fn lenient_list<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => Some(
            items
                .into_iter()
                .filter_map(|i| serde_json::from_value(i).ok())
                .collect(),
        ),
        _ => None,
    })
}

/// A non-negative count from any JSON number (a fraction is cut, a negative one is 0).
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        _ => None,
    })
}

/// An audience (`to`, `cc`): one URL or a list; what is not a string is left out.
pub(crate) fn audience<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(super::audience(d)?.unwrap_or_default())
}

/// One entry of `attributedTo`: an actor's id, or an actor named by type and id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Attribution {
    /// A bare id.
    Id(String),
    /// `{type, id}`.
    Actor {
        /// Its id.
        id: String,
        /// `Person`, `Group`, … (absent or not a string: unknown).
        #[serde(rename = "type", default, deserialize_with = "lenient")]
        kind: Option<String>,
    },
}

impl Attribution {
    /// The actor's id.
    pub fn id(&self) -> &str {
        match self {
            Attribution::Id(id) | Attribution::Actor { id, .. } => id,
        }
    }

    /// The actor's type, when given.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Attribution::Id(_) => None,
            Attribution::Actor { kind, .. } => kind.as_deref(),
        }
    }
}

/// A `Link` of a received `Video`'s `url` (and a tag of the HLS playlist's `Link`, which is
/// either another `Link` or an `Infohash`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReceivedLink {
    /// `Link`, `Infohash`.
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// `sha256` (segments hashes), an info-hash (for `Infohash`).
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    /// `["tracker", "websocket"]`, `["metadata", …]`.
    #[serde(deserialize_with = "lenient_list")]
    pub rel: Option<Vec<Value>>,
    /// The target's media type.
    #[serde(deserialize_with = "lenient")]
    pub media_type: Option<String>,
    /// The target.
    #[serde(deserialize_with = "lenient")]
    pub href: Option<String>,
    /// A file's height.
    #[serde(deserialize_with = "count")]
    pub height: Option<u64>,
    /// A file's width.
    #[serde(deserialize_with = "count")]
    pub width: Option<u64>,
    /// A file's size in bytes.
    #[serde(deserialize_with = "count")]
    pub size: Option<u64>,
    /// A file's frame rate.
    #[serde(deserialize_with = "lenient")]
    pub fps: Option<f64>,
    /// A playlist's tags.
    #[serde(deserialize_with = "lenient_list")]
    pub tag: Option<Vec<ReceivedLink>>,
}

impl ReceivedLink {
    /// The first `rel`, when it is a string.
    pub fn first_rel(&self) -> Option<&str> {
        self.rel.as_ref()?.first()?.as_str()
    }
}

/// An `icon` image.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReceivedImage {
    /// Where it is.
    #[serde(deserialize_with = "lenient")]
    pub url: Option<String>,
    /// Pixels.
    #[serde(deserialize_with = "count")]
    pub width: Option<u64>,
}

/// A `preview` entry (PeerTube's `ActivityPubStoryboard`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReceivedStoryboard {
    /// `["storyboard"]`.
    #[serde(deserialize_with = "lenient_list")]
    pub rel: Option<Vec<String>>,
    /// Its sheets.
    #[serde(deserialize_with = "lenient_list")]
    pub url: Option<Vec<ReceivedSheet>>,
}

/// A storyboard's sprite sheet.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReceivedSheet {
    /// Where it is.
    #[serde(deserialize_with = "lenient")]
    pub href: Option<String>,
    /// `image/jpeg`.
    #[serde(deserialize_with = "lenient")]
    pub media_type: Option<String>,
    /// The sheet's width.
    #[serde(deserialize_with = "count")]
    pub width: Option<u64>,
    /// The sheet's height.
    #[serde(deserialize_with = "count")]
    pub height: Option<u64>,
    /// One sprite's width.
    #[serde(deserialize_with = "count")]
    pub tile_width: Option<u64>,
    /// One sprite's height.
    #[serde(deserialize_with = "count")]
    pub tile_height: Option<u64>,
    /// `PT<n>S`.
    #[serde(deserialize_with = "lenient")]
    pub tile_duration: Option<String>,
}

/// PeerTube's `{identifier, name}` for a category, licence or language.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Identifier {
    /// `"15"`, `"fr"`.
    #[serde(deserialize_with = "lenient")]
    pub identifier: Option<String>,
}

/// A `Hashtag` of `tag`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Hashtag {
    /// `Hashtag`.
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// The tag, without `#`.
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
}

/// A received `Video` object: the fields Fleuve keeps.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReceivedVideo {
    /// `Video`.
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// Its id (watch URL).
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    /// Title.
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    /// UUID.
    #[serde(deserialize_with = "lenient")]
    pub uuid: Option<String>,
    /// `PT<seconds>S`.
    #[serde(deserialize_with = "lenient")]
    pub duration: Option<String>,
    /// ISO 8601.
    #[serde(deserialize_with = "lenient")]
    pub published: Option<String>,
    /// ISO 8601.
    #[serde(deserialize_with = "lenient")]
    pub updated: Option<String>,
    /// ISO 8601.
    #[serde(deserialize_with = "lenient")]
    pub originally_published_at: Option<String>,
    /// Description (Markdown).
    #[serde(deserialize_with = "lenient")]
    pub content: Option<String>,
    /// Views.
    #[serde(deserialize_with = "count")]
    pub views: Option<u64>,
    /// Width over height.
    #[serde(deserialize_with = "lenient")]
    pub aspect_ratio: Option<f64>,
    /// PeerTube's comments policy (1 enabled, 2 disabled, 3 requires approval).
    #[serde(deserialize_with = "count")]
    pub comments_policy: Option<u64>,
    /// PeerTube 6's boolean before `commentsPolicy`.
    #[serde(deserialize_with = "lenient")]
    pub comments_enabled: Option<bool>,
    /// Sensitive content (NSFW).
    #[serde(deserialize_with = "lenient")]
    pub sensitive: Option<bool>,
    /// Category.
    #[serde(deserialize_with = "lenient")]
    pub category: Option<Identifier>,
    /// Licence.
    #[serde(deserialize_with = "lenient")]
    pub licence: Option<Identifier>,
    /// Language.
    #[serde(deserialize_with = "lenient")]
    pub language: Option<Identifier>,
    /// Hashtags.
    #[serde(deserialize_with = "lenient_list")]
    pub tag: Option<Vec<Hashtag>>,
    /// Account and channel.
    #[serde(deserialize_with = "lenient_list")]
    pub attributed_to: Option<Vec<Attribution>>,
    /// The Links (`None`: absent or not an array).
    #[serde(deserialize_with = "lenient_list")]
    pub url: Option<Vec<ReceivedLink>>,
    /// Thumbnail and preview.
    #[serde(deserialize_with = "lenient_list")]
    pub icon: Option<Vec<ReceivedImage>>,
    /// Storyboards.
    #[serde(deserialize_with = "lenient_list")]
    pub preview: Option<Vec<ReceivedStoryboard>>,
    /// Primary audience.
    #[serde(deserialize_with = "audience")]
    pub to: Vec<String>,
    /// Secondary audience.
    #[serde(deserialize_with = "audience")]
    pub cc: Vec<String>,
}

/// A received actor's public key.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReceivedKey {
    /// `<actor>#main-key`.
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The actor.
    #[serde(deserialize_with = "lenient")]
    pub owner: Option<String>,
    /// SPKI PEM.
    #[serde(deserialize_with = "lenient")]
    pub public_key_pem: Option<String>,
}

/// A received actor's endpoints.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReceivedEndpoints {
    /// The instance's shared inbox.
    #[serde(deserialize_with = "lenient")]
    pub shared_inbox: Option<String>,
}

/// `publicKey`: one key, or a list of which the first is used.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Keys {
    /// Several (first: an array would also fill a struct field by field).
    Many(Vec<ReceivedKey>),
    /// One key.
    One(ReceivedKey),
}

/// A received actor document: the fields Fleuve keeps.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReceivedActor {
    /// Its id.
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    /// `Person`, `Group`, …
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// Its handle's name.
    #[serde(deserialize_with = "lenient")]
    pub preferred_username: Option<String>,
    /// Its inbox.
    #[serde(deserialize_with = "lenient")]
    pub inbox: Option<String>,
    /// Who follows it.
    #[serde(deserialize_with = "lenient")]
    pub followers: Option<String>,
    /// Its outbox.
    #[serde(deserialize_with = "lenient")]
    pub outbox: Option<String>,
    /// Shared inbox.
    #[serde(deserialize_with = "lenient")]
    pub endpoints: Option<ReceivedEndpoints>,
    /// Its key(s).
    #[serde(deserialize_with = "lenient")]
    pub public_key: Option<Keys>,
}

impl ReceivedActor {
    /// The key in use: the only one, or the first of a list.
    pub fn key(&self) -> Option<&ReceivedKey> {
        match self.public_key.as_ref()? {
            Keys::One(k) => Some(k),
            Keys::Many(ks) => ks.first(),
        }
    }
}
