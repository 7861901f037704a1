//! The store conformance suite: written once against `dyn Store`, run for every backend.
//!
//! To add a backend, add one `store_suite!(name, factory)` line at the bottom.

use chrono::{DateTime, TimeZone, Utc};
use ncp_share_approver::audit::{AuditEntry, AuditEvent};
use ncp_share_approver::domain::{
    Approval, CatalogImage, Grant, ImageCatalog, ImageNo, LoginId, Origin, RequestId, RequestState,
    ShareRequest,
};
use ncp_share_approver::policy::{Action, Identity, PersonName};
use ncp_share_approver::store::{
    Change, Committed, Conflict, DeliveryKey, Inserted, OutboxQuery, SqliteStore, Store,
    verify_ledger,
};
use ncp_share_approver::workflow::outbox::{Message, OutboxEntry, OutboxStatus, WorksTo};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// A store under test and whatever must live as long as it (a temp dir).
pub struct Backend {
    store: Arc<dyn Store>,
    _keep: Option<tempfile::TempDir>,
}

async fn sqlite_in_memory() -> Backend {
    Backend {
        store: Arc::new(SqliteStore::in_memory().unwrap()),
        _keep: None,
    }
}

async fn sqlite_file() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    Backend {
        store: Arc::new(store),
        _keep: Some(dir),
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::nanoseconds(123_456_789)
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn person(name: &str) -> PersonName {
    serde_json::from_value(serde_json::json!(name)).unwrap()
}

fn image(no: &str) -> ImageNo {
    ImageNo::parse(no).unwrap()
}

fn login(s: &str) -> LoginId {
    LoginId::parse(s).unwrap()
}

/// A plausible request in `state`, made at `created_at`.
fn request(state: RequestState, created_at: DateTime<Utc>) -> ShareRequest {
    ShareRequest {
        id: RequestId::random(),
        version: 1,
        state,
        origin: Origin::Cli,
        requester: Identity::parse("slack:U056CAROL").unwrap(),
        requester_person: Some(person("carol")),
        image_no: image("1234567"),
        image_name: "golden-web".into(),
        hypervisor: None,
        region: "KR".into(),
        action: Action::Share,
        targets: vec![login("a@partner.example")],
        duration: None,
        reason: Some("a reason".into()),
        shared_with_when_asked: Vec::new(),
        fingerprint: "f".repeat(64),
        policy_hash: "p".repeat(64),
        rule: Some("rule".into()),
        approvers: vec![person("alice"), person("bob")],
        min_approvals: 2,
        allow_self_approval: false,
        approval_channel: None,
        works_channel: None,
        created_at,
        updated_at: created_at,
        expires_at: created_at + secs(3600),
        attempts: 0,
        outcome: None,
        lifecycle: Default::default(),
        trace_id: None,
    }
}

fn approval(id: &RequestId, who: &str, account: &str, at: DateTime<Utc>) -> Approval {
    Approval {
        request_id: id.clone(),
        person: person(who),
        identity: Identity::parse(account).unwrap(),
        approve: true,
        at,
        comment: None,
    }
}

fn grant(no: &str, target: &str, id: &RequestId) -> Grant {
    Grant {
        image_no: image(no),
        target: login(target),
        request_id: id.clone(),
        starts_at: t0(),
        ends_at: Some(t0() + secs(7 * 86_400)),
        ended_at: None,
    }
}

fn entry(n: usize) -> AuditEntry {
    AuditEntry {
        at: t0() + chrono::Duration::nanoseconds(n as i64),
        event: AuditEvent::Approved,
        actor: format!("test:{n}"),
        request_id: Some(format!("SR-{n:08}")),
        fingerprint: None,
        rule: None,
        policy_hash: None,
        detail: format!("entry {n}"),
        sig: None,
    }
}

/// The cases, each taking any store.
mod cases {
    use super::*;

    pub async fn a_request_is_inserted_only_if_absent(store: Arc<dyn Store>) {
        let mut r = request(RequestState::Pending, t0());
        r.version = 7;
        assert_eq!(store.insert_request(&r).await.unwrap(), Inserted::New);
        let stored = store.request(&r.id).await.unwrap().unwrap();
        assert_eq!(stored.version, 1, "a new request starts at version 1");
        assert_eq!(stored.targets, r.targets);
        assert_eq!(stored.created_at, r.created_at);

        let mut again = r.clone();
        again.state = RequestState::Approved;
        assert_eq!(
            store.insert_request(&again).await.unwrap(),
            Inserted::AlreadyThere
        );
        let still = store.request(&r.id).await.unwrap().unwrap();
        assert_eq!(still.state, RequestState::Pending);
        assert_eq!(still, stored);
        assert!(store.request(&RequestId::random()).await.unwrap().is_none());
    }

    pub async fn an_update_wins_once_and_a_stale_version_loses(store: Arc<dyn Store>) {
        let r = request(RequestState::Pending, t0());
        store.insert_request(&r).await.unwrap();
        let v1 = store.request(&r.id).await.unwrap().unwrap();

        let mut approved = v1.clone();
        approved.state = RequestState::Approved;
        let v2 = store.update_request(&approved).await.unwrap().unwrap();
        assert_eq!((v2.version, v2.state), (2, RequestState::Approved));

        let mut stale = v1.clone();
        stale.state = RequestState::Denied;
        assert!(store.update_request(&stale).await.unwrap().is_none());
        let now = store.request(&r.id).await.unwrap().unwrap();
        assert_eq!(now, v2);
        assert_eq!(
            store
                .requests(Some(RequestState::Approved), 10)
                .await
                .unwrap()
                .len(),
            1,
            "the state index follows the update"
        );
        assert!(
            store
                .requests(Some(RequestState::Pending), 10)
                .await
                .unwrap()
                .is_empty()
        );

        let mut unknown = request(RequestState::Pending, t0());
        unknown.state = RequestState::Approved;
        assert!(store.update_request(&unknown).await.unwrap().is_none());
    }

    pub async fn an_audited_update_writes_its_ledger_record_only_when_it_wins(
        store: Arc<dyn Store>,
    ) {
        let r = request(RequestState::Pending, t0());
        store.insert_request(&r).await.unwrap();
        let v1 = store.request(&r.id).await.unwrap().unwrap();
        let entry = |detail: &str| AuditEntry {
            at: t0(),
            event: AuditEvent::Decided,
            actor: "system:workflow".into(),
            request_id: Some(r.id.to_string()),
            fingerprint: None,
            rule: None,
            policy_hash: None,
            detail: detail.into(),
            sig: None,
        };
        let mut approved = v1.clone();
        approved.state = RequestState::Approved;
        let (v2, record) = store
            .update_request_audited(&approved, entry("won"))
            .await
            .unwrap()
            .expect("the first update wins");
        assert_eq!((v2.version, v2.state), (2, RequestState::Approved));
        assert_eq!(record.entry.detail, "won");

        let mut stale = v1.clone();
        stale.state = RequestState::Denied;
        assert!(
            store
                .update_request_audited(&stale, entry("lost"))
                .await
                .unwrap()
                .is_none()
        );
        let ledger = store.audit_for_request(&r.id).await.unwrap();
        let details: Vec<&str> = ledger.iter().map(|x| x.entry.detail.as_str()).collect();
        assert_eq!(
            details,
            vec!["won"],
            "a lost compare-and-swap leaves no ledger record"
        );
        assert_eq!(store.request(&r.id).await.unwrap().unwrap(), v2);
        assert_eq!(verify_ledger(store.as_ref()).await.unwrap(), Ok(1));
    }

    pub async fn concurrent_updaters_win_exactly_once_per_version(store: Arc<dyn Store>) {
        const TASKS: usize = 8;
        const EACH: u32 = 10;
        let r = request(RequestState::Pending, t0());
        store.insert_request(&r).await.unwrap();

        // Round one: everyone holds the same version; exactly one may win.
        let snapshot = store.request(&r.id).await.unwrap().unwrap();
        let racers: Vec<_> = (0..TASKS)
            .map(|i| {
                let (store, mut mine) = (store.clone(), snapshot.clone());
                mine.reason = Some(format!("racer {i}"));
                tokio::spawn(async move { store.update_request(&mine).await.unwrap() })
            })
            .collect();
        let mut winners = 0;
        for t in racers {
            winners += usize::from(t.await.unwrap().is_some());
        }
        assert_eq!(winners, 1);

        // Then read-modify-CAS loops: no increment is lost and every version is won once.
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let store = store.clone();
                let id = r.id.clone();
                tokio::spawn(async move {
                    let mut won = Vec::new();
                    while won.len() < EACH as usize {
                        let mut cur = store.request(&id).await.unwrap().unwrap();
                        cur.attempts += 1;
                        if let Some(stored) = store.update_request(&cur).await.unwrap() {
                            won.push(stored.version);
                        }
                    }
                    won
                })
            })
            .collect();
        let mut versions = Vec::new();
        for t in tasks {
            versions.extend(t.await.unwrap());
        }
        versions.sort_unstable();
        let total = TASKS as u64 * EACH as u64;
        assert_eq!(versions, (3..3 + total).collect::<Vec<_>>());
        let last = store.request(&r.id).await.unwrap().unwrap();
        assert_eq!(last.attempts as u64, total);
        assert_eq!(last.version, 2 + total);
    }

    pub async fn approvals_are_unique_per_person(store: Arc<dyn Store>) {
        let r = request(RequestState::Pending, t0());
        store.insert_request(&r).await.unwrap();
        let first = approval(&r.id, "alice", "slack:U012ALICE", t0());
        assert_eq!(store.insert_approval(&first).await.unwrap(), Inserted::New);
        // The same person through another account does not count again.
        let again = approval(&r.id, "alice", "jira:5b10ac8d", t0() + secs(1));
        assert_eq!(
            store.insert_approval(&again).await.unwrap(),
            Inserted::AlreadyThere
        );
        let bob = approval(&r.id, "bob", "slack:U034BOB", t0() + secs(2));
        assert_eq!(store.insert_approval(&bob).await.unwrap(), Inserted::New);
        assert_eq!(store.approvals(&r.id).await.unwrap(), vec![first, bob]);
        assert!(
            store
                .approvals(&RequestId::random())
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn grants_are_idempotent_and_only_active_ones_are_listed(store: Arc<dyn Store>) {
        let (r1, r2) = (RequestId::random(), RequestId::random());
        let g = grant("1234567", "a@partner.example", &r1);
        assert_eq!(store.insert_grant(&g).await.unwrap(), Inserted::New);
        assert_eq!(
            store.insert_grant(&g).await.unwrap(),
            Inserted::AlreadyThere
        );
        // The same target through another request is another grant (overlaps must not cancel).
        let g2 = grant("1234567", "a@partner.example", &r2);
        assert_eq!(store.insert_grant(&g2).await.unwrap(), Inserted::New);
        let mut ended = grant("1234567", "b@partner.example", &r1);
        ended.ended_at = Some(t0() + secs(60));
        assert_eq!(store.insert_grant(&ended).await.unwrap(), Inserted::New);
        let other_image = grant("2345678", "a@partner.example", &r1);
        store.insert_grant(&other_image).await.unwrap();

        let active = store.active_grants(&image("1234567")).await.unwrap();
        assert_eq!(active.len(), 2, "{active:?}");
        assert!(active.contains(&g) && active.contains(&g2));
        assert!(
            store
                .active_grants(&image("7777777"))
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn grants_ending_by_lists_active_time_boxed_grants_of_every_image_earliest_first(
        store: Arc<dyn Store>,
    ) {
        let r = RequestId::random();
        let mut soon = grant("2345678", "a@partner.example", &r);
        soon.ends_at = Some(t0() + secs(3600));
        let later = grant("1234567", "b@partner.example", &r);
        let mut open_ended = grant("1234567", "c@partner.example", &r);
        open_ended.ends_at = None;
        let mut ended = grant("1234567", "d@partner.example", &r);
        ended.ends_at = Some(t0() + secs(60));
        ended.ended_at = Some(t0() + secs(30));
        for g in [&later, &soon, &open_ended, &ended] {
            store.insert_grant(g).await.unwrap();
        }
        assert!(store.grants_ending_by(t0()).await.unwrap().is_empty());
        assert_eq!(
            store.grants_ending_by(t0() + secs(3600)).await.unwrap(),
            vec![soon.clone()],
            "the end is included"
        );
        assert_eq!(
            store
                .grants_ending_by(t0() + secs(30 * 86_400))
                .await
                .unwrap(),
            vec![soon, later]
        );
    }

    pub async fn a_grant_ends_once_and_then_is_no_longer_active(store: Arc<dyn Store>) {
        let (r1, r2) = (RequestId::random(), RequestId::random());
        let g1 = grant("1234567", "a@partner.example", &r1);
        let g2 = grant("1234567", "a@partner.example", &r2);
        store.insert_grant(&g1).await.unwrap();
        store.insert_grant(&g2).await.unwrap();
        let at = t0() + secs(120);
        let racers: Vec<_> = (0..8)
            .map(|_| {
                let (store, g1) = (store.clone(), g1.clone());
                tokio::spawn(async move { store.end_grant(&g1, at).await.unwrap() })
            })
            .collect();
        let mut wins = 0;
        for r in racers {
            wins += usize::from(r.await.unwrap());
        }
        assert_eq!(wins, 1, "exactly one caller ends it");
        assert!(!store.end_grant(&g1, at + secs(1)).await.unwrap());
        let unknown = grant("1234567", "zz@partner.example", &r1);
        assert!(!store.end_grant(&unknown, at).await.unwrap());
        // The other grant of the same target is untouched: overlaps never cancel each other.
        assert_eq!(
            store.active_grants(&image("1234567")).await.unwrap(),
            vec![g2]
        );
        assert!(
            store
                .grants_ending_by(t0() + secs(30 * 86_400))
                .await
                .unwrap()
                .iter()
                .all(|g| g.request_id == r2)
        );
        // Re-inserting an ended grant (a worker retrying `succeed`) does not revive it.
        assert_eq!(
            store.insert_grant(&g1).await.unwrap(),
            Inserted::AlreadyThere
        );
        assert_eq!(
            store.active_grants(&image("1234567")).await.unwrap().len(),
            1
        );
    }

    pub async fn a_lease_is_exclusive_renewable_and_free_after_its_ttl(store: Arc<dyn Store>) {
        let ttl = Duration::from_secs(30);
        let key = "image:KR:1234567";
        assert!(store.acquire_lease(key, "a", t0(), ttl).await.unwrap());
        assert!(!store.acquire_lease(key, "b", t0(), ttl).await.unwrap());
        // Another key is independent.
        assert!(
            store
                .acquire_lease("image:KR:2345678", "b", t0(), ttl)
                .await
                .unwrap()
        );
        // The holder renews: from t0+10s the lease lasts to t0+40s.
        assert!(
            store
                .acquire_lease(key, "a", t0() + secs(10), ttl)
                .await
                .unwrap()
        );
        assert!(
            !store
                .acquire_lease(key, "b", t0() + secs(35), ttl)
                .await
                .unwrap()
        );
        // Expired: anyone may take it.
        assert!(
            store
                .acquire_lease(key, "b", t0() + secs(40), ttl)
                .await
                .unwrap()
        );
        // Only the holder can give it back.
        store.release_lease(key, "a").await.unwrap();
        assert!(
            !store
                .acquire_lease(key, "a", t0() + secs(41), ttl)
                .await
                .unwrap()
        );
        store.release_lease(key, "b").await.unwrap();
        assert!(
            store
                .acquire_lease(key, "a", t0() + secs(41), ttl)
                .await
                .unwrap()
        );
    }

    pub async fn a_lease_has_one_winner_among_concurrent_takers(store: Arc<dyn Store>) {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .acquire_lease("k", &format!("h{i}"), t0(), Duration::from_secs(30))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1);
    }

    pub async fn a_delivery_is_first_once_until_its_ttl(store: Arc<dyn Store>) {
        let ttl = Duration::from_secs(300);
        assert!(store.first_delivery("slack:1", t0(), ttl).await.unwrap());
        assert!(
            !store
                .first_delivery("slack:1", t0() + secs(299), ttl)
                .await
                .unwrap()
        );
        assert!(
            store
                .first_delivery("slack:2", t0() + secs(1), ttl)
                .await
                .unwrap()
        );
        assert!(
            store
                .first_delivery("slack:1", t0() + secs(300), ttl)
                .await
                .unwrap()
        );
        assert!(
            !store
                .first_delivery("slack:1", t0() + secs(301), ttl)
                .await
                .unwrap()
        );
    }

    pub async fn concurrent_appends_make_one_gap_free_chain(store: Arc<dyn Store>) {
        const TASKS: usize = 8;
        const EACH: usize = 50;
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..EACH {
                        let rec = store.append_audit(entry(t * 1000 + i)).await.unwrap();
                        seqs.push(rec.seq);
                    }
                    seqs
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            let seqs = t.await.unwrap();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
            all.extend(seqs);
        }
        all.sort_unstable();
        let total = (TASKS * EACH) as u64;
        assert_eq!(all, (1..=total).collect::<Vec<_>>());
        assert_eq!(verify_ledger(store.as_ref()).await.unwrap(), Ok(total));
        let records = store.audit_records(0, 10_000).await.unwrap();
        let (head_seq, head_hash) = store.audit_head().await.unwrap().unwrap();
        assert_eq!(head_seq, total);
        assert_eq!(head_hash, records.last().unwrap().hash);
        // Paging returns the same records.
        let page = store.audit_records(100, 10).await.unwrap();
        assert_eq!(page, records[100..110]);
        // Times round-trip exactly (the hash covers nanoseconds).
        assert!(records.iter().any(|r| r.entry.at == entry(0).at));
        let one = RequestId::parse("SR-00001003").unwrap();
        assert_eq!(store.audit_for_request(&one).await.unwrap().len(), 1);
    }

    pub async fn pending_requests_come_due_earliest_deadline_first(store: Arc<dyn Store>) {
        // Deadlines out of insertion order, one not yet due, one due but no longer pending.
        let mut made = Vec::new();
        for (i, (state, expires_in)) in [
            (RequestState::Pending, 30),
            (RequestState::Pending, 10),
            (RequestState::Pending, 90),
            (RequestState::Approved, 5),
            (RequestState::Pending, 20),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = request(state, t0() + secs(i as i64));
            r.expires_at = t0() + secs(expires_in);
            store.insert_request(&r).await.unwrap();
            made.push(r);
        }
        let ids = |v: Vec<ShareRequest>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let due = ids(store.pending_due(t0() + secs(60), 100).await.unwrap());
        assert_eq!(
            due,
            vec![made[1].id.clone(), made[4].id.clone(), made[0].id.clone()]
        );
        assert_eq!(
            ids(store.pending_due(t0() + secs(60), 1).await.unwrap()),
            vec![made[1].id.clone()]
        );
        assert!(store.pending_due(t0(), 100).await.unwrap().is_empty());
        // A changed expiry (an update) moves the request in the order.
        let mut later = store.request(&made[1].id).await.unwrap().unwrap();
        later.expires_at = t0() + secs(200);
        store.update_request(&later).await.unwrap().unwrap();
        let due = ids(store.pending_due(t0() + secs(60), 100).await.unwrap());
        assert_eq!(due, vec![made[4].id.clone(), made[0].id.clone()]);
    }

    /// Stores every request and grant, many at a time (a store takes concurrent writers).
    async fn insert_many(store: &Arc<dyn Store>, requests: Vec<ShareRequest>, grants: Vec<Grant>) {
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in requests.chunks(32) {
            let (store, chunk) = (store.clone(), chunk.to_vec());
            tasks.spawn(async move {
                for r in chunk {
                    assert_eq!(store.insert_request(&r).await.unwrap(), Inserted::New);
                }
            });
        }
        for chunk in grants.chunks(32) {
            let (store, chunk) = (store.clone(), chunk.to_vec());
            tasks.spawn(async move {
                for g in chunk {
                    assert_eq!(store.insert_grant(&g).await.unwrap(), Inserted::New);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    }

    pub async fn grants_ending_by_returns_exactly_the_due_grants_among_many(store: Arc<dyn Store>) {
        let until = t0() + secs(86_400);
        let ns = chrono::Duration::nanoseconds;
        let r = RequestId::random();
        let mut n = 0;
        let mut next = |ends: Option<DateTime<Utc>>| {
            n += 1;
            let mut g = grant(
                &format!("{}", 1_000_000 + n),
                &format!("t{n}@partner.example"),
                &r,
            );
            g.ends_at = ends;
            g
        };
        // Due: at `until` exactly, a nanosecond and a day before; two with one end (ordered by
        // image); one in the same millisecond as `until`.
        let at_until = next(Some(until));
        let ns_before = next(Some(until - ns(1)));
        let day_before = next(Some(until - secs(86_400)));
        let tie_a = next(Some(until - secs(60)));
        let tie_b = next(Some(until - secs(60)));
        let same_ms = next(Some(until - ns(100)));
        let expected = vec![
            day_before.clone(),
            tie_a.clone(),
            tie_b.clone(),
            same_ms.clone(),
            ns_before.clone(),
            at_until.clone(),
        ];
        // Not due: a nanosecond after (same millisecond), later ones, none without an end, and
        // ended ones even though their end has passed.
        let mut others = vec![next(Some(until + ns(1))), next(Some(until + ns(999_999)))];
        for i in 0..250 {
            others.push(next(Some(until + secs(1 + i))));
        }
        for _ in 0..20 {
            others.push(next(None));
        }
        for _ in 0..5 {
            let mut ended = next(Some(until - secs(3600)));
            ended.ended_at = Some(until - secs(7200));
            others.push(ended);
        }
        let to_end = next(Some(until - secs(10)));
        let mut all = expected.clone();
        all.extend(others);
        all.push(to_end.clone());
        insert_many(&store, Vec::new(), all).await;

        let mut with_to_end = expected.clone();
        with_to_end.insert(3, to_end.clone());
        assert_eq!(store.grants_ending_by(until).await.unwrap(), with_to_end);
        // A grant that ends is no longer listed.
        assert!(store.end_grant(&to_end, until - secs(20)).await.unwrap());
        assert_eq!(store.grants_ending_by(until).await.unwrap(), expected);
        assert_eq!(
            store.grants_ending_by(until - ns(1)).await.unwrap(),
            expected[..5],
            "a grant ending a nanosecond after `until` is not due"
        );
        assert_eq!(
            store.grants_ending_by(until - secs(86_400)).await.unwrap(),
            [day_before]
        );
        assert!(
            store
                .grants_ending_by(until - secs(86_400) - ns(1))
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn pending_due_returns_exactly_the_due_requests_among_many(store: Arc<dyn Store>) {
        let now = t0() + secs(86_400);
        let ns = chrono::Duration::nanoseconds;
        let next = |expires: DateTime<Utc>, state: RequestState| {
            let mut r = request(state, t0());
            r.expires_at = expires;
            r
        };
        // Due, earliest deadline first (two with one deadline: ordered by id).
        let mut due = vec![
            next(now - secs(86_400), RequestState::Pending),
            next(now - secs(60), RequestState::Pending),
            next(now - secs(60), RequestState::Pending),
            next(now - ns(100), RequestState::Pending),
            next(now - ns(1), RequestState::Pending),
            next(now, RequestState::Pending),
        ];
        due[1..3].sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        // Not due: a nanosecond after `now` (same millisecond), later ones, and requests past
        // their deadline that are no longer pending.
        let mut all = due.clone();
        all.push(next(now + ns(1), RequestState::Pending));
        all.push(next(now + ns(999_999), RequestState::Pending));
        for i in 0..250 {
            all.push(next(now + secs(1 + i), RequestState::Pending));
        }
        for state in [
            RequestState::Approved,
            RequestState::Denied,
            RequestState::Expired,
        ] {
            all.push(next(now - secs(3600), state));
        }
        let leaving = next(now - secs(30), RequestState::Pending);
        all.push(leaving.clone());
        insert_many(&store, all, Vec::new()).await;

        let ids = |v: Vec<ShareRequest>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let mut with_leaving: Vec<RequestId> = ids(due.clone());
        with_leaving.insert(3, leaving.id.clone());
        assert_eq!(
            ids(store.pending_due(now, 1000).await.unwrap()),
            with_leaving
        );
        // A request that leaves pending is no longer listed.
        let mut approved = store.request(&leaving.id).await.unwrap().unwrap();
        approved.state = RequestState::Approved;
        store.update_request(&approved).await.unwrap().unwrap();
        let expected = ids(due.clone());
        assert_eq!(ids(store.pending_due(now, 1000).await.unwrap()), expected);
        // A page is the earliest ones, whatever its size.
        for limit in 1..=expected.len() {
            assert_eq!(
                ids(store.pending_due(now, limit).await.unwrap()),
                expected[..limit],
                "limit {limit}"
            );
        }
        assert_eq!(
            ids(store.pending_due(now - ns(1), 1000).await.unwrap()),
            expected[..5],
            "a deadline a nanosecond after `now` is not due"
        );
        assert!(
            store
                .pending_due(now - secs(86_400) - ns(1), 1000)
                .await
                .unwrap()
                .is_empty()
        );
        // Expiring page by page, as the sweep does, leaves none due and the rest pending.
        loop {
            let page = store.pending_due(now, 2).await.unwrap();
            if page.is_empty() {
                break;
            }
            for mut r in page {
                r.state = RequestState::Expired;
                store.update_request(&r).await.unwrap().unwrap();
            }
        }
        assert_eq!(
            store
                .requests(Some(RequestState::Pending), 1000)
                .await
                .unwrap()
                .len(),
            252
        );
        assert_eq!(
            store.pending_due(now + secs(1), 1000).await.unwrap().len(),
            3
        );
    }

    fn catalog(at: DateTime<Utc>, images: &[(&str, &str)]) -> ImageCatalog {
        ImageCatalog {
            images: images
                .iter()
                .map(|(no, name)| CatalogImage {
                    no: image(no),
                    name: (*name).into(),
                })
                .collect(),
            refreshed_at: at,
        }
    }

    pub async fn the_image_catalog_is_one_record_and_an_older_one_never_replaces_a_newer(
        store: Arc<dyn Store>,
    ) {
        assert_eq!(store.image_catalog().await.unwrap(), None);
        let first = catalog(
            t0(),
            &[
                ("1234567", "golden-web"),
                ("42", "a \"quoted\", name"),
                ("7", "한국어 이미지"),
            ],
        );
        store.save_image_catalog(&first).await.unwrap();
        assert_eq!(store.image_catalog().await.unwrap(), Some(first.clone()));

        let newer = catalog(t0() + secs(60), &[("99", "only-one")]);
        store.save_image_catalog(&newer).await.unwrap();
        assert_eq!(store.image_catalog().await.unwrap(), Some(newer.clone()));

        // A refresh that started first and finished last leaves the newer list.
        let older = catalog(t0() + secs(30), &[("5", "stale")]);
        store.save_image_catalog(&older).await.unwrap();
        assert_eq!(store.image_catalog().await.unwrap(), Some(newer));

        // An account with no shareable image is a catalog too (not "never refreshed").
        let empty = catalog(t0() + secs(120), &[]);
        store.save_image_catalog(&empty).await.unwrap();
        assert_eq!(store.image_catalog().await.unwrap(), Some(empty));
    }

    pub async fn a_large_image_catalog_is_kept_whole_or_cut_to_a_prefix_that_fits(
        store: Arc<dyn Store>,
    ) {
        // About 470 KB as compact JSON: more than one DynamoDB item holds.
        let names: Vec<(String, String)> = (0..6_000u64)
            .map(|i| {
                (
                    (1_000_000_000 + i).to_string(),
                    format!("{:-<60}", format!("image-{i:05}")),
                )
            })
            .collect();
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .map(|(no, name)| (no.as_str(), name.as_str()))
            .collect();
        let big = catalog(t0(), &pairs);
        store.save_image_catalog(&big).await.unwrap();
        let stored = store.image_catalog().await.unwrap().unwrap();
        assert_eq!(stored.refreshed_at, big.refreshed_at);
        let kept = stored.images.len();
        assert!(
            kept >= 4_000 && kept <= big.images.len(),
            "kept {kept} of {}",
            big.images.len()
        );
        assert_eq!(stored.images[..], big.images[..kept], "a prefix, in order");
    }

    /// An outbox entry for `request` (or none), made at `at`, `n`-th of its change.
    fn owed(text: &str, request: Option<&RequestId>, at: DateTime<Utc>, n: usize) -> OutboxEntry {
        let e = OutboxEntry::new(
            Message::WorksSay {
                to: WorksTo::User(format!("user-{n}")),
                text: text.into(),
            },
            at,
            1,
            n,
        );
        match request {
            Some(id) => e.for_request(id),
            None => e,
        }
    }

    pub async fn a_commit_writes_everything_or_nothing(store: Arc<dyn Store>) {
        // A reason and a message with every kind of character a person can send, NUL included.
        let mut r = request(RequestState::Pending, t0());
        r.reason = Some("café \u{0} \"quoted\" \\ 한국어 \u{1F600}".into());
        let delivery = DeliveryKey::new("slack:sig-1", t0(), Duration::from_secs(600));
        let first = Change {
            delivery: Some(delivery.clone()),
            insert: Some(r.clone()),
            audit: vec![entry(1), entry(2)],
            outbox: vec![owed("hello \u{0} there", Some(&r.id), t0(), 0)],
            ..Default::default()
        };
        let Committed::Done(records) = store.commit(first.clone()).await.unwrap() else {
            panic!("the first commit is done");
        };
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        let stored = store.request(&r.id).await.unwrap().unwrap();
        assert_eq!(stored.reason, r.reason, "the text reads back exactly");
        assert_eq!(stored.version, 1);
        let listed = store
            .outbox(OutboxQuery {
                request: Some(r.id.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed, first.outbox);

        // The same delivery again: nothing at all is written.
        let mut again = first.clone();
        again.insert = Some(request(RequestState::Pending, t0()));
        again.outbox = vec![owed("again", None, t0(), 1)];
        assert_eq!(
            store.commit(again).await.unwrap(),
            Committed::Conflict(Conflict::Delivery)
        );
        // A stale update with a fresh delivery: neither the delivery id nor the records stay.
        let mut stale = stored.clone();
        stale.version = 7;
        stale.state = RequestState::Approved;
        let later = DeliveryKey::new("slack:sig-2", t0(), Duration::from_secs(600));
        let lost = Change {
            delivery: Some(later.clone()),
            update: Some(stale),
            audit: vec![entry(3)],
            outbox: vec![owed("lost", Some(&r.id), t0(), 2)],
            ..Default::default()
        };
        assert_eq!(
            store.commit(lost.clone()).await.unwrap(),
            Committed::Conflict(Conflict::Request)
        );
        // The person's second approval: refused, with its update and records.
        let a = approval(&r.id, "alice", "slack:U012ALICE", t0());
        assert_eq!(store.insert_approval(&a).await.unwrap(), Inserted::New);
        let mut moved = stored.clone();
        moved.state = RequestState::Approved;
        assert_eq!(
            store
                .commit(Change {
                    update: Some(moved.clone()),
                    approval: Some(a.clone()),
                    audit: vec![entry(4)],
                    outbox: vec![owed("refused", Some(&r.id), t0(), 3)],
                    ..Default::default()
                })
                .await
                .unwrap(),
            Committed::Conflict(Conflict::Approval)
        );
        assert_eq!(store.request(&r.id).await.unwrap().unwrap(), stored);
        assert_eq!(store.audit_head().await.unwrap().unwrap().0, 2);
        assert_eq!(store.outbox_pending_count().await.unwrap(), 1);
        assert!(
            store
                .first_delivery("slack:sig-2", t0(), Duration::from_secs(600))
                .await
                .unwrap(),
            "the refused change's delivery id was not kept"
        );
        // The update on its own goes through, with its record chained after the others.
        let Committed::Done(records) = store
            .commit(Change {
                update: Some(moved),
                audit: vec![entry(5)],
                ..Default::default()
            })
            .await
            .unwrap()
        else {
            panic!("the update is done");
        };
        assert_eq!(records[0].seq, 3);
        let now = store.request(&r.id).await.unwrap().unwrap();
        assert_eq!((now.state, now.version), (RequestState::Approved, 2));
        assert_eq!(verify_ledger(store.as_ref()).await.unwrap(), Ok(3));
    }

    pub async fn outbox_entries_come_due_in_order_and_move_through_their_states(
        store: Arc<dyn Store>,
    ) {
        let r = request(RequestState::Pending, t0());
        store.insert_request(&r).await.unwrap();
        // Written out of order, in two commits; one is due only later.
        let later = owed("later", Some(&r.id), t0() + secs(2), 0);
        let first = owed("first", Some(&r.id), t0(), 0);
        let second = owed("second", None, t0(), 1);
        let mut future = owed("future", None, t0() + secs(1), 0);
        future.next_at = t0() + secs(3600);
        for outbox in [
            vec![later.clone(), future.clone()],
            vec![first.clone(), second.clone()],
        ] {
            assert!(matches!(
                store
                    .commit(Change {
                        outbox,
                        ..Default::default()
                    })
                    .await
                    .unwrap(),
                Committed::Done(_)
            ));
        }
        let ids = |v: Vec<OutboxEntry>| v.into_iter().map(|e| e.id).collect::<Vec<String>>();
        assert_eq!(
            ids(store.outbox_due(t0() + secs(60), 10).await.unwrap()),
            [first.id.as_str(), second.id.as_str(), later.id.as_str()],
            "due entries in their order; one due in an hour is not"
        );
        assert_eq!(
            ids(store.outbox_due(t0() + secs(60), 2).await.unwrap()),
            [first.id.as_str(), second.id.as_str()]
        );
        assert_eq!(
            ids(store.outbox_due(t0(), 10).await.unwrap()),
            [first.id.as_str(), second.id.as_str()]
        );
        assert_eq!(store.outbox_pending_count().await.unwrap(), 4);

        // Delivered, failed and retried entries leave the due list; the entry reads back whole.
        let mut delivered = first.clone();
        delivered.status = OutboxStatus::Delivered;
        delivered.attempts = 1;
        delivered.done_at = Some(t0() + secs(1));
        store.save_outbox(&delivered).await.unwrap();
        let mut failed = second.clone();
        failed.status = OutboxStatus::Failed;
        failed.last_error = Some("gave up".into());
        store.save_outbox(&failed).await.unwrap();
        let mut retried = later.clone();
        retried.attempts = 1;
        retried.next_at = t0() + secs(120);
        store.save_outbox(&retried).await.unwrap();
        assert!(
            store
                .outbox_due(t0() + secs(60), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            ids(store.outbox_due(t0() + secs(120), 10).await.unwrap()),
            [later.id.as_str()]
        );
        assert_eq!(store.outbox_pending_count().await.unwrap(), 2);
        assert_eq!(
            store.outbox_entry(&delivered.id).await.unwrap(),
            Some(delivered.clone())
        );
        assert_eq!(store.outbox_entry("ob_nothing").await.unwrap(), None);
        // By request (every status), and by status.
        assert_eq!(
            ids(store
                .outbox(OutboxQuery {
                    request: Some(r.id.clone()),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap()),
            [first.id.as_str(), later.id.as_str()]
        );
        assert_eq!(
            store
                .outbox(OutboxQuery {
                    status: Some(OutboxStatus::Failed),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap(),
            vec![failed]
        );
    }

    pub async fn the_oldest_pending_entry_is_the_oldest_written_still_owed(store: Arc<dyn Store>) {
        assert_eq!(store.outbox_oldest_pending().await.unwrap(), None);
        // The oldest written is retried last (its next attempt is the latest): the age is by
        // when it was written, not when it is due.
        let mut oldest = owed("oldest", None, t0(), 0);
        oldest.attempts = 3;
        oldest.next_at = t0() + secs(3600);
        let middle = owed("middle", None, t0() + secs(10), 1);
        let newest = owed("newest", None, t0() + secs(20), 2);
        assert!(matches!(
            store
                .commit(Change {
                    outbox: vec![newest.clone(), oldest.clone(), middle.clone()],
                    ..Default::default()
                })
                .await
                .unwrap(),
            Committed::Done(_)
        ));
        assert_eq!(store.outbox_oldest_pending().await.unwrap(), Some(t0()));
        // Delivered, it is no longer owed; a failed entry is given up, not owed either.
        let mut delivered = oldest.clone();
        delivered.status = OutboxStatus::Delivered;
        delivered.done_at = Some(t0() + secs(30));
        store.save_outbox(&delivered).await.unwrap();
        let mut failed = middle.clone();
        failed.status = OutboxStatus::Failed;
        store.save_outbox(&failed).await.unwrap();
        assert_eq!(
            store.outbox_oldest_pending().await.unwrap(),
            Some(t0() + secs(20))
        );
        let mut superseded = newest.clone();
        superseded.status = OutboxStatus::Superseded;
        store.save_outbox(&superseded).await.unwrap();
        assert_eq!(store.outbox_oldest_pending().await.unwrap(), None);
        assert_eq!(store.outbox_pending_count().await.unwrap(), 0);
    }

    pub async fn message_refs_are_kept_per_request_and_kind(store: Arc<dyn Store>) {
        let (a, b) = (RequestId::random(), RequestId::random());
        assert_eq!(store.message_ref(&a, "slack_card").await.unwrap(), None);
        store
            .save_message_ref(&a, "slack_card", "C1 1.000")
            .await
            .unwrap();
        store
            .save_message_ref(&a, "slack_card_order", "o1")
            .await
            .unwrap();
        store
            .save_message_ref(&b, "slack_card", "C2 2.000")
            .await
            .unwrap();
        store
            .save_message_ref(&a, "slack_card", "C1 3.000")
            .await
            .unwrap();
        assert_eq!(
            store
                .message_ref(&a, "slack_card")
                .await
                .unwrap()
                .as_deref(),
            Some("C1 3.000"),
            "replaced"
        );
        assert_eq!(
            store
                .message_ref(&a, "slack_card_order")
                .await
                .unwrap()
                .as_deref(),
            Some("o1")
        );
        assert_eq!(
            store
                .message_ref(&b, "slack_card")
                .await
                .unwrap()
                .as_deref(),
            Some("C2 2.000")
        );
    }

    pub async fn checkpoints_are_kept_once_per_size(store: Arc<dyn Store>) {
        use ncp_share_approver::audit::merkle::Frontier;
        use ncp_share_approver::audit::tlog::StoredCheckpoint;
        let at_size = |size: u64, note: &str| {
            let mut frontier = Frontier::new();
            for i in 0..size {
                frontier.push([i as u8; 32]);
            }
            StoredCheckpoint {
                size,
                note: note.into(),
                frontier,
                last_hash: "h".repeat(64),
                at: t0() + secs(size as i64),
            }
        };
        assert_eq!(store.latest_checkpoint().await.unwrap(), None);
        let (three, ten, first_five) =
            (at_size(3, "three"), at_size(10, "ten"), at_size(5, "five"));
        for c in [&ten, &three, &first_five] {
            assert_eq!(store.save_checkpoint(c).await.unwrap(), Inserted::New);
        }
        assert_eq!(
            store
                .save_checkpoint(&at_size(5, "another five"))
                .await
                .unwrap(),
            Inserted::AlreadyThere
        );
        assert_eq!(store.latest_checkpoint().await.unwrap(), Some(ten.clone()));
        assert_eq!(
            store.checkpoints().await.unwrap(),
            vec![three, first_five, ten]
        );
    }

    pub async fn a_store_that_answers_is_ready(store: Arc<dyn Store>) {
        store.ready().await.unwrap();
        store.append_audit(entry(1)).await.unwrap();
        store.ready().await.unwrap();
    }

    pub async fn requests_filter_by_state_newest_first(store: Arc<dyn Store>) {
        let states = [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Pending,
            RequestState::Succeeded,
            RequestState::Pending,
        ];
        let mut made = Vec::new();
        for (i, state) in states.into_iter().enumerate() {
            // Sub-second steps too: the order must not depend on how times are written.
            let at = t0() + chrono::Duration::milliseconds(500 * i as i64);
            let r = request(state, at);
            store.insert_request(&r).await.unwrap();
            made.push(r);
        }
        let ids = |v: Vec<ShareRequest>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let all = ids(store.requests(None, 100).await.unwrap());
        let newest_first: Vec<RequestId> = made.iter().rev().map(|r| r.id.clone()).collect();
        assert_eq!(all, newest_first);
        let pending = ids(store
            .requests(Some(RequestState::Pending), 100)
            .await
            .unwrap());
        assert_eq!(
            pending,
            vec![made[4].id.clone(), made[2].id.clone(), made[0].id.clone()]
        );
        let two = ids(store
            .requests(Some(RequestState::Pending), 2)
            .await
            .unwrap());
        assert_eq!(two, pending[..2]);
        assert!(
            store
                .requests(Some(RequestState::Expired), 100)
                .await
                .unwrap()
                .is_empty()
        );
        let states: BTreeSet<&str> = store
            .requests(None, 100)
            .await
            .unwrap()
            .iter()
            .map(|r| r.state.as_str())
            .collect();
        assert_eq!(states.len(), 3);
    }
}

/// DynamoDB on the local stand-in `.ci/run` starts (`moto_server`), in tables of its own per test;
/// `None` (the case is skipped, and says so) when no stand-in is configured outside CI.
async fn dynamodb_moto() -> Option<Backend> {
    let endpoint = crate::harness::aws::aws_endpoint("the DynamoDB store suite")?;
    let store = crate::harness::aws::dynamo_store(&endpoint).await;
    Some(Backend {
        store: Arc::new(store),
        _keep: None,
    })
}

/// PostgreSQL at `TEST_POSTGRES_URL` (`.ci/run` starts one), in a schema of its own per test;
/// `None` (the case is skipped, and says so) when no database is configured outside CI.
async fn postgres() -> Option<Backend> {
    let url = crate::harness::postgres::postgres_url("the PostgreSQL store suite")?;
    Some(Backend {
        store: Arc::new(crate::harness::postgres::fresh_store(&url).await),
        _keep: None,
    })
}

/// Runs every case against one backend, in a module named after it.
macro_rules! store_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        // A factory gives a `Backend`, or an `Option` that is `None` when its
                        // stand-in is not configured (it prints why).
                        let Some(backend): Option<Backend> = $make.await.into() else {
                            return;
                        };
                        cases::$name(backend.store.clone()).await;
                    }
                };
            }

            case!(a_request_is_inserted_only_if_absent);
            case!(an_update_wins_once_and_a_stale_version_loses);
            case!(an_audited_update_writes_its_ledger_record_only_when_it_wins);
            case!(concurrent_updaters_win_exactly_once_per_version);
            case!(approvals_are_unique_per_person);
            case!(grants_are_idempotent_and_only_active_ones_are_listed);
            case!(grants_ending_by_lists_active_time_boxed_grants_of_every_image_earliest_first);
            case!(a_grant_ends_once_and_then_is_no_longer_active);
            case!(a_lease_is_exclusive_renewable_and_free_after_its_ttl);
            case!(a_lease_has_one_winner_among_concurrent_takers);
            case!(a_delivery_is_first_once_until_its_ttl);
            case!(concurrent_appends_make_one_gap_free_chain);
            case!(requests_filter_by_state_newest_first);
            case!(pending_requests_come_due_earliest_deadline_first);
            case!(grants_ending_by_returns_exactly_the_due_grants_among_many);
            case!(pending_due_returns_exactly_the_due_requests_among_many);
            case!(the_image_catalog_is_one_record_and_an_older_one_never_replaces_a_newer);
            case!(a_large_image_catalog_is_kept_whole_or_cut_to_a_prefix_that_fits);
            case!(a_commit_writes_everything_or_nothing);
            case!(outbox_entries_come_due_in_order_and_move_through_their_states);
            case!(the_oldest_pending_entry_is_the_oldest_written_still_owed);
            case!(message_refs_are_kept_per_request_and_kind);
            case!(checkpoints_are_kept_once_per_size);
            case!(a_store_that_answers_is_ready);
        }
    };
}

// One line per backend.
store_suite!(sqlite_in_memory, sqlite_in_memory());
store_suite!(sqlite_file, sqlite_file());
store_suite!(dynamodb_moto, dynamodb_moto());
store_suite!(postgres, postgres());
