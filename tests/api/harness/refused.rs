//! What a refused delivery must get, for the bad-input tables.

/// Exactly `want.0` as the status and `want.1` in the reply; a 401 says nothing at all (it must
/// not help a forger).
pub fn assert_refused(case: &str, status: u16, body: &str, want: (u16, &str)) {
    assert_eq!(
        (status, body.contains(want.1)),
        (want.0, true),
        "{case}: answered {status} {body}, expected {} with {:?}",
        want.0,
        want.1
    );
    if status == 401 {
        assert!(body.is_empty(), "{case}: a 401 says nothing: {body}");
    }
}
