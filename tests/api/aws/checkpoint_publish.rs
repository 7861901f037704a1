//! Checkpoints published to an S3 bucket with Object Lock in compliance mode, on the local AWS
//! stand-in (moto): the bucket the template makes (`CheckpointBucket`).

use crate::harness::aws::{aws_endpoint, sdk_config, unique};
use ncp_share_approver::audit::publish::{Publish, PublishError, checkpoint_name};
use ncp_share_approver::aws::s3_client;
use ncp_share_approver::publish::S3Publisher;

fn note(size: u64, root: &str) -> String {
    format!("ncp-share-approver\n{size}\n{root}\n\n— ncp-share-approver AAAA{root}\n")
}

#[tokio::test]
async fn checkpoints_go_to_an_object_lock_bucket_once_per_size_and_cannot_be_deleted() {
    let Some(endpoint) = aws_endpoint("the S3 checkpoint publisher test") else {
        return;
    };
    let s3 = s3_client(&sdk_config(&endpoint).await);
    let bucket = unique("checkpoints");
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    use aws_sdk_s3::types::{
        ChecksumMode, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
        ObjectLockRetentionMode, ObjectLockRule,
    };
    s3.put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(1)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let publisher = S3Publisher::new(s3.clone(), &bucket, "checkpoints/");
    assert_eq!(publisher.describe(), format!("s3://{bucket}/checkpoints/"));
    publisher.publish(12, &note(12, "r12")).await.unwrap();
    // The same note again (a retry, a second process) is success and adds no version.
    publisher.publish(12, &note(12, "r12")).await.unwrap();
    // A different note of the same size is refused, naming the object.
    let e = publisher
        .publish(12, &note(12, "forged"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, PublishError::Conflict { size: 12, .. }),
        "{e:?}"
    );
    let key = format!("checkpoints/{}", checkpoint_name(12));
    assert!(
        e.to_string().contains(&format!("s3://{bucket}/{key}")),
        "{e}"
    );

    // One version, the first note, text/plain, stored with the SHA-256 checksum the publisher
    // sent (S3 refuses an upload without a checksum to a bucket with Object Lock retention).
    let versions = s3
        .list_object_versions()
        .bucket(&bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    let versions = versions.versions();
    assert_eq!(versions.len(), 1, "{versions:?}");
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert!(
        head.content_type()
            .unwrap_or_default()
            .starts_with("text/plain"),
        "{head:?}"
    );
    assert!(
        head.checksum_sha256().is_some(),
        "no SHA-256 checksum: {head:?}"
    );
    assert_eq!(
        head.object_lock_mode(),
        Some(&aws_sdk_s3::types::ObjectLockMode::Compliance),
        "{head:?}"
    );
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), note(12, "r12").as_bytes());

    // Compliance mode: the version cannot be deleted (moto enforces the retention on deletes of
    // a version, as S3 does).
    let version_id = versions[0].version_id().unwrap().to_string();
    let refused = s3
        .delete_object()
        .bucket(&bucket)
        .key(&key)
        .version_id(&version_id)
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a locked version was deleted: {refused:?}"
    );
    let still = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .version_id(&version_id)
        .send()
        .await;
    assert!(still.is_ok(), "{still:?}");
}

#[tokio::test]
async fn a_missing_bucket_is_named_in_the_error() {
    let Some(endpoint) = aws_endpoint("the S3 checkpoint publisher test") else {
        return;
    };
    let s3 = s3_client(&sdk_config(&endpoint).await);
    let bucket = unique("no-such-bucket");
    let e = S3Publisher::new(s3, &bucket, "")
        .publish(1, &note(1, "r"))
        .await
        .unwrap_err();
    assert!(matches!(e, PublishError::Failed { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&bucket) && text.contains("NoSuchBucket"),
        "{text}"
    );
    assert!(!text.contains("test"), "no credentials in errors: {text}");
}
