//! Who may read a private media file, decided on the shard without a database read: PeerTube's
//! video file tokens (the `videoFileToken` query parameter handed out by
//! `POST /api/v1/videos/{id}/token`), and the counter that makes every shard forget the file
//! metadata it cached when a video's files move between the public and private directories.
//!
//! # Tokens are HMAC-signed, not stored
//!
//! A token is `base64url(version ‖ video uuid ‖ expiry ‖ tag)`: one version byte, the 16 bytes
//! of the video's uuid, the expiry in Unix seconds (8 bytes, big-endian), and the first 16 bytes
//! of HMAC-SHA-256 over the rest under a 32-byte secret kept in the metadata store (made at
//! first start, so tokens survive a restart). Checking one is a few hundred nanoseconds on the
//! shard's event loop: no RocksDB read, nothing shared between shards but the key, nothing to
//! expire or clean up. The price: a token cannot be withdrawn one by one. It opens the files of
//! the one video it names until it expires (`auth.video_file_token_lifetime_secs`, a few hours
//! as PeerTube's), even if the video changes privacy meanwhile, the same as PeerTube's
//! in-memory tokens; only users who may read the files are given one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use std::sync::atomic::{AtomicU64, Ordering};

/// The query parameter PeerTube clients put the token in.
pub const TOKEN_PARAM: &str = "videoFileToken";
const VERSION: u8 = 1;
const TAG: usize = 16;
const BODY: usize = 1 + 16 + 8;
/// Domain separation: this key signs nothing else.
const CONTEXT: &[u8] = b"fleuve video file token";

/// Keys and counters shared by every shard's segment server.
pub struct MediaAccess {
    key: hmac::Key,
    moved: AtomicU64,
}

impl std::fmt::Debug for MediaAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaAccess")
            .field("moved", &self.moved.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl MediaAccess {
    /// Access checks under a 32-byte secret.
    pub fn new(secret: &[u8; 32]) -> MediaAccess {
        MediaAccess {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            moved: AtomicU64::new(0),
        }
    }

    fn sign(&self, body: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(CONTEXT);
        ctx.update(body);
        ctx.sign()
    }

    /// A token opening the files of video `uuid` until `expires_at` (Unix seconds); None when
    /// `uuid` is not a uuid.
    pub fn mint(&self, uuid: &str, expires_at: u64) -> Option<String> {
        let uuid = uuid::Uuid::parse_str(uuid).ok()?;
        let mut raw = Vec::with_capacity(BODY + TAG);
        raw.push(VERSION);
        raw.extend_from_slice(uuid.as_bytes());
        raw.extend_from_slice(&expires_at.to_be_bytes());
        let tag = self.sign(&raw);
        raw.extend_from_slice(&tag.as_ref()[..TAG]);
        Some(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Whether `token` opens the files of video `uuid` at `now` (Unix seconds).
    pub fn verify(&self, token: &str, uuid: &str, now: u64) -> bool {
        // Cheap refusals first: anything longer than a token is not decoded at all.
        if token.len() != ((BODY + TAG) * 4).div_ceil(3) {
            return false;
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        let Ok(want) = uuid::Uuid::parse_str(uuid) else {
            return false;
        };
        if raw.len() != BODY + TAG || raw[0] != VERSION || &raw[1..17] != want.as_bytes() {
            return false;
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&raw[17..BODY]);
        if u64::from_be_bytes(expiry) <= now {
            return false;
        }
        let tag = self.sign(&raw[..BODY]);
        same_bytes(&tag.as_ref()[..TAG], &raw[BODY..])
    }

    /// Files moved out of (or into) a URL: every shard forgets its cached file metadata before
    /// its next request, so a file that left a public URL stops answering there at once.
    pub fn files_moved(&self) {
        self.moved.fetch_add(1, Ordering::Release);
    }

    /// How many moves happened (a shard compares it with the count its cache was filled at).
    pub fn moves(&self) -> u64 {
        self.moved.load(Ordering::Acquire)
    }
}

/// Compares two tags in time independent of where they differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    a.len() == b.len() && diff == 0
}

/// The `videoFileToken` of a query string (percent-decoded when needed), if it has one.
pub fn query_token(query: &str) -> Option<std::borrow::Cow<'_, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == TOKEN_PARAM).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy())
    })
}

/// The secret in a file shared by a primary and its edges (`auth.video_file_token_secret_file`):
/// 64 hex digits (surrounding white space ignored). The error names the file and what is wrong.
pub fn read_secret_file(path: &std::path::Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("auth.video_file_token_secret_file {}: {e}", path.display()))?;
    let hex = text.trim();
    let mut secret = [0u8; 32];
    match hex::decode_to_slice(hex, &mut secret) {
        Ok(()) => Ok(secret),
        Err(e) => Err(format!(
            "auth.video_file_token_secret_file {}: want 64 hex digits (e.g. from `openssl rand -hex 32`), found {} characters: {e}",
            path.display(),
            hex.len()
        )),
    }
}

/// A fresh random 32-byte secret.
pub fn random_secret() -> [u8; 32] {
    use rand::RngCore;
    let mut s = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "0f5c4e9b-0000-4000-8000-0000000000e2";

    #[test]
    fn secret_files_hold_64_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(read_secret_file(&good).unwrap(), [0xab; 32]);
        let short = dir.path().join("short");
        std::fs::write(&short, "abcd").unwrap();
        let e = read_secret_file(&short).unwrap_err();
        assert!(e.contains("short") && e.contains("4 characters"), "{e}");
        let e = read_secret_file(&dir.path().join("missing")).unwrap_err();
        assert!(e.contains("missing"), "{e}");
    }
    const OTHER: &str = "0f5c4e9b-0000-4000-8000-0000000000e3";

    #[test]
    fn tokens_open_one_video_until_they_expire() {
        let a = MediaAccess::new(&[7; 32]);
        let t = a.mint(U, 1_000).unwrap();
        assert!(a.verify(&t, U, 999));
        assert!(!a.verify(&t, U, 1_000), "expired");
        assert!(!a.verify(&t, OTHER, 999), "bound to its video");
        assert!(!MediaAccess::new(&[8; 32]).verify(&t, U, 999), "other key");
        assert!(a.mint("not-a-uuid", 1_000).is_none());
        assert!(!a.verify(&t, "not-a-uuid", 999));
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused() {
        let a = MediaAccess::new(&[7; 32]);
        let t = a.mint(U, 1_000).unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        // A later expiry with the old tag.
        raw[BODY - 1] ^= 0xff;
        assert!(!a.verify(&URL_SAFE_NO_PAD.encode(&raw), U, 999));
        for bad in [
            "",
            "x",
            "!!!!",
            &t[1..],
            &format!("{t}A"),
            &"A".repeat(t.len()),
        ] {
            assert!(!a.verify(bad, U, 0), "{bad:?}");
        }
    }

    #[test]
    fn the_query_parameter_is_found() {
        assert_eq!(
            query_token("a=1&videoFileToken=abc-_&b=2").as_deref(),
            Some("abc-_")
        );
        assert_eq!(query_token("videoFileToken=a%2Db").as_deref(), Some("a-b"));
        assert_eq!(query_token("videofiletoken=x&y"), None);
        assert_eq!(query_token(""), None);
    }
}
