//! NCP client hot paths: signing one request, and parsing a 1,000-image list answer.
//!
//! Run: `cargo bench --bench ncp`.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use ncp_share_approver::ncp::signature;
use ncp_share_approver::ncp::wire::{self, MemberImageList};

fn sign_request(c: &mut Criterion) {
    let mut params = vec![(
        "memberServerImageInstanceNo".to_string(),
        "1234567".to_string(),
    )];
    wire::push_list(
        &mut params,
        "targetLoginIdList",
        [
            "alice@partner.example",
            "bob+ops@partner.example",
            "모두@회사.한국",
        ],
    );
    c.bench_function("sign: build path+query and sign (3 targets)", |b| {
        b.iter(|| {
            let pq = wire::path_and_query(
                black_box("setMemberServerImageSharingPermission"),
                "KR",
                black_box(&params),
            );
            signature::sign(
                "GET",
                &pq,
                "1700000000000",
                "NCPTESTACCESSKEY0001",
                b"NCPTestSecretKey0000000000000000000000001",
            )
        })
    });
}

fn thousand_image_list() -> String {
    let images: Vec<serde_json::Value> = (0..1000)
        .map(|i| {
            serde_json::json!({
                "memberServerImageInstanceNo": format!("{}", 1_000_000 + i),
                "memberServerImageName": format!("golden-image-{i}"),
                "memberServerImageDescription": "nightly golden build",
                "originalServerInstanceNo": "2000001",
                "originalServerImageProductCode": "SW.VSVR.OS.LNX64.CNTOS.0703.B050",
                "memberServerImageInstanceStatus": {"code": "CREAT", "codeName": "NSI CREATED state"},
                "memberServerImageInstanceOperation": {"code": "NULL", "codeName": "NSI NULLOP"},
                "memberServerImageInstanceStatusName": "created",
                "createDate": "2020-08-24T10:34:27+0900",
                "memberServerImageBlockStorageTotalRows": 1,
                "memberServerImageBlockStorageTotalSize": 53687091200u64,
                "shareStatus": {"code": "SHARE", "codeName": "NSI Share SHARE State"},
                "sharedLoginIdList": ["a@partner.example", "b@partner.example", "c@partner.example"]
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "getMemberServerImageInstanceListResponse": {
            "requestId": "bench", "returnCode": "0", "returnMessage": "success",
            "totalRows": 1000, "memberServerImageInstanceList": images
        }
    }))
    .unwrap()
}

fn parse_list(c: &mut Criterion) {
    let body = thousand_image_list();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse: 1,000-image list answer into typed views", |b| {
        b.iter(|| {
            let list: MemberImageList = wire::decode(
                "getMemberServerImageInstanceList",
                200,
                black_box(body.as_bytes()),
                "AK",
            )
            .unwrap();
            list.into_views("getMemberServerImageInstanceList").unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, sign_request, parse_list);
criterion_main!(benches);
