//! Downloading one mirror: the origin's master playlist, its variant playlists, the fMP4 files
//! they name and the segments-sha256 JSON, into a partial directory that nothing serves; every
//! byte range the JSON lists is checked against its hash and every file against the sizes the
//! origin announced (+5 % at most, as PeerTube allows); only then is the directory renamed to
//! `media/redundancy/hls/<uuid>/`, where the engine serves it. A download cut short (a stop, a
//! `kill -9`) leaves only a partial directory, removed before the next try.

use super::hls::{self, file_name_of, is_safe_name};
use crate::federation::http::{Client, FetchError};
use crate::video::record::RemoteVideo;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// A playlist is at most this large.
const MAX_PLAYLIST_BYTES: u64 = 4 << 20;
/// The segments-sha256 JSON is at most this large.
const MAX_HASHES_BYTES: u64 = 32 << 20;
/// Variant playlists a master may name.
const MAX_PLAYLISTS: usize = 32;
/// PeerTube's tolerance over the announced sizes (`+5 %`).
const SIZE_TOLERANCE: f64 = 1.05;

/// Why a mirror could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The origin's video lacks what a mirror needs.
    #[error("{0}")]
    Unusable(String),
    /// Fetching from the origin failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A playlist names what a mirror cannot keep.
    #[error(transparent)]
    Playlist(#[from] hls::PlaylistError),
    /// The files do not match the origin's hashes or sizes.
    #[error("{0}")]
    Mismatch(String),
    /// Writing the mirror failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl MirrorError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MirrorError {
        let what = what.into();
        move |source| MirrorError::Io { what, source }
    }
}

/// Where mirrors live under the media root.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `media/redundancy/hls` (served).
    pub ready: PathBuf,
    /// `media/redundancy/partial` (never served).
    pub partial: PathBuf,
}

impl Dirs {
    /// The directories under `media_root`.
    pub fn new(media_root: &Path) -> Dirs {
        Dirs {
            ready: media_root.join("redundancy/hls"),
            partial: media_root.join("redundancy/partial"),
        }
    }
}

/// How a download may go.
#[derive(Debug)]
pub struct Limits<'a> {
    /// Everything done before this.
    pub deadline: Instant,
    /// Bytes per second (0: no limit).
    pub rate: u64,
    /// Set when the server stops.
    pub stop: &'a AtomicBool,
}

/// The segments-sha256 JSON: file name → byte range (`start-end`, inclusive) → sha256 hex.
type Hashes = BTreeMap<String, BTreeMap<String, String>>;

/// Downloads and checks the mirror of `remote` (video `uuid`) and puts it in place. Returns its
/// size in bytes. On any failure nothing of it is left (its partial directory is removed).
pub fn mirror(
    client: &Client,
    dirs: &Dirs,
    uuid: &str,
    remote: &RemoteVideo,
    limits: &Limits<'_>,
) -> Result<u64, MirrorError> {
    let result = fetch_and_place(client, dirs, uuid, remote, limits);
    if result.is_err() {
        let _ = remove_dir(&dirs.partial.join(uuid));
    }
    result
}

fn fetch_and_place(
    client: &Client,
    dirs: &Dirs,
    uuid: &str,
    remote: &RemoteVideo,
    limits: &Limits<'_>,
) -> Result<u64, MirrorError> {
    let master_url = remote
        .playlist_url
        .as_deref()
        .ok_or_else(|| MirrorError::Unusable(format!("{} has no HLS playlist", remote.url)))?;
    let hashes_url = remote.segments_sha256_url.as_deref().ok_or_else(|| {
        MirrorError::Unusable(format!(
            "{} has no segments-sha256 JSON: its files could not be checked",
            remote.url
        ))
    })?;
    let announced: HashMap<&str, u64> = remote
        .files
        .iter()
        .map(|f| (file_name_of(&f.url), f.size))
        .collect();
    let announced_total: u64 = remote.files.iter().map(|f| f.size).sum();
    if announced_total == 0 {
        return Err(MirrorError::Unusable(format!(
            "{} announces no file sizes: the download could not be bounded",
            remote.url
        )));
    }
    let cap = |size: u64| (size as f64 * SIZE_TOLERANCE).ceil() as u64;
    let partial = dirs.partial.join(uuid);
    remove_dir(&partial)?;
    std::fs::create_dir_all(&partial).map_err(MirrorError::io(format!(
        "cannot create {}",
        partial.display()
    )))?;

    // The playlists.
    let master_name = file_name_of(master_url);
    if !is_safe_name(master_name) {
        return Err(MirrorError::Unusable(format!(
            "master playlist {master_url} has a name a mirror cannot keep"
        )));
    }
    let master = client.get_bytes(master_url, MAX_PLAYLIST_BYTES)?;
    let master_text = String::from_utf8_lossy(&master).into_owned();
    write_file(&partial.join(master_name), &master)?;
    let variants = hls::files_named(master_url, &master_text)?;
    if variants.is_empty() || variants.len() > MAX_PLAYLISTS {
        return Err(MirrorError::Unusable(format!(
            "{master_url} names {} playlists (1 to {MAX_PLAYLISTS} expected)",
            variants.len()
        )));
    }
    let dir = hls::directory_of(master_url);
    let mut playlist_bytes = master.len() as u64;
    let mut media: Vec<String> = Vec::new();
    for name in &variants {
        let url = format!("{dir}{name}");
        let body = client.get_bytes(&url, MAX_PLAYLIST_BYTES)?;
        let text = String::from_utf8_lossy(&body).into_owned();
        for f in hls::files_named(&url, &text)? {
            if variants.contains(&f) || f == master_name {
                return Err(MirrorError::Unusable(format!(
                    "{url} names the playlist {f} as media"
                )));
            }
            if !media.contains(&f) {
                media.push(f);
            }
        }
        write_file(&partial.join(name), &body)?;
        playlist_bytes += body.len() as u64;
    }

    // The hashes (kept too: players check segments from the mirror against them when the
    // origin is down).
    let hashes_name = file_name_of(hashes_url);
    if !is_safe_name(hashes_name) || variants.iter().any(|v| v == hashes_name) {
        return Err(MirrorError::Unusable(format!(
            "{hashes_url} has a name a mirror cannot keep"
        )));
    }
    let hashes_body = client.get_bytes(hashes_url, MAX_HASHES_BYTES)?;
    let hashes: Hashes = serde_json::from_slice(&hashes_body).map_err(|e| {
        MirrorError::Mismatch(format!("{hashes_url} is not a segments-sha256 JSON: {e}"))
    })?;
    write_file(&partial.join(hashes_name), &hashes_body)?;

    // The media files, bounded by the announced sizes.
    let mut total = playlist_bytes + hashes_body.len() as u64;
    let mut media_total = 0u64;
    for name in &media {
        let Some(ranges) = hashes.get(name) else {
            return Err(MirrorError::Mismatch(format!(
                "{name} is not in {hashes_url}: it could not be checked"
            )));
        };
        let room = cap(announced_total).saturating_sub(media_total);
        let max = announced
            .get(name.as_str())
            .map_or(room, |s| cap(*s).min(room));
        let path = partial.join(name);
        let file = File::create(&path)
            .map_err(MirrorError::io(format!("cannot create {}", path.display())))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let url = format!("{dir}{name}");
        let n = client
            .get_to_writer(
                &url,
                &mut out,
                max,
                limits.deadline,
                limits.rate,
                limits.stop,
            )
            .map_err(|e| match e {
                FetchError::Body { reason, .. } if reason.contains("larger than") => {
                    MirrorError::Mismatch(format!(
                        "{url} is larger than the origin announced (+5 %: {max} bytes)"
                    ))
                }
                e => MirrorError::Fetch(e),
            })?;
        let file = out.into_inner().map_err(|e| {
            MirrorError::io(format!("cannot write {}", path.display()))(e.into_error())
        })?;
        file.sync_all()
            .map_err(MirrorError::io(format!("cannot sync {}", path.display())))?;
        check_ranges(&path, name, ranges)?;
        media_total += n;
        total += n;
    }

    // In place: the directory appears whole, or not at all.
    let ready = dirs.ready.join(uuid);
    remove_dir(&ready)?;
    std::fs::create_dir_all(&dirs.ready).map_err(MirrorError::io(format!(
        "cannot create {}",
        dirs.ready.display()
    )))?;
    sync_dir(&partial)?;
    std::fs::rename(&partial, &ready).map_err(MirrorError::io(format!(
        "cannot move {} to {}",
        partial.display(),
        ready.display()
    )))?;
    sync_dir(&dirs.ready)?;
    Ok(total)
}

/// Checks every byte range of `ranges` (`start-end`, inclusive) of the file at `path`.
fn check_ranges(
    path: &Path,
    name: &str,
    ranges: &BTreeMap<String, String>,
) -> Result<(), MirrorError> {
    let mut f =
        File::open(path).map_err(MirrorError::io(format!("cannot open {}", path.display())))?;
    let len = f
        .metadata()
        .map_err(MirrorError::io(format!("cannot stat {}", path.display())))?
        .len();
    if ranges.is_empty() {
        return Err(MirrorError::Mismatch(format!("{name} has no hashed range")));
    }
    let mut buf = vec![0u8; 1 << 20];
    for (range, want) in ranges {
        let bad = || MirrorError::Mismatch(format!("{name}: bad range {range:?} in the hashes"));
        let (a, b) = range.split_once('-').ok_or_else(bad)?;
        let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if b < a || b >= len {
            return Err(MirrorError::Mismatch(format!(
                "{name}: range {range} is outside the file's {len} bytes"
            )));
        }
        f.seek(SeekFrom::Start(a))
            .map_err(MirrorError::io(format!("cannot read {}", path.display())))?;
        let mut left = b - a + 1;
        let mut h = Sha256::new();
        while left > 0 {
            let n = (left as usize).min(buf.len());
            f.read_exact(&mut buf[..n])
                .map_err(MirrorError::io(format!("cannot read {}", path.display())))?;
            h.update(&buf[..n]);
            left -= n as u64;
        }
        if !hex::encode(h.finalize()).eq_ignore_ascii_case(want) {
            return Err(MirrorError::Mismatch(format!(
                "{name}: bytes {range} do not match the origin's sha256"
            )));
        }
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), MirrorError> {
    let mut f =
        File::create(path).map_err(MirrorError::io(format!("cannot create {}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(MirrorError::io(format!("cannot write {}", path.display())))
}

fn sync_dir(path: &Path) -> Result<(), MirrorError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(MirrorError::io(format!("cannot sync {}", path.display())))
}

/// Removes a directory and what it holds; absent is fine.
pub fn remove_dir(path: &Path) -> Result<(), MirrorError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(MirrorError::Io {
            what: format!("cannot remove {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::record::RemoteFile;
    use std::sync::{Arc, Mutex};

    /// What a test origin serves: path → bytes.
    type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

    /// A loopback origin serving `files` over HTTP/1.1; returns its base URL.
    fn origin(files: Files) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let files = files.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    let _ = r.read_line(&mut line);
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                    }
                    let body = files.lock().unwrap().get(&path).cloned();
                    let mut w = conn;
                    let _ = match body {
                        Some(b) => write!(w, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", b.len())
                            .and_then(|_| w.write_all(&b)),
                        None => write!(w, "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
                    };
                });
            }
        });
        base
    }

    const DIR: &str = "/static/streaming-playlists/hls/u1";

    /// An origin with a master, one variant, its fMP4 and the hashes; the remote video that
    /// names them.
    fn setup() -> (Files, RemoteVideo) {
        let media: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let h = |a: usize, b: usize| hex::encode(Sha256::digest(&media[a..=b]));
        let hashes = serde_json::json!({"p-240-fragmented.mp4": {
            "0-99999": h(0, 99_999), "100000-299999": h(100_000, 299_999)}});
        let mut files = HashMap::new();
        files.insert(
            format!("{DIR}/p-master.m3u8"),
            b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\np-240.m3u8\n".to_vec(),
        );
        files.insert(format!("{DIR}/p-240.m3u8"), b"#EXTM3U\n#EXT-X-MAP:URI=\"p-240-fragmented.mp4\",BYTERANGE=\"10@0\"\n#EXTINF:4,\n#EXT-X-BYTERANGE:99990@10\np-240-fragmented.mp4\n#EXTINF:4,\n#EXT-X-BYTERANGE:200000@100000\np-240-fragmented.mp4\n#EXT-X-ENDLIST\n".to_vec());
        files.insert(format!("{DIR}/p-240-fragmented.mp4"), media.clone());
        files.insert(
            format!("{DIR}/p-segments-sha256.json"),
            hashes.to_string().into_bytes(),
        );
        let files = Arc::new(Mutex::new(files));
        let base = origin(files.clone());
        let remote = RemoteVideo {
            url: format!("{base}/videos/watch/u1"),
            host: base.trim_start_matches("http://").to_string(),
            account: format!("{base}/accounts/a"),
            channel: None,
            watch_url: None,
            playlist_url: Some(format!("{base}{DIR}/p-master.m3u8")),
            segments_sha256_url: Some(format!("{base}{DIR}/p-segments-sha256.json")),
            files: vec![RemoteFile {
                resolution: 240,
                width: None,
                fps: None,
                size: media.len() as u64,
                url: format!("{base}{DIR}/p-240-fragmented.mp4"),
                torrent_url: None,
                magnet: None,
                info_hash: None,
            }],
            infohashes: vec![],
            thumbnail_url: None,
            tracker_urls: vec![],
            views: 0,
            received_from: String::new(),
            storyboard: None,
        };
        (files, remote)
    }

    fn client() -> Client {
        Client::new(&crate::config::FederationConfig {
            allow_private_addresses: true,
            ..Default::default()
        })
    }

    fn limits(stop: &AtomicBool) -> Limits<'_> {
        Limits {
            deadline: Instant::now() + std::time::Duration::from_secs(30),
            rate: 0,
            stop,
        }
    }

    #[test]
    fn a_mirror_is_checked_and_placed_whole_or_not_at_all() {
        let (files, remote) = setup();
        let root = tempfile::tempdir().unwrap();
        let dirs = Dirs::new(root.path());
        let stop = AtomicBool::new(false);
        let c = client();
        // Good: every file, byte for byte, in the served directory; nothing partial left.
        let size = mirror(&c, &dirs, "u1", &remote, &limits(&stop)).unwrap();
        assert!(size >= 300_000, "{size}");
        for name in [
            "p-master.m3u8",
            "p-240.m3u8",
            "p-240-fragmented.mp4",
            "p-segments-sha256.json",
        ] {
            let want = files.lock().unwrap()[&format!("{DIR}/{name}")].clone();
            assert_eq!(
                std::fs::read(dirs.ready.join("u1").join(name)).unwrap(),
                want,
                "{name}"
            );
        }
        assert!(!dirs.partial.join("u1").exists());

        // Bytes that do not match the origin's hashes: refused, nothing served or left.
        let bad = tempfile::tempdir().unwrap();
        let bad_dirs = Dirs::new(bad.path());
        files
            .lock()
            .unwrap()
            .get_mut(&format!("{DIR}/p-240-fragmented.mp4"))
            .unwrap()[150_000] ^= 0xff;
        let e = mirror(&c, &bad_dirs, "u1", &remote, &limits(&stop)).unwrap_err();
        assert!(matches!(e, MirrorError::Mismatch(_)), "{e}");
        assert!(e.to_string().contains("100000-299999"), "{e}");
        assert!(!bad_dirs.ready.join("u1").exists() && !bad_dirs.partial.join("u1").exists());
        files
            .lock()
            .unwrap()
            .get_mut(&format!("{DIR}/p-240-fragmented.mp4"))
            .unwrap()[150_000] ^= 0xff;

        // Larger than announced (+5 %): refused.
        let mut small = remote.clone();
        small.files[0].size = 200_000;
        let e = mirror(&c, &bad_dirs, "u1", &small, &limits(&stop)).unwrap_err();
        assert!(
            e.to_string().contains("larger than the origin announced"),
            "{e}"
        );
        assert!(!bad_dirs.ready.join("u1").exists());

        // A playlist naming a file elsewhere: refused by name.
        files.lock().unwrap().insert(
            format!("{DIR}/p-240.m3u8"),
            b"#EXTM3U\n#EXTINF:4,\n../../../etc/passwd\n".to_vec(),
        );
        let e = mirror(&c, &bad_dirs, "u1", &remote, &limits(&stop)).unwrap_err();
        assert!(e.to_string().contains("etc/passwd"), "{e}");

        // Stopped: given up, nothing left.
        let stopped = AtomicBool::new(true);
        let (_files, remote) = setup();
        assert!(mirror(&c, &bad_dirs, "u1", &remote, &limits(&stopped)).is_err());
        assert!(!bad_dirs.ready.join("u1").exists() && !bad_dirs.partial.join("u1").exists());
        // The good mirror is untouched by all that.
        assert!(dirs.ready.join("u1/p-240-fragmented.mp4").exists());
    }

    #[test]
    fn ranges_are_checked_against_their_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp4");
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let h = |a: usize, b: usize| hex::encode(Sha256::digest(&data[a..=b]));
        let mut ranges = BTreeMap::new();
        ranges.insert("0-999".to_string(), h(0, 999));
        ranges.insert("1000-4999".to_string(), h(1000, 4999));
        check_ranges(&path, "a.mp4", &ranges).unwrap();
        // One byte changed: refused, with the range.
        let mut bad = data.clone();
        bad[2000] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let e = check_ranges(&path, "a.mp4", &ranges)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1000-4999"), "{e}");
        // A range past the end (a truncated file).
        std::fs::write(&path, &data[..3000]).unwrap();
        let e = check_ranges(&path, "a.mp4", &ranges)
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside"), "{e}");
    }
}
