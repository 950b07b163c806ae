//! Comment threads, captions and chapters over PeerTube's REST API on a real Fleuve: threads
//! and replies posted, listed, paged, sorted and deleted (a placeholder stays while replies
//! hang from it), the video's `comments` count, its comments policy (a refused comment is a
//! 403 and nothing is stored); captions uploaded (WebVTT, SRT converted), served, listed and
//! deleted, bad and oversized files refused; chapters checked as PeerTube checks them. And two
//! real instances: a comment written on one about the other's video reaches the video's
//! origin as a `Note`, the owner's reply comes back, a deletion follows, and the video's
//! object lists its captions in `subtitleLanguage`.

mod common;

use common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

async fn send(
    s: &Server,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client().request(method, s.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post(s: &Server, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    send(s, reqwest::Method::POST, path, token, Some(body)).await
}

async fn put(s: &Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(s, reqwest::Method::PUT, path, Some(token), Some(body)).await
}

async fn delete(s: &Server, path: &str, token: &str) -> (u16, Value) {
    send(s, reqwest::Method::DELETE, path, Some(token), None).await
}

async fn threads(s: &Server, uuid: &str, query: &str) -> Value {
    get_json(s, &format!("/api/v1/videos/{uuid}/comment-threads{query}")).await
}

fn texts(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect()
}

/// An uploaded and published clip's uuid (a video is seen by others once published).
async fn uploaded(s: &Server, token: &str) -> String {
    let src = clip(&s.dir, "c.mp4", "320x240", 25, 2, true);
    let (status, up) = upload_multipart(s, token, &src, "Commented clip").await;
    assert_eq!(status, 200, "{up}");
    let uuid = up["video"]["uuid"].as_str().unwrap().to_string();
    wait_state(s, token, &uuid, &[1]).await;
    uuid
}

#[test]
fn comment_threads_replies_deletion_and_policy() {
    let s = Server::start();
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let uuid = uploaded(&s, &token).await;
        let base = format!("/api/v1/videos/{uuid}");
        let t = Some(token.as_str());
        let empty = threads(&s, &uuid, "").await;
        assert_eq!(
            (&empty["total"], &empty["totalNotDeletedComments"]),
            (&json!(0), &json!(0)),
            "{empty}"
        );

        // Bad input: nothing stored.
        let path = format!("{base}/comment-threads");
        let (status, doc) = post(&s, &path, None, json!({"text": "hi"})).await;
        assert_eq!(status, 401, "{doc}");
        for (body, bad) in [
            (json!({"text": ""}), "empty"),
            (json!({"text": "x".repeat(10_001)}), "10001"),
            (json!({}), "text is required"),
            (json!({"text": 5}), "string"),
        ] {
            let (status, doc) = post(&s, &path, t, body).await;
            assert_eq!(status, 400, "{doc}");
            assert!(doc["detail"].as_str().unwrap().contains(bad), "{doc}");
        }
        let (status, doc) = post(
            &s,
            "/api/v1/videos/00000000-0000-4000-8000-000000000000/comment-threads",
            t,
            json!({"text": "hi"}),
        )
        .await;
        assert_eq!(status, 404, "{doc}");
        assert_eq!(threads(&s, &uuid, "").await["total"], 0);

        // Two threads, a reply and a reply to the reply.
        let (status, first) = post(&s, &path, t, json!({"text": "first"})).await;
        assert_eq!(status, 200, "{first}");
        let first = first["comment"].clone();
        assert_eq!(first["threadId"], first["id"], "{first}");
        assert_eq!(first["inReplyToCommentId"], Value::Null, "{first}");
        assert_eq!(first["account"]["name"], "root", "{first}");
        let first_id = first["id"].as_u64().unwrap();
        assert!(
            first["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/videos/watch/{uuid}/comments/{first_id}")),
            "{first}"
        );
        let (_, second) = post(&s, &path, t, json!({"text": "second"})).await;
        let reply_path = format!("{base}/comments/{first_id}");
        let (status, reply) = post(&s, &reply_path, t, json!({"text": "reply"})).await;
        assert_eq!(status, 200, "{reply}");
        let reply = reply["comment"].clone();
        assert_eq!(reply["threadId"], first_id, "{reply}");
        assert_eq!(reply["inReplyToCommentId"], first_id, "{reply}");
        let reply_id = reply["id"].as_u64().unwrap();
        let (status, deep) = post(
            &s,
            &format!("{base}/comments/{reply_id}"),
            t,
            json!({"text": "deeper"}),
        )
        .await;
        assert_eq!(status, 200, "{deep}");
        let (status, doc) = post(
            &s,
            &format!("{base}/comments/999999"),
            t,
            json!({"text": "x"}),
        )
        .await;
        assert_eq!(status, 404, "{doc}");

        // Listing, paging and sorting.
        let list = threads(&s, &uuid, "").await;
        assert_eq!(list["total"], 2, "{list}");
        assert_eq!(list["totalNotDeletedComments"], 4, "{list}");
        assert_eq!(texts(&list), ["second", "first"], "{list}");
        assert_eq!(list["data"][1]["totalReplies"], 2, "{list}");
        assert_eq!(list["data"][1]["totalRepliesFromVideoAuthor"], 2, "{list}");
        assert_eq!(
            texts(&threads(&s, &uuid, "?sort=createdAt").await),
            ["first", "second"]
        );
        assert_eq!(
            texts(&threads(&s, &uuid, "?sort=-totalReplies").await),
            ["first", "second"]
        );
        let page = threads(&s, &uuid, "?start=1&count=1").await;
        assert_eq!(
            (texts(&page), &page["total"]),
            (vec!["first".to_string()], &json!(2))
        );
        for (q, bad) in [
            ("?sort=-views", "-views"),
            ("?count=101", "101"),
            ("?start=-1", "-1"),
        ] {
            let (status, doc) =
                send(&s, reqwest::Method::GET, &format!("{path}{q}"), None, None).await;
            assert_eq!(status, 400, "{q}: {doc}");
            assert!(doc["detail"].as_str().unwrap().contains(bad), "{doc}");
        }

        // The tree.
        let tree = get_json(&s, &format!("{path}/{first_id}")).await;
        assert_eq!(tree["comment"]["text"], "first", "{tree}");
        assert_eq!(tree["children"][0]["comment"]["text"], "reply", "{tree}");
        assert_eq!(
            tree["children"][0]["children"][0]["comment"]["text"], "deeper",
            "{tree}"
        );
        let (status, _) = send(
            &s,
            reqwest::Method::GET,
            &format!("{path}/{reply_id}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 404, "a reply is not a thread");
        let video = get_json(&s, &base).await;
        assert_eq!(video["comments"], 4, "{video}");

        // Deleting a comment with replies leaves a placeholder.
        let (status, doc) = delete(&s, &reply_path, &token).await;
        assert_eq!(status, 204, "{doc}");
        let list = threads(&s, &uuid, "?sort=createdAt").await;
        assert_eq!(list["total"], 2, "{list}");
        assert_eq!(list["totalNotDeletedComments"], 3, "{list}");
        assert_eq!(list["data"][0]["isDeleted"], true, "{list}");
        assert_eq!(list["data"][0]["text"], "", "{list}");
        assert!(list["data"][0]["deletedAt"].is_string(), "{list}");
        assert_eq!(get_json(&s, &base).await["comments"], 3);
        let (status, doc) = post(&s, &reply_path, t, json!({"text": "late"})).await;
        assert_eq!(status, 400, "a deleted comment takes no replies: {doc}");
        let (status, _) = delete(&s, &reply_path, &token).await;
        assert_eq!(status, 404);
        // Without replies, it goes.
        let second_id = second["comment"]["id"].as_u64().unwrap();
        let (status, _) = delete(&s, &format!("{base}/comments/{second_id}"), &token).await;
        assert_eq!(status, 204);
        assert_eq!(texts(&threads(&s, &uuid, "").await), [""]);

        // Comments disabled: 403, nothing stored; the legacy boolean works too.
        let (status, doc) = put(&s, &base, &token, json!({"commentsPolicy": 2})).await;
        assert_eq!(status, 204, "{doc}");
        let video = get_json_as(&s, &base, &token).await;
        assert_eq!(
            video["commentsPolicy"],
            json!({"id": 2, "label": "Disabled"}),
            "{video}"
        );
        let (status, doc) = post(&s, &path, t, json!({"text": "refused"})).await;
        assert_eq!(status, 403, "{doc}");
        assert!(
            doc["detail"]
                .as_str()
                .unwrap()
                .contains("does not allow comments"),
            "{doc}"
        );
        let (status, doc) = post(
            &s,
            &format!("{base}/comments/{reply_id}"),
            t,
            json!({"text": "no"}),
        )
        .await;
        assert_eq!(status, 403, "{doc}");
        assert_eq!(threads(&s, &uuid, "").await["totalNotDeletedComments"], 2);
        for bad in [
            json!({"commentsPolicy": 3}),
            json!({"commentsPolicy": 9}),
            json!({"commentsEnabled": "maybe"}),
        ] {
            let (status, doc) = put(&s, &base, &token, bad.clone()).await;
            assert_eq!(status, 400, "{bad}: {doc}");
        }
        let (status, _) = put(&s, &base, &token, json!({"commentsEnabled": true})).await;
        assert_eq!(status, 204);
        let (status, doc) = post(&s, &path, t, json!({"text": "open again"})).await;
        assert_eq!(status, 200, "{doc}");
    });
}

fn caption_form(bytes: Vec<u8>, name: &str) -> Form {
    Form::new().part(
        "captionfile",
        Part::bytes(bytes).file_name(name.to_string()),
    )
}

async fn put_caption(
    s: &Server,
    token: Option<&str>,
    uuid: &str,
    lang: &str,
    form: Form,
) -> (u16, Value) {
    let mut r = client()
        .put(s.url(&format!("/api/v1/videos/{uuid}/captions/{lang}")))
        .multipart(form);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn body_of(s: &Server, url: &str) -> (u16, String) {
    let path = url.strip_prefix(&s.base).unwrap_or(url);
    let r = client().get(s.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[test]
fn captions_and_chapters() {
    let s = Server::start();
    rt().block_on(async {
        let (token, _) = login(&s).await;
        let uuid = uploaded(&s, &token).await;
        let t = Some(token.as_str());
        let list_path = format!("/api/v1/videos/{uuid}/captions");
        assert_eq!(get_json(&s, &list_path).await, json!({"total": 0, "data": []}));

        let vtt = "WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour\n";
        let (status, doc) = put_caption(&s, t, &uuid, "fr", caption_form(vtt.into(), "fr.vtt")).await;
        assert_eq!(status, 204, "{doc}");
        let srt = "1\n00:00:00,000 --> 00:00:01,000\nHello\n";
        let (status, doc) = put_caption(&s, t, &uuid, "en", caption_form(srt.into(), "en.srt")).await;
        assert_eq!(status, 204, "{doc}");

        // Refused: nothing stored.
        let (status, doc) = put_caption(&s, None, &uuid, "de", caption_form(vtt.into(), "x.vtt")).await;
        assert_eq!(status, 401, "{doc}");
        for (lang, form, bad) in [
            ("de", caption_form(b"just some text".to_vec(), "x.vtt"), "WebVTT"),
            ("de", caption_form(vec![b'a'; 20 * 1024 * 1024 + 1], "big.vtt"), "20 MiB"),
            ("xx", caption_form(vtt.into(), "x.vtt"), "\"xx\""),
            ("de", Form::new().text("other", "x"), "captionfile is required"),
        ] {
            let (status, doc) = put_caption(&s, t, &uuid, lang, form).await;
            assert_eq!(status, 400, "{bad}: {doc}");
            assert!(doc["detail"].as_str().unwrap().contains(bad), "{doc}");
        }
        let list = get_json(&s, &list_path).await;
        assert_eq!(list["total"], 2, "{list}");
        let langs: Vec<&str> = list["data"].as_array().unwrap().iter().map(|c| c["language"]["id"].as_str().unwrap()).collect();
        assert_eq!(langs, ["en", "fr"], "{list}");
        let fr = &list["data"][1];
        assert_eq!(fr["language"]["label"], "French", "{list}");
        assert_eq!(fr["captionPath"], format!("/lazy-static/video-captions/{uuid}-fr.vtt"), "{list}");
        let (status, served) = body_of(&s, fr["fileUrl"].as_str().unwrap()).await;
        assert_eq!((status, served.as_str()), (200, vtt));
        let (status, playlist) = body_of(&s, fr["m3u8Url"].as_str().unwrap()).await;
        assert_eq!(status, 200);
        assert!(playlist.contains(&format!("{uuid}-fr.vtt")), "{playlist}");
        let (_, en) = body_of(&s, list["data"][0]["fileUrl"].as_str().unwrap()).await;
        assert!(en.starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello"), "{en}");

        let (status, _) = delete(&s, &format!("{list_path}/fr"), &token).await;
        assert_eq!(status, 204);
        let (status, _) = delete(&s, &format!("{list_path}/fr"), &token).await;
        assert_eq!(status, 404);
        assert_eq!(get_json(&s, &list_path).await["total"], 1);
        let (status, _) = body_of(&s, fr["fileUrl"].as_str().unwrap()).await;
        assert_eq!(status, 404, "the deleted caption is no longer served");

        // Chapters (the clip lasts 2 s).
        let path = format!("/api/v1/videos/{uuid}/chapters");
        assert_eq!(get_json(&s, &path).await, json!({"chapters": []}));
        let chapters = json!({"chapters": [{"timecode": 1, "title": "End"}, {"timecode": 0, "title": "Intro"}]});
        let (status, doc) = put(&s, &path, &token, chapters).await;
        assert_eq!(status, 204, "{doc}");
        let want = json!({"chapters": [{"timecode": 0, "title": "Intro"}, {"timecode": 1, "title": "End"}]});
        assert_eq!(get_json(&s, &path).await, want);
        for (body, bad) in [
            (json!({"chapters": [{"timecode": 99, "title": "Late"}]}), "beyond"),
            (json!({"chapters": [{"timecode": 0, "title": "a"}, {"timecode": 0, "title": "b"}]}), "twice"),
            (json!({"chapters": [{"timecode": 0, "title": "t".repeat(101)}]}), "101"),
            (json!({"chapters": [{"timecode": -1, "title": "x"}]}), "chapters"),
            (json!({"nope": 1}), "chapters"),
        ] {
            let (status, doc) = put(&s, &path, &token, body.clone()).await;
            assert_eq!(status, 400, "{body}: {doc}");
            assert!(doc["detail"].as_str().unwrap().contains(bad), "{doc}");
        }
        assert_eq!(get_json(&s, &path).await, want, "refused changes stored nothing");
        let (status, _) = send(&s, reqwest::Method::PUT, &path, None, Some(want.clone())).await;
        assert_eq!(status, 401);
    });
}

#[test]
fn comments_federate_between_two_instances() {
    let a = Server::start_with(fed_options(&[]));
    let b = Server::start_with(fed_options(&[]));
    rt().block_on(async {
        let a_token = login(&a).await.0;
        let b_token = login(&b).await.0;
        let v = publish_clip(&a, &a_token, "320x240", 2).await;
        let uuid = v["uuid"].as_str().unwrap().to_string();
        let r = client()
            .post(b.url("/api/v1/server/following"))
            .bearer_auth(&b_token)
            .json(&json!({"hosts": [a.addr]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let (b_ref, uuid_ref) = (&b, &uuid);
        eventually("A's video on B", &[&a, &b], || async move {
            let (status, _) = send(
                b_ref,
                reqwest::Method::GET,
                &format!("/api/v1/videos/{uuid_ref}"),
                None,
                None,
            )
            .await;
            (status == 200).then_some(())
        })
        .await;

        // B's user comments on A's video: A stores it, attributed to B's account.
        let (status, doc) = post(
            &b,
            &format!("/api/v1/videos/{uuid}/comment-threads"),
            Some(&b_token),
            json!({"text": "Hello from **B**"}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let b_comment_id = doc["comment"]["id"].as_u64().unwrap();
        let a_ref = &a;
        let on_a = eventually("B's comment on A", &[&a, &b], || async move {
            let list = threads(a_ref, uuid_ref, "").await;
            (list["total"] == 1).then_some(list)
        })
        .await;
        let theirs = &on_a["data"][0];
        assert_eq!(theirs["text"], "Hello from **B**", "{on_a}");
        assert_eq!(theirs["account"]["host"], b.addr.as_str(), "{on_a}");
        assert_eq!(
            get_json(&a, &format!("/api/v1/videos/{uuid}")).await["comments"],
            1
        );

        // A's owner replies: B gets the reply under its comment.
        let a_thread = theirs["id"].as_u64().unwrap();
        let (status, doc) = post(
            &a,
            &format!("/api/v1/videos/{uuid}/comments/{a_thread}"),
            Some(&a_token),
            json!({"text": "Welcome"}),
        )
        .await;
        assert_eq!(status, 200, "{doc}");
        let tree = eventually("A's reply on B", &[&a, &b], || async move {
            let tree = get_json(
                b_ref,
                &format!("/api/v1/videos/{uuid_ref}/comment-threads/{b_comment_id}"),
            )
            .await;
            (tree["children"][0]["comment"]["text"] == "Welcome").then_some(tree)
        })
        .await;
        assert_eq!(
            tree["children"][0]["comment"]["account"]["host"],
            a.addr.as_str(),
            "{tree}"
        );

        // B deletes its comment: on A a placeholder stays (the reply hangs from it).
        let (status, _) = delete(
            &b,
            &format!("/api/v1/videos/{uuid}/comments/{b_comment_id}"),
            &b_token,
        )
        .await;
        assert_eq!(status, 204);
        eventually("the deletion on A", &[&a, &b], || async move {
            let list = threads(a_ref, uuid_ref, "").await;
            (list["data"][0]["isDeleted"] == true && list["totalNotDeletedComments"] == 1)
                .then_some(())
        })
        .await;

        // A caption on A's video is in its ActivityPub object.
        let vtt = "WEBVTT\n\n00:00.000 --> 00:01.000\nHallo\n";
        let (status, doc) = put_caption(
            &a,
            Some(&a_token),
            &uuid,
            "de",
            caption_form(vtt.into(), "de.vtt"),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let object = get_ap_json(&a, &format!("/videos/watch/{uuid}")).await;
        let sub = &object["subtitleLanguage"][0];
        assert_eq!(sub["identifier"], "de", "{object}");
        assert_eq!(sub["url"][0]["mediaType"], "text/vtt", "{object}");
        assert!(
            sub["url"][0]["href"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/lazy-static/video-captions/{uuid}-de.vtt")),
            "{object}"
        );
    });
}
