//! Fuzz targets: one plain function per parser that takes untrusted bytes, each feeding them to
//! the real code and checking what must hold for any input (no panic, plus round trips and
//! bounds where the format has them). Two drivers call them: the bounded run in the test suite
//! ([`bounded`], over `fuzz/corpus/<target>/` plus deterministic mutations) and coverage-guided
//! libFuzzer (`fuzz/`, `scripts/fuzz.sh`).
//!
//! | target | exercises |
//! |---|---|
//! | `http_head` | the plain-HTTP/1.1 fast path's head parsing ([`crate::engine::http1::parse_head`]), then the segment server's plan, head serialization and body ([`crate::media::serve`]) over a small media root |
//! | `range` | `Range: bytes=…` ([`crate::media::range::parse_range`]) against several file sizes |
//! | `bencode` | the strict decoder ([`crate::bencode`]): decode → encode gives the input back |
//! | `tracker_ws` | WebTorrent JSON messages ([`crate::tracker::protocol::ws`]), and the relays built from them |
//! | `tracker_http` | BEP 3/48 announce and scrape query strings ([`crate::tracker::protocol::http`]), and the bencoded replies |
//! | `tracker_udp` | BEP 15 requests and responses ([`crate::tracker::protocol::udp`]): parse → write → parse |
//! | `http_signature` | draft-cavage `Signature` headers, RFC 9421 `Signature-Input`, and the request checks around them ([`crate::federation::signature`]) |
//! | `activitypub_inbox` | inbox POST bodies: activities, LD signatures (JSON-LD expansion, URDNA2015), embedded Video objects and actors |
//! | `remote_video` | remote `Video` objects ([`crate::federation::remote_videos::parse`]) |
//! | `hls_playlist` | media playlists ([`crate::transcode::hls::MediaPlaylist`]): parse → render → parse, segment hashes |
//! | `resumable_headers` | the resumable upload's `Content-Range`, the client's `Range` and size parsing, the metadata JSON |
//! | `media_probe` | the worker's probe of an upload ([`crate::transcode::worker::probe_report`]: libavformat, then the ladder plan) on a file holding the bytes |
//!
//! A target that panics has found a bug: fix the parser and add the input as a unit test.

pub mod bounded;
mod federation;
mod http_head;
mod media;
pub mod mutate;
mod protocols;

/// One fuzz target.
#[derive(Clone, Copy)]
pub struct Target {
    /// Its name: the corpus folder and the libFuzzer binary's `FLEUVE_FUZZ_TARGET`.
    pub name: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
    /// Deterministic mutations per seed in the bounded run (slow targets get fewer).
    pub bounded_mutations: usize,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "http_head",
        run: http_head::http_head,
        bounded_mutations: 10000,
    },
    Target {
        name: "range",
        run: protocols::range,
        bounded_mutations: 20000,
    },
    Target {
        name: "bencode",
        run: protocols::bencode,
        bounded_mutations: 20000,
    },
    Target {
        name: "tracker_ws",
        run: protocols::tracker_ws,
        bounded_mutations: 20000,
    },
    Target {
        name: "tracker_http",
        run: protocols::tracker_http,
        bounded_mutations: 20000,
    },
    Target {
        name: "tracker_udp",
        run: protocols::tracker_udp,
        bounded_mutations: 20000,
    },
    Target {
        name: "http_signature",
        run: federation::http_signature,
        bounded_mutations: 10000,
    },
    Target {
        name: "activitypub_inbox",
        run: federation::activitypub_inbox,
        bounded_mutations: 1000,
    },
    Target {
        name: "remote_video",
        run: federation::remote_video,
        bounded_mutations: 10000,
    },
    Target {
        name: "hls_playlist",
        run: protocols::hls_playlist,
        bounded_mutations: 20000,
    },
    Target {
        name: "resumable_headers",
        run: protocols::resumable_headers,
        bounded_mutations: 20000,
    },
    Target {
        name: "media_probe",
        run: media::media_probe,
        bounded_mutations: 500,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Lines of `data` as text (lossy), `\r` trimmed: most targets read a small line-based format.
fn lines(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}
