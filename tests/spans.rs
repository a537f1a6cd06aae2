//! The tracing spans and warnings of a page, in a test binary of their own:
//! tracing's level and interest caches are global, so a subscriber in a test
//! that shares its process with other tests' threads may miss events.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use pagepipe::{BoxError, Mode, Page, Section, Slot, render, slot};

#[path = "support/templates.rs"]
mod templates;
use templates::{Shell, Text};

/// A writer that keeps what a `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn each_section_reports_its_id_wait_outcome_and_rendered_bytes_inside_the_page_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let on_time = Section::new("s0", Text { text: "…".into() }, async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        Ok::<_, BoxError>(Text {
            text: "ready 0".into(),
        })
    });
    let hanging = std::future::pending::<Result<Text, BoxError>>();
    let page = Page::new(Shell {
        slots: vec![slot("s0"), slot("late")],
    })
    .section(on_time)
    .section(
        Section::new(
            "late",
            Text {
                text: String::new(),
            },
            hanging,
        )
        .timeout(Duration::from_millis(90)),
    );
    let body = render(page, Mode::InOrder).unwrap();
    let _: Vec<_> = body.collect().await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = |id: &str, event: &str| {
        logs.lines()
            .find(|line| line.contains(&format!("section{{id={id} ")) && line.contains(event))
            .unwrap_or_else(|| panic!("no {event:?} line for {id} in\n{logs}"))
            .to_owned()
    };
    let ok = line("s0", "section resolved");
    assert!(ok.contains("page{mode=\"in-order\"}"), "{ok}");
    assert!(ok.contains("wait_ms=40.0 outcome=\"ok\""), "{ok}");
    // Rendered when written, which is when its size is known.
    let rendered = line("s0", "section rendered");
    assert!(rendered.contains("bytes=7"), "{rendered}");
    let late = line("late", "section resolved");
    assert!(
        late.contains("wait_ms=90.0") && late.contains("outcome=\"timeout\""),
        "{late}"
    );
    assert!(logs.contains("section timed out"));
}

/// A page of one pending section whose fallback is `fallback`, streamed
/// out of order up to its first chunk.
async fn first_chunk_of(fallback: &str) -> usize {
    let pending = std::future::pending::<Result<Text, BoxError>>();
    let page = Page::new(WarnedShell { slot: slot("s0") }).section(Section::new(
        "s0",
        Text {
            text: fallback.into(),
        },
        pending,
    ));
    let mut body = render(page, Mode::OutOfOrder).unwrap();
    body.next().await.unwrap().unwrap().len()
}

/// A shell used by no other test of this binary: the warning is given once
/// per template in the process, so another test's page with the same
/// template could take it first.
#[derive(askama::Template)]
#[template(
    source = "<html><body><div>{{ slot }}</div></body></html>",
    ext = "html"
)]
struct WarnedShell {
    slot: Slot,
}

#[cfg(debug_assertions)]
#[tokio::test]
async fn a_shell_too_bare_for_webkit_to_paint_early_is_named_once_per_template() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let logs = || String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();

    // 201 visible characters: enough.
    let rich = format!("{} z", "word ".repeat(50));
    assert_eq!(first_chunk_of(&rich).await, 512, "padded too");
    assert_eq!(logs(), "", "no warning for a shell WebKit paints");

    // "loading" and nothing else, twice: one warning, naming the template.
    assert_eq!(first_chunk_of("loading").await, 512, "padded");
    first_chunk_of("loading").await;
    let logs = logs();
    assert_eq!(logs.matches("WARN").count(), 1, "{logs}");
    assert!(
        logs.contains("visible characters") && logs.contains("WarnedShell"),
        "{logs}"
    );
    assert!(logs.contains("visible=7"), "{logs}");
}
