//! The video domain shared by the API, the pages, federation, the transcoder and the media
//! server, as plain data below the store (which persists it and looks it up): a video's record
//! ([`record`]), how a request names a video ([`ident`]), who a video is for ([`privacy`]) and
//! who may see it and its files ([`visibility`], methods on the video), where its files live
//! ([`files`]), the URLs PeerTube clients are given for them ([`urls`]), one rendition's record
//! ([`rendition`]), its descriptive metadata and audience counters ([`meta`]), how its text
//! becomes search tokens ([`text`]), comments, captions and chapters ([`comment`]), playlists
//! ([`playlist`]), and the per-video lock that keeps a video's record and files changing one
//! writer at a time ([`locks`]).

pub(crate) mod comment;
pub(crate) mod files;
pub(crate) mod ident;
pub(crate) mod locks;
pub mod meta;
pub(crate) mod playlist;
pub(crate) mod privacy;
pub(crate) mod record;
pub(crate) mod rendition;
pub mod text;
pub(crate) mod urls;
pub(crate) mod visibility;

pub use ident::VideoRef;
pub use privacy::Privacy;
pub use record::{
    Blacklist, CommentsPolicy, FileStorage, SourceFile, Storyboard, Video, VideoFile, VideoState,
    WebVideoFile,
};
pub use rendition::Rendition;
pub use visibility::Viewer;
