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
pub(crate) const SECTIONS: [&str; 6] = [
    "pricing",
    "shipping",
    "reviews",
    "votes",
    "related",
    "questions",
];

/// When each section's data is ready, counted from the request's start.
pub(crate) fn latency(section: &str) -> Duration {
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
pub(crate) struct Knobs {
    pub(crate) fail: Vec<&'static str>,
    pub(crate) slow: Vec<&'static str>,
    pub(crate) panic: Vec<&'static str>,
}

/// A product from `products.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Product {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) category: String,
    pub(crate) tagline: String,
    pub(crate) description: String,
    pub(crate) image: String,
    pub(crate) highlights: Vec<String>,
}

/// An entry of `pricing.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Pricing {
    pub(crate) price: String,
    pub(crate) was: Option<String>,
    pub(crate) currency: String,
    pub(crate) stock: u32,
    pub(crate) offer: Option<String>,
}

/// An entry of `shipping.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ShippingOption {
    pub(crate) name: String,
    pub(crate) days: String,
    pub(crate) price: String,
}

/// An entry of `reviews.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Reviews {
    pub(crate) average: f32,
    pub(crate) count: u32,
    pub(crate) histogram: [u32; 5],
    pub(crate) items: Vec<Review>,
}

/// One review.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Review {
    pub(crate) id: String,
    pub(crate) author: String,
    pub(crate) rating: u8,
    pub(crate) date: String,
    pub(crate) title: String,
    pub(crate) body: String,
}

/// An entry of `votes.json`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Votes {
    pub(crate) helpful: u32,
    pub(crate) unhelpful: u32,
}

/// An entry of `questions.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Question {
    pub(crate) question: String,
    pub(crate) answer: String,
    pub(crate) by: String,
}

/// Reads fixtures for one request, at the latency of each section.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
    start: Instant,
    knobs: Rc<Knobs>,
}

impl Store {
    /// A store over `assets/showcase/` for a request that started at `start`.
    pub(crate) fn new(assets: &Path, start: Instant, knobs: Knobs) -> Self {
        Self {
            dir: assets.join("showcase"),
            start,
            knobs: Rc::new(knobs),
        }
    }

    /// The product `id`, read at once: it decides the page's status.
    pub(crate) async fn product(&self, id: &str) -> Result<Option<Product>, BoxError> {
        let products: Vec<Product> = self.read("products.json").await?;
        Ok(products.into_iter().find(|product| product.id == id))
    }

    /// Every product, for links between them.
    pub(crate) async fn products(&self) -> Result<Vec<Product>, BoxError> {
        self.read("products.json").await
    }

    /// `file`'s entry for `key`, once `section`'s data is due.
    pub(crate) async fn entry<T: DeserializeOwned>(
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
