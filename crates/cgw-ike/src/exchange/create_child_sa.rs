//! CREATE_CHILD_SA (RFC 7296 1.3, 2.8, 2.17, 2.18): rekeying Child SAs (with PFS when
//! configured) and the IKE SA, initiated by either side, including simultaneous rekeys
//! (2.8.1: the exchange with the lowest nonce made the redundant SA, which its initiator
//! deletes).
//!
//! Make-before-break: a Child SA's new inbound SA is announced (and installed by the driver)
//! before the response leaves; the initiator switches its outbound SA when the response
//! arrives and then deletes the old Child SA; the responder switches its outbound SA when that
//! Delete arrives (so it never sends on an SA the initiator may not have installed yet); old
//! inbound SAs are kept a short grace period by the driver.

use super::ike_auth::NewChild;
use super::ike_sa_init::install_keys_from;
use super::{
    find_notify, first_error, informational::InfoKind, key_exchange, nonce, sa_payload, ts_i, ts_r,
    Task,
};
use crate::event::IkeSaInfo;
use crate::proposal::{
    chosen_number, describe_esp_proposals, esp_acceptable, esp_choice, esp_offer, ike_acceptable,
    ike_choice, ike_offer, parse_esp_choice, parse_ike_choice, select_esp, select_ike,
};
use crate::sa::{ChildState, IkeSa, PassiveRekey, SaState};
use crate::{Connection, Event, IkeError};
use cgw_crypto::{keys, DhGroup, DhPrivate};
use cgw_wire::{
    ExchangeType, KeyExchange, Notify, NotifyType, Payload, ProtocolId, TrafficSelector,
};
use std::time::{Duration, Instant};

const NONCE_LEN: usize = 32;
/// How long to wait before retrying a rekey the peer refused with TEMPORARY_FAILURE.
const REKEY_RETRY: Duration = Duration::from_secs(10);
/// A failing rekey waits at most `REKEY_RETRY * 2^4` (160 s) before the next try.
const MAX_REKEY_BACKOFF_DOUBLINGS: u32 = 4;

/// Our CREATE_CHILD_SA request in flight.
pub(crate) enum RekeyTask {
    /// Rekeying the Child SA with this inbound SPI.
    Child {
        old_inbound_spi: u32,
        new_inbound_spi: u32,
        ni: Vec<u8>,
        dh: Option<DhPrivate>,
        retries: u8,
    },
    /// Rekeying the IKE SA.
    Ike {
        new_spi: [u8; 8],
        ni: Vec<u8>,
        dh: DhPrivate,
        retries: u8,
    },
}

fn min_nonce<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if a <= b {
        a
    } else {
        b
    }
}

impl Connection {
    /// Starts rekeying the Child SA whose inbound SPI is `inbound_spi` (for instance when the
    /// ESP engine reports the sequence number or byte limit near). Returns false if it cannot
    /// start now (no such Child SA, or another exchange is in flight: retried by the timers).
    pub fn rekey_child_sa(&mut self, now: Instant, inbound_spi: u32) -> bool {
        let Some(idx) = self.sas.iter().position(|s| {
            s.state == SaState::Established
                && s.outstanding.is_none()
                && s.children
                    .iter()
                    .any(|c| c.inbound_spi == inbound_spi && c.state == ChildState::Installed)
        }) else {
            return false;
        };
        self.start_child_rekey(idx, now, inbound_spi, None, 0);
        true
    }

    /// Starts rekeying the established IKE SA. Returns false if it cannot start now.
    pub fn rekey_ike_sa(&mut self, now: Instant) -> bool {
        let Some(idx) = self.sas.iter().position(|s| {
            s.state == SaState::Established && s.outstanding.is_none() && s.successor.is_none()
        }) else {
            return false;
        };
        self.start_ike_rekey(idx, now, None, 0);
        true
    }

    pub(crate) fn start_child_rekey(
        &mut self,
        idx: usize,
        now: Instant,
        old: u32,
        group: Option<DhGroup>,
        retries: u8,
    ) {
        let cfg = self.config.clone();
        let new_inbound_spi = self.new_esp_spi();
        let ni = self.random::<NONCE_LEN>().to_vec();
        let group = group.or_else(|| {
            cfg.esp_proposals
                .first()
                .and_then(|p| p.dh.first().copied())
        });
        let dh = group.map(|g| DhPrivate::generate(g, self.rng.as_mut()));
        let Some(child) = self.sas[idx]
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == old)
        else {
            return;
        };
        child.state = ChildState::Rekeying;
        let (local_ts, remote_ts) = (child.local_ts.clone(), child.remote_ts.clone());
        let mut payloads = vec![
            Payload::Notify(Notify {
                protocol: ProtocolId::ESP,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: vec![],
            }),
            Payload::Sa(esp_offer(
                &cfg.esp_proposals,
                new_inbound_spi.to_be_bytes(),
                true,
            )),
            Payload::Nonce(ni.clone()),
        ];
        if let Some(d) = &dh {
            payloads.push(Payload::Ke(KeyExchange {
                dh_group: d.group().id(),
                data: d.public_value().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(local_ts));
        payloads.push(Payload::TsR(remote_ts));
        let task = RekeyTask::Child {
            old_inbound_spi: old,
            new_inbound_spi,
            ni,
            dh,
            retries,
        };
        self.send_request(
            idx,
            now,
            ExchangeType::CREATE_CHILD_SA,
            &payloads,
            Task::Rekey(task),
        );
    }

    pub(crate) fn start_ike_rekey(
        &mut self,
        idx: usize,
        now: Instant,
        group: Option<DhGroup>,
        retries: u8,
    ) {
        let cfg = self.config.clone();
        let new_spi = loop {
            let s = self.random::<8>();
            if s != [0; 8] {
                break s;
            }
        };
        let ni = self.random::<NONCE_LEN>().to_vec();
        let group = group
            .or_else(|| self.sas[idx].suite.map(|s| s.dh))
            .unwrap_or(DhGroup::Ecp384);
        let dh = DhPrivate::generate(group, self.rng.as_mut());
        let payloads = vec![
            Payload::Sa(ike_offer(&cfg.ike_proposals, &new_spi)),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KeyExchange {
                dh_group: dh.group().id(),
                data: dh.public_value().to_vec(),
            }),
        ];
        let task = RekeyTask::Ike {
            new_spi,
            ni,
            dh,
            retries,
        };
        self.send_request(
            idx,
            now,
            ExchangeType::CREATE_CHILD_SA,
            &payloads,
            Task::Rekey(task),
        );
    }

    /// The peer's CREATE_CHILD_SA request.
    pub(crate) fn handle_create_child_sa_request(
        &mut self,
        idx: usize,
        now: Instant,
        message_id: u32,
        p: Vec<Payload>,
    ) {
        let refuse = |this: &mut Connection, t: NotifyType, data: Vec<u8>| {
            let n = Payload::Notify(Notify::new(t, data));
            this.send_response(idx, ExchangeType::CREATE_CHILD_SA, message_id, &[n]);
        };
        if self.sas[idx].state != SaState::Established || self.sas[idx].successor.is_some() {
            // Being deleted or replaced: RFC 7296 2.25.
            return refuse(self, NotifyType::TEMPORARY_FAILURE, vec![]);
        }
        let sa_p = sa_payload(&p);
        let nonce = nonce(&p);
        let ke = key_exchange(&p);
        let (Some(sa_p), Some(ni)) = (sa_p, nonce) else {
            return refuse(self, NotifyType::INVALID_SYNTAX, vec![]);
        };
        let is_ike = sa_p.proposals.iter().any(|x| x.protocol == ProtocolId::IKE);
        // An IKE SA rekey and another exchange of ours must not overlap: the old IKE SA may be
        // deleted under it. Refuse for now (RFC 7296 2.25); the peer retries.
        let ours = self.sas[idx]
            .outstanding
            .as_ref()
            .map(|o| matches!(o.task, Task::Rekey(RekeyTask::Ike { .. })));
        match (is_ike, ours) {
            (true, Some(false)) | (false, Some(true)) => {
                return refuse(self, NotifyType::TEMPORARY_FAILURE, vec![])
            }
            _ => {}
        }
        if is_ike {
            return self.respond_ike_rekey(
                idx,
                now,
                message_id,
                sa_p.clone(),
                ni.clone(),
                ke.cloned(),
            );
        }
        let rekey = find_notify(&p, NotifyType::REKEY_SA)
            .and_then(|n| <[u8; 4]>::try_from(n.spi.as_slice()).ok());
        let Some(old_out) = rekey.map(u32::from_be_bytes) else {
            // A new, additional Child SA: AWS uses one per tunnel (one SA pair).
            return refuse(self, NotifyType::NO_ADDITIONAL_SAS, vec![]);
        };
        let Some(ci) = self.sas[idx]
            .children
            .iter()
            .position(|c| c.outbound_spi == old_out)
        else {
            return refuse(self, NotifyType::CHILD_SA_NOT_FOUND, vec![]);
        };
        if matches!(
            self.sas[idx].children[ci].state,
            ChildState::Deleting | ChildState::Rekeyed
        ) {
            return refuse(self, NotifyType::TEMPORARY_FAILURE, vec![]);
        }
        let cfg = self.config.clone();
        let Some((number, suite, peer_spi)) = select_esp(&cfg.esp_proposals, sa_p, true) else {
            self.events.push_back(Event::ChildSaFailed {
                error: IkeError::NoProposalChosenByUs {
                    we_accept: crate::proposal::describe_esp_proposals(&cfg.esp_proposals, true),
                    peer_offered: crate::proposal::describe_offer(sa_p),
                },
            });
            return refuse(self, NotifyType::NO_PROPOSAL_CHOSEN, vec![]);
        };
        let (dh, g_ir) = match (suite.dh, ke) {
            (None, _) => (None, None),
            (Some(g), Some(k)) if k.dh_group == g.id() => {
                let d = DhPrivate::generate(g, self.rng.as_mut());
                match d.shared_secret(&k.data) {
                    Ok(s) => (Some(d), Some(s)),
                    Err(_) => return refuse(self, NotifyType::INVALID_SYNTAX, vec![]),
                }
            }
            (Some(g), _) => {
                return refuse(
                    self,
                    NotifyType::INVALID_KE_PAYLOAD,
                    g.id().to_be_bytes().to_vec(),
                )
            }
        };
        let child = &self.sas[idx].children[ci];
        let (ts_i, ts_r) = (child.remote_ts.clone(), child.local_ts.clone());
        let old_inbound = child.inbound_spi;
        let we_are_rekeying = child.state == ChildState::Rekeying;
        let nr = self.random::<NONCE_LEN>().to_vec();
        let spi = self.new_esp_spi();
        let mut resp = vec![
            Payload::Sa(esp_choice(number, &suite, spi.to_be_bytes())),
            Payload::Nonce(nr.clone()),
        ];
        if let Some(d) = &dh {
            resp.push(Payload::Ke(KeyExchange {
                dh_group: d.group().id(),
                data: d.public_value().to_vec(),
            }));
        }
        resp.push(Payload::TsI(ts_i.clone()));
        resp.push(Payload::TsR(ts_r.clone()));
        // The new inbound SA is announced (installed) before the response leaves; we keep
        // sending on the old one until the initiator deletes it.
        let c = NewChild {
            suite,
            inbound_spi: spi,
            outbound_spi: u32::from_be_bytes(peer_spi),
            ts_i,
            ts_r,
            ni: ni.clone(),
            nr: nr.clone(),
            g_ir,
            exchange_initiator: false,
            outbound_active: false,
            rekey_of: Some(old_inbound),
        };
        self.child_sa_established(idx, now, c);
        let old = self.sas[idx]
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == old_inbound)
            .expect("old child still here");
        let pr = PassiveRekey {
            new_inbound_spi: spi,
            min_nonce: min_nonce(ni, &nr).to_vec(),
        };
        old.passive_rekey = Some(pr.clone());
        if !we_are_rekeying {
            old.state = ChildState::Rekeyed;
        } else {
            let list = &mut self.sas[idx].passive_child_rekeys;
            list.retain(|(o, _)| *o != old_inbound);
            list.push((old_inbound, pr));
            if list.len() > 8 {
                list.remove(0);
            }
        }
        self.stats.child_rekeys += 1;
        self.send_response(idx, ExchangeType::CREATE_CHILD_SA, message_id, &resp);
    }

    fn respond_ike_rekey(
        &mut self,
        idx: usize,
        now: Instant,
        message_id: u32,
        sa_p: cgw_wire::SaPayload,
        ni: Vec<u8>,
        ke: Option<KeyExchange>,
    ) {
        let refuse = |this: &mut Connection, t: NotifyType, data: Vec<u8>| {
            let n = Payload::Notify(Notify::new(t, data));
            this.send_response(idx, ExchangeType::CREATE_CHILD_SA, message_id, &[n]);
        };
        let cfg = self.config.clone();
        let Some((number, suite)) = select_ike(&cfg.ike_proposals, &sa_p) else {
            return refuse(self, NotifyType::NO_PROPOSAL_CHOSEN, vec![]);
        };
        let peer_spi = sa_p
            .proposals
            .iter()
            .find(|x| x.number == number)
            .and_then(|x| <[u8; 8]>::try_from(x.spi.as_slice()).ok());
        let (Some(peer_spi), Some(ke)) = (peer_spi, ke) else {
            return refuse(self, NotifyType::INVALID_SYNTAX, vec![]);
        };
        if ke.dh_group != suite.dh.id() {
            return refuse(
                self,
                NotifyType::INVALID_KE_PAYLOAD,
                suite.dh.id().to_be_bytes().to_vec(),
            );
        }
        let dh = DhPrivate::generate(suite.dh, self.rng.as_mut());
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            return refuse(self, NotifyType::INVALID_SYNTAX, vec![]);
        };
        let our_spi = loop {
            let s = self.random::<8>();
            if s != [0; 8] {
                break s;
            }
        };
        let nr = self.random::<NONCE_LEN>().to_vec();
        let resp = vec![
            Payload::Sa(ike_choice(number, &suite, &our_spi)),
            Payload::Nonce(nr.clone()),
            Payload::Ke(KeyExchange {
                dh_group: suite.dh.id(),
                data: dh.public_value().to_vec(),
            }),
        ];
        match self.new_ike_sa_from_rekey(
            idx,
            now,
            suite,
            peer_spi,
            our_spi,
            false,
            ni.clone(),
            nr.clone(),
            &g_ir,
        ) {
            Ok(spis) => {
                self.sas[idx].passive_rekey = Some((spis, min_nonce(&ni, &nr).to_vec()));
                if !matches!(&self.sas[idx].outstanding, Some(o) if matches!(o.task, Task::Rekey(RekeyTask::Ike { .. })))
                {
                    // No collision: the initiator will delete the old IKE SA; its Child SAs
                    // move to the new one then (or now, if it never does).
                    self.sas[idx].successor = Some(spis);
                }
                self.stats.ike_rekeys += 1;
                self.send_response(idx, ExchangeType::CREATE_CHILD_SA, message_id, &resp);
            }
            Err(e) => {
                self.events.push_back(Event::IkeSaFailed {
                    spi_i: self.sas[idx].spi_i,
                    error: e,
                    stray: false,
                });
                refuse(self, NotifyType::INVALID_SYNTAX, vec![]);
            }
        }
    }

    /// Builds the IKE SA a rekey creates (RFC 7296 2.18) next to the old one at `idx`.
    #[allow(clippy::too_many_arguments)]
    fn new_ike_sa_from_rekey(
        &mut self,
        idx: usize,
        now: Instant,
        suite: crate::IkeSuite,
        spi_of_initiator: [u8; 8],
        spi_of_responder: [u8; 8],
        we_initiated: bool,
        ni: Vec<u8>,
        nr: Vec<u8>,
        g_ir: &[u8],
    ) -> Result<([u8; 8], [u8; 8]), IkeError> {
        let lt = self.config.lifetimes;
        let r = self.random_unit();
        let old = &self.sas[idx];
        let old_prf = old.suite.expect("suite").prf;
        let old_keys = old.keys.as_ref().expect("keys");
        let skeyseed = keys::rekey_skeyseed(old_prf, &old_keys.sk_d, g_ir, &ni, &nr);
        let mut sa = IkeSa::new(spi_of_initiator, we_initiated, old.local, old.remote, now);
        sa.spi_r = spi_of_responder;
        sa.state = SaState::Established;
        sa.ni = ni;
        sa.nr = nr;
        sa.local_behind_nat = old.local_behind_nat;
        sa.remote_behind_nat = old.remote_behind_nat;
        sa.peer_fragmentation = old.peer_fragmentation;
        install_keys_from(&mut sa, suite, &skeyseed)?;
        sa.rekey_at = Some(now + lt.soft(lt.ike, r));
        let spis = (sa.spi_i, sa.spi_r);
        let info = IkeSaInfo {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            initiator: we_initiated,
            suite,
            local: sa.local,
            remote: sa.remote,
            local_behind_nat: sa.local_behind_nat,
            remote_behind_nat: sa.remote_behind_nat,
            peer_id: String::new(),
        };
        let old_spis = (old.spi_i, old.spi_r);
        self.sas.push(sa);
        self.events.push_back(Event::IkeSaRekeyed {
            old: old_spis,
            new: info,
        });
        Ok(spis)
    }

    /// Moves the Child SAs of IKE SA `idx` to its successor (or, if its own rekey never
    /// completed, to the IKE SA the peer's rekey created).
    pub(crate) fn move_children_to_successor(&mut self, idx: usize) -> bool {
        let sa = &self.sas[idx];
        let Some(spis) = sa.successor.or(sa.passive_rekey.as_ref().map(|p| p.0)) else {
            return false;
        };
        let Some(to) = self.sas.iter().position(|s| (s.spi_i, s.spi_r) == spis) else {
            return false;
        };
        let mut children = std::mem::take(&mut self.sas[idx].children);
        // A rekey that was in flight on the old IKE SA died with it.
        for c in &mut children {
            c.own_rekey_ended();
        }
        self.sas[to].children.extend(children);
        true
    }

    pub(crate) fn process_rekey_response(
        &mut self,
        idx: usize,
        now: Instant,
        task: RekeyTask,
        p: Vec<Payload>,
    ) {
        match task {
            RekeyTask::Child {
                old_inbound_spi,
                new_inbound_spi,
                ni,
                dh,
                retries,
            } => self.process_child_rekey_response(
                idx,
                now,
                old_inbound_spi,
                new_inbound_spi,
                ni,
                dh,
                retries,
                p,
            ),
            RekeyTask::Ike {
                new_spi,
                ni,
                dh,
                retries,
            } => self.process_ike_rekey_response(idx, now, new_spi, ni, dh, retries, p),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn process_child_rekey_response(
        &mut self,
        idx: usize,
        now: Instant,
        old: u32,
        new_inbound_spi: u32,
        ni: Vec<u8>,
        dh: Option<DhPrivate>,
        retries: u8,
        p: Vec<Payload>,
    ) {
        let cfg = self.config.clone();
        let old_present = self.sas[idx].children.iter().any(|c| c.inbound_spi == old);
        let back_to_installed = |this: &mut Connection, retry_in: Option<Duration>| {
            if let Some(c) = this.sas[idx]
                .children
                .iter_mut()
                .find(|c| c.inbound_spi == old)
            {
                c.own_rekey_ended();
                if let Some(d) = retry_in {
                    c.rekey_at = now + d;
                }
            }
        };
        if let Some(n) = find_notify(&p, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = <[u8; 2]>::try_from(n.data.as_slice())
                .map(u16::from_be_bytes)
                .unwrap_or(0);
            let ok = DhGroup::from_id(wanted)
                .filter(|g| cfg.esp_proposals.iter().any(|x| x.dh.contains(g)));
            let name = DhGroup::from_id(wanted)
                .map(|g| g.to_string())
                .unwrap_or_else(|| wanted.to_string());
            let cause = match ok {
                Some(g) if dh.as_ref().is_some_and(|d| d.group() == g) => format!(
                    "the peer answered INVALID_KE_PAYLOAD naming PFS group {name}, the group of the KE payload we sent: it refused our public value or is faulty"
                ),
                Some(g) if retries < 3 && old_present => {
                    back_to_installed(self, None);
                    self.start_child_rekey(idx, now, old, Some(g), retries + 1);
                    return;
                }
                Some(_) => format!(
                    "the peer asked for another PFS group {} times (last {name})",
                    retries + 1
                ),
                None => format!(
                    "the peer wants PFS group {name} (INVALID_KE_PAYLOAD), which we do not offer (we offer {})",
                    describe_esp_proposals(&cfg.esp_proposals, true)
                ),
            };
            self.child_rekey_failed(idx, now, old, cause, None);
            return;
        }
        if let Some(e) = first_error(&p) {
            // TEMPORARY_FAILURE (the peer is busy, e.g. it is rekeying this Child SA itself) or
            // CHILD_SA_NOT_FOUND (it is gone, e.g. deleted in a collision): try again later if
            // the Child SA is still ours; a real failure is reported and retried with backoff.
            if matches!(
                e,
                NotifyType::TEMPORARY_FAILURE | NotifyType::CHILD_SA_NOT_FOUND
            ) {
                back_to_installed(self, Some(REKEY_RETRY));
            } else {
                let cause = match e {
                    NotifyType::NO_PROPOSAL_CHOSEN => format!(
                        "the peer answered NO_PROPOSAL_CHOSEN to {} (check the tunnel's phase 2 algorithms and PFS groups)",
                        describe_esp_proposals(&cfg.esp_proposals, true)
                    ),
                    NotifyType::TS_UNACCEPTABLE => {
                        "the peer answered TS_UNACCEPTABLE to the Child SA's traffic selectors".into()
                    }
                    other => format!("the peer answered {other}"),
                };
                self.child_rekey_failed(idx, now, old, cause, None);
            }
            return;
        }
        let sa_p = sa_payload(&p);
        let chosen = sa_p.and_then(parse_esp_choice);
        let nr = nonce(&p).cloned();
        let ts_i = ts_i(&p).cloned();
        let ts_r = ts_r(&p).cloned();
        let ke = key_exchange(&p).cloned();
        // Without an error notify the peer may have created its half of a new Child SA (the
        // one it sends to our proposed SPI): a response we cannot use deletes it, or every
        // retry leaves one behind. A Delete of an SPI the peer does not know is ignored.
        let peer_made = Some(new_inbound_spi);
        let (Some((suite, peer_spi)), Some(nr), Some(ts_i), Some(ts_r)) = (chosen, nr, ts_i, ts_r)
        else {
            let cause = if sa_p.is_none() && p.is_empty() {
                "the peer answered the CREATE_CHILD_SA request with an empty response (it ignores Child SA rekeys)".to_string()
            } else {
                "the CREATE_CHILD_SA response lacks an SA, Nonce, TSi or TSr payload".to_string()
            };
            self.child_rekey_failed(idx, now, old, cause, peer_made);
            return;
        };
        let pfs: Vec<DhGroup> = dh.iter().map(|d| d.group()).collect();
        let number = sa_p.map_or(0, chosen_number);
        if !esp_acceptable(&cfg.esp_proposals, number, &suite, true) {
            let cause = match (suite.dh, pfs.first()) {
                (None, Some(g)) => format!(
                    "the peer chose {suite} without PFS, but we require PFS group {g} (allow a proposal without PFS, or enable PFS group {g} on the peer)"
                ),
                _ => format!(
                    "the peer chose {suite} as proposal #{number}, which we did not offer there (we offered {})",
                    describe_esp_proposals(&cfg.esp_proposals, true)
                ),
            };
            self.child_rekey_failed(idx, now, old, cause, peer_made);
            return;
        }
        let g_ir = match (suite.dh, dh, ke) {
            (None, _, _) => None,
            (Some(g), Some(d), Some(k)) if d.group() == g && k.dh_group == g.id() => {
                match d.shared_secret(&k.data) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        let cause =
                            format!("the peer's key exchange for PFS group {g} is invalid ({e})");
                        self.child_rekey_failed(idx, now, old, cause, peer_made);
                        return;
                    }
                }
            }
            (Some(g), _, None) => {
                let cause = format!(
                    "the peer answered without a key exchange (KE payload) for PFS group {g}: it does not do PFS on rekeys (allow a proposal without PFS, or enable PFS on the peer)"
                );
                self.child_rekey_failed(idx, now, old, cause, peer_made);
                return;
            }
            (Some(g), _, Some(k)) => {
                let cause = format!(
                    "the peer's key exchange is for group {}, not the PFS group {g} it chose",
                    k.dh_group
                );
                self.child_rekey_failed(idx, now, old, cause, peer_made);
                return;
            }
        };
        let min_ours = min_nonce(&ni, &nr).to_vec();
        let c = NewChild {
            suite,
            inbound_spi: new_inbound_spi,
            outbound_spi: u32::from_be_bytes(peer_spi),
            ts_i: ts_i as Vec<TrafficSelector>,
            ts_r,
            ni,
            nr,
            g_ir,
            exchange_initiator: true,
            outbound_active: true,
            rekey_of: old_present.then_some(old),
        };
        // Collision (RFC 7296 2.8.1): the peer rekeyed the same Child SA meanwhile.
        let passive = self.sas[idx]
            .children
            .iter()
            .find(|c| c.inbound_spi == old)
            .and_then(|c| c.passive_rekey.clone())
            .or_else(|| {
                self.sas[idx]
                    .passive_child_rekeys
                    .iter()
                    .find(|(o, _)| *o == old)
                    .map(|(_, p)| p.clone())
            });
        self.sas[idx]
            .passive_child_rekeys
            .retain(|(o, _)| *o != old);
        match passive {
            Some(pr) if pr.min_nonce < min_ours => {
                // Our exchange has the lowest nonce: our new SA is redundant. Announce it so
                // the driver can accept what the peer may already send on it, then delete it.
                // The peer deletes the old one once it has its response; we switch to the
                // peer's new SA then (when that Delete arrives), not before.
                self.stats.rekey_collisions += 1;
                let _ = pr;
                let mut c = c;
                c.outbound_active = false;
                c.rekey_of = None;
                self.child_sa_established(idx, now, c);
                if let Some(o) = self.sas[idx]
                    .children
                    .iter_mut()
                    .find(|c| c.inbound_spi == old)
                {
                    o.state = ChildState::Rekeyed;
                }
                if let Some(n) = self.sas[idx]
                    .children
                    .iter_mut()
                    .find(|c| c.inbound_spi == new_inbound_spi)
                {
                    n.state = ChildState::Rekeyed;
                }
                self.start_informational(idx, now, InfoKind::DeleteChild(vec![new_inbound_spi]));
                return;
            }
            Some(pr) => {
                // We won: the peer deletes its redundant SA (the one its exchange made, which
                // we never send on); we delete the old one.
                self.stats.rekey_collisions += 1;
                if let Some(o) = self.sas[idx]
                    .children
                    .iter_mut()
                    .find(|c| c.inbound_spi == old)
                {
                    o.passive_rekey = None;
                }
                if let Some(r) = self.sas[idx]
                    .children
                    .iter_mut()
                    .find(|c| c.inbound_spi == pr.new_inbound_spi)
                {
                    r.state = ChildState::Rekeyed;
                }
            }
            None => {}
        }
        self.child_sa_established(idx, now, c);
        self.stats.child_rekeys += 1;
        if old_present {
            if let Some(o) = self.sas[idx]
                .children
                .iter_mut()
                .find(|c| c.inbound_spi == old)
            {
                o.state = ChildState::Rekeyed;
            }
            self.start_informational(idx, now, InfoKind::DeleteChild(vec![old]));
        }
    }

    /// A rekey of ours of the Child SA with inbound SPI `old` produced nothing usable:
    /// report the cause, put the Child SA back in service and retry later, waiting twice as
    /// long after each failure in a row (10 s, 20 s, ... up to 160 s), so a peer that keeps
    /// refusing sees a few requests, not a flood. `delete_new` names our inbound SPI of a
    /// Child SA the peer created with its answer: it is deleted so that nothing piles up on
    /// the peer. If the Child SA reaches its hard lifetime first, the IKE SA is deleted and set
    /// up anew (see `lifecycle_timers`).
    fn child_rekey_failed(
        &mut self,
        idx: usize,
        now: Instant,
        old: u32,
        cause: String,
        delete_new: Option<u32>,
    ) {
        let mut retry_in = REKEY_RETRY;
        if let Some(c) = self.sas[idx]
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == old)
        {
            c.own_rekey_ended();
            retry_in = REKEY_RETRY * (1u32 << c.rekey_failures.min(MAX_REKEY_BACKOFF_DOUBLINGS));
            c.rekey_failures = c.rekey_failures.saturating_add(1);
            c.rekey_at = now + retry_in;
        }
        self.stats.child_rekey_failures += 1;
        self.events.push_back(Event::ChildSaRekeyFailed {
            inbound_spi: old,
            error: IkeError::ChildRekeyFailed {
                cause,
                retry_in_secs: retry_in.as_secs(),
            },
        });
        if let Some(spi) = delete_new {
            if self.sas[idx].outstanding.is_none() {
                self.start_informational(idx, now, InfoKind::DeleteChild(vec![spi]));
            }
        }
    }

    /// Switches outbound traffic to the Child SA with inbound SPI `spi`.
    pub(crate) fn activate_outbound(&mut self, idx: usize, spi: u32) {
        if let Some(c) = self.sas[idx]
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == spi && c.outbound_pending)
        {
            c.outbound_pending = false;
            self.events.push_back(Event::ChildSaOutboundActivated {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn process_ike_rekey_response(
        &mut self,
        idx: usize,
        now: Instant,
        new_spi: [u8; 8],
        ni: Vec<u8>,
        dh: DhPrivate,
        retries: u8,
        p: Vec<Payload>,
    ) {
        let cfg = self.config.clone();
        // Our rekey did not happen: if the peer rekeyed this IKE SA meanwhile, its new IKE SA
        // is the successor; otherwise try again later.
        let later = |this: &mut Connection| {
            let sa = &mut this.sas[idx];
            match sa.passive_rekey.as_ref() {
                Some((theirs, _)) => sa.successor = Some(*theirs),
                None => sa.rekey_at = Some(now + REKEY_RETRY),
            }
        };
        if let Some(n) = find_notify(&p, NotifyType::INVALID_KE_PAYLOAD) {
            let wanted = <[u8; 2]>::try_from(n.data.as_slice())
                .map(u16::from_be_bytes)
                .unwrap_or(0);
            match DhGroup::from_id(wanted)
                .filter(|g| cfg.ike_proposals.iter().any(|x| x.dh.contains(g)))
            {
                Some(g) if retries < 3 => self.start_ike_rekey(idx, now, Some(g), retries + 1),
                _ => later(self),
            }
            return;
        }
        if first_error(&p).is_some() {
            later(self);
            return;
        }
        let sa_p = sa_payload(&p);
        let nr = nonce(&p).cloned();
        let ke = key_exchange(&p).cloned();
        let (Some(sa_p), Some(nr), Some(ke)) = (sa_p, nr, ke) else {
            later(self);
            return;
        };
        let suite = parse_ike_choice(sa_p);
        let peer_spi = sa_p
            .proposals
            .first()
            .and_then(|x| <[u8; 8]>::try_from(x.spi.as_slice()).ok());
        let (Some(suite), Some(peer_spi)) = (suite, peer_spi) else {
            later(self);
            return;
        };
        if !ike_acceptable(&cfg.ike_proposals, chosen_number(sa_p), &suite)
            || suite.dh != dh.group()
            || ke.dh_group != suite.dh.id()
        {
            later(self);
            return;
        }
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            later(self);
            return;
        };
        let min_ours = min_nonce(&ni, &nr).to_vec();
        let spis = match self
            .new_ike_sa_from_rekey(idx, now, suite, new_spi, peer_spi, true, ni, nr, &g_ir)
        {
            Ok(s) => s,
            Err(_) => {
                later(self);
                return;
            }
        };
        self.stats.ike_rekeys += 1;
        match self.sas[idx].passive_rekey.clone() {
            Some((theirs, min_theirs)) if min_theirs < min_ours => {
                // We lost the collision: our new IKE SA is redundant; delete it. The peer
                // deletes the old one, whose Child SAs then move to the peer's new SA.
                self.stats.rekey_collisions += 1;
                self.sas[idx].successor = Some(theirs);
                if let Some(ni) = self.sas.iter().position(|s| (s.spi_i, s.spi_r) == spis) {
                    self.start_informational(ni, now, InfoKind::DeleteIke);
                }
            }
            other => {
                if other.is_some() {
                    self.stats.rekey_collisions += 1;
                }
                self.sas[idx].successor = Some(spis);
                self.move_children_to_successor(idx);
                self.start_informational(idx, now, InfoKind::DeleteIke);
            }
        }
    }
}
