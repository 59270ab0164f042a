//! IKE_AUTH (RFC 7296 1.2, 2.15): pre-shared key authentication and the first Child SA,
//! with traffic selector narrowing (2.9). A Child SA failure leaves the IKE SA up (1.2).

use super::informational::InfoKind;
use super::{find_notify, first_error, Task};
use crate::event::{ChildSaInfo, ChildSaKeys, IkeSaInfo};
use crate::proposal::{
    chosen_number, describe_esp_proposals, describe_offer, esp_acceptable, esp_choice, esp_offer,
    parse_esp_choice, select_esp,
};
use crate::sa::{ChildSa, ChildState, SaState};
use crate::{Connection, EspSuite, Event, IkeError};
use cgw_crypto::{auth, keys, Secret};
use cgw_wire::{
    Auth, AuthMethod, ExchangeType, Identification, Notify, NotifyType, Payload, TrafficSelector,
};
use std::time::Instant;

/// Initiator state while IKE_AUTH is in flight.
pub(crate) struct InitiatorTask {
    child_spi: u32,
}

/// The parts of an IKE_AUTH message we use.
#[derive(Default)]
struct AuthPayloads<'a> {
    id_i: Option<&'a Identification>,
    id_r: Option<&'a Identification>,
    auth: Option<&'a Auth>,
    sa: Option<&'a cgw_wire::SaPayload>,
    ts_i: Option<&'a [TrafficSelector]>,
    ts_r: Option<&'a [TrafficSelector]>,
}

fn collect(p: &[Payload]) -> AuthPayloads<'_> {
    let mut a = AuthPayloads::default();
    for x in p {
        match x {
            Payload::IdI(i) => a.id_i = a.id_i.or(Some(i)),
            Payload::IdR(i) => a.id_r = a.id_r.or(Some(i)),
            Payload::Auth(x) => a.auth = a.auth.or(Some(x)),
            Payload::Sa(s) => a.sa = a.sa.or(Some(s)),
            Payload::TsI(t) => a.ts_i = a.ts_i.or(Some(t.as_slice())),
            Payload::TsR(t) => a.ts_r = a.ts_r.or(Some(t.as_slice())),
            _ => {}
        }
    }
    a
}

/// RFC 7296 2.9 narrowing: every non-empty intersection of the proposed selectors with ours.
fn narrow(proposed: &[TrafficSelector], policy: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for p in proposed {
        for o in policy {
            if let Some(i) = p.intersect(o) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
}

fn ts_list(ts: &[TrafficSelector]) -> String {
    ts.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Connection {
    pub(crate) fn start_ike_auth(&mut self, idx: usize, now: Instant) {
        let child_spi = self.new_esp_spi();
        let cfg = self.config.clone();
        let sa = &mut self.sas[idx];
        sa.state = SaState::AuthSent;
        let keys = sa.keys.as_ref().expect("keys after IKE_SA_INIT");
        let prf = sa.suite.expect("suite after IKE_SA_INIT").prf;
        let maced = auth::maced_id(prf, &keys.sk_pi, &cfg.local_id.body());
        let auth_data = auth::psk_auth(prf, &cfg.psk, &sa.init_request, &sa.nr, &maced);
        let mut payloads = vec![Payload::IdI(cfg.local_id.clone())];
        if let Some(r) = &cfg.remote_id {
            payloads.push(Payload::IdR(r.clone()));
        }
        payloads.push(Payload::Auth(Auth {
            method: AuthMethod::SHARED_KEY_MIC,
            data: auth_data.to_vec(),
        }));
        payloads.push(Payload::Notify(Notify::new(
            NotifyType::INITIAL_CONTACT,
            vec![],
        )));
        payloads.push(Payload::Sa(esp_offer(
            &cfg.esp_proposals,
            child_spi.to_be_bytes(),
            false,
        )));
        payloads.push(Payload::TsI(cfg.local_ts.clone()));
        payloads.push(Payload::TsR(cfg.remote_ts.clone()));
        self.send_request(
            idx,
            now,
            ExchangeType::IKE_AUTH,
            &payloads,
            Task::IkeAuth(InitiatorTask { child_spi }),
        );
    }

    /// We refuse the responder's identity or AUTH: the peer considers the IKE SA (and its
    /// Child SA) established, so tell it (RFC 7296 2.21.2: a separate INFORMATIONAL with
    /// AUTHENTICATION_FAILED) and delete the IKE SA in the same message, so that every retry
    /// of ours does not leave an IKE SA and a Child SA behind on the peer. Not retransmitted:
    /// the SA is gone on our side at once.
    fn refuse_responder(&mut self, idx: usize) {
        let payloads = [
            Payload::Notify(Notify::new(NotifyType::AUTHENTICATION_FAILED, vec![])),
            Payload::Delete(cgw_wire::Delete {
                protocol: cgw_wire::ProtocolId::IKE,
                spis: vec![],
            }),
        ];
        self.send_unreliable_request(idx, ExchangeType::INFORMATIONAL, &payloads);
    }

    pub(crate) fn process_ike_auth_response(
        &mut self,
        idx: usize,
        now: Instant,
        task: InitiatorTask,
        p: Vec<Payload>,
    ) {
        let cfg = self.config.clone();
        if find_notify(&p, NotifyType::AUTHENTICATION_FAILED).is_some() {
            let detail = "the peer rejected our AUTH payload".to_string();
            self.fail_sa(idx, IkeError::AuthenticationFailed { detail }, false);
            return;
        }
        let a = collect(&p);
        let (Some(id_r), Some(auth_p)) = (a.id_r, a.auth) else {
            let e = match first_error(&p) {
                Some(n) => IkeError::PeerError(n),
                None => IkeError::Protocol("IKE_AUTH response without IDr or AUTH".into()),
            };
            self.fail_sa(idx, e, false);
            return;
        };
        if let Some(expected) = &cfg.remote_id {
            if expected != id_r {
                let e = IkeError::IdentityMismatch {
                    expected: expected.to_string(),
                    got: id_r.to_string(),
                };
                self.refuse_responder(idx);
                self.fail_sa(idx, e, false);
                return;
            }
        }
        let sa = &self.sas[idx];
        let keys = sa.keys.as_ref().expect("keys");
        let suite = sa.suite.expect("suite");
        let maced = auth::maced_id(suite.prf, &keys.sk_pr, &id_r.body());
        let verified = auth_p.method == AuthMethod::SHARED_KEY_MIC
            && auth::verify_psk_auth(
                suite.prf,
                &cfg.psk,
                &sa.init_response,
                &sa.ni,
                &maced,
                &auth_p.data,
            )
            .is_ok();
        if !verified {
            let detail =
                format!("the AUTH payload of responder {id_r} did not verify with our key");
            self.refuse_responder(idx);
            self.fail_sa(idx, IkeError::AuthenticationFailed { detail }, false);
            return;
        }
        self.ike_sa_established(idx, now, id_r.to_string());

        // The Child SA.
        if find_notify(&p, NotifyType::NO_PROPOSAL_CHOSEN).is_some() {
            let we_offered = describe_esp_proposals(&cfg.esp_proposals, false);
            self.events.push_back(Event::ChildSaFailed {
                error: IkeError::NoProposalChosenByPeer { we_offered },
            });
            return;
        }
        if find_notify(&p, NotifyType::TS_UNACCEPTABLE).is_some() {
            let detail = format!(
                "the peer refused TSi {} / TSr {}",
                ts_list(&cfg.local_ts),
                ts_list(&cfg.remote_ts)
            );
            self.events.push_back(Event::ChildSaFailed {
                error: IkeError::TsUnacceptable { detail },
            });
            return;
        }
        if let Some(e) = first_error(&p) {
            self.events.push_back(Event::ChildSaFailed {
                error: IkeError::PeerError(e),
            });
            return;
        }
        let chosen = a.sa.and_then(parse_esp_choice);
        let number = a.sa.map_or(0, chosen_number);
        let (Some((esp, peer_spi)), Some(ts_i), Some(ts_r)) = (chosen, a.ts_i, a.ts_r) else {
            self.events.push_back(Event::ChildSaFailed {
                error: IkeError::Protocol(
                    "IKE_AUTH response without a usable SA, TSi and TSr".into(),
                ),
            });
            return;
        };
        // The peer installed its half of a Child SA we refuse: delete it there (its SPI for
        // us to send to is `peer_spi`; a Delete names the SPI we receive on).
        if !esp_acceptable(&cfg.esp_proposals, number, &esp, false) {
            self.events.push_back(Event::ChildSaFailed {
                error: IkeError::Protocol(format!(
                    "the peer chose {esp} as proposal #{number}, which we did not offer there (we offered {})",
                    describe_esp_proposals(&cfg.esp_proposals, false)
                )),
            });
            self.start_informational(idx, now, InfoKind::DeleteChild(vec![task.child_spi]));
            return;
        }
        let subset = |got: &[TrafficSelector], ours: &[TrafficSelector]| {
            got.iter().all(|g| ours.iter().any(|o| o.contains(g)))
        };
        if !subset(ts_i, &cfg.local_ts) || !subset(ts_r, &cfg.remote_ts) {
            let detail = format!(
                "the peer narrowed to TSi {} / TSr {}, outside what we proposed",
                ts_list(ts_i),
                ts_list(ts_r)
            );
            self.events.push_back(Event::ChildSaFailed {
                error: IkeError::TsUnacceptable { detail },
            });
            self.start_informational(idx, now, InfoKind::DeleteChild(vec![task.child_spi]));
            return;
        }
        let sa = &self.sas[idx];
        let c = NewChild {
            suite: esp,
            inbound_spi: task.child_spi,
            outbound_spi: u32::from_be_bytes(peer_spi),
            ts_i: ts_i.to_vec(),
            ts_r: ts_r.to_vec(),
            ni: sa.ni.clone(),
            nr: sa.nr.clone(),
            g_ir: None,
            exchange_initiator: true,
            outbound_active: true,
            rekey_of: None,
        };
        self.child_sa_established(idx, now, c);
    }

    pub(crate) fn handle_ike_auth_request(
        &mut self,
        idx: usize,
        now: Instant,
        message_id: u32,
        p: Vec<Payload>,
    ) {
        let cfg = self.config.clone();
        if self.sas[idx].state != SaState::InitAnswered {
            let n = Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX, vec![]));
            self.send_response(idx, ExchangeType::IKE_AUTH, message_id, &[n]);
            return;
        }
        let a = collect(&p);
        let (Some(id_i), Some(auth_p)) = (a.id_i, a.auth) else {
            let n = Payload::Notify(Notify::new(NotifyType::INVALID_SYNTAX, vec![]));
            self.send_response(idx, ExchangeType::IKE_AUTH, message_id, &[n]);
            self.sas[idx].state = SaState::Dead;
            let spi_i = self.sas[idx].spi_i;
            self.events.push_back(Event::IkeSaFailed {
                spi_i,
                error: IkeError::Protocol("IKE_AUTH request without IDi or AUTH".into()),
                stray: true,
            });
            return;
        };
        let sa = &self.sas[idx];
        let keys = sa.keys.as_ref().expect("keys");
        let suite = sa.suite.expect("suite");
        let maced = auth::maced_id(suite.prf, &keys.sk_pi, &id_i.body());
        let verified = auth_p.method == AuthMethod::SHARED_KEY_MIC
            && auth::verify_psk_auth(
                suite.prf,
                &cfg.psk,
                &sa.init_request,
                &sa.nr,
                &maced,
                &auth_p.data,
            )
            .is_ok();
        let id_error = match &cfg.remote_id {
            Some(expected) if expected != id_i => Some(IkeError::IdentityMismatch {
                expected: expected.to_string(),
                got: id_i.to_string(),
            }),
            _ => None,
        };
        if !verified || id_error.is_some() {
            let n = Payload::Notify(Notify::new(NotifyType::AUTHENTICATION_FAILED, vec![]));
            self.send_response(idx, ExchangeType::IKE_AUTH, message_id, &[n]);
            let spi_i = self.sas[idx].spi_i;
            self.sas[idx].state = SaState::Dead;
            let error = id_error.unwrap_or_else(|| IkeError::AuthenticationFailed {
                detail: format!("the AUTH payload of initiator {id_i} did not verify with our key"),
            });
            self.events.push_back(Event::IkeSaFailed {
                spi_i,
                error,
                stray: true,
            });
            return;
        }

        // Authenticated. Our AUTH, then the Child SA.
        let maced_r = auth::maced_id(suite.prf, &keys.sk_pr, &cfg.local_id.body());
        let auth_r = auth::psk_auth(suite.prf, &cfg.psk, &sa.init_response, &sa.ni, &maced_r);
        let mut resp = vec![
            Payload::IdR(cfg.local_id.clone()),
            Payload::Auth(Auth {
                method: AuthMethod::SHARED_KEY_MIC,
                data: auth_r.to_vec(),
            }),
        ];
        let mut child = None;
        if let (Some(sa_p), Some(ts_i), Some(ts_r)) = (a.sa, a.ts_i, a.ts_r) {
            match select_esp(&cfg.esp_proposals, sa_p, false) {
                None => {
                    resp.push(Payload::Notify(Notify::new(
                        NotifyType::NO_PROPOSAL_CHOSEN,
                        vec![],
                    )));
                    self.events.push_back(Event::ChildSaFailed {
                        error: IkeError::NoProposalChosenByUs {
                            we_accept: describe_esp_proposals(&cfg.esp_proposals, false),
                            peer_offered: describe_offer(sa_p),
                        },
                    });
                }
                Some((number, esp, peer_spi)) => {
                    // TSi are the initiator's (the peer's) selectors: narrow them to our
                    // remote policy, and TSr to our local policy.
                    let n_i = narrow(ts_i, &cfg.remote_ts);
                    let n_r = narrow(ts_r, &cfg.local_ts);
                    if n_i.is_empty() || n_r.is_empty() {
                        resp.push(Payload::Notify(Notify::new(
                            NotifyType::TS_UNACCEPTABLE,
                            vec![],
                        )));
                        let detail = format!(
                            "the peer proposed TSi {} / TSr {}; we allow {} / {}",
                            ts_list(ts_i),
                            ts_list(ts_r),
                            ts_list(&cfg.remote_ts),
                            ts_list(&cfg.local_ts)
                        );
                        self.events.push_back(Event::ChildSaFailed {
                            error: IkeError::TsUnacceptable { detail },
                        });
                    } else {
                        let spi = self.new_esp_spi();
                        resp.push(Payload::Sa(esp_choice(number, &esp, spi.to_be_bytes())));
                        resp.push(Payload::TsI(n_i.clone()));
                        resp.push(Payload::TsR(n_r.clone()));
                        child = Some((esp, spi, u32::from_be_bytes(peer_spi), n_i, n_r));
                    }
                }
            }
        }
        self.send_response(idx, ExchangeType::IKE_AUTH, message_id, &resp);
        let initial_contact = find_notify(&p, NotifyType::INITIAL_CONTACT).is_some();
        self.ike_sa_established(idx, now, id_i.to_string());
        if let Some((esp, spi, peer_spi, n_i, n_r)) = child {
            let sa = &self.sas[idx];
            let c = NewChild {
                suite: esp,
                inbound_spi: spi,
                outbound_spi: peer_spi,
                ts_i: n_i,
                ts_r: n_r,
                ni: sa.ni.clone(),
                nr: sa.nr.clone(),
                g_ir: None,
                exchange_initiator: false,
                outbound_active: true,
                rekey_of: None,
            };
            self.child_sa_established(idx, now, c);
        }
        if initial_contact {
            self.replace_old_sas(idx, now);
        }
    }

    /// RFC 7296 2.4: INITIAL_CONTACT says the peer has no other IKE SA with us (it
    /// restarted); ours are stale and go without a Delete.
    fn replace_old_sas(&mut self, keep: usize, _now: Instant) {
        for i in 0..self.sas.len() {
            if i != keep && matches!(self.sas[i].state, SaState::Established | SaState::Deleting) {
                self.remove_children(i);
                let sa = &mut self.sas[i];
                sa.state = SaState::Dead;
                self.events.push_back(Event::IkeSaDeleted {
                    spi_i: sa.spi_i,
                    spi_r: sa.spi_r,
                    by_peer: true,
                });
            }
        }
    }

    fn ike_sa_established(&mut self, idx: usize, now: Instant, peer_id: String) {
        let lt = self.config.lifetimes;
        let r = self.random_unit();
        let sa = &mut self.sas[idx];
        sa.rekey_at = Some(now + lt.soft(lt.ike, r));
        sa.state = SaState::Established;
        sa.half_open_deadline = None;
        // The AUTH payloads are done with the IKE_SA_INIT messages.
        sa.init_request = Vec::new();
        sa.init_response = Vec::new();
        let info = IkeSaInfo {
            spi_i: sa.spi_i,
            spi_r: sa.spi_r,
            initiator: sa.initiator,
            suite: sa.suite.expect("suite"),
            local: sa.local,
            remote: sa.remote,
            local_behind_nat: sa.local_behind_nat,
            remote_behind_nat: sa.remote_behind_nat,
            peer_id,
        };
        self.events.push_back(Event::IkeSaEstablished(info));
    }

    /// Derives a Child SA's keys (RFC 7296 2.17) and reports it: the first Child SA from
    /// IKE_AUTH (the IKE SA's nonces, no PFS) and those of CREATE_CHILD_SA (that exchange's
    /// nonces, and its Diffie-Hellman secret with PFS).
    pub(crate) fn child_sa_established(&mut self, idx: usize, now: Instant, c: NewChild) {
        let sa = &self.sas[idx];
        let keys = sa.keys.as_ref().expect("keys");
        let prf = sa.suite.expect("suite").prf;
        let ek = c.suite.encr.key_material_len();
        let ik = c.suite.integ.map_or(0, |i| i.key_len());
        let km = match keys::child_keymat(
            prf,
            &keys.sk_d,
            c.g_ir.as_deref().map(|v| &v[..]),
            &c.ni,
            &c.nr,
            2 * (ek + ik),
        ) {
            Ok(k) => k,
            Err(e) => {
                self.events.push_back(Event::ChildSaFailed {
                    error: IkeError::Protocol(e.to_string()),
                });
                return;
            }
        };
        let part = |a: usize, n: usize| Secret::new(km[a..a + n].to_vec());
        let i_to_r = ChildSaKeys {
            encr_key: part(0, ek),
            integ_key: part(ek, ik),
        };
        let r_to_i = ChildSaKeys {
            encr_key: part(ek + ik, ek),
            integ_key: part(2 * ek + ik, ik),
        };
        let (inbound, outbound, local_ts, remote_ts) = if c.exchange_initiator {
            (r_to_i, i_to_r, c.ts_i, c.ts_r)
        } else {
            (i_to_r, r_to_i, c.ts_r, c.ts_i)
        };
        let info = ChildSaInfo {
            inbound_spi: c.inbound_spi,
            outbound_spi: c.outbound_spi,
            suite: c.suite,
            inbound,
            outbound,
            local_ts: local_ts.clone(),
            remote_ts: remote_ts.clone(),
            udp_encap: sa.nat_detected(),
            local: sa.local,
            remote: sa.remote,
            replay_window: self.config.replay_window,
            ike_spis: (sa.spi_i, sa.spi_r),
            outbound_active: c.outbound_active,
            rekey_of: c.rekey_of,
        };
        let lt = self.config.lifetimes;
        let r = self.random_unit();
        self.sas[idx].children.push(ChildSa {
            inbound_spi: c.inbound_spi,
            outbound_spi: c.outbound_spi,
            suite: c.suite,
            local_ts,
            remote_ts,
            state: ChildState::Installed,
            rekey_at: now + lt.soft(lt.child, r),
            expire_at: now + lt.child,
            passive_rekey: None,
            outbound_pending: !c.outbound_active,
            rekey_failures: 0,
        });
        self.stats.child_sas_created += 1;
        self.events.push_back(Event::ChildSaEstablished(info));
    }
}

/// A negotiated Child SA waiting for its keys.
pub(crate) struct NewChild {
    pub(crate) suite: EspSuite,
    pub(crate) inbound_spi: u32,
    pub(crate) outbound_spi: u32,
    /// The traffic selectors of the exchange's initiator and responder.
    pub(crate) ts_i: Vec<TrafficSelector>,
    pub(crate) ts_r: Vec<TrafficSelector>,
    /// The exchange's nonces (for IKE_AUTH, the IKE SA's).
    pub(crate) ni: Vec<u8>,
    pub(crate) nr: Vec<u8>,
    /// The exchange's Diffie-Hellman secret with PFS.
    pub(crate) g_ir: Option<Secret>,
    /// We initiated the exchange that created it.
    pub(crate) exchange_initiator: bool,
    /// Send on it at once.
    pub(crate) outbound_active: bool,
    /// The Child SA it replaces.
    pub(crate) rekey_of: Option<u32>,
}
