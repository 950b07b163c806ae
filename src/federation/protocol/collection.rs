//! `OrderedCollection` and `OrderedCollectionPage` as PeerTube pages them: without `page` the
//! collection with `first`; with `page=N` a page of ten items with `prev`/`next`/`partOf`.

use super::kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

kind!(OrderedCollectionType, "OrderedCollection");
kind!(OrderedCollectionPageType, "OrderedCollectionPage");

/// Items per page.
pub const PER_PAGE: usize = 10;

/// A collection without its items: its size and its first page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderedCollection {
    /// The JSON-LD context.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Its id.
    pub id: String,
    /// `OrderedCollection`.
    #[serde(rename = "type")]
    pub kind: OrderedCollectionType,
    /// How many items.
    pub total_items: usize,
    /// The first page (absent when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
}

/// One page of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderedCollectionPage<T = Value> {
    /// The JSON-LD context.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Its id (`<collection>?page=N`).
    pub id: String,
    /// `OrderedCollectionPage`.
    #[serde(rename = "type")]
    pub kind: OrderedCollectionPageType,
    /// The collection.
    pub part_of: String,
    /// The items of this page.
    pub ordered_items: Vec<T>,
    /// Items in the whole collection.
    pub total_items: usize,
    /// The previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// The next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A collection or one of its pages.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Paged<T = Value> {
    /// The collection (no `page` asked).
    Collection(OrderedCollection),
    /// A page.
    Page(OrderedCollectionPage<T>),
}

/// The collection `base` of `items` (all of them), or its page `page` (from 1).
pub fn paged<T>(base: &str, page: Option<usize>, items: Vec<T>, context: Value) -> Paged<T> {
    let total = items.len();
    match page {
        None => Paged::Collection(OrderedCollection {
            context: Some(context),
            id: base.to_string(),
            kind: OrderedCollectionType::Kind,
            total_items: total,
            first: (total > 0).then(|| format!("{base}?page=1")),
        }),
        Some(p) => {
            let p = p.max(1);
            let start = (p - 1).saturating_mul(PER_PAGE);
            Paged::Page(OrderedCollectionPage {
                context: Some(context),
                id: format!("{base}?page={p}"),
                kind: OrderedCollectionPageType::Kind,
                part_of: base.to_string(),
                ordered_items: items.into_iter().skip(start).take(PER_PAGE).collect(),
                total_items: total,
                prev: (p > 1).then(|| format!("{base}?page={}", p - 1)),
                next: (start + PER_PAGE < total).then(|| format!("{base}?page={}", p + 1)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_as_peertube_pages_them() {
        let items: Vec<Value> = (0..23).map(|i| json!(format!("https://a/u{i}"))).collect();
        let c = json!(["https://www.w3.org/ns/activitystreams"]);
        assert_eq!(
            serde_json::to_value(paged("https://a/f", None, items.clone(), c.clone())).unwrap(),
            json!({"@context": c, "id": "https://a/f", "type": "OrderedCollection", "totalItems": 23, "first": "https://a/f?page=1"})
        );
        assert_eq!(
            serde_json::to_value(paged("https://a/f", None, Vec::<Value>::new(), c.clone()))
                .unwrap(),
            json!({"@context": c, "id": "https://a/f", "type": "OrderedCollection", "totalItems": 0})
        );
        let page =
            serde_json::to_value(paged("https://a/f", Some(2), items.clone(), c.clone())).unwrap();
        assert_eq!(
            page,
            json!({
                "@context": c, "id": "https://a/f?page=2", "type": "OrderedCollectionPage",
                "partOf": "https://a/f", "orderedItems": items[10..20], "totalItems": 23,
                "prev": "https://a/f?page=1", "next": "https://a/f?page=3",
            })
        );
        let last =
            serde_json::to_value(paged("https://a/f", Some(3), items.clone(), c.clone())).unwrap();
        assert_eq!(last["orderedItems"].as_array().unwrap().len(), 3);
        assert!(last.get("next").is_none());
        let first = serde_json::to_value(paged("https://a/f", Some(0), items, c)).unwrap();
        assert_eq!(first["id"], "https://a/f?page=1");
        assert!(first.get("prev").is_none());
    }

    #[test]
    fn a_remote_page_reads_back() {
        let doc = json!({"id": "https://b/outbox?page=1", "type": "OrderedCollectionPage",
            "partOf": "https://b/outbox", "orderedItems": [], "totalItems": 0});
        let p: OrderedCollectionPage = serde_json::from_value(doc).unwrap();
        assert_eq!(p.part_of, "https://b/outbox");
    }
}
