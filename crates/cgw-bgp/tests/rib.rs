//! Best-path selection tables and Loc-RIB change reporting.

use cgw_bgp::*;
use std::net::Ipv4Addr;
use std::sync::Arc;

const T1: SessionId = SessionId(1);
const T2: SessionId = SessionId(2);

fn prefix(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

fn vpc() -> Ipv4Prefix {
    prefix("10.0.0.0/16")
}

fn peer(id: [u8; 4], addr: [u8; 4], asn: u32) -> PeerInfo {
    PeerInfo {
        peer_id: Ipv4Addr::from(id),
        peer_address: Ipv4Addr::from(addr),
        peer_asn: asn,
        external: true,
        local_pref: None,
    }
}

/// The two tunnels of one AWS VPN connection.
fn aws_tunnels(config: RibConfig) -> Rib {
    let mut rib = Rib::new(config);
    rib.session_up(T1, peer([169, 254, 10, 1], [169, 254, 10, 1], 64512));
    rib.session_up(T2, peer([169, 254, 11, 1], [169, 254, 11, 1], 64512));
    rib
}

fn attrs(path: &[u32], med: Option<u32>, next_hop: [u8; 4]) -> Arc<PathAttributes> {
    let mut a = PathAttributes::new(
        Origin::Igp,
        AsPath::from_sequence(path.iter().copied()),
        Ipv4Addr::from(next_hop),
    );
    a.multi_exit_disc = med;
    Arc::new(a)
}

fn announce(rib: &mut Rib, s: SessionId, a: Arc<PathAttributes>) -> Vec<RouteChange> {
    rib.update(s, &[(vpc(), a)], &[])
}

fn best_session(rib: &Rib) -> Option<SessionId> {
    rib.best(&vpc()).map(|r| r.session)
}

#[test]
fn lower_med_wins_between_the_two_aws_tunnels() {
    let mut rib = aws_tunnels(RibConfig::default());
    // Tunnel 1 is the backup (MED 200) and arrives first.
    let c = announce(&mut rib, T1, attrs(&[64512], Some(200), [169, 254, 10, 1]));
    assert!(matches!(&c[..], [RouteChange::Added { paths, .. }] if paths[0].session == T1));
    let c = announce(&mut rib, T2, attrs(&[64512], Some(100), [169, 254, 11, 1]));
    assert_eq!(c.len(), 1);
    let RouteChange::Changed { prefix: p, paths } = &c[0] else {
        panic!("{c:?}")
    };
    assert_eq!(*p, vpc());
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].session, T2);
    assert_eq!(paths[0].next_hop(), Ipv4Addr::new(169, 254, 11, 1));
    // The same announcement again changes nothing.
    assert!(announce(&mut rib, T2, attrs(&[64512], Some(100), [169, 254, 11, 1])).is_empty());
    // Candidates in preference order.
    let order: Vec<SessionId> = rib.candidates(&vpc()).iter().map(|r| r.session).collect();
    assert_eq!(order, vec![T2, T1]);
}

#[test]
fn local_pref_beats_as_path() {
    let mut rib = Rib::new(RibConfig::default());
    let mut preferred = peer([1, 1, 1, 1], [10, 0, 0, 1], 64512);
    preferred.local_pref = Some(200);
    rib.session_up(T1, preferred);
    rib.session_up(T2, peer([2, 2, 2, 2], [10, 0, 0, 2], 64512));
    announce(&mut rib, T2, attrs(&[64512], None, [10, 0, 0, 2]));
    announce(
        &mut rib,
        T1,
        attrs(&[64512, 7224, 7224], None, [10, 0, 0, 1]),
    );
    assert_eq!(best_session(&rib), Some(T1));
    assert_eq!(rib.best(&vpc()).unwrap().local_pref, 200);
}

#[test]
fn as_path_beats_med() {
    let mut rib = aws_tunnels(RibConfig::default());
    announce(
        &mut rib,
        T1,
        attrs(&[64512, 64512], Some(0), [169, 254, 10, 1]),
    );
    announce(&mut rib, T2, attrs(&[64512], Some(500), [169, 254, 11, 1]));
    assert_eq!(best_session(&rib), Some(T2));
}

#[test]
fn as_set_counts_one() {
    let mut rib = aws_tunnels(RibConfig::default());
    let mut set = PathAttributes::new(
        Origin::Igp,
        AsPath {
            segments: vec![
                AsPathSegment::Sequence(vec![64512]),
                AsPathSegment::Set(vec![1, 2, 3, 4]),
            ],
        },
        Ipv4Addr::new(169, 254, 10, 1),
    );
    set.multi_exit_disc = Some(1);
    announce(
        &mut rib,
        T1,
        attrs(&[64512, 1, 2], Some(0), [169, 254, 10, 1]),
    );
    announce(&mut rib, T2, Arc::new(set));
    assert_eq!(best_session(&rib), Some(T2), "length 2 beats length 3");
}

#[test]
fn origin_breaks_ties_before_med() {
    let mut rib = aws_tunnels(RibConfig::default());
    let mut incomplete = (*attrs(&[64512], Some(0), [169, 254, 10, 1])).clone();
    incomplete.origin = Origin::Incomplete;
    announce(&mut rib, T1, Arc::new(incomplete));
    announce(&mut rib, T2, attrs(&[64512], Some(900), [169, 254, 11, 1]));
    assert_eq!(best_session(&rib), Some(T2));
}

#[test]
fn med_not_compared_across_neighbour_ases_unless_configured() {
    let setup = |config| {
        let mut rib = Rib::new(config);
        rib.session_up(T1, peer([1, 1, 1, 1], [10, 0, 0, 1], 64512));
        rib.session_up(T2, peer([2, 2, 2, 2], [10, 0, 0, 2], 64513));
        announce(&mut rib, T1, attrs(&[64512], Some(200), [10, 0, 0, 1]));
        announce(&mut rib, T2, attrs(&[64513], Some(100), [10, 0, 0, 2]));
        rib
    };
    // Different neighbour ASes: MED ignored, the older path stays.
    assert_eq!(best_session(&setup(RibConfig::default())), Some(T1));
    let always = RibConfig {
        always_compare_med: true,
        ..RibConfig::default()
    };
    assert_eq!(best_session(&setup(always)), Some(T2));
}

#[test]
fn missing_med_counts_as_zero() {
    let mut rib = aws_tunnels(RibConfig::default());
    announce(&mut rib, T1, attrs(&[64512], Some(1), [169, 254, 10, 1]));
    announce(&mut rib, T2, attrs(&[64512], None, [169, 254, 11, 1]));
    assert_eq!(best_session(&rib), Some(T2));
}

#[test]
fn external_beats_internal() {
    let mut rib = Rib::new(RibConfig::default());
    let mut ibgp = peer([1, 1, 1, 1], [10, 0, 0, 1], 65001);
    ibgp.external = false;
    rib.session_up(T1, ibgp);
    rib.session_up(T2, peer([2, 2, 2, 2], [10, 0, 0, 2], 64512));
    announce(&mut rib, T1, attrs(&[64512], None, [10, 0, 0, 1]));
    announce(&mut rib, T2, attrs(&[64512], None, [10, 0, 0, 2]));
    assert_eq!(best_session(&rib), Some(T2));
}

#[test]
fn oldest_path_then_router_id_then_address() {
    let mut rib = aws_tunnels(RibConfig::default());
    announce(&mut rib, T2, attrs(&[64512], Some(100), [169, 254, 11, 1]));
    announce(&mut rib, T1, attrs(&[64512], Some(100), [169, 254, 10, 1]));
    assert_eq!(best_session(&rib), Some(T2), "the older path stays best");
    // Re-announcing with new attributes makes a path young again.
    let mut changed = (*attrs(&[64512], Some(100), [169, 254, 11, 1])).clone();
    changed.atomic_aggregate = true;
    announce(&mut rib, T2, Arc::new(changed));
    assert_eq!(best_session(&rib), Some(T1));

    // compare_router_id: the lower identifier wins whatever the age.
    let mut rib = aws_tunnels(RibConfig {
        compare_router_id: true,
        ..RibConfig::default()
    });
    announce(&mut rib, T2, attrs(&[64512], Some(100), [169, 254, 11, 1]));
    announce(&mut rib, T1, attrs(&[64512], Some(100), [169, 254, 10, 1]));
    assert_eq!(best_session(&rib), Some(T1));
    // Same identifier: the lower peer address.
    let mut rib = Rib::new(RibConfig {
        compare_router_id: true,
        ..RibConfig::default()
    });
    rib.session_up(T1, peer([9, 9, 9, 9], [10, 0, 0, 9], 64512));
    rib.session_up(T2, peer([9, 9, 9, 9], [10, 0, 0, 2], 64512));
    announce(&mut rib, T1, attrs(&[64512], None, [10, 0, 0, 9]));
    announce(&mut rib, T2, attrs(&[64512], None, [10, 0, 0, 2]));
    assert_eq!(best_session(&rib), Some(T2));
}

#[test]
fn session_down_promotes_the_other_path() {
    let mut rib = aws_tunnels(RibConfig::default());
    announce(&mut rib, T1, attrs(&[64512], Some(100), [169, 254, 10, 1]));
    announce(&mut rib, T2, attrs(&[64512], Some(200), [169, 254, 11, 1]));
    rib.update(
        T1,
        &[(
            prefix("10.1.0.0/16"),
            attrs(&[64512], Some(100), [169, 254, 10, 1]),
        )],
        &[],
    );
    assert_eq!(best_session(&rib), Some(T1));
    assert_eq!(rib.len(), 2);

    let changes = rib.session_down(T1);
    assert_eq!(changes.len(), 2);
    let RouteChange::Changed { paths, .. } = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(changes[0].prefix(), vpc());
    assert_eq!(paths[0].session, T2);
    assert_eq!(
        changes[1],
        RouteChange::Removed {
            prefix: prefix("10.1.0.0/16")
        }
    );
    assert_eq!(rib.adj_rib_in(T1).count(), 0);

    assert_eq!(
        rib.session_down(T2),
        vec![RouteChange::Removed { prefix: vpc() }]
    );
    assert!(rib.is_empty());
    assert!(rib.session_down(T2).is_empty());
}

#[test]
fn withdrawal_and_reannouncement() {
    let mut rib = aws_tunnels(RibConfig::default());
    announce(&mut rib, T1, attrs(&[64512], Some(100), [169, 254, 10, 1]));
    announce(&mut rib, T2, attrs(&[64512], Some(200), [169, 254, 11, 1]));
    let c = rib.update(T1, &[], &[vpc()]);
    assert!(matches!(&c[..], [RouteChange::Changed { paths, .. }] if paths[0].session == T2));
    // Withdrawing what is not there changes nothing.
    assert!(rib
        .update(T1, &[], &[vpc(), prefix("192.0.2.0/24")])
        .is_empty());
    // Withdrawn and announced in one UPDATE: the announcement stands.
    let c = rib.update(
        T1,
        &[(vpc(), attrs(&[64512], Some(50), [169, 254, 10, 1]))],
        &[vpc()],
    );
    assert!(matches!(&c[..], [RouteChange::Changed { paths, .. }] if paths[0].session == T1));
}

#[test]
fn ecmp_returns_both_equal_paths() {
    let mut rib = aws_tunnels(RibConfig {
        ecmp: true,
        ..RibConfig::default()
    });
    announce(&mut rib, T1, attrs(&[64512], Some(100), [169, 254, 10, 1]));
    let c = announce(&mut rib, T2, attrs(&[64512], Some(100), [169, 254, 11, 1]));
    let [RouteChange::Changed { paths, .. }] = &c[..] else {
        panic!("{c:?}")
    };
    let hops: Vec<Ipv4Addr> = paths.iter().map(Route::next_hop).collect();
    assert_eq!(
        hops,
        vec![
            Ipv4Addr::new(169, 254, 10, 1),
            Ipv4Addr::new(169, 254, 11, 1)
        ]
    );
    assert_eq!(rib.best_paths(&vpc()).len(), 2);
    // A worse MED leaves the set.
    let c = announce(&mut rib, T2, attrs(&[64512], Some(150), [169, 254, 11, 1]));
    let [RouteChange::Changed { paths, .. }] = &c[..] else {
        panic!("{c:?}")
    };
    assert_eq!(paths.len(), 1);
    // Not equal without ECMP.
    let mut rib = aws_tunnels(RibConfig::default());
    announce(&mut rib, T1, attrs(&[64512], Some(100), [169, 254, 10, 1]));
    announce(&mut rib, T2, attrs(&[64512], Some(100), [169, 254, 11, 1]));
    assert_eq!(rib.best_paths(&vpc()).len(), 1);
}

#[test]
fn policy_change_reselects() {
    let mut rib = aws_tunnels(RibConfig::default());
    announce(&mut rib, T1, attrs(&[64512], Some(100), [169, 254, 10, 1]));
    announce(&mut rib, T2, attrs(&[64512], Some(200), [169, 254, 11, 1]));
    let mut p2 = peer([169, 254, 11, 1], [169, 254, 11, 1], 64512);
    p2.local_pref = Some(150);
    let c = rib.session_up(T2, p2);
    assert!(matches!(&c[..], [RouteChange::Changed { paths, .. }] if paths[0].session == T2));
    let listed: Vec<(Ipv4Prefix, usize)> = rib.iter().map(|(p, r)| (p, r.len())).collect();
    assert_eq!(listed, vec![(vpc(), 1)]);
}

#[test]
fn events_feed_the_rib() {
    // A session's Update event goes straight into the RIB.
    let now = std::time::Instant::now();
    let (mut ours, mut peer) = cgw_bgp::fuzzing::established_pair(now);
    peer.advertise(now, &[LocalRoute::from(vpc())]);
    let mut rib = Rib::new(RibConfig::default());
    let mut changes = Vec::new();
    while let Some(t) = peer.poll_transmit() {
        ours.handle_bytes(now, &t);
    }
    while let Some(e) = ours.poll_event() {
        if let Event::Update {
            announced,
            withdrawn,
        } = e
        {
            changes.extend(rib.update(T1, &announced, &withdrawn));
        }
    }
    assert!(matches!(&changes[..], [RouteChange::Added { prefix, .. }] if *prefix == vpc()));
}
