//! The showcase's data: JSON fixtures under `assets/showcase/`, read per
//! request with a simulated latency, and the knobs that make a section fail,
//! panic or hang on purpose.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, sleep, sleep_until};

use pagepipe::BoxError;

/// The sections of the showcase, as the knobs name them.
pub(super) const SECTIONS: [&str; 6] = [
    "pricing",
    "shipping",
    "reviews",
    "votes",
    "related",
    "questions",
];

/// When each section's data is ready, counted from the request's start.
pub(super) fn latency(section: &str) -> Duration {
    Duration::from_millis(match section {
        "pricing" => 150,
        "shipping" => 400,
        "reviews" => 700,
        "related" => 1000,
        "questions" => 1300,
        _ => 0,
    })
}

/// How long a `slow` section hangs: far past its timeout.
const HANG: Duration = Duration::from_secs(60);

/// Which sections misbehave on purpose, from `?fail=`, `?slow=`, `?panic=`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Knobs {
    pub(super) fail: Vec<&'static str>,
    pub(super) slow: Vec<&'static str>,
    pub(super) panic: Vec<&'static str>,
}

/// A product from `products.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Product {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) category: String,
    pub(super) tagline: String,
    pub(super) description: String,
    pub(super) image: String,
    pub(super) highlights: Vec<String>,
}

/// An entry of `pricing.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Pricing {
    pub(super) price: String,
    pub(super) was: Option<String>,
    pub(super) currency: String,
    pub(super) stock: u32,
    pub(super) offer: Option<String>,
}

/// An entry of `shipping.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ShippingOption {
    pub(super) name: String,
    pub(super) days: String,
    pub(super) price: String,
}

/// An entry of `reviews.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Reviews {
    pub(super) average: f32,
    pub(super) count: u32,
    pub(super) histogram: [u32; 5],
    pub(super) items: Vec<Review>,
}

/// One review.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Review {
    pub(super) id: String,
    pub(super) author: String,
    pub(super) rating: u8,
    pub(super) date: String,
    pub(super) title: String,
    pub(super) body: String,
}

/// An entry of `votes.json`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) struct Votes {
    pub(super) helpful: u32,
    pub(super) unhelpful: u32,
}

/// An entry of `questions.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct Question {
    pub(super) question: String,
    pub(super) answer: String,
    pub(super) by: String,
}

/// Reads fixtures for one request, at the latency of each section.
#[derive(Debug, Clone)]
pub(super) struct Store {
    dir: PathBuf,
    start: Instant,
    knobs: Rc<Knobs>,
}

impl Store {
    /// A store over `assets/showcase/` for a request that started at `start`.
    pub(super) fn new(assets: &Path, start: Instant, knobs: Knobs) -> Self {
        Self {
            dir: assets.join("showcase"),
            start,
            knobs: Rc::new(knobs),
        }
    }

    /// The product `id`, read at once: it decides the page's status.
    pub(super) async fn product(&self, id: &str) -> Result<Option<Product>, BoxError> {
        let products: Vec<Product> = self.read("products.json").await?;
        Ok(products.into_iter().find(|product| product.id == id))
    }

    /// Every product, for links between them.
    pub(super) async fn products(&self) -> Result<Vec<Product>, BoxError> {
        self.read("products.json").await
    }

    /// `file`'s entry for `key`, once `section`'s data is due.
    pub(super) async fn entry<T: DeserializeOwned>(
        &self,
        section: &'static str,
        file: &str,
        key: &str,
        due: Duration,
    ) -> Result<T, BoxError> {
        self.misbehave(section).await?;
        sleep_until(self.start + due).await;
        let mut entries: HashMap<String, T> = self.read(file).await?;
        entries
            .remove(key)
            .ok_or_else(|| format!("{file} has no entry \"{key}\"").into())
    }

    /// Waits until `due` after the request started.
    pub(super) async fn until(&self, due: Duration) {
        sleep_until(self.start + due).await;
    }

    async fn misbehave(&self, section: &'static str) -> Result<(), BoxError> {
        if self.knobs.panic.contains(&section) {
            panic!("the {section} loader panicked (asked for by ?panic={section})");
        }
        if self.knobs.fail.contains(&section) {
            return Err(format!(
                "the {section} service is unavailable (asked for by ?fail={section})"
            )
            .into());
        }
        if self.knobs.slow.contains(&section) {
            sleep(HANG).await;
        }
        Ok(())
    }

    async fn read<T: DeserializeOwned>(&self, file: &str) -> Result<T, BoxError> {
        let path = self.dir.join(file);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|err| format!("{}: {err}", path.display()))?;
        Ok(serde_json::from_slice(&bytes).map_err(|err| format!("{}: {err}", path.display()))?)
    }
}
