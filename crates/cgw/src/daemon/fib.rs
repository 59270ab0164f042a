//! The one task that owns cgw's routes and rules in the kernel: it keeps the kernel in step
//! with the desired state ([`cgw::fib::Fib`]), at once when the desired state changes and
//! every few seconds otherwise, so that a route deleted behind cgw's back comes back and a
//! failed change is retried. Static routing and BGP both go through it; no other part of
//! the daemon writes routes, and none waits for netlink.
//!
//! Scope: the routes it compares are cgw's (protocol 200) in cgw's table through this
//! daemon's own devices, and the rules with cgw's protocol number for cgw's table, so that
//! two daemons in one namespace (`cgw emulate-aws` runs both endpoints in one process) leave
//! each other's entries alone. Routes of a crashed earlier run went with its TUN devices;
//! its rules are pruned at the first comparison.

use super::netlink::Netlink;
use cgw::fib::{Fib, FibOp, Route, Rule, Source};
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

enum Request {
    Set(Source, Vec<Route>, Vec<Rule>),
    Flush(oneshot::Sender<()>),
}

/// The daemon's side of the FIB task.
#[derive(Clone)]
pub struct FibHandle {
    tx: mpsc::UnboundedSender<Request>,
}

impl FibHandle {
    /// Replaces the routes and rules `source` wants; applied in the background.
    pub fn set(&self, source: Source, routes: Vec<Route>, rules: Vec<Rule>) {
        let _ = self.tx.send(Request::Set(source, routes, rules));
    }

    /// Removes every route and rule of cgw's and ends the task (shutdown).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the FIB task. `devices`: this daemon's interfaces (index to name), `table`: the
/// routing table of its routes and rules.
pub fn spawn(nl: Netlink, devices: HashMap<u32, String>, table: u32) -> FibHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run(nl, devices, table, rx));
    FibHandle { tx }
}

async fn run(
    nl: Netlink,
    devices: HashMap<u32, String>,
    table: u32,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    let mut fib = Fib::default();
    let mut read_error_logged: Option<Instant> = None;
    loop {
        let deadline = fib
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + fib.recheck());
        let mut next = tokio::select! {
            r = rx.recv() => match r {
                Some(r) => Some(r),
                None => return,
            },
            _ = tokio::time::sleep_until(deadline.into()) => None,
        };
        // Take every wish that is already queued before talking to the kernel.
        while let Some(r) = next.take().or_else(|| rx.try_recv().ok()) {
            match r {
                Request::Set(s, routes, rules) => fib.set(s, routes, rules),
                Request::Flush(done) => {
                    fib.set(Source::Static, vec![], vec![]);
                    fib.set(Source::Bgp, vec![], vec![]);
                    sync(&nl, &mut fib, &devices, table, &mut read_error_logged).await;
                    let _ = done.send(());
                    return;
                }
            }
        }
        if fib.due(Instant::now()) {
            sync(&nl, &mut fib, &devices, table, &mut read_error_logged).await;
        }
    }
}

/// One comparison of the kernel with the desired state, and the changes it calls for.
async fn sync(
    nl: &Netlink,
    fib: &mut Fib,
    devices: &HashMap<u32, String>,
    table: u32,
    read_error_logged: &mut Option<Instant>,
) {
    let now = Instant::now();
    let kernel = match (nl.cgw_routes().await, nl.cgw_rules().await) {
        (Ok(routes), Ok(rules)) => (
            routes
                .into_iter()
                .filter(|r| r.table == table && r.oifs.iter().all(|i| devices.contains_key(i)))
                .collect::<Vec<_>>(),
            rules
                .into_iter()
                .filter(|r| r.table == table)
                .collect::<Vec<_>>(),
        ),
        (Err(e), _) | (_, Err(e)) => {
            if read_error_logged.is_none_or(|t| now.duration_since(t).as_secs() >= 60) {
                warn!("routes: reading the kernel's routes and rules: {e:#}; trying again");
                *read_error_logged = Some(now);
            }
            return;
        }
    };
    let dev = |r: &Route| {
        r.oifs
            .iter()
            .map(|i| devices.get(i).cloned().unwrap_or_else(|| format!("if{i}")))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    for op in fib.plan(now, &kernel.0, &kernel.1) {
        let result = match &op {
            FibOp::Replace { route, .. } => nl.replace(route).await,
            FibOp::Delete(route) => nl.delete(route).await,
            FibOp::AddRule(r) => nl.add(r).await,
            FibOp::DeleteRule(r) => nl.remove(r).await,
        };
        let text = match &op {
            FibOp::Replace { route, .. } => format!("route {} via {}", route.dst, dev(route)),
            FibOp::Delete(route) => format!("route {} via {}", route.dst, dev(route)),
            FibOp::AddRule(r) | FibOp::DeleteRule(r) => {
                format!("rule from {} lookup {}", r.from, r.table)
            }
        };
        let result = result.map_err(|e| format!("{e:#}"));
        match (&result, &op) {
            (Ok(()), FibOp::Replace { restored: true, .. }) => {
                warn!("{text}: was missing from the kernel (deleted by someone else?): restored")
            }
            (Ok(()), FibOp::Replace { .. } | FibOp::AddRule(_)) => info!("{text}"),
            (Ok(()), FibOp::Delete(_) | FibOp::DeleteRule(_)) => info!("{text}: removed"),
            (Err(_), _) => {}
        }
        let error = result.as_ref().err().cloned();
        if let (Some(w), Some(e)) = (fib.report(now, &op, result), error) {
            warn!("{text}: {e}; retrying in {} s", w.as_secs());
        }
    }
}
