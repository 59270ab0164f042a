//! INFORMATIONAL (RFC 7296 1.4, 1.5): liveness checks (empty requests) and Delete payloads
//! for Child SAs and the IKE SA, from either side.

use super::Task;
use crate::sa::SaState;
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
            InfoKind::DeleteIke => {
                self.remove_children(idx);
                let sa = &mut self.sas[idx];
                sa.state = SaState::Dead;
                self.events.push_back(Event::IkeSaDeleted {
                    spi_i: sa.spi_i,
                    spi_r: sa.spi_r,
                    by_peer: false,
                });
            }
            InfoKind::DeleteChild(spis) => {
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
                    });
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
        let mut our_inbound = Vec::new();
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
                                our_inbound.push(c.inbound_spi);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if delete_ike {
            self.send_response(idx, ExchangeType::INFORMATIONAL, message_id, &[]);
            self.remove_children(idx);
            let sa = &mut self.sas[idx];
            sa.state = SaState::Dead;
            self.events.push_back(Event::IkeSaDeleted {
                spi_i: sa.spi_i,
                spi_r: sa.spi_r,
                by_peer: true,
            });
            return;
        }
        let mut resp = Vec::new();
        if !our_inbound.is_empty() {
            resp.push(Payload::Delete(Delete {
                protocol: ProtocolId::ESP,
                spis: our_inbound
                    .iter()
                    .map(|s| s.to_be_bytes().to_vec())
                    .collect(),
            }));
        }
        self.send_response(idx, ExchangeType::INFORMATIONAL, message_id, &resp);
        let sa = &mut self.sas[idx];
        let (gone, keep): (Vec<_>, Vec<_>) = sa
            .children
            .drain(..)
            .partition(|c| our_inbound.contains(&c.inbound_spi));
        sa.children = keep;
        for c in gone {
            self.events.push_back(Event::ChildSaDeleted {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
            });
        }
    }
}
