//! Shared helpers: a spawned NCP simulator and raw signed requests like the NCP SDKs send.

#![allow(dead_code)] // Each test module uses a different part of the helpers.

use ncp_share_approver::ncp::signature::{
    ACCESS_KEY_HEADER, SIGNATURE_V1_HEADER, SIGNATURE_V2_HEADER, TIMESTAMP_HEADER, sign,
};
use ncp_share_approver::ncp::sim::{RunningSimulator, Simulator};
use serde_json::Value;

/// A demo simulator served on a free local port.
pub struct TestSim {
    /// The simulator, for state inspection and fault injection.
    pub sim: Simulator,
    /// The server; dropping it stops the server.
    pub running: RunningSimulator,
}

impl TestSim {
    /// A client of this simulator signing as the demo owner account.
    pub fn owner(&self) -> NcpCaller {
        self.caller(DEMO_ACCESS_KEY, DEMO_SECRET_KEY)
    }

    /// A client of this simulator signing with any key pair.
    pub fn caller(&self, access_key: &str, secret_key: &str) -> NcpCaller {
        NcpCaller {
            http: http_client(),
            base_url: self.running.base_url.clone(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }
}

/// Starts [`Simulator::demo`] on `127.0.0.1:0`.
pub async fn spawn_sim() -> TestSim {
    let sim = Simulator::demo();
    let running = sim.spawn("127.0.0.1:0").await.expect("bind a local port");
    TestSim { sim, running }
}

/// A plain HTTP client that never goes through a proxy from the environment.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build an HTTP client")
}

/// Milliseconds since the Unix epoch, as the gateway timestamp header wants.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

/// Go's `url.QueryEscape`: unreserved bytes stay, space becomes `+`, the rest `%XX`.
pub fn go_query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Joins pairs as `k=v&k=v` with Go's escaping, in the given order.
pub fn go_form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", go_query_escape(k), go_query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What came back from the simulator.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The raw body text.
    pub body: String,
}

impl Answer {
    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    /// The body's inner object, found the way the official Go SDK finds it:
    /// `body[IndexAny(Trim(body, "{"), "{") : len(body)-1]`.
    pub fn go_sdk_inner(&self) -> Value {
        let trimmed = self.body.trim_matches('{');
        let start = trimmed.find('{').expect("a second `{`");
        let slice = &self.body[start..self.body.len() - 1];
        serde_json::from_str(slice)
            .unwrap_or_else(|e| panic!("Go SDK slice is not JSON ({e}): {slice}"))
    }

    /// The inner object under `<operation>Response`, asserting the envelope.
    pub fn inner(&self, operation: &str) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let v = self.json();
        let inner = v[format!("{operation}Response")].clone();
        assert_eq!(inner["returnCode"], "0", "{}", self.body);
        assert_eq!(inner["returnMessage"], "success");
        inner
    }

    /// `responseError.returnCode` of a service error (HTTP 400).
    pub fn service_code(&self) -> String {
        assert_eq!(self.status, 400, "{}", self.body);
        self.json()["responseError"]["returnCode"]
            .as_str()
            .expect("returnCode is a string")
            .to_owned()
    }

    /// `error.errorCode` of a gateway error.
    pub fn gateway_code(&self) -> String {
        self.json()["error"]["errorCode"]
            .as_str()
            .expect("errorCode is a string")
            .to_owned()
    }
}

/// Sends raw signed requests to the simulator, shaped like the NCP SDKs' requests.
pub struct NcpCaller {
    /// The HTTP client.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The access key sent and signed.
    pub access_key: String,
    /// The secret key signed with.
    pub secret_key: String,
}

/// How to sign and send one raw request.
pub struct Raw<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The path and query put on the wire.
    pub path_and_query: &'a str,
    /// The path and query that is signed (normally the same).
    pub signed_path_and_query: &'a str,
    /// A form body, if any.
    pub form_body: Option<String>,
    /// The signature header name, or none to leave the signature out.
    pub signature_header: Option<&'a str>,
    /// The timestamp to send and sign.
    pub timestamp_ms: i64,
    /// Whether to send the timestamp header at all.
    pub send_timestamp: bool,
    /// Whether to send the access key header at all.
    pub send_access_key: bool,
}

impl<'a> Raw<'a> {
    /// A correctly signed request with the `-v2` header and no body.
    pub fn new(method: &'a str, path_and_query: &'a str) -> Self {
        Self {
            method,
            path_and_query,
            signed_path_and_query: path_and_query,
            form_body: None,
            signature_header: Some(SIGNATURE_V2_HEADER),
            timestamp_ms: now_ms(),
            send_timestamp: true,
            send_access_key: true,
        }
    }
}

impl NcpCaller {
    /// Sends one raw request exactly as described.
    pub async fn send(&self, raw: Raw<'_>) -> Answer {
        let ts = raw.timestamp_ms.to_string();
        let signature = sign(
            raw.method,
            raw.signed_path_and_query,
            &ts,
            &self.access_key,
            self.secret_key.as_bytes(),
        );
        let url = format!("{}{}", self.base_url, raw.path_and_query);
        let method: reqwest::Method = raw.method.parse().expect("a method");
        let mut req = self.http.request(method, &url);
        if raw.send_timestamp {
            req = req.header(TIMESTAMP_HEADER, &ts);
        }
        if raw.send_access_key {
            req = req.header(ACCESS_KEY_HEADER, &self.access_key);
        }
        if let Some(name) = raw.signature_header {
            req = req.header(name, &signature);
        }
        if let Some(body) = raw.form_body {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = req.send().await.expect("the simulator answers");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp.text().await.expect("a text body");
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Like the Go SDK: POST, `responseFormatType=json&...` form body, only the path signed,
    /// signature under `x-ncp-apigw-signature-v1`.
    pub async fn go_post(&self, operation: &str, params: &[(&str, &str)]) -> Answer {
        let path = format!("/vserver/v2/{operation}");
        let mut all = vec![("responseFormatType", "json")];
        all.extend_from_slice(params);
        let mut raw = Raw::new("POST", &path);
        raw.form_body = Some(go_form(&all));
        raw.signature_header = Some(SIGNATURE_V1_HEADER);
        self.send(raw).await
    }

    /// Like the Java SDK's GET variant: parameters form-encoded into the query (space as `+`),
    /// the raw encoded path and query signed, signature under `x-ncp-apigw-signature-v2`.
    pub async fn get(&self, operation: &str, params: &[(&str, &str)]) -> Answer {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().copied())
            .append_pair("responseFormatType", "json")
            .finish();
        let pq = format!("/vserver/v2/{operation}?{query}");
        self.send(Raw::new("GET", &pq)).await
    }
}

pub use ncp_share_approver::ncp::sim::{DEMO_ACCESS_KEY, DEMO_SECRET_KEY};

/// Attempts per call in tests: enough to see retries, short enough to stay fast.
pub const TEST_ATTEMPTS: u32 = 4;

/// Our signed client pointed at a fresh demo simulator.
pub struct TestNcp {
    /// The simulator, for inspection and faults.
    pub sim: Simulator,
    /// The client under test.
    pub client: ncp_share_approver::ncp::NcpClient,
    /// Keeps the server up while the test runs.
    pub running: Option<RunningSimulator>,
}

/// `[ncp]` configuration for tests: the given endpoint and short backoffs.
pub fn test_ncp_config(endpoint: &str) -> ncp_share_approver::config::NcpConfig {
    ncp_share_approver::config::NcpConfig {
        endpoint: Some(endpoint.to_string()),
        max_attempts: TEST_ATTEMPTS,
        backoff_base_ms: 5,
        backoff_max_ms: 20,
        retry_budget_ms: 10_000,
        connect_timeout_ms: 1_000,
        timeout_ms: 5_000,
        ..Default::default()
    }
}

/// Secrets holding the demo access key and the given secret key.
pub fn ncp_secrets(
    secret_key: &str,
) -> std::sync::Arc<dyn ncp_share_approver::secrets::SecretSource> {
    use ncp_share_approver::secrets::{SecretName, StaticSecrets};
    std::sync::Arc::new(
        StaticSecrets::default()
            .with(SecretName::NcpAccessKey, DEMO_ACCESS_KEY)
            .with(SecretName::NcpSecretKey, secret_key)
            .with(
                SecretName::LedgerSigningKey,
                super::fixtures::TEST_LEDGER_KEY,
            ),
    )
}

impl TestNcp {
    /// A demo simulator and a client with the right credentials.
    pub async fn start() -> Self {
        Self::start_with_secret(DEMO_SECRET_KEY).await
    }

    /// A demo simulator and a client signing with `secret_key`.
    pub async fn start_with_secret(secret_key: &str) -> Self {
        let sim = Simulator::demo();
        let running = sim.spawn("127.0.0.1:0").await.expect("bind a local port");
        let client = ncp_share_approver::ncp::NcpClient::new(
            &test_ncp_config(&running.base_url),
            ncp_secrets(secret_key),
        )
        .expect("build the client");
        Self {
            sim,
            client,
            running: Some(running),
        }
    }

    /// A client pointed at a local port where nothing listens.
    pub async fn unreachable() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = ncp_share_approver::ncp::NcpClient::new(
            &test_ncp_config(&format!("http://127.0.0.1:{port}")),
            ncp_secrets(DEMO_SECRET_KEY),
        )
        .unwrap();
        Self {
            sim: Simulator::demo(),
            client,
            running: None,
        }
    }

    /// The operations the simulator received, in order.
    pub fn operations(&self) -> Vec<String> {
        self.sim.calls().into_iter().map(|c| c.operation).collect()
    }
}

/// A created, unshared XEN image of the demo owner.
pub fn xen_image(no: &str, name: &str) -> ncp_share_approver::ncp::sim::SimImage {
    ncp_share_approver::ncp::sim::SimImage::new(
        no,
        name,
        ncp_share_approver::ncp::sim::DEMO_LOGIN_ID,
        ncp_share_approver::ncp::Hypervisor::Xen,
    )
}

/// Outbox pacing for tests: no per-channel wait, short backoff, quick polls.
pub fn test_pacing() -> ncp_share_approver::workflow::outbox::Pacing {
    ncp_share_approver::workflow::outbox::Pacing {
        slack_interval: std::time::Duration::ZERO,
        works_interval: std::time::Duration::ZERO,
        max_attempts: 5,
        backoff: ncp_share_approver::ncp::RetryPolicy {
            max_attempts: u32::MAX,
            base: std::time::Duration::from_millis(10),
            max_delay: std::time::Duration::from_millis(100),
            budget: std::time::Duration::MAX,
        },
        batch: 500,
        poll: std::time::Duration::from_millis(20),
        lane_lease: std::time::Duration::from_secs(30),
    }
}
