//! `signalr-conform`: a conformance runner for ASP.NET Core SignalR servers.
//!
//! Data flows one way: [`cases`] → [`runner`] → [`result`] → [`report`]; the runner drives
//! the [`client`]. Nothing imports upwards: cases know nothing of the runner, reports
//! nothing of the client.
//!
//! - [`cases`]: the case model, loader, typed steps and matrix expansion (`spec-cases/`).
//! - [`client`]: a raw, scriptable SignalR client over the three transports.
//! - [`runner`]: probes the target, runs case × combination executions, decides verdicts.
//! - [`result`]: outcomes, verdicts and the one policy of what fails a run.
//! - [`report`]: terminal, JSON, JUnit, HTML and Markdown reports.
//! - [`baseline`]: known failures that must keep failing.
//! - [`embedded`]: the in-process mock-hub target.
//! - [`fuzz`]: `conform fuzz`, generated sequences against a live server, shrunk to a case.
//! - [`bench`]: `conform bench`, a load generator that speaks the protocol.
//! - [`inspect`], [`hex`]: `conform decode` / `encode`.
//! - [`app`]: the command line.
#![forbid(unsafe_code)]

pub mod app;
pub mod baseline;
pub mod bench;
pub mod cases;
pub mod client;
pub mod embedded;
pub mod fuzz;
pub mod hex;
pub mod inspect;
pub mod report;
pub mod result;
pub mod runner;
