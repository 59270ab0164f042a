//! Static routing with tunnel monitoring: which tunnel carries the remote CIDRs.
//!
//! What a Palo Alto does with policy-based forwarding and a monitor profile: tunnel 1 carries
//! the traffic while its monitor sees the AWS inside address answer; when it stops answering
//! (`threshold` missed echoes in a row) tunnel 2 takes over; traffic moves back once tunnel 1
//! has been healthy again for the hold-down period, so a flapping tunnel does not drag traffic
//! back and forth.

use std::time::{Duration, Instant};

/// Health of one tunnel as the monitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The tunnel has a Child SA and its monitor has not missed `threshold` echoes in a row.
    pub up: bool,
    /// Since when `up` has been true.
    pub up_since: Option<Instant>,
}

/// The routing decision for static routing over two tunnels (tunnel 0 preferred).
#[derive(Debug, Clone)]
pub struct Failover {
    active: usize,
    hold: Duration,
    failovers: u64,
    /// Until the primary has been up once, or this time has passed, the routes stay on it:
    /// at start the backup's first answer must not win a race against the primary's.
    startup_until: Option<Instant>,
    primary_was_up: bool,
}

impl Failover {
    /// Starts on tunnel 0.
    pub fn new(hold: Duration) -> Self {
        Self {
            active: 0,
            hold,
            failovers: 0,
            startup_until: None,
            primary_was_up: false,
        }
    }

    /// Gives the primary `grace` from `now` to come up before a healthy backup takes the
    /// routes (without it, whichever tunnel's monitor answered first at start would win, and
    /// the routes would move back after the hold-down).
    pub fn with_startup_grace(mut self, now: Instant, grace: Duration) -> Self {
        self.startup_until = Some(now + grace);
        self
    }

    /// The tunnel that carries the routes.
    pub fn active(&self) -> usize {
        self.active
    }

    /// How often the active tunnel changed.
    pub fn failovers(&self) -> u64 {
        self.failovers
    }

    /// When [`Failover::update`] could next decide differently with unchanged health: the end
    /// of the primary's hold-down while on a backup, or the end of the startup grace.
    pub fn poll_timeout(&self, health: &[Health]) -> Option<Instant> {
        let primary = health.first()?;
        if self.active != 0 {
            return primary
                .up
                .then_some(primary.up_since)
                .flatten()
                .map(|s| s + self.hold);
        }
        if !self.primary_was_up && !primary.up && health.iter().skip(1).any(|h| h.up) {
            return self.startup_until;
        }
        None
    }

    /// Re-evaluates with the tunnels' health; returns the new active tunnel if it changed.
    pub fn update(&mut self, now: Instant, health: &[Health]) -> Option<usize> {
        let up = |i: usize| health.get(i).is_some_and(|h| h.up);
        self.primary_was_up |= up(0);
        let starting = !self.primary_was_up && self.startup_until.is_some_and(|t| now < t);
        let next = match self.active {
            0 if up(0) => 0,
            0 if up(1) && !starting => 1,
            0 => 0,
            // On the backup: go back once the primary has been stable for the hold-down, or at
            // once if the backup itself is down and the primary is up.
            _ => {
                let primary_stable = health
                    .first()
                    .and_then(|h| h.up.then_some(h.up_since).flatten())
                    .is_some_and(|since| now.saturating_duration_since(since) >= self.hold);
                if primary_stable || (!up(self.active) && up(0)) {
                    0
                } else {
                    self.active
                }
            }
        };
        if next != self.active && next < health.len().max(1) {
            self.active = next;
            self.failovers += 1;
            Some(next)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(up: bool, since: Option<Instant>) -> Health {
        Health {
            up,
            up_since: since,
        }
    }

    #[test]
    fn fails_over_and_back_after_the_hold_down() {
        let t0 = Instant::now();
        let hold = Duration::from_secs(30);
        let mut f = Failover::new(hold);
        assert_eq!(f.update(t0, &[h(true, Some(t0)), h(true, Some(t0))]), None);
        assert_eq!(f.active(), 0);
        // Tunnel 1 (index 0) dies.
        assert_eq!(f.update(t0, &[h(false, None), h(true, Some(t0))]), Some(1));
        // It comes back: not yet.
        let back = t0 + Duration::from_secs(60);
        assert_eq!(
            f.update(back, &[h(true, Some(back)), h(true, Some(t0))]),
            None
        );
        assert_eq!(
            f.update(
                back + Duration::from_secs(29),
                &[h(true, Some(back)), h(true, Some(t0))]
            ),
            None
        );
        assert_eq!(
            f.update(back + hold, &[h(true, Some(back)), h(true, Some(t0))]),
            Some(0)
        );
        assert_eq!(f.failovers(), 2);
    }

    #[test]
    fn backup_failing_returns_to_a_healthy_primary_at_once() {
        let t0 = Instant::now();
        let mut f = Failover::new(Duration::from_secs(30));
        f.update(t0, &[h(false, None), h(true, Some(t0))]);
        assert_eq!(f.active(), 1);
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(f.update(t1, &[h(true, Some(t1)), h(false, None)]), Some(0));
    }

    #[test]
    fn at_start_the_backup_waits_for_the_primary_during_the_grace() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(10);
        let mut f = Failover::new(Duration::from_secs(30)).with_startup_grace(t0, grace);
        // The backup answers first: the routes stay on the primary.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(f.update(t1, &[h(false, None), h(true, Some(t1))]), None);
        // The primary comes up within the grace: no failover at all.
        let t2 = t0 + Duration::from_secs(3);
        assert_eq!(f.update(t2, &[h(true, Some(t2)), h(true, Some(t1))]), None);
        assert_eq!(f.failovers(), 0);
        // Once it has been up, its failure moves the routes at once.
        assert_eq!(f.update(t2, &[h(false, None), h(true, Some(t1))]), Some(1));
        // A primary that never comes up: the backup takes over when the grace ends.
        let mut g = Failover::new(Duration::from_secs(30)).with_startup_grace(t0, grace);
        let before = t0 + grace - Duration::from_millis(1);
        assert_eq!(g.update(before, &[h(false, None), h(true, Some(t1))]), None);
        assert_eq!(
            g.update(t0 + grace, &[h(false, None), h(true, Some(t1))]),
            Some(1)
        );
    }

    #[test]
    fn both_down_stays_on_the_primary() {
        let t0 = Instant::now();
        let mut f = Failover::new(Duration::from_secs(30));
        assert_eq!(f.update(t0, &[h(false, None), h(false, None)]), None);
        assert_eq!(f.active(), 0);
        // A single tunnel never fails over.
        let mut g = Failover::new(Duration::from_secs(30));
        assert_eq!(g.update(t0, &[h(false, None)]), None);
    }
}
