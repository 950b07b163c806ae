//! Visibility rules, on the video itself: who may see a video's record, who may read its files,
//! whether anyone may watch it, whether it is listed, and whether its files are in the private
//! directories. Every layer (API, pages, federation, media access, tracker) asks these; none
//! writes the rule again.

use super::privacy::Privacy;
use super::record::{Video, VideoState};

/// Who is asking, as the rules need it: a logged-in user's id and whether their role sees every
/// video (PeerTube's `SEE_ALL_VIDEOS`: administrators and moderators; the store's `User` gives
/// one with `User::viewer`). Anonymous viewers are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The user's id.
    pub id: u64,
    /// Whether the user's role sees every video.
    pub sees_all: bool,
}

impl Video {
    /// Whether it is transcoded and published.
    pub fn is_published(&self) -> bool {
        self.state == VideoState::Published
    }

    /// Whether it is ours (not a video of another instance).
    pub fn is_local(&self) -> bool {
        self.remote.is_none()
    }

    /// Whether anyone, logged in or not, may watch it (its watch and embed pages, its
    /// ActivityPub object): published, public or unlisted.
    pub fn is_viewable(&self) -> bool {
        self.is_published() && !self.privacy.files_are_private() && self.blacklist.is_none()
    }

    /// Whether it appears in lists (the API's video list, the home page, outboxes): published,
    /// public and not blocked by a moderator.
    pub fn is_listed(&self) -> bool {
        self.is_published() && self.privacy == Privacy::Public && self.blacklist.is_none()
    }

    /// Whether followers should have it: a privacy that federates (public or unlisted) and no
    /// moderator's block that unfederated it.
    pub fn is_federated(&self) -> bool {
        self.privacy.is_federated() && !self.blacklist.as_ref().is_some_and(|b| b.unfederated)
    }

    /// Whether its info-hashes belong on the tracker's allowlist: files on the public side and
    /// no moderator's block.
    pub fn is_shared(&self) -> bool {
        !self.files_are_private() && self.blacklist.is_none()
    }

    /// Whether its files live in the private directories (see [`Privacy::files_are_private`]).
    pub fn files_are_private(&self) -> bool {
        self.privacy.files_are_private()
    }

    fn is_owner_or_admin(&self, viewer: Option<Viewer>) -> bool {
        viewer.is_some_and(|u| u.id == self.owner || u.sees_all)
    }

    /// The owner and administrators always; others once it is published and unless a moderator
    /// blocked it: internal videos to any logged-in user, and the privacies in `open` to anyone.
    fn allows(&self, viewer: Option<Viewer>, open: &[Privacy]) -> bool {
        if self.is_owner_or_admin(viewer) {
            return true;
        }
        self.is_published()
            && self.blacklist.is_none()
            && match self.privacy {
                Privacy::Internal => viewer.is_some(),
                p => open.contains(&p),
            }
    }

    /// Whether `viewer` (None: anonymous) may see its record in the API (a password-protected
    /// video's record is visible, as on PeerTube; its files are not).
    pub fn may_see(&self, viewer: Option<Viewer>) -> bool {
        use Privacy::*;
        self.allows(viewer, &[Public, Unlisted, PasswordProtected])
    }

    /// Whether `viewer` may read its files (and be given a video file token for them).
    pub fn may_read_files(&self, viewer: Option<Viewer>) -> bool {
        self.allows(viewer, &[Privacy::Public, Privacy::Unlisted])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A local video for tests (id 1, uuid `u`), published, with `privacy`.
    pub(crate) fn video(privacy: Privacy) -> Video {
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
            storyboard: None,
            error: None,
            remote: None,
            federated_at: None,
            unfederated_at: None,
            comments_policy: Default::default(),
            meta: Default::default(),
            web_videos: Vec::new(),
            source_file: None,
            blacklist: None,
        }
    }

    fn user(id: u64, sees_all: bool) -> Viewer {
        Viewer { id, sees_all }
    }

    #[test]
    fn who_reads_which_files() {
        let owner = user(7, false);
        let other = user(8, false);
        let admin = user(9, true);
        let private = video(Privacy::Private);
        assert!(private.may_read_files(Some(owner)));
        assert!(private.may_read_files(Some(admin)));
        assert!(!private.may_read_files(Some(other)));
        assert!(!private.may_read_files(None));
        let internal = video(Privacy::Internal);
        assert!(internal.may_read_files(Some(other)));
        assert!(!internal.may_read_files(None));
        assert!(!internal.may_see(None) && internal.may_see(Some(other)));
        assert!(video(Privacy::Unlisted).may_read_files(None));
        let mut pending = video(Privacy::Public);
        pending.state = VideoState::ToTranscode;
        assert!(!pending.may_read_files(None) && pending.may_read_files(Some(owner)));
        assert!(!video(Privacy::PasswordProtected).may_read_files(Some(other)));
    }

    #[test]
    fn viewable_and_listed() {
        assert!(video(Privacy::Public).is_viewable() && video(Privacy::Public).is_listed());
        let unlisted = video(Privacy::Unlisted);
        assert!(unlisted.is_viewable() && !unlisted.is_listed());
        for p in [
            Privacy::Private,
            Privacy::Internal,
            Privacy::PasswordProtected,
        ] {
            assert!(!video(p).is_viewable() && !video(p).is_listed(), "{p:?}");
        }
        let mut pending = video(Privacy::Public);
        pending.state = VideoState::ToTranscode;
        assert!(!pending.is_viewable() && !pending.is_listed());
    }
}
