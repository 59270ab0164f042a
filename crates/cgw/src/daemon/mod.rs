//! `cgw up`: the gateway daemon. The only place with sockets, TUN devices, netlink and tokio.
//!
//! One tokio task runs the control plane: the IKE engines (one `cgw_ike::Connection` per
//! tunnel), retries, liveness checks (DPD), the tunnel monitors, static-route failover and the
//! control socket. One dedicated thread runs the data path (see [`dataplane`]).

pub mod bgp;
pub mod dataplane;
pub mod failover;
mod fib;
pub mod netlink;
pub mod tun;

use anyhow::{anyhow, bail, Context, Result};
use cgw::config::{CgwConfig, DpdAction, Routing, StartupAction};
use cgw::status::{
    BgpInstalledRoute, BgpReceivedRoute, BgpStatus, ChildSaStatus, IkeDrops, IkeSaStatus,
    MonitorStatus, NextRekey, Rekeys, RouteStatus, RoutingMode, Status, TunnelState, TunnelStatus,
};
use cgw_ike::{Connection, Event, IkeError};
use dataplane::{Command, TunnelSetup};
use failover::{Failover, Health};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UdpSocket, UnixListener};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// Interval of NAT keepalives (RFC 3948 4: 20 s is customary).
const NAT_KEEPALIVE: Duration = Duration::from_secs(20);
/// First and longest wait between attempts to bring a tunnel up.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// How long a replaced inbound SA still accepts packets after a rekey.
const REKEY_GRACE: Duration = Duration::from_secs(5);
/// At most one log line at INFO or above per tunnel in this interval for failures of IKE SAs
/// that never authenticated (the rest go to DEBUG, and all are counted).
const STRAY_LOG_INTERVAL: Duration = Duration::from_secs(60);

struct MonitorState {
    next_ping: Instant,
    seq: u16,
    outstanding: Option<(u16, Instant)>,
    misses: u32,
    up: bool,
    up_since: Option<Instant>,
    last_rtt: Option<Duration>,
}

struct ChildState {
    inbound_spi: u32,
    outbound_spi: u32,
    algorithms: String,
    udp_encap: bool,
    since: Instant,
    /// The negotiated traffic selectors (ours, the peer's), as text.
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
}

struct IkeState {
    info: cgw_ike::IkeSaInfo,
    since: Instant,
}

struct TunnelCtl {
    cfg: cgw::config::Tunnel,
    conn: Connection,
    ifindex: u32,
    ike: Option<IkeState>,
    child: Option<ChildState>,
    /// A rekeyed Child SA whose outbound SA is not in use yet.
    pending_child: Option<ChildState>,
    next_initiate: Option<Instant>,
    backoff: Duration,
    monitor: MonitorState,
    /// `[monitor] enabled`: without it no echo is sent and the tunnel counts as carrying
    /// traffic while its Child SA is up.
    monitor_enabled: bool,
    /// Failures of IKE SAs that never authenticated (refused or expired IKE_SA_INITs from the
    /// peer's address, failed IKE_AUTHs from it): counted, never a change of the tunnel.
    stray_failures: u64,
    /// When a stray failure was last logged at INFO or above (at most one a minute).
    stray_logged: Option<Instant>,
    last_error: Option<String>,
    next_keepalive: Option<Instant>,
    /// What we last told the BGP session about the tunnel (carrying traffic or not).
    bgp_up: bool,
    /// Keys of the live Child SAs (for `cgw keys`).
    esp_keys: Vec<EspKeys>,
    /// Monitor: echo interval and misses in a row that mean "down".
    monitor_interval: Duration,
    monitor_threshold: u32,
}

impl TunnelCtl {
    fn state(&self) -> TunnelState {
        match (&self.ike, &self.child) {
            (Some(_), Some(_)) => TunnelState::Up,
            (Some(_), None) => TunnelState::IkeOnly,
            _ if self.conn.is_connecting() => TunnelState::Connecting,
            _ => TunnelState::Down,
        }
    }

    /// Whether the tunnel carries traffic: its Child SA is up and, with the monitor on, AWS's
    /// inside address answers through it.
    fn carrying(&self) -> bool {
        self.child.is_some() && (!self.monitor_enabled || self.monitor.up)
    }

    fn health(&self) -> Health {
        Health {
            up: self.carrying(),
            up_since: if self.monitor_enabled {
                self.monitor.up_since
            } else {
                self.child.as_ref().map(|c| c.since)
            },
        }
    }
}

enum ControlRequest {
    Status(oneshot::Sender<Box<Status>>),
    Down(oneshot::Sender<Value>),
    Keys(oneshot::Sender<Value>),
}

/// The keys of a Child SA, kept for `cgw keys --wireshark` in the engine's secret type
/// (wiped when the Child SA goes).
struct EspKeys {
    inbound_spi: u32,
    outbound_spi: u32,
    suite: cgw_ike::EspSuite,
    inbound: cgw_ike::ChildSaKeys,
    outbound: cgw_ike::ChildSaKeys,
    local: SocketAddr,
    remote: SocketAddr,
}

/// Runs the gateway until SIGTERM, SIGINT or `cgw down`.
pub async fn run(config: CgwConfig) -> Result<()> {
    let gw = config.gateway.clone();
    if unsafe { libc::geteuid() } != 0 {
        warn!("not running as root: cgw needs CAP_NET_ADMIN (TUN devices, routes), CAP_NET_BIND_SERVICE (UDP 500/4500) and CAP_NET_RAW (raw ESP)");
    }
    let nl = netlink::Netlink::new()?;
    netlink::sysctl("net/ipv4/ip_forward", "1").context("enabling IPv4 forwarding (needs root)")?;

    // Sockets first: if another IKE daemon holds the ports, say so before touching anything.
    let local = IpAddr::V4(gw.local_address);
    let ike500 = UdpSocket::bind(SocketAddr::new(local, cgw_ike::IKE_PORT))
        .await
        .map_err(|e| explain_bind(e, local, cgw_ike::IKE_PORT))?;
    let natt = StdUdpSocket::bind(SocketAddr::new(local, cgw_ike::NAT_T_PORT))
        .map_err(|e| explain_bind(e, local, cgw_ike::NAT_T_PORT))?;
    let natt_send = natt.try_clone()?;
    natt_send.set_nonblocking(true)?;
    let raw_esp = match dataplane::open_raw_esp(gw.local_address) {
        Ok(fd) => Some(fd),
        Err(e) => {
            warn!("no raw ESP socket ({e}); ESP works only UDP-encapsulated (NAT-T)");
            None
        }
    };

    // TUN devices.
    let mut setups = Vec::new();
    let mut ifindexes = Vec::new();
    for t in &config.tunnels {
        let tun = tun::Tun::open(&t.device)
            .map_err(|e| anyhow!(tun::explain_open_error(&t.device, &e)))?;
        let idx = nl.link_index(&t.device).await?;
        // The tunnel carries IPv4 only: before the link goes up, keep the kernel from sending
        // IPv6 router solicitations and MLD reports into it (no such sysctl when IPv6 is off).
        let _ = netlink::sysctl(&format!("net/ipv6/conf/{}/disable_ipv6", t.device), "1");
        nl.configure_link(idx, t.mtu as u32, t.our_inside_address(), 30)
            .await
            .with_context(|| format!("configuring {}", t.device))?;
        // AWS may answer on either tunnel: loose reverse-path filtering on the tunnel devices.
        netlink::sysctl(&format!("net/ipv4/conf/{}/rp_filter", t.device), "2")?;
        info!(
            "{}: device {} up, MTU {}, inside {}/30 (AWS {})",
            t.name,
            t.device,
            t.mtu,
            t.our_inside_address(),
            t.aws_inside_address()
        );
        ifindexes.push(idx);
        setups.push(TunnelSetup {
            tun,
            mtu: t.mtu as usize,
            mss: t.tcp_mss,
            inside: t.our_inside_address(),
            aws_inside: t.aws_inside_address(),
            peer: t.aws_outside_address,
        });
    }

    let (dp_tx, mut dp_rx) = mpsc::unbounded_channel();
    let mut dp = dataplane::start(setups, natt, raw_esp, dp_tx)?;

    let now = Instant::now();
    let mut tunnels: Vec<TunnelCtl> = Vec::new();
    for (i, t) in config.tunnels.iter().enumerate() {
        let ike = config.try_ike_config(i).map_err(|e| anyhow!("{e}"))?;
        let first = match t.startup_action {
            StartupAction::Initiate => now,
            // AWS initiates; we answer, and start ourselves if nothing came after a while.
            StartupAction::Respond => now + Duration::from_secs(30),
        };
        tunnels.push(TunnelCtl {
            cfg: t.clone(),
            conn: Connection::new(ike, Box::new(cgw_crypto::SystemRandom::new())),
            ifindex: ifindexes[i],
            ike: None,
            child: None,
            pending_child: None,
            next_initiate: Some(first),
            backoff: RETRY_MIN,
            monitor_enabled: config.monitor.enabled,
            stray_failures: 0,
            stray_logged: None,
            monitor: MonitorState {
                next_ping: now,
                seq: 0,
                outstanding: None,
                misses: 0,
                up: false,
                up_since: None,
                last_rtt: None,
            },
            last_error: None,
            next_keepalive: None,
            bgp_up: false,
            esp_keys: Vec::new(),
            monitor_interval: Duration::from_secs(config.monitor.interval_secs.max(1)),
            monitor_threshold: config.monitor.threshold.max(1),
        });
    }

    // Routes: one task keeps cgw's routes and rules in the kernel (and prunes a crashed
    // earlier run's rules at its first look).
    let devices: std::collections::HashMap<u32, String> = tunnels
        .iter()
        .map(|t| (t.ifindex, t.cfg.device.clone()))
        .collect();
    let fib = fib::spawn(
        nl.clone(),
        devices,
        config.gateway.route_table.unwrap_or(cgw::fib::MAIN_TABLE),
    );
    let mut routes = Routes::new(fib.clone(), &config);
    // At start the primary gets the time the monitor needs to decide (and at least 10 s) to
    // come up before a backup whose echo happened to answer first takes the routes.
    let startup_grace = Duration::from_secs(
        (config.monitor.interval_secs * u64::from(config.monitor.threshold)).max(10),
    );
    let mut failover = Failover::new(Duration::from_secs(config.monitor.failback_hold_secs))
        .with_startup_grace(Instant::now(), startup_grace);
    if config.gateway.routing == Routing::Static {
        routes.install(&tunnels, 0);
        info!(
            "routes: {} via {} ({})",
            config
                .gateway
                .remote_cidrs
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            tunnels[0].cfg.device,
            tunnels[0].cfg.name
        );
    } else {
        info!(
            "routing = {}: cgw installs no routes for the VPC",
            routing_mode(&config.gateway.routing)
        );
    }

    // BGP: one session per tunnel over its inside addresses.
    let (bgp_tx, mut bgp_rx) = mpsc::unbounded_channel();
    let mut bgp = BgpState::new(&config, bgp_tx, fib.clone());
    for ifname in &config.gateway.advertise_interfaces {
        match nl.connected_prefixes(ifname).await {
            Ok(prefixes) => {
                for (net, len) in prefixes {
                    if let Ok(p) = cgw_bgp::Ipv4Prefix::new(net, len) {
                        info!("BGP: advertising {p}, connected to {ifname}");
                        if !bgp.lan.iter().any(|r| r.prefix == p) {
                            bgp.lan.push(cgw_bgp::LocalRoute::from(p));
                        }
                    }
                }
            }
            Err(e) => warn!("BGP: advertise_interfaces: {e:#}"),
        }
    }
    if config.gateway.routing == Routing::Bgp && bgp.lan.len() > 100 {
        warn!(
            "BGP: advertising {} prefixes; a virtual private gateway accepts at most 100",
            bgp.lan.len()
        );
    }

    // Control socket.
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel();
    let sock_path = gw.control_socket.clone();
    if let Some(dir) = sock_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(&sock_path);
    let listener = UnixListener::bind(&sock_path)
        .with_context(|| format!("binding the control socket {}", sock_path.display()))?;
    if let Some(addr) = config.gateway.metrics_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics endpoint {addr}"))?;
        info!("Prometheus metrics on http://{addr}/metrics");
        tokio::spawn(serve_metrics(l, ctl_tx.clone()));
    }
    tokio::spawn(serve_control(listener, ctl_tx));
    info!("control socket {}", sock_path.display());

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut buf = vec![0u8; 65536];
    let mut shutdown_reply: Option<oneshot::Sender<Value>> = None;
    info!(
        "cgw up: {} tunnel(s), routing {}",
        tunnels.len(),
        routing_mode(&config.gateway.routing)
    );

    loop {
        // Drive every engine and timer that is due.
        let now = Instant::now();
        for (i, t) in tunnels.iter_mut().enumerate() {
            tick(t, i, now, &dp, &natt_send, &ike500).await;
            // A BGP session runs while its tunnel carries traffic; when the tunnel dies (DPD,
            // the monitor, a Delete) the session ends at once, not after the hold time.
            let carrying = t.carrying();
            if carrying != t.bgp_up {
                t.bgp_up = carrying;
                bgp.tunnel(i, carrying);
            }
        }
        if config.gateway.routing == Routing::Static && tunnels.len() > 1 {
            let health: Vec<Health> = tunnels.iter().map(|t| t.health()).collect();
            let before = failover.active();
            if let Some(active) = failover.update(now, &health) {
                let from = &tunnels[before.min(tunnels.len() - 1)].cfg.name;
                warn!(
                    "failover: routes move from {} to {} ({})",
                    from,
                    tunnels[active].cfg.name,
                    if active == 0 {
                        "primary healthy again for the hold-down"
                    } else {
                        "primary tunnel down"
                    }
                );
                routes.install(&tunnels, active);
            }
        }
        let deadline = tunnels
            .iter()
            .flat_map(next_deadline)
            .min()
            .unwrap_or(now + Duration::from_secs(1))
            .max(now + Duration::from_millis(1));

        tokio::select! {
            r = ike500.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    let local = SocketAddr::new(local, cgw_ike::IKE_PORT);
                    dispatch_ike(&mut tunnels, local, from, &buf[..n]);
                }
            }
            Some(ev) = dp_rx.recv() => match ev {
                dataplane::Event::Ike { local, remote, data } => dispatch_ike(&mut tunnels, local, remote, &data),
                dataplane::Event::RekeyNeeded { tunnel, inbound_spi } => {
                    if let Some(t) = tunnels.get_mut(tunnel) {
                        info!("{}: the Child SA reached its packet, byte or sequence number limit: rekeying it", t.cfg.name);
                        t.conn.rekey_child_sa(Instant::now(), inbound_spi);
                    }
                }
                dataplane::Event::EchoReply { tunnel, seq } => {
                    if let Some(t) = tunnels.get_mut(tunnel) {
                        if let Some((s, at)) = t.monitor.outstanding {
                            if s == seq {
                                t.monitor.outstanding = None;
                                t.monitor.misses = 0;
                                t.monitor.last_rtt = Some(at.elapsed());
                                if !t.monitor.up {
                                    info!("{}: monitor: AWS inside address {} answers", t.cfg.name, t.cfg.aws_inside_address());
                                    t.monitor.up = true;
                                    t.monitor.up_since = Some(Instant::now());
                                }
                            }
                        }
                    }
                }
            },
            Some(r) = bgp_rx.recv() => bgp.report(r, &tunnels).await,
            Some(req) = ctl_rx.recv() => match req {
                ControlRequest::Status(tx) => {
                    let mut s = status(&config, &tunnels, &dp, &failover);
                    s.bgp = bgp.status(&tunnels);
                    let _ = tx.send(Box::new(s));
                }
                ControlRequest::Down(tx) => { shutdown_reply = Some(tx); break; }
                ControlRequest::Keys(tx) => {
                    warn!("control socket: session keys requested (cgw keys)");
                    let _ = tx.send(keys_json(&tunnels));
                }
            },
            _ = tokio::signal::ctrl_c() => { info!("SIGINT: shutting down"); break; }
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }

    // Shutdown: Delete the SAs, wait briefly for the answers, remove routes and devices.
    let now = Instant::now();
    for t in tunnels.iter_mut() {
        t.conn.close(now);
    }
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until && tunnels.iter().any(|t| t.conn.ike_sa_count() > 0) {
        for (i, t) in tunnels.iter_mut().enumerate() {
            t.next_initiate = None;
            tick(t, i, Instant::now(), &dp, &natt_send, &ike500).await;
        }
        tokio::select! {
            r = ike500.recv_from(&mut buf) => if let Ok((n, from)) = r {
                dispatch_ike(&mut tunnels, SocketAddr::new(local, cgw_ike::IKE_PORT), from, &buf[..n]);
            },
            Some(dataplane::Event::Ike { local, remote, data }) = dp_rx.recv() => dispatch_ike(&mut tunnels, local, remote, &data),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    bgp.shutdown().await;
    fib.flush().await;
    dp.shutdown();
    let _ = std::fs::remove_file(&sock_path);
    info!("cgw stopped: SAs deleted, routes removed");
    if let Some(tx) = shutdown_reply {
        let _ = tx.send(json!({"ok": true}));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn routing_mode(r: &Routing) -> RoutingMode {
    match r {
        Routing::Static => RoutingMode::Static,
        Routing::Bgp => RoutingMode::Bgp,
        Routing::External => RoutingMode::External,
    }
}

fn explain_bind(e: std::io::Error, ip: IpAddr, port: u16) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => anyhow!(
            "address in use: UDP {ip}:{port} is taken, probably by another IKE daemon (strongSwan charon, libreswan pluto); stop it or give cgw another local_address"
        ),
        Some(libc::EADDRNOTAVAIL) => anyhow!(
            "cannot bind UDP {ip}:{port}: {ip} is not an address of this host (check gateway.local_address)"
        ),
        Some(libc::EACCES) | Some(libc::EPERM) => anyhow!(
            "cannot bind UDP {ip}:{port}: permission denied (run as root or grant CAP_NET_BIND_SERVICE)"
        ),
        _ => anyhow!("cannot bind UDP {ip}:{port}: {e}"),
    }
}

/// Hands an IKE message to the tunnel whose AWS endpoint sent it.
fn dispatch_ike(tunnels: &mut [TunnelCtl], local: SocketAddr, from: SocketAddr, data: &[u8]) {
    let now = Instant::now();
    match tunnels
        .iter_mut()
        .find(|t| IpAddr::V4(t.cfg.aws_outside_address) == from.ip())
    {
        Some(t) => t.conn.handle_datagram(now, local, from, data),
        None => warn!("IKE message from {from}, which is not one of our AWS endpoints: ignored"),
    }
}

fn next_deadline(t: &TunnelCtl) -> Vec<Instant> {
    let mut v: Vec<Instant> = [t.conn.poll_timeout(), t.next_initiate, t.next_keepalive]
        .into_iter()
        .flatten()
        .collect();
    if t.child.is_some() && t.monitor_enabled {
        v.push(t.monitor.next_ping);
    }
    if t.ike.is_some() {
        v.push(Instant::now() + Duration::from_secs(1));
    }
    v
}

/// Advances one tunnel: timers, retries, DPD, the monitor, then the engine's output.
async fn tick(
    t: &mut TunnelCtl,
    index: usize,
    now: Instant,
    dp: &dataplane::Handle,
    natt: &StdUdpSocket,
    ike500: &UdpSocket,
) {
    // Inbound ESP proves the peer alive: the engine's dead-peer detection counts it.
    let last_esp = dp.counters[index].last_rx_ms.load(Ordering::Relaxed);
    if last_esp > 0 {
        t.conn
            .esp_received(dp.started + Duration::from_millis(last_esp - 1));
    }
    t.conn.handle_timeout(now);

    // (Re)connect. The AWS side (`cgw emulate-aws`) waits for the customer gateway, as AWS's
    // default startup action `add` does.
    if t.cfg.plays_aws {
        t.next_initiate = None;
    }
    if let Some(at) = t.next_initiate {
        if now >= at && !t.conn.is_established() && !t.conn.is_connecting() {
            info!(
                "{}: initiating IKE_SA_INIT to {}",
                t.cfg.name, t.cfg.aws_outside_address
            );
            t.conn.initiate(now);
            t.next_initiate = None;
        } else if t.conn.is_established() {
            t.next_initiate = None;
        }
    }

    // Monitor (off: no echo at all, the tunnel carries traffic while its Child SA is up).
    if t.monitor_enabled && t.child.is_some() && now >= t.monitor.next_ping {
        if t.monitor.outstanding.take().is_some() {
            t.monitor.misses += 1;
        }
        t.monitor.seq = t.monitor.seq.wrapping_add(1);
        dp.send(Command::Echo {
            tunnel: index,
            seq: t.monitor.seq,
        });
        t.monitor.outstanding = Some((t.monitor.seq, now));
        t.monitor.next_ping = now + t.monitor_interval;
        if t.monitor.up && t.monitor.misses >= t.monitor_threshold {
            warn!(
                "{}: monitor: {} echoes to {} unanswered: tunnel considered down",
                t.cfg.name,
                t.monitor.misses,
                t.cfg.aws_inside_address()
            );
            t.monitor.up = false;
            t.monitor.up_since = None;
        }
    }

    // NAT keepalives when we are behind a NAT.
    if let (Some(ike), Some(child)) = (&t.ike, &t.child) {
        if child.udp_encap && ike.info.local_behind_nat {
            let due = t.next_keepalive.is_none_or(|k| now >= k);
            if due {
                let _ = natt.send_to(
                    &[0xff],
                    SocketAddr::new(IpAddr::V4(t.cfg.aws_outside_address), cgw_ike::NAT_T_PORT),
                );
                t.next_keepalive = Some(now + NAT_KEEPALIVE);
            }
        }
    }

    // The engine's events first: a new inbound SA is installed before the response that
    // announces it leaves (make-before-break).
    let mut switched = false;
    while let Some(ev) = t.conn.poll_event() {
        switched |= matches!(
            ev,
            Event::ChildSaEstablished(ref c) if c.outbound_active
        ) || matches!(
            ev,
            Event::ChildSaOutboundActivated { .. } | Event::ChildSaDeleted { .. }
        );
        handle_event(t, index, now, ev, dp);
    }
    // When outbound traffic moved to another SA (or one went away), wait until the data path
    // has applied it before a Delete or response tells the peer: packets it already encrypted
    // with the old SA are then in the kernel ahead of that message, so the peer, which drops
    // the old SA when the exchange ends, still has it when they arrive.
    if switched {
        let (tx, rx) = oneshot::channel();
        dp.send(Command::Barrier(tx));
        if tokio::time::timeout(Duration::from_millis(200), rx)
            .await
            .is_err()
        {
            warn!(
                "{}: the data path did not confirm an SA switch within 200 ms",
                t.cfg.name
            );
        }
    }
    // Then its datagrams.
    while let Some(tx) = t.conn.poll_transmit() {
        let r = if tx.needs_non_esp_marker() {
            let mut m = Vec::with_capacity(tx.contents.len() + 4);
            m.extend_from_slice(&[0, 0, 0, 0]);
            m.extend_from_slice(&tx.contents);
            natt.send_to(&m, tx.remote).map(|_| ())
        } else {
            ike500.send_to(&tx.contents, tx.remote).await.map(|_| ())
        };
        if let Err(e) = r {
            warn!("{}: sending IKE to {}: {e}", t.cfg.name, tx.remote);
        }
    }
}

fn handle_event(t: &mut TunnelCtl, index: usize, now: Instant, ev: Event, dp: &dataplane::Handle) {
    let name = t.cfg.name.clone();
    match ev {
        Event::IkeSaEstablished(info) => {
            info!(
                "{name}: IKE SA established with {} as {} ({}), NAT-T {}",
                info.remote,
                if info.initiator {
                    "initiator"
                } else {
                    "responder"
                },
                info.suite,
                match (info.local_behind_nat, info.remote_behind_nat) {
                    (false, false) => "not needed",
                    (true, _) => "on (we are behind a NAT)",
                    (false, true) => "on (NAT, or UDP encapsulation forced by the peer)",
                }
            );
            t.backoff = RETRY_MIN;
            t.last_error = None;
            t.ike = Some(IkeState { info, since: now });
        }
        Event::ChildSaEstablished(c) => {
            match cgw::child_sa::esp_sas_with_limits(
                &c,
                &mut cgw_crypto::SystemRandom::new(),
                t.cfg.esp_limits(),
            ) {
                Ok((inbound, outbound)) => {
                    t.esp_keys.push(EspKeys {
                        inbound_spi: c.inbound_spi,
                        outbound_spi: c.outbound_spi,
                        suite: c.suite,
                        inbound: c.inbound.clone(),
                        outbound: c.outbound.clone(),
                        local: c.local,
                        remote: c.remote,
                    });
                    info!(
                        "{name}: Child SA up: SPIs in {:#010x} out {:#010x}, {}, {}",
                        c.inbound_spi,
                        c.outbound_spi,
                        c.suite,
                        if c.udp_encap {
                            "ESP in UDP 4500"
                        } else {
                            "ESP"
                        }
                    );
                    dp.send(Command::InstallChild {
                        tunnel: index,
                        inbound: Box::new(inbound),
                        outbound: Box::new(outbound),
                        remote: SocketAddr::new(
                            c.remote.ip(),
                            if c.udp_encap { cgw_ike::NAT_T_PORT } else { 0 },
                        ),
                        udp_encap: c.udp_encap,
                        activate: c.outbound_active,
                    });
                    let text = |ts: &[cgw_wire::TrafficSelector]| -> Vec<String> {
                        ts.iter().map(|t| t.to_string()).collect()
                    };
                    let whole = |ts: &[cgw_wire::TrafficSelector]| {
                        ts.contains(&cgw_wire::TrafficSelector::IPV4_ANY)
                    };
                    if !whole(&c.local_ts) || !whole(&c.remote_ts) {
                        // RFC 7296 2.9: the responder may narrow; we then send only what the
                        // narrowed selectors admit (the rest is dropped and counted).
                        warn!(
                            "{name}: the peer narrowed the traffic selectors to ours {} / its {}: only matching traffic uses this Child SA, the rest is dropped (drops.ts_outbound); AWS uses 0.0.0.0/0, check the connection's local and remote network CIDRs",
                            text(&c.local_ts).join(" "),
                            text(&c.remote_ts).join(" ")
                        );
                    }
                    let state = ChildState {
                        inbound_spi: c.inbound_spi,
                        outbound_spi: c.outbound_spi,
                        algorithms: c.suite.to_string(),
                        udp_encap: c.udp_encap,
                        since: now,
                        local_ts: text(&c.local_ts),
                        remote_ts: text(&c.remote_ts),
                    };
                    if let Some(old) = c.rekey_of {
                        info!("{name}: Child SA rekeyed (replaces inbound SPI {old:#010x})");
                    }
                    if c.outbound_active {
                        if t.child.is_none() {
                            t.monitor.next_ping = now;
                        }
                        t.child = Some(state);
                    } else {
                        t.pending_child = Some(state);
                    }
                }
                Err(e) => {
                    error!("{name}: cannot install the Child SA: {e}");
                    t.last_error = Some(format!("cannot install the Child SA: {e}"));
                }
            }
        }
        Event::ChildSaOutboundActivated { inbound_spi, .. } => {
            dp.send(Command::ActivateOutbound {
                tunnel: index,
                inbound_spi,
            });
            if let Some(p) = t.pending_child.take_if(|p| p.inbound_spi == inbound_spi) {
                t.child = Some(p);
            }
        }
        Event::IkeSaRekeyed { new, .. } => {
            info!("{name}: IKE SA rekeyed ({})", new.suite);
            if let Some(k) = t.ike.as_mut() {
                let peer_id = std::mem::take(&mut k.info.peer_id);
                k.info = new;
                k.info.peer_id = peer_id;
            }
        }
        Event::ChildSaDeleted {
            inbound_spi,
            outbound_spi,
            rekeyed,
        } => {
            if rekeyed {
                debug!(
                    "{name}: replaced Child SA {inbound_spi:#010x}/{outbound_spi:#010x} deleted"
                );
            } else {
                info!("{name}: Child SA {inbound_spi:#010x}/{outbound_spi:#010x} deleted");
            }
            dp.send(Command::RemoveChild {
                tunnel: index,
                inbound_spi,
                outbound_spi,
                grace: if rekeyed { REKEY_GRACE } else { Duration::ZERO },
            });
            if t.pending_child
                .as_ref()
                .is_some_and(|c| c.inbound_spi == inbound_spi)
            {
                t.pending_child = None;
            }
            t.esp_keys.retain(|k| k.inbound_spi != inbound_spi);
            if t.child
                .as_ref()
                .is_some_and(|c| c.inbound_spi == inbound_spi)
                && !rekeyed
            {
                t.child = None;
                t.monitor.up = false;
                t.monitor.up_since = None;
                t.monitor.outstanding = None;
                t.monitor.misses = 0;
            }
        }
        Event::IkeSaDeleted { by_peer, .. } => {
            info!(
                "{name}: IKE SA deleted by {}",
                if by_peer { "the peer" } else { "us" }
            );
            t.ike = None;
            if by_peer {
                // AWS deletes before maintenance and waits for us to come back.
                t.next_initiate = Some(now + RETRY_MIN);
            }
        }
        Event::IkeSaFailed {
            error, stray: true, ..
        } => {
            // An IKE SA the peer's address started that never authenticated: anyone can send
            // an IKE_SA_INIT with that source. It changes nothing of the tunnel; an
            // authentication failure is still worth a warning (a PSK mismatch when AWS
            // initiates), at most once a minute.
            t.stray_failures += 1;
            let loud = !matches!(error, IkeError::HalfOpenExpired)
                && t.stray_logged
                    .is_none_or(|l| now.duration_since(l) >= STRAY_LOG_INTERVAL);
            if loud {
                t.stray_logged = Some(now);
                warn!(
                    "{name}: an IKE SA started by {} failed before authentication: {error} ({} such failures so far; they do not affect the tunnel)",
                    t.cfg.aws_outside_address, t.stray_failures
                );
                if t.ike.is_none() {
                    t.last_error = Some(error.to_string());
                }
            } else {
                debug!("{name}: IKE SA started by the peer's address failed before authentication: {error}");
            }
        }
        Event::IkeSaFailed { error, .. } => {
            t.last_error = Some(error.to_string());
            t.ike = None;
            let restart = t.cfg.dpd_action != DpdAction::None
                || !matches!(error, IkeError::PeerNotResponding { .. });
            if t.cfg.plays_aws {
                // The AWS side never initiates: it waits for the customer gateway.
                warn!("{name}: {error}; waiting for the customer gateway to initiate");
            } else if restart {
                error!(
                    "{name}: {error}; initiating again in {} s",
                    t.backoff.as_secs()
                );
                t.next_initiate = Some(now + t.backoff);
                t.backoff = (t.backoff * 2).min(RETRY_MAX);
            } else {
                error!("{name}: {error}; dpd_action = \"none\": not initiating again");
            }
        }
        Event::ChildSaRekeyFailed { inbound_spi, error } => {
            warn!("{name}: Child SA {inbound_spi:#010x}: {error}");
            t.last_error = Some(error.to_string());
        }
        Event::ChildSaFailed { error } => {
            error!("{name}: Child SA not created: {error}");
            t.last_error = Some(format!("Child SA: {error}"));
        }
    }
}

/// The routes and rules static routing wants: `remote_cidrs` via the active tunnel's
/// device, and with `route_table` the `from <lan> lookup <table>` rules. The FIB task puts
/// them into the kernel and keeps them there.
struct Routes {
    fib: fib::FibHandle,
    cidrs: Vec<ipnet::Ipv4Net>,
    table: u32,
    rules: Vec<cgw::fib::Rule>,
}

impl Routes {
    fn new(fib: fib::FibHandle, config: &CgwConfig) -> Self {
        let table = config.gateway.route_table.unwrap_or(cgw::fib::MAIN_TABLE);
        let rules = match config.gateway.route_table {
            Some(t) => config
                .gateway
                .lan
                .iter()
                .map(|l| cgw::fib::Rule {
                    from: *l,
                    table: t,
                    priority: cgw::fib::RULE_PRIORITY,
                })
                .collect(),
            None => Vec::new(),
        };
        Self {
            fib,
            cidrs: config.gateway.remote_cidrs.clone(),
            table,
            rules,
        }
    }

    fn install(&mut self, tunnels: &[TunnelCtl], active: usize) {
        let t = &tunnels[active];
        let routes = self
            .cidrs
            .iter()
            .map(|c| cgw::fib::Route::new(*c, self.table, 0, vec![t.ifindex]))
            .collect();
        self.fib
            .set(cgw::fib::Source::Static, routes, self.rules.clone());
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn status(
    config: &CgwConfig,
    tunnels: &[TunnelCtl],
    dp: &dataplane::Handle,
    failover: &Failover,
) -> Status {
    let now = Instant::now();
    let tunnel_status = |(i, t): (usize, &TunnelCtl)| {
        let c = &dp.counters[i].table;
        let stats = t.conn.stats();
        let timers = t.child.as_ref().and_then(|c| {
            t.conn
                .child_sa_timers()
                .into_iter()
                .find(|x| x.0 == c.inbound_spi)
        });
        TunnelStatus {
            name: t.cfg.name.clone(),
            device: t.cfg.device.clone(),
            aws_outside_address: t.cfg.aws_outside_address,
            inside_address: t.cfg.our_inside_address(),
            aws_inside_address: t.cfg.aws_inside_address(),
            state: t.state(),
            ike_sa: t.ike.as_ref().map(|k| IkeSaStatus {
                spi_i: hex(&k.info.spi_i),
                spi_r: hex(&k.info.spi_r),
                initiator: k.info.initiator,
                algorithms: k.info.suite.to_string(),
                local: k.info.local,
                remote: k.info.remote,
                nat_t: k.info.local_behind_nat || k.info.remote_behind_nat,
                local_behind_nat: k.info.local_behind_nat,
                remote_behind_nat: k.info.remote_behind_nat,
                peer_id: k.info.peer_id.clone(),
                uptime_secs: now.duration_since(k.since).as_secs(),
            }),
            child_sa: t.child.as_ref().map(|c| ChildSaStatus {
                inbound_spi: format!("{:#010x}", c.inbound_spi),
                outbound_spi: format!("{:#010x}", c.outbound_spi),
                algorithms: c.algorithms.clone(),
                udp_encap: c.udp_encap,
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
                uptime_secs: now.duration_since(c.since).as_secs(),
            }),
            traffic: c.traffic(),
            drops: c.drops(),
            ike_drops: IkeDrops {
                malformed: stats.malformed,
                unknown_spi: stats.unknown_spi,
                integrity_failures: stats.integrity_failures,
                invalid_init_requests: stats.init_requests_invalid,
            },
            monitor: MonitorStatus {
                enabled: config.monitor.enabled,
                alive: t.monitor.up,
                consecutive_misses: t.monitor.misses,
                last_rtt_ms: t.monitor.last_rtt.map(|d| d.as_secs_f64() * 1000.0),
            },
            rekeys: Rekeys {
                child: stats.child_rekeys,
                ike: stats.ike_rekeys,
                collisions: stats.rekey_collisions,
                child_failures: stats.child_rekey_failures,
            },
            half_open_ike_sas: t.conn.half_open_count() as u64,
            stray_ike_failures: t.stray_failures,
            next_rekey: NextRekey {
                ike_sa_in_secs: t
                    .conn
                    .ike_rekey_at()
                    .map(|r| r.saturating_duration_since(now).as_secs()),
                child_sa_in_secs: timers.map(|x| x.2.saturating_duration_since(now).as_secs()),
                child_sa_expires_in_secs: timers
                    .map(|x| x.3.saturating_duration_since(now).as_secs()),
            },
            last_error: t.last_error.clone(),
        }
    };
    let active = failover.active().min(tunnels.len().saturating_sub(1));
    let static_routing = config.gateway.routing == Routing::Static;
    let routes = if static_routing {
        config
            .gateway
            .remote_cidrs
            .iter()
            .map(|c| RouteStatus {
                destination: c.to_string(),
                tunnel: tunnels[active].cfg.name.clone(),
                device: tunnels[active].cfg.device.clone(),
            })
            .collect()
    } else {
        vec![]
    };
    Status {
        version: env!("CARGO_PKG_VERSION").into(),
        routing: routing_mode(&config.gateway.routing),
        tunnels: tunnels.iter().enumerate().map(tunnel_status).collect(),
        routes,
        active_tunnel: static_routing.then(|| tunnels[active].cfg.name.clone()),
        failovers: failover.failovers(),
        esp_from_strangers: dp.esp_from_strangers.load(Ordering::Relaxed),
        bgp: BgpStatus::default(),
    }
}

/// After a failed `accept` (EMFILE, ENFILE, ENOMEM: the process or system is out of
/// something), wait before the next: the error would otherwise repeat at once, forever.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);

/// A control request is one short line; a metrics request head is a few lines.
const CONTROL_REQUEST_MAX: u64 = 1024;
const METRICS_REQUEST_MAX: u64 = 8192;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

async fn accepted<T>(what: &str, r: std::io::Result<T>, logged: &mut Option<Instant>) -> Option<T> {
    match r {
        Ok(x) => Some(x),
        Err(e) => {
            if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                warn!(
                    "{what}: accept failed: {e}; retrying every {} ms",
                    ACCEPT_BACKOFF.as_millis()
                );
                *logged = Some(Instant::now());
            }
            tokio::time::sleep(ACCEPT_BACKOFF).await;
            None
        }
    }
}

async fn serve_control(listener: UnixListener, tx: mpsc::UnboundedSender<ControlRequest>) {
    let mut logged = None;
    loop {
        let Some((stream, _)) =
            accepted("control socket", listener.accept().await, &mut logged).await
        else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            let mut r = BufReader::new(r.take(CONTROL_REQUEST_MAX));
            let read = r.read_line(&mut line);
            // Nothing, an error, too slow, or longer than any request: no answer.
            if !matches!(tokio::time::timeout(REQUEST_TIMEOUT, read).await, Ok(Ok(_)))
                || !line.ends_with('\n')
            {
                return;
            }
            let ask = |make: fn(oneshot::Sender<Value>) -> ControlRequest| {
                let (otx, orx) = oneshot::channel();
                let sent = tx.send(make(otx)).is_ok();
                async move {
                    if sent {
                        orx.await.ok()
                    } else {
                        None
                    }
                }
            };
            let reply = match line.trim() {
                "status" => {
                    let (otx, orx) = oneshot::channel();
                    if tx.send(ControlRequest::Status(otx)).is_err() {
                        return;
                    }
                    orx.await.ok().and_then(|s| serde_json::to_value(&*s).ok())
                }
                "down" => ask(ControlRequest::Down).await,
                "keys" => ask(ControlRequest::Keys).await,
                other => Some(json!({"error": format!("unknown command {other:?}")})),
            };
            if let Some(v) = reply {
                let _ = w.write_all(format!("{v}\n").as_bytes()).await;
            }
        });
    }
}

/// Sends one command to a running daemon and returns its JSON answer.
pub async fn control_request(path: &std::path::Path, cmd: &str) -> Result<Value> {
    let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
        anyhow!(
            "cannot reach the cgw daemon at {} ({e}); is `cgw up` running, and are you root?",
            path.display()
        )
    })?;
    let (r, mut w) = stream.into_split();
    w.write_all(format!("{cmd}\n").as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    if line.is_empty() {
        bail!("the daemon closed the control connection without answering");
    }
    Ok(serde_json::from_str(&line)?)
}

/// The BGP side of the daemon: the sessions' tasks, the RIB and the routes it installed.
struct BgpState {
    cmds: Vec<Option<mpsc::UnboundedSender<bgp::Command>>>,
    rib: cgw_bgp::Rib,
    /// The routes BGP wants in the kernel: prefix and output interfaces.
    installed: std::collections::BTreeMap<cgw_bgp::Ipv4Prefix, Vec<u32>>,
    sessions: Vec<BgpSessionStatus>,
    fib: fib::FibHandle,
    table: u32,
    lan: Vec<cgw_bgp::LocalRoute>,
    local_pref: Vec<Option<u32>>,
}

#[derive(Default, Clone)]
struct BgpSessionStatus {
    state: &'static str,
    since: Option<Instant>,
    last_error: Option<String>,
    peer_asn: u32,
    received: usize,
}

impl BgpState {
    fn new(
        config: &CgwConfig,
        out: mpsc::UnboundedSender<bgp::Report>,
        fib: fib::FibHandle,
    ) -> Self {
        let mut cmds = Vec::new();
        let enabled = config.gateway.routing == Routing::Bgp;
        for (i, t) in config.tunnels.iter().enumerate() {
            match (&t.bgp, enabled) {
                (Some(b), true) => {
                    let mut sc = cgw_bgp::SessionConfig::new(
                        b.local_asn,
                        b.peer_asn,
                        config.gateway.effective_public_address(),
                        t.our_inside_address(),
                        t.aws_inside_address(),
                    );
                    sc.hold_time = b.hold_time_secs;
                    sc.keepalive_time = Some(b.keepalive_secs);
                    sc.as_path_prepend = b.as_path_prepend;
                    sc.multi_exit_disc = b.med;
                    let (tx, rx) = mpsc::unbounded_channel();
                    bgp::spawn(i, t.name.clone(), sc, b.passive, rx, out.clone());
                    cmds.push(Some(tx));
                }
                _ => cmds.push(None),
            }
        }
        Self {
            sessions: vec![
                BgpSessionStatus {
                    state: "idle",
                    ..Default::default()
                };
                cmds.len()
            ],
            cmds,
            rib: cgw_bgp::Rib::new(cgw_bgp::RibConfig {
                ecmp: config.gateway.bgp_ecmp,
                ..Default::default()
            }),
            installed: Default::default(),
            fib,
            table: config.gateway.route_table.unwrap_or(cgw::fib::MAIN_TABLE),
            lan: config
                .gateway
                .lan
                .iter()
                .filter_map(|n| cgw_bgp::Ipv4Prefix::new(n.network(), n.prefix_len()).ok())
                .map(cgw_bgp::LocalRoute::from)
                .collect(),
            local_pref: config
                .tunnels
                .iter()
                .map(|t| t.bgp.as_ref().and_then(|b| b.local_pref))
                .collect(),
        }
    }

    fn tunnel(&mut self, i: usize, up: bool) {
        if let Some(Some(tx)) = self.cmds.get(i) {
            let _ = tx.send(if up {
                bgp::Command::TunnelUp
            } else {
                bgp::Command::TunnelDown
            });
        }
    }

    async fn report(&mut self, r: bgp::Report, tunnels: &[TunnelCtl]) {
        let bgp::Report::Event { tunnel, event } = r;
        let sid = cgw_bgp::SessionId(tunnel as u32);
        let name = tunnels[tunnel].cfg.name.clone();
        let changes = match event {
            cgw_bgp::Event::Established {
                peer_asn,
                peer_id,
                hold_time,
                ..
            } => {
                info!("{name}: BGP session with AS{peer_asn} ({peer_id}) established, hold time {hold_time} s");
                self.sessions[tunnel] = BgpSessionStatus {
                    state: "established",
                    since: Some(Instant::now()),
                    last_error: None,
                    peer_asn,
                    received: 0,
                };
                if let Some(Some(tx)) = self.cmds.get(tunnel) {
                    let _ = tx.send(bgp::Command::Advertise(self.lan.clone()));
                }
                self.rib.session_up(
                    sid,
                    cgw_bgp::PeerInfo {
                        peer_id,
                        peer_address: tunnels[tunnel].cfg.aws_inside_address(),
                        peer_asn,
                        external: true,
                        local_pref: self.local_pref[tunnel],
                    },
                )
            }
            cgw_bgp::Event::Update {
                announced,
                withdrawn,
            } => {
                let c = self.rib.update(sid, &announced, &withdrawn);
                self.sessions[tunnel].received = self.rib.adj_rib_in(sid).count();
                c
            }
            cgw_bgp::Event::Down {
                reason,
                was_established,
            } => {
                if was_established {
                    warn!("{name}: BGP session down: {reason}");
                }
                let st = &mut self.sessions[tunnel];
                st.state = "down";
                st.since = Some(Instant::now());
                st.last_error = Some(reason.to_string());
                st.received = 0;
                self.rib.session_down(sid)
            }
            _ => Vec::new(),
        };
        for c in changes {
            self.apply(c, tunnels).await;
        }
    }

    async fn apply(&mut self, c: cgw_bgp::RouteChange, tunnels: &[TunnelCtl]) {
        let prefix = c.prefix();
        match c.paths().first() {
            Some(best) => {
                let t = &tunnels[best.session.0 as usize];
                // With ECMP every equal best path is a next hop; otherwise the best one.
                let mut oifs: Vec<u32> = c
                    .paths()
                    .iter()
                    .map(|p| tunnels[p.session.0 as usize].ifindex)
                    .collect();
                oifs.sort_unstable();
                oifs.dedup();
                info!(
                    "BGP: {prefix} via {}{} ({}), AS path {}, MED {}",
                    t.cfg.device,
                    if oifs.len() > 1 {
                        " and the other tunnel (ECMP)"
                    } else {
                        ""
                    },
                    t.cfg.name,
                    best.attributes.as_path,
                    best.attributes
                        .multi_exit_disc
                        .map_or("-".to_string(), |m| m.to_string())
                );
                self.installed.insert(prefix, oifs);
            }
            None => {
                if self.installed.remove(&prefix).is_some() {
                    info!("BGP: {prefix} withdrawn");
                }
            }
        }
        self.push_routes();
    }

    /// Hands the routes BGP wants to the FIB task.
    fn push_routes(&self) {
        let routes = self
            .installed
            .iter()
            .filter_map(|(p, oifs)| {
                let net = ipnet::Ipv4Net::new(p.addr(), p.prefix_len()).ok()?;
                Some(cgw::fib::Route::new(net, self.table, 0, oifs.clone()))
            })
            .collect();
        self.fib.set(cgw::fib::Source::Bgp, routes, vec![]);
    }

    fn status(&self, tunnels: &[TunnelCtl]) -> BgpStatus {
        let now = Instant::now();
        let sessions = self
            .cmds
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| {
                let s = &self.sessions[i];
                let sid = cgw_bgp::SessionId(i as u32);
                let received = self
                    .rib
                    .adj_rib_in(sid)
                    .map(|(p, attrs)| BgpReceivedRoute {
                        prefix: p.to_string(),
                        as_path: attrs.as_path.to_string(),
                        med: attrs.multi_exit_disc,
                        next_hop: attrs.next_hop.to_string(),
                    })
                    .collect();
                cgw::status::BgpSessionStatus {
                    tunnel: tunnels[i].cfg.name.clone(),
                    peer: tunnels[i].cfg.aws_inside_address(),
                    peer_asn: s.peer_asn,
                    state: s.state.to_string(),
                    since_secs: s.since.map(|t| now.duration_since(t).as_secs()),
                    last_error: s.last_error.clone(),
                    received,
                    advertised: self.lan.iter().map(|r| r.prefix.to_string()).collect(),
                }
            })
            .collect();
        let installed = self
            .installed
            .keys()
            .filter_map(|p| {
                let b = self.rib.best(p)?;
                let t = &tunnels[b.session.0 as usize];
                let next_hops = self
                    .rib
                    .best_paths(p)
                    .iter()
                    .map(|r| tunnels[r.session.0 as usize].cfg.device.clone())
                    .collect();
                Some(BgpInstalledRoute {
                    prefix: p.to_string(),
                    tunnel: t.cfg.name.clone(),
                    device: t.cfg.device.clone(),
                    next_hops,
                    local_pref: b.local_pref,
                    as_path: b.attributes.as_path.to_string(),
                    med: b.attributes.multi_exit_disc,
                })
            })
            .collect();
        BgpStatus {
            sessions,
            installed,
        }
    }

    async fn shutdown(&mut self) {
        for c in self.cmds.iter().flatten() {
            let _ = c.send(bgp::Command::Shutdown);
        }
        self.installed.clear();
        self.push_routes();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every live IKE SA's and Child SA's keys, with Wireshark's names for the algorithms.
fn keys_json(tunnels: &[TunnelCtl]) -> Value {
    use cgw_ike::{Encr, Integ};
    let ike_encr = |e: Encr| match e {
        Encr::AesCbc128 => "AES-CBC-128 [RFC3602]",
        Encr::AesCbc256 => "AES-CBC-256 [RFC3602]",
        Encr::AesGcm16_128 => "AES-GCM-128 with 16 octet ICV [RFC5282]",
        Encr::AesGcm16_256 => "AES-GCM-256 with 16 octet ICV [RFC5282]",
    };
    let ike_integ = |i: Option<Integ>| match i {
        None => "NONE [RFC4306]",
        Some(Integ::HmacSha1_96) => "HMAC_SHA1_96 [RFC2404]",
        Some(Integ::HmacSha2_256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(Integ::HmacSha2_384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(Integ::HmacSha2_512_256) => "HMAC_SHA2_512_256 [RFC4868]",
    };
    let esp_encr = |e: Encr| {
        if e.is_aead() {
            "AES-GCM with 16 octet ICV [RFC4106]"
        } else {
            "AES-CBC [RFC3602]"
        }
    };
    let esp_auth = |i: Option<Integ>| match i {
        None => "NULL",
        Some(Integ::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(Integ::HmacSha2_256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(Integ::HmacSha2_384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(Integ::HmacSha2_512_256) => "HMAC-SHA-512-256 [RFC4868]",
    };
    let mut ike = Vec::new();
    let mut esp = Vec::new();
    for t in tunnels {
        for k in t.conn.ike_sa_secrets() {
            ike.push(json!({
                "tunnel": t.cfg.name,
                "spi_i": hexs(&k.spi_i), "spi_r": hexs(&k.spi_r),
                "sk_ei": hexs(&k.sk_ei), "sk_er": hexs(&k.sk_er),
                "encr": ike_encr(k.suite.encr),
                "sk_ai": hexs(&k.sk_ai), "sk_ar": hexs(&k.sk_ar),
                "integ": ike_integ(k.suite.integ),
            }));
        }
        for k in &t.esp_keys {
            for (src, dst, spi, key) in [
                (k.remote, k.local, k.inbound_spi, &k.inbound),
                (k.local, k.remote, k.outbound_spi, &k.outbound),
            ] {
                esp.push(json!({
                    "tunnel": t.cfg.name,
                    "src": src.ip().to_string(), "dst": dst.ip().to_string(),
                    "spi": format!("0x{spi:08x}"),
                    "encr": esp_encr(k.suite.encr), "encr_key": format!("0x{}", hexs(&key.encr_key)),
                    "auth": esp_auth(k.suite.integ),
                    "auth_key": if key.integ_key.is_empty() { String::new() } else { format!("0x{}", hexs(&key.integ_key)) },
                }));
            }
        }
    }
    json!({"ike_sas": ike, "esp_sas": esp})
}

async fn serve_metrics(
    listener: tokio::net::TcpListener,
    tx: mpsc::UnboundedSender<ControlRequest>,
) {
    let mut logged = None;
    loop {
        let Some((stream, _)) =
            accepted("metrics endpoint", listener.accept().await, &mut logged).await
        else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r.take(METRICS_REQUEST_MAX));
            let mut line = String::new();
            // Read the request head (bounded in size and time); every path gets the metrics.
            let head = async {
                loop {
                    line.clear();
                    match r.read_line(&mut line).await {
                        Ok(0) | Err(_) => return false,
                        Ok(_) if line.trim().is_empty() => return true,
                        Ok(_) => {}
                    }
                }
            };
            if !matches!(tokio::time::timeout(REQUEST_TIMEOUT, head).await, Ok(true)) {
                return;
            }
            let (otx, orx) = oneshot::channel();
            if tx.send(ControlRequest::Status(otx)).is_err() {
                return;
            }
            let Ok(v) = orx.await else { return };
            let body = cgw::status::metrics_text(&v);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = w.write_all(head.as_bytes()).await;
            let _ = w.write_all(body.as_bytes()).await;
        });
    }
}
