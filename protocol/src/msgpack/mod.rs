//! The MessagePack hub protocol (`messagepack`): one MessagePack array per message, each behind a
//! VarInt length prefix.
//!
//! Reading follows ASP.NET Core's `MessagePackHubProtocolWorker`: fields are read in order from
//! the payload (the array header's count is only consulted for the optional StreamIds and
//! AllowReconnect elements), with its texts. Writing produces MessagePack-CSharp's bytes: the
//! smallest encoding of every integer, string, bin and timestamp.
//!
//! `cursor` reads MessagePack primitives from a payload, `read` turns them into messages with
//! ASP.NET Core's field checks and texts, `write` writes MessagePack-CSharp's bytes.

mod cursor;
mod read;
mod write;

pub use read::{parse_message, parse_value};
pub use write::{
    value_to_vec, write_int, write_message, write_message_body, write_str, write_value,
};

/// Deepest nesting of values read (MessagePack-CSharp's `UntrustedData` default is 500).
pub const MAX_DEPTH: usize = 500;

/// Bytes from hex text (`"96 01 80"`), for tests.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}
