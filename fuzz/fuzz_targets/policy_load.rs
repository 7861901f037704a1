//! The policy loader never panics: any text is a policy or a list of errors with lines.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(errors) = ncp_share_approver::policy::Policy::from_toml_str(&text, "fuzz.toml") {
        assert!(!errors.is_empty());
    }
});
