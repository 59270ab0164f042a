//! `cgw up`: the driver of the gateway. The only place with sockets, TUN devices, netlink,
//! tokio and the clock.
//!
//! The decisions are the sans-IO [`cgw::gateway::Gateway`]'s: this module feeds it what
//! arrives (IKE datagrams, data-path events, BGP events, barrier confirmations, timeouts at
//! the instant it asked for) and carries out its actions in order: datagrams out, commands
//! to the data path thread (see [`dataplane`]), desired routes to the FIB task (see [`fib`]),
//! commands to the BGP session tasks (see [`bgp`]). It answers the control socket and the
//! metrics endpoint from the gateway's status.

pub mod bgp;
pub mod dataplane;
mod fib;
pub mod netlink;
pub mod privilege;
pub mod tun;

use anyhow::{anyhow, bail, Context, Result};
use cgw::config::{CgwConfig, Routing};
use cgw::gateway::{Action, BgpCommand, DatapathEvent, Gateway, Setup};
use cgw::status::Status;
use dataplane::{Command, TunnelSetup};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UdpSocket, UnixListener};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// How long shutdown waits for the peers to answer our Deletes.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

enum ControlRequest {
    Status(oneshot::Sender<Box<Status>>),
    Down(oneshot::Sender<Value>),
    Keys(oneshot::Sender<Value>),
}

/// Where the gateway's actions go.
struct Io {
    dp: dataplane::Handle,
    natt: StdUdpSocket,
    ike500: UdpSocket,
    fib: fib::FibHandle,
    bgp: Vec<Option<mpsc::UnboundedSender<BgpCommand>>>,
    barriers: mpsc::Sender<(usize, u64)>,
    /// Per tunnel: the data path's last ESP receive time already told to the gateway.
    esp_seen: Vec<u64>,
}

impl Io {
    /// Tells the gateway of ESP the data path received since the last look (dead-peer
    /// detection counts it as proof of life).
    fn feed_esp(&mut self, gw: &mut Gateway) {
        let now = Instant::now();
        for (i, seen) in self.esp_seen.iter_mut().enumerate() {
            let ms = self.dp.counters[i].last_rx_ms.load(Ordering::Relaxed);
            if ms != *seen && ms > 0 {
                *seen = ms;
                let at = self.dp.started + Duration::from_millis(ms - 1);
                gw.handle_datapath(now, DatapathEvent::EspReceived { tunnel: i, at });
            }
        }
    }

    /// Carries out the gateway's actions, in order.
    async fn carry_out(&mut self, gw: &mut Gateway) {
        while let Some(a) = gw.poll_action() {
            match a {
                Action::Transmit { tunnel, transmit } => {
                    let r = if transmit.needs_non_esp_marker() {
                        let mut m = Vec::with_capacity(transmit.contents.len() + 4);
                        m.extend_from_slice(&[0, 0, 0, 0]);
                        m.extend_from_slice(&transmit.contents);
                        self.natt.send_to(&m, transmit.remote).map(|_| ())
                    } else {
                        self.ike500
                            .send_to(&transmit.contents, transmit.remote)
                            .await
                            .map(|_| ())
                    };
                    if let Err(e) = r {
                        warn!(
                            "{}: sending IKE to {}: {e}",
                            gw.tunnel_name(tunnel),
                            transmit.remote
                        );
                    }
                }
                Action::NatKeepalive { remote, .. } => {
                    let _ = self.natt.send_to(&[0xff], remote);
                }
                Action::Datapath(cmd) => self.dp.send(Command::Gateway(cmd)),
                Action::Barrier { tunnel, token } => {
                    // Waiting happens elsewhere: a barrier on one tunnel delays nothing else.
                    let (tx, rx) = oneshot::channel();
                    self.dp.send(Command::Barrier(tx));
                    let done = self.barriers.clone();
                    tokio::spawn(async move {
                        if rx.await.is_ok() {
                            let _ = done.send((tunnel, token)).await;
                        }
                    });
                }
                Action::Routes {
                    source,
                    routes,
                    rules,
                } => self.fib.set(source, routes, rules),
                Action::Bgp { tunnel, command } => {
                    if let Some(Some(tx)) = self.bgp.get(tunnel) {
                        let _ = tx.send(command);
                    }
                }
                Action::StateChanged { tunnel, state } => {
                    tracing::debug!("{}: state {state}", gw.tunnel_name(tunnel));
                }
            }
        }
    }
}

/// Runs the gateway until SIGTERM, SIGINT or `cgw down`.
/// Whether the daemon drops its capabilities once set up ([`privilege`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privileges {
    /// Keep only what the running daemon needs (`cgw up`, one emulated endpoint).
    Drop,
    /// Keep them: another daemon on this thread is still being set up (`cgw emulate-aws`
    /// with both endpoints in one process).
    Keep,
}

pub async fn run(config: CgwConfig, privileges: Privileges) -> Result<()> {
    let gwc = &config.gateway;
    if unsafe { libc::geteuid() } != 0 {
        warn!("not running as root: cgw needs CAP_NET_ADMIN (TUN devices, routes), CAP_NET_BIND_SERVICE (UDP 500/4500) and CAP_NET_RAW (raw ESP)");
    }
    let nl = netlink::Netlink::new()?;
    netlink::sysctl("net/ipv4/ip_forward", "1").context("enabling IPv4 forwarding (needs root)")?;

    // Sockets first: if another IKE daemon holds the ports, say so before touching anything.
    let local = IpAddr::V4(gwc.local_address);
    let ike500 = UdpSocket::bind(SocketAddr::new(local, cgw_ike::IKE_PORT))
        .await
        .map_err(|e| explain_bind(e, local, cgw_ike::IKE_PORT))?;
    let natt = StdUdpSocket::bind(SocketAddr::new(local, cgw_ike::NAT_T_PORT))
        .map_err(|e| explain_bind(e, local, cgw_ike::NAT_T_PORT))?;
    let natt_send = natt.try_clone()?;
    natt_send.set_nonblocking(true)?;
    let raw_esp = match dataplane::open_raw_esp(gwc.local_address) {
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

    let (sizes_events, sizes_ike, sizes_init) = dataplane::QUEUE_SIZES;
    let (dp_tx, mut dp_rx) = mpsc::channel(sizes_events);
    let (ike_tx, mut ike_rx) = mpsc::channel(sizes_ike);
    let (init_tx, mut init_rx) = mpsc::channel(sizes_init);
    let queue_drops = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let dp = dataplane::start(
        setups,
        natt,
        raw_esp,
        dataplane::EventQueues {
            events: dp_tx,
            ike: ike_tx,
            ike_init: init_tx,
            dropped: queue_drops.clone(),
        },
    )?;

    // BGP: the prefixes connected to `advertise_interfaces` are advertised besides `lan`.
    let mut connected = Vec::new();
    for ifname in &config.gateway.advertise_interfaces {
        match nl.connected_prefixes(ifname).await {
            Ok(prefixes) => connected.extend(
                prefixes
                    .into_iter()
                    .filter_map(|(net, len)| cgw_bgp::Ipv4Prefix::new(net, len).ok()),
            ),
            Err(e) => warn!("BGP: advertise_interfaces: {e:#}"),
        }
    }
    let mut gw = Gateway::new(
        &config,
        Setup {
            ifindexes: ifindexes.clone(),
            connected,
        },
        Instant::now(),
        &mut || Box::new(cgw_crypto::SystemRandom::new()),
    )
    .map_err(|e| anyhow!("{e}"))?;

    // Routes: one task keeps cgw's routes and rules in the kernel (and prunes a crashed
    // earlier run's rules at its first look).
    let devices: std::collections::HashMap<u32, String> = ifindexes
        .iter()
        .zip(&config.tunnels)
        .map(|(i, t)| (*i, t.device.clone()))
        .collect();
    let fib = fib::spawn(
        nl.clone(),
        devices,
        config.gateway.route_table.unwrap_or(cgw::fib::MAIN_TABLE),
    );

    // BGP: one session task per tunnel over its inside addresses.
    let (bgp_tx, mut bgp_rx) = mpsc::channel(INPUT_QUEUE);
    let bgp_cmds = spawn_bgp(&config, bgp_tx);

    // Control socket.
    let (ctl_tx, mut ctl_rx) = mpsc::channel(INPUT_QUEUE);
    let sock_path = config.gateway.control_socket.clone();
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
    if privileges == Privileges::Drop {
        match privilege::keep_only(&privilege::KEPT) {
            Ok(left) => {
                let mut names: Vec<String> = left.iter().map(|c| c.to_string()).collect();
                names.sort();
                info!(
                    "set up: capabilities reduced to {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            }
            Err(e) => warn!("could not reduce capabilities: {e:#}"),
        }
    }

    let (barrier_tx, mut barrier_rx) = mpsc::channel(INPUT_QUEUE);
    let mut io = Io {
        esp_seen: vec![0; dp.counters.len()],
        dp,
        natt: natt_send,
        ike500,
        fib,
        bgp: bgp_cmds,
        barriers: barrier_tx,
    };
    let local_ike = SocketAddr::new(local, cgw_ike::IKE_PORT);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut buf = vec![0u8; 65536];
    let mut shutdown_reply: Option<oneshot::Sender<Value>> = None;
    info!(
        "cgw up: {} tunnel(s), routing {}",
        gw.tunnel_count(),
        cgw::gateway::routing_mode(config.gateway.routing)
    );

    // The gateway asks for the instant of its next timer; nothing runs on a tick.
    let status = |gw: &Gateway, io: &Io| {
        let counters: Vec<&cgw::status::Counters> =
            io.dp.counters.iter().map(|c| &c.table).collect();
        gw.status(
            Instant::now(),
            &counters,
            io.dp.esp_from_strangers.load(Ordering::Relaxed),
            queue_drops.load(Ordering::Relaxed),
        )
    };
    loop {
        io.feed_esp(&mut gw);
        let now = Instant::now();
        if gw.poll_timeout().is_some_and(|t| t <= now) {
            gw.handle_timeout(now);
        }
        io.carry_out(&mut gw).await;
        let deadline = gw
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        // In order of priority (timers are served at the top of every turn): a shutdown, the
        // control socket, the data path's barrier answers and events, IKE of existing SAs,
        // BGP, then new IKE SAs (what a flood is made of) on either port.
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => { info!("SIGINT: shutting down"); break; }
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break; }
            Some(req) = ctl_rx.recv() => match req {
                ControlRequest::Status(tx) => {
                    let _ = tx.send(Box::new(status(&gw, &io)));
                }
                ControlRequest::Down(tx) => { shutdown_reply = Some(tx); break; }
                ControlRequest::Keys(tx) => {
                    warn!("control socket: session keys requested (cgw keys)");
                    let _ = tx.send(gw.session_keys());
                }
            },
            Some((tunnel, token)) = barrier_rx.recv() => gw.handle_barrier(Instant::now(), tunnel, token),
            Some(ev) = dp_rx.recv() => {
                // ESP received just before an echo answer or a rekey request counts first.
                io.feed_esp(&mut gw);
                let now = Instant::now();
                handle_dp_event(&mut gw, now, ev);
            }
            Some(ev) = ike_rx.recv() => {
                io.feed_esp(&mut gw);
                handle_dp_event(&mut gw, Instant::now(), ev);
            }
            Some(bgp::Report::Event { tunnel, event }) = bgp_rx.recv() => gw.handle_bgp(Instant::now(), tunnel, event),
            r = io.ike500.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    gw.handle_ike(Instant::now(), local_ike, from, &buf[..n]);
                }
            }
            Some(ev) = init_rx.recv() => handle_dp_event(&mut gw, Instant::now(), ev),
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }

    // Shutdown: Delete the SAs, wait briefly for the answers, remove routes and devices.
    gw.close(Instant::now());
    let until = Instant::now() + SHUTDOWN_WAIT;
    loop {
        let now = Instant::now();
        if gw.poll_timeout().is_some_and(|t| t <= now) {
            gw.handle_timeout(now);
        }
        io.carry_out(&mut gw).await;
        if gw.is_closed() || now >= until {
            break;
        }
        let deadline = gw.poll_timeout().map_or(until, |t| t.min(until));
        tokio::select! {
            r = io.ike500.recv_from(&mut buf) => if let Ok((n, from)) = r {
                gw.handle_ike(Instant::now(), local_ike, from, &buf[..n]);
            },
            // The peers' answers to our Deletes come as IKE of existing SAs (on port 4500
            // through the data path's queue); events and new IKE SAs are no longer of use.
            Some(ev @ dataplane::Event::Ike { .. }) = ike_rx.recv() => handle_dp_event(&mut gw, Instant::now(), ev),
            Some((tunnel, token)) = barrier_rx.recv() => gw.handle_barrier(Instant::now(), tunnel, token),
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    // The BGP tasks send their Cease.
    tokio::time::sleep(Duration::from_millis(100)).await;
    io.fib.flush().await;
    io.dp.shutdown();
    let _ = std::fs::remove_file(&sock_path);
    info!("cgw stopped: SAs deleted, routes removed");
    if let Some(tx) = shutdown_reply {
        let _ = tx.send(json!({"ok": true}));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Starts one BGP session task per tunnel that has `[tunnel.bgp]` (with `routing = "bgp"`).
fn spawn_bgp(
    config: &CgwConfig,
    out: mpsc::Sender<bgp::Report>,
) -> Vec<Option<mpsc::UnboundedSender<BgpCommand>>> {
    let enabled = config.gateway.routing == Routing::Bgp;
    config
        .tunnels
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let b = t.bgp.as_ref().filter(|_| enabled)?;
            let sc = t.bgp_session_config(config.gateway.effective_public_address())?;
            let (tx, rx) = mpsc::unbounded_channel();
            bgp::spawn(i, t.name.clone(), sc, b.passive, rx, out.clone());
            Some(tx)
        })
        .collect()
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

/// The size of each queue into the control loop from its tasks (the control socket's and the
/// metrics endpoint's connections, the BGP sessions, finished barriers). A full queue makes
/// its sender wait; the control loop never does.
const INPUT_QUEUE: usize = 64;

/// Hands one event of the data path to the gateway.
fn handle_dp_event(gw: &mut Gateway, now: Instant, ev: dataplane::Event) {
    match ev {
        dataplane::Event::Ike {
            local,
            remote,
            data,
        } => gw.handle_ike(now, local, remote, &data),
        dataplane::Event::RekeyNeeded {
            tunnel,
            inbound_spi,
        } => gw.handle_datapath(
            now,
            DatapathEvent::RekeyNeeded {
                tunnel,
                inbound_spi,
            },
        ),
        dataplane::Event::EchoReply { tunnel, seq } => {
            gw.handle_datapath(now, DatapathEvent::EchoReply { tunnel, seq })
        }
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

async fn serve_control(listener: UnixListener, tx: mpsc::Sender<ControlRequest>) {
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
                let tx = tx.clone();
                async move {
                    if tx.send(make(otx)).await.is_ok() {
                        orx.await.ok()
                    } else {
                        None
                    }
                }
            };
            let reply = match line.trim() {
                "status" => {
                    let (otx, orx) = oneshot::channel();
                    if tx.send(ControlRequest::Status(otx)).await.is_err() {
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

async fn serve_metrics(listener: tokio::net::TcpListener, tx: mpsc::Sender<ControlRequest>) {
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
            if tx.send(ControlRequest::Status(otx)).await.is_err() {
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
