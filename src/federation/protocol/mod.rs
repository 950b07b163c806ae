//! ActivityPub as Fleuve and PeerTube speak it (reference/peertube-interop.md §1–2): the
//! activities and objects instances exchange, as plain serde data with their validation and no
//! I/O. The inbox parses what it receives into [`activity::InboxActivity`] and dispatches on it;
//! the outbox, the actors and the `Video` documents we serve are built from the same types.
//!
//! * [`activity`]: `Follow`, `Undo`, `Accept`, `Reject`, `Create`, `Update`, `Delete`,
//!   `Announce`, and the enum the inbox dispatches on.
//! * [`video`]: the `Video` object we publish, with its `Link`s, `Infohash` tags and images.
//! * [`actor`]: the actor documents of the instance, accounts and channels.
//! * [`collection`]: `OrderedCollection` and its pages, paged as PeerTube pages them.
//! * [`cache_file`]: `CacheFile`, what redundancy announces.
//! * [`note`]: `Note`, a comment.
//! * [`received`]: what other instances send, read leniently (videos, actors).
//! * [`context`]: the `@context`s of the documents we emit.

pub(crate) mod activity;
pub(crate) mod actor;
// Typed and tested; nothing sends or receives it until redundancy (issue 18) does.
#[allow(dead_code)]
pub(crate) mod cache_file;
pub(crate) mod collection;
pub(crate) mod context;
pub(crate) mod note;
pub(crate) mod received;
pub(crate) mod video;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The ActivityStreams public collection.
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// Why an activity or object breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A required field is absent (or not of a usable kind).
    #[error("{what} has no {field}")]
    Missing {
        /// The activity or object.
        what: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field has a value the protocol does not allow.
    #[error("{field} {value} is not {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value received (as JSON, shortened).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A rule across fields (attribution, audience, playable files).
    #[error("{0}")]
    Rule(String),
}

impl ProtocolError {
    /// `field` has `value`, which is not `expected`.
    pub fn invalid(field: &'static str, value: &Value, expected: &'static str) -> ProtocolError {
        let mut value = value.to_string();
        if value.len() > 200 {
            let mut end = 200;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
            value.push('…');
        }
        ProtocolError::Invalid {
            field,
            value,
            expected,
        }
    }
}

/// A reference to an object: its id (URL), or the object itself (which has an `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ObjectRef<T = Value> {
    /// The object's id.
    Id(String),
    /// The object, embedded.
    Object(T),
}

impl ObjectRef<Value> {
    /// The id: the URL itself, or the embedded object's `id`.
    pub fn id(&self) -> Option<&str> {
        match self {
            ObjectRef::Id(s) => Some(s),
            ObjectRef::Object(o) => o.get("id").and_then(Value::as_str),
        }
    }

    /// The `type` of an embedded object (`None` for a bare id).
    pub fn kind(&self) -> Option<&str> {
        match self {
            ObjectRef::Id(_) => None,
            ObjectRef::Object(o) => o.get("type").and_then(Value::as_str),
        }
    }

    /// A field of an embedded object.
    pub fn get(&self, field: &str) -> Option<&Value> {
        match self {
            ObjectRef::Id(_) => None,
            ObjectRef::Object(o) => o.get(field),
        }
    }
}

impl<T> From<String> for ObjectRef<T> {
    fn from(id: String) -> ObjectRef<T> {
        ObjectRef::Id(id)
    }
}

/// The id of an object that is either a URL string or an object with an `id`.
pub fn id_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id").and_then(|i| i.as_str()),
        _ => None,
    }
}

/// An audience (`to`, `cc`): one URL or a list; what is not a URL string is left out.
pub(crate) fn audience<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s]),
        Some(Value::Array(a)) => Some(
            a.into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        Some(_) => Some(Vec::new()),
    })
}

/// Whether `id` is the public collection (in any of its spellings).
pub fn is_public_id(id: &str) -> bool {
    matches!(id, PUBLIC | "as:Public" | "Public")
}

/// Declares a one-value `type` (`"Follow"`, `"Video"`, …) as a serde enum.
macro_rules! kind {
    ($name:ident, $value:literal) => {
        #[doc = concat!("The `type` `", $value, "`.")]
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            #[doc = concat!("`", $value, "`.")]
            #[default]
            #[serde(rename = $value)]
            Kind,
        }
    };
}
pub(crate) use kind;
