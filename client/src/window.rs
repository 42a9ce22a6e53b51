//! Request numbers, and the window that bounds how many may be unanswered at once.
//!
//! Replicas keep, per client, the replies to the last `window` request numbers up to the
//! highest one executed, and treat anything older as executed. A client that issued
//! number `n + window` while `n` was still unanswered could see `n` forgotten before it
//! ran. So a new number must stay below the oldest unanswered number plus the window.

use std::collections::BTreeSet;

/// Allocates request numbers and tracks the unanswered ones.
#[derive(Debug)]
pub(crate) struct Window {
    next: u64,
    width: u64,
    outstanding: BTreeSet<u64>,
}

impl Window {
    /// Numbers start at `first` and grow by one. Starting from the clock (microseconds since
    /// the epoch) keeps a restarted client with the same key above the numbers it used
    /// before, which the replicas would otherwise answer from their cache or ignore.
    pub(crate) fn new(first: u64, width: u64) -> Window {
        assert!(width >= 1, "the window must hold at least one request");
        Window {
            next: first,
            width,
            outstanding: BTreeSet::new(),
        }
    }

    /// The next number, now outstanding, or `None` while the window is full.
    pub(crate) fn allocate(&mut self) -> Option<u64> {
        if let Some(&oldest) = self.outstanding.first()
            && self.next >= oldest.saturating_add(self.width)
        {
            return None;
        }
        let number = self.next;
        self.next = self.next.saturating_add(1);
        self.outstanding.insert(number);
        debug_assert!(self.outstanding.len() as u64 <= self.width);
        Some(number)
    }

    /// The request `number` needs no more room: answered, or given up.
    pub(crate) fn release(&mut self, number: u64) {
        self.outstanding.remove(&number);
    }

    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_grow_by_one_from_the_first() {
        let mut window = Window::new(1_000, 4);
        assert_eq!(window.allocate(), Some(1_000));
        assert_eq!(window.allocate(), Some(1_001));
        window.release(1_000);
        window.release(1_001);
        assert_eq!(window.allocate(), Some(1_002));
    }

    #[test]
    fn a_full_window_waits_for_the_oldest_unanswered_number() {
        let mut window = Window::new(10, 3);
        let numbers: Vec<u64> = (0..3).filter_map(|_| window.allocate()).collect();
        assert_eq!(numbers, vec![10, 11, 12]);
        assert_eq!(window.allocate(), None);
        // Answering a newer request makes no room: 13 would still be 10 + 3.
        window.release(12);
        assert_eq!(window.allocate(), None);
        window.release(10);
        assert_eq!(window.allocate(), Some(13));
        // 11 is now the oldest: 14 is beyond 11 + 3 - 1 = 13.
        assert_eq!(window.allocate(), None);
        assert_eq!(window.outstanding(), 2);
    }
}
