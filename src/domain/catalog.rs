//! The image catalog: the account's shareable images as of the last refresh, for pickers that
//! must answer on every keystroke (Slack's `external_select`) without asking NCP each time.

use super::ImageNo;
use super::ports::cloud::ImageView;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// One image a picker can offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogImage {
    /// The image number.
    pub no: ImageNo,
    /// The image name as shown in the console.
    pub name: String,
}

/// The shareable images of the account and when NCP was asked for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCatalog {
    /// Sorted by name, then by number.
    pub images: Vec<CatalogImage>,
    /// When the list was read from NCP.
    pub refreshed_at: DateTime<Utc>,
}

impl ImageCatalog {
    /// From NCP's image list: only images that can be shared (status `CREAT`), sorted by name
    /// then number (numerically), each number once.
    pub fn from_views(views: &[ImageView], at: DateTime<Utc>) -> Self {
        let mut seen = HashSet::new();
        let mut images: Vec<CatalogImage> = views
            .iter()
            .filter(|v| v.is_created())
            .filter(|v| seen.insert(v.no.clone()))
            .map(|v| CatalogImage {
                no: v.no.clone(),
                name: v.name.clone(),
            })
            .collect();
        images.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| numeric(&a.no, &b.no)));
        Self {
            images,
            refreshed_at: at,
        }
    }

    /// The image with this number, if the catalog has it.
    pub fn get(&self, no: &ImageNo) -> Option<&CatalogImage> {
        self.images.iter().find(|i| &i.no == no)
    }
}

/// Image numbers in numeric order: digits only, so a shorter one is smaller (leading zeros
/// aside, which NCP does not use).
fn numeric(a: &ImageNo, b: &ImageNo) -> std::cmp::Ordering {
    let (a, b) = (a.as_str(), b.as_str());
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// How well an image matches what was typed; lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    ExactNumber,
    NumberPrefix,
    NamePrefix,
    NameSubstring,
}

/// Case-insensitive match of `typed` against the number (prefix) and the name (substring),
/// best first (exact number, number prefix, name prefix, name substring), at most `limit`.
///
/// Within one rank the images keep the order they came in (the catalog's: by name). Blank
/// `typed` matches every image, so an empty picker still offers the first `limit`.
pub fn filter_images<'a>(
    images: impl IntoIterator<Item = &'a CatalogImage>,
    typed: &str,
    limit: usize,
) -> Vec<&'a CatalogImage> {
    let typed = typed.trim().to_lowercase();
    let mut ranked: Vec<(Rank, usize, &'a CatalogImage)> = images
        .into_iter()
        .enumerate()
        .filter_map(|(i, image)| rank(image, &typed).map(|r| (r, i, image)))
        .collect();
    // Stable on the index, so ties keep the input order.
    ranked.sort_by_key(|(r, i, _)| (*r, *i));
    ranked
        .into_iter()
        .take(limit)
        .map(|(_, _, image)| image)
        .collect()
}

fn rank(image: &CatalogImage, typed: &str) -> Option<Rank> {
    let no = image.no.as_str();
    if no == typed {
        return Some(Rank::ExactNumber);
    }
    if no.starts_with(typed) {
        return Some(Rank::NumberPrefix);
    }
    let name = image.name.to_lowercase();
    if name.starts_with(typed) {
        Some(Rank::NamePrefix)
    } else if name.contains(typed) {
        Some(Rank::NameSubstring)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Hypervisor;
    use chrono::TimeZone;

    fn view(no: &str, name: &str, status: &str) -> ImageView {
        ImageView {
            no: ImageNo::parse(no).unwrap(),
            name: name.into(),
            status: status.into(),
            hypervisor: Hypervisor::Xen,
            shared_with: Vec::new(),
        }
    }

    fn img(no: &str, name: &str) -> CatalogImage {
        CatalogImage {
            no: ImageNo::parse(no).unwrap(),
            name: name.into(),
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap()
    }

    #[test]
    fn only_created_images_are_kept_sorted_by_name_then_number_each_once() {
        let views = [
            view("30", "web", "CREAT"),
            view("200", "api", "CREAT"),
            view("9", "web", "CREAT"),
            view("5", "building", "INIT"),
            view("6", "broken", "CREFL"),
            view("200", "api", "CREAT"),
        ];
        let c = ImageCatalog::from_views(&views, at());
        assert_eq!(
            c.images,
            vec![img("200", "api"), img("9", "web"), img("30", "web")]
        );
        assert_eq!(c.refreshed_at, at());
        assert_eq!(
            c.get(&ImageNo::parse("30").unwrap()),
            Some(&img("30", "web"))
        );
        assert_eq!(c.get(&ImageNo::parse("5").unwrap()), None);
        assert!(ImageCatalog::from_views(&[], at()).images.is_empty());
    }

    #[test]
    fn filtering_ranks_exact_number_then_number_prefix_then_name_prefix_then_substring() {
        let images = [
            img("1234", "db-golden"),
            img("12", "golden-web"),
            img("9912", "web-12"),
            img("123", "Golden-API"),
            img("555", "sandbox"),
        ];
        let nos = |typed: &str, limit: usize| -> Vec<&str> {
            filter_images(&images, typed, limit)
                .into_iter()
                .map(|i| i.no.as_str())
                .collect()
        };
        // "12": exact 12, number prefixes 1234 and 123 (input order), name substring web-12.
        assert_eq!(nos("12", 10), vec!["12", "1234", "123", "9912"]);
        assert_eq!(nos("12", 2), vec!["12", "1234"]);
        // Names: prefix before substring, case-insensitive both ways.
        assert_eq!(nos("GOLDEN", 10), vec!["12", "123", "1234"]);
        assert_eq!(nos("  golden-a ", 10), vec!["123"]);
        assert_eq!(nos("web", 10), vec!["9912", "12"]);
        assert!(nos("nothing", 10).is_empty());
        // Blank matches everything in order, up to the limit.
        assert_eq!(nos("", 3), vec!["1234", "12", "9912"]);
        assert!(nos("12", 0).is_empty());
    }

    #[test]
    fn the_catalog_round_trips_through_json() {
        let c = ImageCatalog {
            images: vec![img("1", "a \"quoted\" name"), img("2", "한국어")],
            refreshed_at: at(),
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ImageCatalog>(&text).unwrap(), c);
    }
}
