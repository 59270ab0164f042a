//! IKE_SA_INIT (RFC 7296 1.2): proposal selection, Diffie-Hellman, nonces, NAT detection,
//! COOKIE (2.6) and INVALID_KE_PAYLOAD (1.2) round trips.

use super::{find_notify, Task};
use crate::connection::Transmit;
use crate::nat::nat_hash;
use crate::proposal::{
    chosen_number, describe_offer, ike_acceptable, ike_choice, ike_offer, parse_ike_choice,
    select_ike,
};
use crate::sa::{IkeKeys, IkeSa, SaState};
use crate::{Connection, Event, IkeError, IkeProposal, IkeSuite, NAT_T_PORT};
use cgw_crypto::{keys, DhGroup, DhPrivate, Secret, SkCipher};
use cgw_wire::{
    emit_payload_chain, ExchangeType, Flags, IkeHeader, KeyExchange, Message, Notify, NotifyType,
    Payload, PayloadType,
};
use std::net::SocketAddr;
use std::time::Instant;

/// Nonce length we send (RFC 7296 2.10: at least half the PRF key size, at least 128 bits).
const NONCE_LEN: usize = 32;
/// How often we follow COOKIE or INVALID_KE_PAYLOAD answers before giving up.
const MAX_INIT_RETRIES: u8 = 4;

/// Initiator state while IKE_SA_INIT is in flight.
pub(crate) struct InitiatorTask {
    dh: DhPrivate,
    cookie: Option<Vec<u8>>,
    retries: u8,
    /// An error notify answered our request (unauthenticated: anyone on the path can send
    /// one): acted on at the deadline unless a genuine answer comes first.
    pub(crate) refused: Option<(IkeError, Instant)>,
}

/// How long an initiator keeps waiting for a genuine IKE_SA_INIT answer after an error
/// notify (RFC 7296 2.21.1: such errors are not authenticated; an on-path attacker could
/// otherwise abort every setup with one forged packet).
pub(crate) const INIT_ERROR_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl Connection {
    pub(crate) fn start_ike_sa_init(&mut self, now: Instant) {
        let spi_i = loop {
            let s = self.random::<8>();
            if s != [0; 8] {
                break s;
            }
        };
        let local = SocketAddr::new(self.config.local_addr, crate::IKE_PORT);
        let remote = self.config.remote_ike_addr();
        let mut sa = IkeSa::new(spi_i, true, local, remote, now);
        sa.ni = self.random::<NONCE_LEN>().to_vec();
        let group = self
            .config
            .ike_proposals
            .first()
            .and_then(|p| p.dh.first())
            .copied()
            .unwrap_or(DhGroup::Ecp384);
        let dh = DhPrivate::generate(group, self.rng.as_mut());
        self.sas.push(sa);
        let idx = self.sas.len() - 1;
        self.send_ike_sa_init_request(
            idx,
            now,
            InitiatorTask {
                dh,
                cookie: None,
                retries: 0,
                refused: None,
            },
        );
    }

    fn send_ike_sa_init_request(&mut self, idx: usize, now: Instant, task: InitiatorTask) {
        let sa = &self.sas[idx];
        let mut payloads = Vec::new();
        if let Some(c) = &task.cookie {
            // RFC 7296 2.6: the COOKIE notify comes first.
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c.clone())));
        }
        payloads.push(Payload::Sa(ike_offer(&self.config.ike_proposals, &[])));
        payloads.push(Payload::Ke(KeyExchange {
            dh_group: task.dh.group().id(),
            data: task.dh.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(sa.ni.clone()));
        payloads.extend(nat_detection_payloads(
            &sa.spi_i, &[0; 8], sa.local, sa.remote,
        ));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
            vec![],
        )));
        let datagram = plain_message(&sa.header(ExchangeType::IKE_SA_INIT, false, 0), &payloads);
        crate::trace::sent(sa, ExchangeType::IKE_SA_INIT, false, 0, &payloads);
        self.sas[idx].init_request = datagram.clone();
        self.sas[idx].next_message_id = 1;
        self.queue_request(
            idx,
            now,
            ExchangeType::IKE_SA_INIT,
            0,
            vec![datagram],
            Task::IkeSaInit(task),
        );
    }

    pub(crate) fn handle_ike_sa_init_response(
        &mut self,
        idx: usize,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
        datagram: &[u8],
    ) {
        let h = msg.header;
        let in_flight = self.sas[idx].state == SaState::InitSent
            && self.sas[idx]
                .outstanding
                .as_ref()
                .is_some_and(|o| o.message_id == 0 && h.message_id == 0 && h.flags.response());
        if !in_flight {
            self.stats.unexpected += 1;
            return;
        }
        let outstanding = self.sas[idx].outstanding.take().expect("checked");
        let Task::IkeSaInit(mut task) = outstanding.task else {
            unreachable!("IKE_SA_INIT is always in flight with its own task")
        };
        let p = &msg.payloads;

        if let Some(c) = find_notify(p, NotifyType::COOKIE) {
            if task.retries < MAX_INIT_RETRIES && !c.data.is_empty() && c.data.len() <= 64 {
                task.retries += 1;
                task.cookie = Some(c.data.clone());
                self.send_ike_sa_init_request(idx, now, task);
            } else {
                self.fail_sa(
                    idx,
                    IkeError::Protocol("the peer keeps asking for a COOKIE".into()),
                    false,
                );
            }
            return;
        }
        if let Some(n) = find_notify(p, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = <[u8; 2]>::try_from(n.data.as_slice())
                .map(u16::from_be_bytes)
                .unwrap_or(0);
            let offered = self
                .config
                .ike_proposals
                .iter()
                .flat_map(|p| p.dh.iter())
                .copied();
            let sent = task.dh.group();
            let error = match DhGroup::from_id(wanted).filter(|g| offered.clone().any(|o| o == *g))
            {
                Some(g) if g == sent => IkeError::KeGroupRefusedAsSent { group: wanted },
                Some(g) if task.retries < MAX_INIT_RETRIES => {
                    task.retries += 1;
                    task.dh = DhPrivate::generate(g, self.rng.as_mut());
                    self.send_ike_sa_init_request(idx, now, task);
                    return;
                }
                Some(_) => IkeError::KeGroupRetriesExhausted {
                    tries: task.retries,
                    wanted,
                },
                None => IkeError::UnacceptableKeGroup {
                    wanted,
                    we_offer: offered
                        .map(|g| g.id().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            };
            self.fail_sa(idx, error, false);
            return;
        }
        let refusal = if find_notify(p, NotifyType::NO_PROPOSAL_CHOSEN).is_some() {
            Some(IkeError::NoProposalChosenByPeer {
                we_offered: describe_proposals(&self.config.ike_proposals),
            })
        } else {
            super::first_error(p).map(IkeError::PeerError)
        };
        if let Some(error) = refusal {
            // Not acted on at once: the request stays in flight until the grace ends (then
            // the error is reported) or a genuine answer arrives.
            let mut outstanding = crate::sa::Outstanding {
                task: Task::IkeSaInit(task),
                ..outstanding
            };
            if let Task::IkeSaInit(t) = &mut outstanding.task {
                if t.refused.is_none() {
                    let deadline = now + INIT_ERROR_GRACE;
                    t.refused = Some((error, deadline));
                    outstanding.next_retransmit = outstanding.next_retransmit.min(deadline);
                }
            }
            self.sas[idx].outstanding = Some(outstanding);
            return;
        }

        // A real answer. It is not authenticated yet, so anything malformed is dropped and we
        // keep waiting (an attacker could have sent it), restoring the request in flight.
        let parsed = parse_init_response(p, &self.config.ike_proposals, &task);
        let (suite, ke, nr) = match parsed {
            Ok(x) if h.spi_r != [0; 8] => x,
            _ => {
                self.stats.malformed += 1;
                self.sas[idx].outstanding = Some(crate::sa::Outstanding {
                    task: Task::IkeSaInit(task),
                    ..outstanding
                });
                return;
            }
        };
        let g_ir = match task.dh.shared_secret(&ke) {
            Ok(s) => s,
            Err(e) => {
                self.fail_sa(idx, IkeError::Protocol(e.to_string()), false);
                return;
            }
        };
        self.last_heard = Some(now);
        let sa = &mut self.sas[idx];
        sa.peer_fragmentation = find_notify(p, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        sa.spi_r = h.spi_r;
        sa.nr = nr;
        sa.init_response = datagram[..h.length as usize].to_vec();
        detect_nat(sa, p, local, remote);
        if let Err(e) = install_keys(sa, suite, &g_ir) {
            self.fail_sa(idx, e, false);
            return;
        }
        if sa.nat_detected() {
            // RFC 7296 2.23: the initiator moves to port 4500 once a NAT is detected.
            sa.local.set_port(NAT_T_PORT);
            sa.remote.set_port(NAT_T_PORT);
        }
        self.start_ike_auth(idx, now);
    }

    pub(crate) fn handle_ike_sa_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        msg: &Message,
        datagram: &[u8],
    ) {
        let h = msg.header;
        let datagram = &datagram[..h.length as usize];
        let limits = self.config.responder;
        if datagram.len() > limits.max_request_len {
            self.stats.init_requests_too_large += 1;
            return;
        }
        // A retransmission of a request we answered: send the same answer again.
        if let Some(sa) = self
            .sas
            .iter()
            .find(|s| !s.initiator && s.spi_i == h.spi_i && s.remote == remote)
        {
            if sa.state == SaState::InitAnswered && sa.init_request == datagram {
                let t = Transmit {
                    local: sa.local,
                    remote,
                    contents: sa.init_response.clone(),
                };
                self.transmits.push_back(t);
                self.stats.retransmitted_responses += 1;
            } else {
                self.stats.unexpected += 1;
            }
            return;
        }
        let p = &msg.payloads;
        if let Err(why) = init_request_syntax(msg) {
            self.stats.init_requests_invalid += 1;
            tracing::debug!("IKE_SA_INIT request from {remote} refused (INVALID_SYNTAX): {why}");
            self.stateless_reply(&h, local, remote, NotifyType::INVALID_SYNTAX, vec![]);
            return;
        }
        let sa_payload = p.iter().find_map(|x| {
            if let Payload::Sa(s) = x {
                Some(s)
            } else {
                None
            }
        });
        let ke = p.iter().find_map(|x| {
            if let Payload::Ke(k) = x {
                Some(k)
            } else {
                None
            }
        });
        let ni = p.iter().find_map(|x| {
            if let Payload::Nonce(n) = x {
                Some(n)
            } else {
                None
            }
        });
        let (Some(sa_payload), Some(ke), Some(ni)) = (sa_payload, ke, ni) else {
            self.stateless_reply(&h, local, remote, NotifyType::INVALID_SYNTAX, vec![]);
            return;
        };
        // Under load (or always, with a threshold of 0) only a request that returns our
        // cookie goes on: one from a spoofed address never sees it.
        let half_open = self.half_open_count();
        if half_open >= limits.cookie_threshold || self.guard.busy(now, &limits) {
            self.guard.rotate(now, self.rng.as_mut());
            let returned = find_notify(p, NotifyType::COOKIE)
                .is_some_and(|c| self.guard.valid(&c.data, &h.spi_i, ni, remote));
            if !returned {
                let cookie = self.guard.cookie(&h.spi_i, ni, remote);
                self.stats.cookies_sent += 1;
                self.stateless_reply(&h, local, remote, NotifyType::COOKIE, cookie.to_vec());
                return;
            }
        }
        if half_open >= limits.max_half_open {
            self.stats.init_requests_over_half_open_cap += 1;
            return;
        }
        if !self.guard.take_token(now, &limits) {
            self.stats.init_requests_rate_limited += 1;
            return;
        }
        let Some((number, suite)) = select_ike(&self.config.ike_proposals, sa_payload) else {
            self.stats.init_requests_no_proposal += 1;
            self.stateless_reply(&h, local, remote, NotifyType::NO_PROPOSAL_CHOSEN, vec![]);
            self.events.push_back(Event::IkeSaFailed {
                spi_i: h.spi_i,
                error: IkeError::NoProposalChosenByUs {
                    we_accept: describe_proposals(&self.config.ike_proposals),
                    peer_offered: describe_offer(sa_payload),
                },
                stray: true,
            });
            return;
        };
        if ke.dh_group != suite.dh.id() {
            self.stateless_reply(
                &h,
                local,
                remote,
                NotifyType::INVALID_KE_PAYLOAD,
                suite.dh.id().to_be_bytes().to_vec(),
            );
            return;
        }
        let dh = DhPrivate::generate(suite.dh, self.rng.as_mut());
        let g_ir = match dh.shared_secret(&ke.data) {
            Ok(s) => s,
            Err(_) => {
                // A KE value that is not a point of the group (or of the wrong length).
                self.stats.init_requests_invalid += 1;
                self.stateless_reply(&h, local, remote, NotifyType::INVALID_SYNTAX, vec![]);
                return;
            }
        };
        let spi_r = loop {
            let s = self.random::<8>();
            if s != [0; 8] {
                break s;
            }
        };
        let nr = self.random::<NONCE_LEN>().to_vec();
        let mut sa = IkeSa::new(h.spi_i, false, local, remote, now);
        sa.spi_r = spi_r;
        sa.ni = ni.clone();
        sa.nr = nr.clone();
        sa.peer_next_message_id = 1;
        sa.half_open_deadline = Some(now + self.config.half_open_timeout);
        sa.peer_fragmentation = find_notify(p, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        detect_nat(&mut sa, p, local, remote);

        let mut payloads = vec![
            Payload::Sa(ike_choice(number, &suite, &[])),
            Payload::Ke(KeyExchange {
                dh_group: suite.dh.id(),
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(nr),
        ];
        payloads.extend(nat_detection_payloads(&sa.spi_i, &sa.spi_r, local, remote));
        // RFC 7383 2.3: the responder says it supports fragmentation in answer to the
        // initiator's notify, not unasked.
        if sa.peer_fragmentation {
            payloads.push(Payload::Notify(Notify::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                vec![],
            )));
        }
        let response = plain_message(&sa.header(ExchangeType::IKE_SA_INIT, true, 0), &payloads);
        crate::trace::sent(&sa, ExchangeType::IKE_SA_INIT, true, 0, &payloads);
        sa.init_request = datagram.to_vec();
        sa.init_response = response.clone();
        if let Err(e) = install_keys(&mut sa, suite, &g_ir) {
            self.events.push_back(Event::IkeSaFailed {
                spi_i: h.spi_i,
                error: e,
                stray: true,
            });
            return;
        }
        self.transmits.push_back(Transmit {
            local,
            remote,
            contents: response,
        });
        self.sas.push(sa);
    }

    /// An unencrypted IKE_SA_INIT answer that creates no state.
    pub(crate) fn stateless_reply(
        &mut self,
        h: &IkeHeader,
        local: SocketAddr,
        remote: SocketAddr,
        t: NotifyType,
        data: Vec<u8>,
    ) {
        let header = IkeHeader {
            spi_i: h.spi_i,
            spi_r: [0; 8],
            next_payload: PayloadType::NONE,
            version: 0x20,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::new(false, true),
            message_id: 0,
            length: 0,
        };
        let contents = plain_message(&header, &[Payload::Notify(Notify::new(t, data))]);
        tracing::debug!("IKE IKE_SA_INIT response #0 sent to {remote} (stateless): N({t})");
        self.transmits.push_back(Transmit {
            local,
            remote,
            contents,
        });
    }
}

/// Validates the payloads of an IKE_SA_INIT response: (suite, peer KE data, Nr).
fn parse_init_response(
    p: &[Payload],
    ours: &[IkeProposal],
    task: &InitiatorTask,
) -> Result<(IkeSuite, Vec<u8>, Vec<u8>), ()> {
    let sa = p
        .iter()
        .find_map(|x| {
            if let Payload::Sa(s) = x {
                Some(s)
            } else {
                None
            }
        })
        .ok_or(())?;
    let ke = p
        .iter()
        .find_map(|x| {
            if let Payload::Ke(k) = x {
                Some(k)
            } else {
                None
            }
        })
        .ok_or(())?;
    let nr = p
        .iter()
        .find_map(|x| {
            if let Payload::Nonce(n) = x {
                Some(n)
            } else {
                None
            }
        })
        .ok_or(())?;
    let suite = parse_ike_choice(sa).ok_or(())?;
    if !ike_acceptable(ours, chosen_number(sa), &suite)
        || suite.dh != task.dh.group()
        || ke.dh_group != suite.dh.id()
    {
        return Err(());
    }
    Ok((suite, ke.data.clone(), nr.clone()))
}

/// Derives SKEYSEED and the IKE SA keys and installs them in `sa`.
fn install_keys(sa: &mut IkeSa, suite: IkeSuite, g_ir: &Secret) -> Result<(), IkeError> {
    let skeyseed = keys::skeyseed(suite.prf, &sa.ni, &sa.nr, g_ir);
    install_keys_from(sa, suite, &skeyseed)
}

/// Derives the seven keys from SKEYSEED (RFC 7296 2.14) and installs them in `sa`.
pub(crate) fn install_keys_from(
    sa: &mut IkeSa,
    suite: IkeSuite,
    skeyseed: &[u8],
) -> Result<(), IkeError> {
    let integ_len = suite.integ.map_or(0, |i| i.key_len());
    let k = keys::derive_ike_sa_keys(
        suite.prf,
        skeyseed,
        &sa.ni,
        &sa.nr,
        &sa.spi_i,
        &sa.spi_r,
        suite.encr.key_material_len(),
        integ_len,
    )
    .map_err(|e| IkeError::Protocol(e.to_string()))?;
    let mk = |e: &[u8], a: &[u8]| {
        SkCipher::new(suite.encr, e, suite.integ, a).map_err(|e| IkeError::Protocol(e.to_string()))
    };
    let (outbound, inbound) = if sa.initiator {
        (mk(&k.sk_ei, &k.sk_ai)?, mk(&k.sk_er, &k.sk_ar)?)
    } else {
        (mk(&k.sk_er, &k.sk_ar)?, mk(&k.sk_ei, &k.sk_ai)?)
    };
    sa.suite = Some(suite);
    sa.keys = Some(IkeKeys {
        sk_d: k.sk_d,
        sk_pi: k.sk_pi,
        sk_pr: k.sk_pr,
        sk_ei: k.sk_ei,
        sk_er: k.sk_er,
        sk_ai: k.sk_ai,
        sk_ar: k.sk_ar,
        outbound,
        inbound,
    });
    Ok(())
}

/// NAT_DETECTION_SOURCE_IP and NAT_DETECTION_DESTINATION_IP for a message from `local` to `remote`.
pub(crate) fn nat_detection_payloads(
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
) -> [Payload; 2] {
    [
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            nat_hash(spi_i, spi_r, local),
        )),
        Payload::Notify(Notify::new(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            nat_hash(spi_i, spi_r, remote),
        )),
    ]
}

/// Compares the peer's NAT detection hashes with the addresses the datagram really had.
/// The request's hashes were computed with a zero responder SPI.
fn detect_nat(sa: &mut IkeSa, p: &[Payload], local: SocketAddr, remote: SocketAddr) {
    let spi_r = if sa.initiator { sa.spi_r } else { [0; 8] };
    let src: Vec<&Notify> = p
        .iter()
        .filter_map(|x| match x {
            Payload::Notify(n) if n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP => Some(n),
            _ => None,
        })
        .collect();
    if let Some(dst) = find_notify(p, NotifyType::NAT_DETECTION_DESTINATION_IP) {
        sa.local_behind_nat = dst.data != nat_hash(&sa.spi_i, &spi_r, local);
    }
    if !src.is_empty() {
        let ours = nat_hash(&sa.spi_i, &spi_r, remote);
        sa.remote_behind_nat = !src.iter().any(|n| n.data == ours);
    }
}

/// A message without SK payload.
/// RFC 7296 checks of an IKE_SA_INIT request beyond parsing: one SA, one KE and one Nonce
/// payload; no SK payload (nothing is encrypted yet); IKE proposals without an SPI (3.3.1:
/// the SPI size MUST be zero in IKE_SA_INIT); a COOKIE of at most 64 octets (2.6).
fn init_request_syntax(msg: &Message) -> Result<(), &'static str> {
    if msg.encrypted.is_some() {
        return Err("an SK payload in IKE_SA_INIT");
    }
    let count = |f: fn(&Payload) -> bool| msg.payloads.iter().filter(|p| f(p)).count();
    if count(|p| matches!(p, Payload::Sa(_))) != 1 {
        return Err("not exactly one SA payload");
    }
    if count(|p| matches!(p, Payload::Ke(_))) != 1 {
        return Err("not exactly one KE payload");
    }
    if count(|p| matches!(p, Payload::Nonce(_))) != 1 {
        return Err("not exactly one Nonce payload");
    }
    for p in &msg.payloads {
        match p {
            Payload::Sa(sa) if sa.proposals.iter().any(|x| !x.spi.is_empty()) => {
                return Err("an IKE proposal with an SPI");
            }
            Payload::Notify(n) if n.notify_type == NotifyType::COOKIE && n.data.len() > 64 => {
                return Err("a COOKIE longer than 64 octets");
            }
            _ => {}
        }
    }
    Ok(())
}

fn plain_message(header: &IkeHeader, payloads: &[Payload]) -> Vec<u8> {
    let mut body = Vec::new();
    let first = emit_payload_chain(payloads, PayloadType::NONE, &mut body);
    let mut h = *header;
    h.next_payload = first;
    h.length = (cgw_wire::IKE_HEADER_LEN + body.len()) as u32;
    let mut out = Vec::with_capacity(h.length as usize);
    h.emit(&mut out);
    out.extend_from_slice(&body);
    out
}

pub(crate) fn describe_proposals(p: &[IkeProposal]) -> String {
    p.iter()
        .map(|x| x.describe())
        .collect::<Vec<_>>()
        .join(", ")
}
