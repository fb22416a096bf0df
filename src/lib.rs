//! `signalr-conform`: a conformance runner for ASP.NET Core SignalR servers.
//!
//! - [`cases`]: the case model, loader and matrix expansion (cases live in `spec-cases/`).
//! - [`client`]: a raw, scriptable SignalR client over the three transports.
//! - [`runner`]: runs case × combination executions and decides verdicts.
//! - [`report`]: terminal, JSON, JUnit, HTML and Markdown reports.
#![forbid(unsafe_code)]

pub mod app;
pub mod baseline;
pub mod cases;
pub mod client;
pub mod inspect;
pub mod report;
pub mod result;
pub mod runner;
