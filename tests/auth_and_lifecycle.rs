//! Login, tokens, the first account, config, restarts, the data-dir lock, the CLI.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

#[tokio::test]
async fn root_login_token_and_me() {
    let s = Server::start();
    let c = client();
    let (token, refresh) = login(&s).await;
    let me: Value = get_json_as(&s, "/api/v1/users/me", &token).await;
    assert_eq!(me["username"], "root");
    assert_eq!(me["role"]["id"], 0);
    assert_eq!(me["role"]["label"], "Administrator");
    assert_eq!(me["videoChannels"][0]["name"], "root_channel");
    assert_eq!(me["account"]["name"], "root");

    // No token, bad token.
    let r = c.get(s.url("/api/v1/users/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(s.url("/api/v1/users/me"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));

    // Refresh: new pair works, old pair is gone.
    let oc = oauth_client(&s).await;
    let fresh: Value = token_request(
        &s,
        &oc,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await
    .json()
    .await
    .unwrap();
    let new_token = fresh["access_token"].as_str().unwrap();
    assert_eq!(me_status(&s, new_token).await, 200);
    assert_eq!(me_status(&s, &token).await, 401);

    // Revoke.
    let r = c
        .post(s.url("/api/v1/users/revoke-token"))
        .bearer_auth(new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(me_status(&s, new_token).await, 401);

    // Admin status needs a token and shows the shards.
    assert_eq!(
        c.get(s.url("/api/v1/admin/status"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let (token, _) = login(&s).await;
    let st: Value = get_json_as(&s, "/api/v1/admin/status", &token).await;
    assert_eq!(st["shardCount"], 2);
    assert!(st["shards"][0]["core"].is_number());
    assert!(s.log().contains("shard accepting"));
}

#[tokio::test]
async fn wrong_credentials_get_peertube_errors() {
    let s = Server::start();
    let c = client();
    let oc = oauth_client(&s).await;
    let password = |pw| {
        [
            ("grant_type", "password"),
            ("username", "root"),
            ("password", pw),
        ]
    };
    let r = token_request(&s, &oc, &password("wrong")).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/problem+json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_grant");
    assert_eq!(body["status"], 400);
    assert!(body["detail"].as_str().unwrap().contains("Invalid grant"));

    let wrong_client = ("x".to_string(), "y".to_string());
    let r = token_request(&s, &wrong_client, &password(ROOT_PASSWORD)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_client");

    let r = token_request(&s, &oc, &[("grant_type", "magic")]).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "unsupported_grant_type"
    );

    // Wrong Host header: the local client is not handed out.
    let r = c
        .get(s.url("/api/v1/oauth-clients/local"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Config for clients.
    let cfg: Value = c
        .get(s.url("/api/v1/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["instance"]["name"], "Fleuve");
    assert_eq!(cfg["signup"]["allowed"], false);
    assert!(cfg["transcoding"]["enabledResolutions"]
        .as_array()
        .unwrap()
        .contains(&Value::from(720)));
    let r = c.get(s.url("/api/v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let s = Server::start_with(Options {
        env: vec![("FLEUVE_AUTH_LOGIN_ATTEMPTS_PER_5MIN".into(), "3".into())],
        args: vec![],
    });
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = c
            .post(s.url("/api/v1/users/token"))
            .form(&[("grant_type", "password")])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![400, 400, 400, 429]);
}

/// The status of a password login for `user` sent from `from` (any 127.0.0.0/8 address
/// reaches the server on Linux), with its `Retry-After`.
async fn login_from(
    s: &Server,
    (id, secret): &(String, String),
    from: &str,
    user: &str,
    password: &str,
) -> (u16, Option<u64>) {
    let c = reqwest::Client::builder()
        .no_proxy()
        .local_address(from.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = c
        .post(s.url("/api/v1/users/token"))
        .form(&[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let wait = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (r.status().as_u16(), wait)
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_across_addresses_and_spare_other_accounts() {
    let s = Server::start_with(Options {
        env: vec![
            ("FLEUVE_AUTH_LOGIN_ATTEMPTS_PER_5MIN".into(), "3".into()),
            (
                "FLEUVE_AUTH_LOGIN_FAILURES_PER_ACCOUNT_PER_5MIN".into(),
                "5".into(),
            ),
        ],
        args: vec![],
    });
    let oc = oauth_client(&s).await;
    // root logs in from its usual address.
    assert_eq!(
        login_from(&s, &oc, "127.0.0.1", "root", ROOT_PASSWORD)
            .await
            .0,
        200
    );
    // Someone guesses alice's password from five addresses, then a sixth: limited per account.
    for n in 2..=6 {
        let from = format!("127.0.0.{n}");
        assert_eq!(login_from(&s, &oc, &from, "alice", "guess").await.0, 400);
    }
    let (status, wait) = login_from(&s, &oc, "127.0.0.7", "alice", "guess").await;
    assert_eq!(status, 429);
    assert!(wait.is_some_and(|w| (1..=300).contains(&w)), "{wait:?}");
    // Another account still logs in, from an address that was just refused for alice too.
    assert_eq!(
        login_from(&s, &oc, "127.0.0.7", "root", ROOT_PASSWORD)
            .await
            .0,
        200
    );
    // Now root is guessed at from five new addresses: a sixth address is refused even with
    // the right password, but the addresses root logged in from are not.
    for n in 10..=14 {
        let from = format!("127.0.0.{n}");
        assert_eq!(login_from(&s, &oc, &from, "root", "guess").await.0, 400);
    }
    assert_eq!(
        login_from(&s, &oc, "127.0.0.15", "root", ROOT_PASSWORD)
            .await
            .0,
        429
    );
    for known in ["127.0.0.1", "127.0.0.7"] {
        assert_eq!(
            login_from(&s, &oc, known, "root", ROOT_PASSWORD).await.0,
            200,
            "{known}"
        );
    }
}

#[tokio::test]
async fn restart_keeps_users_and_tokens_and_second_server_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), Options::default());
    let (token, _) = login(&s).await;

    // A second server on the same data dir refuses with a clear message.
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already in use by another fleuve process"),
        "{err}"
    );
    assert!(
        !err.contains("LOCK: Resource"),
        "raw RocksDB error leaked: {err}"
    );

    assert!(s.stop().success());
    let s = Server::start_in(dir.path(), Options::default());
    let me: Value = get_json_as(&s, "/api/v1/users/me", &token).await;
    assert_eq!(me["username"], "root");
}

#[test]
fn generated_root_password_is_written_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    let mut child = {
        opts.env
            .push(("FLEUVE_ROOT_PASSWORD".into(), String::new()));
        spawn_in(dir.path(), &opts)
    };
    wait_ready(dir.path(), &mut child);
    let pw_file = dir.path().join("root-password");
    let mode = std::fs::metadata(&pw_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pw = std::fs::read_to_string(&pw_file).unwrap();
    assert!(pw.trim().len() >= 16);
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert_eq!(
        log.matches(pw.trim()).count(),
        1,
        "password logged exactly once"
    );
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = fleuve::store::Store::open(&dir.path().join("meta")).unwrap();
        store
            .put(
                &fleuve::store::tables::SchemaVersionKey,
                &(fleuve::store::SCHEMA_VERSION + 5),
                fleuve::store::Durability::Sync,
            )
            .unwrap();
    }
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer than this fleuve supports"), "{err}");
}

#[test]
fn config_print_and_bad_config() {
    let out = Command::new(bin())
        .args(["config", "--print", "--listen", "127.0.0.1:7777"])
        .env("FLEUVE_MEDIA_CACHE_BYTES", "12345")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(parsed["listen"].as_str(), Some("127.0.0.1:7777"));
    assert_eq!(parsed["media"]["cache_bytes"].as_integer(), Some(12345));
    assert_eq!(parsed["data_dir"].as_str(), Some("./data"));

    let out = Command::new(bin())
        .args(["config", "--print"])
        .env("FLEUVE_ENGINE_SHARDS", "many")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FLEUVE_ENGINE_SHARDS") && err.contains("many"),
        "{err}"
    );
}

#[test]
fn probe_hw_reports_and_exits_zero() {
    let out = Command::new(bin()).args(["probe-hw"]).output().unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.is_empty());
    let out = Command::new(bin())
        .args(["probe-hw", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.is_object());
}

#[test]
fn systemd_unit_verifies() {
    let Ok(which) = Command::new("systemd-analyze").arg("--version").output() else {
        panic!("systemd-analyze is required (apt-get install systemd)");
    };
    assert!(which.status.success());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let edge = std::fs::read_to_string(root.join("systemd/fleuve-edge.service")).unwrap();
    assert!(edge.contains("serve --edge"), "{edge}");
    for name in ["fleuve.service", "fleuve-edge.service"] {
        verify_unit(root, name);
    }
}

fn verify_unit(root: &std::path::Path, name: &str) {
    let unit = std::fs::read_to_string(root.join("systemd").join(name)).unwrap();
    // Verify the unit as shipped, with ExecStart pointing at the binary under test (verify
    // checks that the executable exists).
    let dir = tempfile::tempdir().unwrap();
    let tested = unit.replace("/usr/local/bin/fleuve", bin());
    let path = dir.path().join(name);
    std::fs::write(&path, tested).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let relevant: Vec<&str> = stderr.lines().filter(|l| l.contains("fleuve")).collect();
    assert!(
        out.status.success() && relevant.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "LimitNOFILE=",
        "LimitMEMLOCK=",
        "ProtectSystem=strict",
        "ReadWritePaths=",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(key), "{name} lacks {key}");
    }
    if name == "fleuve.service" {
        for key in ["DeviceAllow=/dev/dri/renderD", "DeviceAllow=/dev/nvidia"] {
            assert!(unit.contains(key), "{name} lacks {key}");
        }
    }
    for f in ["systemd/fleuve.sysusers", "systemd/fleuve.tmpfiles"] {
        assert!(root.join(f).exists(), "{f} missing");
    }
}

#[test]
fn tells_systemd_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    // As systemd does: WATCHDOG_PID names the service's own pid (exec keeps the shell's).
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("FLEUVE_ROOT_PASSWORD", ROOT_PASSWORD)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
        .spawn()
        .unwrap();
    wait_ready(dir.path(), &mut child);
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !(seen.contains("READY=1") && seen.contains("WATCHDOG=1")) {
        let n = sock.recv(&mut buf).expect("no notification from fleuve");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        seen.push('\n');
    }
    assert!(seen.contains("STATUS=serving"), "{seen}");
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    while !seen.contains("STOPPING=1") {
        let n = sock.recv(&mut buf).expect("no STOPPING notification");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn plan_shows_the_ladder_of_a_generated_clip() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip(dir.path(), "clip.mp4", "1280x720", 30, 1, false);
    let out = Command::new(bin())
        .args(["plan", "--json"])
        .arg(&clip)
        .env("FLEUVE_TRANSCODE_ENCODERS", "h264_nvenc,libx264")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let res: Vec<u64> = v["ladder"]["rungs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resolution"].as_u64().unwrap())
        .collect();
    assert_eq!(res, vec![720, 480, 360, 240, 144]);
    let chain = v["ladder"]["rungs"][0]["encoders"].as_array().unwrap();
    assert_eq!(chain.last().unwrap(), "libx264");
    if chain.len() == 1 {
        assert!(v["fallbackReason"].as_str().unwrap().contains("h264_nvenc"));
    }
    let out = Command::new(bin())
        .args(["plan"])
        .arg(dir.path().join("missing.mp4"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.mp4"));
}
