//! Errors for bytes that cannot be read. The text is ASP.NET Core's, word for word, so a server
//! built on this crate reports what an ASP.NET Core server reports, and a test can compare texts.

use std::fmt;

/// Which layer rejected the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Record-separator or VarInt length framing (and message size limits).
    Framing,
    /// The JSON hub protocol.
    Json,
    /// The MessagePack hub protocol.
    MessagePack,
    /// The handshake request or response.
    Handshake,
    /// The negotiate request or response.
    Negotiate,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Framing => "framing",
            Layer::Json => "json",
            Layer::MessagePack => "messagepack",
            Layer::Handshake => "handshake",
            Layer::Negotiate => "negotiate",
        })
    }
}

/// Input that ASP.NET Core would reject, with the exception it would throw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    layer: Layer,
    exception: &'static str,
    message: String,
    detail: Option<String>,
}

impl ProtocolError {
    /// An error with the .NET exception type name (`InvalidDataException`, `FormatException` …).
    pub fn new(layer: Layer, exception: &'static str, message: impl Into<String>) -> Self {
        Self {
            layer,
            exception,
            message: message.into(),
            detail: None,
        }
    }

    /// An `InvalidDataException`, the type nearly every protocol error has.
    pub fn invalid_data(layer: Layer, message: impl Into<String>) -> Self {
        Self::new(layer, "InvalidDataException", message)
    }

    /// Attaches the underlying cause (e.g. the JSON parser's own message), shown by `detail()`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The layer that rejected the input.
    pub fn layer(&self) -> Layer {
        self.layer
    }

    /// The .NET exception type ASP.NET Core throws for this input (used in detailed errors:
    /// `Connection closed with an error. InvalidDataException: <message>`).
    pub fn exception(&self) -> &'static str {
        self.exception
    }

    /// ASP.NET Core's message text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The underlying cause, when there is one (not part of ASP.NET Core's text).
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// `ExceptionType: message`, the way detailed errors render it.
    pub fn detailed(&self) -> String {
        format!("{}: {}", self.exception, self.message)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// Exact texts, shared by the codecs, the mock hub and the conformance cases.
pub mod texts {
    /// A UTC time (Unix seconds) as .NET's `DateTime.ToString(CultureInfo.InvariantCulture)`
    /// writes it, `MM/dd/yyyy HH:mm:ss`: JwtBearer's `error_description` dates.
    pub fn invariant_date(unix: i64) -> String {
        let days = unix.div_euclid(86_400);
        let secs = unix.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{month:02}/{day:02}/{year:04} {:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    /// The VarInt prefix announces more than 2 GB.
    pub const MESSAGES_OVER_2GB: &str = "Messages over 2GB in size are not supported.";
    /// Input ended inside a message.
    pub const TERMINATED_WHILE_READING: &str = "Connection terminated while reading a message.";
    /// JSON syntax error (inner cause in the detail).
    pub const ERROR_READING_JSON: &str = "Error reading JSON.";
    /// A completion with both `error` and `result`.
    pub const ERROR_AND_RESULT_EXCLUSIVE: &str =
        "The 'error' and 'result' properties are mutually exclusive.";
    /// MessagePack completion result kind other than 1, 2 or 3.
    pub const INVALID_RESULT_KIND: &str = "Invalid invocation result kind.";

    /// `The maximum message size of {max}B was exceeded. …`
    pub fn max_message_size(max: usize) -> String {
        format!(
            "The maximum message size of {max}B was exceeded. The message size can be configured in AddHubOptions."
        )
    }

    /// `Missing required property '{name}'.`
    pub fn missing_property(name: &str) -> String {
        format!("Missing required property '{name}'.")
    }
}
