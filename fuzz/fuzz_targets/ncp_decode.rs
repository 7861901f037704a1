//! Decoding whatever NCP (or something pretending to be it) answers never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ncp_share_approver::ncp::wire::{self, MemberImageList, ServerImageList};

fuzz_target!(|data: &[u8]| {
    let status = data
        .first()
        .map(|b| [200u16, 400, 401, 429, 503][*b as usize % 5])
        .unwrap_or(200);
    if let Ok(list) =
        wire::decode::<MemberImageList>("getMemberServerImageInstanceList", status, data, "AK")
    {
        let _ = list.into_views("getMemberServerImageInstanceList");
    }
    if let Ok(list) = wire::decode::<ServerImageList>("getServerImageList", status, data, "AK") {
        let _ = list.into_views("getServerImageList");
    }
});
