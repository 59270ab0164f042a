//! Whole gateways in memory: cgw's `Gateway` against two `Gateway`s in the AWS role, with
//! the data path's SA tables, over a simulated network on a simulated clock (see
//! `cgw_tests::world`). Every figure asserted follows from the configuration.

use cgw::config::Routing;
use cgw::gateway::RETRY_MIN;
use cgw::status::TunnelState;
use cgw_tests::world::{secs, World};
use std::time::Duration;

/// Monitor 2 s x 3, failback hold-down 30 s (the test's; the defaults are 2 s x 5, 30 s).
fn quick_monitor(c: &mut cgw::config::CgwConfig) {
    c.monitor.interval_secs = 2;
    c.monitor.threshold = 3;
    c.monitor.failback_hold_secs = 30;
}

fn up(routing: Routing, seed: u64, customize: impl FnOnce(&mut cgw::config::CgwConfig)) -> World {
    let mut w = World::new(routing, false, seed, customize);
    let t = w.run_until_true(secs(20), |w| w.all_up());
    assert!(t.is_some(), "both tunnels up within 20 s");
    w
}

fn assert_no_loss(w: &World) {
    assert!(
        w.to_vpc.lost.is_empty(),
        "to the VPC: {} of {} lost, first: {:?}",
        w.to_vpc.lost.len(),
        w.to_vpc.sent,
        w.to_vpc.lost.first()
    );
    assert!(
        w.to_lan.lost.is_empty(),
        "to the LAN: {} of {} lost, first: {:?}",
        w.to_lan.lost.len(),
        w.to_lan.sent,
        w.to_lan.lost.first()
    );
    for h in std::iter::once(&w.cgw).chain(w.aws.iter().flatten()) {
        assert!(
            h.barrier_violations.is_empty(),
            "{:?}",
            h.barrier_violations
        );
    }
}

#[test]
fn static_failover_and_failback_take_the_monitor_and_hold_down_times() {
    let mut w = up(Routing::Static, 1, quick_monitor);
    // Past the startup grace; the routes are on tunnel 1.
    w.run_for(secs(15));
    assert_eq!(w.vpc_route(), Some(0));
    assert_eq!(w.cgw.gw.failovers(), 0);

    // Endpoint 1 dies without a Delete. The monitor needs 3 intervals without an answer
    // after the last answered echo: the routes move after more than 6 s and at most 8 s.
    w.kill_endpoint(0);
    let failover = w
        .run_until_true(secs(60), |w| w.vpc_route() == Some(1))
        .expect("failover");
    assert!(
        failover > secs(6) && failover <= secs(8),
        "failover after {failover:?}"
    );
    assert_eq!(w.cgw.gw.failovers(), 1);

    // It comes back fresh: DPD finds the dead IKE SA, cgw sets up a new one, the monitor
    // sees AWS answer; the routes return exactly the hold-down (30 s) after that.
    w.restart_endpoint(0);
    w.run_until_true(secs(120), |w| w.cgw.gw.carrying(0))
        .expect("tunnel 1 carries traffic again");
    assert_eq!(w.vpc_route(), Some(1), "not before the hold-down");
    let back = w
        .run_until_true(secs(60), |w| w.vpc_route() == Some(0))
        .expect("failback");
    assert_eq!(back, secs(30), "failback after the hold-down");
    assert_eq!(w.cgw.gw.failovers(), 2);
}

#[test]
fn a_killed_and_restarted_endpoint_is_back_after_dpd_timeout_and_the_backoff() {
    let mut w = up(Routing::Static, 2, quick_monitor);
    w.run_for(secs(15));
    let dpd = &w.cgw_config.tunnels[0];
    let (interval, timeout) = (secs(dpd.dpd_interval_secs), secs(dpd.dpd_timeout_secs));
    // Killed and at once restarted with no SAs (a replaced AWS endpoint): only cgw's
    // dead-peer detection can tell.
    w.kill_endpoint(0);
    w.restart_endpoint(0);
    let kill = w.now;
    let mut failed_at = None;
    let back = w
        .run_until_true(secs(300), |w| {
            if failed_at.is_none() && w.cgw.gw.tunnel_state(0) != TunnelState::Up {
                failed_at = Some(w.now - kill);
            }
            failed_at.is_some() && w.cgw.gw.tunnel_state(0) == TunnelState::Up
        })
        .expect("re-established");
    let failed_at = failed_at.unwrap();
    // DPD: silence for the interval, then the liveness check unanswered for the timeout.
    assert!(
        failed_at >= timeout && failed_at <= interval + timeout,
        "DPD gave up after {failed_at:?} (interval {interval:?}, timeout {timeout:?})"
    );
    // Then the first retry (RETRY_MIN) and one exchange of round trips.
    assert!(
        back >= failed_at + RETRY_MIN && back <= failed_at + RETRY_MIN + secs(1),
        "re-established {back:?} after the kill, DPD gave up at {failed_at:?}"
    );
    assert!(w.aws[0].as_ref().unwrap().gw.carrying(0));
}

#[test]
fn ten_percent_loss_does_not_fail_over_with_the_default_monitor() {
    let mut w = World::new(Routing::Static, false, 3, |_| {});
    assert_eq!(
        (
            w.cgw_config.monitor.interval_secs,
            w.cgw_config.monitor.threshold
        ),
        (2, 5),
        "the defaults"
    );
    w.faults.loss = 10;
    w.run_until_true(secs(60), |w| w.all_up())
        .expect("up under loss");
    w.run_for(secs(6 * 3600));
    assert_eq!(w.cgw.gw.failovers(), 0, "a failover under 10 % loss");
    assert!(w.cgw.gw.carrying(0) && w.cgw.gw.carrying(1));
    assert!(w.cgw.echoes[0] > 10_000, "{} echoes", w.cgw.echoes[0]);
}

#[test]
fn bgp_sessions_follow_tunnel_health() {
    let mut w = up(Routing::Bgp, 4, quick_monitor);
    w.run_until_true(secs(10), |w| w.bgp_established(0) && w.bgp_established(1))
        .expect("both sessions");
    w.run_for(secs(1));
    // MED 100 on tunnel 1, 200 on tunnel 2.
    assert_eq!(w.vpc_route(), Some(0));
    w.kill_endpoint(0);
    let moved = w
        .run_until_true(secs(60), |w| w.vpc_route() == Some(1))
        .expect("route via tunnel 2");
    // The monitor ends the session (not the 30 s hold time): 3 intervals of 2 s.
    assert!(moved > secs(6) && moved <= secs(8), "moved after {moved:?}");
    assert!(!w.cgw.bgp_up[0]);
    assert!(w.bgp_established(1));
    // Back: DPD, a new IKE SA, the monitor, the session, and MED 100 wins again.
    w.restart_endpoint(0);
    w.run_until_true(secs(120), |w| w.vpc_route() == Some(0))
        .expect("route back via tunnel 1");
    assert!(w.bgp_established(0));
}

fn rekeys_under_traffic(cgw_child_lifetime: u64, seed: u64) -> World {
    let mut w = up(Routing::Static, seed, |c| {
        for t in &mut c.tunnels {
            t.child_lifetime_secs = cgw_child_lifetime;
        }
    });
    w.run_traffic(20, secs(5 * 3600));
    assert_no_loss(&w);
    assert!(w.to_vpc.received > 300_000, "{}", w.to_vpc.received);
    w
}

#[test]
fn rekeys_started_by_cgw_under_traffic_lose_nothing() {
    // cgw's lifetime equals AWS's (3600 s); cgw's margin is earlier, so cgw rekeys.
    let w = rekeys_under_traffic(3600, 5);
    let stats = w.cgw.gw.connection(0).stats();
    assert!(stats.child_rekeys >= 4, "{stats:?}");
    // Each replaced inbound SA stays for the rekey grace, then goes.
    assert!(w.cgw.sas[0].inbound_count() <= 2);
}

#[test]
fn rekeys_started_by_aws_under_traffic_lose_nothing() {
    // cgw would keep its Child SAs for two hours: AWS's one-hour rekeys come first.
    let w = rekeys_under_traffic(7200, 6);
    let aws = w.aws[0].as_ref().unwrap().gw.connection(0).stats();
    assert!(aws.child_rekeys >= 4, "{aws:?}");
}

#[test]
fn cgw_down_deletes_every_sa_at_the_peers() {
    let mut w = up(Routing::Bgp, 7, quick_monitor);
    w.run_until_true(secs(10), |w| w.bgp_established(0) && w.bgp_established(1))
        .expect("both sessions");
    let sent = w.cgw.ike_sent;
    let now = w.now;
    w.cgw.gw.close(now);
    let took = w
        .run_until_true(secs(5), |w| w.cgw.gw.is_closed())
        .expect("closed");
    assert!(took < Duration::from_millis(100), "{took:?}");
    assert!(w.cgw.ike_sent >= sent + 2, "a Delete per tunnel");
    for i in 0..2 {
        let aws = w.aws[i].as_ref().unwrap();
        assert_eq!(
            aws.gw.connection(0).ike_sa_count(),
            0,
            "endpoint {i} kept its IKE SA"
        );
        assert_eq!(aws.gw.tunnel_state(0), TunnelState::Down);
        assert!(w.cgw.bgp_shutdown[i]);
    }
    assert!(w.cgw.fib.values().all(|r| r.is_empty()), "{:?}", w.cgw.fib);
}

#[test]
fn two_weeks_with_both_tunnels_and_aws_lifetimes_keep_sa_counts_bounded() {
    // ECP-256 (which AWS accepts) instead of ECP-384 for the ~2,700 key exchanges of two
    // weeks of rekeys, and a 10 s monitor, keep the run short.
    let mut w = up(Routing::Static, 8, |c| {
        c.monitor.interval_secs = 10;
        for t in &mut c.tunnels {
            t.ike_proposals = vec!["aes256-sha384-ecp256".into()];
            t.esp_proposals = vec!["aes256gcm16-ecp256".into()];
        }
    });
    w.step = secs(30);
    let mut worst = (0, 0);
    let mut max_inbound = 0;
    for _ in 0..14 * 24 {
        w.run_for(secs(3600));
        let (ike, child) = w.cgw_sa_counts();
        worst = (worst.0.max(ike), worst.1.max(child));
        max_inbound = max_inbound.max(w.cgw.sas.iter().map(|s| s.inbound_count()).max().unwrap());
        assert!(w.cgw.gw.carrying(0) && w.cgw.gw.carrying(1));
    }
    assert!(
        worst.0 <= 4 && worst.1 <= 4,
        "IKE / Child SAs at worst {worst:?}"
    );
    assert!(max_inbound <= 2, "{max_inbound} inbound SAs");
    let stats = w.cgw.gw.connection(0).stats();
    // 14 days of one-hour Child SAs and eight-hour IKE SAs.
    assert!(stats.child_rekeys >= 14 * 24 - 14, "{stats:?}");
    assert!(stats.ike_rekeys >= 14 * 3 - 3, "{stats:?}");
    assert_eq!(w.cgw.gw.failovers(), 0);
}

#[test]
fn packet_limits_rekey_the_child_sa_under_traffic_without_loss() {
    let mut w = up(Routing::Static, 9, |c| {
        for t in &mut c.tunnels {
            t.child_lifetime_packets = Some(100);
        }
    });
    w.run_traffic(20, secs(60));
    assert_no_loss(&w);
    // 60 s x 20 packets each way (and the monitor's echoes) on tunnel 1: a rekey every
    // 100 packets in either direction.
    let rekeys = w.cgw.gw.connection(0).stats().child_rekeys;
    assert!(rekeys >= 1200 / 100, "{rekeys} rekeys");
}

#[test]
fn behind_a_nat_with_duplication_and_reordering_rekeys_lose_nothing() {
    let mut w = World::new(Routing::Static, true, 10, |c| {
        for t in &mut c.tunnels {
            // 15-minute Child SAs (AWS's shortest): eight rekeys in two hours.
            t.child_lifetime_secs = 900;
        }
    });
    w.faults.dup = 5;
    w.faults.reorder = 10;
    if w.run_until_true(secs(30), |w| w.all_up()).is_none() {
        let s = w.cgw.gw.status(w.now, &[], 0, 0);
        panic!(
            "not up through the NAT: {:#?}",
            s.tunnels
                .iter()
                .map(|t| (&t.state, &t.last_error, &t.ike_sa))
                .collect::<Vec<_>>()
        );
    }
    let s = w.cgw.gw.status(w.now, &[], 0, 0);
    for t in &s.tunnels {
        let ike = t.ike_sa.as_ref().unwrap();
        assert!(ike.local_behind_nat && ike.nat_t, "{t:?}");
        assert!(t.child_sa.as_ref().unwrap().udp_encap, "{t:?}");
    }
    w.run_traffic(20, secs(2 * 3600));
    assert_no_loss(&w);
    assert!(w.to_lan.received > 100_000, "{}", w.to_lan.received);
    let rekeys = w.cgw.gw.connection(0).stats().child_rekeys;
    assert!(rekeys >= 7, "{rekeys} Child SA rekeys");
    // cgw behind the NAT keeps the mapping open: a keepalive every 20 s per tunnel.
    assert!(
        w.cgw.keepalives >= 2 * (2 * 3600 / 20) - 2,
        "{} keepalives",
        w.cgw.keepalives
    );
}
