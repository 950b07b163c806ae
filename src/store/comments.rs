//! The tables of what people add to a video: comments (per video, in id order, with an index by
//! ActivityPub id for replies and deletions that arrive by URL), caption tracks (per video and
//! language) and chapters (one list per video). Writing a comment and deleting one (a
//! placeholder stays while replies hang from it) are here, so the API and the inbox share them.

use super::codec::{tagged_bytes, untag_bytes, Key, StoreError};
use super::tables::Sequence;
use super::{Batch, Cf, Durability, Store};
use crate::video::comment::{Caption, Chapter, Comment};

fn two_u64(tag: u8, a: u64, b: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(tag);
    k.extend_from_slice(&a.to_be_bytes());
    k.extend_from_slice(&b.to_be_bytes());
    k
}

fn read_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap_or([0; 8]))
}

/// `comments`: (video id, comment id) → comment, scanned per video in id (creation) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentKey {
    /// The video.
    pub video_id: u64,
    /// The comment.
    pub id: u64,
}

impl Key for CommentKey {
    type Value = Comment;
    type Prefix = u64;
    const CF: Cf = Cf::Comments;
    fn encode(&self) -> Vec<u8> {
        two_u64(0x01, self.video_id, self.id)
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x01, bytes)?;
        if rest.len() != 16 {
            return Err(StoreError::Corrupt(format!(
                "bad comment key {}",
                hex::encode(bytes)
            )));
        }
        Ok(CommentKey {
            video_id: read_u64(&rest[..8]),
            id: read_u64(&rest[8..]),
        })
    }
    fn encode_prefix(video_id: &u64) -> Vec<u8> {
        let mut k = vec![0x01];
        k.extend_from_slice(&video_id.to_be_bytes());
        k
    }
}

/// `comments`: ActivityPub id → (video id, comment id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentByUrlKey(pub String);

impl Key for CommentByUrlKey {
    type Value = (u64, u64);
    type Prefix = ();
    const CF: Cf = Cf::Comments;
    fn encode(&self) -> Vec<u8> {
        tagged_bytes(0x02, self.0.as_bytes())
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let raw = untag_bytes(0x02, bytes)?;
        String::from_utf8(raw.to_vec())
            .map(CommentByUrlKey)
            .map_err(|_| StoreError::Corrupt("non-UTF-8 comment URL".into()))
    }
    fn encode_prefix(_: &()) -> Vec<u8> {
        vec![0x02]
    }
}

/// `captions`: (video id, language) → caption, scanned per video in language order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionKey {
    /// The video.
    pub video_id: u64,
    /// Language code.
    pub language: String,
}

impl Key for CaptionKey {
    type Value = Caption;
    type Prefix = u64;
    const CF: Cf = Cf::Captions;
    fn encode(&self) -> Vec<u8> {
        let mut k = Self::encode_prefix(&self.video_id);
        k.extend_from_slice(self.language.as_bytes());
        k
    }
    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let rest = untag_bytes(0x01, bytes)?;
        if rest.len() < 8 {
            return Err(StoreError::Corrupt(format!(
                "bad caption key {}",
                hex::encode(bytes)
            )));
        }
        Ok(CaptionKey {
            video_id: read_u64(&rest[..8]),
            language: String::from_utf8(rest[8..].to_vec())
                .map_err(|_| StoreError::Corrupt("non-UTF-8 caption language".into()))?,
        })
    }
    fn encode_prefix(video_id: &u64) -> Vec<u8> {
        let mut k = vec![0x01];
        k.extend_from_slice(&video_id.to_be_bytes());
        k
    }
}

super::tables::u64_key!(
    /// `chapters`: a video's chapters, by video id (sorted by timecode).
    ChaptersKey, Cf::Chapters, 0x01, Vec<Chapter>
);

/// A new comment, before it has an id.
#[derive(Debug, Clone)]
pub struct NewComment {
    /// The video.
    pub video_id: u64,
    /// The comment it answers, if any.
    pub in_reply_to: Option<u64>,
    /// Its ActivityPub id, when it is another instance's (ours are made from the id).
    pub url: Option<String>,
    /// Text.
    pub text: String,
    /// Author.
    pub author: crate::video::comment::CommentAuthor,
    /// Creation time (Unix seconds).
    pub created_at: u64,
}

impl Store {
    /// The comments on a video, in creation order (deleted placeholders included).
    pub fn comments(&self, video_id: u64) -> Result<Vec<Comment>, StoreError> {
        Ok(self
            .scan::<CommentKey>(&video_id)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// How many comments on a video are not deleted (a video's `comments` count).
    pub fn comment_count(&self, video_id: u64) -> Result<usize, StoreError> {
        Ok(self
            .comments(video_id)?
            .iter()
            .filter(|c| c.deleted_at.is_none())
            .count())
    }

    /// The comment with this ActivityPub id.
    pub fn comment_by_url(&self, url: &str) -> Result<Option<Comment>, StoreError> {
        match self.get(&CommentByUrlKey(url.to_string()))? {
            Some((video_id, id)) => self.get(&CommentKey { video_id, id }),
            None => Ok(None),
        }
    }

    /// Writes a new comment; `url_of(id)` makes the ActivityPub id of one of ours. The parent,
    /// when given, must be a comment on the same video.
    pub fn add_comment(
        &self,
        new: NewComment,
        url_of: impl FnOnce(u64) -> String,
    ) -> Result<Comment, StoreError> {
        let thread_id = match new.in_reply_to {
            Some(parent) => {
                let p = self
                    .get(&CommentKey {
                        video_id: new.video_id,
                        id: parent,
                    })?
                    .ok_or_else(|| StoreError::Corrupt(format!("no parent comment {parent}")))?;
                Some(p.thread_id)
            }
            None => None,
        };
        let id = self.next_id(Sequence::Comment)?;
        let comment = Comment {
            id,
            video_id: new.video_id,
            thread_id: thread_id.unwrap_or(id),
            in_reply_to: new.in_reply_to,
            url: new.url.unwrap_or_else(|| url_of(id)),
            text: new.text,
            author: new.author,
            created_at: new.created_at,
            updated_at: new.created_at,
            deleted_at: None,
        };
        let mut batch = Batch::default();
        batch.put(
            self,
            &CommentKey {
                video_id: comment.video_id,
                id,
            },
            &comment,
        )?;
        batch.put(
            self,
            &CommentByUrlKey(comment.url.clone()),
            &(comment.video_id, id),
        )?;
        self.write(batch, Durability::Sync)?;
        Ok(comment)
    }

    /// Deletes a comment as PeerTube does: while replies hang from it a placeholder stays (no
    /// text, `deleted_at` set), otherwise it goes, and so does a deleted parent left without
    /// replies.
    pub fn delete_comment(&self, comment: &Comment, now: u64) -> Result<(), StoreError> {
        let all = self.comments(comment.video_id)?;
        let mut batch = Batch::default();
        let mut gone = vec![comment.id];
        let mut current = comment.clone();
        loop {
            let has_replies = all
                .iter()
                .any(|c| c.in_reply_to == Some(current.id) && !gone.contains(&c.id));
            let key = CommentKey {
                video_id: current.video_id,
                id: current.id,
            };
            if has_replies {
                let mut kept = current.clone();
                kept.text.clear();
                kept.deleted_at = Some(kept.deleted_at.unwrap_or(now));
                kept.updated_at = now;
                batch.put(self, &key, &kept)?;
                break;
            }
            batch.delete(self, &key);
            batch.delete(self, &CommentByUrlKey(current.url.clone()));
            gone.push(current.id);
            // A deleted parent with no reply left goes too.
            match current
                .in_reply_to
                .and_then(|p| all.iter().find(|c| c.id == p))
            {
                Some(parent) if parent.deleted_at.is_some() => current = parent.clone(),
                _ => break,
            }
        }
        self.write(batch, Durability::Sync)
    }

    /// Removes everything added to a video (when the video goes).
    pub fn forget_video_additions(
        &self,
        video_id: u64,
        batch: &mut Batch,
    ) -> Result<(), StoreError> {
        for c in self.comments(video_id)? {
            batch.delete(self, &CommentKey { video_id, id: c.id });
            batch.delete(self, &CommentByUrlKey(c.url));
        }
        for (k, _) in self.scan::<CaptionKey>(&video_id)? {
            batch.delete(self, &k);
        }
        batch.delete(self, &ChaptersKey(video_id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::comment::CommentAuthor;

    fn new(video_id: u64, in_reply_to: Option<u64>) -> NewComment {
        NewComment {
            video_id,
            in_reply_to,
            url: None,
            text: "t".into(),
            author: CommentAuthor {
                user: Some(1),
                actor: "https://a/accounts/root".into(),
            },
            created_at: 1,
        }
    }

    #[test]
    fn threads_and_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("meta")).unwrap();
        let url = |id| format!("https://a/c/{id}");
        let root = store.add_comment(new(5, None), url).unwrap();
        let reply = store.add_comment(new(5, Some(root.id)), url).unwrap();
        let other = store.add_comment(new(6, None), url).unwrap();
        assert_eq!(reply.thread_id, root.id);
        assert_eq!(store.comments(5).unwrap().len(), 2);
        assert_eq!(store.comment_count(6).unwrap(), 1);
        assert_eq!(
            store.comment_by_url(&reply.url).unwrap().map(|c| c.id),
            Some(reply.id)
        );
        // A parent on another video is refused.
        assert!(store.add_comment(new(6, Some(root.id)), url).is_err());
        // The root has a reply: a placeholder stays.
        store.delete_comment(&root, 9).unwrap();
        let kept = store.comment_by_url(&root.url).unwrap().unwrap();
        assert_eq!((kept.text.as_str(), kept.deleted_at), ("", Some(9)));
        assert_eq!(store.comment_count(5).unwrap(), 1);
        // The last reply goes, and the placeholder with it.
        store.delete_comment(&reply, 10).unwrap();
        assert!(store.comments(5).unwrap().is_empty());
        assert!(store.comment_by_url(&root.url).unwrap().is_none());
        assert_eq!(store.comments(6).unwrap(), vec![other]);
        let k = CaptionKey {
            video_id: 3,
            language: "fr".into(),
        };
        assert_eq!(CaptionKey::decode(&k.encode()).unwrap(), k);
    }
}
