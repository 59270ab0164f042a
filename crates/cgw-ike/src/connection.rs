//! The sans-IO front end: one [`Connection`] per peer.

use crate::exchange::{informational, Task};
use crate::sa::{DecryptError, IkeSa, Outstanding, SaState};
use crate::{Config, Event, IkeError, NAT_T_PORT};
use cgw_crypto::Random;
use cgw_wire::{ExchangeType, IkeHeader, Message, NotifyType, Payload, WireError};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A datagram the driver must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Send from this address and port.
    pub local: SocketAddr,
    /// To this address and port.
    pub remote: SocketAddr,
    /// The IKE message. When either port is 4500 the driver prepends the four-byte non-ESP
    /// marker (RFC 3948 2.2); see [`Transmit::needs_non_esp_marker`].
    pub contents: Vec<u8>,
}

impl Transmit {
    /// Whether this message goes over the NAT-T port and so needs the non-ESP marker.
    pub fn needs_non_esp_marker(&self) -> bool {
        self.local.port() == NAT_T_PORT || self.remote.port() == NAT_T_PORT
    }
}

/// A Child SA's SPIs and when it is due for rekeying and for expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSaTimers {
    /// Our inbound SPI.
    pub inbound_spi: u32,
    /// Our outbound SPI.
    pub outbound_spi: u32,
    /// When it is rekeyed.
    pub rekey_at: Instant,
    /// When it expires without a rekey.
    pub expire_at: Instant,
}

/// The secrets of one IKE SA (RFC 7296 2.14 names).
pub struct IkeSaSecrets {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI.
    pub spi_r: [u8; 8],
    /// Its algorithms.
    pub suite: crate::IkeSuite,
    /// SK_d.
    pub sk_d: cgw_crypto::Secret,
    /// SK_ei (with the salt for AES-GCM).
    pub sk_ei: cgw_crypto::Secret,
    /// SK_er.
    pub sk_er: cgw_crypto::Secret,
    /// SK_ai.
    pub sk_ai: cgw_crypto::Secret,
    /// SK_ar.
    pub sk_ar: cgw_crypto::Secret,
    /// SK_pi.
    pub sk_pi: cgw_crypto::Secret,
    /// SK_pr.
    pub sk_pr: cgw_crypto::Secret,
}

impl std::fmt::Debug for IkeSaSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSaSecrets")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// Counters of what a connection dropped, for `cgw status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Datagrams that did not parse.
    pub malformed: u64,
    /// Datagrams for IKE SAs we do not have.
    pub unknown_spi: u64,
    /// Datagrams whose ICV did not verify or whose SK payload did not decrypt.
    pub integrity_failures: u64,
    /// Requests answered from the response cache (peer retransmissions).
    pub retransmitted_responses: u64,
    /// Datagrams dropped for an unexpected message ID or state.
    pub unexpected: u64,
    /// Our requests retransmitted.
    pub retransmitted_requests: u64,
    /// Child SAs created (first ones and rekeys).
    pub child_sas_created: u64,
    /// Child SA rekeys completed (either side initiating).
    pub child_rekeys: u64,
    /// IKE SA rekeys completed (either side initiating).
    pub ike_rekeys: u64,
    /// Rekey collisions resolved (RFC 7296 2.8.1).
    pub rekey_collisions: u64,
    /// Child SA rekeys of ours that failed (the peer refused, answered something unusable,
    /// or nothing); each is retried.
    pub child_rekey_failures: u64,
    /// IKE_SA_INIT requests refused with INVALID_SYNTAX (a missing or repeated SA, KE or
    /// Nonce payload, an SK payload, an SPI in an IKE proposal, an oversized COOKIE).
    pub init_requests_invalid: u64,
    /// IKE_SA_INIT requests answered with NO_PROPOSAL_CHOSEN.
    pub init_requests_no_proposal: u64,
    /// IKE_SA_INIT requests dropped for their size
    /// ([`ResponderLimits::max_request_len`](crate::ResponderLimits::max_request_len)).
    pub init_requests_too_large: u64,
    /// IKE_SA_INIT requests dropped because the half-open SAs were at their cap.
    pub init_requests_over_half_open_cap: u64,
    /// IKE_SA_INIT requests dropped by the new-SA rate limit.
    pub init_requests_rate_limited: u64,
    /// COOKIE answers sent (stateless: the request was kept nowhere).
    pub cookies_sent: u64,
}

/// The IKE relationship with one peer: our IKE SAs with it, the driver's queues and timers.
pub struct Connection {
    pub(crate) config: Arc<Config>,
    pub(crate) rng: Box<dyn Random>,
    pub(crate) sas: Vec<IkeSa>,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    /// Cookie secrets and the new-SA token bucket.
    pub(crate) guard: crate::responder::Guard,
    pub(crate) stats: ConnectionStats,
    /// When an authenticated message last came from the peer.
    pub(crate) last_heard: Option<Instant>,
    /// When the driver last saw ESP from the peer.
    pub(crate) last_esp: Option<Instant>,
    /// Dead-peer detection: when the current probe started (nothing heard since).
    pub(crate) dpd_probe: Option<Instant>,
}

impl Connection {
    /// A connection that does nothing until [`initiate`](Self::initiate) is called or the
    /// peer sends IKE_SA_INIT.
    pub fn new(config: impl Into<Arc<Config>>, mut rng: Box<dyn Random>) -> Self {
        let guard = crate::responder::Guard::new(rng.as_mut());
        Self {
            config: config.into(),
            rng,
            sas: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            guard,
            stats: ConnectionStats::default(),
            last_heard: None,
            last_esp: None,
            dpd_probe: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Starts a new IKE SA as initiator (IKE_SA_INIT, then IKE_AUTH with the first Child SA).
    pub fn initiate(&mut self, now: Instant) {
        self.start_ike_sa_init(now);
    }

    /// Whether an IKE SA with the peer is established.
    pub fn is_established(&self) -> bool {
        self.sas.iter().any(|s| s.state == SaState::Established)
    }

    /// Whether a request of ours is waiting for its response.
    pub fn exchange_in_flight(&self) -> bool {
        self.sas.iter().any(|s| s.outstanding.is_some())
    }

    /// The Child SAs and when each is due for rekeying and expiry, for `cgw status`.
    pub fn child_sa_timers(&self) -> Vec<ChildSaTimers> {
        self.sas
            .iter()
            .flat_map(|s| {
                s.children.iter().map(|c| ChildSaTimers {
                    inbound_spi: c.inbound_spi,
                    outbound_spi: c.outbound_spi,
                    rekey_at: c.rekey_at,
                    expire_at: c.expire_at,
                })
            })
            .collect()
    }

    /// When the established IKE SA is due for rekeying.
    pub fn ike_rekey_at(&self) -> Option<Instant> {
        self.sas
            .iter()
            .filter(|s| s.state == SaState::Established && s.successor.is_none())
            .filter_map(|s| s.rekey_at)
            .min()
    }

    /// Number of Child SAs held (all IKE SAs, all states).
    pub fn child_sa_count(&self) -> usize {
        self.sas.iter().map(|s| s.children.len()).sum()
    }

    /// Whether an IKE SA of ours is being set up (our IKE_SA_INIT or IKE_AUTH in flight).
    /// A half-open IKE SA the peer (or anyone using its address) started, and an IKE SA being
    /// deleted, do not count: neither may keep the driver from initiating.
    pub fn is_connecting(&self) -> bool {
        self.sas
            .iter()
            .any(|s| s.initiator && matches!(s.state, SaState::InitSent | SaState::AuthSent))
    }

    /// Half-open IKE SAs: IKE_SA_INIT answered as responder, IKE_AUTH not yet received.
    pub fn half_open_count(&self) -> usize {
        self.sas
            .iter()
            .filter(|s| s.state == SaState::InitAnswered)
            .count()
    }

    /// Tells the engine that ESP from the peer arrived at `at` (inbound traffic proves the
    /// peer alive, so no liveness check is needed). Earlier times than one already reported
    /// are ignored.
    pub fn esp_received(&mut self, at: Instant) {
        if self.last_esp.is_none_or(|t| at > t) {
            self.last_esp = Some(at);
        }
    }

    /// When anything (authenticated IKE, or ESP) was last heard from the peer.
    fn heard(&self) -> Option<Instant> {
        [self.last_heard, self.last_esp].into_iter().flatten().max()
    }

    /// When dead-peer detection acts next (probe or give up), if it is on and an IKE SA is up.
    fn dpd_deadline(&self) -> Option<Instant> {
        let dpd = self.config.dpd?;
        if !self.is_established() {
            return None;
        }
        match self.dpd_probe {
            Some(sent) => Some(sent + dpd.timeout),
            None => Some(self.heard()? + dpd.interval),
        }
    }

    /// Dead-peer detection: probe after `interval` of silence, fail after `timeout` more.
    fn dpd_timers(&mut self, now: Instant) {
        let Some(dpd) = self.config.dpd else {
            return;
        };
        if !self.is_established() {
            self.dpd_probe = None;
            return;
        }
        let heard = self.heard();
        if let Some(sent) = self.dpd_probe {
            if heard.is_some_and(|h| h >= sent) {
                self.dpd_probe = None;
            } else {
                if now >= sent + dpd.timeout {
                    self.dpd_probe = None;
                    self.peer_gone(dpd.timeout);
                }
                return;
            }
        }
        let quiet = match heard {
            Some(h) => now >= h + dpd.interval,
            // Nothing ever heard on an established SA cannot happen (IKE_AUTH was heard).
            None => true,
        };
        // A request already in flight (a rekey, say) is as good a probe as an empty
        // INFORMATIONAL: if the peer answers nothing for the timeout it is gone, without
        // waiting for that request's retransmissions to run out.
        if quiet && (self.exchange_in_flight() || self.send_liveness_check(now)) {
            self.dpd_probe = Some(now);
        }
    }

    /// Dead-peer detection heard nothing for `waited`: every IKE SA goes, the error naming
    /// what went unanswered (the request in flight, or our liveness check).
    fn peer_gone(&mut self, waited: Duration) {
        let (exchange, tries) = self
            .sas
            .iter()
            .filter(|s| s.state == SaState::Established)
            .find_map(|s| s.outstanding.as_ref())
            .map(|o| {
                let what = match &o.task {
                    Task::Informational(t) if t.kind == informational::InfoKind::Liveness => {
                        "INFORMATIONAL (liveness check)".to_string()
                    }
                    _ => o.exchange.to_string(),
                };
                (what, o.retransmits)
            })
            .unwrap_or_else(|| ("INFORMATIONAL (liveness check)".into(), 0));
        self.reset(IkeError::PeerNotResponding {
            exchange,
            tries,
            waited_secs: waited.as_secs(),
        });
    }

    /// Forgets every IKE SA without telling the peer (it is gone: its liveness check went
    /// unanswered, or it restarted). Emits ChildSaDeleted for each Child SA and IkeSaFailed with
    /// `reason` for each IKE SA.
    pub fn reset(&mut self, reason: IkeError) {
        for idx in 0..self.sas.len() {
            if self.sas[idx].state != SaState::Dead {
                self.fail_sa(idx, reason.clone(), false);
            }
        }
        self.reap();
    }

    /// Number of IKE SAs held, in any state.
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// The keys of every IKE SA with keys, for Wireshark's `ikev2_decryption_table`
    /// (`cgw keys --wireshark`) and for tests. These are secrets.
    pub fn ike_sa_secrets(&self) -> Vec<IkeSaSecrets> {
        self.sas
            .iter()
            .filter_map(|s| {
                let k = s.keys.as_ref()?;
                Some(IkeSaSecrets {
                    spi_i: s.spi_i,
                    spi_r: s.spi_r,
                    suite: s.suite?,
                    sk_d: k.sk_d.clone(),
                    sk_ei: k.sk_ei.clone(),
                    sk_er: k.sk_er.clone(),
                    sk_ai: k.sk_ai.clone(),
                    sk_ar: k.sk_ar.clone(),
                    sk_pi: k.sk_pi.clone(),
                    sk_pr: k.sk_pr.clone(),
                })
            })
            .collect()
    }

    /// Drop counters.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// Deletes every IKE SA with the peer (INFORMATIONAL with a Delete payload); the
    /// connection is idle once they are answered or time out.
    pub fn close(&mut self, now: Instant) {
        for idx in 0..self.sas.len() {
            match self.sas[idx].state {
                SaState::Established => {
                    // Whatever was in flight (a rekey, a liveness check) is abandoned.
                    self.sas[idx].outstanding = None;
                    self.start_informational(idx, now, informational::InfoKind::DeleteIke);
                }
                SaState::Deleting => {}
                _ => {
                    self.sas[idx].state = SaState::Dead;
                }
            }
        }
        self.settle(now);
    }

    /// Deletes one Child SA (an INFORMATIONAL request with a Delete payload naming its
    /// inbound SPI), as an operator's command would. Returns false if there is no such
    /// installed Child SA, or an exchange is in flight on its IKE SA (try again later).
    pub fn delete_child_sa(&mut self, now: Instant, inbound_spi: u32) -> bool {
        use crate::sa::ChildState;
        let Some(idx) = self.sas.iter().position(|s| {
            s.state == SaState::Established
                && s.outstanding.is_none()
                && s.children.iter().any(|c| {
                    c.inbound_spi == inbound_spi
                        && matches!(c.state, ChildState::Installed | ChildState::Rekeyed)
                })
        }) else {
            return false;
        };
        if let Some(c) = self.sas[idx]
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == inbound_spi)
        {
            c.state = ChildState::Deleting;
        }
        self.start_informational(
            idx,
            now,
            informational::InfoKind::DeleteChild(vec![inbound_spi]),
        );
        true
    }

    /// Sends an empty INFORMATIONAL request (a liveness check, "DPD") on the established IKE
    /// SA; if it goes unanswered through all retransmissions the SA fails with
    /// [`IkeError::PeerNotResponding`]. Returns false if nothing could be sent now.
    pub fn send_liveness_check(&mut self, now: Instant) -> bool {
        let Some(idx) = self
            .sas
            .iter()
            .position(|s| s.state == SaState::Established && s.outstanding.is_none())
        else {
            return false;
        };
        self.start_informational(idx, now, informational::InfoKind::Liveness);
        true
    }

    /// Processes one IKE message received from `remote` on `local` (without the non-ESP
    /// marker: the driver strips it from port-4500 datagrams and hands ESP packets to the
    /// ESP engine instead).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                // RFC 7296 2.5: an IKE_SA_INIT request with a critical payload we do not
                // understand is answered with UNSUPPORTED_CRITICAL_PAYLOAD.
                if let (WireError::UnsupportedCriticalPayload(t), Ok(h)) =
                    (e, IkeHeader::parse(data))
                {
                    if h.exchange == ExchangeType::IKE_SA_INIT
                        && !h.flags.response()
                        && h.message_id == 0
                    {
                        self.stateless_reply(
                            &h,
                            local,
                            remote,
                            NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
                            vec![t],
                        );
                    }
                }
                return;
            }
        };
        let h = msg.header;
        if h.exchange == ExchangeType::IKE_SA_INIT {
            crate::trace::received(remote, &h, &msg.payloads);
        }
        if h.exchange == ExchangeType::IKE_SA_INIT && !h.flags.response() {
            if h.flags.initiator() && h.spi_r == [0; 8] && h.message_id == 0 {
                self.handle_ike_sa_init_request(now, local, remote, &msg, data);
            } else {
                self.stats.unexpected += 1;
            }
            self.settle(now);
            return;
        }
        let Some(idx) = self.find_sa(&h) else {
            self.stats.unknown_spi += 1;
            return;
        };
        if h.exchange == ExchangeType::IKE_SA_INIT {
            self.handle_ike_sa_init_response(idx, now, local, remote, &msg, data);
            self.settle(now);
            return;
        }
        let payloads = match self.sas[idx].decrypt(&msg, data) {
            Ok(Some(p)) => p,
            Ok(None) => {
                // A fragment (RFC 7383); the message is processed once all have arrived.
                self.last_heard = Some(now);
                return;
            }
            Err(DecryptError::Syntax(e)) => {
                // Authentic but malformed inside: a request in sequence gets an error
                // response (RFC 7296 2.5, 3.10.1); anything else is dropped.
                self.stats.malformed += 1;
                if !h.flags.response() && h.message_id == self.sas[idx].peer_next_message_id {
                    self.sas[idx].peer_next_message_id += 1;
                    let n = match e {
                        WireError::UnsupportedCriticalPayload(t) => {
                            cgw_wire::Notify::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t])
                        }
                        _ => cgw_wire::Notify::new(NotifyType::INVALID_SYNTAX, vec![]),
                    };
                    self.send_response(idx, h.exchange, h.message_id, &[Payload::Notify(n)]);
                }
                return;
            }
            Err(_) => {
                self.stats.integrity_failures += 1;
                return;
            }
        };
        self.last_heard = Some(now);
        crate::trace::received(remote, &h, &payloads);
        // Authenticated: with a NAT on the path, follow the peer's (mapped) address and the
        // port it moved to (RFC 7296 2.23).
        if self.sas[idx].nat_detected() {
            self.sas[idx].remote = remote;
            self.sas[idx].local = local;
        }
        if h.flags.response() {
            let matches = self.sas[idx]
                .outstanding
                .as_ref()
                .is_some_and(|o| o.message_id == h.message_id && o.exchange == h.exchange);
            if !matches {
                self.stats.unexpected += 1;
                return;
            }
            let out = self.sas[idx].outstanding.take().expect("checked above");
            match out.task {
                Task::IkeSaInit(_) => self.stats.unexpected += 1,
                Task::IkeAuth(t) => self.process_ike_auth_response(idx, now, t, payloads),
                Task::Informational(t) => {
                    self.process_informational_response(idx, now, t, payloads)
                }
                Task::Rekey(t) => self.process_rekey_response(idx, now, t, payloads),
            }
        } else {
            let sa = &self.sas[idx];
            if h.message_id == sa.peer_next_message_id {
                self.sas[idx].peer_next_message_id += 1;
                match h.exchange {
                    ExchangeType::IKE_AUTH => {
                        self.handle_ike_auth_request(idx, now, h.message_id, payloads)
                    }
                    ExchangeType::INFORMATIONAL => {
                        self.handle_informational_request(idx, now, h.message_id, payloads)
                    }
                    ExchangeType::CREATE_CHILD_SA => {
                        self.handle_create_child_sa_request(idx, now, h.message_id, payloads)
                    }
                    _ => {
                        let n = Payload::Notify(cgw_wire::Notify::new(
                            cgw_wire::NotifyType::INVALID_SYNTAX,
                            vec![],
                        ));
                        self.send_response(idx, h.exchange, h.message_id, &[n]);
                    }
                }
            } else if h.message_id.wrapping_add(1) == sa.peer_next_message_id {
                if let Some((id, resp)) = &sa.last_response {
                    if *id == h.message_id {
                        for d in resp {
                            self.transmits.push_back(Transmit {
                                local: sa.local,
                                remote,
                                contents: d.clone(),
                            });
                        }
                        self.stats.retransmitted_responses += 1;
                    }
                }
            } else {
                self.stats.unexpected += 1;
            }
        }
        self.settle(now);
    }

    /// Finds the IKE SA a non-IKE_SA_INIT-request message belongs to.
    fn find_sa(&self, h: &IkeHeader) -> Option<usize> {
        if h.flags.initiator() {
            // Sent by the original initiator: we are the responder of that IKE SA.
            self.sas
                .iter()
                .position(|s| !s.initiator && s.spi_i == h.spi_i && s.spi_r == h.spi_r)
        } else {
            self.sas.iter().position(|s| {
                s.initiator
                    && s.spi_i == h.spi_i
                    && (s.spi_r == h.spi_r
                        || (s.state == SaState::InitSent
                            && h.exchange == ExchangeType::IKE_SA_INIT))
            })
        }
    }

    /// Advances timers: retransmissions, half-open expiry, rekeying and expiry of SAs.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dpd_timers(now);
        self.lifecycle_timers(now);
        for idx in 0..self.sas.len() {
            if let Some(d) = self.sas[idx].half_open_deadline {
                if now >= d && self.sas[idx].state == SaState::InitAnswered {
                    self.sas[idx].state = SaState::Dead;
                    let spi_i = self.sas[idx].spi_i;
                    self.events.push_back(Event::IkeSaFailed {
                        spi_i,
                        error: IkeError::HalfOpenExpired,
                        stray: true,
                    });
                    continue;
                }
            }
            let due = self.sas[idx]
                .outstanding
                .as_ref()
                .is_some_and(|o| now >= o.next_retransmit);
            if !due {
                continue;
            }
            let rt = self.config.retransmit;
            let sa = &mut self.sas[idx];
            let out = sa.outstanding.as_mut().expect("due implies outstanding");
            // An unauthenticated IKE_SA_INIT refusal whose grace is over, with no genuine
            // answer since: now it counts.
            let refused = match &out.task {
                Task::IkeSaInit(t) => t.refused.clone().filter(|(_, at)| now >= *at),
                _ => None,
            };
            if let Some((error, _)) = refused {
                sa.outstanding = None;
                self.fail_sa(idx, error, false);
                continue;
            }
            if out.retransmits >= rt.tries {
                let exchange = out.exchange;
                let tries = out.retransmits;
                let out = sa.outstanding.take().expect("present");
                let was_delete = matches!(
                    out.task,
                    Task::Informational(informational::InitiatorTask {
                        kind: informational::InfoKind::DeleteIke
                    })
                );
                let error = IkeError::PeerNotResponding {
                    exchange: exchange.to_string(),
                    tries,
                    waited_secs: now.saturating_duration_since(out.sent_at).as_secs(),
                };
                self.fail_sa(idx, error, was_delete);
                continue;
            }
            out.retransmits += 1;
            out.next_retransmit = now + retransmit_timeout(&rt, out.retransmits);
            if let Task::IkeSaInit(t) = &out.task {
                if let Some((_, at)) = t.refused {
                    out.next_retransmit = out.next_retransmit.min(at);
                }
            }
            for d in &out.datagrams {
                self.transmits.push_back(Transmit {
                    local: sa.local,
                    remote: sa.remote,
                    contents: d.clone(),
                });
            }
            self.stats.retransmitted_requests += 1;
        }
        self.settle(now);
    }

    /// Starts the rekeys and deletes whose time has come, one exchange per IKE SA at a time.
    fn lifecycle_timers(&mut self, now: Instant) {
        for idx in 0..self.sas.len() {
            let sa = &mut self.sas[idx];
            if sa.state != SaState::Established || sa.outstanding.is_some() {
                continue;
            }
            // An IKE SA left without any Child SA (the peer deleted the last one, or the
            // first was refused) carries nothing: after a grace it is deleted, so that the
            // driver's new IKE SA brings a new Child SA.
            if let Some(since) = sa.childless_since {
                if now >= since + CHILDLESS_GRACE {
                    let spi_i = sa.spi_i;
                    sa.failure_reported = true;
                    self.events.push_back(Event::IkeSaFailed {
                        spi_i,
                        error: IkeError::NoChildSa {
                            secs: now.duration_since(since).as_secs(),
                        },
                        stray: false,
                    });
                    self.start_informational(idx, now, informational::InfoKind::DeleteIke);
                }
                continue;
            }
            let sa = &self.sas[idx];
            // Hard lifetime: a Child SA that could not be rekeyed in time goes.
            if let Some(c) = sa.children.iter().find(|c| {
                now >= c.hard_deadline()
                    && matches!(
                        c.state,
                        crate::sa::ChildState::Installed | crate::sa::ChildState::Rekeyed
                    )
            }) {
                let spi = c.inbound_spi;
                // Without another Child SA to carry traffic, deleting this one would leave the
                // IKE SA up with nothing to send on, for good: delete the IKE SA instead, so
                // the driver sets up a new one (whose first Child SA needs no rekey exchange,
                // whatever made the rekeys fail).
                let others = sa.children.iter().any(|o| {
                    o.inbound_spi != spi
                        && matches!(
                            o.state,
                            crate::sa::ChildState::Installed | crate::sa::ChildState::Rekeying
                        )
                });
                if !others {
                    let spi_i = sa.spi_i;
                    self.events.push_back(Event::IkeSaFailed {
                        spi_i,
                        error: IkeError::ChildSaExpired { inbound_spi: spi },
                        stray: false,
                    });
                    self.sas[idx].failure_reported = true;
                    self.start_informational(idx, now, informational::InfoKind::DeleteIke);
                    continue;
                }
                if let Some(c) = self.sas[idx]
                    .children
                    .iter_mut()
                    .find(|c| c.inbound_spi == spi)
                {
                    c.state = crate::sa::ChildState::Deleting;
                }
                self.start_informational(idx, now, informational::InfoKind::DeleteChild(vec![spi]));
                continue;
            }
            if sa.successor.is_none() && sa.rekey_at.is_some_and(|t| now >= t) {
                self.start_ike_rekey(idx, now, None, 0);
                continue;
            }
            if sa.successor.is_some() {
                continue;
            }
            if let Some(c) = sa
                .children
                .iter()
                .find(|c| c.state == crate::sa::ChildState::Installed && now >= c.rekey_at)
            {
                let spi = c.inbound_spi;
                self.start_child_rekey(idx, now, spi, None, 0);
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas
            .iter()
            .flat_map(|s| {
                let rt = s.outstanding.as_ref().map(|o| o.next_retransmit);
                let ho = if s.state == SaState::InitAnswered {
                    s.half_open_deadline
                } else {
                    None
                };
                // Life-cycle deadlines count only while no exchange is in flight (they start
                // one); the response or its retransmission timer comes first otherwise.
                let lc = if s.state == SaState::Established
                    && s.outstanding.is_none()
                    && s.successor.is_none()
                {
                    let child = s
                        .children
                        .iter()
                        .filter_map(|c| match c.state {
                            crate::sa::ChildState::Installed => Some(c.rekey_at.min(c.expire_at)),
                            crate::sa::ChildState::Rekeyed => Some(c.hard_deadline()),
                            _ => None,
                        })
                        .min();
                    let childless = s.childless_since.map(|t| t + CHILDLESS_GRACE);
                    [child, s.rekey_at, childless].into_iter().flatten().min()
                } else {
                    None
                };
                [rt, ho, lc]
            })
            .flatten()
            .chain(self.dpd_deadline())
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Sends a request on IKE SA `idx` and remembers it for retransmission.
    pub(crate) fn send_request(
        &mut self,
        idx: usize,
        now: Instant,
        exchange: ExchangeType,
        payloads: &[Payload],
        task: Task,
    ) {
        let sa = &mut self.sas[idx];
        let id = sa.next_message_id;
        sa.next_message_id += 1;
        let frag = sa.fragment_limit(self.config.fragment_size);
        let datagrams = sa.encrypt(self.rng.as_mut(), exchange, false, id, payloads, frag);
        crate::trace::sent(sa, exchange, false, id, payloads);
        self.queue_request(idx, now, exchange, id, datagrams, task);
    }

    /// Sends a request on IKE SA `idx` once, without waiting for its response (the SA is
    /// about to go: a last word to the peer).
    pub(crate) fn send_unreliable_request(
        &mut self,
        idx: usize,
        exchange: ExchangeType,
        payloads: &[Payload],
    ) {
        let sa = &mut self.sas[idx];
        let id = sa.next_message_id;
        sa.next_message_id += 1;
        let frag = sa.fragment_limit(self.config.fragment_size);
        let datagrams = sa.encrypt(self.rng.as_mut(), exchange, false, id, payloads, frag);
        crate::trace::sent(sa, exchange, false, id, payloads);
        for d in datagrams {
            self.transmits.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                contents: d,
            });
        }
    }

    /// Queues an already built request datagram and arms its retransmission timer.
    pub(crate) fn queue_request(
        &mut self,
        idx: usize,
        now: Instant,
        exchange: ExchangeType,
        message_id: u32,
        datagrams: Vec<Vec<u8>>,
        task: Task,
    ) {
        let sa = &mut self.sas[idx];
        for d in &datagrams {
            self.transmits.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                contents: d.clone(),
            });
        }
        sa.outstanding = Some(Outstanding {
            message_id,
            exchange,
            datagrams,
            retransmits: 0,
            next_retransmit: now + retransmit_timeout(&self.config.retransmit, 0),
            sent_at: now,
            task,
        });
    }

    /// Sends (and caches) the response to the peer's request `message_id`.
    pub(crate) fn send_response(
        &mut self,
        idx: usize,
        exchange: ExchangeType,
        message_id: u32,
        payloads: &[Payload],
    ) {
        let filtered;
        let payloads = match self.config.test_response_filter {
            Some(f) => {
                let mut v = payloads.to_vec();
                f(exchange, &mut v);
                filtered = v;
                &filtered[..]
            }
            None => payloads,
        };
        let sa = &mut self.sas[idx];
        let frag = sa.fragment_limit(self.config.fragment_size);
        let datagrams = sa.encrypt(
            self.rng.as_mut(),
            exchange,
            true,
            message_id,
            payloads,
            frag,
        );
        crate::trace::sent(sa, exchange, true, message_id, payloads);
        for d in &datagrams {
            self.transmits.push_back(Transmit {
                local: sa.local,
                remote: sa.remote,
                contents: d.clone(),
            });
        }
        sa.last_response = Some((message_id, datagrams));
    }

    /// Ends IKE SA `idx` with an error (or, for a Delete that got no answer, quietly).
    pub(crate) fn fail_sa(&mut self, idx: usize, error: IkeError, quietly: bool) {
        self.remove_children(idx);
        let sa = &mut self.sas[idx];
        let stray = !sa.initiator && matches!(sa.state, SaState::InitAnswered);
        sa.state = SaState::Dead;
        if sa.failure_reported {
            // Its failure was reported when we started deleting it.
        } else if quietly {
            self.events.push_back(Event::IkeSaDeleted {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                by_peer: false,
            });
        } else {
            self.events.push_back(Event::IkeSaFailed {
                spi_i: sa.spi_i,
                error,
                stray,
            });
        }
    }

    /// Emits ChildSaDeleted for every Child SA of IKE SA `idx` and forgets them.
    pub(crate) fn remove_children(&mut self, idx: usize) {
        for c in std::mem::take(&mut self.sas[idx].children) {
            self.events.push_back(Event::ChildSaDeleted {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
                rekeyed: false,
            });
        }
    }

    /// Random bytes.
    pub(crate) fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill(&mut b);
        b
    }

    /// A random number in [0, 1).
    pub(crate) fn random_unit(&mut self) -> f64 {
        (u64::from_be_bytes(self.random::<8>()) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A fresh ESP SPI (never 0-255, reserved by RFC 4303).
    pub(crate) fn new_esp_spi(&mut self) -> u32 {
        loop {
            let spi = u32::from_be_bytes(self.random::<4>());
            if spi > 255 {
                return spi;
            }
        }
    }

    fn reap(&mut self) {
        self.sas.retain(|s| s.state != SaState::Dead);
    }

    /// After every input: drops dead IKE SAs and notes when an established IKE SA was left
    /// without any Child SA (the start of its [`CHILDLESS_GRACE`]).
    fn settle(&mut self, now: Instant) {
        self.reap();
        // A new IKE SA from a rekey gets its Child SAs when the old one is deleted.
        let heirs: Vec<crate::sa::IkeSpis> = self
            .sas
            .iter()
            .filter_map(|s| s.successor.or(s.passive_rekey.as_ref().map(|p| p.0)))
            .collect();
        for sa in &mut self.sas {
            if sa.state == SaState::Established
                && sa.children.is_empty()
                && sa.successor.is_none()
                && sa.passive_rekey.is_none()
                && !heirs.contains(&(sa.spi_i, sa.spi_r))
            {
                sa.childless_since.get_or_insert(now);
            } else {
                sa.childless_since = None;
            }
        }
    }
}

/// How long an established IKE SA may go without any Child SA before it is deleted (and the
/// driver sets up a new one). Long enough for a peer that deletes a Child SA to follow with
/// a new one of its own, short enough that a tunnel does not blackhole traffic for long.
pub(crate) const CHILDLESS_GRACE: Duration = Duration::from_secs(10);

/// Wait before retransmission number `n + 1`.
pub(crate) fn retransmit_timeout(rt: &crate::RetransmitConfig, n: u32) -> Duration {
    let f = rt.base.powi(n as i32);
    let t = rt.initial.mul_f64(f.min(1e6));
    t.min(rt.max_timeout)
}
