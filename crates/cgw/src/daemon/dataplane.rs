//! The data path: one thread that moves packets between the TUN devices and the network.
//!
//! It owns the ESP SAs. Per wakeup it drains up to `BATCH` packets from each TUN device and
//! sends their ESP packets with one `sendmmsg`, and receives up to `BATCH` datagrams from the
//! NAT-T socket with one `recvmmsg` (plus raw ESP when no NAT is on the path). It never
//! allocates per packet: every buffer is allocated once at start. The control side talks to it
//! through a command channel and an eventfd that wakes its `poll`.

use cgw::packet;
use cgw::sa_table::{DatapathCommand, SaTable};
use cgw::status::{Counter, Counters};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use super::tun::Tun;

/// Packets handled per batch.
const BATCH: usize = 32;
/// Size of one packet buffer: the largest inner packet read from TUN plus ESP overhead.
const BUF: usize = 2048 + 128;
/// Where the inner packet starts in a buffer (room for the ESP header and IV).
const HEADROOM: usize = 64;
/// Largest packet read from a TUN device.
const TUN_READ: usize = 2048;
/// `UDP_SEGMENT` (linux/udp.h): the segment size of a UDP GSO send.
const UDP_SEGMENT: libc::c_int = 103;
/// The kernel's limit on segments in one UDP GSO send (UDP_MAX_SEGMENTS).
const GSO_MAX_SEGMENTS: usize = 64;
/// Bytes of payload in one GSO send (an IP packet's 64 KiB less headers).
const GSO_MAX_BYTES: usize = 65_000;
/// `UDP_GRO` (linux/udp.h): receive coalesced runs, with their segment size in a cmsg.
const UDP_GRO: libc::c_int = 104;
/// Receive messages per `recvmmsg`.
const RX_BATCH: usize = 16;
/// One receive buffer: the largest UDP GRO run.
const RX_BUF: usize = 65_536;

/// The segment size of a coalesced (UDP GRO) receive, from its control messages.
fn gro_segment_size(h: &libc::msghdr) -> Option<usize> {
    // SAFETY: walking the control messages the kernel wrote into h's control buffer, with
    // the CMSG_* helpers and the length it reported.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(v).ok().filter(|&v| v > 0);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// Asks the kernel for UDP GRO on `udp` (Linux 5.0 and later); a refusal only costs speed.
fn enable_gro(udp: &UdpSocket) {
    if std::env::var_os("CGW_NO_GRO").is_some() {
        return;
    }
    let one: libc::c_int = 1;
    // SAFETY: setsockopt(2) with a valid int option value.
    let r = unsafe {
        libc::setsockopt(
            udp.as_raw_fd(),
            libc::SOL_UDP,
            UDP_GRO,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        tracing::info!(
            "UDP GRO not available ({}); receiving datagram by datagram",
            io::Error::last_os_error()
        );
    }
}

/// Counters of one tunnel's data path, readable from any thread: the status document's
/// table ([`Counters`], indexed by [`Counter`]) and the time the peer was last heard.
#[derive(Debug, Default)]
pub struct TunnelCounters {
    /// Traffic and drops.
    pub table: Counters,
    /// Milliseconds since the data path started when the last valid ESP packet arrived (0: never).
    pub last_rx_ms: AtomicU64,
}

impl TunnelCounters {
    fn inc(&self, c: Counter) {
        self.table.inc(c);
    }
}

/// What the data path needs to know about a tunnel.
pub struct TunnelSetup {
    /// Its TUN device.
    pub tun: Tun,
    /// Tunnel MTU (largest inner packet).
    pub mtu: usize,
    /// TCP MSS clamp.
    pub mss: u16,
    /// Our inside address (source of ICMP errors and monitor echoes).
    pub inside: Ipv4Addr,
    /// AWS's inside address (the monitor's target).
    pub aws_inside: Ipv4Addr,
    /// The AWS endpoint's outside address: ESP from it that no SA takes (an unknown SPI, a
    /// datagram too short for ESP) is counted on this tunnel.
    pub peer: Ipv4Addr,
}

/// Commands from the control side.
pub enum Command {
    /// What the gateway asked for (SA changes, monitor echoes).
    Gateway(DatapathCommand),
    /// Answers once every earlier command is applied (and everything encrypted before it has
    /// been handed to the kernel).
    Barrier(tokio::sync::oneshot::Sender<()>),
    /// Stops the thread.
    Shutdown,
}

/// What the data path tells the control side.
#[derive(Debug)]
pub enum Event {
    /// An IKE message arrived on the NAT-T port (non-ESP marker stripped).
    Ike {
        /// Our address it arrived on.
        local: SocketAddr,
        /// Sender.
        remote: SocketAddr,
        /// The IKE message.
        data: Vec<u8>,
    },
    /// The outbound SA is near its sequence number limit: rekey its Child SA.
    RekeyNeeded {
        /// Tunnel index.
        tunnel: usize,
        /// The Child SA's inbound SPI.
        inbound_spi: u32,
    },
    /// An answer to a monitor echo.
    EchoReply {
        /// Tunnel index.
        tunnel: usize,
        /// Sequence number.
        seq: u16,
    },
}

struct Tunnel {
    setup: TunnelSetup,
    /// Its ESP SAs (the same table the in-memory gateway tests drive).
    sas: SaTable,
    counters: Arc<TunnelCounters>,
}

/// The handle the control side keeps.
pub struct Handle {
    commands: mpsc::Sender<Command>,
    wake: OwnedFd,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Per-tunnel counters.
    pub counters: Vec<Arc<TunnelCounters>>,
    /// When the data path started (base of `last_rx_ms`).
    pub started: Instant,
    /// ESP (or UDP 4500 datagrams) from addresses that are no tunnel's peer.
    pub esp_from_strangers: Arc<AtomicU64>,
}

impl Handle {
    /// Sends a command and wakes the thread.
    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a valid u64 to an eventfd we own.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Stops the thread and waits for it.
    pub fn shutdown(&mut self) {
        self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The queues from the data path thread to the control loop. Each is bounded; what does not
/// fit is dropped and counted in `dropped` (the data path never waits for the control loop).
pub struct EventQueues {
    /// Echo replies and rekey requests.
    pub events: tokio::sync::mpsc::Sender<Event>,
    /// IKE on port 4500 for an IKE SA that exists (a responder SPI is set): the peer's DPD,
    /// rekeys and deletes, served before `ike_init`.
    pub ike: tokio::sync::mpsc::Sender<Event>,
    /// IKE_SA_INIT on port 4500 (no responder SPI yet): what a flood is made of.
    pub ike_init: tokio::sync::mpsc::Sender<Event>,
    /// Events and datagrams dropped because their queue was full.
    pub dropped: Arc<AtomicU64>,
}

/// Queue sizes of [`EventQueues`]: (events, IKE of existing SAs, IKE_SA_INIT).
pub const QUEUE_SIZES: (usize, usize, usize) = (1024, 256, 64);

impl EventQueues {
    fn push(&self, queue: &tokio::sync::mpsc::Sender<Event>, ev: Event) {
        if queue.try_send(ev).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts the data path thread. `udp` is the NAT-T socket (port 4500), `raw_esp` an optional
/// raw IP protocol 50 socket; `queues` receive IKE-on-4500, echo replies and rekey requests.
pub fn start(
    tunnels: Vec<TunnelSetup>,
    udp: UdpSocket,
    raw_esp: Option<OwnedFd>,
    queues: EventQueues,
) -> io::Result<Handle> {
    // SAFETY: eventfd(2) returns a new descriptor or -1.
    let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor we own.
    let wake = unsafe { OwnedFd::from_raw_fd(efd) };
    // SAFETY: duplicating a valid descriptor.
    let wake_thread = unsafe { OwnedFd::from_raw_fd(libc::dup(efd)) };
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    let counters: Vec<Arc<TunnelCounters>> = tunnels.iter().map(|_| Arc::default()).collect();
    let esp_from_strangers = Arc::new(AtomicU64::new(0));
    for t in &tunnels {
        t.tun.set_nonblocking()?;
    }
    udp.set_nonblocking(true)?;
    enable_gro(&udp);
    let local = udp.local_addr()?;
    let mut dp = Dataplane {
        tunnels: tunnels
            .into_iter()
            .zip(counters.iter().cloned())
            .map(|(setup, counters)| Tunnel {
                setup,
                sas: SaTable::default(),
                counters,
            })
            .collect(),
        udp,
        local,
        raw_esp,
        commands: rx,
        wake: wake_thread,
        queues,
        started,
        esp_from_strangers: esp_from_strangers.clone(),
        bufs: vec![[0u8; BUF]; BATCH],
        lens: [0; BATCH],
        dests: [None; BATCH],
        scratch: [0u8; BUF],
        gso: std::env::var_os("CGW_NO_GSO").is_none(),
        rx: vec![0u8; RX_BATCH * RX_BUF],
    };
    let thread = std::thread::Builder::new()
        .name("cgw-dataplane".into())
        .spawn(move || dp.run())?;
    Ok(Handle {
        commands: tx,
        wake,
        thread: Some(thread),
        counters,
        started,
        esp_from_strangers,
    })
}

struct Dataplane {
    tunnels: Vec<Tunnel>,
    udp: UdpSocket,
    local: SocketAddr,
    raw_esp: Option<OwnedFd>,
    commands: mpsc::Receiver<Command>,
    wake: OwnedFd,
    queues: EventQueues,
    started: Instant,
    esp_from_strangers: Arc<AtomicU64>,
    bufs: Vec<[u8; BUF]>,
    lens: [usize; BATCH],
    /// Per buffer: (destination, via UDP?) of an ESP packet ready to send.
    dests: [Option<(SocketAddr, bool)>; BATCH],
    scratch: [u8; BUF],
    /// Send runs of equal-sized datagrams as one UDP GSO message (off after the kernel
    /// refuses one).
    gso: bool,
    /// Receive buffers: `RX_BATCH` of `RX_BUF` bytes (a UDP GRO run can be 64 KiB).
    rx: Vec<u8>,
}

impl Dataplane {
    fn run(&mut self) {
        // Its sockets and devices are open: this thread needs no capability from here on.
        if let Err(e) = super::privilege::drop_all_on_this_thread() {
            tracing::warn!("data path: could not drop its capabilities: {e:#}");
        }
        let mut fds: Vec<libc::pollfd> = Vec::new();
        fds.push(pollfd(self.wake.as_raw_fd()));
        fds.push(pollfd(self.udp.as_raw_fd()));
        fds.push(pollfd(self.raw_esp.as_ref().map_or(-1, |f| f.as_raw_fd())));
        for t in &self.tunnels {
            fds.push(pollfd(t.setup.tun.as_raw_fd()));
        }
        loop {
            for f in fds.iter_mut() {
                f.revents = 0;
            }
            // SAFETY: fds is a valid array of pollfd.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!("data path poll failed: {e}");
                return;
            }
            if fds[0].revents != 0 {
                let mut v = [0u8; 8];
                // SAFETY: reading 8 bytes into a local array from our eventfd.
                unsafe { libc::read(self.wake.as_raw_fd(), v.as_mut_ptr().cast(), 8) };
            }
            if !self.drain_commands() {
                return;
            }
            let now = Instant::now();
            for t in self.tunnels.iter_mut() {
                t.sas.expire(now);
            }
            if fds[1].revents != 0 {
                self.receive_udp();
            }
            if fds[2].revents != 0 {
                self.receive_raw();
            }
            for i in 0..self.tunnels.len() {
                if fds[3 + i].revents != 0 {
                    self.read_tun(i);
                }
            }
        }
    }

    /// Applies commands; false on shutdown.
    fn drain_commands(&mut self) -> bool {
        while let Ok(c) = self.commands.try_recv() {
            match c {
                Command::Gateway(DatapathCommand::Echo { tunnel, seq }) => {
                    self.send_echo(tunnel, seq)
                }
                Command::Gateway(cmd) => {
                    if let Some(t) = self.tunnels.get_mut(cmd.tunnel()) {
                        t.sas.apply(Instant::now(), cmd);
                    }
                }
                Command::Barrier(done) => {
                    let _ = done.send(());
                }
                Command::Shutdown => return false,
            }
        }
        true
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    fn send_echo(&mut self, tunnel: usize, seq: u16) {
        let Some(t) = self.tunnels.get(tunnel) else {
            return;
        };
        let (src, dst) = (t.setup.inside, t.setup.aws_inside);
        let buf = &mut self.bufs[0];
        if let Some(n) = packet::icmp_echo_request(
            src,
            dst,
            packet::MONITOR_ECHO_ID,
            seq,
            16,
            &mut buf[HEADROOM..],
        ) {
            self.lens[0] = 0;
            if self.encapsulate(tunnel, 0, n) {
                self.flush(1);
            }
        }
    }

    /// Encapsulates the inner packet at `bufs[i][HEADROOM..HEADROOM + len]` for `tunnel`; on
    /// success the ESP packet is described by `lens[i]` and `dests[i]` (starting at offset
    /// `HEADROOM - headroom`, recorded by moving it to the buffer's start).
    fn encapsulate(&mut self, tunnel: usize, i: usize, len: usize) -> bool {
        let t = &mut self.tunnels[tunnel];
        // Ask for a rekey at the soft limit (packets, bytes, or well before the sequence
        // number runs out).
        if let Some(child) = t.sas.rekey_due(None) {
            self.queues.push(
                &self.queues.events,
                Event::RekeyNeeded {
                    tunnel,
                    inbound_spi: child,
                },
            );
        }
        let Some(o) = t.sas.outbound_mut() else {
            t.counters.inc(Counter::NoSa);
            self.dests[i] = None;
            return false;
        };
        match o.sa.encapsulate(&mut self.bufs[i], HEADROOM, len, 4) {
            Ok(r) => {
                self.bufs[i].copy_within(r.clone(), 0);
                self.lens[i] = r.len();
                self.dests[i] = Some((o.remote, o.udp_encap));
                t.counters.inc(Counter::TxPackets);
                t.counters.table.add(Counter::TxBytes, len as u64);
                true
            }
            Err(e) => {
                t.counters
                    .inc(if e == cgw_esp::EspError::TrafficSelectorMismatch {
                        Counter::TsOutbound
                    } else {
                        Counter::IoErrors
                    });
                self.dests[i] = None;
                false
            }
        }
    }

    /// Reads a batch from TUN device `tunnel`, encapsulates, and sends.
    fn read_tun(&mut self, tunnel: usize) {
        loop {
            let mut n = 0;
            while n < BATCH {
                let read = self.tunnels[tunnel]
                    .setup
                    .tun
                    .read(&mut self.bufs[n][HEADROOM..HEADROOM + TUN_READ]);
                let len = match read {
                    Ok(0) => break,
                    Ok(l) => l,
                    Err(_) => break,
                };
                n += self.prepare(tunnel, n, len);
            }
            if n == 0 {
                return;
            }
            self.flush(n);
            if n < BATCH {
                return;
            }
        }
    }

    /// Handles one packet read from TUN into `bufs[i]`: MSS clamping, the MTU (ICMP or
    /// fragmentation), encapsulation. Returns how many buffers it filled (0 or 1; fragments
    /// are sent at once).
    fn prepare(&mut self, tunnel: usize, i: usize, len: usize) -> usize {
        let (mtu, mss, inside) = {
            let s = &self.tunnels[tunnel].setup;
            (s.mtu, s.mss, s.inside)
        };
        let pkt = &mut self.bufs[i][HEADROOM..HEADROOM + len];
        if pkt.first().map(|b| b >> 4) != Some(4) {
            // IPv6 (or junk) has no Child SA to go to: the selectors are 0.0.0.0/0.
            self.tunnels[tunnel].counters.inc(Counter::NotIpv4);
            return 0;
        }
        if packet::clamp_tcp_mss(pkt, mss) {
            self.tunnels[tunnel].counters.inc(Counter::MssClamped);
        }
        if len > mtu {
            if let Some(info) = packet::ipv4_info(pkt) {
                if info.dont_fragment {
                    if let Some(m) =
                        packet::icmp_frag_needed(pkt, inside, mtu as u16, &mut self.scratch)
                    {
                        let t = &self.tunnels[tunnel];
                        let _ = t.setup.tun.write(&self.scratch[..m]);
                        t.counters.inc(Counter::IcmpFragNeeded);
                    }
                    return 0;
                }
                // Fragment before encryption (AWS does not reassemble encrypted fragments).
                let orig: [u8; BUF] = self.bufs[i];
                let orig = &orig[HEADROOM..HEADROOM + len];
                self.tunnels[tunnel].counters.inc(Counter::Fragmented);
                let mut k = 0;
                while let Some(f) = packet::ipv4_fragment(
                    orig,
                    mtu,
                    k,
                    &mut self.bufs[i][HEADROOM..HEADROOM + TUN_READ],
                ) {
                    if self.encapsulate(tunnel, i, f) {
                        self.send_one(i);
                    }
                    k += 1;
                }
                return 0;
            }
        }
        usize::from(self.encapsulate(tunnel, i, len))
    }

    fn send_one(&mut self, i: usize) {
        if let Some((dst, udp)) = self.dests[i] {
            let data = &self.bufs[i][..self.lens[i]];
            let r = if udp {
                self.udp.send_to(data, dst).map(|_| ())
            } else {
                raw_send(self.raw_esp.as_ref(), data, dst)
            };
            if r.is_err() {
                self.count_io_error(dst);
            }
        }
    }

    /// The tunnel whose ESP goes to (or comes from) `peer`'s address.
    fn tunnel_of_peer(&self, peer: SocketAddr) -> Option<usize> {
        self.tunnels
            .iter()
            .position(|t| t.sas.outbound().is_some_and(|o| o.remote.ip() == peer.ip()))
    }

    fn count_io_error(&self, dst: SocketAddr) {
        if let Some(t) = self.tunnel_of_peer(dst) {
            self.tunnels[t].counters.inc(Counter::IoErrors);
        }
    }

    /// Sends buffers `0..n` that hold ESP packets: UDP ones with one sendmmsg, where runs of
    /// equal-sized datagrams to the same peer (a TCP bulk transfer's full-sized packets) go as
    /// one UDP GSO message (`UDP_SEGMENT`): the kernel then carries the run through its stack
    /// as one buffer and cuts it into datagrams as late as it can.
    fn flush(&mut self, n: usize) {
        let mut addrs: [libc::sockaddr_in; BATCH] = [zero_sockaddr(); BATCH];
        let mut iovs: [libc::iovec; BATCH] = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        // One control buffer per message, for the UDP_SEGMENT option (u64s for alignment).
        let mut cmsgs = [[0u64; 4]; BATCH];
        // SAFETY: mmsghdr is plain data; zeroed is a valid initial value.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        // Per message: (first buffer index, buffer count, segment size if GSO).
        let mut groups: [(usize, usize, usize); BATCH] = [(0, 0, 0); BATCH];
        let mut m = 0;
        let mut v = 0;
        for i in 0..n {
            match self.dests[i] {
                Some((SocketAddr::V4(dst), true)) => {
                    iovs[v] = libc::iovec {
                        iov_base: self.bufs[i].as_mut_ptr().cast(),
                        iov_len: self.lens[i],
                    };
                    // Extend the current run: same peer, the run's size so far, and the
                    // previous datagram not a short (final) one.
                    // (A run always ends at the previous UDP buffer: runs are contiguous.)
                    let extend = self.gso && m > 0 && {
                        let (first, count, seg) = groups[m - 1];
                        from_sockaddr(&addrs[m - 1]) == SocketAddr::V4(dst)
                            && count < GSO_MAX_SEGMENTS
                            && iovs[first + count - 1].iov_len == seg
                            && self.lens[i] <= seg
                            && (count + 1) * seg <= GSO_MAX_BYTES
                    };
                    if extend {
                        groups[m - 1].1 += 1;
                    } else {
                        addrs[m] = sockaddr_in(dst);
                        groups[m] = (v, 1, self.lens[i]);
                        m += 1;
                    }
                    v += 1;
                }
                Some((_, false)) => self.send_one(i),
                _ => {}
            }
        }
        for k in 0..m {
            let (first, count, seg) = groups[k];
            if count > 1 {
                if let Some(t) = self.tunnel_of_peer(from_sockaddr(&addrs[k])) {
                    self.tunnels[t].counters.inc(Counter::GsoSends);
                }
            }
            msgs[k].msg_hdr.msg_name = (&mut addrs[k] as *mut libc::sockaddr_in).cast();
            msgs[k].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
            msgs[k].msg_hdr.msg_iov = &mut iovs[first];
            msgs[k].msg_hdr.msg_iovlen = count;
            if count > 1 {
                // SAFETY: the control buffer is 32 bytes, aligned for cmsghdr, and holds
                // CMSG_SPACE(2); the header pointer comes from CMSG_FIRSTHDR on it.
                unsafe {
                    let h = &mut msgs[k].msg_hdr;
                    h.msg_control = cmsgs[k].as_mut_ptr().cast();
                    h.msg_controllen = libc::CMSG_SPACE(2) as usize;
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg as u16);
                }
            }
        }
        let mut sent = 0;
        while sent < m {
            // SAFETY: msgs[sent..m] point at live buffers, addresses, iovecs and control
            // buffers on this stack frame and in self.bufs, which outlive the call.
            let r = unsafe {
                libc::sendmmsg(
                    self.udp.as_raw_fd(),
                    msgs.as_mut_ptr().add(sent),
                    (m - sent) as u32,
                    0,
                )
            };
            if r <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    // Socket buffer full: wait until writable, then retry the rest.
                    let mut p = pollfd(self.udp.as_raw_fd());
                    p.events = libc::POLLOUT;
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 100) };
                    continue;
                }
                let (first, count, _) = groups[sent];
                if count > 1 && self.gso {
                    // The kernel or the route refused GSO (e.g. a path MTU below the
                    // segment size): send datagram by datagram from now on.
                    tracing::warn!("UDP GSO refused ({e}); sending datagrams one by one");
                    self.gso = false;
                    for iov in &iovs[first..first + count] {
                        // SAFETY: iov points into self.bufs, live for this call.
                        let data = unsafe {
                            std::slice::from_raw_parts(iov.iov_base as *const u8, iov.iov_len)
                        };
                        let dst = from_sockaddr(&addrs[sent]);
                        if self.udp.send_to(data, dst).is_err() {
                            self.count_io_error(dst);
                        }
                    }
                    sent += 1;
                    continue;
                }
                self.count_io_error(from_sockaddr(&addrs[sent]));
                sent += 1;
                continue;
            }
            sent += r as usize;
        }
    }

    /// Receives a batch of datagrams on the NAT-T socket. With UDP GRO the kernel hands over
    /// a run of equal-sized datagrams from one peer as one buffer (and says the size); each
    /// datagram in it is handled on its own.
    fn receive_udp(&mut self) {
        let mut rx = std::mem::take(&mut self.rx);
        loop {
            let mut addrs: [libc::sockaddr_in; RX_BATCH] = [zero_sockaddr(); RX_BATCH];
            let mut iovs: [libc::iovec; RX_BATCH] = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; RX_BATCH];
            let mut cmsgs = [[0u64; 8]; RX_BATCH];
            // SAFETY: plain data.
            let mut msgs: [libc::mmsghdr; RX_BATCH] = unsafe { std::mem::zeroed() };
            for (k, chunk) in rx.chunks_exact_mut(RX_BUF).enumerate() {
                iovs[k] = libc::iovec {
                    iov_base: chunk.as_mut_ptr().cast(),
                    iov_len: RX_BUF,
                };
                msgs[k].msg_hdr.msg_name = (&mut addrs[k] as *mut libc::sockaddr_in).cast();
                msgs[k].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                msgs[k].msg_hdr.msg_iov = &mut iovs[k];
                msgs[k].msg_hdr.msg_iovlen = 1;
                msgs[k].msg_hdr.msg_control = cmsgs[k].as_mut_ptr().cast();
                msgs[k].msg_hdr.msg_controllen = std::mem::size_of_val(&cmsgs[k]);
            }
            // SAFETY: every msghdr points at live buffers of the stated sizes.
            let r = unsafe {
                libc::recvmmsg(
                    self.udp.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    RX_BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if r <= 0 {
                break;
            }
            let r = r as usize;
            for k in 0..r {
                let len = msgs[k].msg_len as usize;
                let from = from_sockaddr(&addrs[k]);
                let seg = gro_segment_size(&msgs[k].msg_hdr).unwrap_or(len).max(1);
                if seg < len {
                    if let Some(t) = self.tunnel_of_peer(from) {
                        self.tunnels[t].counters.inc(Counter::GroReceives);
                    }
                }
                let chunk = &mut rx[k * RX_BUF..k * RX_BUF + len];
                for d in chunk.chunks_mut(seg) {
                    self.datagram(d, from);
                }
            }
            if r < RX_BATCH {
                break;
            }
        }
        self.rx = rx;
    }

    /// Hands one UDP-4500 datagram on (RFC 3948): keepalives end here, IKE goes to the
    /// control loop (existing SAs' and new ones' apart), ESP is decapsulated.
    fn datagram(&mut self, d: &mut [u8], from: SocketAddr) {
        let ike = match packet::classify_natt(d) {
            packet::NatTDatagram::Keepalive => return,
            packet::NatTDatagram::Esp => None,
            packet::NatTDatagram::Ike { message, new_sa } => Some((message.to_vec(), new_sa)),
        };
        let Some((message, new_sa)) = ike else {
            return self.esp(d, from.ip());
        };
        let ev = Event::Ike {
            local: self.local,
            remote: from,
            data: message,
        };
        let q = if new_sa {
            &self.queues.ike_init
        } else {
            &self.queues.ike
        };
        self.queues.push(q, ev);
    }

    /// Receives raw ESP packets (IP header included).
    fn receive_raw(&mut self) {
        let Some(fd) = self.raw_esp.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut rx = std::mem::take(&mut self.rx);
        for _ in 0..BATCH {
            // SAFETY: reading into a live buffer of RX_BUF bytes.
            let n = unsafe { libc::recv(fd, rx.as_mut_ptr().cast(), RX_BUF, libc::MSG_DONTWAIT) };
            if n <= 0 {
                break;
            }
            let n = n as usize;
            let ihl = (rx[0] & 0x0f) as usize * 4;
            if n <= ihl {
                continue;
            }
            if n < 20 {
                continue;
            }
            let src = IpAddr::V4(Ipv4Addr::new(rx[12], rx[13], rx[14], rx[15]));
            self.esp(&mut rx[ihl..n], src);
        }
        self.rx = rx;
    }

    /// Decapsulates the ESP packet `pkt` and writes the inner packet to the right TUN
    /// device.
    fn esp(&mut self, pkt: &mut [u8], src: IpAddr) {
        let now_ms = self.now_ms();
        // Drops that no SA can account for go to the tunnel whose peer sent them (looked up
        // only then: the hot path never scans the tunnels by address).
        let count_foreign = |this: &Self, c: Counter| match this
            .tunnels
            .iter()
            .find(|t| IpAddr::V4(t.setup.peer) == src)
        {
            Some(t) => t.counters.inc(c),
            None => {
                this.esp_from_strangers.fetch_add(1, Ordering::Relaxed);
            }
        };
        if pkt.len() < 8 {
            count_foreign(self, Counter::EspTooShort);
            return;
        }
        let spi = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
        let Some(ti) = self.tunnels.iter().position(|t| t.sas.has_inbound(spi)) else {
            count_foreign(self, Counter::UnknownSpi);
            return;
        };
        let t = &mut self.tunnels[ti];
        let sa = t.sas.inbound_mut(spi).expect("found above");
        let before = *sa.drops();
        let result = sa.decapsulate(pkt);
        let after = *sa.drops();
        match result {
            Ok(d) => {
                t.counters.last_rx_ms.store(now_ms, Ordering::Relaxed);
                if let Some(child) = t.sas.rekey_due(Some(spi)) {
                    self.queues.push(
                        &self.queues.events,
                        Event::RekeyNeeded {
                            tunnel: ti,
                            inbound_spi: child,
                        },
                    );
                }
                let inner = &mut pkt[d.inner.clone()];
                if let Some(seq) =
                    packet::icmp_echo_reply_seq(inner, t.setup.inside, packet::MONITOR_ECHO_ID)
                {
                    self.queues
                        .push(&self.queues.events, Event::EchoReply { tunnel: ti, seq });
                    return;
                }
                packet::clamp_tcp_mss(inner, t.setup.mss);
                match t.setup.tun.write(inner) {
                    Ok(_) => {
                        t.counters.inc(Counter::RxPackets);
                        t.counters.table.add(Counter::RxBytes, inner.len() as u64);
                    }
                    Err(_) => t.counters.inc(Counter::IoErrors),
                }
            }
            Err(_) => {
                let c = &t.counters.table;
                for (counter, n) in [
                    (Counter::BadLength, after.bad_length - before.bad_length),
                    (Counter::Replay, after.replay - before.replay),
                    (Counter::AuthFailed, after.auth_failed - before.auth_failed),
                    (Counter::BadPadding, after.bad_padding - before.bad_padding),
                    (
                        Counter::BadNextHeader,
                        after.bad_next_header - before.bad_next_header,
                    ),
                    (Counter::TsMismatch, after.ts_mismatch - before.ts_mismatch),
                    (
                        Counter::MalformedInner,
                        (after.malformed_inner + after.dummy)
                            - (before.malformed_inner + before.dummy),
                    ),
                ] {
                    if n > 0 {
                        c.add(counter, n);
                    }
                }
            }
        }
    }
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn zero_sockaddr() -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: 0,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: 0 },
        sin_zero: [0; 8],
    }
}

pub(crate) fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn from_sockaddr(a: &libc::sockaddr_in) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
        u16::from_be(a.sin_port),
    ))
}

fn raw_send(fd: Option<&OwnedFd>, data: &[u8], dst: SocketAddr) -> io::Result<()> {
    let (Some(fd), SocketAddr::V4(dst)) = (fd, dst) else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no raw ESP socket",
        ));
    };
    let sa = sockaddr_in(SocketAddrV4::new(*dst.ip(), 0));
    // SAFETY: sending from a live slice to a valid sockaddr_in.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Opens a raw IP socket for protocol 50 (ESP without UDP encapsulation).
/// A raw IP protocol 50 socket bound to `local`, so that it sees only ESP sent to our
/// address (two cgw instances on one host, e.g. both endpoints of `cgw emulate-aws`, do not
/// see each other's packets).
pub fn open_raw_esp(local: std::net::Ipv4Addr) -> io::Result<OwnedFd> {
    // SAFETY: socket(2); result checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            50,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = sockaddr_in(SocketAddrV4::new(local, 0));
    // SAFETY: bind(2) with a valid sockaddr_in of the right length; result checked.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}
