//! Who a video is for, with PeerTube's privacy ids (`VideoPrivacy`: 1 public, 2 unlisted,
//! 3 private, 4 internal, 5 password protected). Stored, sent and received as the bare id.

use serde::{Deserialize, Serialize};

/// A video's privacy. Serialized as PeerTube's numeric id, as the store has always held it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Privacy {
    /// Listed and watchable by anyone (1).
    Public,
    /// Not listed, but anyone with the link may watch (2).
    Unlisted,
    /// Its owner (and administrators) only (3).
    Private,
    /// Any logged-in user of this instance (4).
    Internal,
    /// PeerTube 6's password-protected videos (5): Fleuve does not check video passwords, so
    /// only the owner.
    PasswordProtected,
}

/// An id that is not one of PeerTube's privacies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("privacy must be 1 to 5 (got {0})")]
pub struct UnknownPrivacy(pub u64);

impl Privacy {
    /// PeerTube's id.
    pub fn id(self) -> u8 {
        match self {
            Privacy::Public => 1,
            Privacy::Unlisted => 2,
            Privacy::Private => 3,
            Privacy::Internal => 4,
            Privacy::PasswordProtected => 5,
        }
    }

    /// The privacy of PeerTube's id `id`.
    pub fn from_id(id: u64) -> Result<Privacy, UnknownPrivacy> {
        Ok(match id {
            1 => Privacy::Public,
            2 => Privacy::Unlisted,
            3 => Privacy::Private,
            4 => Privacy::Internal,
            5 => Privacy::PasswordProtected,
            _ => return Err(UnknownPrivacy(id)),
        })
    }

    /// PeerTube's label.
    pub fn label(self) -> &'static str {
        match self {
            Privacy::Public => "Public",
            Privacy::Unlisted => "Unlisted",
            Privacy::Private => "Private",
            Privacy::Internal => "Internal",
            Privacy::PasswordProtected => "Password protected",
        }
    }

    /// Whether the files live in the private directories
    /// (`streaming-playlists/hls/private/<uuid>/`) and need a video file token or OAuth:
    /// PeerTube's `isVideoInPrivateDirectory` (private, internal, password protected).
    pub fn files_are_private(self) -> bool {
        !matches!(self, Privacy::Public | Privacy::Unlisted)
    }

    /// Whether a video with this privacy is federated (PeerTube's `hasPrivacyForFederation`).
    pub fn is_federated(self) -> bool {
        matches!(self, Privacy::Public | Privacy::Unlisted)
    }
}

impl From<Privacy> for u8 {
    fn from(p: Privacy) -> u8 {
        p.id()
    }
}

impl TryFrom<u8> for Privacy {
    type Error = UnknownPrivacy;
    fn try_from(id: u8) -> Result<Privacy, UnknownPrivacy> {
        Privacy::from_id(u64::from(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_bare_numbers() {
        for id in 1..=5u8 {
            let p = Privacy::try_from(id).unwrap();
            assert_eq!(p.id(), id);
            assert_eq!(serde_json::to_string(&p).unwrap(), id.to_string());
            assert_eq!(serde_json::from_str::<Privacy>(&id.to_string()).unwrap(), p);
        }
        assert!(serde_json::from_str::<Privacy>("0").is_err());
        assert!(serde_json::from_str::<Privacy>("6").is_err());
        assert_eq!(Privacy::from_id(9), Err(UnknownPrivacy(9)));
    }

    #[test]
    fn private_directories_follow_peertube() {
        assert!(!Privacy::Public.files_are_private() && !Privacy::Unlisted.files_are_private());
        for p in [
            Privacy::Private,
            Privacy::Internal,
            Privacy::PasswordProtected,
        ] {
            assert!(p.files_are_private(), "{p:?}");
            assert!(!p.is_federated(), "{p:?}");
        }
    }
}
