//! The anti-replay window (RFC 4303 section 3.4.3 and appendix A).
//!
//! A ring of 2048 bits indexed by `sequence number mod 2048` (the layout of RFC 6479): moving
//! the window right clears only the bits that slide in, no bit shifting of the whole map, and
//! the map is a fixed array inside the SA, so nothing is allocated per packet. Windows smaller
//! than 2048 use the same ring; bits left of the window are stale but never consulted, since a
//! sequence number that old is rejected first.

/// Smallest configurable anti-replay window.
pub const MIN_REPLAY_WINDOW: u32 = 64;
/// Largest configurable anti-replay window (the bitmap's size).
pub const MAX_REPLAY_WINDOW: u32 = 2048;
/// Default anti-replay window, as AWS Site-to-Site VPN uses.
pub const DEFAULT_REPLAY_WINDOW: u32 = 1024;

const WORDS: usize = MAX_REPLAY_WINDOW as usize / 64;
const RING_MASK: u64 = MAX_REPLAY_WINDOW as u64 - 1;

#[derive(Clone)]
pub(crate) struct ReplayWindow {
    /// Window size W.
    size: u64,
    /// The highest authenticated sequence number (0: none yet).
    top: u64,
    bitmap: [u64; WORDS],
}

#[inline]
fn word_index(seq: u64) -> usize {
    // Masked to 0..WORDS, so the index is always in bounds.
    ((seq & RING_MASK) >> 6) as usize % WORDS
}

#[inline]
fn bit(seq: u64) -> u64 {
    1u64 << (seq & 63)
}

impl ReplayWindow {
    /// `size` must already be in `MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW`.
    pub(crate) fn new(size: u32) -> Self {
        Self {
            size: u64::from(size.clamp(MIN_REPLAY_WINDOW, MAX_REPLAY_WINDOW)),
            top: 0,
            bitmap: [0; WORDS],
        }
    }

    pub(crate) fn size(&self) -> u32 {
        // `size` is at most 2048.
        self.size as u32
    }

    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    /// Forgets everything and makes `top` the highest sequence number seen.
    pub(crate) fn reset(&mut self, top: u64) {
        self.top = top;
        self.bitmap = [0; WORDS];
    }

    /// RFC 4303 appendix A2.1: infers the high 32 bits of an extended sequence number from its
    /// transmitted low 32 bits and the window. `None` when the result would lie before 0 or
    /// after 2^64 - 1 (such a packet cannot be valid).
    pub(crate) fn infer_esn(&self, seq_lo: u32) -> Option<u64> {
        let w = self.size as u32;
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let bottom = tl.wrapping_sub(w - 1);
        let seq_hi = if tl >= w - 1 {
            // Case A: the window lies within one sequence number subspace.
            if seq_lo >= bottom {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // Case B: the window spans two subspaces.
            if seq_lo >= bottom {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        Some((u64::from(seq_hi) << 32) | u64::from(seq_lo))
    }

    /// Whether `seq` may be accepted: not 0, not left of the window, not already seen.
    #[inline]
    pub(crate) fn check(&self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.top {
            return true;
        }
        if self.top - seq >= self.size {
            return false;
        }
        self.bitmap[word_index(seq)] & bit(seq) == 0
    }

    /// Records `seq` (whose ICV verified and which passed [`ReplayWindow::check`]), sliding
    /// the window right when it is new.
    #[inline]
    pub(crate) fn update(&mut self, seq: u64) {
        if seq > self.top {
            let diff = seq - self.top;
            if diff >= u64::from(MAX_REPLAY_WINDOW) {
                self.bitmap = [0; WORDS];
            } else {
                // Clear the bits of top+1 ..= seq, a word at a time.
                let mut s = self.top.wrapping_add(1);
                let mut left = diff;
                while left > 0 {
                    let offset = s & 63;
                    let n = (64 - offset).min(left);
                    let mask = if n == 64 {
                        u64::MAX
                    } else {
                        ((1u64 << n) - 1) << offset
                    };
                    self.bitmap[word_index(s)] &= !mask;
                    s = s.wrapping_add(n);
                    left -= n;
                }
            }
            self.top = seq;
        }
        self.bitmap[word_index(seq)] |= bit(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, seq: u64) -> bool {
        if w.check(seq) {
            w.update(seq);
            true
        } else {
            false
        }
    }

    #[test]
    fn in_order_duplicates_and_edges() {
        let mut w = ReplayWindow::new(64);
        assert!(!accept(&mut w, 0), "sequence number 0 is never valid");
        for s in 1..=200 {
            assert!(accept(&mut w, s));
            assert!(!accept(&mut w, s), "duplicate {s}");
        }
        // top = 200, window = 137..=200
        assert!(!accept(&mut w, 136), "just left of the window");
        assert!(!accept(&mut w, 137), "already seen");
        let mut w = ReplayWindow::new(64);
        assert!(accept(&mut w, 200));
        assert!(accept(&mut w, 137), "left edge of the window is accepted");
        assert!(!accept(&mut w, 136));
        assert!(accept(&mut w, 150));
        assert!(!accept(&mut w, 150));
    }

    #[test]
    fn big_jumps_clear_stale_bits() {
        for size in [64u32, 100, 1024, 2048] {
            let mut w = ReplayWindow::new(size);
            for s in 1..=5000u64 {
                assert!(accept(&mut w, s * 3));
            }
            // Jump by more than the ring, then everything in the window but the top is fresh.
            assert!(accept(&mut w, 100_000));
            for s in (100_000 - u64::from(size) + 1)..100_000 {
                assert!(w.check(s), "size {size}: {s} must be fresh");
            }
            assert!(!w.check(100_000 - u64::from(size)));
            // Jumps of every length below the ring size.
            let mut top = 100_000;
            for jump in 1..=2100u64 {
                top += jump;
                assert!(accept(&mut w, top));
                for back in 1..u64::from(size).min(jump) {
                    assert!(w.check(top - back), "size {size} jump {jump} back {back}");
                }
            }
        }
    }

    #[test]
    fn matches_a_naive_model() {
        // A simple xorshift walk of sequence numbers against a set-based model.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for size in [64u32, 65, 1000, 1024, 2048] {
            let mut w = ReplayWindow::new(size);
            let mut seen = std::collections::BTreeSet::new();
            let mut top = 0u64;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let delta = (x % 3000) as i64 - 2200;
                let seq = (top as i64 + delta).max(0) as u64;
                let model = seq != 0 && !seen.contains(&seq) && seq + u64::from(size) > top;
                assert_eq!(
                    accept(&mut w, seq),
                    model,
                    "size {size} seq {seq} top {top}"
                );
                if model {
                    seen.insert(seq);
                    top = top.max(seq);
                }
            }
        }
    }

    #[test]
    fn esn_inference_appendix_a2() {
        let mut w = ReplayWindow::new(1024);
        // Fresh window: low sequence numbers are in subspace 0; ones just below 2^32 would be
        // "before 0" and are not valid.
        assert_eq!(w.infer_esn(1), Some(1));
        assert_eq!(w.infer_esn(u32::MAX), None);
        // Case A, window inside subspace 5.
        w.reset((5 << 32) | 10_000);
        assert_eq!(
            w.infer_esn(10_000 - 1023),
            Some((5 << 32) | (10_000 - 1023))
        );
        assert_eq!(w.infer_esn(20_000), Some((5 << 32) | 20_000));
        assert_eq!(
            w.infer_esn(10_000 - 1024),
            Some((6 << 32) | (10_000 - 1024))
        );
        assert_eq!(w.infer_esn(3), Some((6 << 32) | 3));
        // Top near the end of a subspace: a small low half means the next subspace.
        w.reset((5 << 32) | 0xffff_fff0);
        assert_eq!(w.infer_esn(0xffff_fff5), Some((5 << 32) | 0xffff_fff5));
        assert_eq!(w.infer_esn(2), Some((6 << 32) | 2));
        // Case B: window spans subspaces 6 and 5.
        w.reset((6 << 32) | 100);
        assert_eq!(w.infer_esn(50), Some((6 << 32) | 50));
        assert_eq!(w.infer_esn(0xffff_ff00), Some((5 << 32) | 0xffff_ff00));
        assert_eq!(w.infer_esn(5000), Some((6 << 32) | 5000));
        // Overflow beyond 2^64 - 1 is impossible.
        w.reset(u64::MAX);
        assert_eq!(w.infer_esn(0), None);
        assert_eq!(w.infer_esn(u32::MAX), Some(u64::MAX));
    }
}
