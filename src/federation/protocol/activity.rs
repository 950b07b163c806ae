//! Activities: one generic envelope ([`Activity`]) with a `type` marker per kind, the aliases
//! the inbox and the outbox use (`Follow`, `Undo`, …), the enum the inbox dispatches on
//! ([`InboxActivity`]) and the splitting of a POST body into activities ([`activities_of`]).

use super::{audience, id_of, kind, ObjectRef, ProtocolError};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

kind!(FollowType, "Follow");
kind!(UndoType, "Undo");
kind!(AcceptType, "Accept");
kind!(RejectType, "Reject");
kind!(CreateType, "Create");
kind!(UpdateType, "Update");
kind!(DeleteType, "Delete");
kind!(AnnounceType, "Announce");
kind!(FlagType, "Flag");

/// An activity: who (`actor`) does what (`type`) to which `object`, for whom (`to`, `cc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity<K, O = ObjectRef> {
    /// The JSON-LD context (top-level documents only).
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The activity's id (empty when a received one has none).
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// The kind.
    #[serde(rename = "type")]
    pub kind: K,
    /// Who does it.
    pub actor: ObjectRef,
    /// Primary audience.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "audience"
    )]
    pub to: Option<Vec<String>>,
    /// Secondary audience.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "audience"
    )]
    pub cc: Option<Vec<String>>,
    /// What it is done to.
    pub object: O,
}

impl<K: Default, O> Activity<K, O> {
    /// An activity without context or audience.
    pub fn new(id: impl Into<String>, actor: impl Into<String>, object: O) -> Activity<K, O> {
        Activity {
            context: None,
            id: id.into(),
            kind: K::default(),
            actor: ObjectRef::Id(actor.into()),
            to: None,
            cc: None,
            object,
        }
    }

    /// With `@context`.
    pub fn with_context(mut self, context: Value) -> Activity<K, O> {
        self.context = Some(context);
        self
    }

    /// With `to` and `cc`.
    pub fn with_audience(mut self, to: Vec<String>, cc: Vec<String>) -> Activity<K, O> {
        self.to = Some(to);
        self.cc = Some(cc);
        self
    }
}

impl<K, O> Activity<K, O> {
    /// The actor's id (empty when it has none).
    pub fn actor_id(&self) -> &str {
        self.actor.id().unwrap_or_default()
    }
}

/// `Follow` of an actor.
pub type Follow = Activity<FollowType>;
/// `Undo` of an activity (a `Follow`, for us).
pub type Undo<O = ObjectRef> = Activity<UndoType, O>;
/// `Accept` of a `Follow`.
pub type Accept<O = ObjectRef> = Activity<AcceptType, O>;
/// `Reject` of a `Follow`.
pub type Reject<O = ObjectRef> = Activity<RejectType, O>;
/// `Create` of an object.
pub type Create<O = ObjectRef> = Activity<CreateType, O>;
/// `Update` of an object (a video, or the actor itself).
pub type Update<O = ObjectRef> = Activity<UpdateType, O>;
/// `Delete` of an object (a video, or the actor itself).
pub type Delete<O = ObjectRef> = Activity<DeleteType, O>;
/// `Announce` (share) of an object.
pub type Announce<O = ObjectRef> = Activity<AnnounceType, O>;

/// A verified activity as the inbox handles it: one variant per kind Fleuve acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxActivity {
    /// Someone follows one of our actors.
    Follow(Follow),
    /// Someone undoes an activity (an unfollow).
    Undo(Undo),
    /// Our follow is accepted.
    Accept(Accept),
    /// Our follow is rejected.
    Reject(Reject),
    /// A video (or other object) is created.
    Create(Create),
    /// A video, or an actor, is updated.
    Update(Update),
    /// A video, or an actor, is deleted.
    Delete(Delete),
    /// A video is shared.
    Announce(Announce),
    /// Someone reports one of our videos or accounts (PeerTube's abuse report).
    Flag(Flag),
    /// A kind Fleuve does not act on (its actor and object are there all the same).
    Other {
        /// Its `type` (empty when not a string).
        kind: String,
    },
}

impl InboxActivity {
    /// Parses a received activity: it must have an `actor` (an id, or an object with one) and
    /// an `object`; its `type` picks the variant.
    pub fn parse(act: &Value) -> Result<InboxActivity, ProtocolError> {
        act.get("actor")
            .and_then(id_of)
            .ok_or(ProtocolError::Missing {
                what: "activity",
                field: "actor",
            })?;
        act.get("object").ok_or(ProtocolError::Missing {
            what: "activity",
            field: "object",
        })?;
        let kind = act.get("type").and_then(Value::as_str).unwrap_or_default();
        fn typed<T: serde::de::DeserializeOwned>(act: &Value) -> Result<T, ProtocolError> {
            T::deserialize(act).map_err(|e| ProtocolError::Rule(format!("activity: {e}")))
        }
        Ok(match kind {
            "Follow" => InboxActivity::Follow(typed(act)?),
            "Undo" => InboxActivity::Undo(typed(act)?),
            "Accept" => InboxActivity::Accept(typed(act)?),
            "Reject" => InboxActivity::Reject(typed(act)?),
            "Create" => InboxActivity::Create(typed(act)?),
            "Update" => InboxActivity::Update(typed(act)?),
            "Delete" => InboxActivity::Delete(typed(act)?),
            "Announce" => InboxActivity::Announce(typed(act)?),
            "Flag" => InboxActivity::Flag(typed(act)?),
            other => InboxActivity::Other {
                kind: other.to_string(),
            },
        })
    }

    /// The `type`, for logs.
    #[cfg(test)]
    pub fn kind(&self) -> &str {
        match self {
            InboxActivity::Follow(_) => "Follow",
            InboxActivity::Undo(_) => "Undo",
            InboxActivity::Accept(_) => "Accept",
            InboxActivity::Reject(_) => "Reject",
            InboxActivity::Create(_) => "Create",
            InboxActivity::Update(_) => "Update",
            InboxActivity::Delete(_) => "Delete",
            InboxActivity::Announce(_) => "Announce",
            InboxActivity::Flag(_) => "Flag",
            InboxActivity::Other { kind } => kind,
        }
    }
}

/// A `Flag` as PeerTube sends it for an abuse report: `object` is the reported video's or
/// account's id (or a list of them), `content` the reason, `tag` the predefined reasons as
/// `Hashtag`s, `startAt`/`endAt` the reported part of a video (seconds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Flag {
    /// Activity id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// `Flag`.
    #[serde(rename = "type")]
    pub kind: FlagType,
    /// Who reports.
    pub actor: ObjectRef,
    /// What is reported: one id or several.
    pub object: Value,
    /// The reason.
    #[serde(default)]
    pub content: Option<String>,
    /// Predefined reasons (`{type: "Hashtag", name}`).
    #[serde(default)]
    pub tag: Vec<Value>,
    /// Start of the reported part of a video (seconds).
    #[serde(rename = "startAt", default)]
    pub start_at: Option<f64>,
    /// End of the reported part.
    #[serde(rename = "endAt", default)]
    pub end_at: Option<f64>,
}

impl Flag {
    /// The reporter's id.
    pub fn actor_id(&self) -> &str {
        self.actor.id().unwrap_or_default()
    }

    /// The reported objects' ids (strings, or objects with an `id`).
    pub fn objects(&self) -> Vec<String> {
        let one = |v: &Value| id_of(v).map(str::to_string);
        match &self.object {
            Value::Array(items) => items.iter().filter_map(one).collect(),
            v => one(v).into_iter().collect(),
        }
    }

    /// The predefined reasons among its tags.
    pub fn predefined_reasons(&self) -> Vec<String> {
        self.tag
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    }
}

/// Kinds whose ids the inbox never deduplicates: cheap, idempotent, and PeerTube reuses their
/// ids when an instance follows again after unfollowing.
pub fn is_follow_lifecycle(kind: &str) -> bool {
    matches!(kind, "Follow" | "Undo" | "Accept" | "Reject")
}

/// Activities accepted from one POST (a collection).
pub const MAX_ACTIVITIES_PER_POST: usize = 100;

/// The activities of a POST body: one activity, or a (paged, ordered) collection of them (at
/// most [`MAX_ACTIVITIES_PER_POST`], objects only).
pub fn activities_of(doc: Value) -> Vec<Value> {
    let kind = doc.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    if matches!(
        kind,
        "Collection" | "CollectionPage" | "OrderedCollection" | "OrderedCollectionPage"
    ) {
        let key = if kind.starts_with("Ordered") {
            "orderedItems"
        } else {
            "items"
        };
        return doc
            .get(key)
            .and_then(|i| i.as_array())
            .map(|a| {
                a.iter()
                    .filter(|v| v.is_object())
                    .take(MAX_ACTIVITIES_PER_POST)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
    }
    vec![doc]
}

/// Whether `act` is `signer` deleting itself.
pub fn is_self_delete(act: &Value, signer: &str) -> bool {
    act.get("type").and_then(|t| t.as_str()) == Some("Delete")
        && act.get("actor").and_then(id_of) == Some(signer)
        && act.get("object").and_then(id_of) == Some(signer)
}

/// A string, or empty when the value is absent or not a string.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => s,
        _ => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn corpus(name: &str) -> Value {
        let path = format!(
            "{}/fuzz/corpus/activitypub_inbox/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn peertube_create_is_a_create_of_a_video() {
        let doc = corpus("peertube-create-video-signed.json");
        let InboxActivity::Create(c) = InboxActivity::parse(&doc).unwrap() else {
            panic!("not a Create");
        };
        assert_eq!(c.object.kind(), Some("Video"));
        assert!(c.actor_id().starts_with("http"));
        assert!(c.object.id().is_some_and(|i| i.starts_with("http")));
    }

    #[test]
    fn mastodon_create_parses() {
        let doc = corpus("mastodon-create-ld-signed.json");
        let a = InboxActivity::parse(&doc).unwrap();
        assert_eq!(a.kind(), "Create");
    }

    #[test]
    fn a_collection_splits_into_follow_undo_delete() {
        let doc = corpus("collection-follow-undo-delete.json");
        let kinds: Vec<String> = activities_of(doc)
            .iter()
            .map(|a| InboxActivity::parse(a).unwrap().kind().to_string())
            .collect();
        assert!(kinds.iter().any(|k| k == "Follow"), "{kinds:?}");
        assert!(kinds.iter().any(|k| k == "Undo"), "{kinds:?}");
        assert!(kinds.iter().any(|k| k == "Delete"), "{kinds:?}");
    }

    #[test]
    fn announce_without_context_parses() {
        let doc = corpus("announce-without-context.json");
        let InboxActivity::Announce(a) = InboxActivity::parse(&doc).unwrap() else {
            panic!("not an Announce");
        };
        assert!(a.object.id().is_some());
    }

    #[test]
    fn missing_actor_or_object_is_named() {
        let e = InboxActivity::parse(&json!({"type": "Follow", "object": "https://a/x"}));
        assert_eq!(e.unwrap_err().to_string(), "activity has no actor");
        let e = InboxActivity::parse(&json!({"type": "Follow", "actor": "https://a/x"}));
        assert_eq!(e.unwrap_err().to_string(), "activity has no object");
        let e = InboxActivity::parse(&json!({"type": "Follow", "actor": 5, "object": "x"}));
        assert!(e.is_err());
    }

    #[test]
    fn unknown_kinds_are_kept_as_other() {
        let a = InboxActivity::parse(
            &json!({"type": "Like", "actor": "https://a/u", "object": "https://b/v"}),
        );
        assert_eq!(
            a.unwrap(),
            InboxActivity::Other {
                kind: "Like".into()
            }
        );
        let a =
            InboxActivity::parse(&json!({"type": ["Like"], "actor": "https://a/u", "object": "x"}));
        assert_eq!(
            a.unwrap(),
            InboxActivity::Other {
                kind: String::new()
            }
        );
    }

    #[test]
    fn lenient_fields_do_not_refuse_an_activity() {
        let a = InboxActivity::parse(&json!({
            "type": "Follow", "id": 7, "actor": {"id": "https://a/u", "type": "Person"},
            "object": "https://b/accounts/peertube", "to": "https://b/x", "cc": [1, "https://c"]
        }))
        .unwrap();
        let InboxActivity::Follow(f) = a else {
            panic!()
        };
        assert_eq!(f.id, "");
        assert_eq!(f.actor_id(), "https://a/u");
        assert_eq!(f.to, Some(vec!["https://b/x".to_string()]));
        assert_eq!(f.cc, Some(vec!["https://c".to_string()]));
    }

    /// The Undo, Accept and Delete we send have the fields and values of the `json!`
    /// literals they replace.
    #[test]
    fn outgoing_undo_accept_delete_are_what_we_sent_before() {
        let ctx = json!(["https://www.w3.org/ns/activitystreams"]);
        let me = "https://a/accounts/peertube";
        let follow: Follow = Activity::new(
            "https://a/follows/1",
            me,
            ObjectRef::Id("https://b/accounts/peertube".into()),
        );
        let undo: Undo<Follow> =
            Activity::new("https://a/follows/1/undo", me, follow).with_context(ctx.clone());
        assert_eq!(
            serde_json::to_value(&undo).unwrap(),
            json!({
                "@context": ctx, "id": "https://a/follows/1/undo", "type": "Undo", "actor": me,
                "object": {"id": "https://a/follows/1", "type": "Follow", "actor": me, "object": "https://b/accounts/peertube"},
            })
        );
        let theirs: Follow = Activity::new(
            "https://b/f/9",
            "https://b/accounts/u",
            ObjectRef::Id(me.into()),
        );
        let accept: Accept<Follow> =
            Activity::new("https://a/accepts/follows/ab", me, theirs).with_context(ctx.clone());
        assert_eq!(
            serde_json::to_value(&accept).unwrap(),
            json!({
                "@context": ctx, "id": "https://a/accepts/follows/ab", "type": "Accept", "actor": me,
                "object": {"id": "https://b/f/9", "type": "Follow", "actor": "https://b/accounts/u", "object": me},
            })
        );
        let delete: Delete = Activity::new(
            "https://a/videos/watch/u/delete",
            "https://a/accounts/root",
            ObjectRef::Id("https://a/videos/watch/u".into()),
        )
        .with_context(ctx.clone())
        .with_audience(
            vec![super::super::PUBLIC.into()],
            vec!["https://a/accounts/root/followers".into()],
        );
        assert_eq!(
            serde_json::to_value(&delete).unwrap(),
            json!({
                "@context": ctx, "id": "https://a/videos/watch/u/delete", "type": "Delete",
                "actor": "https://a/accounts/root", "to": [super::super::PUBLIC],
                "cc": ["https://a/accounts/root/followers"], "object": "https://a/videos/watch/u",
            })
        );
        // And they read back as what the inbox dispatches on.
        let back = InboxActivity::parse(&serde_json::to_value(&undo).unwrap()).unwrap();
        assert_eq!(back.kind(), "Undo");
    }

    #[test]
    fn outgoing_follow_is_what_we_sent_before() {
        let f = Follow::new(
            "https://a/follows/1",
            "https://a/accounts/peertube",
            ObjectRef::Id("https://b/accounts/peertube".into()),
        )
        .with_context(json!(["https://www.w3.org/ns/activitystreams"]));
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            json!({
                "@context": ["https://www.w3.org/ns/activitystreams"],
                "id": "https://a/follows/1",
                "type": "Follow",
                "actor": "https://a/accounts/peertube",
                "object": "https://b/accounts/peertube",
            })
        );
    }
}
