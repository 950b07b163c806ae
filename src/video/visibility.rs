//! Visibility rules, with PeerTube's privacy ids (1 public, 2 unlisted, 3 private, 4 internal,
//! 5 password protected): who may see a video's record, who may read its files, whether its
//! files are in the private directories and whether it is federated.

use crate::store::tables::{Role, User};
use crate::store::videos::{Video, VideoState};

/// Public.
pub const PUBLIC: u8 = 1;
/// Unlisted: not in lists, but anyone with the link may watch.
pub const UNLISTED: u8 = 2;
/// Private: its owner (and administrators) only.
pub const PRIVATE: u8 = 3;
/// Internal: any logged-in user of this instance.
pub const INTERNAL: u8 = 4;
/// Password protected (PeerTube 6): Fleuve does not check video passwords, so only the owner.
pub const PASSWORD_PROTECTED: u8 = 5;

/// Whether the files of a video with this privacy live in the private directories
/// (`streaming-playlists/hls/private/<uuid>/`) and need a video file token or OAuth: PeerTube's
/// `isVideoInPrivateDirectory` (private, internal, password protected).
pub fn files_are_private(privacy: u8) -> bool {
    !matches!(privacy, PUBLIC | UNLISTED)
}

/// Whether a video with this privacy is federated (PeerTube's `hasPrivacyForFederation`).
pub fn is_federated(privacy: u8) -> bool {
    matches!(privacy, PUBLIC | UNLISTED)
}

fn is_owner_or_admin(video: &Video, viewer: Option<&User>) -> bool {
    viewer.is_some_and(|u| u.id == video.owner || u.role == Role::Administrator)
}

/// Whether `viewer` (None: anonymous) may see the video's record in the API.
pub fn may_see(video: &Video, viewer: Option<&User>) -> bool {
    if is_owner_or_admin(video, viewer) {
        return true;
    }
    if video.state != VideoState::Published {
        return false;
    }
    match video.privacy {
        PRIVATE => false,
        INTERNAL => viewer.is_some(),
        _ => true,
    }
}

/// Whether `viewer` may read the video's files (and be given a video file token for them).
pub fn may_read_files(video: &Video, viewer: Option<&User>) -> bool {
    if is_owner_or_admin(video, viewer) {
        return true;
    }
    if video.state != VideoState::Published {
        return false;
    }
    match video.privacy {
        PUBLIC | UNLISTED => true,
        INTERNAL => viewer.is_some(),
        _ => false,
    }
}

/// Whether anyone, logged in or not, may open the video's watch and embed pages.
pub fn has_public_page(video: &Video) -> bool {
    video.state == VideoState::Published && !files_are_private(video.privacy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(privacy: u8) -> Video {
        Video {
            id: 1,
            uuid: "u".into(),
            name: "n".into(),
            description: None,
            channel_id: 1,
            owner: 7,
            privacy,
            state: VideoState::Published,
            duration: 1.0,
            aspect_ratio: None,
            source: None,
            original_filename: String::new(),
            created_at: 0,
            updated_at: 0,
            published_at: Some(0),
            hls: None,
            thumbnail: None,
            preview: None,
            error: None,
            remote: None,
            federated_at: None,
            unfederated_at: None,
        }
    }

    fn user(id: u64, role: Role) -> User {
        User {
            id,
            username: format!("u{id}"),
            email: String::new(),
            password_hash: String::new(),
            role,
            display_name: String::new(),
            created_at: 0,
        }
    }

    #[test]
    fn private_directories_follow_peertube() {
        assert!(!files_are_private(PUBLIC) && !files_are_private(UNLISTED));
        for p in [PRIVATE, INTERNAL, PASSWORD_PROTECTED] {
            assert!(files_are_private(p), "{p}");
            assert!(!is_federated(p), "{p}");
        }
    }

    #[test]
    fn who_reads_which_files() {
        let owner = user(7, Role::User);
        let other = user(8, Role::User);
        let admin = user(9, Role::Administrator);
        let private = video(PRIVATE);
        assert!(may_read_files(&private, Some(&owner)));
        assert!(may_read_files(&private, Some(&admin)));
        assert!(!may_read_files(&private, Some(&other)));
        assert!(!may_read_files(&private, None));
        let internal = video(INTERNAL);
        assert!(may_read_files(&internal, Some(&other)));
        assert!(!may_read_files(&internal, None));
        assert!(!may_see(&internal, None) && may_see(&internal, Some(&other)));
        assert!(may_read_files(&video(UNLISTED), None));
        let mut pending = video(PUBLIC);
        pending.state = VideoState::ToTranscode;
        assert!(!may_read_files(&pending, None) && may_read_files(&pending, Some(&owner)));
        assert!(!may_read_files(&video(PASSWORD_PROTECTED), Some(&other)));
    }
}
