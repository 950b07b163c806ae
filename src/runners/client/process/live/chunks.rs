//! Which chunks of a live HLS directory are ready to send, and which were deleted: the
//! directory is listed every poll; a chunk `<i>-<seq>.ts` is complete once playlist `<i>.m3u8`
//! lists it or a later chunk (the muxer writes the playlist after closing the chunk), or once
//! the stream has ended. A chunk sent and then deleted by the muxer (`delete_segments`) is
//! reported as removed. Plain logic over names and playlist texts; the driver does the I/O.

use std::collections::BTreeMap;
use std::path::Path;

/// A chunk: `<variant>-<seq>.ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The file name.
    pub name: String,
    /// The playlist index (`<variant>.m3u8`).
    pub variant: u32,
    /// Its sequence number.
    pub seq: u64,
}

impl Chunk {
    /// The chunk named `name`, when it is one (`0-000012.ts`).
    pub fn parse(name: &str) -> Option<Chunk> {
        let stem = name.strip_suffix(".ts")?;
        let (v, s) = stem.split_once('-')?;
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(v) || !digits(s) {
            return None;
        }
        Some(Chunk {
            name: name.to_string(),
            variant: v.parse().ok()?,
            seq: s.parse().ok()?,
        })
    }

    /// Its playlist's name.
    pub fn playlist(&self) -> String {
        playlist_name(self.variant)
    }
}

/// The name of playlist `variant`.
pub fn playlist_name(variant: u32) -> String {
    format!("{variant}.m3u8")
}

/// What changed since the last scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A complete chunk to send.
    Add(Chunk),
    /// A chunk sent earlier is gone.
    Remove(Chunk),
}

/// The chunks seen so far.
#[derive(Debug, Default)]
pub struct Tracker {
    pending: BTreeMap<(u32, u64), Chunk>,
    sent: BTreeMap<(u32, u64), Chunk>,
}

/// The chunk names a media playlist lists (its URI lines, by their last path segment).
pub fn listed(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
        .collect()
}

/// `playlist` cut after the line naming `chunk` (chunks after it are not on the instance yet),
/// as PeerTube's runner sends it; whole (with its `#EXT-X-ENDLIST`, at the end) when `chunk` is
/// the last one it lists, or when it does not list `chunk`.
pub fn cut_after(playlist: &str, chunk: &str) -> String {
    let lines: Vec<&str> = playlist.lines().collect();
    let names = |l: &str| {
        let l = l.trim();
        l == chunk || l.ends_with(&format!("/{chunk}"))
    };
    let is_uri = |l: &&str| !l.trim().is_empty() && !l.trim().starts_with('#');
    let Some(at) = lines.iter().position(|l| names(l)) else {
        return playlist.to_string();
    };
    if !lines[at + 1..].iter().any(is_uri) {
        return playlist.to_string();
    }
    let mut out = String::new();
    for line in &lines[..=at] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl Tracker {
    /// Lists `dir` and returns the changes (additions first, in variant then sequence order).
    pub fn scan(&mut self, dir: &Path, ended: bool) -> std::io::Result<Vec<Change>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Some(n) = entry?.file_name().to_str() {
                names.push(n.to_string());
            }
        }
        let read = |variant: u32| std::fs::read_to_string(dir.join(playlist_name(variant))).ok();
        Ok(self.update(&names, read, ended))
    }

    /// The changes given the directory's file `names` and each variant's playlist.
    pub fn update(
        &mut self,
        names: &[String],
        playlist: impl Fn(u32) -> Option<String>,
        ended: bool,
    ) -> Vec<Change> {
        let present: BTreeMap<(u32, u64), Chunk> = names
            .iter()
            .filter_map(|n| Chunk::parse(n))
            .map(|c| ((c.variant, c.seq), c))
            .collect();
        for (key, chunk) in &present {
            if !self.sent.contains_key(key) {
                self.pending.entry(*key).or_insert_with(|| chunk.clone());
            }
        }
        // A pending chunk deleted before it was complete is forgotten.
        self.pending.retain(|key, _| present.contains_key(key));
        // The newest chunk each playlist lists.
        let mut listed_up_to: BTreeMap<u32, u64> = BTreeMap::new();
        let variants: Vec<u32> = {
            let mut v: Vec<u32> = self.pending.keys().map(|k| k.0).collect();
            v.dedup();
            v
        };
        if !ended {
            for v in variants {
                let newest = playlist(v)
                    .map(|text| listed(&text))
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|n| Chunk::parse(n))
                    .filter(|c| c.variant == v)
                    .map(|c| c.seq)
                    .max();
                if let Some(n) = newest {
                    listed_up_to.insert(v, n);
                }
            }
        }
        let mut changes = Vec::new();
        let ready: Vec<(u32, u64)> = self
            .pending
            .keys()
            .filter(|(v, seq)| ended || listed_up_to.get(v).is_some_and(|n| seq <= n))
            .copied()
            .collect();
        for key in ready {
            if let Some(chunk) = self.pending.remove(&key) {
                self.sent.insert(key, chunk.clone());
                changes.push(Change::Add(chunk));
            }
        }
        let gone: Vec<(u32, u64)> = self
            .sent
            .keys()
            .filter(|k| !present.contains_key(k))
            .copied()
            .collect();
        for key in gone {
            if let Some(chunk) = self.sent.remove(&key) {
                changes.push(Change::Remove(chunk));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn adds(changes: &[Change]) -> Vec<&str> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Add(c) => Some(c.name.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn chunk_names_are_parsed_strictly() {
        let c = Chunk::parse("1-000012.ts").unwrap();
        assert_eq!((c.variant, c.seq, c.playlist()), (1, 12, "1.m3u8".into()));
        for bad in [
            "1-000012.ts.tmp",
            "master.m3u8",
            "a-1.ts",
            "1-.ts",
            "-1.ts",
            "1-2-3.ts",
        ] {
            assert!(Chunk::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_chunk_is_sent_once_listed_then_removed_when_deleted() {
        let mut t = Tracker::default();
        let p0 = "#EXTM3U\n#EXTINF:2.0,\n0-000000.ts\n";
        // Being written (only the .tmp exists), then whole but not listed yet: nothing.
        let c = t.update(&names(&["0-000000.ts.tmp"]), |_| None, false);
        assert!(c.is_empty());
        let c = t.update(&names(&["0-000000.ts", "0-000001.ts.tmp"]), |_| None, false);
        assert!(c.is_empty());
        // Listed: sent, once.
        let c = t.update(
            &names(&["0-000000.ts", "0.m3u8"]),
            |v| (v == 0).then(|| p0.to_string()),
            false,
        );
        assert_eq!(adds(&c), ["0-000000.ts"]);
        let c = t.update(
            &names(&["0-000000.ts", "0.m3u8"]),
            |v| (v == 0).then(|| p0.to_string()),
            false,
        );
        assert!(c.is_empty());
        // Chunk 1 listed, chunk 2 being written, chunk 0 deleted by the muxer.
        let p1 = "#EXTM3U\n#EXTINF:2.0,\n0-000001.ts\n";
        let c = t.update(
            &names(&["0-000001.ts", "0-000002.ts", "1-000000.ts"]),
            |v| (v == 0).then(|| p1.to_string()),
            false,
        );
        assert_eq!(adds(&c), ["0-000001.ts"]);
        assert!(c.contains(&Change::Remove(Chunk::parse("0-000000.ts").unwrap())));
        // The stream ended: everything left is complete.
        let c = t.update(
            &names(&["0-000001.ts", "0-000002.ts", "1-000000.ts"]),
            |_| None,
            true,
        );
        assert_eq!(adds(&c), ["0-000002.ts", "1-000000.ts"]);
    }

    #[test]
    fn playlists_are_cut_after_the_chunk_sent() {
        let p = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2.0,\n0-000003.ts\n#EXTINF:2.0,\n0-000004.ts\n";
        assert_eq!(
            cut_after(p, "0-000003.ts"),
            "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2.0,\n0-000003.ts\n"
        );
        assert_eq!(cut_after(p, "0-000004.ts"), p);
        let ended = format!("{p}#EXT-X-ENDLIST\n");
        assert_eq!(
            cut_after(&ended, "0-000003.ts"),
            cut_after(p, "0-000003.ts")
        );
        assert_eq!(cut_after(&ended, "0-000004.ts"), ended);
        assert_eq!(cut_after(p, "0-000009.ts"), p);
        assert_eq!(listed(p), ["0-000003.ts", "0-000004.ts"]);
    }
}
