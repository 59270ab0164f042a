//! One tunnel's ESP SAs as the data path holds them (its part of the RFC 4301 Security
//! Association Database): the inbound SAs, replaced ones with the time they stop accepting,
//! the outbound SA in use and outbound SAs installed ahead of use (make-before-break).
//!
//! The daemon's data path thread and the in-memory gateway tests use this same table, driven
//! by the same [`DatapathCommand`]s the [`Gateway`](crate::gateway::Gateway) emits.

use cgw_esp::{InboundSa, OutboundSa, SaStatus};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the gateway asks of the data path.
#[derive(Debug)]
pub enum DatapathCommand {
    /// Installs a Child SA's pair of ESP SAs; the outbound one replaces the current.
    InstallChild {
        /// Tunnel index.
        tunnel: usize,
        /// Receiving SA.
        inbound: Box<InboundSa>,
        /// Sending SA.
        outbound: Box<OutboundSa>,
        /// Where ESP goes (port 4500 with UDP encapsulation, 0 for raw ESP).
        remote: SocketAddr,
        /// UDP-encapsulate (NAT-T) or raw ESP.
        udp_encap: bool,
        /// Send on the new outbound SA at once; otherwise keep it until `ActivateOutbound`.
        activate: bool,
    },
    /// Switches outbound traffic to a Child SA installed earlier (make-before-break).
    ActivateOutbound {
        /// Tunnel index.
        tunnel: usize,
        /// The Child SA's inbound SPI.
        inbound_spi: u32,
    },
    /// Removes the ESP SAs of a Child SA; its inbound SA keeps accepting for `grace`.
    RemoveChild {
        /// Tunnel index.
        tunnel: usize,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// Our outbound SPI.
        outbound_spi: u32,
        /// How long the inbound SA still accepts packets (rekeyed SAs).
        grace: Duration,
    },
    /// Sends an ICMP echo request to AWS's inside address through the tunnel (the monitor).
    Echo {
        /// Tunnel index.
        tunnel: usize,
        /// Sequence number.
        seq: u16,
    },
}

impl DatapathCommand {
    /// The tunnel the command is for.
    pub fn tunnel(&self) -> usize {
        match self {
            Self::InstallChild { tunnel, .. }
            | Self::ActivateOutbound { tunnel, .. }
            | Self::RemoveChild { tunnel, .. }
            | Self::Echo { tunnel, .. } => *tunnel,
        }
    }
}

/// An outbound SA and where its packets go.
#[derive(Debug)]
pub struct Outbound {
    /// The inbound SPI of its Child SA (the Child SA's name in the gateway's commands).
    pub child: u32,
    /// The SA.
    pub sa: Box<OutboundSa>,
    /// The peer (port 4500 with UDP encapsulation).
    pub remote: SocketAddr,
    /// UDP-encapsulated (NAT-T).
    pub udp_encap: bool,
}

/// One tunnel's ESP SAs.
#[derive(Debug, Default)]
pub struct SaTable {
    outbound: Option<Outbound>,
    pending: Vec<Outbound>,
    inbound: Vec<(Box<InboundSa>, Option<Instant>)>,
    /// The Child SA (by inbound SPI) a rekey was asked for already.
    rekey_requested: Option<u32>,
}

impl SaTable {
    /// Applies a command of this tunnel at `now` (an `Echo` changes nothing here).
    pub fn apply(&mut self, now: Instant, cmd: DatapathCommand) {
        match cmd {
            DatapathCommand::InstallChild {
                inbound,
                outbound,
                remote,
                udp_encap,
                activate,
                ..
            } => {
                // Make-before-break: the new inbound SA joins the old ones.
                let child = inbound.spi();
                self.inbound.push((inbound, None));
                let o = Outbound {
                    child,
                    sa: outbound,
                    remote,
                    udp_encap,
                };
                if activate {
                    self.outbound = Some(o);
                } else {
                    self.pending.push(o);
                }
            }
            DatapathCommand::ActivateOutbound { inbound_spi, .. } => {
                if let Some(pos) = self.pending.iter().position(|p| p.child == inbound_spi) {
                    self.outbound = Some(self.pending.remove(pos));
                }
            }
            DatapathCommand::RemoveChild {
                inbound_spi,
                outbound_spi,
                grace,
                ..
            } => {
                let until = now + grace;
                for (sa, u) in self.inbound.iter_mut() {
                    if sa.spi() == inbound_spi {
                        *u = Some(until);
                    }
                }
                if grace.is_zero() {
                    self.inbound.retain(|(sa, _)| sa.spi() != inbound_spi);
                }
                self.pending.retain(|p| p.child != inbound_spi);
                if self
                    .outbound
                    .as_ref()
                    .is_some_and(|o| o.sa.spi() == outbound_spi)
                {
                    self.outbound = None;
                }
            }
            DatapathCommand::Echo { .. } => {}
        }
    }

    /// Drops replaced inbound SAs whose grace has ended.
    pub fn expire(&mut self, now: Instant) {
        self.inbound
            .retain(|(_, until)| until.is_none_or(|u| now < u));
    }

    /// The outbound SA in use.
    pub fn outbound(&self) -> Option<&Outbound> {
        self.outbound.as_ref()
    }

    /// The outbound SA in use, to seal with.
    pub fn outbound_mut(&mut self) -> Option<&mut Outbound> {
        self.outbound.as_mut()
    }

    /// The inbound SA with this SPI (current or in its grace).
    pub fn inbound_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.inbound
            .iter_mut()
            .find(|(sa, _)| sa.spi() == spi)
            .map(|(sa, _)| &mut **sa)
    }

    /// Whether an inbound SA has this SPI.
    pub fn has_inbound(&self, spi: u32) -> bool {
        self.inbound.iter().any(|(sa, _)| sa.spi() == spi)
    }

    /// Inbound SAs held (current and in grace).
    pub fn inbound_count(&self) -> usize {
        self.inbound.len()
    }

    /// Outbound SAs installed but not in use.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// After a packet on inbound SA `spi` or on the outbound SA: the Child SA to rekey when
    /// the Child SA in use reached a soft limit (packets, bytes or sequence numbers) in either
    /// direction, once per Child SA. Packets on a replaced SA (in its grace) ask for nothing.
    pub fn rekey_due(&mut self, inbound_spi: Option<u32>) -> Option<u32> {
        let o = self.outbound.as_ref()?;
        let current = o.child;
        if self.rekey_requested == Some(current) {
            return None;
        }
        let due = match inbound_spi {
            Some(spi) => {
                spi == current
                    && self
                        .inbound
                        .iter()
                        .any(|(sa, _)| sa.spi() == spi && sa.status() != SaStatus::Active)
            }
            None => o.sa.status() != SaStatus::Active,
        };
        if !due {
            return None;
        }
        self.rekey_requested = Some(current);
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgw_esp::EspAlgorithm;

    fn pair(spi_in: u32, spi_out: u32) -> (Box<InboundSa>, Box<OutboundSa>) {
        let key = [7u8; 36];
        let alg = EspAlgorithm::from_iana(20, Some(256), None).unwrap();
        (
            Box::new(InboundSa::new(spi_in, alg, &key).unwrap()),
            Box::new(OutboundSa::new(spi_out, alg, &key, &[1; 16]).unwrap()),
        )
    }

    fn install(t: &mut SaTable, now: Instant, i: u32, o: u32, activate: bool) {
        let (inbound, outbound) = pair(i, o);
        t.apply(
            now,
            DatapathCommand::InstallChild {
                tunnel: 0,
                inbound,
                outbound,
                remote: "192.0.2.1:4500".parse().unwrap(),
                udp_encap: true,
                activate,
            },
        );
    }

    #[test]
    fn make_before_break_then_grace() {
        let t0 = Instant::now();
        let mut t = SaTable::default();
        install(&mut t, t0, 0x1001, 0x2001, true);
        // A rekey as responder: the new outbound waits for activation.
        install(&mut t, t0, 0x1002, 0x2002, false);
        assert_eq!(t.outbound().unwrap().child, 0x1001);
        assert_eq!((t.inbound_count(), t.pending_count()), (2, 1));
        t.apply(
            t0,
            DatapathCommand::ActivateOutbound {
                tunnel: 0,
                inbound_spi: 0x1002,
            },
        );
        assert_eq!(t.outbound().unwrap().child, 0x1002);
        t.apply(
            t0,
            DatapathCommand::RemoveChild {
                tunnel: 0,
                inbound_spi: 0x1001,
                outbound_spi: 0x2001,
                grace: Duration::from_secs(5),
            },
        );
        // The old outbound was replaced: it stays replaced; the old inbound accepts for 5 s.
        assert_eq!(t.outbound().unwrap().child, 0x1002);
        t.expire(t0 + Duration::from_millis(4999));
        assert!(t.has_inbound(0x1001));
        t.expire(t0 + Duration::from_secs(5));
        assert!(!t.has_inbound(0x1001));
        // A Delete without grace removes at once, the outbound too.
        t.apply(
            t0,
            DatapathCommand::RemoveChild {
                tunnel: 0,
                inbound_spi: 0x1002,
                outbound_spi: 0x2002,
                grace: Duration::ZERO,
            },
        );
        assert!(t.outbound().is_none());
        assert_eq!(t.inbound_count(), 0);
    }

    #[test]
    fn a_soft_limit_asks_for_one_rekey_of_the_child_sa_in_use() {
        let t0 = Instant::now();
        let limits = cgw_esp::LifetimeLimits {
            soft_packets: Some(1),
            ..Default::default()
        };
        let mut t = SaTable::default();
        let add = |t: &mut SaTable, i: u32, o: u32| {
            let (inbound, outbound) = pair(i, o);
            t.apply(
                t0,
                DatapathCommand::InstallChild {
                    tunnel: 0,
                    inbound: Box::new(inbound.with_limits(limits)),
                    outbound: Box::new(outbound.with_limits(limits)),
                    remote: "192.0.2.1:4500".parse().unwrap(),
                    udp_encap: true,
                    activate: true,
                },
            );
        };
        // What the peer sends to SPI `spi` (the same keys in both directions here).
        let from_peer = |spi: u32, seq: u32| {
            let alg = EspAlgorithm::from_iana(20, Some(256), None).unwrap();
            let mut o = OutboundSa::new(spi, alg, &[7u8; 36], &[1; 16]).unwrap();
            let mut buf = vec![0u8; 64 + 40 + o.max_tailroom()];
            buf[64] = 0x45;
            buf[66..68].copy_from_slice(&40u16.to_be_bytes());
            for _ in 1..seq {
                o.encapsulate(&mut buf.clone(), 64, 40, 4).unwrap();
            }
            let r = o.encapsulate(&mut buf, 64, 40, 4).unwrap();
            buf[r].to_vec()
        };
        add(&mut t, 0x1001, 0x2001);
        assert_eq!(t.rekey_due(None), None, "nothing sent yet");
        let mut p = from_peer(0x1001, 1);
        t.inbound_mut(0x1001).unwrap().decapsulate(&mut p).unwrap();
        assert_eq!(t.rekey_due(Some(0x1001)), Some(0x1001));
        assert_eq!(t.rekey_due(Some(0x1001)), None, "asked once");
        assert_eq!(t.rekey_due(None), None, "asked once for both directions");
        // The rekey installs 0x1002; a late packet on the replaced 0x1001 asks for nothing,
        // and the new Child SA's own limit still asks.
        add(&mut t, 0x1002, 0x2002);
        let mut p = from_peer(0x1001, 2);
        t.inbound_mut(0x1001).unwrap().decapsulate(&mut p).unwrap();
        assert_eq!(t.rekey_due(Some(0x1001)), None, "a replaced SA");
        let mut p = from_peer(0x1002, 1);
        t.inbound_mut(0x1002).unwrap().decapsulate(&mut p).unwrap();
        assert_eq!(t.rekey_due(Some(0x1002)), Some(0x1002));
    }
}
