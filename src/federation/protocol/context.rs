//! The `@context`s of the documents we emit: PeerTube's contexts, limited to the terms we use
//! (every term must be known for the Linked-Data signatures we add to verify).

use serde_json::{json, Value};

/// The `@context` of activities that carry no Video.
pub fn activity() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"}
    ])
}

/// The `@context` of Video documents (PeerTube's Video context, the terms we emit).
pub fn video() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"},
        {
            "pt": "https://joinpeertube.org/ns#",
            "sc": "http://schema.org/",
            "Hashtag": "as:Hashtag",
            "category": "sc:category",
            "licence": "sc:license",
            "subtitleLanguage": "sc:subtitleLanguage",
            "automaticallyGenerated": "pt:automaticallyGenerated",
            "sensitive": "as:sensitive",
            "language": "sc:inLanguage",
            "identifier": "sc:identifier",
            "isLiveBroadcast": "sc:isLiveBroadcast",
            "Infohash": "pt:Infohash",
            "aspectRatio": {"@type": "sc:Float", "@id": "pt:aspectRatio"},
            "uuid": {"@type": "sc:identifier", "@id": "pt:uuid"},
            "originallyPublishedAt": "sc:datePublished",
            "uploadDate": "sc:uploadDate",
            "views": {"@type": "sc:Number", "@id": "pt:views"},
            "state": {"@type": "sc:Number", "@id": "pt:state"},
            "size": {"@type": "sc:Number", "@id": "pt:size"},
            "fps": {"@type": "sc:Number", "@id": "pt:fps"},
            "commentsPolicy": {"@type": "sc:Number", "@id": "pt:commentsPolicy"},
            "downloadEnabled": {"@type": "sc:Boolean", "@id": "pt:downloadEnabled"},
            "waitTranscoding": {"@type": "sc:Boolean", "@id": "pt:waitTranscoding"},
            "support": {"@type": "sc:Text", "@id": "pt:support"},
            "likes": {"@id": "as:likes", "@type": "@id"},
            "dislikes": {"@id": "as:dislikes", "@type": "@id"},
            "shares": {"@id": "as:shares", "@type": "@id"},
            "comments": {"@id": "as:comments", "@type": "@id"},
            "PropertyValue": "sc:PropertyValue",
            "value": "sc:value"
        }
    ])
}

/// The `@context` of actor documents (PeerTube's Actor context).
pub fn actor() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"},
        {
            "pt": "https://joinpeertube.org/ns#",
            "sc": "http://schema.org/",
            "playlists": {"@id": "pt:playlists", "@type": "@id"},
            "support": {"@type": "sc:Text", "@id": "pt:support"},
            "lemmy": "https://join-lemmy.org/ns#",
            "postingRestrictedToMods": "lemmy:postingRestrictedToMods"
        }
    ])
}

/// The `@context` of `CacheFile` activities (PeerTube's CacheFile context).
pub fn cache_file() -> Value {
    json!([
        "https://www.w3.org/ns/activitystreams",
        "https://w3id.org/security/v1",
        {"RsaSignature2017": "https://w3id.org/security#RsaSignature2017"},
        {
            "pt": "https://joinpeertube.org/ns#",
            "sc": "http://schema.org/",
            "expires": "sc:expires",
            "CacheFile": "pt:CacheFile"
        }
    ])
}
