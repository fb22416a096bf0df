//! The JSON hub protocol (`json`): one JSON object per message, terminated by 0x1E.
//!
//! Reading follows ASP.NET Core's `JsonHubProtocol` (.NET 8+): any property order, unknown
//! properties skipped, unknown types ignored, and the same checks in the same order with the same
//! texts. Writing produces the bytes it writes: property order `type`, `headers`, `invocationId`,
//! `target`, `arguments`, `streamIds` / `item` / `error` / `result`, compact, relaxed escaping.
//!
//! `read` parses (serde_json's lexer under visitors that make ASP.NET Core's checks), `write`
//! writes; the [`Value`](crate::value::Value) conversions that go through JSON text live in `write`.

mod read;
mod write;

pub(crate) use read::map_serde_error;
pub use read::{parse_message, parse_value};
pub use write::{
    value_to_string, value_to_vec, write_message, write_message_body, write_str, write_value,
};

/// Deepest nesting System.Text.Json's reader accepts (the message object counts as one level).
pub const MAX_DEPTH: usize = 64;
