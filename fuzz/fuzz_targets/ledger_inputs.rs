//! What `audit verify --checkpoint` and the proof checkers read from outside never panics: signed
//! notes, checkpoint texts, verifier keys and proof bundles, each valid or mangled.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ncp_share_approver::audit::checkpoint::Checkpoint;
use ncp_share_approver::audit::note::{self, NoteVerifier};
use ncp_share_approver::audit::proof::{ConsistencyBundle, InclusionBundle};

/// The verifier of the committed corpus' notes (the tests' public ledger key).
const VKEY: &str = "ncp-share-approver+09dc63de+AYaf3L+kHm0DLFWnU7YgNi76OxCnL4Fdx0hcEVkKFlk6";

fuzz_target!(|data: &[u8]| {
    let verifier = NoteVerifier::from_vkey(VKEY).expect("the corpus key parses");
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = NoteVerifier::from_vkey(text.trim());
    let _ = note::open(text, std::slice::from_ref(&verifier));
    if let Ok(cp) = Checkpoint::parse(text) {
        // What parses prints back to the same text.
        assert_eq!(Checkpoint::parse(&cp.to_text()).as_ref(), Ok(&cp));
    }
    let _ = Checkpoint::open(text, &verifier);
    if let Ok(b) = serde_json::from_str::<InclusionBundle>(text) {
        let _ = b.verify_with(&verifier);
    }
    if let Ok(b) = serde_json::from_str::<ConsistencyBundle>(text) {
        let _ = b.verify_with(&verifier);
    }
});
