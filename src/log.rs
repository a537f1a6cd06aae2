//! Logs that fit an application: [`ClientMistakes`], a `tracing-subscriber`
//! layer that logs a request actix-http could not parse (the client's
//! mistake, and the client's to repeat) at `DEBUG` rather than as an
//! `ERROR`, so a client cannot choose what fills the log.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The target of actix-http's HTTP/1 connection, which logs at `ERROR` why
/// it ended one.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// How that `ERROR` begins when the client's bytes were not HTTP: a bad
/// request line, header, `Content-Length` or `Transfer-Encoding`, a head
/// over 128 KiB or a target over 65,534 bytes (answered `400` or `431`).
const PARSE_ERROR: &str = "stream error: request parse error: ";

/// Logs a request actix-http could not parse at `DEBUG`, as pagepipe's own
/// event, instead of actix-http's `ERROR`: a client's mistake is not a
/// server error, and at the default `info` every malformed request would
/// otherwise write a line the client chose. Only those events are changed;
/// the same target's other `ERROR`s, which are the server's (a response
/// body that failed mid-way, such as an upstream that went away, or an
/// internal error), are logged as they are. No `RUST_LOG` directive can
/// tell them apart (they share a target and a level, and directives match
/// no event's message), so this is a layer that reads the message. Should
/// actix-http reword it, its `ERROR` shows again (the tests here and
/// `demo/tests/logging.rs` then fail). The `DEBUG` event (target
/// `pagepipe::log`) is emitted while the filter decides, before
/// actix-http's reaches any layer, and passes through this one untouched;
/// `tracing` lets an event be emitted then under a global subscriber
/// (`init`, `set_global_default`), while a scoped one (`with_default`)
/// drops it with the `ERROR`.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// use tracing_subscriber::util::SubscriberInitExt as _;
///
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::filter::LevelFilter::INFO)
///     .with(pagepipe::ClientMistakes)
///     .with(tracing_subscriber::fmt::layer())
///     .init();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientMistakes;

impl<S: Subscriber> Layer<S> for ClientMistakes {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || meta.target() != DISPATCHER {
            return true;
        }
        let mut message = Message::default();
        event.record(&mut message);
        let Some(cause) = message.0.strip_prefix(PARSE_ERROR) else {
            return true;
        };
        tracing::debug!(
            cause,
            "a request that could not be parsed was refused and its connection closed"
        );
        false
    }
}

/// An event's message, as its fields are visited.
#[derive(Debug, Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Collects the events that reach it: target, level and message.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<(String, Level, String)>>>);

    /// Every field of an event, as text.
    #[derive(Default)]
    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0 += &format!("{}={value:?} ", field.name());
        }
    }

    impl<S: Subscriber> Layer<S> for Seen {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            let meta = event.metadata();
            let seen = (meta.target().to_owned(), *meta.level(), fields.0);
            self.0
                .lock()
                .unwrap_or_else(|err| err.into_inner())
                .push(seen);
        }
    }

    /// The one test of the crate that sets the global subscriber: the
    /// `DEBUG` event is emitted from within another's dispatch, which
    /// `tracing` allows only there. Other tests' events reach it too, so
    /// only this test's (marked) are looked at.
    #[test]
    fn a_request_actix_could_not_parse_is_a_debug_event_and_other_errors_stay() {
        const MARK: &str = "log-test-7f3a";
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry()
            .with(ClientMistakes)
            .with(seen.clone());
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        tracing::error!(target: DISPATCHER, "stream error: request parse error: {MARK}");
        tracing::error!(target: DISPATCHER, "Response payload stream error: {MARK}");
        tracing::error!(target: "app", "stream error: request parse error: {MARK}");
        let seen: Vec<_> = seen
            .0
            .lock()
            .unwrap_or_else(|err| err.into_inner())
            .iter()
            .filter(|(_, _, message)| message.contains(MARK))
            .cloned()
            .collect();
        let levels: Vec<(&str, Level)> = seen
            .iter()
            .map(|(target, level, _)| (target.as_str(), *level))
            .collect();
        assert_eq!(
            levels,
            [
                ("pagepipe::log", Level::DEBUG),
                (DISPATCHER, Level::ERROR),
                ("app", Level::ERROR),
            ],
            "{seen:?}"
        );
    }
}
