//! `live-rtmp-hls-transcoding` jobs: an RTMP source (the ffmpeg CLI listening on loopback, as
//! an RTMP server the runner plays), the runner sending every chunk in `add-chunk` updates with
//! its playlist and the master, `remove-chunk` for chunks dropped from the playlists, and an
//! empty `success` at the stream's end; the instance ending the live mid-stream; a source that
//! cannot be reached; the runner stopped mid-stream.

use super::peertube::{safe_name, LiveUpdate, Pt};
use super::{eventually, ffprobe, register, Running};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIVE: &str = "live-rtmp-hls-transcoding";

/// Whether something listens on 127.0.0.1:`port` (read from /proc: a test connection would be
/// taken by ffmpeg as its one player).
fn listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(1) == Some(&want.as_str()) && cols.get(3) == Some(&"0A")
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ffmpeg … -f flv -listen 1 rtmp://…`: an RTMP server that sends `secs` seconds of 640x360
/// 25 fps H.264 and AAC to the first client that plays it.
struct Source {
    child: Child,
    url: String,
}

impl Source {
    fn start(dir: &Path, secs: u32) -> Source {
        let port = free_port();
        let url = format!("rtmp://127.0.0.1:{port}/live/stream-key-{port}");
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
            .args(["-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"])
            .args(["-re", "-f", "lavfi", "-i", "sine=frequency=440"])
            .args(["-t", &secs.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-g", "50", "-c:a", "aac", "-f", "flv", "-listen", "1"])
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("source-{port}.log"))).unwrap())
            .spawn()
            .expect("ffmpeg CLI is required");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !listening(port) {
            assert!(
                Instant::now() < deadline,
                "ffmpeg does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Source { child, url }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(url: &str) -> Value {
    json!({"input": {"rtmpUrl": url},
           "output": {"toTranscode": [{"resolution": 360, "fps": 25}, {"resolution": 240, "fps": 25}],
                      "segmentDuration": 2, "segmentListSize": 3}})
}

fn live_log(pt: &Pt, job: &str) -> Vec<LiveUpdate> {
    let i = pt.inner.lock().unwrap();
    i.log
        .live
        .iter()
        .filter(|u| u.job == job)
        .cloned()
        .collect()
}

fn work_dir_is_empty(state: &Path) -> bool {
    std::fs::read_dir(state.join("work"))
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

fn probe_streams(path: &Path) -> Vec<Value> {
    ffprobe(path.to_str().unwrap())["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_live_stream_is_sent_chunk_by_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let pt = Pt::start(dir.path().join("no-input.mp4"), results.clone());
    let state = dir.path().join("runner");
    register(&pt, &state, "live-1", 2);
    let source = Source::start(dir.path(), 12);
    let runner = Running::start(&state);
    eventually("the socket.io connection", &runner, 30, || {
        pt.inner.lock().unwrap().log.sockets > 0
    });
    let job = "c0000000-0000-4000-8000-000000000001";
    pt.add_job(job, LIVE, payload(&source.url));
    eventually("the live job completed", &runner, 90, || {
        pt.job(job).state == 3
    });

    let updates = live_log(&pt, job);
    let (errors, success) = {
        let i = pt.inner.lock().unwrap();
        (i.log.errors.clone(), i.log.successes.get(job).cloned())
    };
    assert!(errors.is_empty(), "{errors:?}");
    // `success` with the tokens only.
    let success = success.expect("no success");
    assert!(success.iter().all(|f| f.file_name.is_none()), "{success:?}");
    let names: Vec<&str> = success.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["runnerToken", "jobToken"]);

    // add-chunk: safe names, every playlist, each sent playlist listing only chunks sent.
    let mut added: Vec<String> = Vec::new();
    for u in &updates {
        assert!(safe_name(&u.chunk, "ts"), "{u:?}");
        if let Some(p) = &u.playlist {
            assert!(safe_name(p, "m3u8"), "{u:?}");
            let variant = u.chunk.split('-').next().unwrap();
            assert_eq!(p, &format!("{variant}.m3u8"), "{u:?}");
            assert!(u.master, "{u:?}");
        }
        if u.kind == "add-chunk" {
            assert!(!added.contains(&u.chunk), "sent twice: {u:?}");
            added.push(u.chunk.clone());
            if u.playlist.is_some() {
                assert!(u.listed.contains(&u.chunk), "{u:?}");
                for listed in &u.listed {
                    assert!(
                        added.contains(listed),
                        "{listed} listed before it was sent: {u:?}"
                    );
                }
            }
        } else {
            assert_eq!(u.kind, "remove-chunk");
            assert!(
                added.contains(&u.chunk),
                "removed before it was sent: {u:?}"
            );
        }
    }
    for variant in ["0", "1", "2"] {
        let n = added
            .iter()
            .filter(|c| c.starts_with(&format!("{variant}-")))
            .count();
        assert!(n >= 3, "{n} chunks for playlist {variant}: {added:?}");
    }
    assert!(
        updates.iter().any(|u| u.playlist.is_some()),
        "no playlist sent: {updates:?}"
    );
    let removed: Vec<&str> = updates
        .iter()
        .filter(|u| u.kind == "remove-chunk")
        .map(|u| u.chunk.as_str())
        .collect();
    assert!(!removed.is_empty(), "no remove-chunk: {updates:?}");

    // What the instance holds: each playlist lists chunks it has, none it was told to remove.
    let out = results.join(job).join("live");
    for (variant, height) in [("0", Some(360)), ("1", Some(240)), ("2", None)] {
        let playlist = std::fs::read_to_string(out.join(format!("{variant}.m3u8"))).unwrap();
        // (EXTINF seconds, chunk) pairs.
        let mut listed: Vec<(f64, &str)> = Vec::new();
        let mut secs = 0.0;
        for line in playlist.lines() {
            if let Some(d) = line.strip_prefix("#EXTINF:") {
                secs = d.trim_end_matches(',').parse().unwrap();
            } else if !line.is_empty() && !line.starts_with('#') {
                listed.push((secs, line));
            }
        }
        assert!(!listed.is_empty(), "{playlist}");
        for (secs, chunk) in &listed {
            assert!(!removed.contains(chunk), "{chunk} removed but listed");
            let streams = probe_streams(&out.join(chunk));
            assert_eq!(streams.len(), 1, "{chunk}: {streams:?}");
            match height {
                Some(h) => {
                    assert_eq!(streams[0]["codec_name"], "h264", "{chunk}");
                    assert_eq!(streams[0]["height"], h, "{chunk}");
                }
                None => {
                    assert_eq!(streams[0]["codec_type"], "audio", "{chunk}");
                    // ffprobe guesses the codec of the stream's last few milliseconds wrongly
                    // (a couple of ADTS frames); the PMT says AAC all the same.
                    if *secs >= 0.5 {
                        assert_eq!(streams[0]["codec_name"], "aac", "{chunk}");
                    }
                }
            }
        }
        for chunk in &removed {
            assert!(!out.join(chunk).exists(), "{chunk} still there");
        }
    }
    // FFmpeg 5.1's hls muxer also lists the audio-only variant as a STREAM-INF of its own.
    let master = std::fs::read_to_string(out.join("live-master.m3u8")).unwrap();
    for needle in [
        "RESOLUTION=640x360",
        "RESOLUTION=426x240",
        "#EXT-X-MEDIA:TYPE=AUDIO",
        "URI=\"2.m3u8\"",
        "AUDIO=\"",
        "\n0.m3u8",
        "\n1.m3u8",
    ] {
        assert!(master.contains(needle), "{needle} not in {master}");
    }
    eventually("the work directory emptied", &runner, 10, || {
        work_dir_is_empty(&state)
    });
    assert!(runner.log().contains("live job done"), "{}", runner.log());
}

#[test]
fn live_faults_have_clear_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let pt = Pt::start(dir.path().join("no-input.mp4"), dir.path().join("results"));
    let state = dir.path().join("runner");
    register(&pt, &state, "live-2", 2);
    // Longer than the test: only the runner going away ends it early.
    let mut source = Source::start(dir.path(), 120);
    let mut runner = Running::start(&state);
    eventually("the socket.io connection", &runner, 30, || {
        pt.inner.lock().unwrap().log.sockets > 0
    });
    let job = "c0000000-0000-4000-8000-000000000002";
    pt.inner
        .lock()
        .unwrap()
        .faults
        .end_live_after_chunks
        .insert(job.into(), 4);
    pt.add_job(job, LIVE, payload(&source.url));
    eventually("the refused update", &runner, 60, || {
        pt.inner
            .lock()
            .unwrap()
            .log
            .refused_updates
            .iter()
            .any(|u| u == job)
    });
    // The runner stopped playing: ffmpeg, serving nobody, exits.
    eventually("the source to lose its player", &runner, 30, || {
        source.child.try_wait().unwrap().is_some()
    });
    eventually("the work directory emptied", &runner, 10, || {
        work_dir_is_empty(&state)
    });
    {
        let i = pt.inner.lock().unwrap();
        assert_eq!(
            i.log.refused_updates.iter().filter(|u| *u == job).count(),
            1,
            "updates after the refusal"
        );
        assert!(
            !i.log.errors.iter().any(|(u, _)| u == job),
            "{:?}",
            i.log.errors
        );
        assert!(!i.log.successes.contains_key(job));
        assert!(!i.log.aborts.iter().any(|(u, _)| u == job));
    }
    assert!(
        runner.log().contains("the instance ended the live"),
        "{}",
        runner.log()
    );

    // A source nobody serves: the job errors, naming the URL.
    let dead = format!("rtmp://127.0.0.1:{}/live/nobody", free_port());
    let job = "c0000000-0000-4000-8000-000000000003";
    pt.add_job(job, LIVE, payload(&dead));
    eventually("the error", &runner, 60, || {
        pt.inner
            .lock()
            .unwrap()
            .log
            .errors
            .iter()
            .any(|(u, _)| u == job)
    });
    let message = {
        let i = pt.inner.lock().unwrap();
        i.log
            .errors
            .iter()
            .find(|(u, _)| u == job)
            .map(|(_, m)| m.clone())
            .unwrap()
    };
    assert!(
        message.contains(&format!("cannot play the live stream {dead}")),
        "{message}"
    );

    // SIGTERM while a live is sent: `abort` with PeerTube's reason, nothing left behind.
    let source = Source::start(dir.path(), 120);
    let job = "c0000000-0000-4000-8000-000000000004";
    pt.add_job(job, LIVE, payload(&source.url));
    eventually("a first chunk", &runner, 60, || {
        !live_log(&pt, job).is_empty()
    });
    let st = runner.term();
    assert!(st.success(), "{st:?}\n{}", runner.log());
    let aborts = pt.inner.lock().unwrap().log.aborts.clone();
    assert!(
        aborts
            .iter()
            .any(|(u, r)| u == job && r == "Runner stopped"),
        "{aborts:?}"
    );
    assert!(work_dir_is_empty(&state), "work directory left behind");
}
