//! What a bench run counts: a latency histogram (log-linear buckets, bounded memory however
//! many messages) and the delivery tracker that finds lost and duplicated messages.

use std::collections::HashMap;

/// Sub-buckets per power of two: values are kept within 1/32 (about 3 %).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for every `u64`: exact below `2 * SUB`, then `SUB` per power of two.
const BUCKETS: usize = ((64 - SUB_BITS as usize) * SUB as usize) + SUB as usize;

/// A latency histogram in microseconds: fixed size, any count.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let shift = e - SUB_BITS;
    (shift as usize) * SUB as usize + (v >> shift) as usize
}

/// The highest value bucket `i` holds.
fn bucket_high(i: usize) -> u64 {
    if i < 2 * SUB as usize {
        return i as u64;
    }
    let shift = (i / SUB as usize - 1) as u32;
    let m = (i % SUB as usize) as u64 + SUB;
    // In u128: the top bucket's end is 2^64.
    let end = u128::from(m + 1) << shift;
    u64::try_from(end - 1).unwrap_or(u64::MAX)
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, micros: u64) {
        self.counts[bucket(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
        self.sum += u128::from(micros);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean (exact).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at quantile `q` (0…1): the top of the bucket holding it, never above the max.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }
}

/// Who a message was sent to, of those it has not reached yet.
#[derive(Debug)]
enum Awaited {
    /// One connection (echo, send-to-connection).
    One(u32),
    /// A few connections (a small group).
    Few(Vec<u32>),
    /// Many connections: one bit per connection index.
    Many { bits: Vec<u64>, left: u32 },
}

impl Awaited {
    fn new(recipients: &[u32], connections: usize) -> Option<Awaited> {
        match recipients {
            [] => None,
            [one] => Some(Awaited::One(*one)),
            few if few.len() <= 64 => Some(Awaited::Few(few.to_vec())),
            many => {
                let mut bits = vec![0u64; connections.div_ceil(64)];
                let mut left = 0;
                for &r in many {
                    let (w, b) = (r as usize / 64, r % 64);
                    if let Some(word) = bits.get_mut(w) {
                        if *word & (1 << b) == 0 {
                            *word |= 1 << b;
                            left += 1;
                        }
                    }
                }
                Some(Awaited::Many { bits, left })
            }
        }
    }

    /// Takes `r` off; whether it was awaited.
    fn arrived(&mut self, r: u32) -> bool {
        match self {
            Awaited::One(x) => {
                *x == r && {
                    *x = u32::MAX;
                    true
                }
            }
            Awaited::Few(v) => match v.iter().position(|x| *x == r) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            Awaited::Many { bits, left } => {
                let (w, b) = (r as usize / 64, r % 64);
                match bits.get_mut(w) {
                    Some(word) if *word & (1 << b) != 0 => {
                        *word &= !(1 << b);
                        *left -= 1;
                        true
                    }
                    _ => false,
                }
            }
        }
    }

    fn left(&self) -> u64 {
        match self {
            Awaited::One(x) => u64::from(*x != u32::MAX),
            Awaited::Few(v) => v.len() as u64,
            Awaited::Many { left, .. } => u64::from(*left),
        }
    }
}

/// What happened to one received copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// An awaited delivery.
    Delivered,
    /// A second copy for the same connection.
    Duplicate,
    /// A message for a connection it was not sent to, or one the bench never sent.
    Unexpected,
}

/// Every message in flight and who still awaits it; memory is bounded by what is in flight.
#[derive(Debug, Default)]
pub struct Tracker {
    pending: HashMap<u64, Awaited>,
    /// Ids below this were issued.
    next_id: u64,
    connections: usize,
}

impl Tracker {
    /// A tracker for `connections` connections (indices `0..connections`).
    pub fn new(connections: usize) -> Self {
        Tracker {
            pending: HashMap::new(),
            next_id: 0,
            connections,
        }
    }

    /// Registers a message about to be sent to `recipients`; returns its id.
    pub fn sent(&mut self, recipients: &[u32]) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(a) = Awaited::new(recipients, self.connections) {
            self.pending.insert(id, a);
        }
        id
    }

    /// A copy of message `id` reached connection `r`.
    pub fn arrived(&mut self, id: u64, r: u32) -> Arrival {
        if id >= self.next_id {
            return Arrival::Unexpected;
        }
        match self.pending.get_mut(&id) {
            Some(a) => {
                if a.arrived(r) {
                    if a.left() == 0 {
                        self.pending.remove(&id);
                    }
                    Arrival::Delivered
                } else {
                    Arrival::Duplicate
                }
            }
            // Fully delivered before: any further copy is one too many.
            None => Arrival::Duplicate,
        }
    }

    /// Deliveries still awaited.
    pub fn outstanding(&self) -> u64 {
        self.pending.values().map(Awaited::left).sum()
    }

    /// Messages sent (ids issued).
    pub fn issued(&self) -> u64 {
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in (0..200_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b < BUCKETS, "{v}");
            assert!(b >= last, "bucket order at {v}");
            last = b;
            let high = bucket_high(b);
            assert!(high >= v, "{v} above its bucket's top {high}");
            assert!(high - v <= v / 16 + 1, "{v} in a bucket topped at {high}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1000);
        let p50 = h.quantile(0.5);
        assert!((500..=516).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 1000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }

    #[test]
    fn tracker_counts_duplicates_and_strays() {
        let mut t = Tracker::new(200);
        let one = t.sent(&[3]);
        let few: Vec<u32> = (0..10).collect();
        let group = t.sent(&few);
        let all: Vec<u32> = (0..200).collect();
        let broadcast = t.sent(&all);
        assert_eq!(t.outstanding(), 1 + 10 + 200);
        assert_eq!(t.arrived(one, 4), Arrival::Duplicate);
        assert_eq!(t.arrived(one, 3), Arrival::Delivered);
        assert_eq!(t.arrived(one, 3), Arrival::Duplicate);
        assert_eq!(t.arrived(group, 5), Arrival::Delivered);
        assert_eq!(t.arrived(group, 5), Arrival::Duplicate);
        assert_eq!(t.arrived(broadcast, 199), Arrival::Delivered);
        assert_eq!(t.arrived(broadcast, 199), Arrival::Duplicate);
        assert_eq!(t.arrived(99, 1), Arrival::Unexpected);
        assert_eq!(t.outstanding(), 9 + 199);
        for r in 0..199 {
            assert_eq!(t.arrived(broadcast, r), Arrival::Delivered);
        }
        assert_eq!(t.outstanding(), 9);
    }
}
