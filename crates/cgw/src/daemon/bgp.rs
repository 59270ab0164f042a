//! The BGP driver: one tokio task per tunnel owns the TCP connection to AWS's inside address
//! and feeds the sans-IO `cgw_bgp::Session`; the main loop keeps the RIB and the kernel routes.

use cgw_bgp::{Event, LocalRoute, Session, SessionConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// What the main loop tells a session's task.
#[derive(Debug)]
pub enum Command {
    /// The tunnel carries traffic: (re)start the session.
    TunnelUp,
    /// The tunnel went down: the session is over now, not after the hold time.
    TunnelDown,
    /// Advertise these prefixes.
    Advertise(Vec<LocalRoute>),
    /// Send a Cease and stop.
    Shutdown,
}

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
    out: mpsc::UnboundedSender<Report>,
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

async fn run(
    tunnel: usize,
    name: &str,
    config: SessionConfig,
    passive: bool,
    mut cmds: mpsc::UnboundedReceiver<Command>,
    out: mpsc::UnboundedSender<Report>,
) -> std::io::Result<()> {
    let (local, peer) = (config.local_address, config.peer_address);
    let mut s = Session::new(config);
    let mut stream: Option<TcpStream> = None;
    let mut connecting: Option<
        std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<TcpStream>> + Send>>,
    > = None;
    // AWS may connect to us as well; listen on our inside address once it exists.
    let mut listener: Option<TcpListener> = None;
    let mut buf = vec![0u8; 65536];
    let mut up = false;
    loop {
        if listener.is_none() && up {
            listener = TcpListener::bind(SocketAddr::new(local.into(), cgw_bgp::BGP_PORT))
                .await
                .ok();
        }
        while let Some(bytes) = s.poll_transmit() {
            if let Some(st) = stream.as_mut() {
                if let Err(e) = st.write_all(&bytes).await {
                    debug!("{name}: BGP write: {e}");
                    stream = None;
                    s.closed(Instant::now());
                }
            }
        }
        while let Some(ev) = s.poll_event() {
            match &ev {
                Event::WantConnect => {
                    // A passive speaker only listens; the session waits in Connect/Active
                    // until the peer's connection is accepted.
                    if up && !passive {
                        connecting = Some(Box::pin(connect(local, peer)));
                    }
                    continue;
                }
                Event::Disconnect => {
                    stream = None;
                    connecting = None;
                    continue;
                }
                Event::UpdateErrors(errs) => {
                    for e in errs {
                        warn!("{name}: BGP UPDATE error from {peer}: {e:?}");
                    }
                    continue;
                }
                _ => {}
            }
            let _ = out.send(Report::Event { tunnel, event: ev });
        }
        let deadline = s
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = async { stream.as_mut().expect("guarded").read(&mut buf).await }, if stream.is_some() => {
                let now = Instant::now();
                match r {
                    Ok(0) | Err(_) => { stream = None; s.closed(now); }
                    Ok(n) => s.handle_bytes(now, &buf[..n]),
                }
            }
            r = async { connecting.as_mut().expect("guarded").await }, if connecting.is_some() => {
                connecting = None;
                let now = Instant::now();
                match r {
                    Ok(st) => if s.connected(now) { let _ = st.set_nodelay(true); stream = Some(st); },
                    Err(e) => { debug!("{name}: BGP connect to {peer}: {e}"); s.connection_failed(now); }
                }
            }
            a = async { listener.as_ref().expect("guarded").accept().await }, if listener.is_some() => {
                if let Ok((st, from)) = a {
                    if from.ip() == peer && stream.is_none() && s.accept(Instant::now()) {
                        connecting = None;
                        let _ = st.set_nodelay(true);
                        stream = Some(st);
                    }
                }
            }
            c = cmds.recv() => {
                let now = Instant::now();
                match c {
                    Some(Command::TunnelUp) => { if !up { up = true; info!("{name}: starting BGP to {peer}"); s.start(now); } }
                    Some(Command::TunnelDown) => {
                        if up {
                            up = false;
                            stream = None;
                            connecting = None;
                            listener = None;
                            s.stop(now);
                            while s.poll_transmit().is_some() {}
                        }
                    }
                    Some(Command::Advertise(routes)) => s.advertise(now, &routes),
                    Some(Command::Shutdown) | None => {
                        s.stop(now);
                        while let Some(bytes) = s.poll_transmit() {
                            if let Some(st) = stream.as_mut() { let _ = st.write_all(&bytes).await; }
                        }
                        return Ok(());
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => s.handle_timeout(Instant::now()),
        }
    }
}
