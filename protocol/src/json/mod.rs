//! The JSON hub protocol (`json`): one JSON object per message, terminated by 0x1E.
//!
//! Reading follows ASP.NET Core's `JsonHubProtocol` (.NET 8+): any property order, unknown
//! properties skipped, unknown types ignored, and the same checks in the same order with the same
//! texts. Writing produces the bytes it writes: property order `type`, `headers`, `invocationId`,
//! `target`, `arguments`, `streamIds` / `item` / `error` / `result`, compact, relaxed escaping.
//!
//! - `read`: the entry points. A payload goes first to `fast` (a direct reader over `lexer`, for
//!   well-formed input); whatever it gives up on goes to the reference reader in `read` (serde_json
//!   under visitors that make ASP.NET Core's checks and produce its errors). Both fill `fields`,
//!   which makes the checks that come after all properties are read.
//! - `write`: messages and values as ASP.NET Core writes them, and the
//!   [`Value`](crate::value::Value) conversions that go through JSON text.

mod fast;
mod fields;
mod lexer;
mod read;
mod write;

pub(crate) use read::map_serde_error;
pub use read::{parse_message, parse_message_reference, parse_value, parse_value_reference};
pub use write::{
    value_to_string, value_to_vec, write_message, write_message_body, write_str, write_value,
};

/// Deepest nesting System.Text.Json's reader accepts (the message object counts as one level).
pub const MAX_DEPTH: usize = 64;
