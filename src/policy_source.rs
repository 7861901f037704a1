//! Where the policy is read from: `policy` in the configuration names a file (the default, shipped
//! in the deployment package), an S3 object (`s3://BUCKET/KEY`) or an SSM parameter
//! (`ssm:/NAME`, a `SecureString` is decrypted). The last two let a policy change in git deploy
//! by copying the file to the object or parameter, without a rebuild: every Lambda cold start
//! (and every `serve` start) reads the current one.

use crate::aws::{describe_error, s3_client, shared_config};
use crate::policy::{Policy, PolicyError};
use aws_config::SdkConfig;
use serde::Deserialize;
use std::fmt;
use std::path::Path;
use std::path::PathBuf;

/// Policy objects and parameters larger than this are refused (a policy is a few kilobytes).
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// The location of the approver policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum PolicySource {
    /// A file on the local disk (or in the Lambda package).
    File(PathBuf),
    /// An S3 object.
    S3 {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// An SSM Parameter Store parameter (`String` or `SecureString`).
    Ssm {
        /// The parameter name (`/ncp-share-approver/policy`) or ARN.
        name: String,
    },
}

impl PolicySource {
    /// Parses the value of `policy`: `s3://BUCKET/KEY`, `ssm:NAME`, or a file path. Errors name
    /// the key and say what was expected.
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("policy: {value:?} {why}"));
        if value.trim().is_empty() {
            return bad("is empty; give a file path, s3://BUCKET/KEY or ssm:/PARAMETER/NAME");
        }
        if let Some(rest) = value.strip_prefix("s3:") {
            let Some(rest) = rest.strip_prefix("//") else {
                return bad("is not an S3 location like s3://BUCKET/KEY");
            };
            let Some((bucket, key)) = rest.split_once('/') else {
                return bad("names no object key; expected s3://BUCKET/KEY");
            };
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !bucket_ok {
                return bad(&format!(
                    "names {bucket:?}, which is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
                ));
            }
            if key.is_empty() || key.ends_with('/') {
                return bad("names no object key; expected s3://BUCKET/KEY");
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        if let Some(name) = value.strip_prefix("ssm:") {
            if name.starts_with("//") {
                return bad("is not an SSM parameter like ssm:/PARAMETER/NAME (one slash)");
            }
            let name_ok = !name.is_empty()
                && (name.starts_with("arn:")
                    || name.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-')
                    }));
            if !name_ok {
                return bad(
                    "is not an SSM parameter like ssm:/PARAMETER/NAME (letters, digits, / _ . -)",
                );
            }
            return Ok(Self::Ssm {
                name: name.to_owned(),
            });
        }
        Ok(Self::File(PathBuf::from(value)))
    }

    /// Reads the policy text. `sdk` is the AWS configuration for S3 and SSM (the process-wide
    /// one from the environment when `None`; a file needs none).
    pub async fn read(&self, sdk: Option<&SdkConfig>) -> Result<String, String> {
        let sdk = match (self, sdk) {
            (Self::File(path), _) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| format!("{self}: cannot read the policy: {e}"))?;
                return self.text(bytes);
            }
            (_, Some(sdk)) => sdk,
            (_, None) => shared_config().await,
        };
        match self {
            Self::File(_) => unreachable!("handled above"),
            Self::S3 { bucket, key } => {
                let client = s3_client(sdk);
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| {
                        use aws_sdk_s3::error::ProvideErrorMetadata as _;
                        use aws_sdk_s3::operation::get_object::GetObjectError;
                        match e.as_service_error() {
                            Some(GetObjectError::NoSuchKey(_)) => {
                                format!("{self}: no such S3 object (is the policy uploaded?)")
                            }
                            Some(se) if se.code() == Some("NoSuchBucket") => {
                                format!("{self}: no such S3 bucket")
                            }
                            Some(se) if se.code() == Some("AccessDenied") => format!(
                                "{self}: access denied (the role needs s3:GetObject on this object; without s3:ListBucket a missing object is denied too)"
                            ),
                            Some(se) => format!(
                                "{self}: cannot read the S3 object: {}: {}",
                                se.code().unwrap_or("error"),
                                se.message().unwrap_or("no message")
                            ),
                            None => format!(
                                "{self}: cannot read the S3 object: {}",
                                describe_error(&e)
                            ),
                        }
                    })?;
                if out
                    .content_length
                    .is_some_and(|n| n > MAX_POLICY_BYTES as i64)
                {
                    return Err(format!(
                        "{self}: the object is larger than {MAX_POLICY_BYTES} bytes"
                    ));
                }
                let bytes = out.body.collect().await.map_err(|e| {
                    format!("{self}: cannot read the S3 object: {}", describe_error(&e))
                })?;
                self.text(bytes.into_bytes().to_vec())
            }
            Self::Ssm { name } => {
                let client = aws_sdk_ssm::Client::new(sdk);
                let out = client
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| {
                        use aws_sdk_ssm::error::ProvideErrorMetadata as _;
                        use aws_sdk_ssm::operation::get_parameter::GetParameterError;
                        match e.as_service_error() {
                            Some(GetParameterError::ParameterNotFound(_)) => {
                                format!("{self}: no such SSM parameter (is the policy put there?)")
                            }
                            Some(se) if se.code() == Some("AccessDeniedException") => format!(
                                "{self}: access denied (the role needs ssm:GetParameter on this parameter, and kms:Decrypt for a customer-managed key)"
                            ),
                            Some(se) => format!(
                                "{self}: cannot read the SSM parameter: {}: {}",
                                se.code().unwrap_or("error"),
                                se.message().unwrap_or("no message")
                            ),
                            None => format!(
                                "{self}: cannot read the SSM parameter: {}",
                                describe_error(&e)
                            ),
                        }
                    })?;
                let value = out
                    .parameter
                    .and_then(|p| p.value)
                    .ok_or_else(|| format!("{self}: the SSM parameter has no value"))?;
                self.text(value.into_bytes())
            }
        }
    }

    fn text(&self, bytes: Vec<u8>) -> Result<String, String> {
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(format!(
                "{self}: the policy is larger than {MAX_POLICY_BYTES} bytes"
            ));
        }
        String::from_utf8(bytes).map_err(|_| format!("{self}: the policy is not UTF-8 text"))
    }

    /// Reads and validates the policy; the errors name this source and the line of each problem
    /// (`s3://bucket/policy.toml:12: rule "x": unknown group "admins"`).
    pub async fn load(&self, sdk: Option<&SdkConfig>) -> anyhow::Result<Policy> {
        let text = self.read(sdk).await.map_err(anyhow::Error::msg)?;
        Policy::from_toml_str(&text, &self.to_string()).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "the policy has {} problem(s):\n{}",
                errors.len(),
                lines.join("\n")
            )
        })
    }
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Self::Ssm { name } => write!(f, "ssm:{name}"),
        }
    }
}

impl TryFrom<String> for PolicySource {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl Default for PolicySource {
    fn default() -> Self {
        Self::File(PathBuf::from("policy.toml"))
    }
}

// Reading a policy file is I/O, so it lives here and not in the pure `policy::load`: an
// inherent `impl` may sit in any module of the crate, which keeps `Policy::load` for callers.
impl Policy {
    /// Reads and validates a policy file; the errors name the file and the line of each problem.
    pub fn load(path: &Path) -> Result<Policy, Vec<PolicyError>> {
        let file = path.display().to_string();
        let fail = |message: String| {
            vec![PolicyError {
                file: file.clone(),
                line: None,
                message,
            }]
        };
        let bytes =
            std::fs::read(path).map_err(|e| fail(format!("cannot read the policy: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| fail("the policy is not UTF-8 text".to_owned()))?;
        Self::from_toml_str(&text, &file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_files_objects_and_parameters() {
        assert_eq!(
            PolicySource::parse("examples/policy.toml").unwrap(),
            PolicySource::File("examples/policy.toml".into())
        );
        assert_eq!(
            PolicySource::parse("/var/task/policy.toml").unwrap(),
            PolicySource::File("/var/task/policy.toml".into())
        );
        assert_eq!(
            PolicySource::parse("s3://my-bucket.example/config/policy.toml").unwrap(),
            PolicySource::S3 {
                bucket: "my-bucket.example".into(),
                key: "config/policy.toml".into()
            }
        );
        assert_eq!(
            PolicySource::parse("ssm:/ncp-share-approver/policy").unwrap(),
            PolicySource::Ssm {
                name: "/ncp-share-approver/policy".into()
            }
        );
        assert_eq!(
            PolicySource::parse("ssm:policy").unwrap(),
            PolicySource::Ssm {
                name: "policy".into()
            }
        );
        for s in [
            "s3://b-1/k",
            "ssm:/a/b",
            "policy.toml",
            "s3://bucket/dir/with space.toml",
        ] {
            assert_eq!(PolicySource::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_malformed_locations_naming_the_key() {
        for (value, expect) in [
            ("", "is empty"),
            ("s3:bucket/key", "s3://BUCKET/KEY"),
            ("s3://bucket", "names no object key"),
            ("s3://bucket/", "names no object key"),
            ("s3://bucket/dir/", "names no object key"),
            ("s3://Bad_Bucket/key", "not an S3 bucket name"),
            ("s3:///key", "not an S3 bucket name"),
            ("ssm:", "not an SSM parameter"),
            ("ssm://name", "one slash"),
            ("ssm:/has space", "not an SSM parameter"),
        ] {
            let e = PolicySource::parse(value).unwrap_err();
            assert!(e.starts_with("policy: "), "{value:?}: {e}");
            assert!(e.contains(expect), "{value:?}: {e}");
        }
    }

    #[tokio::test]
    async fn a_missing_file_is_named() {
        let source = PolicySource::parse("/nonexistent/policy.toml").unwrap();
        let e = source.load(None).await.unwrap_err().to_string();
        assert!(
            e.starts_with("/nonexistent/policy.toml: cannot read"),
            "{e}"
        );
    }
}
