//! Tests for the policy module, with one shared fixture policy.

mod evaluate;
mod explain;
mod load;
mod offer;

use super::*;
use crate::domain::{ImageNo, LoginId, ShareDuration};
use chrono::{DateTime, TimeZone, Utc};

/// A policy that exercises every rule feature; the comments say which test leans on what. One
/// file with the other policy fixtures of the tests, `tests/fixtures/`.
const FIXTURE: &str = include_str!("../../../tests/fixtures/policy-rules.toml");

fn fixture() -> Policy {
    Policy::from_toml_str(FIXTURE, "fixture.toml").unwrap_or_else(|errors| {
        panic!(
            "fixture must load: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

/// A request written compactly; `Req::new` fills in a plain share of image 1234567.
#[derive(Clone)]
struct Req {
    requester: &'static str,
    image_no: &'static str,
    image_name: Option<&'static str>,
    action: Action,
    targets: Vec<&'static str>,
    duration: Option<&'static str>,
    reason: Option<&'static str>,
}

impl Req {
    fn new(requester: &'static str) -> Self {
        Self {
            requester,
            image_no: "1234567",
            image_name: None,
            action: Action::Share,
            targets: vec!["a@partner.example"],
            duration: Some("7d"),
            reason: Some("partner onboarding"),
        }
    }
    fn image(mut self, no: &'static str, name: Option<&'static str>) -> Self {
        self.image_no = no;
        self.image_name = name;
        self
    }
    fn action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }
    fn targets(mut self, targets: &[&'static str]) -> Self {
        self.targets = targets.to_vec();
        self
    }
    fn duration(mut self, d: Option<&'static str>) -> Self {
        self.duration = d;
        self
    }
    fn reason(mut self, r: Option<&'static str>) -> Self {
        self.reason = r;
        self
    }

    /// Builds the facts and hands them to `f`; the facts borrow values that live only here.
    fn with_facts<T>(&self, f: impl FnOnce(&RequestFacts) -> T) -> T {
        let requester = Identity::parse(self.requester).unwrap();
        let image_no = ImageNo::parse(self.image_no).unwrap();
        let targets: Vec<LoginId> = self
            .targets
            .iter()
            .map(|t| LoginId::parse(t).unwrap())
            .collect();
        let facts = RequestFacts {
            requester: &requester,
            image_no: &image_no,
            image_name: self.image_name,
            action: self.action,
            targets: &targets,
            duration: self.duration.map(|d| ShareDuration::parse(d).unwrap()),
            reason: self.reason,
        };
        f(&facts)
    }
}
