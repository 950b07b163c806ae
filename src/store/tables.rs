//! The typed tables of accounts, channels, OAuth and jobs, and the key macros every table uses:
//! each key type names its column family, its encoding and its record type. Videos are in
//! `store/videos.rs`, federation in `store/federation.rs` and `store/actors.rs`.

use super::codec::{tagged_bytes, tagged_u64, untag_bytes, untag_u64, Key, StoreError};
use super::Cf;
use crate::video::Viewer;
use serde::{Deserialize, Serialize};

macro_rules! u64_key {
    ($(#[$m:meta])* $name:ident, $cf:expr, $tag:expr, $value:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub u64);
        impl $crate::store::codec::Key for $name {
            type Value = $value;
            type Prefix = ();
            const CF: Cf = $cf;
            fn encode(&self) -> Vec<u8> {
                $crate::store::codec::tagged_u64($tag, self.0)
            }
            fn decode(bytes: &[u8]) -> Result<Self, $crate::store::codec::StoreError> {
                $crate::store::codec::untag_u64($tag, bytes).map($name)
            }
            fn encode_prefix(_: &()) -> Vec<u8> {
                vec![$tag]
            }
        }
    };
}

pub(crate) use u64_key;

macro_rules! string_key {
    ($(#[$m:meta])* $name:ident, $cf:expr, $tag:expr, $value:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);
        impl $crate::store::codec::Key for $name {
            type Value = $value;
            type Prefix = ();
            const CF: Cf = $cf;
            fn encode(&self) -> Vec<u8> {
                $crate::store::codec::tagged_bytes($tag, self.0.as_bytes())
            }
            fn decode(bytes: &[u8]) -> Result<Self, $crate::store::codec::StoreError> {
                let raw = $crate::store::codec::untag_bytes($tag, bytes)?;
                String::from_utf8(raw.to_vec())
                    .map($name)
                    .map_err(|_| $crate::store::codec::StoreError::Corrupt("non-UTF-8 key".into()))
            }
            fn encode_prefix(_: &()) -> Vec<u8> {
                vec![$tag]
            }
        }
    };
}
pub(crate) use string_key;

/// `meta`: the schema version.
#[derive(Debug, Clone, Copy)]
pub struct SchemaVersionKey;

impl Key for SchemaVersionKey {
    type Value = u32;
    type Prefix = ();
    const CF: Cf = Cf::Meta;
    fn encode(&self) -> Vec<u8> {
        b"\x01schema_version".to_vec()
    }
    fn decode(_: &[u8]) -> Result<Self, StoreError> {
        Ok(SchemaVersionKey)
    }
    fn encode_prefix(_: &()) -> Vec<u8> {
        b"\x01schema_version".to_vec()
    }
}

/// Id sequences kept in `meta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    /// User (and account) ids.
    User,
    /// Channel ids.
    Channel,
    /// Video ids.
    Video,
    /// File ids.
    File,
    /// Job ids.
    Job,
    /// Comment ids.
    Comment,
    /// Outgoing e-mail ids.
    Mail,
    /// Registration request ids.
    Registration,
    /// Abuse report ids.
    Abuse,
    /// Abuse message ids.
    AbuseMessage,
    /// Playlist ids.
    Playlist,
    /// Playlist element ids.
    PlaylistElement,
    /// Remote runner ids.
    Runner,
    /// Runner registration token ids.
    RunnerRegistrationToken,
}

/// `meta`: the last id handed out by a sequence.
#[derive(Debug, Clone, Copy)]
pub struct SequenceKey(pub Sequence);

impl Key for SequenceKey {
    type Value = u64;
    type Prefix = ();
    const CF: Cf = Cf::Meta;
    fn encode(&self) -> Vec<u8> {
        let name: &[u8] = match self.0 {
            Sequence::User => b"user",
            Sequence::Channel => b"channel",
            Sequence::Video => b"video",
            Sequence::File => b"file",
            Sequence::Job => b"job",
            Sequence::Comment => b"comment",
            Sequence::Mail => b"mail",
            Sequence::Registration => b"registration",
            Sequence::Abuse => b"abuse",
            Sequence::AbuseMessage => b"abuse_message",
            Sequence::Playlist => b"playlist",
            Sequence::PlaylistElement => b"playlist_element",
            Sequence::Runner => b"runner",
            Sequence::RunnerRegistrationToken => b"runner_registration_token",
        };
        tagged_bytes(0x02, name)
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let seq = match untag_bytes(0x02, bytes)? {
            b"user" => Sequence::User,
            b"channel" => Sequence::Channel,
            b"video" => Sequence::Video,
            b"file" => Sequence::File,
            b"job" => Sequence::Job,
            b"comment" => Sequence::Comment,
            b"mail" => Sequence::Mail,
            b"registration" => Sequence::Registration,
            b"abuse" => Sequence::Abuse,
            b"abuse_message" => Sequence::AbuseMessage,
            b"playlist" => Sequence::Playlist,
            b"playlist_element" => Sequence::PlaylistElement,
            b"runner" => Sequence::Runner,
            b"runner_registration_token" => Sequence::RunnerRegistrationToken,
            other => return Err(StoreError::Corrupt(format!("unknown sequence {other:?}"))),
        };
        Ok(SequenceKey(seq))
    }
    fn encode_prefix(_: &()) -> Vec<u8> {
        vec![0x02]
    }
}

/// A user's role, with PeerTube's numeric ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Administrator (PeerTube role 0).
    Administrator,
    /// Moderator (1).
    Moderator,
    /// User (2).
    User,
}

impl Role {
    /// PeerTube's numeric role id.
    pub fn id(self) -> u8 {
        match self {
            Role::Administrator => 0,
            Role::Moderator => 1,
            Role::User => 2,
        }
    }

    /// PeerTube's label.
    pub fn label(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::Moderator => "Moderator",
            Role::User => "User",
        }
    }

    /// Whether the role grants `right` (PeerTube's `hasUserRight`: administrators have every
    /// right, moderators those of `userRoleRights[MODERATOR]` that Fleuve has, users none).
    pub fn has(self, right: Right) -> bool {
        match self {
            Role::Administrator => true,
            Role::Moderator => matches!(
                right,
                Right::ManageUsers
                    | Right::UpdateAnyVideo
                    | Right::RemoveAnyVideo
                    | Right::SeeAllVideos
                    | Right::ManageAnyVideoComment
                    | Right::ManageVideoBlacklist
                    | Right::ManageServerBlocklist
                    | Right::ManageRegistrations
                    | Right::ManageAbuses
                    | Right::ManageAnyVideoPlaylist
            ),
            Role::User => false,
        }
    }
}

/// PeerTube's `UserRight`s that Fleuve enforces (those not listed are the administrator's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    /// Create, list and change users (moderators: users only).
    ManageUsers,
    /// Change any video, its captions and chapters.
    UpdateAnyVideo,
    /// Delete any video.
    RemoveAnyVideo,
    /// See every video whatever its privacy, and list by `privacyOneOf`.
    SeeAllVideos,
    /// Delete any comment.
    ManageAnyVideoComment,
    /// Block and unblock videos (PeerTube's `MANAGE_VIDEO_BLACKLIST`).
    ManageVideoBlacklist,
    /// Block and unblock servers and remote accounts for the whole instance (PeerTube's
    /// `MANAGE_SERVERS_BLOCKLIST` and `MANAGE_ACCOUNTS_BLOCKLIST`).
    ManageServerBlocklist,
    /// Accept and reject sign-up requests (PeerTube's `MANAGE_REGISTRATIONS`).
    ManageRegistrations,
    /// See and handle abuse reports (PeerTube's `MANAGE_ABUSES`).
    ManageAbuses,
    /// Change and remove any user's channels (`MANAGE_ANY_VIDEO_CHANNEL`, administrators).
    ManageAnyVideoChannel,
    /// Change and remove any user's playlists, not their watch-later list
    /// (`UPDATE_ANY_VIDEO_PLAYLIST`, `REMOVE_ANY_VIDEO_PLAYLIST`).
    ManageAnyVideoPlaylist,
    /// Remote runners, their registration tokens and jobs (PeerTube's `MANAGE_RUNNERS`, 29).
    ManageRunners,
    /// Everything else that is the instance's: following, admin status, configuration.
    ManageInstance,
}

/// A local user and its account (PeerTube keeps them 1:1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// User id (also the account id).
    pub id: u64,
    /// Login name, also the account's preferred username.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Account display name.
    pub display_name: String,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Bytes of video this user may store, -1 for no limit (PeerTube's `videoQuota`); records
    /// written before quotas existed have none.
    #[serde(default = "no_limit")]
    pub video_quota: i64,
    /// Bytes of video this user may upload per 24 hours, -1 for no limit (`videoQuotaDaily`).
    #[serde(default = "no_limit")]
    pub video_quota_daily: i64,
    /// Blocked by a moderator (PeerTube's `blocked`): the user cannot log in and their tokens
    /// were revoked; their videos stay.
    #[serde(default)]
    pub blocked: bool,
    /// Why, as the moderator said (`blockedReason`).
    #[serde(default)]
    pub blocked_reason: Option<String>,
    /// Whether the user opened the link e-mailed to them (`emailVerified`); users made before
    /// sign-up existed, or by an administrator, need none.
    #[serde(default = "verified")]
    pub email_verified: bool,
    /// What the lists do with NSFW videos when a request does not say (`nsfwPolicy`:
    /// `display`, `warn`, `blur` list them, `do_not_list` leaves them out).
    #[serde(default = "display")]
    pub nsfw_policy: String,
    /// Whether the web player shares segments with other viewers (`p2pEnabled`).
    #[serde(default = "verified")]
    pub p2p_enabled: bool,
}

fn display() -> String {
    DEFAULT_NSFW_POLICY.to_string()
}

/// NSFW policy of new users and of visitors: the lists show every video unless asked
/// (`nsfw=false`), which keeps their totals stored counts.
pub const DEFAULT_NSFW_POLICY: &str = "display";

/// PeerTube's `NSFWPolicyType`s.
pub const NSFW_POLICIES: [&str; 4] = ["display", "warn", "blur", "do_not_list"];

fn verified() -> bool {
    true
}

fn no_limit() -> i64 {
    -1
}

impl User {
    /// Who this user is to the video domain's visibility rules: only administrators see every
    /// video.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            id: self.id,
            sees_all: self.role.has(Right::SeeAllVideos),
        }
    }

    #[cfg(test)]
    pub(crate) fn new_for_test(id: u64, name: &str) -> User {
        User {
            id,
            username: name.into(),
            email: format!("{name}@example.test"),
            password_hash: String::new(),
            role: Role::User,
            display_name: name.into(),
            created_at: 0,
            video_quota: -1,
            video_quota_daily: -1,
            blocked: false,
            blocked_reason: None,
            email_verified: true,
            nsfw_policy: display(),
            p2p_enabled: true,
        }
    }
}

u64_key!(
    /// `accounts`: user by id.
    UserKey, Cf::Accounts, 0x01, User
);
string_key!(
    /// `accounts`: user id by username (lower case).
    UserByNameKey, Cf::Accounts, 0x02, u64
);

/// A sign-up waiting for a moderator (PeerTube's `UserRegistration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// Request id.
    pub id: u64,
    /// Wanted user name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Whether the e-mail address was verified (its link opened).
    pub email_verified: bool,
    /// Argon2 PHC string of the chosen password.
    pub password_hash: String,
    /// Account display name.
    pub display_name: String,
    /// Wanted channel handle and display name.
    pub channel_name: String,
    /// Channel display name.
    pub channel_display_name: String,
    /// Why they want an account (`registrationReason`).
    pub reason: String,
    /// 1 pending, 2 rejected, 3 accepted.
    pub state: u8,
    /// What the moderator answered.
    pub moderation_response: Option<String>,
    /// The user made when it was accepted.
    pub user_id: Option<u64>,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
}

u64_key!(
    /// `accounts`: registration requests by id.
    RegistrationKey, Cf::Accounts, 0x03, Registration
);

/// What an e-mailed link proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailPurpose {
    /// A user's e-mail address (`POST /api/v1/users/{id}/verify-email`).
    VerifyUser,
    /// A registration request's e-mail address.
    VerifyRegistration,
    /// A password reset (`POST /api/v1/users/{id}/reset-password`).
    ResetPassword,
}

/// An e-mailed link's token, stored under its SHA-256; used once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailToken {
    /// What it proves.
    pub purpose: EmailPurpose,
    /// The user or registration it is for.
    pub subject: u64,
    /// Expiry (Unix seconds).
    pub expires_at: u64,
}

string_key!(
    /// `accounts`: e-mailed tokens by the SHA-256 (hex) of their value.
    EmailTokenKey, Cf::Accounts, 0x04, EmailToken
);

/// An e-mail waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// When it was queued (Unix seconds).
    pub created_at: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Earliest next attempt (Unix seconds).
    pub next_at: u64,
}

u64_key!(
    /// `jobs`: the e-mail outbox, by id (oldest first).
    MailKey, Cf::Jobs, 0x02, Mail
);

/// Who reported an abuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reporter {
    /// A local user (id).
    Local(u64),
    /// An actor of another instance (its id), through a `Flag` activity.
    Remote(String),
}

/// What an abuse report is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbuseTarget {
    /// A video (its id), optionally a time range of it (seconds).
    Video {
        /// Video id.
        id: u64,
        /// Start of the reported part.
        start_at: Option<u64>,
        /// End of the reported part.
        end_at: Option<u64>,
    },
    /// A comment on a video.
    Comment {
        /// Its video.
        video_id: u64,
        /// The comment.
        id: u64,
    },
    /// A local account (user id).
    Account(u64),
}

/// An abuse report (PeerTube's `Abuse`): state 1 pending, 2 rejected, 3 accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abuse {
    /// Report id.
    pub id: u64,
    /// Who reported it.
    pub reporter: Reporter,
    /// What is reported.
    pub target: AbuseTarget,
    /// The account the report is about (the video's or comment's author, or the account).
    pub flagged_user: Option<u64>,
    /// The reporter's words.
    pub reason: String,
    /// PeerTube's predefined reasons (`spamOrMisleading`, …).
    pub predefined_reasons: Vec<String>,
    /// 1 pending, 2 rejected, 3 accepted.
    pub state: u8,
    /// What moderators noted.
    pub moderation_comment: Option<String>,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
}

u64_key!(
    /// `accounts`: abuse reports by id.
    AbuseKey, Cf::Accounts, 0x05, Abuse
);

/// A message about an abuse report between its reporter and the moderators (PeerTube's
/// `AbuseMessage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbuseMessage {
    /// Message id.
    pub id: u64,
    /// The user who wrote it.
    pub author: u64,
    /// Whether they wrote it as a moderator (not as the reporter).
    pub by_moderator: bool,
    /// The text.
    pub message: String,
    /// Creation time (Unix seconds).
    pub created_at: u64,
}

/// `accounts`: the messages of an abuse report, by report and message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbuseMessageKey {
    /// The report.
    pub abuse: u64,
    /// The message.
    pub id: u64,
}

impl Key for AbuseMessageKey {
    type Value = AbuseMessage;
    type Prefix = u64;
    const CF: Cf = Cf::Accounts;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&self.abuse);
        k.extend_from_slice(&self.id.to_be_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x06, bytes)?;
        if rest.len() != 16 {
            return Err(StoreError::Corrupt(format!(
                "bad abuse message key {}",
                hex::encode(bytes)
            )));
        }
        let (a, b) = rest.split_at(8);
        Ok(AbuseMessageKey {
            abuse: u64::from_be_bytes(a.try_into().unwrap_or_default()),
            id: u64::from_be_bytes(b.try_into().unwrap_or_default()),
        })
    }
    fn encode_prefix(abuse: &u64) -> Vec<u8> {
        let mut k = vec![0x06];
        k.extend_from_slice(&abuse.to_be_bytes());
        k
    }
}

/// `channels`: the channels of each local user (`owner`, channel id → nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelByOwnerKey {
    /// The owner's user id.
    pub owner: u64,
    /// The channel.
    pub channel: u64,
}

impl Key for ChannelByOwnerKey {
    type Value = ();
    type Prefix = u64;
    const CF: Cf = Cf::Channels;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&self.owner);
        k.extend_from_slice(&self.channel.to_be_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x03, bytes)?;
        if rest.len() != 16 {
            return Err(StoreError::Corrupt(format!(
                "bad channel owner key {}",
                hex::encode(bytes)
            )));
        }
        let (a, b) = rest.split_at(8);
        Ok(ChannelByOwnerKey {
            owner: u64::from_be_bytes(a.try_into().unwrap_or_default()),
            channel: u64::from_be_bytes(b.try_into().unwrap_or_default()),
        })
    }
    fn encode_prefix(owner: &u64) -> Vec<u8> {
        let mut k = vec![0x03];
        k.extend_from_slice(&owner.to_be_bytes());
        k
    }
}

/// A video channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Channel id.
    pub id: u64,
    /// Handle (`root_channel`).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Owning user.
    pub owner: u64,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Description (PeerTube's `description`); records written before channels could be
    /// edited have none.
    #[serde(default)]
    pub description: Option<String>,
    /// Support text (`support`).
    #[serde(default)]
    pub support: Option<String>,
    /// Last change (Unix seconds); 0 in records written before channels could be edited.
    #[serde(default)]
    pub updated_at: u64,
}

u64_key!(
    /// `channels`: channel by id.
    ChannelKey, Cf::Channels, 0x01, Channel
);
string_key!(
    /// `channels`: channel id by handle.
    ChannelByNameKey, Cf::Channels, 0x02, u64
);

/// An OAuth client (PeerTube has one "local" client per instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthClient {
    /// Public id.
    pub client_id: String,
    /// Secret.
    pub client_secret: String,
}

/// An issued token, stored under the SHA-256 of its value (tokens themselves are never stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Whose token.
    pub user_id: u64,
    /// Expiry (Unix seconds).
    pub expires_at: u64,
    /// SHA-256 (hex) of the paired token: the refresh token of an access token and vice versa.
    pub pair: String,
}

/// `oauth`: the local client's id.
#[derive(Debug, Clone, Copy)]
pub struct LocalClientKey;

impl Key for LocalClientKey {
    type Value = OAuthClient;
    type Prefix = ();
    const CF: Cf = Cf::Oauth;
    fn encode(&self) -> Vec<u8> {
        b"\x01local".to_vec()
    }
    fn decode(_: &[u8]) -> Result<Self, StoreError> {
        Ok(LocalClientKey)
    }
    fn encode_prefix(_: &()) -> Vec<u8> {
        b"\x01local".to_vec()
    }
}

/// `oauth`: the secret that signs video file tokens (32 random bytes, made at first start).
#[derive(Debug, Clone, Copy)]
pub struct FileTokenSecretKey;

impl Key for FileTokenSecretKey {
    type Value = Vec<u8>;
    type Prefix = ();
    const CF: Cf = Cf::Oauth;
    fn encode(&self) -> Vec<u8> {
        b"\x01video_file_token_secret".to_vec()
    }
    fn decode(_: &[u8]) -> Result<Self, StoreError> {
        Ok(FileTokenSecretKey)
    }
    fn encode_prefix(_: &()) -> Vec<u8> {
        b"\x01video_file_token_secret".to_vec()
    }
}

string_key!(
    /// `oauth`: access token by the hex SHA-256 of its value.
    AccessTokenKey, Cf::Oauth, 0x02, TokenRecord
);
string_key!(
    /// `oauth`: refresh token by the hex SHA-256 of its value.
    RefreshTokenKey, Cf::Oauth, 0x03, TokenRecord
);

/// Where a transcode job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker has it.
    Running,
    /// Published.
    Done,
    /// Given up (the reason is in the job).
    Failed,
}

impl JobState {
    /// Tag byte of the state index.
    pub fn tag(self) -> u8 {
        match self {
            JobState::Queued => 1,
            JobState::Running => 2,
            JobState::Done => 3,
            JobState::Failed => 4,
        }
    }

    fn from_tag(t: u8) -> Option<JobState> {
        Some(match t {
            1 => JobState::Queued,
            2 => JobState::Running,
            3 => JobState::Done,
            4 => JobState::Failed,
            _ => return None,
        })
    }
}

/// A transcode job: one source, one full ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Job id (ascending: the queue is FIFO).
    pub id: u64,
    /// The video it publishes.
    pub video_uuid: String,
    /// The uploaded source file.
    pub source: std::path::PathBuf,
    /// State.
    pub state: JobState,
    /// Times a worker has started it.
    pub attempts: u32,
    /// Last failure, or why it was restarted.
    pub last_error: Option<String>,
    /// Creation time (Unix seconds).
    pub created_at: u64,
    /// Last change (Unix seconds).
    pub updated_at: u64,
}

u64_key!(
    /// `jobs`: job by id.
    JobKey, Cf::Jobs, 0x01, Job
);

/// `jobs_by_state`: (state, id) → (), scanned by state in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStateKey {
    /// State.
    pub state: JobState,
    /// Job id.
    pub id: u64,
}

impl Key for JobStateKey {
    type Value = ();
    type Prefix = JobState;
    const CF: Cf = Cf::JobsByState;
    fn encode(&self) -> Vec<u8> {
        tagged_u64(self.state.tag(), self.id)
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let state = bytes
            .first()
            .and_then(|t| JobState::from_tag(*t))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("bad job index key {}", hex::encode(bytes)))
            })?;
        Ok(JobStateKey {
            state,
            id: untag_u64(state.tag(), bytes)?,
        })
    }
    fn encode_prefix(state: &JobState) -> Vec<u8> {
        vec![state.tag()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrators_and_moderators_see_all_videos() {
        let mut u = User::new_for_test(7, "u");
        for (role, admin) in [
            (Role::Administrator, true),
            (Role::Moderator, true),
            (Role::User, false),
        ] {
            u.role = role;
            assert_eq!(
                u.viewer(),
                Viewer {
                    id: 7,
                    sees_all: admin
                },
                "{role:?}"
            );
        }
    }
}

/// A move of a video's HLS files between the disk and the object storage, waiting or under
/// way (`storage::Mover`); the row is deleted when the move is done or given up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageMove {
    /// Where the files go.
    pub to: crate::video::FileStorage,
    /// When it was asked for (Unix seconds).
    pub created_at: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

string_key!(
    /// `jobs`: a storage move by video uuid.
    StorageMoveKey, Cf::Jobs, 0x20, StorageMove
);
