//! Legal variations: behaviours that correct, real deployments show and that the protocol
//! leaves open (the opposite of fault modes). A conformance runner must pass mock-hub in every
//! variation and in all of them at once. All are off by default.

use serde::Deserialize;

macro_rules! variations {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal ),* $(,)?) => {
        /// A behaviour the protocol allows and real servers show.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
        pub enum Variation {
            $( $(#[doc = $doc])* #[serde(rename = $name)] $variant, )*
        }

        impl Variation {
            /// Every variation.
            pub const ALL: &'static [Variation] = &[$(Variation::$variant),*];

            /// The name used on the command line and in config files.
            pub fn name(&self) -> &'static str {
                match self { $(Variation::$variant => $name,)* }
            }

            /// What it changes.
            pub fn description(&self) -> &'static str {
                match self { $(Variation::$variant => concat!($($doc),*).trim_start(),)* }
            }

            /// The variation with this name.
            pub fn from_name(name: &str) -> Option<Variation> {
                match name { $($name => Some(Variation::$variant),)* _ => None }
            }
        }
    };
}

variations! {
    /// Every message sent through the lifetime manager (all, others, connections, groups,
    /// users) reaches its recipients, the caller included, only after the sending invocation's
    /// Completion was queued, as through a backplane (Redis) that sends it out and back.
    CompletionFirst = "completion-first",
    /// Every non-2xx HTTP answer (also to a WebSocket upgrade) uses chunked transfer coding.
    /// `No Connection with that ID` is chunked anyway, as ASP.NET Core sends it; the variation
    /// chunks the other error answers, which mock-hub otherwise sends with a Content-Length.
    ChunkedErrors = "chunked-errors",
    /// Server-to-client invocation ids (client results) are random strings, as behind Redis.
    RandomInvocationIds = "random-invocation-ids",
    /// `EnableDetailedErrors`: the same as `--detailed-errors`.
    DetailedErrors = "detailed-errors",
}

impl std::fmt::Display for Variation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Variation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variation::from_name(s)
            .ok_or_else(|| format!("unknown variation '{s}' (see `mock-hub --list-variations`)"))
    }
}

/// The enabled variations as a bit set (cheap to copy and test).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VariationSet(u32);

impl VariationSet {
    /// The set of `variations`.
    pub(crate) fn new(variations: &[Variation]) -> Self {
        let mut bits = 0u32;
        for v in variations {
            if let Some(i) = Variation::ALL.iter().position(|x| x == v) {
                bits |= 1 << i;
            }
        }
        Self(bits)
    }

    /// Whether `v` is enabled.
    pub(crate) fn has(&self, v: Variation) -> bool {
        Variation::ALL
            .iter()
            .position(|x| *x == v)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_hold_exactly_theirs() {
        for v in Variation::ALL {
            assert_eq!(v.name().parse::<Variation>(), Ok(*v));
            assert!(!v.description().is_empty());
        }
        assert!("nope".parse::<Variation>().is_err());
        let set = VariationSet::new(&[Variation::ChunkedErrors]);
        for v in Variation::ALL {
            assert_eq!(set.has(*v), *v == Variation::ChunkedErrors, "{v}");
        }
    }
}
