"""A seeder and a leecher (libtorrent 2.1, two sessions in one process) exchange a published
file through one tracker of ours, or the leecher fetches it from the webseed alone.

usage: libtorrent_swarm.py TORRENT FILE WORKDIR MODE [TRACKER_URL]
  MODE webseed  leecher only, trackers removed, web seed kept
  MODE swarm    seeder (has FILE) + leecher, web seeds removed, only TRACKER_URL
Prints one JSON line: {"done": bool, "seconds": s, "peer_types": [...], "tracker_ok": bool, ...}
and exits 0 only when the leecher's file equals FILE. Stops by itself (60 s deadline).
"""
import json, os, shutil, sys, time
import libtorrent as lt

torrent, source, work, mode = sys.argv[1:5]
tracker = sys.argv[5] if len(sys.argv) > 5 else None

def session():
    s = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "webtorrent_stun_server": "",
        # Our tracker listens on 127.0.0.1 at /tracker/announce, which libtorrent's SSRF guard
        # (localhost trackers must use the path /announce) would refuse.
        "ssrf_mitigation": False,
        "alert_mask": lt.alert.category_t.all_categories,
        "announce_to_all_trackers": True, "announce_to_all_tiers": True,
    })
    return s

def add(s, save, seed):
    ti = lt.torrent_info(torrent)
    if mode == "swarm":
        ti.set_web_seeds([])
    p = lt.add_torrent_params()
    p.ti = ti
    p.save_path = save
    if seed:
        p.flags |= lt.torrent_flags.seed_mode
    h = s.add_torrent(p)
    if mode == "swarm":
        h.replace_trackers([lt.announce_entry(tracker)])
    else:
        h.replace_trackers([])
    return h, ti

name_dir = os.path.join(work, "seed")
leech_dir = os.path.join(work, "leech")
os.makedirs(name_dir, exist_ok=True)
os.makedirs(leech_dir, exist_ok=True)
ti0 = lt.torrent_info(torrent)
file_name = ti0.name()
errors = []
sessions = []
seeder = None
if mode == "swarm":
    os.makedirs(os.path.dirname(os.path.join(name_dir, file_name)) or name_dir, exist_ok=True)
    shutil.copyfile(source, os.path.join(name_dir, file_name))
    s1 = session(); sessions.append(s1)
    seeder, _ = add(s1, name_dir, True)
s2 = session(); sessions.append(s2)
leecher, _ = add(s2, leech_dir, False)

start = time.time()
tracker_ok = False
peer_types = set()
done = False
while time.time() - start < 60:
    for s in sessions:
        for a in s.pop_alerts():
            if isinstance(a, lt.tracker_reply_alert):
                tracker_ok = True
            elif isinstance(a, (lt.tracker_error_alert,)):
                errors.append(a.message())
    for p in leecher.get_peer_info():
        peer_types.add(str(p.connection_type))
    st = leecher.status()
    if st.is_seeding or st.progress >= 1.0:
        done = True
        break
    time.sleep(0.1)

elapsed = time.time() - start
got = os.path.join(leech_dir, file_name)
want = open(source, "rb").read()
same = False
# libtorrent reports completion before its disk thread has written the last blocks: wait for them.
for _ in range(100):
    same = done and os.path.exists(got) and open(got, "rb").read() == want
    if same or not done:
        break
    time.sleep(0.1)
print(json.dumps({"done": done, "same": same, "seconds": round(elapsed, 2), "tracker_ok": tracker_ok,
                  "peer_types": sorted(peer_types), "errors": errors[:5],
                  "downloaded": leecher.status().total_done}))
sys.exit(0 if same else 1)
