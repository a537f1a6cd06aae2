//! pagepipe's `GET /bench` page (docs/DEMO_CONTRACT.md) written with Leptos
//! 0.8: server-side rendering only, one `<Suspense/>` per section, each
//! section's data a `Resource` that sleeps `delays[i]` ms, streamed out of
//! order (`SsrMode::OutOfOrder`) by leptos_actix on actix-web.
//!
//! `leptos-bench [--addr HOST:PORT] [--workers N]` prints
//! `listening on http://HOST:PORT` once its socket listens.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpServer, web};
use leptos::config::LeptosOptions;
use leptos::prelude::*;
use leptos_actix::{LeptosRoutes, ResponseOptions, generate_route_list};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_query_map;
use leptos_router::{SsrMode, StaticSegment};

/// Most sections a page may have (as pagepipe's demo).
const MAX_SECTIONS: usize = 64;
/// Longest delay of one section, in ms.
const MAX_DELAY_MS: u64 = 60_000;
/// Most filler bytes in one section.
const MAX_BYTES: usize = 1_048_576;

/// Filler text: ASCII words, so any prefix is valid UTF-8 and needs no
/// escaping (the same text as pagepipe's demo).
fn filler(bytes: usize) -> &'static str {
    static FILLER: OnceLock<String> = OnceLock::new();
    let text = FILLER.get_or_init(|| {
        const WORDS: &str =
            "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ";
        WORDS.repeat(MAX_BYTES / WORDS.len() + 1)
    });
    &text[..bytes]
}

/// A validated `/bench` query.
struct BenchQuery {
    delays: Vec<u64>,
    bytes: usize,
}

/// Parses `delays` and `bytes`; an error names the parameter at fault.
fn parse_query(delays: Option<String>, bytes: Option<String>) -> Result<BenchQuery, String> {
    let delays = match delays {
        None => vec![0],
        Some(value) => {
            let parsed = value
                .split(',')
                .map(|entry| entry.parse::<u64>().ok().filter(|d| *d <= MAX_DELAY_MS))
                .collect::<Option<Vec<_>>>();
            match parsed {
                Some(list) if list.len() <= MAX_SECTIONS => list,
                _ => {
                    return Err(format!(
                        "delays: expected 1 to {MAX_SECTIONS} comma-separated integers, \
                         each 0 to {MAX_DELAY_MS}, got {value:?}"
                    ));
                }
            }
        }
    };
    let bytes = match bytes {
        None => 256,
        Some(value) => match value.parse::<usize>() {
            Ok(n) if n <= MAX_BYTES => n,
            _ => return Err(format!("bytes: expected 0 to {MAX_BYTES}, got {value:?}")),
        },
    };
    Ok(BenchQuery { delays, bytes })
}

/// The document around the routed app.
fn shell() -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>"leptos bench"</title>
            </head>
            <body>
                <BenchApp />
            </body>
        </html>
    }
}

#[component]
fn BenchApp() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=|| "not found">
                <Route path=StaticSegment("bench") view=Bench ssr=SsrMode::OutOfOrder />
            </Routes>
        </Router>
    }
}

/// `GET /bench`: one section per entry of `delays`.
#[component]
fn Bench() -> impl IntoView {
    let query = use_query_map();
    let parsed = query.with_untracked(|q| parse_query(q.get("delays"), q.get("bytes")));
    match parsed {
        Err(message) => {
            if let Some(response) = use_context::<ResponseOptions>() {
                response.set_status(StatusCode::BAD_REQUEST);
            }
            view! { <p>{message}</p> }.into_any()
        }
        Ok(BenchQuery { delays, bytes }) => {
            let count = delays.len();
            let sections = delays
                .into_iter()
                .enumerate()
                .map(|(i, delay)| view! { <BenchSection i delay bytes /> })
                .collect_view();
            view! {
                <h1>{format!("leptos bench: {count} sections, out-of-order")}</h1>
                <p>
                    "The synthetic page for load tests. Section i resolves delays[i] milliseconds after the request and holds about the number of filler bytes asked for; until it does, its slot shows the shell's fallback. Sections end in document order, whatever order they resolve in."
                </p>
                {sections}
            }
            .into_any()
        }
    }
}

/// Section `i`: `loading {i}` until its resource resolves after `delay` ms.
#[component]
fn BenchSection(i: usize, delay: u64, bytes: usize) -> impl IntoView {
    let data = Resource::new(
        || (),
        move |_| async move {
            // A zero delay is ready at once, as in pagepipe's demo: a zero
            // sleep still waits for the timer's next tick.
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            filler(bytes).to_owned()
        },
    );
    view! {
        <section id=format!("s{i}")>
            // One text node each (`format!`), so the markup holds the same
            // `loading {i}` and `section {i} ready` text as pagepipe's page.
            <Suspense fallback=move || view! { <p>{format!("loading {i}")}</p> }>
                {move || Suspend::new(async move {
                    let filler = data.await;
                    view! {
                        <p class="ready">{format!("section {i} ready")}</p>
                        <p class="filler">{filler}</p>
                    }
                })}
            </Suspense>
        </section>
    }
}

struct Args {
    addr: String,
    workers: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:3001".to_owned(),
        workers: std::thread::available_parallelism().map_or(1, usize::from),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--workers" => {
                args.workers = value()?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--workers: expected a positive integer")?;
            }
            "-h" | "--help" => {
                println!("usage: leptos-bench [--addr HOST:PORT] [--workers N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = parse_args().unwrap_or_else(|err| {
        eprintln!("leptos-bench: {err}");
        std::process::exit(2);
    });
    // Configured here rather than from Cargo.toml metadata (no cargo-leptos):
    // nothing is hydrated, so no site or package directory is served.
    let options = LeptosOptions::builder().output_name("leptos-bench").build();
    let server = HttpServer::new(move || {
        let routes = generate_route_list(BenchApp);
        App::new()
            .leptos_routes(routes, shell)
            .app_data(web::Data::new(options.clone()))
    })
    .workers(args.workers)
    // As pagepipe's demo: a backlog of 2,048, not std's 128.
    .backlog(2048)
    .bind(&args.addr)?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await
}
