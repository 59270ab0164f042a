//! The kernel routes and rules cgw owns, as desired state reconciled with what the kernel
//! holds (the way BIRD's kernel protocol keeps the FIB in step with its tables).
//!
//! No IO: the driver (`daemon/fib.rs`) reads cgw's routes and rules from the kernel (those
//! with protocol [`RTPROT_CGW`]), asks [`Fib::plan`] what to change, applies each
//! [`FibOp`] and reports the result with [`Fib::report`]. Whatever the kernel holds of
//! cgw's that is not desired is deleted (stale entries of a crashed earlier run, a route the
//! operator added with cgw's protocol number); whatever is desired and missing is installed
//! again (a route deleted behind cgw's back); a failed change is retried with backoff; and
//! the whole comparison runs again every [`Fib::recheck`] even when nothing changed.

use ipnet::Ipv4Net;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The routing protocol number of cgw's routes and rules (`ip route show proto 200`).
pub const RTPROT_CGW: u8 = 200;

/// The kernel's main routing table.
pub const MAIN_TABLE: u32 = 254;

/// Priority of cgw's `from <lan> lookup <table>` rules.
pub const RULE_PRIORITY: u32 = 1000;

/// How often the kernel is compared with the desired state when nothing changed.
pub const RECHECK: Duration = Duration::from_secs(5);

/// Backoff of a failed change: 1 s, doubling up to this.
pub const MAX_RETRY: Duration = Duration::from_secs(60);

/// A route: `dst` via one interface, or several (ECMP), in `table`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Destination prefix.
    pub dst: Ipv4Net,
    /// Routing table (254: main).
    pub table: u32,
    /// Route priority (metric).
    pub metric: u32,
    /// Output interfaces (sorted, without duplicates; more than one is ECMP).
    pub oifs: Vec<u32>,
}

impl Route {
    /// A route with its interfaces in canonical order.
    pub fn new(dst: Ipv4Net, table: u32, metric: u32, mut oifs: Vec<u32>) -> Self {
        oifs.sort_unstable();
        oifs.dedup();
        Self {
            dst: dst.trunc(),
            table,
            metric,
            oifs,
        }
    }

    /// What identifies it in the kernel: one route per table, prefix and metric.
    pub fn key(&self) -> (u32, Ipv4Net, u32) {
        (self.table, self.dst, self.metric)
    }
}

/// A policy rule: `from <from> lookup <table>` at `priority`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// Source prefix.
    pub from: Ipv4Net,
    /// Table looked up.
    pub table: u32,
    /// Rule priority.
    pub priority: u32,
}

/// One change to make in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FibOp {
    /// Add the route, or replace the kernel's route of the same key.
    Replace {
        /// The route.
        route: Route,
        /// The kernel had this route once and lost it (deleted behind cgw's back): worth a
        /// warning.
        restored: bool,
    },
    /// Delete a route of cgw's that is not desired.
    Delete(Route),
    /// Add a rule.
    AddRule(Rule),
    /// Delete a rule of cgw's that is not desired.
    DeleteRule(Rule),
}

/// Which part of cgw wants a set of routes (static routing and BGP have their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Static routing: `remote_cidrs` via the active tunnel, and the `from <lan>` rules.
    Static,
    /// Routes learned over BGP.
    Bgp,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Route((u32, Ipv4Net, u32)),
    Rule(Rule),
}

#[derive(Debug, Clone, Copy)]
struct Failure {
    tries: u32,
    retry_at: Instant,
}

/// The desired routes and rules, and what is known of the kernel's.
#[derive(Debug)]
pub struct Fib {
    routes: BTreeMap<Source, Vec<Route>>,
    rules: BTreeMap<Source, Vec<Rule>>,
    /// Desired entries seen in the kernel at the last comparison.
    seen: BTreeSet<Key>,
    failures: BTreeMap<Key, Failure>,
    last_sync: Option<Instant>,
    changed: bool,
    recheck: Duration,
}

impl Default for Fib {
    fn default() -> Self {
        Self::new(RECHECK)
    }
}

impl Fib {
    /// Nothing desired yet; the kernel is compared every `recheck`.
    pub fn new(recheck: Duration) -> Self {
        Self {
            routes: BTreeMap::new(),
            rules: BTreeMap::new(),
            seen: BTreeSet::new(),
            failures: BTreeMap::new(),
            last_sync: None,
            changed: true,
            recheck,
        }
    }

    /// The re-check interval.
    pub fn recheck(&self) -> Duration {
        self.recheck
    }

    /// Replaces what `source` wants.
    pub fn set(&mut self, source: Source, routes: Vec<Route>, rules: Vec<Rule>) {
        let routes: Vec<Route> = routes
            .into_iter()
            .map(|r| Route::new(r.dst, r.table, r.metric, r.oifs))
            .collect();
        if self.routes.get(&source) != Some(&routes) || self.rules.get(&source) != Some(&rules) {
            // A new wish for an entry ends the backoff of an older one.
            for r in &routes {
                self.failures.remove(&Key::Route(r.key()));
            }
            for r in &rules {
                self.failures.remove(&Key::Rule(r.clone()));
            }
            self.routes.insert(source, routes);
            self.rules.insert(source, rules);
            self.changed = true;
        }
    }

    /// Every desired route (later sources win on the same key).
    pub fn desired_routes(&self) -> BTreeMap<(u32, Ipv4Net, u32), Route> {
        let mut out = BTreeMap::new();
        for r in self.routes.values().flatten() {
            out.insert(r.key(), r.clone());
        }
        out
    }

    fn desired_rules(&self) -> BTreeSet<Rule> {
        self.rules.values().flatten().cloned().collect()
    }

    /// Whether the driver should compare now (something changed, or the re-check is due).
    pub fn due(&self, now: Instant) -> bool {
        self.changed || self.poll_timeout().is_some_and(|t| now >= t)
    }

    /// When the next comparison is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let recheck = self.last_sync.map(|t| t + self.recheck);
        let retry = self.failures.values().map(|f| f.retry_at).min();
        match (recheck, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The changes that bring the kernel (`kernel_routes`, `kernel_rules`: cgw's entries in
    /// it, and for rules also any that equal a desired one) to the desired state. Changes in
    /// backoff after a failure are left out until their retry time.
    pub fn plan(
        &mut self,
        now: Instant,
        kernel_routes: &[Route],
        kernel_rules: &[Rule],
    ) -> Vec<FibOp> {
        self.last_sync = Some(now);
        self.changed = false;
        let waiting = |k: &Key| self.failures.get(k).is_some_and(|f| now < f.retry_at);
        let desired = self.desired_routes();
        let kernel: BTreeMap<_, _> = kernel_routes
            .iter()
            .map(|r| {
                (
                    r.key(),
                    Route::new(r.dst, r.table, r.metric, r.oifs.clone()),
                )
            })
            .collect();
        let mut ops = Vec::new();
        let mut seen = BTreeSet::new();
        for (k, want) in &desired {
            let key = Key::Route(*k);
            match kernel.get(k) {
                Some(have) if have == want => {
                    seen.insert(key);
                }
                Some(_) if !waiting(&key) => ops.push(FibOp::Replace {
                    route: want.clone(),
                    restored: false,
                }),
                None if !waiting(&key) => ops.push(FibOp::Replace {
                    route: want.clone(),
                    restored: self.seen.contains(&key),
                }),
                _ => {}
            }
        }
        for (k, have) in &kernel {
            if !desired.contains_key(k) && !waiting(&Key::Route(*k)) {
                ops.push(FibOp::Delete(have.clone()));
            }
        }
        let want_rules = self.desired_rules();
        let have_rules: BTreeSet<Rule> = kernel_rules.iter().cloned().collect();
        for r in &want_rules {
            let key = Key::Rule(r.clone());
            if have_rules.contains(r) {
                seen.insert(key);
            } else if !waiting(&key) {
                ops.push(FibOp::AddRule(r.clone()));
            }
        }
        for r in have_rules.difference(&want_rules) {
            if !waiting(&Key::Rule(r.clone())) {
                ops.push(FibOp::DeleteRule(r.clone()));
            }
        }
        self.seen = seen;
        ops
    }

    /// The result of applying `op`. A failure is retried 1 s later, then 2, 4, ... up to
    /// [`MAX_RETRY`]; returns the wait before the retry.
    pub fn report(
        &mut self,
        now: Instant,
        op: &FibOp,
        result: Result<(), String>,
    ) -> Option<Duration> {
        let key = match op {
            FibOp::Replace { route, .. } | FibOp::Delete(route) => Key::Route(route.key()),
            FibOp::AddRule(r) | FibOp::DeleteRule(r) => Key::Rule(r.clone()),
        };
        match result {
            Ok(()) => {
                self.failures.remove(&key);
                if matches!(op, FibOp::Replace { .. } | FibOp::AddRule(_)) {
                    self.seen.insert(key);
                }
                None
            }
            Err(_) => {
                let tries = self.failures.get(&key).map_or(0, |f| f.tries) + 1;
                let wait = Duration::from_secs(1u64 << (tries - 1).min(6)).min(MAX_RETRY);
                self.failures.insert(
                    key,
                    Failure {
                        tries,
                        retry_at: now + wait,
                    },
                );
                Some(wait)
            }
        }
    }

    /// Whether every desired entry was in the kernel (or installed) at the last comparison.
    pub fn in_sync(&self) -> bool {
        self.failures.is_empty()
            && self
                .desired_routes()
                .keys()
                .all(|k| self.seen.contains(&Key::Route(*k)))
            && self
                .desired_rules()
                .into_iter()
                .all(|r| self.seen.contains(&Key::Rule(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn route(dst: &str, oifs: &[u32]) -> Route {
        Route::new(net(dst), MAIN_TABLE, 0, oifs.to_vec())
    }

    /// Applies a plan to a simulated kernel, every change succeeding.
    fn apply(
        fib: &mut Fib,
        now: Instant,
        kernel: &mut Vec<Route>,
        rules: &mut Vec<Rule>,
    ) -> Vec<FibOp> {
        let ops = fib.plan(now, kernel, rules);
        for op in &ops {
            match op {
                FibOp::Replace { route, .. } => {
                    kernel.retain(|r| r.key() != route.key());
                    kernel.push(route.clone());
                }
                FibOp::Delete(route) => kernel.retain(|r| r != route),
                FibOp::AddRule(r) => rules.push(r.clone()),
                FibOp::DeleteRule(r) => rules.retain(|x| x != r),
            }
            fib.report(now, op, Ok(()));
        }
        ops
    }

    #[test]
    fn converges_prunes_stale_entries_and_restores_a_deleted_route() {
        let t0 = Instant::now();
        let mut fib = Fib::new(Duration::from_secs(5));
        // A crashed earlier run left a route and a rule of cgw's protocol.
        let mut kernel = vec![route("10.77.0.0/24", &[9])];
        let mut rules = vec![Rule {
            from: net("10.78.0.0/24"),
            table: 100,
            priority: RULE_PRIORITY,
        }];
        let lan = Rule {
            from: net("10.10.0.0/24"),
            table: 100,
            priority: RULE_PRIORITY,
        };
        fib.set(
            Source::Static,
            vec![route("172.31.0.0/16", &[3])],
            vec![lan.clone()],
        );
        assert!(fib.due(t0));
        let ops = apply(&mut fib, t0, &mut kernel, &mut rules);
        assert_eq!(ops.len(), 4, "{ops:?}");
        assert_eq!(kernel, vec![route("172.31.0.0/16", &[3])]);
        assert_eq!(rules, vec![lan.clone()]);
        assert!(fib.in_sync());
        // Nothing to do until the re-check; then nothing changes.
        assert!(!fib.due(t0 + Duration::from_secs(4)));
        assert!(fib.due(t0 + Duration::from_secs(5)));
        assert!(apply(
            &mut fib,
            t0 + Duration::from_secs(5),
            &mut kernel,
            &mut rules
        )
        .is_empty());
        // Someone deletes the route: the next re-check restores it and says so.
        kernel.clear();
        let ops = apply(
            &mut fib,
            t0 + Duration::from_secs(10),
            &mut kernel,
            &mut rules,
        );
        assert_eq!(
            ops,
            vec![FibOp::Replace {
                route: route("172.31.0.0/16", &[3]),
                restored: true
            }]
        );
        assert_eq!(kernel.len(), 1);
    }

    #[test]
    fn failover_replaces_in_place_and_an_empty_wish_removes_everything() {
        let t0 = Instant::now();
        let mut fib = Fib::default();
        let (mut kernel, mut rules) = (Vec::new(), Vec::new());
        fib.set(Source::Static, vec![route("172.31.0.0/16", &[3])], vec![]);
        apply(&mut fib, t0, &mut kernel, &mut rules);
        // Failover to tunnel 2 (interface 4): one replace, no delete (no gap in routing).
        fib.set(Source::Static, vec![route("172.31.0.0/16", &[4])], vec![]);
        assert!(fib.due(t0));
        let ops = apply(&mut fib, t0, &mut kernel, &mut rules);
        assert_eq!(
            ops,
            vec![FibOp::Replace {
                route: route("172.31.0.0/16", &[4]),
                restored: false
            }]
        );
        // BGP's ECMP route next to it; interface order does not matter.
        fib.set(
            Source::Bgp,
            vec![route("10.201.0.0/16", &[4, 3, 4])],
            vec![],
        );
        apply(&mut fib, t0, &mut kernel, &mut rules);
        assert!(kernel.contains(&route("10.201.0.0/16", &[3, 4])));
        assert!(apply(&mut fib, t0 + RECHECK, &mut kernel, &mut rules).is_empty());
        // Shutdown: nothing desired, everything of cgw's goes.
        fib.set(Source::Static, vec![], vec![]);
        fib.set(Source::Bgp, vec![], vec![]);
        apply(&mut fib, t0 + RECHECK, &mut kernel, &mut rules);
        assert!(kernel.is_empty());
    }

    #[test]
    fn a_failed_change_is_retried_with_backoff() {
        let t0 = Instant::now();
        let mut fib = Fib::default();
        fib.set(Source::Static, vec![route("172.31.0.0/16", &[3])], vec![]);
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..8 {
            let ops = fib.plan(now, &[], &[]);
            assert_eq!(ops.len(), 1, "at {:?}", now - t0);
            waits.push(fib.report(now, &ops[0], Err("ENODEV".into())).unwrap());
            // Not before the retry time (the re-check alone does not retry it).
            let before = now
                + waits
                    .last()
                    .unwrap()
                    .saturating_sub(Duration::from_millis(1));
            assert!(fib.plan(before, &[], &[]).is_empty());
            now = fib
                .poll_timeout()
                .unwrap()
                .max(now + *waits.last().unwrap());
        }
        let secs: Vec<u64> = waits.iter().map(|w| w.as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60]);
        assert!(!fib.in_sync());
        // A new wish for the route retries at once.
        fib.set(Source::Static, vec![route("172.31.0.0/16", &[4])], vec![]);
        assert_eq!(fib.plan(now, &[], &[]).len(), 1);
    }
}
