//! The showcase's deferred sections: for each, the async loader and the
//! template it renders, plus the skeleton and error templates they share.

use std::time::Duration;

use askama::Template;
use serde_json::json;

use futures_util::{StreamExt as _, stream};

use super::store::{Product, Question, Review, Reviews, ShippingOption, Store, Votes, latency};
use pagepipe::{BoxError, Fragment, Section, Slot, slot};

/// How long any showcase section may take before its error template shows.
const TIMEOUT: Duration = Duration::from_millis(2500);

/// A placeholder that reserves the section's space while it loads.
#[derive(Template)]
#[template(path = "showcase/_skeleton.html")]
struct Skeleton {
    kind: &'static str,
    label: &'static str,
    lines: usize,
}

/// What a section shows when its loader failed, panicked or timed out.
#[derive(Template)]
#[template(path = "showcase/_section_error.html")]
struct SectionError {
    what: &'static str,
}

/// A showcase section: loading skeleton, error template and timeout.
fn section<T, F>(id: impl Into<String>, label: &'static str, lines: usize, content: F) -> Section
where
    T: pagepipe::IntoFragment + 'static,
    F: Future<Output = Result<T, BoxError>> + 'static,
{
    let id = id.into();
    let kind = if id.starts_with("votes-") {
        "votes"
    } else {
        "block"
    };
    Section::new(id, Skeleton { kind, label, lines }, content)
        .timeout(TIMEOUT)
        .error(SectionError { what: label })
}

/// Every top-level section of the product page, in document order.
pub(super) fn all(store: &Store, product: &Product) -> Vec<Section> {
    let id = &product.id;
    vec![
        section(
            "pricing",
            "price and stock",
            3,
            pricing(store.clone(), id.clone()),
        ),
        section(
            "shipping",
            "delivery options",
            3,
            shipping(store.clone(), id.clone()),
        ),
        // Reviews never appear above a price that is still loading
        // (`?slow=pricing` shows it): held until the price is out.
        section("reviews", "reviews", 8, reviews(store.clone(), id.clone())).after("pricing"),
        section(
            "questions",
            "questions",
            4,
            questions(store.clone(), id.clone()),
        ),
        section(
            "related",
            "related products",
            2,
            related(store.clone(), id.clone()),
        ),
    ]
}

#[derive(Template)]
#[template(path = "showcase/pricing.html")]
struct PricingView {
    price: String,
    was: Option<String>,
    stock: u32,
    offer: Option<String>,
}

async fn pricing(store: Store, id: String) -> Result<PricingView, BoxError> {
    let p: super::store::Pricing = store
        .entry("pricing", "pricing.json", &id, latency("pricing"))
        .await?;
    Ok(PricingView {
        price: format!("{}{}", p.currency, p.price),
        was: p.was.map(|was| format!("{}{was}", p.currency)),
        stock: p.stock,
        offer: p.offer,
    })
}

#[derive(Template)]
#[template(path = "showcase/shipping.html")]
struct ShippingView {
    options: Vec<ShippingOption>,
}

async fn shipping(store: Store, id: String) -> Result<ShippingView, BoxError> {
    let options = store
        .entry("shipping", "shipping.json", &id, latency("shipping"))
        .await?;
    Ok(ShippingView { options })
}

/// One review as shown, with the slot of its nested vote count.
#[derive(Template)]
#[template(path = "showcase/review.html")]
struct ReviewView {
    stars: String,
    rating: u8,
    author: String,
    date: String,
    title: String,
    body: String,
    votes: Slot,
}

#[derive(Template)]
#[template(path = "showcase/reviews.html")]
struct ReviewsView {
    average: String,
    stars: String,
    count: u32,
    items: Slot,
}

/// What the list of reviews shows until its first review.
#[derive(Template)]
#[template(
    source = "<li class=\"review-loading\">Loading reviews…</li>",
    ext = "html"
)]
struct ReviewsLoading;

/// How far apart reviews arrive once the summary is out, as a paged API
/// would hand them over.
const REVIEW_EVERY: Duration = Duration::from_millis(150);

fn stars(rating: f32) -> String {
    let full = rating.round().clamp(0.0, 5.0) as usize;
    format!("{}{}", "★".repeat(full), "☆".repeat(5 - full))
}

/// The reviews' summary, then the reviews themselves streamed one by one
/// into a list section, each deferring its vote count: sections nested in
/// a section, and in the items of a list.
async fn reviews(store: Store, id: String) -> Result<Fragment, BoxError> {
    let reviews: Reviews = store
        .entry("reviews", "reviews.json", &id, latency("reviews"))
        .await?;
    let data = json!({
        "average": reviews.average,
        "count": reviews.count,
        "histogram": reviews.histogram,
        "authors": reviews.items.iter().map(|r| &r.author).collect::<Vec<_>>(),
    });
    let items = slot("review-items");
    let view = ReviewsView {
        average: format!("{:.1}", reviews.average),
        stars: stars(reviews.average),
        count: reviews.count,
        items: items.clone(),
    };
    let list = stream::iter(reviews.items.into_iter().enumerate()).then(move |(i, review)| {
        let store = store.clone();
        async move {
            let i = i as u32;
            store
                .until(latency("reviews") + REVIEW_EVERY * (i + 1))
                .await;
            Ok::<_, BoxError>(review_item(store, review, i))
        }
    });
    let list = Section::stream(items.id(), ReviewsLoading, list)
        .timeout(TIMEOUT)
        .error(SectionError { what: "reviews" });
    Ok(Fragment::new(view)
        .data("reviews-data", &data)
        .section(list))
}

/// Review `i` with its vote count deferred.
fn review_item(store: Store, review: Review, i: u32) -> Fragment {
    let votes_id = format!("votes-{}", review.id);
    let due = latency("reviews") + Duration::from_millis(300 + 200 * u64::from(i));
    let view = ReviewView {
        stars: stars(f32::from(review.rating)),
        rating: review.rating,
        author: review.author,
        date: review.date,
        title: review.title,
        body: review.body,
        votes: slot(votes_id.clone()),
    };
    let votes = votes(store, review.id, due);
    Fragment::new(view).section(section(votes_id, "votes", 1, votes))
}

#[derive(Template)]
#[template(
    source = "<p class=\"votes\">{{ helpful }} people found this helpful · {{ unhelpful }} did not</p>",
    ext = "html"
)]
struct VotesView {
    helpful: u32,
    unhelpful: u32,
}

async fn votes(store: Store, review_id: String, due: Duration) -> Result<VotesView, BoxError> {
    let votes: Votes = store.entry("votes", "votes.json", &review_id, due).await?;
    Ok(VotesView {
        helpful: votes.helpful,
        unhelpful: votes.unhelpful,
    })
}

#[derive(Template)]
#[template(path = "showcase/questions.html")]
struct QuestionsView {
    questions: Vec<Question>,
}

async fn questions(store: Store, id: String) -> Result<QuestionsView, BoxError> {
    let questions = store
        .entry("questions", "questions.json", &id, latency("questions"))
        .await?;
    Ok(QuestionsView { questions })
}

#[derive(Template)]
#[template(path = "showcase/related.html")]
struct RelatedView {
    products: Vec<Product>,
}

async fn related(store: Store, id: String) -> Result<RelatedView, BoxError> {
    let ids: Vec<String> = store
        .entry("related", "related.json", &id, latency("related"))
        .await?;
    let products = store
        .products()
        .await?
        .into_iter()
        .filter(|product| ids.contains(&product.id))
        .collect();
    Ok(RelatedView { products })
}
