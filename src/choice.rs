//! Configuration values that are one of a few names (`store.kind`, `queue.kind`,
//! `lambda.function`, `slack.status_for`): each is an enum, parsed once where the configuration
//! is read, so no later `match` on a string can fall back silently. The macro lives here, at the
//! crate root and importing nothing, so that the adapters that own such an enum need not import
//! the configuration.

/// Why a name is not one of the choices: the key, the name given and every name accepted.
pub fn unknown(key: &str, given: &str, choices: &[&str]) -> String {
    format!(
        "{key}: unknown kind {given:?}; expected one of: {}",
        choices.join(", ")
    )
}

/// Declares an enum read from one of a fixed set of names, with `KEY` (the configuration key it
/// is read from), `CHOICES`, `as_str`, `Display` and a `TryFrom<String>` whose error names the
/// key and the choices. Add `#[derive(Default)]` and `#[default]` for a default.
macro_rules! named_choice {
    (
        $(#[$meta:meta])*
        pub enum $name:ident at $key:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The configuration key this is read from.
            pub const KEY: &'static str = $key;
            /// Every accepted name, in order.
            pub const CHOICES: &'static [&'static str] = &[$($text),+];

            /// The name as written in the configuration.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text ),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    $( $text => Ok(Self::$variant), )+
                    other => Err($crate::choice::unknown($key, other, Self::CHOICES)),
                }
            }
        }
    };
}
pub(crate) use named_choice;
