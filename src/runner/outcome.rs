//! From a finished execution to its [`Outcome`]: the verdict a step error means.

use std::time::Duration;

use crate::cases::Execution;
use crate::client::Transcript;
use crate::result::{Event, Failure, Outcome, Verdict};

/// Why a step did not succeed.
#[derive(Debug, Clone)]
pub(crate) enum StepError {
    /// The target broke the requirement.
    Fail {
        step: usize,
        action: String,
        expected: String,
        actual: String,
    },
    /// The harness could not carry out the step.
    Error(String),
}

/// The outcome of an execution that did not run.
pub(crate) fn skipped(e: &Execution, verdict: Verdict, reason: String) -> Outcome {
    base(e, verdict, Some(reason), None, Vec::new(), Duration::ZERO)
}

fn base(
    e: &Execution,
    verdict: Verdict,
    reason: Option<String>,
    failure: Option<Failure>,
    transcript: Vec<Event>,
    duration: Duration,
) -> Outcome {
    let c = &e.case;
    Outcome {
        name: e.name.clone(),
        case_id: c.id.clone(),
        title: c.title.clone(),
        requirement: c.requirement.clone(),
        level: c.level,
        reference: c.reference.clone(),
        tags: c.tags.clone(),
        transport: e.combo.transport.map(|t| t.short().to_owned()),
        protocol: e.combo.protocol.map(|p| p.name().to_owned()),
        negotiate_version: e.combo.negotiate_version,
        verdict,
        reason,
        failure,
        baseline: None,
        duration_ms: duration.as_millis() as u64,
        transcript,
        target_silent: false,
        target_answered: false,
    }
}

/// The outcome of an execution that ran: PASS, the case level's verdict for a broken
/// requirement, or ERROR. Transcripts of passes are kept only with `trace_all`.
pub(crate) fn outcome(
    e: &Execution,
    result: Result<(), StepError>,
    transcript: Transcript,
    duration: Duration,
    trace_all: bool,
) -> Outcome {
    // Every quoted text is redacted and capped here too (errors carry client texts).
    let quote = |t: String| crate::client::transcript::excerpt(&transcript.redact(&t));
    let silent = result.is_err() && transcript.target_silent();
    let result = result.map_err(|e| match e {
        StepError::Fail {
            step,
            action,
            expected,
            actual,
        } => StepError::Fail {
            step,
            action,
            expected: quote(expected),
            actual: quote(actual),
        },
        StepError::Error(r) => StepError::Error(quote(r)),
    });
    let mut o = match result {
        Ok(()) => base(
            e,
            Verdict::Pass,
            None,
            None,
            if trace_all {
                transcript.events()
            } else {
                Vec::new()
            },
            duration,
        ),
        Err(StepError::Fail {
            step,
            action,
            expected,
            actual,
        }) => base(
            e,
            Verdict::for_broken(e.case.level),
            Some(format!("step {step} ({action}): {actual}")),
            Some(Failure {
                step,
                action,
                expected,
                actual,
            }),
            transcript.events(),
            duration,
        ),
        Err(StepError::Error(reason)) => base(
            e,
            Verdict::Error,
            Some(reason),
            None,
            transcript.events(),
            duration,
        ),
    };
    o.target_silent = silent;
    o.target_answered = transcript.target_answered();
    o
}
