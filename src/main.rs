//! The `fleuve` command line: `serve` (the server), `config --print`, `plan` and `transcode`
//! (one file, offline), `ingest` (the upload client, `fleuve::client`), `runner` (a PeerTube
//! remote runner, `fleuve::runners::client`), `probe-hw`, and the
//! hidden `worker` that the server starts per transcode job.

use clap::{Parser, Subcommand};
use fleuve::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "fleuve",
    version = concat!(env!("CARGO_PKG_VERSION"), " (git ", env!("FLEUVE_GIT_COMMIT"), ")"),
    about = "Video storage and transcoding appliance speaking PeerTube's protocols"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options that locate and override the configuration.
#[derive(clap::Args, Clone, Default)]
struct ConfigArgs {
    /// Configuration file (TOML). Default: ./fleuve.toml when it exists.
    #[arg(long, env = "FLEUVE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Listen address HOST:PORT (overrides `listen`).
    #[arg(long)]
    listen: Option<String>,
    /// Public URL, e.g. https://videos.example.org (overrides `public_url`).
    #[arg(long)]
    public_url: Option<String>,
}

/// `fleuve serve`'s options.
#[derive(clap::Args, Clone, Default)]
struct ServeArgs {
    /// Serve only the object storage's video files, as a stateless edge: no database, no uploads,
    /// no API (needs `object_storage.enabled`; private files need
    /// `auth.video_file_token_secret_file`, the same file as the primary's).
    #[arg(long)]
    edge: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the primary), or an edge of its object storage with `--edge`.
    Serve(ServeArgs),
    /// Show the effective configuration.
    Config {
        /// Print the effective configuration as TOML (secrets redacted).
        #[arg(long)]
        print: bool,
        #[command(flatten)]
        args: ConfigArgs,
    },
    /// Show what Fleuve would produce from a media file on this machine: the source as probed,
    /// the ladder and each rung's encoder chain.
    Plan {
        /// The media file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        args: ConfigArgs,
    },
    /// Transcode a media file into a ladder of HLS renditions in a directory, in this process
    /// (what a `fleuve worker` does for a job; for operators and benchmarks).
    Transcode {
        /// The source file.
        file: PathBuf,
        /// Output directory (created).
        out_dir: PathBuf,
        /// File name prefix of the outputs.
        #[arg(long, default_value = "video")]
        prefix: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        args: ConfigArgs,
    },
    /// Upload a media file to a running server (PeerTube's resumable upload), optionally wait
    /// until it is transcoded, and print the video.
    Ingest(fleuve::client::Options),
    /// Run one transcode job (started by the server, one process per job; not for operators).
    #[command(hide = true)]
    Worker {
        /// The job spec (JSON) written by the server.
        #[arg(long, conflicts_with_all = ["probe", "assemble"])]
        spec: Option<PathBuf>,
        /// Assemble renditions made by remote runners into a staged publication (the spec,
        /// JSON, is written by the server).
        #[arg(long, conflicts_with = "probe", hide = true)]
        assemble: Option<PathBuf>,
        /// Probe and plan a file, print a JSON report (the server's upload check).
        #[arg(long)]
        probe: Option<PathBuf>,
        /// With `--probe`: the planner's options (JSON), caps on the source included.
        #[arg(long, requires = "probe")]
        plan: Option<String>,
        /// With `--probe`: also write the miniature and the preview (`thumbnail.jpg`,
        /// `preview.jpg`) of the file into this directory.
        #[arg(long, requires = "probe")]
        images: Option<PathBuf>,
    },
    /// A PeerTube remote runner: register on instances, then request, accept and process their
    /// transcoding jobs (several resolutions of one video decoded once).
    Runner(fleuve::runners::client::Options),
    /// Where videos' files are kept: `fleuve storage move --to object-storage|file-system
    /// (--video ID | --all)` asks the running server to move them (as an administrator).
    #[command(subcommand)]
    Storage(fleuve::client::storage::StorageCommand),
    /// Show the video hardware this machine has and what it can encode.
    ProbeHw {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the man pages (`man1/`) and shell completions (`completions/`: bash, zsh, fish)
    /// generated from these definitions into a directory (packaging).
    #[command(hide = true)]
    Manual {
        /// Output directory (created).
        out_dir: PathBuf,
    },
}

/// The man pages and shell completions of this command line, into `out`.
fn write_manual(out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    let cmd = Cli::command();
    let man = out.join("man1");
    let completions = out.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    clap_mangen::generate_to(cmd.clone(), &man)
        .with_context(|| format!("cannot write the man pages into {}", man.display()))?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "fleuve", &completions)
            .with_context(|| format!("cannot write the {shell} completions"))?;
    }
    Ok(())
}

fn load_config(args: &ConfigArgs) -> anyhow::Result<Config> {
    let file = args.config.clone().or_else(|| {
        let default = PathBuf::from("fleuve.toml");
        default.exists().then_some(default)
    });
    let mut config = Config::load(file.as_deref(), std::env::vars())?;
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(l) = &args.listen {
        config.set_listen(l)?;
    }
    if let Some(u) = &args.public_url {
        config.public_url = u.clone();
    }
    config.validate()?;
    Ok(config)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLEUVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = load_config(&args.config)?;
            if args.edge {
                fleuve::engine::edge::serve(config)
            } else {
                fleuve::engine::serve(config)
            }
        }
        Command::Config { print, args } => {
            let config = load_config(&args)?;
            if print {
                print!("{}", config.to_redacted_toml());
            } else {
                println!("configuration is valid; use --print to show it");
            }
            Ok(())
        }
        Command::Plan { file, json, args } => {
            let config = load_config(&args)?;
            let source = fleuve::transcode::probe::probe(&file)?;
            let hw = fleuve_hw::discover();
            let ladder =
                fleuve::transcode::ladder::plan(&source, &config.transcode.plan_options(), &hw)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if json {
                let out = serde_json::json!({"source": source, "ladder": ladder, "fallbackReason": ladder.fallback_reason()});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print!(
                    "{}",
                    fleuve::transcode::ladder::render_text(&source, &ladder)
                );
            }
            Ok(())
        }
        Command::Transcode {
            file,
            out_dir,
            prefix,
            json,
            args,
        } => {
            let config = load_config(&args)?;
            let source = fleuve::transcode::probe::probe(&file)?;
            let ladder = fleuve::transcode::ladder::plan(
                &source,
                &config.transcode.plan_options(),
                &fleuve_hw::discover(),
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            std::fs::create_dir_all(&out_dir)?;
            let started = std::time::Instant::now();
            let out = fleuve::transcode::pipeline::run(&file, &ladder, &out_dir, &prefix)?;
            let secs = started.elapsed().as_secs_f64();
            if json {
                let rungs: Vec<_> = out
                    .rungs
                    .iter()
                    .zip(&ladder.rungs)
                    .map(|(r, rung)| serde_json::json!({"resolution": r.resolution, "playlist": r.playlist, "file": r.media_file, "encoder": r.encoder, "scaler": r.scaler, "fallbackReason": ladder.rung_fallback_reason(rung, r.fallback_reason.as_deref()), "frames": r.frames}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"decodedFrames": out.decoded_frames, "decoder": out.decoder, "seconds": secs, "rungs": rungs})
                    )?
                );
            } else {
                println!(
                    "decoded {} frames once ({}); {} rungs in {secs:.1} s",
                    out.decoded_frames,
                    out.decoder,
                    out.rungs.len()
                );
                for r in &out.rungs {
                    println!(
                        "  {:>4}p {} ({} frames) -> {}",
                        r.resolution,
                        r.encoder,
                        r.frames,
                        r.playlist.display()
                    );
                }
            }
            Ok(())
        }
        Command::Ingest(options) => Ok(fleuve::client::run(&options)?),
        Command::Storage(command) => Ok(fleuve::client::storage::run(&command)?),
        Command::Worker {
            spec,
            probe,
            plan,
            images,
            assemble,
        } => {
            let mut stdout = std::io::stdout().lock();
            if let Some(path) = assemble {
                let text =
                    std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let spec: fleuve::transcode::assemble::AssembleSpec = serde_json::from_slice(&text)
                    .map_err(|e| anyhow::anyhow!("assemble spec: {e}"))?;
                std::process::exit(fleuve::transcode::assemble::main(&spec, &mut stdout));
            }
            let code = match (spec, probe) {
                (_, Some(file)) => {
                    let plan = match plan {
                        Some(json) => serde_json::from_str(&json)
                            .map_err(|e| anyhow::anyhow!("--plan: {e}"))?,
                        None => fleuve::transcode::ladder::PlanOptions::default(),
                    };
                    fleuve::transcode::worker::probe_main(
                        &file,
                        &plan,
                        images.as_deref(),
                        &mut stdout,
                    )
                }
                (Some(spec), None) => {
                    let text = std::fs::read(&spec)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", spec.display()))?;
                    let spec: fleuve::transcode::worker::WorkerSpec = serde_json::from_slice(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", "job spec"))?;
                    fleuve::transcode::worker::main(&spec, &mut stdout)
                }
                (None, None) => anyhow::bail!("worker needs --spec FILE or --probe FILE"),
            };
            std::process::exit(code)
        }
        Command::Runner(options) => {
            let code = fleuve::runners::client::main(&options)?;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Manual { out_dir } => write_manual(&out_dir),
        Command::ProbeHw { json } => {
            let inventory = fleuve_hw::discover();
            if json {
                println!("{}", serde_json::to_string_pretty(&inventory)?);
            } else {
                print!("{}", inventory.render_text());
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleuve: {e:#}");
            ExitCode::FAILURE
        }
    }
}
