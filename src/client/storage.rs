//! `fleuve storage move`: asks a running server to move videos' files between its disk and its
//! object storage (`POST /api/v1/admin/storage/moves`, as an administrator), optionally waiting
//! until the moves are done. The moves themselves are the server's durable jobs: they survive
//! a restart of either side.

use super::rest::expect_ok;
use super::{connect, ClientError, ServerArgs};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Options of `fleuve storage move`.
#[derive(Debug, Clone, clap::Args)]
pub struct MoveOptions {
    /// Where to: `object-storage` or `file-system` (`filesystem`).
    #[arg(long, value_parser = ["object-storage", "file-system", "filesystem"])]
    pub to: String,
    /// One video (id, uuid or short uuid).
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    pub video: Option<String>,
    /// Every local video not already there.
    #[arg(long)]
    pub all: bool,
    /// Wait until no move is pending (at most this many seconds; 0: do not wait).
    #[arg(long, default_value_t = 0)]
    pub wait_secs: u64,
    /// The server and the account (an administrator).
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `fleuve storage` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum StorageCommand {
    /// Move videos' HLS files between the disk and the object storage.
    Move(MoveOptions),
}

/// Runs `fleuve storage …`.
pub fn run(command: &StorageCommand) -> Result<(), ClientError> {
    let StorageCommand::Move(opts) = command;
    let client = connect(&opts.server)?;
    let mut body = json!({ "to": opts.to.replace("filesystem", "file-system") });
    match &opts.video {
        Some(v) => body["videoId"] = json!(v),
        None => body["all"] = json!(true),
    }
    let target = client.target("/api/v1/admin/storage/moves");
    let answer = expect_ok("POST", &target, client.post_json(&target, &[], &body)?)?;
    let queued = answer.json("the queued moves")?["queued"]
        .as_u64()
        .unwrap_or(0);
    println!("{queued} move(s) queued to {}", opts.to);
    if opts.wait_secs == 0 {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(opts.wait_secs);
    loop {
        let answer = expect_ok("GET", &target, client.get(&target)?)?;
        let status: Value = answer.json("the moves")?;
        let pending = status["moves"]["pending"].as_u64().unwrap_or(0);
        if pending == 0 {
            println!("all moves done");
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClientError::Protocol {
                what: "the moves".into(),
                reason: format!(
                    "{pending} still pending after {} s (last error: {})",
                    opts.wait_secs,
                    status["moves"]["lastError"].as_str().unwrap_or("none")
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
