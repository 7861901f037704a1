use super::super::fixtures::{at, grant, ids, list, request};
use super::*;
use crate::domain::{Revocation, RevocationCause};

fn change(add: &str, remove: &str) -> Plan {
    Plan::Change {
        add: ids(add),
        remove: ids(remove),
    }
}

#[test]
fn plan_changes_only_what_ncp_does_not_hold_yet() {
    use Action::{Set, Share, Unshare};
    // (action, targets, list when asked, list now, expected plan)
    let cases = [
        (Share, "a b", "", "", change("a b", "")),
        (Share, "a b", "", "a", change("b", "")),
        (Share, "a b", "", "b a c", Plan::AlreadyInPlace),
        (Unshare, "a b", "", "a b c", change("", "a b")),
        (Unshare, "a b", "", "b c", change("", "b")),
        (Unshare, "a b", "", "c", Plan::AlreadyInPlace),
        // A `set` against the list it was asked against replaces it in one call.
        (Set, "a b", "a c", "a c", Plan::Replace(ids("a b"))),
        // Someone changed the list since: only the approved diff (+b, -c) is applied.
        (Set, "a b", "a c", "a c d", change("b", "c")),
        (Set, "a b", "a c", "c d", change("b", "c")),
        (Set, "a b", "a c", "a b d", Plan::AlreadyInPlace),
        (Set, "a b", "a b", "a b", Plan::AlreadyInPlace),
    ];
    for (action, targets, when_asked, now, expected) in cases {
        let r = request(action, targets, when_asked);
        assert_eq!(
            plan(&r, &list(now)),
            expected,
            "{action:?} [{targets}] asked against [{when_asked}], NCP holds [{now}]"
        );
    }
}

#[test]
fn confirms_names_what_the_read_back_lacks() {
    use Action::{Set, Share, Unshare};
    let cases = [
        (Share, "a b", "", "a b c", None),
        (Share, "a b", "", "a", Some("not shared with b@x.example")),
        (Unshare, "a b", "", "c", None),
        (
            Unshare,
            "a b",
            "",
            "b c",
            Some("still shared with b@x.example"),
        ),
        (Set, "a b", "a c", "a b d", None),
        (
            Set,
            "a b",
            "a c",
            "a c",
            Some(
                "share list is [a@x.example, c@x.example] (missing: [b@x.example], \
                 still present: [c@x.example])",
            ),
        ),
    ];
    for (action, targets, when_asked, readback, expected) in cases {
        let r = request(action, targets, when_asked);
        assert_eq!(
            confirms(&r, &list(readback)).as_deref(),
            expected,
            "{action:?} [{targets}] read back as [{readback}]"
        );
    }
}

#[test]
fn removed_targets_are_the_unshared_or_the_set_diffs_removals() {
    use Action::{Set, Share, Unshare};
    let cases = [
        (Share, "a b", "c", ""),
        (Unshare, "a b", "", "a b"),
        (Set, "a b", "a c d", "c d"),
    ];
    for (action, targets, when_asked, expected) in cases {
        let r = request(action, targets, when_asked);
        assert_eq!(removed_targets(&r), list(expected), "{action:?}");
    }
}

#[test]
fn a_revocation_keeps_targets_another_grant_in_force_covers() {
    let ended = grant("a", "SR-AAAAAAAA", Some(12), None);
    let mut r = request(Action::Unshare, "a b", "");
    r.lifecycle.revocation = Some(Revocation {
        cause: RevocationCause::Expired,
        ends: vec![ended.clone()],
    });
    let other = grant("a", "SR-BBBBBBBB", Some(20), None);
    let active = vec![
        ended,                                     // the one it ends
        grant("a", "SR-CCCCCCCC", Some(11), None), // past its end at 12:00
        grant("a", "SR-DDDDDDDD", None, Some(11)), // ended already
        grant("c", "SR-EEEEEEEE", None, None),     // not a target
        other.clone(),                             // keeps a shared
        grant("a", "SR-FFFFFFFF", None, None),     // a second one for a: one is enough
    ];
    let keep = kept_by_other_grants(&r, active, at(12));
    assert_eq!(keep, vec![other]);
    assert_eq!(without_kept(&r, &keep).targets, ids("b"));
}

#[test]
fn a_request_that_is_not_a_revocation_keeps_nothing() {
    let r = request(Action::Unshare, "a", "");
    let active = vec![grant("a", "SR-BBBBBBBB", None, None)];
    assert!(kept_by_other_grants(&r, active, at(12)).is_empty());
}
