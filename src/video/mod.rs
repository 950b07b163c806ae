//! The video domain shared by the API, the pages, federation, the transcoder and the media
//! server, as plain data below the store (which persists it and looks it up): a video's record
//! ([`record`]), how a request names a video ([`ident`]), who a video is for ([`privacy`]) and
//! who may see it and its files ([`visibility`], methods on the video), where its files live
//! ([`files`]), the URLs PeerTube clients are given for them ([`urls`]), one rendition's record
//! ([`rendition`]), its descriptive metadata and audience counters ([`meta`]), how its text
//! becomes search tokens ([`text`]), comments, captions and chapters ([`comment`]), and the
//! per-video lock that keeps a video's record and files changing one
//! writer at a time ([`locks`]).

pub mod comment;
pub mod files;
pub mod ident;
pub mod locks;
pub mod meta;
pub mod privacy;
pub mod record;
pub mod rendition;
pub mod text;
pub mod urls;
pub mod visibility;

pub use ident::VideoRef;
pub use privacy::Privacy;
pub use record::{CommentsPolicy, Video, VideoFile, VideoState, WebVideoFile};
pub use rendition::Rendition;
pub use visibility::Viewer;
