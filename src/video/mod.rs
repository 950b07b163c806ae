//! The video domain shared by the API, the pages, federation, the transcoder and the media
//! server: who a video is for ([`privacy`]) and who may see it and its files ([`visibility`],
//! methods on the video), where its files live ([`files`]), the URLs PeerTube clients are given
//! for them ([`urls`]), one rendition's record ([`rendition`]), and the per-video lock that keeps
//! a video's record and files changing one writer at a time ([`locks`]).

pub mod files;
pub mod locks;
pub mod privacy;
pub mod rendition;
pub mod urls;
pub mod visibility;

pub use privacy::Privacy;
pub use rendition::Rendition;
