//! Trace ids: one id for everything an incoming request causes, whichever process does it.
//!
//! A delivery's trace is taken from its W3C `traceparent` header when it is valid
//! ([`TraceParent::parse`]), else (on Lambda) from the `Root` of API Gateway's `X-Amzn-Trace-Id`
//! ([`TraceId::from_amzn_trace_id`]), else it is new ([`TraceId::random`]). A share request keeps
//! the trace of the delivery that created it; its outbox entries and queue messages carry it, so
//! the worker's and the dispatcher's lines name the same trace as the command that asked.
//!
//! The id is W3C's: 32 lowercase hex digits, not all zero (the same 128 bits X-Ray writes as
//! `1-<8 hex>-<24 hex>`). It is a correlation id chosen by whoever calls: never a secret, never
//! trusted for anything but finding log lines and spans.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A W3C trace id: 32 lowercase hex digits, not all zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TraceId(String);

impl TraceId {
    /// A trace id if `s` is one (exactly 32 lowercase hex digits, not all zero).
    pub fn parse(s: &str) -> Option<Self> {
        (is_lower_hex(s, 32) && !all_zero(s)).then(|| Self(s.to_owned()))
    }

    /// A new random trace id.
    pub fn random() -> Self {
        // 128 random bits are zero with probability 2^-128; a zero id would be invalid, so the
        // lowest bit is set then.
        let n = rand::random::<u128>().max(1);
        Self(format!("{n:032x}"))
    }

    /// The trace of an `X-Amzn-Trace-Id` header (API Gateway's and the load balancers'):
    /// `Root=1-<8 hex time>-<24 hex>` among `;`-separated fields, read as the 32 digits W3C
    /// uses (OpenTelemetry's X-Ray propagator reads it the same way). None when there is no
    /// valid `Root`.
    pub fn from_amzn_trace_id(header: &str) -> Option<Self> {
        let root = header
            .split(';')
            .filter_map(|field| field.trim().split_once('='))
            .find(|(key, _)| key.eq_ignore_ascii_case("root"))?
            .1;
        let mut parts = root.split('-');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("1"), Some(time), Some(rest), None)
                if is_lower_hex(&time.to_ascii_lowercase(), 8)
                    && is_lower_hex(&rest.to_ascii_lowercase(), 24) =>
            {
                Self::parse(&format!("{time}{rest}").to_ascii_lowercase())
            }
            _ => None,
        }
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 16 bytes the digits spell (what OpenTelemetry's wire formats carry).
    pub fn to_bytes(&self) -> [u8; 16] {
        let n = u128::from_str_radix(&self.0, 16).unwrap_or(1);
        n.to_be_bytes()
    }

    /// A `traceparent` header naming this trace, with `span_id` as the caller's span and the
    /// sampled flag set: what an outgoing call carries so its receiver can join the trace.
    pub fn traceparent(&self, span_id: &SpanId) -> String {
        format!("00-{}-{}-01", self.0, span_id.0)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TraceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom("not a W3C trace id"))
    }
}

/// Reads an optional trace id that may be missing or malformed as none: a stored record or a
/// queue message must never fail to load over the id that only correlates its log lines.
/// Use with `#[serde(default, deserialize_with = "crate::domain::trace::lenient")]`.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TraceId>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(TraceId::parse))
}

/// A W3C span id: 16 lowercase hex digits, not all zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpanId(String);

impl SpanId {
    /// A span id if `s` is one.
    pub fn parse(s: &str) -> Option<Self> {
        (is_lower_hex(s, 16) && !all_zero(s)).then(|| Self(s.to_owned()))
    }

    /// A new random span id.
    pub fn random() -> Self {
        Self(format!("{:016x}", rand::random::<u64>().max(1)))
    }

    /// The 16 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid W3C `traceparent` header: the trace and the caller's span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace the caller is in.
    pub trace_id: TraceId,
    /// The caller's span (our span's parent).
    pub parent_id: SpanId,
}

impl TraceParent {
    /// Parses a `traceparent` header by the W3C Trace Context rules: `version-trace-parent-flags`
    /// in lowercase hex; version `ff` is invalid; version `00` is exactly 55 characters, a later
    /// version at least that, its extra fields after a `-` (read as version 00); an all-zero
    /// trace or parent id is invalid. None for anything else (a new trace is started then).
    pub fn parse(header: &str) -> Option<Self> {
        let h = header.trim_matches([' ', '\t']);
        if h.len() < 55 || !h.is_ascii() {
            return None;
        }
        let version = &h[..2];
        if !is_lower_hex(version, 2) || version == "ff" {
            return None;
        }
        if version == "00" && h.len() != 55 {
            return None;
        }
        if h.len() > 55 && h.as_bytes()[55] != b'-' {
            return None;
        }
        let b = h.as_bytes();
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let flags = &h[53..55];
        if !is_lower_hex(flags, 2) {
            return None;
        }
        Some(Self {
            trace_id: TraceId::parse(&h[3..35])?,
            parent_id: SpanId::parse(&h[36..52])?,
        })
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn all_zero(s: &str) -> bool {
    s.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn trace_ids_are_32_lowercase_hex_digits_not_all_zero() {
        assert_eq!(TraceId::parse(TRACE).unwrap().as_str(), TRACE);
        for bad in [
            "",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f3577b34da6a3ce929d0e0e47360",
            "4bf92f3577b34da6a3ce929d0e0e473g",
            "00000000000000000000000000000000",
        ] {
            assert_eq!(TraceId::parse(bad), None, "{bad:?}");
        }
        let a = TraceId::random();
        assert!(TraceId::parse(a.as_str()).is_some());
        assert_ne!(a, TraceId::random());
        assert_eq!(
            TraceId::parse(TRACE).unwrap().to_bytes(),
            hex_bytes(TRACE).as_slice()
        );
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn traceparent_follows_the_w3c_rules() {
        let ok = format!("00-{TRACE}-00f067aa0ba902b7-01");
        let p = TraceParent::parse(&ok).unwrap();
        assert_eq!(p.trace_id.as_str(), TRACE);
        assert_eq!(p.parent_id.as_str(), "00f067aa0ba902b7");
        // A later version may add fields after a dash; it is read as version 00.
        let later = format!("cc-{TRACE}-00f067aa0ba902b7-09-what-comes-next");
        assert_eq!(TraceParent::parse(&later).unwrap().trace_id.as_str(), TRACE);
        for bad in [
            format!("ff-{TRACE}-00f067aa0ba902b7-01"),
            format!("00-{TRACE}-00f067aa0ba902b7-01-extra"),
            format!("cc-{TRACE}-00f067aa0ba902b7-01extra"),
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            format!("00-{TRACE}-0000000000000000-01"),
            format!("00-{}-00f067aa0ba902b7-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-00f067aa0ba902b7-0g"),
            format!("00_{TRACE}-00f067aa0ba902b7-01"),
            format!("0-{TRACE}-00f067aa0ba902b7-01"),
            "00-not-a-header".to_string(),
            String::new(),
        ] {
            assert_eq!(TraceParent::parse(&bad), None, "{bad:?}");
        }
        let span = SpanId::parse("00f067aa0ba902b7").unwrap();
        assert_eq!(
            TraceId::parse(TRACE).unwrap().traceparent(&span),
            format!("00-{TRACE}-00f067aa0ba902b7-01")
        );
        assert!(SpanId::parse(SpanId::random().as_str()).is_some());
    }

    #[test]
    fn amzn_trace_id_root_is_the_w3c_trace() {
        let h = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(
            TraceId::from_amzn_trace_id(h).unwrap().as_str(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(
            TraceId::from_amzn_trace_id(
                "Self=1-67891234-12456789abcdef012345678;Root=1-5759E988-BD862E3FE1BE46A994272793"
            )
            .unwrap()
            .as_str(),
            "5759e988bd862e3fe1be46a994272793"
        );
        for bad in [
            "",
            "Root=",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e988-bd862e3fe1be46a994272793-x",
            "Root=1-00000000-000000000000000000000000",
            "Parent=53995c3f42cd8ad8",
        ] {
            assert_eq!(TraceId::from_amzn_trace_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_missing_or_malformed_stored_id_reads_as_none() {
        #[derive(Deserialize)]
        struct Stored {
            #[serde(default, deserialize_with = "lenient")]
            trace_id: Option<TraceId>,
        }
        let read = |s: &str| serde_json::from_str::<Stored>(s).unwrap().trace_id;
        assert_eq!(read("{}"), None);
        assert_eq!(read(r#"{"trace_id": null}"#), None);
        assert_eq!(read(r#"{"trace_id": "nope"}"#), None);
        assert_eq!(read(r#"{"trace_id": 7}"#), None);
        assert_eq!(
            read(&format!(r#"{{"trace_id": "{TRACE}"}}"#)),
            TraceId::parse(TRACE)
        );
        assert!(serde_json::from_str::<TraceId>("\"nope\"").is_err());
        assert_eq!(
            serde_json::to_string(&TraceId::parse(TRACE).unwrap()).unwrap(),
            format!("\"{TRACE}\"")
        );
    }
}
