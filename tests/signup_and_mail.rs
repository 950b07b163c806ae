//! Sign-up and e-mail (issue 15), end to end against PeerTube's own test mail server
//! (`@peertube/maildev` from npm, started on loopback by tests/clients/maildev.mjs): a
//! registration request whose e-mail is verified through the e-mailed link, then accepted by a
//! moderator; an open sign-up that cannot log in before its link is opened; the instance's user
//! limit; a password reset through its link (a weak password refused and the link still good;
//! used once; sessions ended); an expired link refused; bad input named.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// maildev on a free loopback port; the messages it receives, as JSON lines.
struct MailDev {
    child: Child,
    rx: mpsc::Receiver<Value>,
    port: u16,
}

impl MailDev {
    fn start() -> MailDev {
        let clients = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");
        assert!(
            std::path::Path::new(clients)
                .join("node_modules/@peertube/maildev")
                .is_dir(),
            "tests/clients/node_modules lacks @peertube/maildev: run scripts/setup.sh"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("node")
            .arg(format!("{clients}/maildev.mjs"))
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node is required (scripts/setup.sh installs it)");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("maildev did not start");
        assert_eq!(ready["ready"], port, "{ready}");
        MailDev { child, rx, port }
    }

    /// The next message (to `to`), within 30 s.
    fn next(&self, to: &str) -> Value {
        let m = self
            .rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no e-mail to {to}"));
        assert_eq!(m["to"][0], to, "{m}");
        m
    }

    /// Nothing arrives for a second.
    fn none(&self) {
        if let Ok(m) = self.rx.recv_timeout(Duration::from_secs(1)) {
            panic!("unexpected e-mail: {m}");
        }
    }
}

impl Drop for MailDev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(mail: &MailDev, extra: &[(&str, &str)]) -> Server {
    let mut o = Options::default();
    for (k, v) in [
        ("FLEUVE_SIGNUP_ENABLED", "true"),
        ("FLEUVE_SMTP_HOST", "127.0.0.1"),
        ("FLEUVE_SMTP_SECURITY", "none"),
        ("FLEUVE_INSTANCE_NAME", "Fleuve test"),
        // Every test signs up from 127.0.0.1; the per-address limits have their own test.
        ("FLEUVE_SIGNUP_PER_ADDRESS_PER_5MIN", "0"),
        ("FLEUVE_SIGNUP_EMAIL_ASKS_PER_ADDRESS_PER_5MIN", "0"),
    ] {
        o.env.push((k.into(), v.into()));
    }
    o.env
        .push(("FLEUVE_SMTP_PORT".into(), mail.port.to_string()));
    for (k, v) in extra {
        o.env.push(((*k).into(), (*v).into()));
    }
    Server::start_with(o)
}

/// The link in a message's text.
fn link(m: &Value) -> String {
    let text = m["text"].as_str().unwrap_or_default();
    let start = text
        .find("http://")
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// Opens `link` as a browser would (the page and its form), submits the form with `extra`
/// fields; returns the result page's status and text.
async fn follow(link: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let page = client().get(link).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "{link}");
    let html = page.text().await.unwrap();
    assert!(html.contains("<form"), "{html}");
    let url = reqwest::Url::parse(link).unwrap();
    let mut form: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, v) in extra {
        form.push(((*k).into(), (*v).into()));
    }
    let mut action = url.clone();
    action.set_query(None);
    let r = client().post(action).form(&form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(s: &Server, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    call(s, reqwest::Method::POST, path, token, body).await
}

#[test]
fn a_registration_request_verified_by_email_and_accepted_by_a_moderator() {
    let mail = MailDev::start();
    let s = server(
        &mail,
        &[
            ("FLEUVE_SIGNUP_REQUIRES_APPROVAL", "true"),
            ("FLEUVE_SIGNUP_REQUIRES_EMAIL_VERIFICATION", "true"),
        ],
    );
    rt().block_on(async {
        let (root, _) = login(&s).await;
        let carol = json!({"username": "carol", "password": "carol-password",
                           "email": "carol@example.test", "displayName": "Carol",
                           "registrationReason": "I film rivers"});
        let (status, doc) = post(&s, "/api/v1/users/register", None, carol.clone()).await;
        assert_eq!(status, 403, "approval needed: {doc}");
        // Bad input, each named; nothing requested.
        for (patch, want, names) in [
            (json!({"username": "root"}), 409, "root"),
            (json!({"password": "12345"}), 400, "5"),
            (json!({"displayName": "Car\u{0}ol"}), 400, "displayName"),
            (json!({"registrationReason": ""}), 400, "registrationReason"),
            (json!({"email": "not-an-address"}), 400, "not-an-address"),
        ] {
            let mut body = carol.clone();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (status, doc) = post(&s, "/api/v1/users/registrations/request", None, body).await;
            assert_eq!(status, want, "{patch}: {doc}");
            assert!(doc.to_string().contains(names), "{patch}: {doc}");
        }
        let (status, reg) = post(
            &s,
            "/api/v1/users/registrations/request",
            None,
            carol.clone(),
        )
        .await;
        assert_eq!(status, 200, "{reg}");
        assert_eq!(
            (&reg["state"]["id"], &reg["emailVerified"]),
            (&json!(1), &json!(false))
        );
        let id = reg["id"].as_u64().unwrap();
        let (status, _) = post(
            &s,
            "/api/v1/users/registrations/request",
            None,
            carol.clone(),
        )
        .await;
        assert_eq!(status, 409, "the same request twice");

        // Not acceptable before its e-mail is verified.
        let accept = format!("/api/v1/users/registrations/{id}/accept");
        let (status, doc) = post(&s, &accept, Some(&root), json!({})).await;
        assert_eq!(status, 400, "{doc}");

        // The link from the e-mail verifies it, once.
        let m = mail.next("carol@example.test");
        assert!(m["subject"].as_str().unwrap().contains("verify"), "{m}");
        let l = link(&m);
        assert!(l.contains(&format!("registrationId={id}")), "{l}");
        let (status, page) = follow(&l, &[]).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("verified"), "{page}");
        let (status, _) = follow(&l, &[]).await;
        assert_eq!(status, 403, "a link works once");

        // A user may not see the requests; the moderator does, and accepts.
        let (status, list) = call(
            &s,
            reqwest::Method::GET,
            "/api/v1/users/registrations",
            Some(&root),
            Value::Null,
        )
        .await;
        assert_eq!((status, &list["total"]), (200, &json!(1)), "{list}");
        assert_eq!(list["data"][0]["emailVerified"], true);
        assert_eq!(
            try_login(&s, "carol", "carol-password").await.0,
            400,
            "no account yet"
        );
        let (status, doc) = post(
            &s,
            &accept,
            Some(&root),
            json!({"moderationResponse": "Welcome"}),
        )
        .await;
        assert_eq!(status, 204, "{doc}");
        let m = mail.next("carol@example.test");
        assert!(m["text"].as_str().unwrap().contains("Welcome"), "{m}");
        let (status, tok) = try_login(&s, "carol", "carol-password").await;
        assert_eq!(status, 200, "{tok}");
        let carol_token = tok["access_token"].as_str().unwrap().to_string();
        let me = get_json_as(&s, "/api/v1/users/me", &carol_token).await;
        assert_eq!(
            (&me["emailVerified"], &me["role"]["id"]),
            (&json!(true), &json!(2))
        );
        assert_eq!(me["account"]["displayName"], "Carol");
        let (status, _) = call(
            &s,
            reqwest::Method::GET,
            "/api/v1/users/registrations",
            Some(&carol_token),
            Value::Null,
        )
        .await;
        assert_eq!(status, 403);
        let (status, _) = post(&s, &accept, Some(&root), json!({})).await;
        assert_eq!(status, 409, "answered already");

        // Another request, rejected (its address is not verified: no e-mail goes to it).
        let (status, reg) = post(
            &s,
            "/api/v1/users/registrations/request",
            None,
            json!({"username": "dave", "password": "dave-password", "email": "dave@example.test",
                   "registrationReason": "spam"}),
        )
        .await;
        assert_eq!(status, 200, "{reg}");
        mail.next("dave@example.test");
        let reject = format!("/api/v1/users/registrations/{}/reject", reg["id"]);
        assert_eq!(
            post(&s, &reject, Some(&root), json!({})).await.0,
            400,
            "a reason is needed"
        );
        assert_eq!(
            post(
                &s,
                &reject,
                Some(&carol_token),
                json!({"moderationResponse": "no"})
            )
            .await
            .0,
            403
        );
        assert_eq!(
            post(
                &s,
                &reject,
                Some(&root),
                json!({"moderationResponse": "No spam"})
            )
            .await
            .0,
            204
        );
        mail.none();
        assert_eq!(try_login(&s, "dave", "dave-password").await.0, 400);
    });
}

#[test]
fn open_signup_verification_user_limit_and_password_reset() {
    let mail = MailDev::start();
    let s = server(
        &mail,
        &[
            ("FLEUVE_SIGNUP_REQUIRES_APPROVAL", "false"),
            ("FLEUVE_SIGNUP_REQUIRES_EMAIL_VERIFICATION", "true"),
            ("FLEUVE_SIGNUP_LIMIT", "3"),
        ],
    );
    rt().block_on(async {
        // What PeerTube's clients read before showing their sign-up form.
        let config = |s: &Server| {
            let url = s.url("/api/v1/config");
            async move {
                let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
                (v["signup"].clone(), v["email"]["enabled"].clone())
            }
        };
        let (signup, email) = config(&s).await;
        assert_eq!(
            (
                &signup["allowed"],
                &signup["requiresApproval"],
                &signup["requiresEmailVerification"],
                &email
            ),
            (&json!(true), &json!(false), &json!(true), &json!(true)),
            "{signup}"
        );
        let erin = json!({"username": "erin", "password": "erin-password",
                          "email": "erin@example.test"});
        let (status, _) = post(
            &s,
            "/api/v1/users/registrations/request",
            None,
            erin.clone(),
        )
        .await;
        assert_eq!(status, 403, "no approval here: register directly");
        let (status, doc) = post(&s, "/api/v1/users/register", None, erin.clone()).await;
        assert_eq!(status, 204, "{doc}");
        let (status, doc) = post(&s, "/api/v1/users/register", None, erin.clone()).await;
        assert_eq!(status, 409, "{doc}");
        // Not before the link is opened.
        let (status, doc) = try_login(&s, "erin", "erin-password").await;
        assert_eq!(status, 400, "{doc}");
        assert!(doc.to_string().contains("not verified"), "{doc}");
        let m = mail.next("erin@example.test");
        let (status, page) = follow(&link(&m), &[]).await;
        assert_eq!(status, 200, "{page}");
        let (status, tok) = try_login(&s, "erin", "erin-password").await;
        assert_eq!(status, 200, "{tok}");
        let old_session = tok["access_token"].as_str().unwrap().to_string();

        // The limit (3 users: root, erin, frank).
        let frank = json!({"username": "frank", "password": "frank-password",
                           "email": "frank@example.test", "channel": {"name": "frank_films"}});
        assert_eq!(post(&s, "/api/v1/users/register", None, frank).await.0, 204);
        mail.next("frank@example.test");
        let gina =
            json!({"username": "gina", "password": "gina-password", "email": "gina@example.test"});
        let (status, doc) = post(&s, "/api/v1/users/register", None, gina).await;
        assert_eq!(status, 403, "{doc}");
        assert!(doc.to_string().contains("limit"), "{doc}");
        let (signup, _) = config(&s).await;
        assert_eq!(signup["allowed"], false, "the limit is reached: {signup}");

        // Password reset: unknown addresses get the same answer and no e-mail.
        let ask = "/api/v1/users/ask-reset-password";
        assert_eq!(
            post(&s, ask, None, json!({"email": "nobody@example.test"}))
                .await
                .0,
            204
        );
        mail.none();
        assert_eq!(
            post(&s, ask, None, json!({"email": "erin@example.test"}))
                .await
                .0,
            204
        );
        let m = mail.next("erin@example.test");
        let l = link(&m);
        assert!(l.contains("/reset-password?userId="), "{l}");
        let (status, page) = follow(&l, &[("password", "123")]).await;
        assert_eq!(status, 400, "too weak: {page}");
        let (status, page) = follow(&l, &[("password", "erin-new-password")]).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(me_status(&s, &old_session).await, 401, "sessions ended");
        assert_eq!(try_login(&s, "erin", "erin-password").await.0, 400);
        assert_eq!(try_login(&s, "erin", "erin-new-password").await.0, 200);
        let (status, _) = follow(&l, &[("password", "erin-third-password")]).await;
        assert_eq!(status, 403, "a reset link works once");
        // The API form of the same, with a token that never was.
        let (status, _) = post(
            &s,
            "/api/v1/users/2/reset-password",
            None,
            json!({"verificationString": "0000", "password": "whatever-password"}),
        )
        .await;
        assert_eq!(status, 403);
    });
}

#[test]
fn an_expired_link_is_refused() {
    let mail = MailDev::start();
    let s = server(
        &mail,
        &[
            ("FLEUVE_SIGNUP_REQUIRES_APPROVAL", "false"),
            ("FLEUVE_SIGNUP_REQUIRES_EMAIL_VERIFICATION", "true"),
            ("FLEUVE_SIGNUP_EMAIL_TOKEN_LIFETIME_SECS", "1"),
        ],
    );
    rt().block_on(async {
        let body =
            json!({"username": "hal", "password": "hal-password", "email": "hal@example.test"});
        assert_eq!(post(&s, "/api/v1/users/register", None, body).await.0, 204);
        let m = mail.next("hal@example.test");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (status, page) = follow(&link(&m), &[]).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("expired"), "{page}");
        // A new link can be asked for.
        let (status, _) = post(
            &s,
            "/api/v1/users/ask-send-verify-email",
            None,
            json!({"email": "hal@example.test"}),
        )
        .await;
        assert_eq!(status, 204);
        mail.next("hal@example.test");
    });
}

/// Sign-ups and e-mail asks are limited per client address (PeerTube's 2 and 3 per 5 minutes):
/// past it, 429 with `Retry-After`, and nothing made or sent.
#[test]
fn signups_and_email_asks_are_limited_per_address() {
    let mail = MailDev::start();
    let s = server(
        &mail,
        &[
            ("FLEUVE_SIGNUP_REQUIRES_APPROVAL", "false"),
            ("FLEUVE_SIGNUP_PER_ADDRESS_PER_5MIN", "2"),
            ("FLEUVE_SIGNUP_EMAIL_ASKS_PER_ADDRESS_PER_5MIN", "3"),
        ],
    );
    rt().block_on(async {
        let user = |n: &str| json!({"username": n, "password": format!("{n}-password"), "email": format!("{n}@example.test")});
        assert_eq!(post(&s, "/api/v1/users/register", None, user("ivy")).await.0, 204);
        assert_eq!(post(&s, "/api/v1/users/register", None, user("jon")).await.0, 204);
        let r = client().post(s.url("/api/v1/users/register")).json(&user("kim")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 429);
        assert!(r.headers().get("retry-after").is_some());
        assert_eq!(try_login(&s, "kim", "kim-password").await.0, 400, "not made");
        for _ in 0..3 {
            assert_eq!(post(&s, "/api/v1/users/ask-reset-password", None, json!({"email": "ivy@example.test"})).await.0, 204);
            mail.next("ivy@example.test");
        }
        let (status, _) = post(&s, "/api/v1/users/ask-reset-password", None, json!({"email": "ivy@example.test"})).await;
        assert_eq!(status, 429);
        mail.none();
    });
}
