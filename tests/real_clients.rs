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

mod common;

/// Runs `peertube-cli` (npm `@peertube/peertube-cli`) with its settings under `home`.
fn peertube_cli(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    let cli = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients/node_modules/.bin/peertube-cli");
    assert!(
        cli.exists(),
        "{} is missing: run npm ci in tests/clients (scripts/setup.sh does)",
        cli.display()
    );
    Command::new("timeout")
        .arg("180")
        .arg(&cli)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("NODE_ENV")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run peertube-cli")
}

/// PeerTube's own CLI logs in, uploads (it reads `files[0].torrentUrl` right after the upload,
/// which crashed it while Fleuve answered `files: []` until transcoded), and finds its video.
#[test]
fn peertube_cli_logs_in_uploads_and_lists() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipped: node is not installed (peertube-cli needs it)");
        return;
    }
    let s = common::Server::start();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let url = s.base.clone();
    let ok = |out: &std::process::Output, what: &str| {
        assert!(
            out.status.success(),
            "peertube-cli {what} failed ({}):\n{}\n{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            s.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = peertube_cli(
        home,
        &[
            "auth",
            "add",
            "-u",
            &url,
            "-U",
            "root",
            "--password",
            common::ROOT_PASSWORD,
            "--default",
        ],
    );
    ok(&out, "auth add");
    let listed = ok(&peertube_cli(home, &["auth", "list"]), "auth list");
    assert!(listed.contains("root"), "{listed}");

    let clip = common::clip(&s.dir, "cli clip.mp4", "320x240", 25, 3, true);
    let out = peertube_cli(
        home,
        &[
            "upload",
            "-f",
            clip.to_str().unwrap(),
            "-n",
            "Uploaded by peertube-cli",
            "-d",
            "from the CLI",
        ],
    );
    let said = ok(&out, "upload");
    assert!(
        said.contains("Video Uploaded by peertube-cli uploaded."),
        "{said}"
    );

    let token = ok(
        &peertube_cli(
            home,
            &[
                "get-access-token",
                "-u",
                &url,
                "-n",
                "root",
                "-p",
                common::ROOT_PASSWORD,
            ],
        ),
        "get-access-token",
    );
    let token = token.trim().to_string();
    common::rt().block_on(async {
        let list = common::get_json_as(&s, "/api/v1/videos?sort=-publishedAt", &token).await;
        let found = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "Uploaded by peertube-cli");
        // A video shows in the list once published; wait for it as a viewer would.
        if !found {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
            loop {
                let list = common::get_json_as(&s, "/api/v1/videos", &token).await;
                if list["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["name"] == "Uploaded by peertube-cli")
                {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{list}\n{}", s.log());
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    });
}
