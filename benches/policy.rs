//! Policy engine at scale: loading a 1,000-rule, 10,000-person policy, and `evaluate` against it.
//!
//! The generated policy has 10,000 people (each with a Slack id), 50 groups of 200 people, and
//! 1,000 rules, each with a `no:` and a `name:` image pattern and a `*@domainN.example` target.
//! Rule `r` is for `group:g{r % 50}` and approved by `group:g{(r + 1) % 50}`; its image number,
//! name pattern and target domain are its own, so exactly one rule can match a request.
//!
//! Three requests: one the first rule allows, one only the last rule allows (every earlier rule
//! is tried and fails), and one no rule allows (every rule is tried and the closest is computed).
//!
//! Run: `cargo bench --bench policy` (`-- --test` runs each benchmark once, as CI does).

use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use ncp_share_approver::domain::{ImageNo, LoginId, ShareDuration};
use ncp_share_approver::policy::{Action, Decision, Identity, Policy, RequestFacts, evaluate};
use std::fmt::Write as _;
use std::time::Duration;

const PEOPLE: usize = 10_000;
const GROUPS: usize = 50;
const RULES: usize = 1_000;
const FIRST_IMAGE_NO: usize = 1_000_000;

fn slack_id(person: usize) -> String {
    format!("U{person:08}")
}

/// The policy text: `[defaults]`, `[people]`, `[groups]` and the `[[rules]]`.
fn policy_text() -> String {
    let mut t = String::with_capacity(1 << 20);
    t.push_str("[defaults]\nrequest_ttl = \"24h\"\nallow_self_approval = false\n\n[people]\n");
    for p in 0..PEOPLE {
        writeln!(t, "p{p:05} = {{ slack = \"{}\" }}", slack_id(p)).unwrap();
    }
    t.push_str("\n[groups]\n");
    for g in 0..GROUPS {
        let members: Vec<String> = (g..PEOPLE)
            .step_by(GROUPS)
            .map(|p| format!("\"p{p:05}\""))
            .collect();
        writeln!(t, "g{g:02} = [{}]", members.join(", ")).unwrap();
    }
    for r in 0..RULES {
        writeln!(
            t,
            "\n[[rules]]\n\
             name = \"rule {r:04}\"\n\
             images = [\"no:{no}\", \"name:golden-{r:04}-*\"]\n\
             targets = [\"*@domain{r}.example\"]\n\
             requesters = [\"group:g{req:02}\"]\n\
             approvers = [\"group:g{app:02}\"]\n\
             min_approvals = {min}\n\
             max_duration = \"30d\"\n\
             require_reason = {reason}",
            no = FIRST_IMAGE_NO + r,
            req = r % GROUPS,
            app = (r + 1) % GROUPS,
            min = 1 + r % 2,
            reason = r % 3 == 0,
        )
        .unwrap();
    }
    t
}

/// A request, owned, so that `RequestFacts` can borrow from it.
struct Request {
    requester: Identity,
    image_no: ImageNo,
    image_name: String,
    targets: Vec<LoginId>,
}

impl Request {
    fn new(person: usize, image_no: usize, image_name: &str, targets: &[&str]) -> Self {
        Self {
            requester: Identity::new("slack", &slack_id(person)).unwrap(),
            image_no: ImageNo::parse(&image_no.to_string()).unwrap(),
            image_name: image_name.to_owned(),
            targets: targets.iter().map(|t| LoginId::parse(t).unwrap()).collect(),
        }
    }

    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            requester: &self.requester,
            image_no: &self.image_no,
            image_name: Some(&self.image_name),
            action: Action::Share,
            targets: &self.targets,
            duration: Some(ShareDuration::parse("7d").unwrap()),
            reason: Some("partner onboarding"),
        }
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn load(c: &mut Criterion) {
    let text = policy_text();
    let mut g = c.benchmark_group("policy load");
    g.throughput(Throughput::Bytes(text.len() as u64));
    // One load takes long enough that ten samples are plenty.
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("load a 1,000-rule, 10,000-person policy", |b| {
        b.iter(|| Policy::from_toml_str(black_box(&text), "bench.toml").unwrap())
    });
    g.finish();
}

fn evaluate_requests(c: &mut Criterion) {
    let policy = Policy::from_toml_str(&policy_text(), "bench.toml").unwrap();
    assert_eq!(policy.rules().len(), RULES);
    assert_eq!(policy.people().len(), PEOPLE);
    assert_eq!(policy.groups().len(), GROUPS);

    let last = RULES - 1;
    let cases = [
        (
            "matches the first rule",
            Request::new(
                0,
                FIRST_IMAGE_NO,
                "golden-0000-2024",
                &["a@domain0.example", "b@domain0.example"],
            ),
            Some("rule 0000"),
        ),
        (
            "matches the last rule",
            // p00049 is in g49, the requester group of rule 999.
            Request::new(
                last % GROUPS,
                FIRST_IMAGE_NO + last,
                "golden-0999-2024",
                &["a@domain999.example", "b@domain999.example"],
            ),
            Some("rule 0999"),
        ),
        (
            "matches no rule (closest computed)",
            Request::new(
                0,
                9_999_999,
                "sandbox-unknown",
                &["a@nowhere.example", "b@nowhere.example"],
            ),
            None,
        ),
    ];

    let mut g = c.benchmark_group("policy evaluate (1,000 rules, 10,000 people)");
    g.throughput(Throughput::Elements(1));
    // The two slow cases take ~1.5 ms: 100 linear samples need about eight seconds.
    g.measurement_time(Duration::from_secs(8));
    for (label, request, expected) in &cases {
        let facts = request.facts();
        // A benchmark of the wrong path would be worse than none: check the outcome first.
        match (evaluate(&policy, &facts, now()), expected) {
            (Decision::Allowed(a), Some(rule)) => assert_eq!(a.rule, *rule, "{label}"),
            (Decision::Denied(d), None) => assert!(d.closest.is_some(), "{label}"),
            (other, _) => panic!("{label}: unexpected decision {other:?}"),
        }
        g.bench_with_input(BenchmarkId::from_parameter(label), &facts, |b, facts| {
            b.iter(|| evaluate(black_box(&policy), black_box(facts), black_box(now())))
        });
    }
    g.finish();
}

criterion_group!(benches, load, evaluate_requests);
criterion_main!(benches);
