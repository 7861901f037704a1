//! The simulator's starting state: accounts, images and faults, read from a TOML seed file.
//!
//! Parsing refuses unknown keys and every validation error names the key it is about
//! (`images[2].owner`), so a typo in a seed file is found at start-up, not in a puzzling test.

use super::{Faults, SimImage};
use crate::ncp::Hypervisor;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The secret key of the demo account; it is public on purpose and only works against the simulator.
pub const DEMO_SECRET_KEY: &str = "ncp-sim-demo-secret-key-000000000000001";
/// The access key of the demo account `owner@corp.example`.
pub const DEMO_ACCESS_KEY: &str = "NCPSIMACCESSKEY00001";
/// The login ID of the demo account that owns the golden images.
pub const DEMO_LOGIN_ID: &str = "owner@corp.example";
/// The secret key of the second demo account `other@corp.example`.
pub const DEMO_OTHER_SECRET_KEY: &str = "ncp-sim-demo-secret-key-000000000000002";
/// The access key of the second demo account `other@corp.example`.
pub const DEMO_OTHER_ACCESS_KEY: &str = "NCPSIMACCESSKEY00002";
/// The login ID of the second demo account, which owns one image of its own.
pub const DEMO_OTHER_LOGIN_ID: &str = "other@corp.example";

/// The statuses a member server image can have.
pub const IMAGE_STATUSES: [&str; 3] = ["INIT", "CREAT", "CREFL"];

/// One NCP account the simulator knows: who it is and the API key pair it signs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAccount {
    /// The login ID (an e-mail address), which is also what others share images with.
    pub login_id: String,
    /// The access key ID sent in `x-ncp-iam-access-key`.
    pub access_key: String,
    /// The secret key the signature is made with; never logged.
    pub secret_key: SecretString,
}

/// One image as written in a seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedImage {
    /// The image number: digits.
    pub no: String,
    /// The image name.
    pub name: String,
    /// The login ID of the owning account; it must be one of the seed's accounts.
    pub owner: String,
    /// `XEN` (member image APIs) or `KVM` (server image APIs).
    pub hypervisor: Hypervisor,
    /// `INIT`, `CREAT` or `CREFL`; `CREAT` when left out.
    #[serde(default = "default_status")]
    pub status: String,
    /// Login IDs the image is already shared with, in order.
    #[serde(default)]
    pub shared_with: Vec<String>,
}

fn default_status() -> String {
    "CREAT".to_owned()
}

/// The `[faults]` table as written in a seed file.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SeedFaults {
    latency_ms: u64,
    rate_429: f64,
    rate_503: f64,
}

impl From<SeedFaults> for Faults {
    fn from(f: SeedFaults) -> Self {
        Faults {
            latency: Duration::from_millis(f.latency_ms),
            rate_429: f.rate_429,
            rate_503: f.rate_503,
        }
    }
}

/// The whole starting state of a simulator.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// The accounts that can call the simulator.
    #[serde(default)]
    pub accounts: Vec<SeedAccount>,
    /// The images, each owned by one of the accounts.
    #[serde(default)]
    pub images: Vec<SeedImage>,
    /// Injected latency and failure rates; none by default.
    #[serde(default, deserialize_with = "faults_from_table")]
    pub faults: Faults,
}

fn faults_from_table<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Faults, D::Error> {
    SeedFaults::deserialize(d).map(Faults::from)
}

/// Why a seed could not be used; the text names the file or the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The seed file could not be read.
    #[error("cannot read the simulator seed file {path}: {source}")]
    Io {
        /// The path that was given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("simulator seed is not valid: {0}")]
    Parse(String),
    /// The file parsed but a value is not acceptable.
    #[error("simulator seed key `{key}`: {message}")]
    Invalid {
        /// The key at fault, e.g. `images[2].owner`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> SeedError {
    SeedError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl Seed {
    /// Parses and validates a seed from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, SeedError> {
        let seed: Seed = toml::from_str(text).map_err(|e| SeedError::Parse(e.to_string()))?;
        seed.validate()?;
        Ok(seed)
    }

    /// Reads, parses and validates a seed file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SeedError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// The demo seed, the same as `examples/ncp-sim-seed.toml`.
    pub fn demo() -> Self {
        let account = |login_id: &str, access_key: &str, secret: &str| SeedAccount {
            login_id: login_id.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: SecretString::from(secret),
        };
        let image = |no: &str, name: &str, owner: &str, hv: Hypervisor, status: &str| SeedImage {
            no: no.to_owned(),
            name: name.to_owned(),
            owner: owner.to_owned(),
            hypervisor: hv,
            status: status.to_owned(),
            shared_with: Vec::new(),
        };
        let (me, other) = (DEMO_LOGIN_ID, DEMO_OTHER_LOGIN_ID);
        Seed {
            accounts: vec![
                account(me, DEMO_ACCESS_KEY, DEMO_SECRET_KEY),
                account(other, DEMO_OTHER_ACCESS_KEY, DEMO_OTHER_SECRET_KEY),
            ],
            images: vec![
                image("1234567", "golden-web", me, Hypervisor::Xen, "CREAT"),
                image("2345678", "golden-db", me, Hypervisor::Xen, "CREAT"),
                image("3456789", "sandbox-ubuntu", me, Hypervisor::Kvm, "CREAT"),
                image("4567890", "golden-kvm-app", me, Hypervisor::Kvm, "CREAT"),
                image("5678901", "golden-wip", me, Hypervisor::Xen, "INIT"),
                image(
                    "9999999",
                    "other-team-image",
                    other,
                    Hypervisor::Xen,
                    "CREAT",
                ),
            ],
            faults: Faults::default(),
        }
    }

    /// Checks what serde cannot: references between tables, uniqueness and value ranges.
    pub fn validate(&self) -> Result<(), SeedError> {
        let mut logins = HashSet::new();
        let mut keys = HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if let Err(why) = check_login_id(&a.login_id) {
                return Err(invalid(format!("accounts[{i}].login_id"), why));
            }
            if !logins.insert(a.login_id.as_str()) {
                return Err(invalid(
                    format!("accounts[{i}].login_id"),
                    format!("login ID `{}` appears twice", a.login_id),
                ));
            }
            if a.access_key.is_empty() {
                return Err(invalid(format!("accounts[{i}].access_key"), "is empty"));
            }
            if !keys.insert(a.access_key.as_str()) {
                return Err(invalid(
                    format!("accounts[{i}].access_key"),
                    format!("access key `{}` appears twice", a.access_key),
                ));
            }
            if secrecy::ExposeSecret::expose_secret(&a.secret_key).is_empty() {
                return Err(invalid(format!("accounts[{i}].secret_key"), "is empty"));
            }
        }
        let mut numbers = HashSet::new();
        for (i, img) in self.images.iter().enumerate() {
            if !is_image_no(&img.no) {
                return Err(invalid(
                    format!("images[{i}].no"),
                    format!("`{}` is not an image number (1 to 19 digits)", img.no),
                ));
            }
            if !numbers.insert(img.no.as_str()) {
                return Err(invalid(
                    format!("images[{i}].no"),
                    format!("image number {} appears twice", img.no),
                ));
            }
            if img.name.is_empty() {
                return Err(invalid(format!("images[{i}].name"), "is empty"));
            }
            if !logins.contains(img.owner.as_str()) {
                return Err(invalid(
                    format!("images[{i}].owner"),
                    format!("`{}` is not one of the accounts' login IDs", img.owner),
                ));
            }
            if !IMAGE_STATUSES.contains(&img.status.as_str()) {
                return Err(invalid(
                    format!("images[{i}].status"),
                    format!("`{}` is not one of INIT, CREAT, CREFL", img.status),
                ));
            }
            let mut seen = HashSet::new();
            for (j, target) in img.shared_with.iter().enumerate() {
                let key = format!("images[{i}].shared_with[{j}]");
                check_login_id(target).map_err(|why| invalid(&key, why))?;
                if !seen.insert(target.as_str()) {
                    return Err(invalid(key, format!("`{target}` appears twice")));
                }
            }
        }
        let f = &self.faults;
        for (key, rate) in [
            ("faults.rate_429", f.rate_429),
            ("faults.rate_503", f.rate_503),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(key, format!("{rate} is not between 0.0 and 1.0")));
            }
        }
        if f.rate_429 + f.rate_503 > 1.0 {
            return Err(invalid("faults", "rate_429 + rate_503 is more than 1.0"));
        }
        Ok(())
    }

    /// The images as the simulator keeps them.
    pub(crate) fn sim_images(&self) -> Vec<SimImage> {
        self.images
            .iter()
            .map(|i| SimImage {
                shared_with: i.shared_with.clone(),
                status: i.status.clone(),
                ..SimImage::new(&i.no, &i.name, &i.owner, i.hypervisor)
            })
            .collect()
    }
}

/// True for 1 to 19 ASCII digits, the shape of every NCP instance number.
pub(crate) fn is_image_no(s: &str) -> bool {
    (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The simulator's loose login-ID check: NCP publishes no rules, so only what can never be an
/// ID is refused, and characters such as `+ & = %`, spaces and non-ASCII letters are kept.
pub(crate) fn check_login_id(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("a login ID cannot be empty".into());
    }
    if s.chars().count() > crate::domain::MAX_LOGIN_ID_CHARS {
        return Err(format!(
            "a login ID cannot be longer than {} characters",
            crate::domain::MAX_LOGIN_ID_CHARS
        ));
    }
    if s.chars().any(char::is_control) {
        return Err("a login ID cannot contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[accounts]]
login_id = "owner@corp.example"
access_key = "AK1"
secret_key = "SK1"

[[images]]
no = "1234567"
name = "golden-web"
owner = "owner@corp.example"
hypervisor = "XEN"

[[images]]
no = "3456789"
name = "kvm"
owner = "owner@corp.example"
hypervisor = "KVM"
status = "INIT"
shared_with = ["a@x.example"]

[faults]
latency_ms = 5
rate_429 = 0.25
"#;

    fn error_of(text: &str) -> String {
        Seed::from_toml_str(text).unwrap_err().to_string()
    }

    #[test]
    fn a_good_seed_parses_with_defaults_filled_in() {
        let seed = Seed::from_toml_str(GOOD).unwrap();
        assert_eq!(seed.accounts.len(), 1);
        assert_eq!(seed.images[0].status, "CREAT");
        assert!(seed.images[0].shared_with.is_empty());
        assert_eq!(seed.images[1].hypervisor, Hypervisor::Kvm);
        assert_eq!(seed.images[1].shared_with, ["a@x.example"]);
        assert_eq!(seed.faults.latency, Duration::from_millis(5));
        assert_eq!(seed.faults.rate_429, 0.25);
        assert_eq!(seed.faults.rate_503, 0.0);
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let e = error_of(&GOOD.replace("hypervisor = \"XEN\"", "hypervisor = \"XEN\"\ncolour = 1"));
        assert!(e.contains("colour"), "{e}");
        let e = error_of(&format!("{GOOD}\nlatency = 3\n"));
        assert!(e.contains("latency"), "{e}");
    }

    #[test]
    fn an_unknown_owner_is_refused_naming_the_key() {
        let e = error_of(&GOOD.replace(
            "owner = \"owner@corp.example\"\nhypervisor = \"KVM\"",
            "owner = \"nobody@corp.example\"\nhypervisor = \"KVM\"",
        ));
        assert!(e.contains("images[1].owner"), "{e}");
        assert!(e.contains("nobody@corp.example"), "{e}");
    }

    #[test]
    fn a_duplicate_image_number_is_refused() {
        let e = error_of(&GOOD.replace("no = \"3456789\"", "no = \"1234567\""));
        assert!(e.contains("images[1].no") && e.contains("twice"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let cases = [
            (
                GOOD.replace("no = \"3456789\"", "no = \"34a\""),
                "images[1].no",
            ),
            (
                GOOD.replace("status = \"INIT\"", "status = \"DONE\""),
                "images[1].status",
            ),
            (
                GOOD.replace("rate_429 = 0.25", "rate_429 = 1.5"),
                "faults.rate_429",
            ),
            (
                GOOD.replace("[\"a@x.example\"]", "[\"a@x.example\", \"a@x.example\"]"),
                "images[1].shared_with[1]",
            ),
            (
                GOOD.replace("hypervisor = \"KVM\"", "hypervisor = \"RHV\""),
                "RHV",
            ),
            (
                format!(
                    "{GOOD}\n[[accounts]]\nlogin_id = \"b@corp.example\"\naccess_key = \"AK1\"\nsecret_key = \"x\"\n"
                ),
                "accounts[1].access_key",
            ),
        ];
        for (text, key) in cases {
            let e = error_of(&text);
            assert!(e.contains(key), "expected `{key}` in: {e}");
        }
    }

    #[test]
    fn errors_never_show_a_secret_key() {
        let text = GOOD.replace("rate_429 = 0.25", "rate_429 = 2.0");
        let e = error_of(&text);
        assert!(!e.contains("SK1"), "{e}");
        let debug = format!("{:?}", Seed::from_toml_str(GOOD).unwrap());
        assert!(!debug.contains("SK1"), "{debug}");
    }

    #[test]
    fn the_demo_seed_is_valid_and_equals_the_example_file() {
        let demo = Seed::demo();
        demo.validate().unwrap();
        let file = Seed::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/ncp-sim-seed.toml"
        ))
        .unwrap();
        let key = |s: &Seed| {
            let accounts: Vec<_> = s
                .accounts
                .iter()
                .map(|a| {
                    let secret = secrecy::ExposeSecret::expose_secret(&a.secret_key).to_owned();
                    (a.login_id.clone(), a.access_key.clone(), secret)
                })
                .collect();
            let images: Vec<_> = s
                .images
                .iter()
                .map(|i| {
                    let hv = i.hypervisor;
                    (
                        i.no.clone(),
                        i.name.clone(),
                        i.owner.clone(),
                        hv,
                        i.status.clone(),
                        i.shared_with.clone(),
                    )
                })
                .collect();
            (accounts, images, format!("{:?}", s.faults))
        };
        assert_eq!(key(&demo), key(&file));
    }
}
