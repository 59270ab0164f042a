//! The BGP driver: one tokio task per tunnel owns the TCP connection to AWS's inside address
//! and feeds the sans-IO `cgw_bgp::Session`; the gateway keeps the RIB and the desired routes.

use cgw::gateway::BgpCommand as Command;
use cgw_bgp::{ConnId, Event, Peer, PeerEvent, SessionConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// What a session's task reports.
#[derive(Debug)]
pub enum Report {
    /// A BGP event of tunnel `tunnel`'s session.
    Event { tunnel: usize, event: Event },
}

/// Starts the task of tunnel `tunnel`'s session.
pub fn spawn(
    tunnel: usize,
    name: String,
    config: SessionConfig,
    passive: bool,
    cmds: mpsc::UnboundedReceiver<Command>,
    out: mpsc::Sender<Report>,
) {
    tokio::spawn(async move {
        if let Err(e) = run(tunnel, &name, config, passive, cmds, out).await {
            warn!("{name}: BGP task ended: {e}");
        }
    });
}

async fn connect(local: Ipv4Addr, peer: Ipv4Addr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(local.into(), 0))?;
    tokio::time::timeout(
        Duration::from_secs(5),
        s.connect(SocketAddr::new(peer.into(), cgw_bgp::BGP_PORT)),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

/// Up to two TCP connections: the session's, and a colliding one while RFC 4271 6.8 decides.
type Slots = [Option<(ConnId, TcpStream)>; 2];

async fn read_slot(
    slot: &mut Option<(ConnId, TcpStream)>,
    buf: &mut [u8],
) -> (ConnId, std::io::Result<usize>) {
    let (c, st) = slot.as_mut().expect("guarded");
    (*c, st.read(buf).await)
}

async fn run(
    tunnel: usize,
    name: &str,
    config: SessionConfig,
    passive: bool,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    out: mpsc::Sender<Report>,
) -> std::io::Result<()> {
    let (local, peer) = (config.local_address, config.peer_address);
    let mut p = Peer::new(config);
    let mut slots: Slots = [None, None];
    let mut next_id = 0u64;
    let mut connecting: Option<
        std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<TcpStream>> + Send>>,
    > = None;
    // AWS may connect to us as well; listen on our inside address once it exists.
    let mut listener: Option<TcpListener> = None;
    let mut buf = vec![0u8; 65536];
    let mut buf2 = vec![0u8; 65536];
    let mut up = false;
    let mut collisions = 0;
    loop {
        if listener.is_none() && up {
            listener = TcpListener::bind(SocketAddr::new(local.into(), cgw_bgp::BGP_PORT))
                .await
                .ok();
        }
        flush(&mut p, &mut slots, name).await;
        while let Some(ev) = p.poll_event() {
            match ev {
                PeerEvent::WantConnect => {
                    // A passive speaker only listens; the session waits in Connect/Active
                    // until the peer's connection is accepted.
                    if up && !passive {
                        connecting = Some(Box::pin(connect(local, peer)));
                    }
                }
                PeerEvent::Close(c) => {
                    for s in slots.iter_mut() {
                        if s.as_ref().is_some_and(|(id, _)| *id == c) {
                            *s = None;
                        }
                    }
                }
                PeerEvent::Session(Event::UpdateErrors(errs)) => {
                    for e in errs {
                        warn!("{name}: BGP UPDATE error from {peer}: {e:?}");
                    }
                }
                PeerEvent::Session(event) => {
                    let _ = out.send(Report::Event { tunnel, event }).await;
                }
            }
            // A Close may have come with more output (the next poll_event sees it).
            flush(&mut p, &mut slots, name).await;
        }
        if p.collisions() != collisions {
            collisions = p.collisions();
            info!("{name}: BGP connection collision with {peer} resolved (RFC 4271 6.8: the connection opened by the higher BGP identifier stays)");
        }
        let deadline = p
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let [s0, s1] = &mut slots;
        tokio::select! {
            (c, r) = read_slot(s0, &mut buf), if s0.is_some() => {
                let now = Instant::now();
                match r {
                    Ok(0) | Err(_) => { *s0 = None; p.closed(now, c); }
                    Ok(n) => p.handle_bytes(now, c, &buf[..n]),
                }
            }
            (c, r) = read_slot(s1, &mut buf2), if s1.is_some() => {
                let now = Instant::now();
                match r {
                    Ok(0) | Err(_) => { *s1 = None; p.closed(now, c); }
                    Ok(n) => p.handle_bytes(now, c, &buf2[..n]),
                }
            }
            r = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                connecting = None;
                let now = Instant::now();
                match r {
                    Ok(st) => {
                        next_id += 1;
                        let id = ConnId(next_id);
                        if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
                            if p.connected(now, id) {
                                let _ = st.set_nodelay(true);
                                *free = Some((id, st));
                            }
                        }
                    }
                    Err(e) => { debug!("{name}: BGP connect to {peer}: {e}"); p.connection_failed(now); }
                }
            }
            a = async { listener.as_ref().expect("guarded").accept().await }, if listener.is_some() => {
                if let Ok((st, from)) = a {
                    next_id += 1;
                    let id = ConnId(next_id);
                    if from.ip() == peer {
                        if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
                            if p.accept(Instant::now(), id) {
                                let _ = st.set_nodelay(true);
                                *free = Some((id, st));
                            }
                        }
                    }
                }
            }
            c = cmds.recv() => {
                let now = Instant::now();
                match c {
                    Some(Command::TunnelUp) => { if !up { up = true; info!("{name}: starting BGP to {peer}"); p.start(now); } }
                    Some(Command::TunnelDown) => {
                        if up {
                            up = false;
                            slots = [None, None];
                            connecting = None;
                            listener = None;
                            p.stop(now);
                            // The tunnel is gone: nothing can be sent; the Down event stays.
                            while p.poll_transmit().is_some() {}
                        }
                    }
                    Some(Command::Advertise(routes)) => p.advertise(now, &routes),
                    Some(Command::Shutdown) | None => {
                        p.stop(now);
                        flush(&mut p, &mut slots, name).await;
                        return Ok(());
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => p.handle_timeout(Instant::now()),
        }
    }
}

/// Writes what the peer queued to its connections; a failed write closes that connection.
async fn flush(p: &mut Peer, slots: &mut Slots, name: &str) {
    while let Some((c, bytes)) = p.poll_transmit() {
        let Some(slot) = slots
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|(id, _)| *id == c))
        else {
            continue;
        };
        let (_, st) = slot.as_mut().expect("found");
        if let Err(e) = st.write_all(&bytes).await {
            debug!("{name}: BGP write: {e}");
            *slot = None;
            p.closed(Instant::now(), c);
        }
    }
}
