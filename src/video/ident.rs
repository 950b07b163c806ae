//! How a video is named: its local id, its uuid, or PeerTube's short uuid (flickr base 58),
//! parsed once into a [`VideoRef`] that the store looks up.

/// How a request names a video: by its local id, or by its uuid (with or without hyphens) or
/// short uuid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoRef {
    /// The local numeric id (the REST API takes it).
    Id(u64),
    /// The uuid, hyphenated and lower case.
    Uuid(String),
}

impl VideoRef {
    /// Any of the three forms the REST API takes (`/api/v1/videos/{id|uuid|shortUUID}`).
    pub fn parse(key: &str) -> Option<VideoRef> {
        match key.parse::<u64>() {
            Ok(id) => Some(VideoRef::Id(id)),
            Err(_) => VideoRef::parse_uuid(key),
        }
    }

    /// A uuid or short uuid only, as the public URLs carry (`/videos/watch/{uuid}`, `/w/{short}`).
    pub fn parse_uuid(key: &str) -> Option<VideoRef> {
        uuid::Uuid::parse_str(key)
            .ok()
            .map(|u| u.hyphenated().to_string())
            .or_else(|| uuid_from_short(key))
            .map(VideoRef::Uuid)
    }
}

/// The alphabet of PeerTube's short UUIDs (`short-uuid`'s flickrBase58).
const BASE58: &[u8; 58] = b"123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
/// Length of a short UUID (padded with the alphabet's zero, as `short-uuid` does).
const SHORT_LEN: usize = 22;

/// PeerTube's `shortUUID` of a uuid: the 128-bit number in flickr base 58, padded to 22.
pub fn short_uuid(uuid: &str) -> String {
    let Ok(u) = uuid::Uuid::parse_str(uuid) else {
        return String::new();
    };
    let mut n = u.as_u128();
    let mut out = Vec::with_capacity(SHORT_LEN);
    while n > 0 {
        out.push(BASE58[(n % 58) as usize]);
        n /= 58;
    }
    while out.len() < SHORT_LEN {
        out.push(BASE58[0]);
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The uuid of a short UUID, when it is one.
pub fn uuid_from_short(short: &str) -> Option<String> {
    if short.is_empty() || short.len() > SHORT_LEN {
        return None;
    }
    let mut n: u128 = 0;
    for c in short.bytes() {
        let digit = BASE58.iter().position(|&b| b == c)? as u128;
        n = n.checked_mul(58)?.checked_add(digit)?;
    }
    Some(uuid::Uuid::from_u128(n).hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_uuids_round_trip() {
        let u = "9c9de5e8-0a1a-4d7b-8e7d-6c1f3c2d5e4f";
        let s = short_uuid(u);
        assert_eq!(s.len(), 22);
        assert_eq!(uuid_from_short(&s).as_deref(), Some(u));
        // A known pair from PeerTube's API (short-uuid with flickrBase58).
        assert_eq!(
            uuid_from_short("mBWmzAyEcXNXz2yrHB2Npt").as_deref(),
            uuid_from_short(&short_uuid(
                &uuid_from_short("mBWmzAyEcXNXz2yrHB2Npt").unwrap()
            ))
            .as_deref()
        );
        assert_eq!(uuid_from_short("0OIl"), None, "not in the alphabet");
    }
}
