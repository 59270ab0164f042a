//! INFORMATIONAL (RFC 7296 1.4, 1.5): liveness checks (empty requests) and Delete payloads
//! for Child SAs and the IKE SA, from either side.

use super::Task;
use crate::sa::{ChildState, SaState};
use crate::{Connection, Event};
use cgw_wire::{Delete, ExchangeType, Payload, ProtocolId};
use std::time::Instant;

/// What an INFORMATIONAL request of ours is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InfoKind {
    /// Empty request: is the peer alive?
    Liveness,
    /// Delete the IKE SA (and with it its Child SAs).
    DeleteIke,
    /// Delete Child SAs by our inbound SPIs.
    #[allow(dead_code)]
    DeleteChild(Vec<u32>),
}

/// Initiator state while an INFORMATIONAL request is in flight.
pub(crate) struct InitiatorTask {
    pub(crate) kind: InfoKind,
}

impl Connection {
    pub(crate) fn start_informational(&mut self, idx: usize, now: Instant, kind: InfoKind) {
        let payloads = match &kind {
            InfoKind::Liveness => vec![],
            InfoKind::DeleteIke => {
                self.sas[idx].state = SaState::Deleting;
                vec![Payload::Delete(Delete {
                    protocol: ProtocolId::IKE,
                    spis: vec![],
                })]
            }
            InfoKind::DeleteChild(spis) => vec![Payload::Delete(Delete {
                protocol: ProtocolId::ESP,
                spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
            })],
        };
        self.send_request(
            idx,
            now,
            ExchangeType::INFORMATIONAL,
            &payloads,
            Task::Informational(InitiatorTask { kind }),
        );
    }

    pub(crate) fn process_informational_response(
        &mut self,
        idx: usize,
        _now: Instant,
        task: InitiatorTask,
        _p: Vec<Payload>,
    ) {
        match task.kind {
            InfoKind::Liveness => {}
            InfoKind::DeleteIke => self.ike_sa_gone(idx, false),
            InfoKind::DeleteChild(spis) => self.children_gone(idx, &spis),
        }
    }

    /// IKE SA `idx` is deleted: its Child SAs move to its successor if it was rekeyed, and
    /// go with it otherwise.
    fn ike_sa_gone(&mut self, idx: usize, by_peer: bool) {
        let rekeyed = self.move_children_to_successor(idx);
        if !rekeyed {
            self.remove_children(idx);
        }
        let sa = &mut self.sas[idx];
        sa.state = SaState::Dead;
        if !rekeyed && !sa.failure_reported {
            self.events.push_back(Event::IkeSaDeleted {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                by_peer,
            });
        }
    }

    /// Forgets the Child SAs with these inbound SPIs.
    fn children_gone(&mut self, idx: usize, spis: &[u32]) {
        let sa = &mut self.sas[idx];
        let (gone, keep): (Vec<_>, Vec<_>) = sa
            .children
            .drain(..)
            .partition(|c| spis.contains(&c.inbound_spi));
        sa.children = keep;
        for c in gone {
            self.events.push_back(Event::ChildSaDeleted {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
                rekeyed: c.state == ChildState::Rekeyed || c.passive_rekey.is_some(),
            });
            // A rekey we answered is complete once the initiator deletes the old Child SA:
            // from now on we send on the new one.
            if let Some(pr) = c.passive_rekey {
                self.activate_outbound(idx, pr.new_inbound_spi);
            }
            // The initiator deleted the new Child SA of a rekey we answered (it could not use
            // our answer): that rekey is abandoned, the old Child SA is in service again and
            // may be rekeyed anew.
            for o in self.sas[idx].children.iter_mut() {
                if o.passive_rekey
                    .as_ref()
                    .is_some_and(|pr| pr.new_inbound_spi == c.inbound_spi)
                {
                    o.passive_rekey = None;
                    if o.state == ChildState::Rekeyed {
                        o.state = ChildState::Installed;
                    }
                }
            }
        }
    }

    pub(crate) fn handle_informational_request(
        &mut self,
        idx: usize,
        _now: Instant,
        message_id: u32,
        p: Vec<Payload>,
    ) {
        let mut delete_ike = false;
        let mut gone = Vec::new();
        let mut answer = Vec::new();
        for x in &p {
            if let Payload::Delete(d) = x {
                match d.protocol {
                    ProtocolId::IKE => delete_ike = true,
                    ProtocolId::ESP => {
                        for spi in &d.spis {
                            let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()) else {
                                continue;
                            };
                            // The peer names its inbound SPIs, our outbound ones.
                            let out = u32::from_be_bytes(spi);
                            if let Some(c) = self.sas[idx]
                                .children
                                .iter()
                                .find(|c| c.outbound_spi == out)
                            {
                                gone.push(c.inbound_spi);
                                // RFC 7296 1.4.1: SAs we are deleting ourselves are not
                                // named in the answer.
                                if c.state != ChildState::Deleting {
                                    answer.push(c.inbound_spi);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if delete_ike {
            self.send_response(idx, ExchangeType::INFORMATIONAL, message_id, &[]);
            self.ike_sa_gone(idx, true);
            return;
        }
        let mut resp = Vec::new();
        if !answer.is_empty() {
            resp.push(Payload::Delete(Delete {
                protocol: ProtocolId::ESP,
                spis: answer.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
            }));
        }
        // Announce first (make-before-break), then answer.
        self.children_gone(idx, &gone);
        self.send_response(idx, ExchangeType::INFORMATIONAL, message_id, &resp);
    }
}
