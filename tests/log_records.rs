//! pagepipe's warnings and errors reach an application that logs with the
//! `log` crate (`env_logger`, as actix's `middleware::Logger` is usually
//! set up) and installs no `tracing` subscriber: they arrive as `log`
//! records. In a binary of its own, since the `log` logger is global.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a failed unwrap is a failed test"
)]

use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt as _;
use pagepipe::{BoxError, Mode, Page, Section, Slot, render, slot};

#[path = "support/templates.rs"]
mod templates;
use templates::{Shell, Text};

/// A `log` logger that keeps what it is given: level and message.
struct Kept(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Kept {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            self.0.lock().unwrap().push((record.level(), line));
        }
    }

    fn flush(&self) {}
}

static KEPT: Kept = Kept(Mutex::new(Vec::new()));

#[tokio::test]
async fn a_failing_and_a_slow_section_are_logged_as_log_records_without_a_tracing_subscriber() {
    log::set_logger(&KEPT).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let failing = Section::new("broken", Text { text: "…".into() }, async {
        Err::<Text, BoxError>("the database is down".into())
    });
    let slow = Section::new(
        "slow",
        Text { text: "…".into() },
        std::future::pending::<Result<Text, BoxError>>(),
    )
    .timeout(Duration::from_millis(10));
    let slots: Vec<Slot> = vec![slot("broken"), slot("slow")];
    let page = Page::new(Shell { slots }).section(failing).section(slow);
    let _: Vec<_> = render(page, Mode::OutOfOrder).unwrap().collect().await;
    let kept = KEPT.0.lock().unwrap().clone();
    let error = kept
        .iter()
        .find(|(level, _)| *level == log::Level::Error)
        .unwrap_or_else(|| panic!("no error record in {kept:?}"));
    assert!(
        error.1.contains("section failed") && error.1.contains("broken"),
        "{error:?}"
    );
    assert!(
        error.1.contains("the database is down"),
        "the cause is logged: {error:?}"
    );
    // The timeout's warning (in debug builds this bare shell is also named
    // in one about WebKit's first paint).
    let warning = kept
        .iter()
        .find(|(level, line)| *level == log::Level::Warn && line.contains("section timed out"))
        .unwrap_or_else(|| panic!("no timeout warning in {kept:?}"));
    assert!(warning.1.contains("slow"), "{warning:?}");
}
