//! The Debian package (issue 20): `scripts/package.sh` builds it from the release build; lintian
//! reports no error; `dpkg -i` installs it on this machine; the installed binary, run as the
//! `fleuve` user with the installed configuration, publishes a video whose watch page loads the
//! player's npm files from `/usr/share/fleuve/web`; `systemd-analyze verify` accepts the
//! installed units; `dpkg -r` keeps the data and the configuration, `dpkg -P` deletes them.
//! Skipped (with the reason) only where `dpkg-deb` is missing. It installs system-wide, so it
//! refuses to run where a `fleuve` package or its directories already exist.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Purges the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "fleuve"]).output();
    }
}

#[test]
fn the_debian_package_installs_runs_and_purges() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        eprintln!(
            "skipped: dpkg-deb is missing (not a Debian system); scripts/package.sh needs it"
        );
        return;
    }
    let uid = String::from_utf8(run(Command::new("id").arg("-u")).stdout).unwrap();
    assert_eq!(
        uid.trim(),
        "0",
        "installing the package needs root (CI runs as root)"
    );
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "fleuve"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&installed.stdout).contains("installed"),
        "a fleuve package is installed here; this test would replace and purge it"
    );
    for d in ["/var/lib/fleuve", "/etc/fleuve"] {
        assert!(
            !Path::new(d).exists(),
            "{d} exists; this test would purge it"
        );
    }

    // Build it, from the binary under test.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = tempfile::tempdir().unwrap();
    let built = run(Command::new("bash")
        .arg(root.join("scripts/package.sh"))
        .arg(out_dir.path())
        .env("FLEUVE_BIN", bin()));
    let deb = String::from_utf8(built.stdout.clone()).unwrap();
    let deb = deb.lines().last().unwrap().to_string();
    assert!(
        deb.ends_with(".deb") && Path::new(&deb).is_file(),
        "{}",
        text(&built)
    );
    assert!(
        Path::new(&deb.replace(".deb", ".debug")).is_file(),
        "the debug symbols beside it"
    );
    let size = std::fs::metadata(&deb).unwrap().len();
    eprintln!("{}", text(&built).trim());
    // What it holds and needs.
    let info = text(&run(Command::new("dpkg-deb").arg("--info").arg(&deb)));
    for dep in ["libavcodec", "libavformat", "libc6"] {
        assert!(info.contains(dep), "Depends lacks {dep}: {info}");
    }
    // Only the shared libraries the binary links.
    let depends = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .unwrap_or_default();
    for d in depends.split(", ") {
        assert!(
            d.starts_with("lib"),
            "Depends names {d}, not a linked library: {depends}"
        );
    }
    let list = text(&run(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    for f in [
        "./usr/bin/fleuve",
        "./lib/systemd/system/fleuve.service",
        "./lib/systemd/system/fleuve-runner.service",
        "./lib/systemd/system/fleuve-edge.service",
        "./usr/lib/sysusers.d/fleuve.conf",
        "./usr/lib/tmpfiles.d/fleuve.conf",
        "./usr/lib/modules-load.d/fleuve.conf",
        "./etc/fleuve/fleuve.toml",
        "./usr/share/fleuve/web/hls.min.js",
        "./usr/share/man/man1/fleuve.1.gz",
        "./usr/share/man/man1/fleuve-serve.1.gz",
        "./usr/share/bash-completion/completions/fleuve",
        "./usr/share/zsh/vendor-completions/_fleuve",
        "./usr/share/fish/vendor_completions.d/fleuve.fish",
        "./usr/share/doc/fleuve/copyright",
    ] {
        assert!(list.contains(f), "the package lacks {f}:\n{list}");
    }
    assert!(
        text(&run(Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .arg("conffiles")))
        .contains("/etc/fleuve/fleuve.toml"),
        "the configuration is a conffile"
    );

    // lintian: no error.
    let lint = Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .expect("lintian is missing: run scripts/setup.sh (apt-get install lintian)");
    assert!(lint.status.success(), "lintian: {}", text(&lint));
    eprintln!("lintian:\n{}", text(&lint));

    // Installed: the user, the directories, the man page, and no start before public_url.
    let _purge = Installed;
    let inst = run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(
        text(&inst).contains("not started: set public_url"),
        "{}",
        text(&inst)
    );
    let version = text(&run(Command::new("/usr/bin/fleuve").arg("--version")));
    let commit = text(&run(Command::new(bin()).arg("--version")));
    assert_eq!(
        version, commit,
        "the installed binary is the one under test"
    );
    assert!(version.contains("(git "), "{version}");
    let uid = String::from_utf8(run(Command::new("id").args(["-u", "fleuve"])).stdout).unwrap();
    let gid = String::from_utf8(run(Command::new("id").args(["-g", "fleuve"])).stdout).unwrap();
    let (uid, gid): (u32, u32) = (uid.trim().parse().unwrap(), gid.trim().parse().unwrap());
    let owner = text(&run(Command::new("stat").args([
        "-c",
        "%U %a",
        "/var/lib/fleuve",
    ])));
    assert_eq!(owner.trim(), "fleuve 750");
    let man = text(&run(
        Command::new("zcat").arg("/usr/share/man/man1/fleuve.1.gz")
    ));
    assert!(man.contains(".TH fleuve") && man.contains("serve"), "{man}");
    // The installed config is the defaults, commented out: it parses to them.
    run(Command::new("/usr/bin/fleuve").args([
        "config",
        "--print",
        "--config",
        "/etc/fleuve/fleuve.toml",
    ]));

    // The installed units verify (their ExecStart, /usr/bin/fleuve, exists now).
    for unit in [
        "fleuve.service",
        "fleuve-edge.service",
        "fleuve-runner.service",
    ] {
        let v = Command::new("systemd-analyze")
            .args(["verify"])
            .arg(format!("/lib/systemd/system/{unit}"))
            .output()
            .unwrap();
        let errors: Vec<String> = text(&v)
            .lines()
            .filter(|l| l.contains("fleuve"))
            .map(str::to_string)
            .collect();
        assert!(
            v.status.success() && errors.is_empty(),
            "{unit}: {}",
            text(&v)
        );
    }

    // The installed binary, as user fleuve, with the installed config and data directory.
    let data = Path::new("/var/lib/fleuve");
    let log = std::fs::File::create(data.join("server.log")).unwrap();
    let child = Command::new("/usr/bin/fleuve")
        .args([
            "serve",
            "--config",
            "/etc/fleuve/fleuve.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("FLEUVE_DATA_DIR", data)
        .env("FLEUVE_ROOT_PASSWORD", ROOT_PASSWORD)
        .env("FLEUVE_ENGINE_SHARDS", "2")
        .env("FLEUVE_TRACKER_UDP_LISTEN", "127.0.0.1:0")
        .env("FLEUVE_TRANSCODE_RESOLUTIONS", "240")
        .current_dir(data)
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let s = Server::attach(child, data);
    // A marker in the installed copy shows which folder the player is served from.
    let marker = "/* served from /usr/share/fleuve/web */";
    let hls = "/usr/share/fleuve/web/hls.min.js";
    let mut body = std::fs::read(hls).unwrap();
    body.extend_from_slice(marker.as_bytes());
    std::fs::write(hls, &body).unwrap();
    let _ = std::fs::remove_file(format!("{hls}.gz"));
    rt().block_on(async {
        let token = login(&s).await.0;
        let v = publish_clip(&s, &token, "426x240", 2).await;
        let short = v["shortUUID"].as_str().unwrap();
        let page = client()
            .get(s.url(&format!("/w/{short}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for asset in [
            "/assets/vendor/hls.min.js",
            "/assets/vendor/p2p-media-loader-core.es.min.js",
            "/assets/vendor/p2p-media-loader-hlsjs.es.min.js",
        ] {
            assert!(page.contains(asset), "the watch page lacks {asset}");
            let r = client().get(s.url(asset)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{asset}");
            let got = r.bytes().await.unwrap();
            let name = asset.rsplit('/').next().unwrap();
            let want = std::fs::read(format!("/usr/share/fleuve/web/{name}")).unwrap();
            assert!(got == want, "{asset} is not the installed copy");
        }
        let r = client()
            .get(s.url("/assets/vendor/hls.min.js"))
            .send()
            .await
            .unwrap();
        assert!(
            r.text().await.unwrap().ends_with(marker),
            "the player is not the installed one"
        );
    });
    drop(s);

    // Removed: the binary goes; the data and the configuration stay.
    let rm = run(Command::new("dpkg").args(["-r", "fleuve"]));
    assert!(!Path::new("/usr/bin/fleuve").exists(), "{}", text(&rm));
    assert!(data.join("meta").is_dir(), "the database was kept");
    assert!(
        Path::new("/etc/fleuve/fleuve.toml").is_file(),
        "the configuration was kept"
    );
    // Purged: they go too, with a note saying so.
    let purge = run(Command::new("dpkg").args(["-P", "fleuve"]));
    assert!(
        text(&purge).contains("deleting /var/lib/fleuve"),
        "{}",
        text(&purge)
    );
    for d in ["/var/lib/fleuve", "/etc/fleuve", "/usr/share/fleuve"] {
        assert!(!Path::new(d).exists(), "{d} is left after purge");
    }
    eprintln!(
        "package: {size} bytes; left after purge: the fleuve system user (Debian leaves users)"
    );
}
