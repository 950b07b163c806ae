//! Our protocol outputs read by real, independent clients.

use fleuve::media::torrent::{create, TorrentSpec};
use std::process::Command;

#[test]
fn libtorrent_reads_our_torrents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x-480-fragmented.mp4");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let spec = TorrentSpec {
        name: "x 480p.mp4".into(),
        trackers: vec![
            "ws://127.0.0.1:9000/tracker/socket".into(),
            "http://127.0.0.1:9000/tracker/announce".into(),
        ],
        webseed: "http://127.0.0.1:9000/static/streaming-playlists/hls/u/x-480-fragmented.mp4"
            .into(),
    };
    let t = create(&path, &spec).unwrap();
    let tpath = dir.path().join("x.torrent");
    std::fs::write(&tpath, &t.bytes).unwrap();
    let script = r#"
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
print(str(ti.info_hashes().v1))
print(ti.total_size(), ti.num_pieces(), ti.piece_length())
print(" ".join(t.url for t in ti.trackers()))
print(" ".join(ti.web_seeds()[i]["url"] for i in range(len(ti.web_seeds()))))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&tpath)
        .output()
        .expect("python3 with the libtorrent package is required (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], t.info_hash_hex());
    assert_eq!(lines[1], "3000000 184 16384");
    assert_eq!(lines[2], spec.trackers.join(" "));
    assert_eq!(lines[3], spec.webseed);
}
