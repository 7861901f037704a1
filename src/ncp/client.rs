//! The signed `reqwest` implementation of [`CloudApi`].
//!
//! Every call is a `GET` on `/vserver/v2/<operation>` whose path and query are built once, signed,
//! and sent as they are. Each attempt gets a fresh timestamp and signature. Credentials are read
//! from the [`SecretSource`] per call (sources cache), and re-read once after an authentication
//! failure so that a rotated key is picked up without a restart.

use super::settings::NcpConfig;
use super::signature::{self, ACCESS_KEY_HEADER, SIGNATURE_V2_HEADER, TIMESTAMP_HEADER};
use super::wire::{self, Envelope, MemberImageList, ServerImageList};
use super::{CloudApi, Hypervisor, ImageView, NcpError};
use crate::domain::RetryPolicy;
use crate::domain::ports::secrets::{self, ExposeSecret, SecretName, SecretSource};
use crate::domain::{ImageNo, LoginId};
use crate::telemetry::metrics::{self, NcpOperation, NcpResult};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// NCP answers that mean "no such image" for a number lookup (real: `1104037`).
const IMAGE_NOT_FOUND_CODES: &[&str] = &["1104037"];
/// Largest page NCP serves.
const PAGE_SIZE: usize = 1000;

/// A signed NCP vserver v2 client.
#[derive(Clone)]
pub struct NcpClient {
    http: reqwest::Client,
    base_url: String,
    region: String,
    secrets: Arc<dyn SecretSource>,
    retry: RetryPolicy,
}

impl NcpClient {
    /// Builds a client from the `[ncp]` configuration and a secret source.
    pub fn new(config: &NcpConfig, secrets: Arc<dyn SecretSource>) -> Result<Self, NcpError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout())
            .timeout(config.timeout())
            .user_agent(concat!("ncp-share-approver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NcpError::Transport {
                endpoint: config.base_url(),
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            base_url: config.base_url(),
            region: config.region.clone(),
            secrets,
            retry: RetryPolicy {
                max_attempts: config.max_attempts,
                base: Duration::from_millis(config.backoff_base_ms),
                max_delay: Duration::from_millis(config.backoff_max_ms),
                budget: Duration::from_millis(config.retry_budget_ms),
            },
        })
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The scheme and host this client calls.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn credentials(&self) -> Result<(String, secrets::SecretString), NcpError> {
        let missing = |e: secrets::SecretError| NcpError::Authentication {
            access_key: String::new(),
            code: "missing-credentials".into(),
            message: e.to_string(),
        };
        let ak = secrets::require(self.secrets.as_ref(), SecretName::NcpAccessKey)
            .await
            .map_err(missing)?;
        let sk = secrets::require(self.secrets.as_ref(), SecretName::NcpSecretKey)
            .await
            .map_err(missing)?;
        Ok((ak.expose_secret().to_string(), sk))
    }

    /// One logical call: signs, sends, retries transient failures, decodes.
    async fn call<T>(
        &self,
        operation: &str,
        params: &[(String, String)],
        image: Option<&ImageNo>,
    ) -> Result<T, NcpError>
    where
        T: for<'de> Deserialize<'de> + Envelope,
    {
        let path_and_query = wire::path_and_query(operation, &self.region, params);
        let url = format!("{}{}", self.base_url, path_and_query);
        let image_no = image.map(ImageNo::as_str).unwrap_or("-");
        let started = Instant::now();
        let mut refreshed_credentials = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (access_key, secret_key) = self.credentials().await?;
            let (result, retry_after) = self
                .attempt::<T>(operation, &url, &path_and_query, &access_key, &secret_key)
                .await;
            let err = match result {
                Ok(v) => {
                    tracing::debug!(operation, image_no, attempt, "ncp call succeeded");
                    return Ok(v);
                }
                Err(e) => e,
            };
            tracing::info!(operation, image_no, attempt, error = %err, "ncp call failed");
            if matches!(err, NcpError::Authentication { .. }) && !refreshed_credentials {
                // A rotated key: read the source again and try once more.
                refreshed_credentials = true;
                self.secrets.refresh().await;
                continue;
            }
            if !err.is_transient() {
                return Err(err);
            }
            let delay = self.retry.backoff(attempt, retry_after, &mut rand::rng());
            if !self.retry.may_retry(attempt, started.elapsed(), delay) {
                tracing::warn!(operation, image_no, attempt, "ncp retry budget exhausted");
                return Err(err);
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt<T>(
        &self,
        operation: &str,
        url: &str,
        path_and_query: &str,
        access_key: &str,
        secret_key: &secrets::SecretString,
    ) -> (Result<T, NcpError>, Option<Duration>)
    where
        T: for<'de> Deserialize<'de> + Envelope,
    {
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let signature = signature::sign(
            "GET",
            path_and_query,
            &timestamp,
            access_key,
            secret_key.expose_secret().as_bytes(),
        );
        let sent = self
            .http
            .get(url)
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(ACCESS_KEY_HEADER, access_key)
            .header(SIGNATURE_V2_HEADER, signature)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return (Err(self.transport_error(&e)), None),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        tracing::debug!(operation, status, "ncp answered");
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return (Err(self.transport_error(&e)), retry_after),
        };
        (
            wire::decode(operation, status, &body, access_key),
            retry_after,
        )
    }

    fn transport_error(&self, e: &reqwest::Error) -> NcpError {
        // reqwest's error text includes the URL and so the query; say what kind of failure it was instead.
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_body() || e.is_decode() {
            "the answer was cut off"
        } else {
            "request failed"
        };
        let cause = std::error::Error::source(e)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        NcpError::Transport {
            endpoint: self.base_url.clone(),
            detail: format!("{kind}{cause}"),
        }
    }

    async fn member_detail(&self, no: &ImageNo) -> Result<Option<ImageView>, NcpError> {
        let op = "getMemberServerImageInstanceDetail";
        let params = [("memberServerImageInstanceNo".to_string(), no.to_string())];
        let list: MemberImageList = self.call(op, &params, Some(no)).await?;
        Ok(list.into_views(op)?.into_iter().find(|v| &v.no == no))
    }

    async fn server_detail(&self, no: &ImageNo) -> Result<Option<ImageView>, NcpError> {
        let op = "getServerImageDetail";
        let params = [("serverImageNo".to_string(), no.to_string())];
        let list: ServerImageList = self.call(op, &params, Some(no)).await?;
        Ok(list.into_views(op)?.into_iter().find(|v| &v.no == no))
    }

    async fn change(
        &self,
        image: &ImageView,
        verb: &str,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        let mut params = Vec::with_capacity(targets.len() + 1);
        let (op, list) = match image.hypervisor {
            Hypervisor::Xen => {
                params.push((
                    "memberServerImageInstanceNo".to_string(),
                    image.no.to_string(),
                ));
                let op = format!("{verb}MemberServerImageSharingPermission");
                wire::push_list(
                    &mut params,
                    "targetLoginIdList",
                    targets.iter().map(LoginId::as_str),
                );
                let list: MemberImageList = self.call(&op, &params, Some(&image.no)).await?;
                (op.clone(), list.into_views(&op)?)
            }
            Hypervisor::Kvm => {
                params.push(("serverImageNo".to_string(), image.no.to_string()));
                let op = format!("{verb}ServerImageSharingPermission");
                wire::push_list(
                    &mut params,
                    "targetLoginIdList",
                    targets.iter().map(LoginId::as_str),
                );
                let list: ServerImageList = self.call(&op, &params, Some(&image.no)).await?;
                (op.clone(), list.into_views(&op)?)
            }
        };
        match list.into_iter().find(|v| v.no == image.no) {
            Some(v) => Ok(v),
            // Some answers carry no image; read it back so callers always get the new state.
            None => self.image_unmetered(&image.no).await.map_err(|e| match e {
                NcpError::ImageNotFound(_) => NcpError::Decode {
                    operation: op,
                    detail: format!("image {} vanished after the change", image.no),
                },
                other => other,
            }),
        }
    }
}

fn is_not_found_or_unsupported(e: &NcpError) -> bool {
    // The member-image APIs refuse KVM images with a service error whose code NCP does not
    // document, so any service error on the member lookup sends us to the server-image APIs.
    matches!(e, NcpError::Service { .. })
}

// The operations themselves; the `CloudApi` impl below wraps each in its metrics.
impl NcpClient {
    async fn image_unmetered(&self, no: &ImageNo) -> Result<ImageView, NcpError> {
        match self.member_detail(no).await {
            Ok(Some(view)) => return Ok(view),
            Ok(None) => {}
            Err(e) if is_not_found_or_unsupported(&e) => {}
            Err(e) => return Err(e),
        }
        match self.server_detail(no).await {
            Ok(Some(view)) => Ok(view),
            Ok(None) => Err(NcpError::ImageNotFound(no.clone())),
            Err(NcpError::Service { code, .. })
                if IMAGE_NOT_FOUND_CODES.contains(&code.as_str()) =>
            {
                Err(NcpError::ImageNotFound(no.clone()))
            }
            Err(e) => Err(e),
        }
    }

    async fn images_unmetered(&self) -> Result<Vec<ImageView>, NcpError> {
        let mut out = Vec::new();
        let op = "getMemberServerImageInstanceList";
        for page in 1.. {
            let params = [
                ("pageNo".to_string(), page.to_string()),
                ("pageSize".to_string(), PAGE_SIZE.to_string()),
            ];
            let list: MemberImageList = self.call(op, &params, None).await?;
            let total = list.total_rows;
            let views = list.into_views(op)?;
            let got = views.len();
            out.extend(views);
            if got < PAGE_SIZE || total.is_some_and(|t| out.len() as u64 >= t) {
                break;
            }
        }
        let op = "getServerImageList";
        let mut params = Vec::new();
        wire::push_list(&mut params, "hypervisorTypeCodeList", ["KVM"]);
        let list: ServerImageList = self.call(op, &params, None).await?;
        for view in list.into_views(op)? {
            if view.hypervisor == Hypervisor::Kvm && !out.iter().any(|v| v.no == view.no) {
                out.push(view);
            }
        }
        Ok(out)
    }

    async fn add_sharing_unmetered(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        self.change(image, "add", targets).await
    }

    async fn remove_sharing_unmetered(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        self.change(image, "remove", targets).await
    }

    async fn set_sharing_unmetered(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        match image.hypervisor {
            Hypervisor::Xen => self.change(image, "set", targets).await,
            Hypervisor::Kvm => {
                // KVM has no `set`: add what is missing, then remove what is extra, from a fresh read.
                let current = self.image_unmetered(&image.no).await?;
                let missing: Vec<LoginId> = targets
                    .iter()
                    .filter(|t| !current.shared_with.iter().any(|s| s == t.as_str()))
                    .cloned()
                    .collect();
                let extra: Vec<LoginId> = current
                    .shared_with
                    .iter()
                    .filter(|s| !targets.iter().any(|t| t.as_str() == s.as_str()))
                    .filter_map(|s| LoginId::parse(s).ok())
                    .collect();
                let mut view = current;
                if !missing.is_empty() {
                    view = self.change(&view, "add", &missing).await?;
                }
                if !extra.is_empty() {
                    view = self.change(&view, "remove", &extra).await?;
                }
                Ok(view)
            }
        }
    }
}

/// How an operation ended, as the metrics say it.
fn ncp_result<T>(result: &Result<T, NcpError>) -> NcpResult {
    match result {
        Ok(_) => NcpResult::Ok,
        Err(NcpError::ImageNotFound(_)) => NcpResult::NotFound,
        Err(NcpError::Authentication { .. }) => NcpResult::AuthFailed,
        Err(NcpError::Transport { .. }) => NcpResult::Unreachable,
        Err(_) => NcpResult::Error,
    }
}

/// Runs one operation, recording its result and how long it took (retries included).
async fn metered<T>(
    operation: NcpOperation,
    call: impl std::future::Future<Output = Result<T, NcpError>>,
) -> Result<T, NcpError> {
    let started = std::time::Instant::now();
    let result = call.await;
    metrics::ncp_call(operation, ncp_result(&result), started.elapsed());
    result
}

#[async_trait::async_trait]
impl CloudApi for NcpClient {
    async fn image(&self, no: &ImageNo) -> Result<ImageView, NcpError> {
        metered(NcpOperation::Image, self.image_unmetered(no)).await
    }

    async fn images(&self) -> Result<Vec<ImageView>, NcpError> {
        metered(NcpOperation::Images, self.images_unmetered()).await
    }

    async fn add_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        metered(
            NcpOperation::AddSharing,
            self.add_sharing_unmetered(image, targets),
        )
        .await
    }

    async fn remove_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        metered(
            NcpOperation::RemoveSharing,
            self.remove_sharing_unmetered(image, targets),
        )
        .await
    }

    async fn set_sharing(
        &self,
        image: &ImageView,
        targets: &[LoginId],
    ) -> Result<ImageView, NcpError> {
        metered(
            NcpOperation::SetSharing,
            self.set_sharing_unmetered(image, targets),
        )
        .await
    }
}
