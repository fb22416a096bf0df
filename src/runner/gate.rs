//! Gating: why an execution is not run — the slow tier, or a transport, format or capability
//! the target lacks.

use std::time::Duration;

use super::{RunOptions, TargetInfo};
use crate::cases::Execution;
use crate::result::Verdict;

/// Why an execution is not run, if it is not.
pub fn gate(e: &Execution, info: &TargetInfo, opts: &RunOptions) -> Option<(Verdict, String)> {
    let c = &e.case;
    if c.tier == crate::cases::Tier::Slow && !opts.slow {
        return Some((Verdict::Skipped, "slow tier (run with --tier slow)".into()));
    }
    if let Some(w) = &c.waits {
        let ms = w.millis(&info.timers);
        let need = opts.scale(Duration::from_millis(ms as u64));
        let limit = match &c.default_tier_waits {
            Some(d) => Duration::from_millis(d.millis(&info.timers) as u64),
            None => opts.slow_threshold,
        };
        if need > opts.scale(limit) && !opts.slow {
            return Some((
                Verdict::Skipped,
                format!(
                    "waits {:.1} s with the target's timers; run with --tier slow (or start the target with shorter intervals)",
                    need.as_secs_f64()
                ),
            ));
        }
    }
    if let Some(t) = e.combo.transport {
        if let Err(reason) = info.supports(t, e.combo.protocol) {
            return Some((Verdict::Unimplemented, reason));
        }
    }
    for r in &c.requires {
        if let Err(reason) = info.has(r) {
            return Some((Verdict::Unimplemented, reason));
        }
    }
    if c.peers > info.peers {
        return Some((
            Verdict::Unimplemented,
            format!(
                "needs {} --peer nodes of the same hub, {} given",
                c.peers, info.peers
            ),
        ));
    }
    // The nodes its clients use must agree with the target, whose declarations the case's
    // expectations come from: a peer that lacks something is not the server's fault.
    let transport = e.combo.transport.map(|t| (t, e.combo.protocol));
    for (i, node) in info.peer_nodes.iter().take(c.peers).enumerate() {
        if let Some(reason) = node.disagrees(i + 1, transport, &c.requires) {
            return Some((Verdict::Unimplemented, reason));
        }
    }
    None
}
