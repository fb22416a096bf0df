//! What the bench reads from and asks of the operating system: the open-files limit, and a
//! process's CPU time and resident memory (Linux `/proc`).

use std::time::Duration;

/// The open-files limit after trying to raise it.
#[derive(Debug, Clone, Copy)]
pub struct FileLimit {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit (the most an unprivileged process can raise the soft limit to).
    pub hard: u64,
}

/// Raises the soft open-files limit to the hard one (a no-op when it already is).
pub fn raise_file_limit() -> Result<FileLimit, String> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let before = lim.current.unwrap_or(u64::MAX);
    let hard = lim.maximum.unwrap_or(u64::MAX);
    if before >= hard {
        return Ok(FileLimit {
            before,
            now: before,
            hard,
        });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        },
    )
    .map_err(|e| format!("cannot raise the open-files limit from {before} to {hard}: {e}"))?;
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    Ok(FileLimit { before, now, hard })
}

/// A process's CPU time (user + system) and resident memory, read from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// User + system CPU time so far.
    pub cpu: Duration,
    /// Resident memory now (VmRSS), bytes.
    pub rss: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `None` when the process is gone or the
/// files do not read as expected (not Linux).
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) … utime is field 14, stime 15 of the whole line.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let cpu = Duration::from_secs_f64((utime + stime) as f64 / ticks as f64);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(ProcSample {
        cpu,
        rss: rss_kb * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("/proc of this process");
        assert!(s.rss > 0);
        assert!(sample(u32::MAX).is_none());
    }

    #[test]
    fn the_limit_is_at_most_the_hard_one() {
        let l = raise_file_limit().expect("raising the soft limit to the hard one");
        assert!(l.now >= l.before && l.now <= l.hard);
    }
}
