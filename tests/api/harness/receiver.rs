//! `Receiver`: a fake receiver of signed webhook callbacks that records every call and can be
//! told to fail the next few.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fake receiver of callbacks; answers 503 to the first `fail_first` calls.
#[derive(Clone, Default)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    /// Starts it.
    pub async fn start() -> Self {
        let mut r = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        r.base = format!("http://{}", listener.local_addr().unwrap());
        let state = r.clone();
        let router = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let fail = state
                        .fail_first
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if fail { 503 } else { 200 };
                    state.received.lock().unwrap().push((headers, body, status));
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        r
    }

    /// Answers the next `n` calls with 503.
    pub fn fail_next(&self, n: usize) {
        self.fail_first.store(n, Ordering::SeqCst);
    }

    /// Every call: headers, body and the status answered.
    pub fn calls(&self) -> Vec<(HeaderMap, Bytes, u16)> {
        self.received.lock().unwrap().clone()
    }

    /// The bodies of the calls answered 200, as JSON.
    pub fn delivered(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.2 == 200)
            .map(|c| serde_json::from_slice(&c.1).unwrap())
            .collect()
    }

    /// Waits until a delivered callback satisfies `f`.
    pub async fn wait_for(&self, f: impl Fn(&Value) -> bool) -> bool {
        for _ in 0..600 {
            if self.delivered().iter().any(&f) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }
}
