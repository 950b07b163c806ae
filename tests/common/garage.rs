//! A real S3 server for the tests: Garage (crates.io `garage`, built once into the persistent
//! build cache by `scripts/setup.sh`), one node on loopback with `replication_factor = 1`, an
//! LMDB metadata store, a bucket and a key. Stopped (and its files removed) on drop; it can be
//! stopped and started again on the same data (fault tests).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The garage binary: `FLEUVE_GARAGE_BIN`, else where `scripts/setup.sh` installs it.
pub fn bin() -> PathBuf {
    if let Ok(p) = std::env::var("FLEUVE_GARAGE_BIN") {
        return PathBuf::from(p);
    }
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "/var/cache/fleuve/target".into());
    Path::new(&target)
        .parent()
        .unwrap_or(Path::new("/var/cache/fleuve"))
        .join("garage/bin/garage")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running single-node Garage.
pub struct Garage {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The S3 API port on 127.0.0.1.
    pub s3_port: u16,
    /// The S3 region it signs for.
    pub region: &'static str,
    /// The access key id.
    pub key_id: String,
    /// The secret key.
    pub secret: String,
    /// The bucket made at start.
    pub bucket: &'static str,
}

impl Garage {
    /// Starts Garage with bucket `media` and a key allowed on it (read, write, owner).
    pub fn start() -> Garage {
        let bin = bin();
        assert!(
            bin.is_file(),
            "no garage binary at {} (scripts/setup.sh builds it; FLEUVE_GARAGE_BIN overrides)",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let (s3_port, rpc_port, admin_port) = (free_port(), free_port(), free_port());
        let secret: String = (0..32)
            .map(|i| format!("{:02x}", (i * 37 + s3_port as usize) % 256))
            .collect();
        std::fs::write(
            dir.path().join("garage.toml"),
            format!(
                r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.localhost"
[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
"#,
                d = dir.path().display()
            ),
        )
        .unwrap();
        let mut g = Garage {
            dir,
            child: None,
            s3_port,
            region: "garage",
            key_id: String::new(),
            secret: String::new(),
            bucket: "media",
        };
        g.start_again();
        let id = g.cli(&["node", "id", "-q"]);
        let id = id.trim().split('@').next().unwrap().to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["bucket", "create", "media"]);
        let key = g.cli(&["key", "create", "fleuve-test"]);
        let field = |name: &str| {
            key.lines()
                .find(|l| l.to_ascii_lowercase().contains(name))
                .and_then(|l| l.split_whitespace().last())
                .unwrap_or_else(|| panic!("no {name} in {key}"))
                .to_string()
        };
        g.key_id = field("key id");
        g.secret = field("secret key");
        g.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            "media",
            "--key",
            "fleuve-test",
        ]);
        g
    }

    /// The S3 endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// Runs a garage CLI command; panics with its output when it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(bin())
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "garage {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// Stops the server (SIGKILL); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server (again) on its data and waits until it answers.
    pub fn start_again(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(bin())
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(bin())
                .arg("-c")
                .arg(self.dir.path().join("garage.toml"))
                .arg("status")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            let s3_up = std::net::TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok();
            if ok && s3_up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "garage did not start: {}",
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `[object_storage]` settings of a Fleuve using this Garage, as environment variables
    /// (`base_url` empty: the bucket's own URL).
    pub fn fleuve_env(&self, base_url: &str) -> Vec<(String, String)> {
        [
            ("FLEUVE_OBJECT_STORAGE_ENABLED", "true".to_string()),
            ("FLEUVE_OBJECT_STORAGE_ENDPOINT", self.endpoint()),
            ("FLEUVE_OBJECT_STORAGE_REGION", self.region.to_string()),
            ("FLEUVE_OBJECT_STORAGE_FORCE_PATH_STYLE", "true".to_string()),
            (
                "FLEUVE_OBJECT_STORAGE_STREAMING_PLAYLISTS_BUCKET_NAME",
                self.bucket.to_string(),
            ),
            (
                "FLEUVE_OBJECT_STORAGE_STREAMING_PLAYLISTS_BASE_URL",
                base_url.to_string(),
            ),
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            // Small parts, so multipart uploads happen with test-sized files.
            (
                "FLEUVE_OBJECT_STORAGE_MAX_UPLOAD_PART",
                (5 * 1024 * 1024).to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
