//! The hypervisor of an image, which decides how NCP can share it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The hypervisor of an image; it decides which API family can share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Hypervisor {
    /// XEN (server generations G1/G2): member server image APIs.
    Xen,
    /// KVM (G3): server image APIs; there is no `set`, only add and remove.
    Kvm,
}

impl fmt::Display for Hypervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hypervisor::Xen => "XEN",
            Hypervisor::Kvm => "KVM",
        })
    }
}

impl std::str::FromStr for Hypervisor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "XEN" => Ok(Self::Xen),
            "KVM" => Ok(Self::Kvm),
            other => Err(format!(
                "unknown hypervisor `{other}` (expected XEN or KVM)"
            )),
        }
    }
}
