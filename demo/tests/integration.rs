//! One integration test binary; each module is one area of behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test tool: a failed unwrap is a failed run"
)]
// Test helpers are `pub` for sibling modules; the crate exports nothing.
#![allow(unreachable_pub)]

// Starting the demo binary and a raw HTTP client that timestamps chunks.
mod util;
// `/bench` against the real binary: chunk timing in each mode, validation.
mod bench;
// `/bench-list`: a list section over a real socket, its memory, its `400`s.
mod bench_list;
// `/bench`'s section cache: shared loads, hits in place, `--cache-redis`.
mod cache;
// A client that goes away cancels the work done for it.
mod disconnect;
// Compressed pages stay progressive; media is never compressed.
mod compression;
// Graceful shutdown on SIGTERM and SIGINT.
mod shutdown;
// Progressive delivery through a real nginx reverse proxy.
mod nginx;
// Hostile and malformed requests get clear 4xx answers.
mod hostile;
// A handler returning a Page directly, over HTTP/1.1 and HTTP/1.0.
mod responder;
// The showcase page: timing, failure knobs, 404, escaping.
mod showcase;
// Files through the streaming responder: media routes, ranges vs actix-files,
// traversal, a 1 GiB file to a slow reader.
mod media;
// `--video-upstream`: the proxy against a second local server.
mod proxy;
// `/stream-data` paced NDJSON and its `400`s; the `/streams-api` page.
mod data;
// The listening socket's backlog is pagepipe's 2,048.
mod listen;
// Malformed requests log no ERROR; a server's failure still does.
mod logging;

mod tls;
