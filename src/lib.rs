//! signalr-conform
