//! Benchmarks of the hot path: a page with ready sections rendered to bytes
//! in each mode, the wire-format wrapping of many small sections, and
//! script-context JSON escaping. Run with `cargo bench --bench render`;
//! under `cargo test` each routine runs once, as a smoke test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test tool: a failed unwrap is a failed run"
)]

use std::convert::Infallible;
use std::hint::black_box;

use askama::Template;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use pagepipe::{Mode, Page, Section, Slot, render, slot, wire};

/// A shell like `/bench`'s: a head, a title, one slot per section.
#[derive(Template)]
#[template(
    source = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>bench</title>\n</head>\n<body>\n<h1>{{ title }}</h1>\n\
{% for slot in slots %}<section>{{ slot }}</section>\n{% endfor %}</body>\n</html>\n",
    ext = "html"
)]
struct Shell {
    title: &'static str,
    slots: Vec<Slot>,
}

#[derive(Template)]
#[template(source = "<p>loading {{ i }}</p>", ext = "html")]
struct Loading {
    i: usize,
}

#[derive(Template)]
#[template(
    source = "<p class=\"ready\">section {{ i }} ready</p><p>{{ text }}</p>",
    ext = "html"
)]
struct Content {
    i: usize,
    text: &'static str,
}

/// A page of `sections` sections, each resolving at once to `filler`.
fn page(sections: usize, filler: &'static str) -> Page {
    let shell = Shell {
        title: "pagepipe bench",
        slots: (0..sections).map(|i| slot(format!("s{i}"))).collect(),
    };
    (0..sections).fold(Page::new(shell), |page, i| {
        let content = async move { Ok::<_, Infallible>(Content { i, text: filler }) };
        page.section(Section::new(format!("s{i}"), Loading { i }, content))
    })
}

/// Renders a page on `runtime` and returns how many bytes it produced.
fn render_page(runtime: &tokio::runtime::Runtime, page: Page, mode: Mode) -> usize {
    runtime.block_on(async move {
        let mut body = render(page, mode).expect("page is sound");
        let mut len = 0;
        while let Some(chunk) = body.next().await {
            len += chunk.expect("pages never fail").len();
        }
        len
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime builds")
}

/// Filler text without characters that need escaping.
fn filler(bytes: usize) -> &'static str {
    let words = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
    let text = words.repeat(bytes / words.len() + 1);
    Box::leak(text.into_boxed_str())
        .get(..bytes)
        .unwrap_or_default()
}

/// The `/bench?delays=0,0,0&bytes=2048` page, in each mode, from building
/// the page (templates rendered) to the last byte.
fn modes(c: &mut Criterion) {
    let runtime = runtime();
    let text = filler(2048);
    let size = render_page(&runtime, page(3, text), Mode::OutOfOrder);
    let mut group = c.benchmark_group("page-3x2KiB");
    group.throughput(Throughput::Bytes(size as u64));
    for mode in [Mode::OutOfOrder, Mode::InOrder, Mode::Buffered] {
        group.bench_function(BenchmarkId::from_parameter(mode.as_str()), |b| {
            b.iter(|| render_page(&runtime, black_box(page(3, text)), mode));
        });
    }
    group.finish();
}

/// 64 tiny sections: the cost is the wire format around each one
/// (placeholders, `<template for>` chunks, the runtime script).
fn wire_wrapping(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("wire-64-tiny-sections");
    group.throughput(Throughput::Elements(64));
    for mode in [Mode::OutOfOrder, Mode::InOrder] {
        group.bench_function(BenchmarkId::from_parameter(mode.as_str()), |b| {
            b.iter(|| render_page(&runtime, black_box(page(64, "x")), mode));
        });
    }
    group.finish();
}

/// `wire::script_json` on a payload with nothing to escape and on one full
/// of characters that must not reach a `<script>` element raw.
fn script_json(c: &mut Criterion) {
    #[derive(serde::Serialize)]
    struct Review<'a> {
        id: u32,
        author: &'a str,
        body: &'a str,
    }
    let plain: Vec<_> = (0..50)
        .map(|id| Review {
            id,
            author: "Ada",
            body: "Bright, steady light; the switch is firm and the base is heavy.",
        })
        .collect();
    let hostile: Vec<_> = (0..50)
        .map(|id| Review {
            id,
            author: "</script><script>alert(1)</script>",
            body: "<!-- a & b > c \u{2028} d \u{2029} </SCRIPT> -->",
        })
        .collect();
    let mut group = c.benchmark_group("script-json-50-reviews");
    for (name, reviews) in [("plain", &plain), ("hostile", &hostile)] {
        let len = wire::script_json(reviews).expect("serializes").len();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| {
            b.iter(|| wire::script_json(black_box(reviews)).expect("serializes"));
        });
    }
    group.finish();
}

criterion_group!(benches, modes, wire_wrapping, script_json);
criterion_main!(benches);
