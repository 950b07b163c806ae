//! Video playlists as PeerTube has them (`VideoPlaylist`, `VideoPlaylistElement`): a user's
//! ordered list of videos, regular or their "Watch later" list, public, unlisted or private,
//! optionally shown on one of their channels. Plain data and the rules on it (names, texts,
//! timestamps, reordering), below the store and the API.

use serde::{Deserialize, Serialize};

/// Videos one playlist may hold (PeerTube has no bound; ours keeps the record small).
pub const MAX_ELEMENTS: usize = 5000;
/// Playlists one user may have.
pub const MAX_PER_USER: usize = 500;
/// Longest display name (PeerTube's `VIDEO_PLAYLISTS.NAME`: 1 to 120).
const MAX_NAME: usize = 120;
/// Longest description (PeerTube's `VIDEO_PLAYLISTS.DESCRIPTION`: 1000).
const MAX_DESCRIPTION: usize = 1000;

/// Who a playlist is for (PeerTube's `VideoPlaylistPrivacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaylistPrivacy {
    /// Listed and federated.
    Public,
    /// Anyone with the link; federated, not listed.
    Unlisted,
    /// Its owner only; never federated.
    Private,
}

impl PlaylistPrivacy {
    /// PeerTube's id.
    pub fn id(self) -> u8 {
        match self {
            PlaylistPrivacy::Public => 1,
            PlaylistPrivacy::Unlisted => 2,
            PlaylistPrivacy::Private => 3,
        }
    }

    /// From PeerTube's id.
    pub fn from_id(id: u64) -> Option<PlaylistPrivacy> {
        match id {
            1 => Some(PlaylistPrivacy::Public),
            2 => Some(PlaylistPrivacy::Unlisted),
            3 => Some(PlaylistPrivacy::Private),
            _ => None,
        }
    }

    /// PeerTube's label.
    pub fn label(self) -> &'static str {
        match self {
            PlaylistPrivacy::Public => "Public",
            PlaylistPrivacy::Unlisted => "Unlisted",
            PlaylistPrivacy::Private => "Private",
        }
    }
}

/// A regular playlist, or a user's "Watch later" (PeerTube's `VideoPlaylistType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaylistKind {
    /// Made by its owner.
    Regular,
    /// The user's own "Watch later" list: one per user, private, never deleted.
    WatchLater,
}

impl PlaylistKind {
    /// PeerTube's id.
    pub fn id(self) -> u8 {
        match self {
            PlaylistKind::Regular => 1,
            PlaylistKind::WatchLater => 2,
        }
    }

    /// PeerTube's label.
    pub fn label(self) -> &'static str {
        match self {
            PlaylistKind::Regular => "Regular",
            PlaylistKind::WatchLater => "Watch later",
        }
    }
}

/// One video in a playlist, with the part of it to play.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaylistElement {
    /// Element id (unique on this instance).
    pub id: u64,
    /// The video (local id; the video may have gone since).
    pub video_id: u64,
    /// Where to start, in seconds.
    pub start: Option<u32>,
    /// Where to stop, in seconds.
    pub stop: Option<u32>,
}

/// A playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playlist {
    /// Local id.
    pub id: u64,
    /// Uuid (hyphenated, lower case).
    pub uuid: String,
    /// Owning user.
    pub owner: u64,
    /// The owner's channel it is shown on.
    pub channel: Option<u64>,
    /// Display name.
    pub display_name: String,
    /// Description (markdown).
    pub description: Option<String>,
    /// Who it is for.
    pub privacy: PlaylistPrivacy,
    /// Regular or watch later.
    pub kind: PlaylistKind,
    /// Its videos, in order (position = index + 1).
    pub elements: Vec<PlaylistElement>,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
}

impl Playlist {
    /// Whether `viewer` (a user id and whether they may manage anyone's playlists) may read it:
    /// public and unlisted ones anyone, private ones their owner (and no one else: PeerTube
    /// does not open private playlists to moderators either).
    pub fn may_see(&self, viewer: Option<u64>) -> bool {
        self.privacy != PlaylistPrivacy::Private || viewer == Some(self.owner)
    }

    /// Whether it is sent to other instances.
    pub fn is_federated(&self) -> bool {
        self.privacy != PlaylistPrivacy::Private && self.kind == PlaylistKind::Regular
    }

    /// Its URL (and ActivityPub id) on this instance.
    pub fn url(&self, public_url: &str) -> String {
        format!("{public_url}/video-playlists/{}", self.uuid)
    }

    /// The element with id `id`, with its index.
    pub fn element(&self, id: u64) -> Option<(usize, &PlaylistElement)> {
        self.elements.iter().enumerate().find(|(_, e)| e.id == id)
    }
}

/// A checked display name.
pub fn check_display_name(name: &str) -> Result<String, String> {
    let t = name.trim();
    let n = t.chars().count();
    if !(1..=MAX_NAME).contains(&n) || t.chars().any(char::is_control) {
        return Err(format!(
            "displayName must have 1 to {MAX_NAME} characters and no control character (got {name:?})"
        ));
    }
    Ok(t.to_string())
}

/// A checked description (`None` and empty mean none).
pub fn check_description(text: &str) -> Result<Option<String>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let n = t.chars().count();
    if n > MAX_DESCRIPTION || t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(format!(
            "description must have at most {MAX_DESCRIPTION} characters and no control character (got {n} characters)"
        ));
    }
    Ok(Some(t.to_string()))
}

/// Checks an element's start and stop (seconds) against the video's duration when known.
pub fn check_timestamps(
    start: Option<u32>,
    stop: Option<u32>,
    duration: Option<f64>,
) -> Result<(), String> {
    if let (Some(a), Some(b)) = (start, stop) {
        if b <= a {
            return Err(format!(
                "stopTimestamp ({b}) must be after startTimestamp ({a})"
            ));
        }
    }
    if let Some(d) = duration.filter(|d| *d > 0.0) {
        for (name, t) in [("startTimestamp", start), ("stopTimestamp", stop)] {
            if let Some(t) = t {
                if f64::from(t) > d.ceil() {
                    return Err(format!(
                        "{name} ({t}) is past the video's end ({} s)",
                        d.ceil()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// PeerTube's reorder (`VideoPlaylistReorder`): moves the `length` elements starting at
/// position `start` (1-based) to just after position `after` (0 = to the front), positions
/// counted before the move, as PeerTube's `reorderPlaylistOrElementsPosition` counts them.
pub fn reorder<T>(
    items: &mut Vec<T>,
    start: usize,
    after: usize,
    length: usize,
) -> Result<(), String> {
    let n = items.len();
    if start < 1 || start > n {
        return Err(format!(
            "startPosition must be between 1 and {n} (got {start})"
        ));
    }
    if after > n {
        return Err(format!(
            "insertAfterPosition must be between 0 and {n} (got {after})"
        ));
    }
    if length < 1 || start - 1 + length > n {
        return Err(format!(
            "reorderLength must be between 1 and {} from position {start} (got {length})",
            n + 1 - start
        ));
    }
    if after + 1 >= start && after < start + length {
        // Inside or just before the moved run: nothing moves.
        return Ok(());
    }
    let moved: Vec<T> = items.drain(start - 1..start - 1 + length).collect();
    // `after` counted the moved elements when they stood before it.
    let at = if after >= start {
        after - length
    } else {
        after
    };
    for (i, item) in moved.into_iter().enumerate() {
        items.insert(at + i, item);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(start: usize, after: usize, length: usize) -> Result<Vec<u32>, String> {
        let mut v: Vec<u32> = (1..=6).collect();
        reorder(&mut v, start, after, length).map(|_| v)
    }

    #[test]
    fn reorders_as_peertube_counts_positions() {
        // PeerTube's example (videos.ts, reorderVideosPlaylist): position 2 after 5.
        assert_eq!(moved(2, 5, 1).unwrap(), vec![1, 3, 4, 5, 2, 6]);
        assert_eq!(moved(2, 3, 1).unwrap(), vec![1, 3, 2, 4, 5, 6]);
        // To the front.
        assert_eq!(moved(5, 0, 2).unwrap(), vec![5, 6, 1, 2, 3, 4]);
        // A run to the end.
        assert_eq!(moved(1, 6, 3).unwrap(), vec![4, 5, 6, 1, 2, 3]);
        // Onto itself: unchanged.
        assert_eq!(moved(3, 2, 1).unwrap(), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(moved(3, 3, 2).unwrap(), vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn bad_reorders_name_the_value() {
        for (s, a, l, bad) in [
            (0, 1, 1, "0"),
            (7, 1, 1, "7"),
            (1, 7, 1, "7"),
            (5, 0, 3, "3"),
        ] {
            let e = moved(s, a, l).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn names_descriptions_and_timestamps() {
        assert_eq!(check_display_name("  Mix ").unwrap(), "Mix");
        assert!(check_display_name("").is_err());
        assert!(check_display_name("a\u{7}b").is_err());
        assert!(check_display_name(&"x".repeat(121)).is_err());
        assert_eq!(check_description("").unwrap(), None);
        assert!(check_description(&"x".repeat(1001)).is_err());
        assert!(check_timestamps(Some(5), Some(3), None).is_err());
        assert!(check_timestamps(Some(5), None, Some(4.0)).is_err());
        assert!(check_timestamps(Some(1), Some(4), Some(3.5)).is_ok());
    }
}
