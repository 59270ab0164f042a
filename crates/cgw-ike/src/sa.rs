//! The state of one IKE SA: SPIs, keys, message IDs, the request in flight and the cached
//! response.

use crate::exchange::Task;
use crate::proposal::{EspSuite, IkeSuite};
use cgw_crypto::{Random, Secret, SkCipher};
use cgw_wire::{
    emit_payload_chain, parse_payload_chain, ExchangeType, Flags, IkeHeader, Message, Payload,
    PayloadType, TrafficSelector, GENERIC_PAYLOAD_HEADER_LEN, IKE_HEADER_LEN,
};
use std::net::SocketAddr;
use std::time::Instant;

/// Where an IKE SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaState {
    /// Initiator: IKE_SA_INIT sent (possibly again with a cookie or another group).
    InitSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    InitAnswered,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    /// Authenticated and usable.
    Established,
    /// We sent a Delete for it; it is gone when answered or timed out.
    Deleting,
    /// Finished; removed at the next opportunity.
    Dead,
}

/// The keys of an IKE SA after IKE_SA_INIT.
pub(crate) struct IkeKeys {
    pub(crate) sk_d: Secret,
    pub(crate) sk_pi: Secret,
    pub(crate) sk_pr: Secret,
    pub(crate) sk_ei: Secret,
    pub(crate) sk_er: Secret,
    pub(crate) sk_ai: Secret,
    pub(crate) sk_ar: Secret,
    /// Protects what we send.
    pub(crate) outbound: SkCipher,
    /// Verifies and decrypts what we receive.
    pub(crate) inbound: SkCipher,
}

/// A request of ours waiting for its response.
pub(crate) struct Outstanding {
    pub(crate) message_id: u32,
    pub(crate) exchange: ExchangeType,
    /// The datagram(s) as sent (several with IKE fragmentation), for retransmission.
    pub(crate) datagrams: Vec<Vec<u8>>,
    pub(crate) retransmits: u32,
    pub(crate) next_retransmit: Instant,
    /// When it was first sent.
    pub(crate) sent_at: Instant,
    pub(crate) task: Task,
}

/// Where a Child SA is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildState {
    /// Carrying traffic.
    Installed,
    /// We are rekeying it (CREATE_CHILD_SA in flight).
    Rekeying,
    /// Replaced by a newer Child SA; its Delete is pending.
    Rekeyed,
    /// We sent a Delete for it.
    Deleting,
}

/// What we learned when the peer rekeyed a Child SA (kept to resolve a collision with our
/// own rekey of it, RFC 7296 2.8.1).
#[derive(Debug, Clone)]
pub(crate) struct PassiveRekey {
    /// Inbound SPI of the Child SA the peer's exchange created.
    pub(crate) new_inbound_spi: u32,
    /// The lowest nonce of that exchange.
    pub(crate) min_nonce: Vec<u8>,
}

/// How long a Child SA replaced by the peer's rekey may outlive its hard lifetime while we
/// wait for the peer (the rekey's initiator) to delete it: deleting it ourselves would cut the
/// peer's traffic if our response is still in retransmission.
pub(crate) const REKEYED_SLACK: std::time::Duration = std::time::Duration::from_secs(180);

/// A Child SA as the IKE SA knows it.
#[derive(Debug, Clone)]
pub(crate) struct ChildSa {
    pub(crate) inbound_spi: u32,
    pub(crate) outbound_spi: u32,
    #[allow(dead_code)]
    pub(crate) suite: EspSuite,
    pub(crate) local_ts: Vec<TrafficSelector>,
    pub(crate) remote_ts: Vec<TrafficSelector>,
    pub(crate) state: ChildState,
    /// When we start rekeying it (soft lifetime).
    pub(crate) rekey_at: Instant,
    /// When it expires if not rekeyed (hard lifetime).
    pub(crate) expire_at: Instant,
    pub(crate) passive_rekey: Option<PassiveRekey>,
    /// The outbound SA is not in use yet (responder of a rekey: it waits for the initiator's
    /// Delete of the old Child SA, or for its own rekey to win).
    pub(crate) outbound_pending: bool,
    /// Rekeys of ours that failed in a row (the retry waits double each time).
    pub(crate) rekey_failures: u32,
}

impl ChildSa {
    /// A rekey of ours of this Child SA ended without replacing it (refused, failed, or lost
    /// with its IKE SA): it is in service again, or stays replaced if the peer's rekey of it
    /// stood.
    pub(crate) fn own_rekey_ended(&mut self) {
        if self.state == ChildState::Rekeying {
            self.state = if self.passive_rekey.is_some() {
                ChildState::Rekeyed
            } else {
                ChildState::Installed
            };
        }
    }

    /// When our timers delete it.
    pub(crate) fn hard_deadline(&self) -> Instant {
        if self.state == ChildState::Rekeyed && self.passive_rekey.is_some() {
            self.expire_at + REKEYED_SLACK
        } else {
            self.expire_at
        }
    }
}

pub(crate) struct IkeSa {
    pub(crate) spi_i: [u8; 8],
    pub(crate) spi_r: [u8; 8],
    /// We are the original initiator of this IKE SA.
    pub(crate) initiator: bool,
    pub(crate) state: SaState,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) local_behind_nat: bool,
    pub(crate) remote_behind_nat: bool,
    pub(crate) suite: Option<IkeSuite>,
    pub(crate) keys: Option<IkeKeys>,
    pub(crate) ni: Vec<u8>,
    pub(crate) nr: Vec<u8>,
    /// IKE_SA_INIT request and response as sent and received, for the AUTH payloads;
    /// dropped once IKE_AUTH is done.
    pub(crate) init_request: Vec<u8>,
    pub(crate) init_response: Vec<u8>,
    /// Message ID of our next request.
    pub(crate) next_message_id: u32,
    /// Message ID of the next request we expect from the peer.
    pub(crate) peer_next_message_id: u32,
    /// Our response to the peer's last request: (message ID, datagram(s)).
    pub(crate) last_response: Option<(u32, Vec<Vec<u8>>)>,
    pub(crate) outstanding: Option<Outstanding>,
    /// Responder: when an IKE SA without IKE_AUTH is dropped.
    pub(crate) half_open_deadline: Option<Instant>,
    pub(crate) children: Vec<ChildSa>,
    /// When we start rekeying the IKE SA.
    pub(crate) rekey_at: Option<Instant>,
    /// The IKE SA that replaces this one (set when a rekey of it completed, by either side).
    pub(crate) successor: Option<([u8; 8], [u8; 8])>,
    /// The peer rekeyed this IKE SA: (successor's SPIs, lowest nonce of that exchange).
    pub(crate) passive_rekey: Option<PassiveIkeRekey>,
    /// Child SA rekeys the peer made that we answered, by the old Child SA's inbound SPI: kept
    /// after the old Child SA is gone, to resolve a collision with our own rekey of it.
    pub(crate) passive_child_rekeys: Vec<(u32, PassiveRekey)>,
    /// Whether the peer said it supports IKE fragmentation (RFC 7383).
    pub(crate) peer_fragmentation: bool,
    /// SKF fragments being collected: (message ID, first inner payload type, fragments).
    pub(crate) fragments: Option<Reassembly>,
    /// We are deleting this IKE SA because of a failure already reported as
    /// `IkeSaFailed`: its Delete then ends without another event.
    pub(crate) failure_reported: bool,
    /// Since when this established IKE SA has had no Child SA at all (see
    /// [`CHILDLESS_GRACE`](crate::connection::CHILDLESS_GRACE)).
    pub(crate) childless_since: Option<Instant>,
}

/// SPIs of an IKE SA.
pub(crate) type IkeSpis = ([u8; 8], [u8; 8]);

/// A rekey of the IKE SA by the peer: (the new IKE SA's SPIs, lowest nonce of the exchange).
pub(crate) type PassiveIkeRekey = (IkeSpis, Vec<u8>);

/// Most fragments cgw reassembles for one message (RFC 7383 leaves the bound to us).
const MAX_FRAGMENTS: u16 = 64;

/// Fragments of one message being reassembled (RFC 7383 2.6).
pub(crate) struct Reassembly {
    pub(crate) message_id: u32,
    pub(crate) response: bool,
    pub(crate) total: u16,
    pub(crate) first_inner: cgw_wire::PayloadType,
    pub(crate) parts: Vec<Option<Vec<u8>>>,
}

impl IkeSa {
    pub(crate) fn new(
        spi_i: [u8; 8],
        initiator: bool,
        local: SocketAddr,
        remote: SocketAddr,
        _now: Instant,
    ) -> Self {
        Self {
            spi_i,
            spi_r: [0; 8],
            initiator,
            state: if initiator {
                SaState::InitSent
            } else {
                SaState::InitAnswered
            },
            local,
            remote,
            local_behind_nat: false,
            remote_behind_nat: false,
            suite: None,
            keys: None,
            ni: Vec::new(),
            nr: Vec::new(),
            init_request: Vec::new(),
            init_response: Vec::new(),
            next_message_id: 0,
            peer_next_message_id: 0,
            last_response: None,
            outstanding: None,
            half_open_deadline: None,
            children: Vec::new(),
            rekey_at: None,
            successor: None,
            passive_rekey: None,
            passive_child_rekeys: Vec::new(),
            peer_fragmentation: false,
            fragments: None,
            failure_reported: false,
            childless_since: None,
        }
    }

    /// Whether ESP and IKE use UDP encapsulation on port 4500.
    pub(crate) fn nat_detected(&self) -> bool {
        self.local_behind_nat || self.remote_behind_nat
    }

    /// The header of a message of ours on this IKE SA.
    pub(crate) fn header(
        &self,
        exchange: ExchangeType,
        response: bool,
        message_id: u32,
    ) -> IkeHeader {
        IkeHeader {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: PayloadType::NONE,
            version: 0x20,
            exchange,
            flags: Flags::new(self.initiator, response),
            message_id,
            length: 0,
        }
    }

    /// The largest IKE message sent whole, if the peer takes fragments (RFC 7383).
    pub(crate) fn fragment_limit(&self, size: usize) -> Option<usize> {
        self.peer_fragmentation.then_some(size)
    }

    /// Builds an SK-protected message carrying `payloads`: one datagram, or SKF fragments of
    /// at most `fragment_limit` bytes each when it is larger (RFC 7383 2.5).
    pub(crate) fn encrypt(
        &self,
        rng: &mut dyn Random,
        exchange: ExchangeType,
        response: bool,
        message_id: u32,
        payloads: &[Payload],
        fragment_limit: Option<usize>,
    ) -> Vec<Vec<u8>> {
        let mut inner = Vec::new();
        let first = emit_payload_chain(payloads, PayloadType::NONE, &mut inner);
        self.encrypt_chain(
            rng,
            exchange,
            response,
            message_id,
            first,
            &inner,
            fragment_limit,
        )
    }

    /// [`encrypt`](Self::encrypt) for an inner payload chain already emitted (`first` is the
    /// type of its first payload); the fuzz target for authenticated input seals arbitrary
    /// bytes with it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encrypt_chain(
        &self,
        rng: &mut dyn Random,
        exchange: ExchangeType,
        response: bool,
        message_id: u32,
        first: PayloadType,
        inner: &[u8],
        fragment_limit: Option<usize>,
    ) -> Vec<Vec<u8>> {
        let keys = self
            .keys
            .as_ref()
            .expect("encrypt() is only called once keys exist");
        let sealed = keys.outbound.sealed_len(inner.len());
        let whole = IKE_HEADER_LEN + GENERIC_PAYLOAD_HEADER_LEN + sealed;
        let room = fragment_limit
            .map(|l| {
                keys.outbound.max_plain_len(
                    l.saturating_sub(IKE_HEADER_LEN + GENERIC_PAYLOAD_HEADER_LEN + 4),
                )
            })
            .filter(|room| *room >= 64);
        let Some(room) = room.filter(|_| whole > fragment_limit.unwrap_or(usize::MAX)) else {
            let mut h = self.header(exchange, response, message_id);
            h.next_payload = PayloadType::SK;
            h.length = whole as u32;
            let mut msg = Vec::with_capacity(whole);
            h.emit(&mut msg);
            msg.push(first.0);
            msg.push(0);
            msg.extend_from_slice(&((GENERIC_PAYLOAD_HEADER_LEN + sealed) as u16).to_be_bytes());
            keys.outbound.seal(rng, &mut msg, inner);
            return vec![msg];
        };
        let chunks: Vec<&[u8]> = inner.chunks(room).collect();
        let total = chunks.len() as u16;
        chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let sealed = keys.outbound.sealed_len(chunk.len());
                let mut h = self.header(exchange, response, message_id);
                h.next_payload = PayloadType::SKF;
                h.length = (IKE_HEADER_LEN + GENERIC_PAYLOAD_HEADER_LEN + 4 + sealed) as u32;
                let mut msg = Vec::with_capacity(h.length as usize);
                h.emit(&mut msg);
                // Only the first fragment names the first inner payload.
                msg.push(if i == 0 { first.0 } else { 0 });
                msg.push(0);
                msg.extend_from_slice(
                    &((GENERIC_PAYLOAD_HEADER_LEN + 4 + sealed) as u16).to_be_bytes(),
                );
                msg.extend_from_slice(&(i as u16 + 1).to_be_bytes());
                msg.extend_from_slice(&total.to_be_bytes());
                keys.outbound.seal(rng, &mut msg, chunk);
                msg
            })
            .collect()
    }

    /// Verifies and decrypts the SK payload of `msg` (parsed from `datagram`); for an SKF
    /// fragment, keeps it and returns `None` until the whole message is there.
    pub(crate) fn decrypt(
        &mut self,
        msg: &Message,
        datagram: &[u8],
    ) -> Result<Option<Vec<Payload>>, DecryptError> {
        let keys = self.keys.as_ref().ok_or(DecryptError::NoKeys)?;
        let enc = msg.encrypted.ok_or(DecryptError::NotEncrypted)?;
        let datagram = &datagram[..msg.header.length as usize];
        let plain = keys
            .inbound
            .open(datagram, enc.body_start)
            .map_err(|_| DecryptError::Integrity)?;
        let (first_inner, plain) = match enc.fragment {
            None => (enc.first_inner, plain.to_vec()),
            Some((number, total)) => {
                if total > MAX_FRAGMENTS {
                    return Err(DecryptError::Syntax(cgw_wire::WireError::TooMany(
                        "IKE fragments",
                    )));
                }
                let h = msg.header;
                let fresh = !self.fragments.as_ref().is_some_and(|r| {
                    r.message_id == h.message_id
                        && r.response == h.flags.response()
                        && r.total == total
                });
                if fresh {
                    self.fragments = Some(Reassembly {
                        message_id: h.message_id,
                        response: h.flags.response(),
                        total,
                        first_inner: PayloadType::NONE,
                        parts: vec![None; total as usize],
                    });
                }
                let r = self.fragments.as_mut().expect("set above");
                if number == 1 {
                    r.first_inner = enc.first_inner;
                }
                r.parts[number as usize - 1] = Some(plain.to_vec());
                if r.parts.iter().any(Option::is_none) {
                    return Ok(None);
                }
                let r = self.fragments.take().expect("complete");
                let whole: Vec<u8> = r.parts.into_iter().flatten().flatten().collect();
                (r.first_inner, whole)
            }
        };
        let mut payloads = msg.payloads.clone();
        payloads.extend(parse_payload_chain(first_inner, &plain).map_err(DecryptError::Syntax)?);
        Ok(Some(payloads))
    }
}

#[derive(Debug)]
pub(crate) enum DecryptError {
    NoKeys,
    NotEncrypted,
    Integrity,
    Syntax(cgw_wire::WireError),
}
