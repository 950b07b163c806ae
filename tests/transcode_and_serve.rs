//! A ladder made by `fleuve transcode`, served by `fleuve serve`, read over HTTP by ffprobe.

mod common;

use common::*;
use std::process::Command;

#[test]
fn ffprobe_reads_every_rung_through_the_master_playlist() {
    let s = Server::start();
    let src = clip(&s.dir, "src.mp4", "854x480", 25, 3, true);
    let uuid = "0f5c4e9b-0000-4000-8000-0000000000e2";
    let dir = s.media().join("streaming-playlists/hls").join(uuid);
    let out = Command::new(bin())
        .args(["transcode", "--prefix", "demo"])
        .arg(&src)
        .arg(&dir)
        .env("FLEUVE_TRANSCODE_RESOLUTIONS", "144,360")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = s.url(&format!(
        "/static/streaming-playlists/hls/{uuid}/demo-master.m3u8"
    ));
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let text = String::from_utf8(probe.stdout).unwrap();
    for want in ["h264,854,480", "h264,640,360", "h264,256,144", "aac"] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    // The segment requests went through the media route as byte ranges.
    let m = metrics_text(&s);
    assert!(m.contains("route=\"media\",status=\"206\""), "{m}");
}

fn metrics_text(s: &Server) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        client()
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
}
