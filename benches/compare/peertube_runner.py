#!/usr/bin/env python3
"""A remote runner that works the way PeerTube's `peertube-runner` does, for benchmarks.

PeerTube's runner is not on the npm registry reachable here, so this stands in for it: the same
protocol calls (register, request, accept, POST download with both tokens, multipart update and
success), and for each `vod-hls-transcoding` (and storyboard) job its own download and its own ffmpeg process with
PeerTube's VOD HLS options (`packages/ffmpeg/src/ffmpeg-vod.ts`, default profile: libx264
veryfast, maxrate/bufsize from PeerTube's bitrate formula, `-b_strategy 1 -bf 16`, GOP of 2 s,
AAC, `-threads` = the runner's `ffmpeg.threads` (2), single-file fMP4 HLS), `concurrency` jobs at
a time. It exits once no job is left for `--idle` seconds. Python's standard library only.

  peertube_runner.py URL REGISTRATION_TOKEN --plan PLAN.json [--concurrency 2] [--threads 2]

PLAN.json is `fleuve plan --json` of the source: the target bit rate and GOP per resolution.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid


def call(url, body, multipart=None):
    """POSTs JSON (or a multipart form of fields and files); returns (status, parsed body)."""
    if multipart is None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
    else:
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in body.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, path in multipart.items():
            with open(path, "rb") as f:
                content = f.read()
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{os.path.basename(path)}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
            )
        parts.append(f"--{boundary}--\r\n".encode())
        data = b"".join(parts)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw


def download(url, tokens, dest):
    req = urllib.request.Request(url, data=json.dumps(tokens).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=600) as r, open(dest, "wb") as f:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)


def ffmpeg_hls(src, out_dir, resolution, fps, plan, threads):
    rung = next((r for r in plan["ladder"]["rungs"] if r["resolution"] == resolution), None)
    if rung is None:
        raise RuntimeError(f"no {resolution}p in the plan")
    audio = plan["ladder"]["audio"]
    name = f"{uuid.uuid4()}-{resolution}"
    playlist = os.path.join(out_dir, f"{name}.m3u8")
    media = os.path.join(out_dir, f"{name}-fragmented.mp4")
    target = rung["targetBitrate"]
    cmd = ["nice", "-n", "20", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
           "-vf", f"scale=w=-2:h={resolution}", "-r", str(fps), "-c:v", "libx264", "-preset", "veryfast",
           "-maxrate", str(target), "-bufsize", str(2 * target), "-b_strategy", "1", "-bf", "16",
           "-g", str(rung["gop"]), "-flags", "+cgop", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", str(audio["bitrate"]), "-ac", "2", "-ar", "48000"]
    cmd += ["-threads", str(threads), "-max_muxing_queue_size", "1024", "-map_metadata", "-1",
            "-f", "hls", "-hls_time", "4", "-hls_list_size", "0", "-hls_playlist_type", "vod",
            "-hls_segment_type", "fmp4", "-hls_flags", "single_file",
            "-hls_segment_filename", media, playlist]
    subprocess.run(cmd, check=True)
    return media, playlist


def ffmpeg_storyboard(src, out_dir, sprites, threads):
    """PeerTube's storyboard (`ffmpeg-images.ts`, generateStoryboardFromVideo)."""
    out = os.path.join(out_dir, f"{uuid.uuid4()}.jpg")
    size, count = sprites["size"], sprites["count"]
    vf = ",".join([
        "setpts=N/round(FRAME_RATE)/TB",
        f"select='not(mod(t,{sprites['duration']}))'",
        f"scale={size['width']}:{size['height']}",
        f"tile=layout={count['width']}x{count['height']}",
    ])
    subprocess.run(["nice", "-n", "20", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
                    "-filter_complex", vf, "-frames:v", "1", "-q:v", "2", "-threads", str(threads), out],
                   check=True)
    return out


def process(base, token, job, plan, threads, work):
    tokens = {"runnerToken": token, "jobToken": job["jobToken"]}
    juuid = job["uuid"]
    # PeerTube's runner sends a progress update at once and then every 60 s
    # (scheduleTranscodingProgress); the server's watchdog re-queues a job after 2 minutes without.
    done = threading.Event()

    def heartbeat():
        while True:
            call(f"{base}/api/v1/runners/jobs/{juuid}/update", {**tokens, "progress": 0}, multipart={})
            if done.wait(60):
                return

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        process_files(base, tokens, juuid, job, plan, threads, work)
    finally:
        done.set()


def process_files(base, tokens, juuid, job, plan, threads, work):
    with tempfile.TemporaryDirectory(dir=work) as d:
        src = os.path.join(d, "input")
        download(job["payload"]["input"]["videoFileUrl"], tokens, src)
        try:
            if job["type"] == "generate-video-storyboard":
                files = {"payload[storyboardFile]": ffmpeg_storyboard(src, d, job["payload"]["sprites"], threads)}
            else:
                out = job["payload"]["output"]
                media, playlist = ffmpeg_hls(src, d, out["resolution"], out["fps"], plan, threads)
                files = {"payload[videoFile]": media, "payload[resolutionPlaylistFile]": playlist}
        except Exception as e:  # noqa: BLE001 - reported to the server as PeerTube's runner does
            call(f"{base}/api/v1/runners/jobs/{juuid}/error", {**tokens, "message": str(e)})
            return
        status, body = call(f"{base}/api/v1/runners/jobs/{juuid}/success", tokens, multipart=files)
        if status != 204:
            print(f"success of {juuid}: {status} {body}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("registration_token")
    ap.add_argument("--plan", required=True)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--idle", type=float, default=5.0)
    args = ap.parse_args()
    base = args.url.rstrip("/")
    plan = json.load(open(args.plan))
    status, reg = call(f"{base}/api/v1/runners/register",
                       {"registrationToken": args.registration_token, "name": f"peertube-like-{os.getpid()}"})
    if status != 200:
        sys.exit(f"register: {status} {reg}")
    token = reg["runnerToken"]
    work = tempfile.mkdtemp(prefix="pt-runner-")
    running = []
    idle_since = time.monotonic()
    while True:
        running = [t for t in running if t.is_alive()]
        free = args.concurrency - len(running)
        taken = 0
        if free > 0:
            status, res = call(f"{base}/api/v1/runners/jobs/request",
                               {"runnerToken": token,
                                "jobTypes": ["vod-hls-transcoding", "generate-video-storyboard"]})
            for job in (res or {}).get("availableJobs", [])[:free]:
                status, acc = call(f"{base}/api/v1/runners/jobs/{job['uuid']}/accept", {"runnerToken": token})
                if status != 200:
                    continue
                t = threading.Thread(target=process, args=(base, token, acc["job"], plan, args.threads, work))
                t.start()
                running.append(t)
                taken += 1
        if running or taken:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > args.idle:
            break
        time.sleep(0.5)
    call(f"{base}/api/v1/runners/unregister", {"runnerToken": token})


if __name__ == "__main__":
    main()
