//! The pagepipe demo server (`docs/DEMO_CONTRACT.md`): flags, logging, signals.

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pagepipe::Upstream;

mod bench;
mod bench_list;
mod feed;
mod headers;
mod media;
mod query;
mod server;
mod shared;
mod showcase;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, fmt as log_fmt};

/// The assets bundled with the demo, found from the source tree it was built
/// in, so the binary starts from any folder.
const BUNDLED_ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets");

// Upper bounds of the duration flags: actix adds each to the clock's
// `Instant`, which panics a worker on every request once the sum overflows
// (`--keep-alive-secs 18446744073709551615`). Each is refused at startup
// beyond a bound no deployment needs.
/// Most `--shutdown-timeout`: an hour.
const MAX_SHUTDOWN_SECS: u64 = 60 * 60;
/// Most `--request-timeout-ms`: an hour.
const MAX_REQUEST_TIMEOUT_MS: u64 = 60 * 60 * 1000;
/// Most `--keep-alive-secs`: a day.
const MAX_KEEP_ALIVE_SECS: u64 = 24 * 60 * 60;
/// Most `--send-timeout-secs`: a day (`TCP_USER_TIMEOUT` counts in `u32`
/// milliseconds).
const MAX_SEND_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// pagepipe demo server: progressive HTML pages and streamed media.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to listen, as HOST:PORT (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// Folder of static files: media, sample HTML, JSON fixtures
    /// [default: the repository's `assets` folder, wherever this is started]
    #[arg(long)]
    assets: Option<PathBuf>,
    /// Worker threads [default: number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds that open responses may take to finish after SIGINT/SIGTERM
    /// (at most an hour).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(..=MAX_SHUTDOWN_SECS))]
    shutdown_timeout: u64,
    /// Relay /stream-video from this http:// URL instead of the bundled MP4.
    #[arg(long, value_name = "URL")]
    video_upstream: Option<Upstream>,
    /// Serve HTTPS on --addr with this PEM certificate chain (and
    /// --tls-key), HTTP/2 and HTTP/1.1 chosen by ALPN.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Keep /bench's section cache in this Redis (redis://HOST:PORT), so
    /// several demo processes share it [default: in the process].
    #[arg(long, value_name = "URL")]
    cache_redis: Option<String>,
    /// Milliseconds a client has to send each request head, from its first
    /// byte (slowloris guard); at least 1000, as the server's clock ticks
    /// every 500 ms, and at most an hour.
    #[arg(long, default_value_t = 5000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1000..=MAX_REQUEST_TIMEOUT_MS))]
    request_timeout_ms: u64,
    /// Seconds an idle keep-alive connection stays open (at most a day).
    #[arg(long, default_value_t = 5, value_name = "SECS", value_parser = clap::value_parser!(u64).range(..=MAX_KEEP_ALIVE_SECS))]
    keep_alive_secs: u64,
    /// Open connections per worker; more wait in the listen backlog.
    #[arg(long, default_value_t = 25_000, value_name = "N")]
    max_connections: usize,
    /// Longest request target (path and query, or an absolute URL as
    /// sent) in bytes, at most 65534; longer gets 414.
    #[arg(long, default_value_t = 8192, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..=pagepipe::MAX_TARGET as u64))]
    max_target_bytes: u64,
    /// Most bytes of request header names and values; more gets 431.
    #[arg(long, default_value_t = 16_384, value_name = "BYTES")]
    max_header_bytes: usize,
    /// Seconds sent data may go unacknowledged (a client that stopped
    /// reading) before the connection is dropped (at most a day).
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=MAX_SEND_TIMEOUT_SECS))]
    send_timeout_secs: u64,
}

/// jemalloc, with a background thread returning memory freed after a burst
/// to the system within a second (`.cargo/config.toml`): glibc's malloc
/// keeps it mapped, so a server's RSS stays at its peak. It also holds an
/// open page in about 1 KiB less (`docs/performance.md`, "Allocator").
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(pagepipe::ClientMistakes)
        .with(
            log_fmt::layer()
                .with_writer(io::stderr)
                .with_ansi(io::stderr().is_terminal()),
        )
        .init();
    let args = Args::parse();
    let assets = match &args.assets {
        Some(assets) if !assets.is_dir() => {
            eprintln!("error: --assets {}: no such folder", assets.display());
            return ExitCode::from(2);
        }
        Some(assets) => assets.clone(),
        None if !Path::new(BUNDLED_ASSETS).is_dir() => {
            eprintln!(
                "error: the bundled assets are not at {BUNDLED_ASSETS} (this binary was built \
                 elsewhere); pass --assets DIR"
            );
            return ExitCode::from(2);
        }
        None => PathBuf::from(BUNDLED_ASSETS),
    };
    match actix_web::rt::System::new().block_on(run(args, assets)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, assets: PathBuf) -> io::Result<()> {
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let tls =
        match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(pagepipe::tls_config(cert, key).map_err(|err| {
                io::Error::new(err.kind(), format!("--tls-cert/--tls-key: {err}"))
            })?),
            _ => None,
        };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let cache = match &args.cache_redis {
        Some(url) => {
            pagepipe::Cache::redis(url, pagepipe::DEFAULT_STORE_TIMEOUT).map_err(|err| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--cache-redis {url}: {err}"),
                )
            })?
        }
        None => pagepipe::Cache::memory(pagepipe::DEFAULT_CACHE_BUDGET),
    };
    // pagepipe's server binds (every address `--addr` resolves to) with its
    // listen backlog of 2,048: std's `TcpListener::bind` gives 128, and a
    // burst of connections past that waits a second for its SYN to be
    // sent again.
    let (addr, server) = server::serve(
        &args.addr,
        server::Options {
            assets,
            workers,
            shutdown_timeout: args.shutdown_timeout,
            video_upstream: args.video_upstream,
            tls,
            cache,
            limits: shared::Limits {
                request_timeout: Duration::from_millis(args.request_timeout_ms),
                keep_alive: Duration::from_secs(args.keep_alive_secs),
                max_connections: args.max_connections,
                max_target: usize::try_from(args.max_target_bytes).unwrap_or(pagepipe::MAX_TARGET),
                max_headers: args.max_header_bytes,
                send_timeout: Duration::from_secs(args.send_timeout_secs),
            },
        },
    )
    .map_err(|err| {
        // pagepipe names the address that failed, which `--addr` often is.
        let message = err.to_string();
        let cause = message
            .strip_prefix(&format!("{}: ", args.addr))
            .unwrap_or(&message);
        io::Error::new(err.kind(), format!("--addr {}: {cause}", args.addr))
    })?;
    let handle = server.handle();
    // Installed before the first connection, so a SIGTERM is never missed.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| io::Error::new(err.kind(), format!("SIGTERM handler: {err}")))?;
    actix_web::rt::spawn(async move {
        shutdown_signal(term).await;
        tracing::info!("shutting down: refusing new connections, letting open responses finish");
        // A graceful stop: pagepipe's server asks open pages to end as
        // complete documents a moment before the grace period does.
        handle.stop(true).await;
    });
    println!("listening on {scheme}://{addr}");
    io::stdout().flush()?;
    server.await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
