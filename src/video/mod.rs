//! The video domain shared by the API, the pages, federation, the transcoder and the media
//! server: who may see a video and its files ([`visibility`]), where its files live and the URLs
//! PeerTube clients are given for them ([`files`]), and the per-video lock that keeps a video's
//! record and files changing one writer at a time ([`locks`]).

pub mod files;
pub mod locks;
pub mod visibility;
