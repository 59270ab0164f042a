//! Peers that misbehave the ways other IKEv2 implementations do (issue 15): a Child SA
//! rekey answered without a key exchange, without the PFS group, with NO_PROPOSAL_CHOSEN,
//! with TS_UNACCEPTABLE, with an empty response, or not at all; a responder whose identity we
//! refuse; a proposal with more transforms than a scanner's probe; dead-peer detection that
//! names what went unanswered; and what the interop runs found (an ESP choice under the wrong
//! proposal number, a peer that deletes the only Child SA, INVALID_KE naming the group we
//! sent, fragmentation support announced unasked). In memory, with a simulated clock.

use cgw_ike::{Config, Connection, DpdConfig, EspProposal, Event, IkeError, Lifetimes};
use cgw_tests::{child_sas, ike_failures, Pair, Side, A_ADDR, B_ADDR};
use cgw_wire::{ExchangeType, NotifyType, Payload, ProtocolId, TransformType};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const PSK: &str = "Peer.Faults_Test-Key.0123456789";
const CCSA: u8 = ExchangeType::CREATE_CHILD_SA.0;

/// Whether a response is the answer to a Child SA rekey (an SA payload for ESP).
fn child_rekey_response(ex: ExchangeType, ps: &[Payload]) -> bool {
    ex == ExchangeType::CREATE_CHILD_SA
        && ps.iter().any(|p| {
            matches!(p, Payload::Sa(sa) if sa.proposals.iter().any(|x| x.protocol == ProtocolId::ESP))
        })
}

fn without_ke(ex: ExchangeType, ps: &mut Vec<Payload>) {
    if child_rekey_response(ex, ps) {
        ps.retain(|p| !matches!(p, Payload::Ke(_)));
    }
}

fn without_pfs(ex: ExchangeType, ps: &mut Vec<Payload>) {
    if child_rekey_response(ex, ps) {
        ps.retain(|p| !matches!(p, Payload::Ke(_)));
        for p in ps.iter_mut() {
            if let Payload::Sa(sa) = p {
                for x in &mut sa.proposals {
                    x.transforms
                        .retain(|t| t.transform_type != TransformType::DH);
                }
            }
        }
    }
}

fn ts_unacceptable(ex: ExchangeType, ps: &mut Vec<Payload>) {
    if child_rekey_response(ex, ps) {
        *ps = vec![Payload::Notify(cgw_wire::Notify::new(
            NotifyType::TS_UNACCEPTABLE,
            vec![],
        ))];
    }
}

/// INVALID_KE_PAYLOAD naming the PFS group the initiator's KE payload used (the group of
/// the SA we would have chosen).
fn invalid_ke_same_group(ex: ExchangeType, ps: &mut Vec<Payload>) {
    if child_rekey_response(ex, ps) {
        let group = ps
            .iter()
            .find_map(|p| match p {
                Payload::Ke(k) => Some(k.dh_group),
                _ => None,
            })
            .expect("a PFS rekey answer has KE");
        *ps = vec![Payload::Notify(cgw_wire::Notify::new(
            NotifyType::INVALID_KE_PAYLOAD,
            group.to_be_bytes().to_vec(),
        ))];
    }
}

fn empty(ex: ExchangeType, ps: &mut Vec<Payload>) {
    if child_rekey_response(ex, ps) {
        ps.clear();
    }
}

/// How the peer (side B) answers our Child SA rekeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    WithoutKe,
    WithoutPfs,
    /// Its PFS group is another one than ours: it refuses our rekeys honestly.
    NoProposalChosen,
    TsUnacceptable,
    /// INVALID_KE_PAYLOAD naming the group we sent.
    InvalidKeSameGroup,
    Empty,
    /// It never answers a CREATE_CHILD_SA request.
    Silent,
}

/// AWS lifetimes for cgw (side A); the peer's are twice as long, so that it never starts a
/// rekey itself and everything depends on A's handling of its failed rekeys.
fn configs(peer: Peer, lifetimes: Lifetimes, quick: bool) -> (Config, Config) {
    let (mut a, mut b) = Pair::configs(PSK);
    if quick {
        a = fast(a);
        b = fast(b);
    }
    a.lifetimes = lifetimes;
    b.lifetimes = Lifetimes {
        ike: lifetimes.ike * 2,
        child: lifetimes.child * 2,
        lead: false,
        ..lifetimes
    };
    b.test_response_filter = match peer {
        Peer::WithoutKe => Some(without_ke),
        Peer::WithoutPfs => Some(without_pfs),
        Peer::TsUnacceptable => Some(ts_unacceptable),
        Peer::InvalidKeSameGroup => Some(invalid_ke_same_group),
        Peer::Empty => Some(empty),
        Peer::NoProposalChosen | Peer::Silent => None,
    };
    if peer == Peer::NoProposalChosen {
        // The first Child SA (IKE_AUTH) has no PFS and comes up; rekeys need another group
        // here than the one A offers.
        let other = match a.esp_proposals[0].dh[0] {
            cgw_ike::DhGroup::Ecp384 => cgw_ike::DhGroup::Ecp256,
            _ => cgw_ike::DhGroup::Ecp384,
        };
        b.esp_proposals = a.esp_proposals.clone();
        b.esp_proposals[0].dh = vec![other];
    }
    (a, b)
}

/// Suite-B-GCM-128 on both sides (ECP-256: the weeks-long runs do thousands of key
/// exchanges, and this group costs a third of ECP-384's time).
fn fast(mut c: Config) -> Config {
    c.ike_proposals = vec![cgw_ike::IkeProposal::suite_b_gcm_128()];
    c.esp_proposals = vec![EspProposal::suite_b_gcm_128()];
    c
}

fn pair(peer: Peer, lifetimes: Lifetimes, seed: u64) -> Pair {
    pair_with(peer, lifetimes, seed, false)
}

fn pair_with(peer: Peer, lifetimes: Lifetimes, seed: u64, quick: bool) -> Pair {
    let (a, b) = configs(peer, lifetimes, quick);
    let mut p = Pair::new(a, b, seed);
    if peer == Peer::Silent {
        p.drop_always.push((Side::A, CCSA, false));
    }
    p.a.initiate(p.now);
    assert!(p.drive_until(100, |p| p.a.child_sa_count() == 1
        && p.b.child_sa_count() == 1));
    p
}

fn short() -> Lifetimes {
    Lifetimes {
        ike: Duration::from_secs(3 * 3600),
        child: Duration::from_secs(600),
        rekey_margin: Duration::from_secs(270),
        rekey_fuzz_percent: 0,
        lead: true,
    }
}

fn rekey_failures(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaRekeyFailed { error, .. } => Some(error.to_string()),
            _ => None,
        })
        .collect()
}

/// Steps until `f` holds (at most `limit` of simulated time), recording when each new
/// Child SA rekey failure of A appeared.
fn failure_times(p: &mut Pair, limit: Duration, count: usize) -> Vec<Instant> {
    let end = p.now + limit;
    let mut times = Vec::new();
    let mut seen = rekey_failures(&p.a_events).len();
    while p.now < end && times.len() < count {
        let next = p.next_wakeup().expect("timers run");
        p.run_until(next.min(end));
        let n = rekey_failures(&p.a_events).len();
        for _ in seen..n {
            times.push(p.now);
        }
        seen = n;
    }
    times
}

#[test]
fn rekey_answered_without_ke_is_reported_deleted_on_the_peer_and_retried_with_backoff() {
    let mut p = pair(Peer::WithoutKe, short(), 1);
    let times = failure_times(&mut p, Duration::from_secs(400), 4);
    let errors = rekey_failures(&p.a_events);
    assert!(errors.len() >= 4, "{errors:?}");
    assert!(
        errors[0].contains("without a key exchange (KE payload) for PFS group ECP_384 (20)"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("retrying in 10 s"), "{}", errors[0]);
    assert!(errors[1].contains("retrying in 20 s"), "{}", errors[1]);
    assert!(errors[2].contains("retrying in 40 s"), "{}", errors[2]);
    // The retries are 10, 20 and 40 s apart (plus one round trip).
    let gaps: Vec<u64> = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs())
        .collect();
    assert_eq!(gaps, vec![10, 20, 40], "{times:?}");
    assert!(p.drive_until(50, |p| p.in_flight.is_empty() && !p.a.exchange_in_flight()));
    // Each half-made Child SA was deleted on the peer: it holds one, as before.
    assert_eq!(p.b.child_sa_count(), 1);
    assert_eq!(p.a.child_sa_count(), 1);
    assert_eq!(p.a.stats().child_rekey_failures, errors.len() as u64);
    assert_eq!(p.a.stats().child_rekeys, 0);
    assert!(p.a.is_established());
}

#[test]
fn rekey_answered_with_invalid_ke_for_the_group_we_sent_is_not_retried_with_it() {
    let mut p = pair(Peer::InvalidKeSameGroup, short(), 4);
    failure_times(&mut p, Duration::from_secs(400), 1);
    let errors = rekey_failures(&p.a_events);
    assert!(
        errors[0].contains("naming PFS group ECP_384 (20), the group of the KE payload we sent")
            && errors[0].contains("retrying in 10 s"),
        "{}",
        errors[0]
    );
}

#[test]
fn rekey_answered_without_the_pfs_group_says_so() {
    let mut p = pair(Peer::WithoutPfs, short(), 2);
    failure_times(&mut p, Duration::from_secs(400), 1);
    assert!(p.drive_until(50, |p| p.in_flight.is_empty() && !p.a.exchange_in_flight()));
    let errors = rekey_failures(&p.a_events);
    assert!(
        errors[0].contains(
            "the peer chose aes256gcm16 without PFS, but we require PFS group ECP_384 (20)"
        ),
        "{}",
        errors[0]
    );
    assert_eq!(
        p.b.child_sa_count(),
        1,
        "the peer's half-made Child SA is deleted"
    );
}

#[test]
fn rekey_refused_with_no_proposal_chosen_names_our_offer() {
    let mut p = pair(Peer::NoProposalChosen, short(), 3);
    failure_times(&mut p, Duration::from_secs(400), 1);
    let errors = rekey_failures(&p.a_events);
    assert!(
        errors[0].contains("NO_PROPOSAL_CHOSEN to aes256gcm16-ecp384-noesn"),
        "{}",
        errors[0]
    );
}

/// A gateway-like driver for side A: re-initiates one second after its IKE SA fails, as
/// the daemon does (its first backoff step), and reports ESP traffic as always flowing.
struct Run {
    p: Pair,
    restart_at: Option<Instant>,
    seen: usize,
    /// A's Child SAs with an outbound SA in use (what the data path sends on).
    active: BTreeSet<u32>,
    gap_start: Option<Instant>,
    longest_gap: Duration,
    most_b_ike: usize,
    most_b_child: usize,
    reauths: usize,
}

impl Run {
    fn new(p: Pair) -> Self {
        let mut r = Run {
            p,
            restart_at: None,
            seen: 0,
            active: BTreeSet::new(),
            gap_start: None,
            longest_gap: Duration::ZERO,
            most_b_ike: 0,
            most_b_child: 0,
            reauths: 0,
        };
        r.observe();
        r
    }

    fn observe(&mut self) {
        let now = self.p.now;
        for e in &self.p.a_events[self.seen..] {
            match e {
                Event::ChildSaEstablished(c) if c.outbound_active => {
                    self.active.insert(c.inbound_spi);
                }
                Event::ChildSaOutboundActivated { inbound_spi, .. } => {
                    self.active.insert(*inbound_spi);
                }
                Event::ChildSaDeleted { inbound_spi, .. } => {
                    self.active.remove(inbound_spi);
                }
                Event::IkeSaFailed { stray: false, .. } => {
                    self.restart_at = Some(now + Duration::from_secs(1));
                    self.reauths += 1;
                }
                _ => {}
            }
        }
        self.seen = self.p.a_events.len();
        match (self.active.is_empty(), self.gap_start) {
            (true, None) => self.gap_start = Some(now),
            (false, Some(s)) => {
                self.longest_gap = self.longest_gap.max(now.duration_since(s));
                self.gap_start = None;
            }
            _ => {}
        }
        self.most_b_ike = self.most_b_ike.max(self.p.b.ike_sa_count());
        self.most_b_child = self.most_b_child.max(self.p.b.child_sa_count());
    }

    fn run(&mut self, total: Duration) {
        let end = self.p.now + total;
        while self.p.now < end {
            let next = [self.p.next_wakeup(), self.restart_at]
                .into_iter()
                .flatten()
                .min()
                .expect("timers run");
            self.p.run_until(next.min(end));
            self.p.a.esp_received(self.p.now);
            if self.restart_at.is_some_and(|t| self.p.now >= t) {
                self.restart_at = None;
                if !self.p.a.is_established() && !self.p.a.is_connecting() {
                    let now = self.p.now;
                    self.p.a.initiate(now);
                    // On the wire now, so that the next wakeup is its delivery.
                    self.p.flush();
                }
            }
            self.observe();
        }
    }
}

/// Two weeks of AWS lifetimes against each kind of broken rekey: the tunnel is never without
/// a Child SA for more than the restart (one second and two round trips), the peer never
/// holds more than a replaced IKE SA and its Child SAs, and every failure says why.
#[test]
fn every_kind_of_failed_rekey_recovers_for_weeks_without_piling_up_state() {
    for (i, peer) in [
        Peer::WithoutKe,
        Peer::WithoutPfs,
        Peer::NoProposalChosen,
        Peer::TsUnacceptable,
        Peer::InvalidKeSameGroup,
        Peer::Empty,
        Peer::Silent,
    ]
    .into_iter()
    .enumerate()
    {
        let started = std::time::Instant::now();
        let mut r = Run::new(pair_with(peer, Lifetimes::default(), 10 + i as u64, true));
        r.run(Duration::from_secs(14 * 24 * 3600));
        let what = format!("{peer:?}");
        eprintln!("{what}: 14 days in {:?}", started.elapsed());
        // 14 days of hourly Child SAs, every one of which ends by re-authentication: each
        // rekey of it fails in one way or another.
        assert!(
            (300..=400).contains(&r.reauths),
            "{what}: {} re-authentications in 14 days",
            r.reauths
        );
        assert_eq!(r.p.a.stats().child_rekeys, 0, "{what}");
        assert!(
            r.longest_gap <= Duration::from_millis(1100),
            "{what}: the tunnel was without a Child SA for {:?}",
            r.longest_gap
        );
        assert!(
            r.most_b_ike <= 2 && r.most_b_child <= 3,
            "{what}: the peer held up to {} IKE SAs and {} Child SAs",
            r.most_b_ike,
            r.most_b_child
        );
        let failures = ike_failures(&r.p.a_events);
        let errors = rekey_failures(&r.p.a_events);
        let cause = match peer {
            Peer::WithoutKe => "without a key exchange",
            Peer::WithoutPfs => "without PFS",
            Peer::NoProposalChosen => "NO_PROPOSAL_CHOSEN",
            Peer::TsUnacceptable => "TS_UNACCEPTABLE",
            Peer::InvalidKeSameGroup => "the group of the KE payload we sent",
            Peer::Empty => "empty response",
            Peer::Silent => "",
        };
        if peer == Peer::Silent {
            // No answer at all: the IKE SA fails once the rekey's retransmissions run out,
            // and the error names that exchange.
            assert!(
                failures.iter().all(|e| matches!(
                    e,
                    IkeError::PeerNotResponding { exchange, tries: 5, .. } if exchange == "CREATE_CHILD_SA"
                )),
                "{what}: {failures:?}"
            );
        } else {
            assert!(!errors.is_empty(), "{what}");
            assert!(
                errors
                    .iter()
                    .all(|e| e.contains(cause) || e.contains("TEMPORARY")),
                "{what}: {errors:?}"
            );
            assert!(
                failures
                    .iter()
                    .all(|e| matches!(e, IkeError::ChildSaExpired { .. })),
                "{what}: {failures:?}"
            );
            // The schedule: tries 10, 20, 40, 80, then 160 s apart, so at most eight in the
            // 270-607 s between a Child SA's rekey time and its hard lifetime, not one every
            // ten seconds.
            assert!(
                errors.len() <= 8 * (r.reauths + 1),
                "{what}: {} failed rekeys for {} Child SAs",
                errors.len(),
                r.reauths + 1
            );
        }
    }
}

#[test]
fn the_responders_identity_refused_means_authentication_failed_and_delete_to_it() {
    let (mut a, b) = Pair::configs(PSK);
    a.remote_id = Some(cgw_ike::id_for_addr(IpAddr::V4(Ipv4Addr::new(
        192, 0, 2, 99,
    ))));
    let mut p = Pair::new(a, b, 30);
    p.a.initiate(p.now);
    p.drive(50);
    assert!(matches!(
        ike_failures(&p.a_events).as_slice(),
        [IkeError::IdentityMismatch { .. }]
    ));
    // B had established the IKE SA and a Child SA; A's INFORMATIONAL removed both.
    assert_eq!(child_sas(&p.b_events).len(), 1);
    assert_eq!(p.b.ike_sa_count(), 0);
    assert_eq!(p.b.child_sa_count(), 0);
    assert!(p
        .b_events
        .iter()
        .any(|e| matches!(e, Event::IkeSaDeleted { by_peer: true, .. })));
    let info = p
        .wire_log
        .iter()
        .filter(|(s, _, _, c)| *s == Side::A && c[18] == ExchangeType::INFORMATIONAL.0)
        .count();
    assert_eq!(info, 1, "one INFORMATIONAL, not retransmitted");
}

/// A scanner's probe with 137 transforms in one proposal is parsed and answered (RFC 7296
/// allows 255), not dropped in silence.
#[test]
fn a_proposal_with_137_transforms_is_answered() {
    use cgw_wire::{Flags, IkeHeader, KeyExchange, Proposal, SaPayload, Transform};
    let (_, b) = Pair::configs(PSK);
    let mut responder = Connection::new(b, Box::new(cgw_crypto::DeterministicRandom::new(5)));
    let mut rng = cgw_crypto::DeterministicRandom::new(6);
    let dh = cgw_crypto::DhPrivate::generate(cgw_ike::DhGroup::Ecp384, &mut rng);
    let mut transforms: Vec<Transform> = (0..129u16)
        .map(|i| Transform::new(TransformType::ENCR, 1000 + i))
        .collect();
    transforms.push(Transform {
        key_length: Some(256),
        ..Transform::new(TransformType::ENCR, 12)
    });
    for id in [2u16, 5, 6, 7] {
        transforms.push(Transform::new(TransformType::PRF, id));
    }
    transforms.push(Transform::new(TransformType::INTEG, 13));
    transforms.push(Transform::new(TransformType::DH, 20));
    transforms.push(Transform::new(TransformType::DH, 19));
    assert_eq!(transforms.len(), 137);
    let payloads = vec![
        Payload::Sa(SaPayload {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms,
            }],
        }),
        Payload::Ke(KeyExchange {
            dh_group: 20,
            data: dh.public_value().to_vec(),
        }),
        Payload::Nonce(vec![7; 32]),
    ];
    let mut msg = Vec::new();
    let mut body = Vec::new();
    let first = cgw_wire::emit_payload_chain(&payloads, cgw_wire::PayloadType::NONE, &mut body);
    IkeHeader {
        spi_i: [1, 2, 3, 4, 5, 6, 7, 8],
        spi_r: [0; 8],
        next_payload: first,
        version: 0x20,
        exchange: ExchangeType::IKE_SA_INIT,
        flags: Flags::new(true, false),
        message_id: 0,
        length: 0,
    }
    .emit(&mut msg);
    msg.extend_from_slice(&body);
    IkeHeader::patch_length(&mut msg);
    let now = Instant::now();
    responder.handle_datagram(
        now,
        SocketAddr::new(B_ADDR, 500),
        SocketAddr::new(A_ADDR, 500),
        &msg,
    );
    let t = responder.poll_transmit().expect("an answer");
    let answer = cgw_wire::Message::parse(&t.contents).unwrap();
    assert!(answer.header.flags.response());
    let chosen = answer
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Sa(sa) => Some(sa.clone()),
            _ => None,
        })
        .expect("an SA payload: the suite it found among 137 transforms");
    assert_eq!(chosen.proposals[0].transforms.len(), 4);
}

/// Dead-peer detection lives in the engine: with ESP reported it sends nothing; when the
/// peer falls silent during a rekey, the failure names the rekey and its retransmissions.
#[test]
fn dpd_names_the_unanswered_exchange_and_counts_esp_as_life() {
    let (mut a, b) = Pair::configs(PSK);
    a.dpd = Some(DpdConfig::default());
    let mut p = Pair::new(a, b, 31);
    p.a.initiate(p.now);
    assert!(p.drive_until(50, |p| p.b.child_sa_count() == 1 && p.in_flight.is_empty()));
    let infos = |p: &Pair| {
        p.wire_log
            .iter()
            .filter(|(s, _, _, c)| *s == Side::A && c[18] == ExchangeType::INFORMATIONAL.0)
            .count()
    };
    // A minute of ESP from the peer: no liveness check.
    for _ in 0..60 {
        let t = p.now + Duration::from_secs(1);
        p.run_until(t);
        p.a.esp_received(p.now);
    }
    assert_eq!(infos(&p), 0);
    // Silence without ESP: a liveness check after 10 s.
    let t = p.now + Duration::from_secs(11);
    p.run_until(t);
    assert_eq!(infos(&p), 1);
    assert!(p.a.is_established());
    // The peer goes away while a Child SA rekey is in flight: declared dead 10 s + 30 s after
    // it was last heard, naming CREATE_CHILD_SA and its retransmissions so far.
    p.drop_always.push((Side::B, CCSA, true));
    p.drop_always
        .push((Side::B, ExchangeType::INFORMATIONAL.0, true));
    let spi = child_sas(&p.a_events)[0].inbound_spi;
    let heard = p.now;
    assert!(p.a.rekey_child_sa(p.now, spi));
    p.run_until(heard + Duration::from_secs(45));
    let f = ike_failures(&p.a_events);
    assert!(
        matches!(
            f.as_slice(),
            [IkeError::PeerNotResponding { exchange, tries: 3, waited_secs: 30 }] if exchange == "CREATE_CHILD_SA"
        ),
        "{f:?}"
    );
    assert_eq!(
        f[0].to_string(),
        "peer not responding: no answer to CREATE_CHILD_SA in 30 s (3 retransmissions)"
    );
}

/// Rewrites the proposal number of the ESP SA in an IKE_AUTH response to 1.
#[allow(clippy::ptr_arg)] // the signature of cgw_ike::ResponseFilter
fn esp_choice_numbered_1(ex: ExchangeType, ps: &mut Vec<Payload>) {
    if ex == ExchangeType::IKE_AUTH {
        for p in ps.iter_mut() {
            if let Payload::Sa(sa) = p {
                for x in &mut sa.proposals {
                    x.number = 1;
                }
            }
        }
    }
}

/// Found against ryke (C1, C4): a responder that accepts our proposal #2 but numbers its
/// answer #1 (RFC 7296 3.3.1: the number MUST match) is refused, and the Child SA it
/// installed is deleted on its side; 10 s later the childless IKE SA goes too.
#[test]
fn an_esp_choice_under_the_wrong_proposal_number_is_refused_and_deleted_on_the_peer() {
    let (mut a, mut b) = Pair::configs(PSK);
    a.esp_proposals = vec![
        EspProposal::single(
            cgw_ike::Encr::AesCbc256,
            Some(cgw_ike::Integ::HmacSha2_256_128),
            None,
        ),
        EspProposal::suite_b_gcm_256(),
    ];
    b.esp_proposals = vec![EspProposal::suite_b_gcm_256()];
    b.test_response_filter = Some(esp_choice_numbered_1);
    let mut p = Pair::new(a, b, 21);
    p.a.initiate(p.now);
    assert!(p.drive_until(200, |p| !cgw_tests::child_failures(&p.a_events).is_empty()));
    let err = cgw_tests::child_failures(&p.a_events)[0].to_string();
    assert!(
        err.contains("chose aes256gcm16 as proposal #1, which we did not offer there"),
        "{err}"
    );
    // B installed its half; A's Delete removes it.
    assert_eq!(child_sas(&p.b_events).len(), 1);
    assert!(p.drive_until(50, |p| p.b.child_sa_count() == 0
        && !p.a.exchange_in_flight()));
    assert!(p.a.is_established() && p.b.is_established());
    let start = p.now;
    p.run_until(start + Duration::from_secs(11));
    assert!(
        ike_failures(&p.a_events)
            .iter()
            .chain(ike_failures(&p.b_events).iter())
            .any(|e| matches!(e, IkeError::NoChildSa { .. })),
        "A: {:?} B: {:?}",
        p.a_events,
        p.b_events
    );
}

/// Found against ryke (C2): the peer deletes the only Child SA and makes no new one. The
/// IKE SA is then deleted after 10 s (never at once: a peer may follow with a new Child
/// SA), and the driver's next IKE SA brings a new Child SA.
#[test]
fn a_peer_that_deletes_the_only_child_sa_leads_to_a_new_ike_sa_after_10_s() {
    let (a, b) = Pair::configs(PSK);
    let mut p = Pair::new(a, b, 22);
    p.a.initiate(p.now);
    assert!(p.drive_until(100, |p| p.a.child_sa_count() == 1
        && p.b.child_sa_count() == 1));
    let spi = child_sas(&p.b_events)[0].inbound_spi;
    assert!(p.b.delete_child_sa(p.now, spi));
    assert!(!p.b.delete_child_sa(p.now, spi), "one Delete at a time");
    assert!(p.drive_until(50, |p| p.a.child_sa_count() == 0
        && p.b.child_sa_count() == 0));
    let gone = p.now;
    p.run_until(gone + Duration::from_secs(9));
    assert!(p.a.is_established(), "not before the grace");
    assert!(ike_failures(&p.a_events).is_empty());
    p.run_until(gone + Duration::from_secs(11));
    let f = ike_failures(&p.a_events);
    assert!(
        matches!(f.as_slice(), [IkeError::NoChildSa { secs: 10 }]),
        "{f:?} / B {:?}",
        ike_failures(&p.b_events)
    );
    assert!(f[0].to_string().contains("no Child SA for 10 s"));
    assert!(p.drive_until(50, |p| p.a.ike_sa_count() == 0 && p.b.ike_sa_count() == 0));
    // What the daemon does next: a new IKE SA, with a new Child SA.
    p.a.initiate(p.now);
    assert!(p.drive_until(100, |p| p.a.child_sa_count() == 1
        && p.b.child_sa_count() == 1));
    assert_eq!(child_sas(&p.a_events).len(), 2);
}

/// Found against ryke (C3): the responder answers IKEV2_FRAGMENTATION_SUPPORTED only to an
/// initiator that sent it (RFC 7383 2.3).
#[test]
fn fragmentation_support_is_announced_only_in_answer() {
    use cgw_wire::{Message, NotifyType as N, PayloadType};
    for with in [true, false] {
        let (a, b) = Pair::configs(PSK);
        let rng = || Box::new(cgw_crypto::SystemRandom::new());
        let mut a = Connection::new(a, rng());
        let mut b = Connection::new(b, rng());
        let now = Instant::now();
        a.initiate(now);
        let t = a.poll_transmit().unwrap();
        let mut m = Message::parse(&t.contents).unwrap();
        if !with {
            m.payloads.retain(|p| {
                !matches!(p, Payload::Notify(n) if n.notify_type == N::IKEV2_FRAGMENTATION_SUPPORTED)
            });
        }
        let mut body = Vec::new();
        let first = cgw_wire::emit_payload_chain(&m.payloads, PayloadType::NONE, &mut body);
        let mut h = m.header;
        h.next_payload = first;
        h.length = (cgw_wire::IKE_HEADER_LEN + body.len()) as u32;
        let mut out = Vec::new();
        h.emit(&mut out);
        out.extend_from_slice(&body);
        b.handle_datagram(now, t.remote, t.local, &out);
        let r = Message::parse(&b.poll_transmit().unwrap().contents).unwrap();
        assert_eq!(
            r.notify(N::IKEV2_FRAGMENTATION_SUPPORTED).is_some(),
            with,
            "initiator sent it: {with}"
        );
    }
}
