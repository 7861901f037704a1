//! The policy read from an S3 object and from an SSM parameter (`policy = "s3://…"` /
//! `"ssm:/…"`), against `moto_server`: a good one loads, a broken one is refused with the source
//! and the line named, a missing one says what is missing.

use crate::harness::aws::{aws_endpoint, sdk_config, unique};
use crate::harness::fixtures::WORKFLOW_POLICY as TEST_POLICY;
use ncp_share_approver::aws::s3_client;
use ncp_share_approver::policy_source::PolicySource;

/// The test policy with one unknown key added at the end, on line `broken_line()`.
fn broken_policy() -> String {
    format!("{TEST_POLICY}\nnot_a_policy_key = 1\n")
}

fn broken_line() -> usize {
    broken_policy().lines().count()
}

/// A fresh bucket holding `text` at `policy/policy.toml`; returns the source naming it.
async fn put_object(sdk: &aws_config::SdkConfig, text: &str) -> PolicySource {
    let s3 = s3_client(sdk);
    let bucket = unique("policy");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("policy/policy.toml")
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    PolicySource::parse(&format!("s3://{bucket}/policy/policy.toml")).unwrap()
}

/// A fresh SecureString parameter holding `text`; returns the source naming it.
async fn put_parameter(sdk: &aws_config::SdkConfig, text: &str) -> PolicySource {
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let name = format!("/{}/policy", unique("nsa"));
    ssm.put_parameter()
        .name(&name)
        .value(text)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    PolicySource::parse(&format!("ssm:{name}")).unwrap()
}

#[tokio::test]
async fn a_policy_in_an_s3_object_loads() {
    let Some(endpoint) = aws_endpoint("a_policy_in_an_s3_object_loads") else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let source = put_object(&sdk, TEST_POLICY).await;
    let policy = source.load(Some(&sdk)).await.expect("the policy loads");
    let from_text = ncp_share_approver::policy::Policy::from_toml_str(TEST_POLICY, "t").unwrap();
    assert_eq!(policy.hash(), from_text.hash(), "the same text was read");
}

#[tokio::test]
async fn a_policy_in_an_ssm_secure_string_loads() {
    let Some(endpoint) = aws_endpoint("a_policy_in_an_ssm_secure_string_loads") else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let source = put_parameter(&sdk, TEST_POLICY).await;
    let policy = source.load(Some(&sdk)).await.expect("the policy loads");
    let from_text = ncp_share_approver::policy::Policy::from_toml_str(TEST_POLICY, "t").unwrap();
    assert_eq!(
        policy.hash(),
        from_text.hash(),
        "the decrypted text was read"
    );
}

#[tokio::test]
async fn a_broken_policy_in_s3_is_refused_with_the_object_and_line() {
    let Some(endpoint) = aws_endpoint("a_broken_policy_in_s3_is_refused_with_the_object_and_line")
    else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let source = put_object(&sdk, &broken_policy()).await;
    let e = format!("{:#}", source.load(Some(&sdk)).await.unwrap_err());
    let at = format!("{source}:{}: ", broken_line());
    assert!(at.starts_with("s3://"), "{at}");
    assert!(e.contains(&at), "expected {at:?} in: {e}");
    assert!(e.contains("not_a_policy_key"), "{e}");
}

#[tokio::test]
async fn a_broken_policy_in_ssm_is_refused_with_the_parameter_and_line() {
    let Some(endpoint) =
        aws_endpoint("a_broken_policy_in_ssm_is_refused_with_the_parameter_and_line")
    else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let source = put_parameter(&sdk, &broken_policy()).await;
    let e = format!("{:#}", source.load(Some(&sdk)).await.unwrap_err());
    let at = format!("{source}:{}: ", broken_line());
    assert!(at.starts_with("ssm:/"), "{at}");
    assert!(e.contains(&at), "expected {at:?} in: {e}");
}

#[tokio::test]
async fn a_missing_object_or_bucket_or_parameter_is_named() {
    let Some(endpoint) = aws_endpoint("a_missing_object_or_bucket_or_parameter_is_named") else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;

    // The bucket is there, the object is not.
    let present = put_object(&sdk, TEST_POLICY).await;
    let PolicySource::S3 { bucket, .. } = &present else {
        unreachable!()
    };
    let missing = PolicySource::parse(&format!("s3://{bucket}/no/such.toml")).unwrap();
    let e = missing.load(Some(&sdk)).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!("s3://{bucket}/no/such.toml: no such S3 object (is the policy uploaded?)")
    );

    // No bucket at all.
    let no_bucket = PolicySource::parse(&format!("s3://{}/policy.toml", unique("gone"))).unwrap();
    let e = no_bucket.load(Some(&sdk)).await.unwrap_err().to_string();
    assert_eq!(e, format!("{no_bucket}: no such S3 bucket"));

    // No parameter.
    let no_param = PolicySource::parse(&format!("ssm:/{}/policy", unique("gone"))).unwrap();
    let e = no_param.load(Some(&sdk)).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{no_param}: no such SSM parameter (is the policy put there?)")
    );
}

#[test]
fn the_configuration_takes_an_s3_or_ssm_policy_and_names_the_key_when_wrong() {
    use ncp_share_approver::config::Config;
    let c = Config::from_toml("policy = \"s3://bucket/p.toml\"\n", "t.toml", []).unwrap();
    assert_eq!(
        c.policy,
        PolicySource::S3 {
            bucket: "bucket".into(),
            key: "p.toml".into()
        }
    );
    let c = Config::from_toml(
        "",
        "t.toml",
        [("NSA_POLICY".to_owned(), "ssm:/nsa/policy".to_owned())],
    )
    .unwrap();
    assert_eq!(
        c.policy,
        PolicySource::Ssm {
            name: "/nsa/policy".into()
        }
    );
    let e = Config::from_toml("policy = \"s3://bucket\"\n", "t.toml", [])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("policy: \"s3://bucket\" names no object key"),
        "{e}"
    );
}

#[tokio::test]
async fn the_policy_source_names_itself_in_loaded_policies() {
    let Some(endpoint) = aws_endpoint("the_policy_source_names_itself_in_loaded_policies") else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let source = put_parameter(&sdk, TEST_POLICY).await;
    let policy = source.load(Some(&sdk)).await.unwrap();
    assert_eq!(policy.source_name(), source.to_string());
}

#[tokio::test]
async fn a_reload_takes_a_changed_policy_and_keeps_the_old_one_when_the_new_is_broken() {
    use ncp_share_approver::startup::reload_policy;
    use ncp_share_approver::workflow::PolicyHandle;
    let Some(endpoint) = aws_endpoint("a_reload_takes_a_changed_policy_and_keeps_the_old_one")
    else {
        return;
    };
    let sdk = sdk_config(&endpoint).await;
    let source = put_object(&sdk, TEST_POLICY).await;
    let handle = PolicyHandle::new(source.load(Some(&sdk)).await.unwrap());
    let first = handle.current().hash().to_owned();
    let PolicySource::S3 { bucket, key } = &source else {
        unreachable!()
    };
    let put = |text: String| {
        let s3 = s3_client(&sdk);
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(text.into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    };

    assert!(
        !reload_policy(&handle, &source, Some(&sdk)).await,
        "unchanged"
    );
    assert_eq!(handle.current().hash(), first);

    put(broken_policy()).await;
    assert!(!reload_policy(&handle, &source, Some(&sdk)).await, "broken");
    assert_eq!(handle.current().hash(), first, "the old policy stays");

    put(format!("{TEST_POLICY}\n# a comment changes the hash\n")).await;
    assert!(reload_policy(&handle, &source, Some(&sdk)).await, "changed");
    assert_ne!(handle.current().hash(), first, "the new policy is in force");
}
