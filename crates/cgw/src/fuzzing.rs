//! Entry points shared by the fuzz targets and the corpus replay test (doc-hidden).

use crate::config::{CgwConfig, Gateway as GatewayConfig, Routing, Tunnel};
use crate::gateway::{Gateway, Setup};
use crate::packet::{classify_natt, NatTDatagram};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 21);

fn gateway(now: Instant) -> Gateway {
    let mut cfg = CgwConfig {
        gateway: GatewayConfig::new(LOCAL, Routing::Static),
        monitor: Default::default(),
        tunnels: vec![Tunnel::new(
            0,
            PEER,
            "Fuzzing.Key_0123456789",
            "169.254.10.0/30".parse().expect("constant"),
        )],
    };
    cfg.gateway.remote_cidrs = vec!["10.201.0.0/16".parse().expect("constant")];
    let mut seed = 0u64;
    Gateway::new(
        &cfg,
        Setup {
            ifindexes: vec![7],
            connected: vec![],
        },
        now,
        &mut || {
            seed += 1;
            Box::new(cgw_crypto::DeterministicRandom::new(seed))
        },
    )
    .expect("a valid configuration")
}

/// UDP-4500 datagrams as the daemon takes them: classified (keepalive, IKE, ESP) the way
/// the data path does, IKE handed to a whole gateway (with its responder protection, the
/// engine and everything it asks for drained), ESP to the ESP fuzzer's fixed SAs. `data` is
/// split into datagrams at 0xFE 0xFE markers.
pub fn natt_datagram(data: &[u8]) {
    let now = Instant::now();
    let mut gw = gateway(now);
    gw.handle_timeout(now);
    while gw.poll_action().is_some() {}
    let local = SocketAddr::new(LOCAL.into(), 4500);
    let remote = SocketAddr::new(PEER.into(), 4500);
    for (n, d) in cgw_ike::fuzzing::split_marker(data).enumerate() {
        let t = now + Duration::from_millis(n as u64 * 250);
        match classify_natt(d) {
            NatTDatagram::Keepalive => {}
            NatTDatagram::Ike { message, .. } => gw.handle_ike(t, local, remote, message),
            NatTDatagram::Esp => cgw_esp::fuzzing::decapsulate(d),
        }
        gw.handle_timeout(t);
        while gw.poll_action().is_some() {}
    }
}
