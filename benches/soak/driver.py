#!/usr/bin/env python3
"""Soak driver for benches/soak.sh: a steady mix against two federating Fleuve instances, and
the sampler that records what the servers hold over time. Standard library only.

    driver.py run --out DIR --minutes N --a DIR_A:PID_A --b DIR_B:PID_B --password P --clip FILE
    driver.py summary --out DIR [--warmup-min M]

`run` drives, for N minutes:
  * viewers: keep-alive HTTP/1.1 connections fetching master playlists, media playlists and
    byte ranges of the published fMP4 renditions of each instance (and the video list), plus an
    HTTP/2 (h2c, curl) burst every few seconds;
  * uploads: PeerTube's resumable protocol in chunks, alternating A and B, each video waited
    for until published (so transcodes run and Create deliveries go A->B and B->A); beyond
    SOAK_KEEP_VIDEOS local videos the oldest is deleted (Delete deliveries), so the stored set
    stays bounded; a PUT rename now and then (Update deliveries);
  * tracker: announces over HTTP, UDP (BEP 15) and WebSocket (WebTorrent JSON) for the
    published info-hashes, from a bounded pool of peer ids that start and stop;
and samples every SOAK_SAMPLE_SECS seconds, per instance: RSS, open fds, threads, data-dir
bytes, the queue gauges of /metrics, and whether B lists every video of A (and A every one of
B); with the driver's own request and error counts. Writes samples.csv and errors.json.
`summary` prints a Markdown table from samples.csv.
"""

import argparse
import base64
import csv
import http.client
import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter

STOP = threading.Event()
LOCK = threading.Lock()
COUNTS = Counter()  # requests done, by kind
ERRORS = Counter()  # errors, by kind
LAST_ERRORS = {}  # kind -> last message


def count(kind, n=1):
    with LOCK:
        COUNTS[kind] += n


def error(kind, msg):
    with LOCK:
        ERRORS[kind] += 1
        LAST_ERRORS[kind] = str(msg)[:300]


def env_num(name, default):
    v = os.environ.get(name)
    return type(default)(v) if v else default


# --------------------------------------------------------------------------------------------
# HTTP helpers


class Instance:
    """One server: its address, data dir, pid, token, and the videos it has published."""

    def __init__(self, name, data_dir, pid, password):
        self.name = name
        self.data_dir = data_dir
        self.pid = pid
        self.password = password
        lines = open(os.path.join(data_dir, "fleuve.addr")).read().splitlines()
        self.addr = lines[0]
        self.udp = lines[2] if len(lines) > 2 and lines[2] else None
        self.host, port = self.addr.rsplit(":", 1)
        self.port = int(port)
        self.token = None
        self.videos = {}  # uuid -> Video (local, published)
        self.order = []  # local uuids, oldest first
        self.vlock = threading.Lock()

    def conn(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, auth=True, conn=None):
        """One request; returns (status, headers dict, body bytes)."""
        h = dict(headers or {})
        if auth and self.token:
            h["Authorization"] = "Bearer " + self.token
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if conn is None:
                c.close()

    def json(self, method, path, obj=None, headers=None):
        h = dict(headers or {})
        body = None
        if obj is not None:
            body = json.dumps(obj).encode()
            h["Content-Type"] = "application/json"
        st, hd, data = self.request(method, path, body, h)
        try:
            return st, hd, json.loads(data) if data else None
        except ValueError:
            return st, hd, data

    def login(self):
        st, _, oc = self.json("GET", "/api/v1/oauth-clients/local")
        assert st == 200, f"{self.name}: oauth client {st}"
        form = urllib.parse.urlencode({
            "client_id": oc["client_id"], "client_secret": oc["client_secret"],
            "grant_type": "password", "username": "root", "password": self.password,
        }).encode()
        st, _, data = self.request("POST", "/api/v1/users/token", form,
                                   {"Content-Type": "application/x-www-form-urlencoded"},
                                   auth=False)
        assert st == 200, f"{self.name}: login {st} {data[:200]!r}"
        self.token = json.loads(data)["access_token"]

    def metrics(self):
        st, _, data = self.request("GET", "/metrics", auth=False)
        if st != 200:
            raise RuntimeError(f"/metrics {st}")
        out = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out

    def list_uuids(self, local):
        """uuids of the videos this instance lists (local or remote ones)."""
        uuids, start = set(), 0
        while True:
            st, _, body = self.json("GET", f"/api/v1/videos?count=100&start={start}")
            if st != 200:
                raise RuntimeError(f"videos list {st}")
            data = body.get("data", [])
            for v in data:
                if bool(v.get("isLocal")) == local:
                    uuids.add(v["uuid"])
            start += len(data)
            if not data or start >= body.get("total", 0):
                return uuids


class Video:
    """A published video: its playlists and byte ranges, and its info-hashes."""

    def __init__(self, detail):
        self.uuid = detail["uuid"]
        pl = detail["streamingPlaylists"][0]
        self.master = urllib.parse.urlsplit(pl["playlistUrl"]).path
        self.sha = urllib.parse.urlsplit(pl.get("segmentsSha256Url") or pl["playlistUrl"]).path
        self.infohashes = [bytes.fromhex(f["infoHash"]) for f in pl["files"] if f.get("infoHash")]
        self.media = []  # media playlist paths
        self.ranges = []  # (path, start, length)


def load_video(inst, uuid):
    st, _, detail = inst.json("GET", f"/api/v1/videos/{uuid}")
    if st != 200:
        raise RuntimeError(f"video {uuid}: {st}")
    v = Video(detail)
    base = v.master.rsplit("/", 1)[0]
    st, _, master = inst.request("GET", v.master, auth=False)
    if st != 200:
        raise RuntimeError(f"master {v.master}: {st}")
    for line in master.decode().splitlines():
        if line and not line.startswith("#"):
            v.media.append(base + "/" + line.strip())
    for mp in v.media:
        st, _, text = inst.request("GET", mp, auth=False)
        if st != 200:
            raise RuntimeError(f"media playlist {mp}: {st}")
        lines = text.decode().splitlines()
        for i, line in enumerate(lines):
            m = re.match(r'#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"', line)
            if m:
                v.ranges.append((base + "/" + m.group(1), int(m.group(3)), int(m.group(2))))
            m = re.match(r"#EXT-X-BYTERANGE:(\d+)@(\d+)", line)
            if m and i + 1 < len(lines):
                v.ranges.append((base + "/" + lines[i + 1].strip(), int(m.group(2)), int(m.group(1))))
    if not v.ranges:
        raise RuntimeError(f"no byte ranges in {v.media}")
    return v


# --------------------------------------------------------------------------------------------
# Viewers


def viewer(inst, rate, seed):
    rnd = random.Random(seed)
    conn = None
    period = 1.0 / rate
    nxt = time.monotonic()
    while not STOP.is_set():
        nxt += period * rnd.uniform(0.5, 1.5)
        delay = nxt - time.monotonic()
        if delay > 0:
            STOP.wait(delay)
        else:
            nxt = time.monotonic()
        with inst.vlock:
            vids = list(inst.videos.values())
        if not vids:
            continue
        v = rnd.choice(vids)
        roll = rnd.random()
        try:
            if conn is None:
                conn = inst.conn(timeout=20)
            if roll < 0.05:
                st, _, _ = inst.request("GET", "/api/v1/videos?count=20", auth=False, conn=conn)
                ok, kind = st == 200, "api_list"
            elif roll < 0.12:
                st, _, _ = inst.request("GET", v.master, auth=False, conn=conn)
                ok, kind = st == 200, "master"
            elif roll < 0.20:
                st, _, _ = inst.request("GET", rnd.choice(v.media), auth=False, conn=conn)
                ok, kind = st == 200, "media_playlist"
            elif roll < 0.22:
                st, _, _ = inst.request("GET", v.sha, auth=False, conn=conn)
                ok, kind = st == 200, "segments_sha256"
            else:
                path, start, length = rnd.choice(v.ranges)
                st, _, body = inst.request(
                    "GET", path, auth=False, conn=conn,
                    headers={"Range": f"bytes={start}-{start + length - 1}"})
                ok, kind = st == 206 and len(body) == length, "range"
            if ok:
                count(kind)
            elif st == 404 and inst.videos.get(v.uuid) is None:
                count("gone")  # deleted between the choice and the request
            else:
                error(f"{inst.name}_{kind}", f"status {st}")
        except (OSError, http.client.HTTPException) as e:
            error(f"{inst.name}_viewer_io", repr(e))
            if conn:
                conn.close()
            conn = None
            STOP.wait(1)


def h2_bursts(insts, every, seed):
    """Every `every` s: a master playlist and three byte ranges over HTTP/2 (h2c, prior
    knowledge) with curl, one connection each: Debian 12's curl 7.88.1 fails the second request
    on a reused h2c connection with any server (nginx too), so there is no reuse here."""
    rnd = random.Random(seed)
    while not STOP.wait(every):
        inst = rnd.choice(insts)
        with inst.vlock:
            vids = list(inst.videos.values())
        if not vids:
            continue
        v = rnd.choice(vids)
        reqs = [(v.master, None)] + [(None, rnd.choice(v.ranges)) for _ in range(3)]
        for path, rng in reqs:
            args = ["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}"]
            if rng:
                path, start, length = rng
                args += ["-r", f"{start}-{start + length - 1}"]
            try:
                out = subprocess.run(args + [f"http://{inst.addr}{path}"], capture_output=True,
                                     text=True, timeout=30).stdout.split()
                if len(out) == 2 and out[1] == "2" and out[0] in ("200", "206"):
                    count("h2")
                elif inst.videos.get(v.uuid) is not None:
                    error(f"{inst.name}_h2", " ".join(out))
            except (OSError, subprocess.SubprocessError) as e:
                error("h2_curl", repr(e))


# --------------------------------------------------------------------------------------------
# Uploads, updates, deletes


def resumable_upload(inst, clip, name, chunk):
    data = open(clip, "rb").read()
    total = len(data)
    st, hd, body = inst.json("POST", "/api/v1/videos/upload-resumable",
                             {"name": name, "channelId": 1, "privacy": 1,
                              "filename": os.path.basename(clip)},
                             {"X-Upload-Content-Length": str(total),
                              "X-Upload-Content-Type": "video/mp4"})
    if st not in (200, 201):
        raise RuntimeError(f"upload init {st} {body}")
    loc = urllib.parse.urlsplit(hd["location"])
    path = loc.path + ("?" + loc.query if loc.query else "")
    at = 0
    while True:
        end = min(at + chunk, total)
        st, hd, body = inst.request("PUT", path, data[at:end], {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"bytes {at}-{end - 1}/{total}"})
        count("upload_chunk")
        if end == total:
            if st != 200:
                raise RuntimeError(f"last chunk {st} {body[:200]!r}")
            uuid = json.loads(body)["video"]["uuid"]
            inst.request("DELETE", path)
            return uuid
        if st != 308:
            raise RuntimeError(f"chunk at {at}: {st} {body[:200]!r}")
        m = re.match(r"bytes=0-(\d+)", hd.get("range", ""))
        at = int(m.group(1)) + 1 if m else 0


def wait_published(inst, uuid, deadline_s):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and not STOP.is_set():
        st, _, v = inst.json("GET", f"/api/v1/videos/{uuid}")
        if st == 200 and v["state"]["id"] == 1:
            return True
        if st == 200 and v["state"]["id"] in (7, 8):  # transcoding or move failed
            raise RuntimeError(f"state {v['state']}")
        STOP.wait(2)
    return False


def uploader(insts, clip, every, keep, update_every, seed):
    rnd = random.Random(seed)
    n = 0
    last_update = time.monotonic()
    next_upload = time.monotonic()
    while not STOP.is_set():
        if time.monotonic() >= next_upload:
            inst = insts[n % len(insts)]
            n += 1
            next_upload = time.monotonic() + every
            try:
                uuid = resumable_upload(inst, clip, f"Soak {inst.name} {n}", 256 << 10)
                count("upload")
                if not wait_published(inst, uuid, 600):
                    error(f"{inst.name}_publish_timeout", uuid)
                    continue
                v = load_video(inst, uuid)
                with inst.vlock:
                    inst.videos[uuid] = v
                    inst.order.append(uuid)
                    old = inst.order.pop(0) if len(inst.order) > keep else None
                    if old:
                        inst.videos.pop(old, None)
                count("published")
                if old:
                    # Out of the viewers' and tracker's choice first, then deleted.
                    STOP.wait(5)
                    st, _, _ = inst.request("DELETE", f"/api/v1/videos/{old}")
                    if st == 204:
                        count("delete")
                    else:
                        error(f"{inst.name}_delete", f"status {st}")
            except (OSError, http.client.HTTPException, RuntimeError, ValueError, KeyError) as e:
                error(f"{inst.name}_upload", repr(e))
        if time.monotonic() - last_update >= update_every:
            last_update = time.monotonic()
            inst = rnd.choice(insts)
            with inst.vlock:
                uuids = list(inst.order)
            if uuids:
                uuid = rnd.choice(uuids)
                try:
                    st, _, body = inst.json("PUT", f"/api/v1/videos/{uuid}",
                                            {"name": f"Soak renamed {rnd.randrange(1 << 30)}"})
                    if st == 204:
                        count("update")
                    elif inst.videos.get(uuid) is not None:
                        error(f"{inst.name}_update", f"status {st} {body}")
                except (OSError, http.client.HTTPException) as e:
                    error(f"{inst.name}_update", repr(e))
        STOP.wait(1)


# --------------------------------------------------------------------------------------------
# Tracker: HTTP, UDP (BEP 15), WebSocket (WebTorrent)


def own_hashes(inst):
    """The info-hashes of `inst`'s own published videos. Only these are announced to it: an
    unknown hash (a remote video not yet federated, a deleted one) gets the IP blocked."""
    with inst.vlock:
        return [h for v in inst.videos.values() for h in v.infohashes]


class Peers:
    """A bounded pool of peer ids per protocol; each announce is from one of them, which is
    either joining (started), staying (empty event) or leaving (stopped)."""

    def __init__(self, tag, n, rnd):
        self.ids = [f"-SK{tag}001-{i:012d}".encode() for i in range(n)]
        self.active = {}  # (peer, hash) -> True
        self.rnd = rnd

    def next(self, hashes):
        peer = self.rnd.choice(self.ids)
        h = self.rnd.choice(hashes)
        key = (peer, h)
        if key in self.active:
            if self.rnd.random() < 0.3:
                del self.active[key]
                return peer, h, "stopped"
            return peer, h, ""
        self.active[key] = True
        return peer, h, "started"


def http_announce(inst, peer, h, event, port):
    q = ("info_hash=" + urllib.parse.quote_from_bytes(h) + "&peer_id=" +
         urllib.parse.quote_from_bytes(peer) + f"&port={port}&uploaded=0&downloaded=0&left=0&compact=1")
    if event:
        q += "&event=" + event
    st, _, body = inst.request("GET", "/tracker/announce?" + q, auth=False)
    return st == 200 and b"8:interval" in body, f"status {st} {body[:120]!r}"


class Udp:
    def __init__(self, inst):
        host, port = inst.udp.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(5)
        self.conn_id = None
        self.conn_at = 0

    def _rt(self, pkt, tx):
        self.sock.sendto(pkt, self.addr)
        while True:
            data = self.sock.recv(2048)
            if len(data) >= 8 and struct.unpack(">I", data[4:8])[0] == tx:
                return data

    def announce(self, peer, h, event, port):
        if self.conn_id is None or time.monotonic() - self.conn_at > 50:
            tx = random.getrandbits(32)
            data = self._rt(struct.pack(">QII", 0x41727101980, 0, tx), tx)
            if len(data) < 16 or struct.unpack(">I", data[:4])[0] != 0:
                return False, f"connect answer {data[:40]!r}"
            self.conn_id, self.conn_at = data[8:16], time.monotonic()
        tx = random.getrandbits(32)
        ev = {"": 0, "completed": 1, "started": 2, "stopped": 3}[event]
        pkt = (self.conn_id + struct.pack(">II", 1, tx) + h + peer +
               struct.pack(">QQQIIIiH", 0, 0, 0, ev, 0, 0, -1, port))
        data = self._rt(pkt, tx)
        action = struct.unpack(">I", data[:4])[0]
        if action == 1 and len(data) >= 20:
            return True, ""
        self.conn_id = None
        return False, f"action {action} {data[8:80]!r}"


class WebSocket:
    """Just enough RFC 6455 for a tracker client: text frames out (masked), frames in."""

    def __init__(self, inst, path="/tracker/socket"):
        self.sock = socket.create_connection((inst.host, inst.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {inst.addr}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("closed during the upgrade")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise OSError(f"upgrade refused: {head[:80]!r}")

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            hdr = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_text(self):
        while True:
            b0, b1 = self._need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._need(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._need(8))[0]
            payload = self._need(n)
            op = b0 & 0x0F
            if op == 1:
                return payload.decode()
            if op == 8:
                raise OSError("websocket close frame")
            if op == 9:
                self.send(10, payload)

    def close(self):
        try:
            self.send(8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.sock.close()


def ws_announce(ws, peer, h, event):
    msg = {"action": "announce", "info_hash": h.decode("latin-1"), "peer_id": peer.decode("latin-1"),
           "numwant": 5, "uploaded": 0, "downloaded": 0, "left": 0, "offers": []}
    if event:
        msg["event"] = event
    ws.send(1, json.dumps(msg).encode())
    while True:
        r = json.loads(ws.recv_text())
        if r.get("action") == "announce" and r.get("info_hash") == msg["info_hash"]:
            if "failure reason" in r:
                return False, r["failure reason"]
            if "interval" in r:
                return True, ""


def tracker(insts, rate, ws_lifetime, seed):
    rnd = random.Random(seed)
    pools = {p: Peers(p, 24, random.Random(seed + i)) for i, p in enumerate(["H", "U", "W"])}
    udp = {i.name: Udp(i) for i in insts if i.udp}
    ws = {}  # name -> (WebSocket, opened at, peer id, hashes joined)
    ws_next = [rnd.randrange(1000)]
    period = 1.0 / rate
    nxt = time.monotonic()
    while not STOP.is_set():
        nxt += period
        delay = nxt - time.monotonic()
        if delay > 0:
            STOP.wait(delay)
        else:
            nxt = time.monotonic()
        inst = rnd.choice(insts)
        hashes = own_hashes(inst)
        if not hashes:
            continue
        proto = rnd.choice(["http", "udp", "ws"] if inst.name in udp else ["http", "ws"])
        pool = pools[{"http": "H", "udp": "U", "ws": "W"}[proto]]
        peer, h, event = pool.next(hashes)
        port = 6881 + pool.ids.index(peer)
        try:
            if proto == "http":
                ok, why = http_announce(inst, peer, h, event, port)
            elif proto == "udp":
                ok, why = udp[inst.name].announce(peer, h, event, port)
            else:
                # A WebSocket connection is one peer (a browser tab): its own peer id, which
                # leaves with the connection after SOAK_WS_LIFETIME_SECS.
                cur = ws.get(inst.name)
                if cur and time.monotonic() - cur[1] > ws_lifetime:
                    cur[0].close()
                    cur = None
                if cur is None:
                    wpeer = pool.ids[ws_next[0] % len(pool.ids)]
                    ws_next[0] += 1
                    cur = (WebSocket(inst), time.monotonic(), wpeer, set())
                    ws[inst.name] = cur
                    count("ws_connect")
                joined = cur[3]
                if h in joined and rnd.random() < 0.2:
                    event = "stopped"
                    joined.discard(h)
                elif h in joined:
                    event = ""
                else:
                    event = "started"
                    joined.add(h)
                ok, why = ws_announce(cur[0], cur[2], h, event)
            if ok:
                count(f"announce_{proto}")
            else:
                error(f"{inst.name}_announce_{proto}", why)
        except (OSError, http.client.HTTPException, ValueError) as e:
            error(f"{inst.name}_announce_{proto}_io", repr(e))
            if proto == "ws" and inst.name in ws:
                ws.pop(inst.name)[0].close()
            STOP.wait(1)


# --------------------------------------------------------------------------------------------
# Sampler


METRICS = [
    ("deliveries_queued", "fleuve_federation_deliveries_queued"),
    ("deliveries_oldest_s", "fleuve_federation_deliveries_oldest_seconds"),
    ("inbox_queue", "fleuve_federation_inbox_queue"),
    ("jobs_queued", 'fleuve_transcode_jobs{state="queued"}'),
    ("jobs_running", 'fleuve_transcode_jobs{state="running"}'),
    ("jobs_failed", 'fleuve_transcode_jobs{state="failed"}'),
    ("delivered_total", 'fleuve_federation_deliveries_total{result="delivered"}'),
    ("delivery_failed_total", 'fleuve_federation_deliveries_total{result="failed"}'),
    ("store_memtables", 'fleuve_store_memory_bytes{kind="memtables"}'),
    ("store_block_cache", 'fleuve_store_memory_bytes{kind="block_cache"}'),
]
PER_INSTANCE = (["rss_kb", "rss_anon_kb", "fds", "threads", "disk_bytes"] + [m[0] for m in METRICS] +
                ["tracker_peers", "connections_open", "cache_bytes", "fed_missing", "fed_stale"])
DRIVER = ["requests", "errors", "uploads", "published", "updates", "deletes", "announces"]


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def du(path):
    r = subprocess.run(["du", "-sb", path], capture_output=True, text=True)
    try:
        return int(r.stdout.split()[0])
    except (IndexError, ValueError):
        return -1


def sample(insts):
    row = {}
    for inst in insts:
        p = inst.name + "_"
        st = proc_status(inst.pid)  # raises if the server died
        row[p + "rss_kb"] = int(st["VmRSS"].split()[0])
        # Heap and other anonymous memory; the rest of RSS is mostly the binary's pages.
        row[p + "rss_anon_kb"] = int(st["RssAnon"].split()[0])
        row[p + "threads"] = int(st["Threads"])
        row[p + "fds"] = len(os.listdir(f"/proc/{inst.pid}/fd"))
        row[p + "disk_bytes"] = du(inst.data_dir)
        try:
            m = inst.metrics()
        except (OSError, http.client.HTTPException, RuntimeError) as e:
            error(f"{inst.name}_metrics", repr(e))
            m = {}
        for col, name in METRICS:
            row[p + col] = m.get(name, "")
        row[p + "tracker_peers"] = sum(v for k, v in m.items() if k.startswith("fleuve_tracker_peers"))
        row[p + "connections_open"] = sum(v for k, v in m.items() if k.startswith("fleuve_connections_open"))
        row[p + "cache_bytes"] = sum(v for k, v in m.items() if k.startswith("fleuve_cache_bytes"))
    # Federation: does each instance list exactly the other's published local videos?
    for inst, other in ((insts[0], insts[1]), (insts[1], insts[0])):
        try:
            with other.vlock:
                published = set(other.videos)
            theirs = other.list_uuids(local=True)
            remote = inst.list_uuids(local=False)
            row[inst.name + "_fed_missing"] = len(published - remote)
            row[inst.name + "_fed_stale"] = len(remote - theirs)
        except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
            error(f"{inst.name}_fed_check", repr(e))
    with LOCK:
        row["requests"] = sum(v for k, v in COUNTS.items())
        row["errors"] = sum(ERRORS.values())
        row["uploads"] = COUNTS["upload"]
        row["published"] = COUNTS["published"]
        row["updates"] = COUNTS["update"]
        row["deletes"] = COUNTS["delete"]
        row["announces"] = sum(v for k, v in COUNTS.items() if k.startswith("announce_"))
    return row


def run(args):
    insts = []
    for name, spec in (("a", args.a), ("b", args.b)):
        d, pid = spec.rsplit(":", 1)
        insts.append(Instance(name, d, int(pid), args.password))
    for i in insts:
        i.login()
    # Make them follow each other.
    for inst, other in ((insts[0], insts[1]), (insts[1], insts[0])):
        st, _, body = inst.json("POST", "/api/v1/server/following", {"hosts": [other.addr]})
        assert st in (200, 204), f"{inst.name} follow {other.name}: {st} {body}"
    deadline = time.monotonic() + 120
    for inst in insts:
        while True:
            _, _, f = inst.json("GET", "/api/v1/server/following")
            if f and f.get("data") and all(x["state"] == "accepted" for x in f["data"]):
                break
            assert time.monotonic() < deadline, f"{inst.name}: follow not accepted: {f}"
            time.sleep(1)
    print("driver: A and B follow each other", flush=True)

    seed = args.seed
    rate = env_num("SOAK_VIEW_RPS", 30.0)
    nviewers = env_num("SOAK_VIEWERS", 3)  # per instance
    threads = []
    for inst in insts:
        for k in range(nviewers):
            threads.append(threading.Thread(target=viewer, args=(inst, rate / (2 * nviewers), seed + 100 * k + ord(inst.name)), daemon=True))
    threads.append(threading.Thread(target=h2_bursts, args=(insts, env_num("SOAK_H2_EVERY_SECS", 5.0), seed + 1), daemon=True))
    threads.append(threading.Thread(target=uploader, args=(
        insts, args.clip, env_num("SOAK_UPLOAD_SECS", 300.0), env_num("SOAK_KEEP_VIDEOS", 6),
        env_num("SOAK_UPDATE_SECS", 120.0), seed + 2), daemon=True))
    threads.append(threading.Thread(target=tracker, args=(
        insts, env_num("SOAK_ANNOUNCE_RPS", 6.0), env_num("SOAK_WS_LIFETIME_SECS", 90.0), seed + 3), daemon=True))
    for t in threads:
        t.start()

    every = env_num("SOAK_SAMPLE_SECS", 60.0)
    cols = ["t_s"] + [f"{i.name}_{c}" for i in insts for c in PER_INSTANCE] + DRIVER
    csv_path = os.path.join(args.out, "samples.csv")
    start = time.monotonic()
    end = start + args.minutes * 60
    died = None
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        t = start
        while True:
            try:
                row = sample(insts)
            except FileNotFoundError:
                died = [i.name for i in insts if not os.path.exists(f"/proc/{i.pid}")]
                break
            row["t_s"] = round(time.monotonic() - start)
            w.writerow(row)
            f.flush()
            with open(os.path.join(args.out, "errors.json"), "w") as ef:
                with LOCK:
                    json.dump({"counts": dict(COUNTS), "errors": dict(ERRORS),
                               "last_error": LAST_ERRORS}, ef, indent=1, sort_keys=True)
            print(f"driver: t={row['t_s']}s requests={row['requests']} errors={row['errors']} "
                  f"rss_kb={row['a_rss_kb']}/{row['b_rss_kb']} published={row['published']}", flush=True)
            if t >= end:
                break
            t = min(t + every, end)
            while time.monotonic() < t:
                time.sleep(min(1.0, t - time.monotonic()))
                if any(not os.path.exists(f"/proc/{i.pid}") for i in insts):
                    break
    STOP.set()
    if died:
        print(f"driver: instance(s) {died} died", flush=True)
        return 3
    return 0


# --------------------------------------------------------------------------------------------
# Summary


def summary(args):
    rows = list(csv.DictReader(open(os.path.join(args.out, "samples.csv"))))
    if len(rows) < 2:
        print("summary: fewer than two samples")
        return 1
    t = [float(r["t_s"]) for r in rows]
    # Default: 15 minutes, at most a quarter of the run; an explicit value is taken as given.
    warm = args.warmup_min * 60 if args.warmup_min is not None else min(900, t[-1] / 4)
    wi = next((i for i, x in enumerate(t) if x >= warm), len(t) - 1)
    scale = {"rss_kb": (1 / 1024, "RSS MiB"), "rss_anon_kb": (1 / 1024, "RSS anon MiB"), "disk_bytes": (1 / 1048576, "data dir MiB"),
             "cache_bytes": (1 / 1048576, "cache MiB"), "store_memtables": (1 / 1048576, "memtables MiB"),
             "store_block_cache": (1 / 1048576, "block cache MiB")}
    series = [c for c in rows[0] if c != "t_s" and c.split("_", 1)[0] in ("a", "b")]
    print(f"Samples: {len(rows)} over {t[-1] / 60:.1f} min; warm-up ends at {t[wi] / 60:.1f} min.\n")
    print("| series | at warm-up end | at end | min | max | growth/h after warm-up |")
    print("|---|---:|---:|---:|---:|---:|")

    def fmt(x):
        return f"{x:.1f}" if abs(x) < 100 and x != int(x) else f"{x:.0f}"

    for c in series:
        inst, key = c.split("_", 1)
        if key.endswith("_total") or key in ("jobs_failed",):
            continue
        vals = []
        for r in rows:
            try:
                vals.append(float(r[c]))
            except (ValueError, TypeError):
                vals.append(None)
        pts = [(t[i], v) for i, v in enumerate(vals) if v is not None and i >= wi]
        allv = [v for v in vals if v is not None]
        if not pts or not allv:
            continue
        mul, label = scale.get(key, (1, key))
        n = len(pts)
        mx = sum(p[0] for p in pts) / n
        my = sum(p[1] for p in pts) / n
        den = sum((p[0] - mx) ** 2 for p in pts)
        slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / den * 3600 if den else 0.0
        print(f"| {inst.upper()} {label} | {fmt(pts[0][1] * mul)} | {fmt(pts[-1][1] * mul)} | "
              f"{fmt(min(allv) * mul)} | {fmt(max(allv) * mul)} | {slope * mul:+.2f} |")
    last = rows[-1]
    print()
    print(f"Driver: {last['requests']} requests ({float(last['requests']) / t[-1]:.1f}/s), "
          f"{last['uploads']} uploads, {last['published']} published, {last['updates']} updates, "
          f"{last['deletes']} deletes, {last['announces']} tracker announces; errors: {last['errors']}.")
    for inst in ("a", "b"):
        print(f"{inst.upper()}: deliveries delivered {last.get(inst + '_delivered_total')}, "
              f"failed attempts {last.get(inst + '_delivery_failed_total')}, "
              f"transcode jobs failed {last.get(inst + '_jobs_failed')}.")
    try:
        e = json.load(open(os.path.join(args.out, "errors.json")))
        print("Requests by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(e["counts"].items())))
        if e["errors"]:
            print("ERRORS by kind:")
            for k, v in sorted(e["errors"].items()):
                print(f"  {k}: {v} (last: {e['last_error'].get(k)})")
    except (OSError, ValueError):
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--minutes", type=float, required=True)
    r.add_argument("--a", required=True)
    r.add_argument("--b", required=True)
    r.add_argument("--password", required=True)
    r.add_argument("--clip", required=True)
    r.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "1")))
    s = sub.add_parser("summary")
    s.add_argument("--out", required=True)
    s.add_argument("--warmup-min", type=float, default=None)
    args = ap.parse_args()
    sys.exit(run(args) if args.cmd == "run" else summary(args))


if __name__ == "__main__":
    main()
