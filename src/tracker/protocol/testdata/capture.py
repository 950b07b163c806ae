# Scratch capture used to record the tracker fixtures next to this file (see README.md).
# Fake HTTP/UDP/WS trackers on 127.0.0.1 record what two libtorrent 2.1.1 sessions (seeder and
# leecher) send; the WS tracker relays offers and answers between them. Writes to /tmp/capture.
# Run: mkdir -p /tmp/capture && python3 capture.py   (needs `pip install libtorrent==2.1.1`)
# Captures what libtorrent 2.1.1 sends to HTTP, UDP and WebSocket trackers.
import base64, hashlib, os, socket, struct, threading, time, json, sys
import libtorrent as lt

OUT = {"http": [], "udp": [], "ws": []}
lock = threading.Lock()

def rec(kind, data):
    with lock:
        OUT[kind].append(data)

def http_server(sock):
    while True:
        c, _ = sock.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            d = c.recv(65536)
            if not d: break
            data += d
        line = data.split(b"\r\n")[0]
        rec("http", line.decode("latin1"))
        if b"/scrape" in line:
            body = b"d5:filesdee"
        else:
            body = b"d8:intervali1800e5:peers0:e"
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        c.close()

def udp_server(sock):
    while True:
        data, addr = sock.recvfrom(65536)
        rec("udp", data.hex())
        if len(data) < 16: continue
        action, tid = struct.unpack(">ii", data[8:16])
        if action == 0:
            sock.sendto(struct.pack(">iiq", 0, tid, 0x1122334455667788), addr)
        elif action == 1:
            sock.sendto(struct.pack(">iiiii", 1, tid, 1800, 0, 0), addr)
        elif action == 2:
            n = (len(data) - 16) // 20
            sock.sendto(struct.pack(">ii", 2, tid) + b"\0" * 12 * n, addr)

def ws_recv_frame(c, buf):
    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = c.recv(65536)
            if not d: raise EOFError
            buf += d
    need(2)
    b0, b1 = buf[0], buf[1]
    op = b0 & 0xF
    ln = b1 & 0x7F
    p = 2
    if ln == 126:
        need(4); ln = struct.unpack(">H", buf[2:4])[0]; p = 4
    elif ln == 127:
        need(10); ln = struct.unpack(">Q", buf[2:10])[0]; p = 10
    masked = b1 & 0x80
    mask = b""
    if masked:
        need(p + 4); mask = buf[p:p+4]; p += 4
    need(p + ln)
    payload = bytearray(buf[p:p+ln])
    if masked:
        for i in range(ln): payload[i] ^= mask[i % 4]
    buf = buf[p+ln:]
    return op, bytes(payload), buf, bool(b0 & 0x80)

def ws_send(c, text):
    data = text.encode()
    hdr = bytes([0x81])
    if len(data) < 126: hdr += bytes([len(data)])
    else: hdr += bytes([126]) + struct.pack(">H", len(data))
    c.sendall(hdr + data)

PEERS = {}
def ws_conn(c):
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(65536)
        if not d: return
        data += d
    head, buf = data.split(b"\r\n\r\n", 1)
    key = None
    for l in head.split(b"\r\n"):
        if l.lower().startswith(b"sec-websocket-key:"):
            key = l.split(b":", 1)[1].strip()
    rec("ws", "HANDSHAKE " + head.decode("latin1"))
    acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    sent_offer = False
    try:
        while True:
            whole = b""
            while True:
                op, payload, buf, fin = ws_recv_frame(c, buf)
                whole += payload
                if fin: break
            if op == 8: break
            if op == 9:
                c.sendall(bytes([0x8A, len(whole)]) + whole); continue
            if op == 10: continue
            n = len(OUT["ws"])
            open("/tmp/capture/ws-%d.json" % n, "wb").write(whole)
            rec("ws", whole.decode("utf-8"))
            msg = json.loads(whole)
            with lock:
                PEERS[msg.get("peer_id")] = c
                others = [(p, o) for p, o in PEERS.items() if p != msg.get("peer_id")]
            if msg.get("action") == "announce" and "answer" in msg:
                with lock:
                    tgt = PEERS.get(msg["to_peer_id"])
                if tgt:
                    ws_send(tgt, json.dumps({"action": "announce", "info_hash": msg["info_hash"], "peer_id": msg["peer_id"], "offer_id": msg["offer_id"], "answer": msg["answer"]}, ensure_ascii=False))
            elif msg.get("action") == "announce":
                ws_send(c, json.dumps({"action": "announce", "info_hash": msg["info_hash"], "complete": 1, "incomplete": 1, "interval": 120}, ensure_ascii=False))
                for (p, o), off in zip(others, msg.get("offers") or []):
                    ws_send(o, json.dumps({"action": "announce", "info_hash": msg["info_hash"], "peer_id": msg["peer_id"], "offer_id": off["offer_id"], "offer": off["offer"]}, ensure_ascii=False))
    except EOFError:
        pass

def ws_server(sock):
    while True:
        c, _ = sock.accept()
        threading.Thread(target=ws_conn, args=(c,), daemon=True).start()

def listen_tcp():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16); return s

hs, ws = listen_tcp(), listen_tcp()
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); us.bind(("127.0.0.1", 0))
for f, s in ((http_server, hs), (udp_server, us), (ws_server, ws)):
    threading.Thread(target=f, args=(s,), daemon=True).start()

d = "/tmp/capture/data"; os.makedirs(d, exist_ok=True)
with open(d + "/file.bin", "wb") as f: f.write(os.urandom(300000))
fs = lt.file_storage(); lt.add_files(fs, d + "/file.bin")
t = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
t.add_tracker("http://127.0.0.1:%d/announce" % hs.getsockname()[1], 0)
t.add_tracker("udp://127.0.0.1:%d/announce" % us.getsockname()[1], 1)
t.add_tracker("ws://127.0.0.1:%d/announce" % ws.getsockname()[1], 2)
lt.set_piece_hashes(t, d)
ti = lt.torrent_info(t.generate())
print("info_hash", ti.info_hash())

sess = lt.session({"listen_interfaces": "127.0.0.1:6881", "enable_dht": False, "enable_lsd": False,
                   "enable_upnp": False, "enable_natpmp": False, "webtorrent_stun_server": "",
                   "announce_to_all_trackers": True, "announce_to_all_tiers": True, "allow_multiple_connections_per_ip": True,
                   "alert_mask": lt.alert.category_t.all_categories})
empty = "/tmp/capture/empty"; os.makedirs(empty, exist_ok=True)
seeder = lt.session({"listen_interfaces": "127.0.0.1:6882", "enable_dht": False, "enable_lsd": False,
                   "enable_upnp": False, "enable_natpmp": False, "webtorrent_stun_server": "",
                   "announce_to_all_trackers": True, "announce_to_all_tiers": True, "allow_multiple_connections_per_ip": True})
seeder.add_torrent({"ti": ti, "save_path": d, "flags": lt.torrent_flags.seed_mode})
time.sleep(2)
h = sess.add_torrent({"ti": ti, "save_path": empty})
time.sleep(6)
h.scrape_tracker(0); time.sleep(1); h.scrape_tracker(1)
time.sleep(3)
print('leecher progress', h.status().progress, h.status().num_peers)
sess.remove_torrent(h)
time.sleep(3)
for a in sess.pop_alerts():
    if "tracker" in a.what() or "error" in a.what():
        print("ALERT", a.what(), a.message())
json.dump(OUT, open("/tmp/capture/out.json", "w"), indent=1, ensure_ascii=False)
print(json.dumps(OUT, indent=1, ensure_ascii=True))
