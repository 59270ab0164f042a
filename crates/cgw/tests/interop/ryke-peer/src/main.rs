//! ryke-peer: drives the `ryke` 0.3.0 IKEv2 library as the "AWS side" of a cgw tunnel.
//!
//! Everything IKE-protocol-specific (SA_INIT, AUTH, CHILD/IKE rekey, INFORMATIONAL, ESP
//! sealing/opening, key derivation) is done by ryke's public API. This driver only adds
//! what ryke leaves to its consumer: sockets (UDP 500/4500, raw IP protocol 50), a TUN
//! device, message-ID bookkeeping, retransmission, routing Delete payloads to SAs and a
//! control FIFO to trigger peer-side exchanges.
//!
//! One peer-side workaround is applied (switchable): ryke's IKE_AUTH parser stores the
//! *last* ID payload it sees (IDi or IDr) as "the peer's ID", so an initiator that sends
//! the optional IDr (RFC 7296 1.2; cgw always does) fails AUTH. With `--idr-fix on`
//! (default) the driver removes IDr from the decrypted request before handing it to
//! `ryke::responder_process_auth`.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ryke::ikev2::message::{encode_payload_chain, first_payload_type};
use ryke::ikev2::payload::{id_type, protocol_id, transform_id, transform_type};
use ryke::ikev2::rekey::{build_rekey_request, initiator_complete_rekey};
use ryke::{
    build_encrypted_gcm, build_informational, initiator_auth_request, initiator_complete,
    initiator_request, initiator_verify_auth, is_ike_sa_rekey, notify_type, open_encrypted_gcm,
    payloads, responder_process_auth, responder_process_ike_rekey, responder_process_rekey,
    responder_respond_natt, AuthConfig, ChildSa, CompletedSaInit, Delete, Entropy, ExchangeType,
    Identification, IkeHeader, LocalSecret, Notify, OsEntropy, PayloadType, Proposal, Role,
    SaInitResult, SecurityAssociation, Transform,
};

// ---------------------------------------------------------------- logging

fn ts() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let s = d.as_secs();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        d.subsec_millis()
    )
}

macro_rules! log {
    ($($a:tt)*) => {{ eprintln!("{} ryke-peer {}", ts(), format!($($a)*)); }};
}

// ---------------------------------------------------------------- args

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Responder,
    Initiator,
}

struct Args {
    mode: Mode,
    local: Ipv4Addr,
    peer: Ipv4Addr,
    psk: Vec<u8>,
    tun: String,
    dh: u16,
    /// Further DH groups offered after `dh` in the same proposal (KE is always for `dh`).
    dh_more: Vec<u16>,
    idr_fix: bool,
    ctl: Option<String>,
    dpd_every: Option<u64>,
}

fn usage() -> ! {
    eprintln!(
        "usage: ryke-peer --mode responder|initiator --local A.B.C.D --peer A.B.C.D --psk PSK \
         [--tun NAME] [--dh G[,G2..]  (14|31|2; KE for the first)] [--idr-fix on|off] [--ctl FIFO] [--dpd-every SECS]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        mode: Mode::Responder,
        local: Ipv4Addr::UNSPECIFIED,
        peer: Ipv4Addr::UNSPECIFIED,
        psk: Vec::new(),
        tun: "rk0".into(),
        dh: 14,
        dh_more: Vec::new(),
        idr_fix: true,
        ctl: None,
        dpd_every: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_else(|| usage());
        match v[i].as_str() {
            "--mode" => {
                a.mode = match val.as_str() {
                    "responder" => Mode::Responder,
                    "initiator" => Mode::Initiator,
                    _ => usage(),
                }
            }
            "--local" => a.local = val.parse().unwrap_or_else(|_| usage()),
            "--peer" => a.peer = val.parse().unwrap_or_else(|_| usage()),
            "--psk" => a.psk = val.into_bytes(),
            "--tun" => a.tun = val,
            "--dh" => {
                let mut g = val
                    .split(',')
                    .map(|x| x.parse::<u16>().unwrap_or_else(|_| usage()));
                a.dh = g.next().unwrap_or_else(|| usage());
                a.dh_more = g.collect();
            }
            "--idr-fix" => a.idr_fix = val == "on",
            "--ctl" => a.ctl = Some(val),
            "--dpd-every" => a.dpd_every = Some(val.parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
        i += 2;
    }
    if a.local.is_unspecified() || a.peer.is_unspecified() || a.psk.is_empty() {
        usage()
    }
    a
}

// ---------------------------------------------------------------- OS helpers

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn open_tun(name: &str) -> io::Result<OwnedFd> {
    let path = CString::new("/dev/net/tun").unwrap();
    let fd = cvt(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    })?;
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in name.bytes().take(15).enumerate() {
        ifr.ifr_name[i] = b as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &ifr) })?;
    Ok(fd)
}

fn open_raw_esp(local: Ipv4Addr) -> io::Result<OwnedFd> {
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            50,
        )
    })?;
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sa = sockaddr_in(local);
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    })?;
    Ok(fd)
}

fn sockaddr_in(a: Ipv4Addr) -> libc::sockaddr_in {
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as u16;
    sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
    sa
}

fn raw_send(fd: RawFd, data: &[u8], dst: Ipv4Addr) -> io::Result<()> {
    let sa = sockaddr_in(dst);
    let r = unsafe {
        libc::sendto(
            fd,
            data.as_ptr().cast(),
            data.len(),
            0,
            &sa as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn fd_read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn fd_write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

fn open_fifo(path: &str) -> io::Result<OwnedFd> {
    let p = CString::new(path).unwrap();
    unsafe { libc::mkfifo(p.as_ptr(), 0o600) };
    let fd = cvt(unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---------------------------------------------------------------- state

struct Child {
    keys: ChildSa,
    /// SPI we chose (inbound; the peer stamps it on packets to us).
    local_spi: u32,
    /// SPI the peer chose (we stamp it on outbound packets).
    peer_spi: u32,
    /// Owning IKE SA (spi_i, spi_r).
    owner: (u64, u64),
    rx: u64,
    tx: u64,
    /// This child replaced `rekey_of` (by local SPI); not yet used for output.
    rekey_of: Option<u32>,
}

enum Pending {
    Auth {
        child_spi: u32,
    },
    Dpd,
    DeleteChild {
        local_spis: Vec<u32>,
    },
    DeleteIke,
    ChildRekey {
        old_local: u32,
        new_spi: u32,
        ni: Vec<u8>,
    },
}

impl Pending {
    fn name(&self) -> &'static str {
        match self {
            Pending::Auth { .. } => "IKE_AUTH",
            Pending::Dpd => "INFORMATIONAL(DPD)",
            Pending::DeleteChild { .. } => "INFORMATIONAL(Delete ESP)",
            Pending::DeleteIke => "INFORMATIONAL(Delete IKE)",
            Pending::ChildRekey { .. } => "CREATE_CHILD_SA(rekey Child)",
        }
    }
}

struct InFlight {
    mid: u32,
    bytes: Vec<u8>,
    sent: Instant,
    tries: u32,
    what: Pending,
}

struct Ike {
    sa: CompletedSaInit,
    established: bool,
    /// Next request Message ID we expect from the peer.
    peer_next: u32,
    /// Cached response to the peer's last request (for retransmissions).
    last_resp: Option<(u32, Vec<u8>)>,
    /// Next Message ID for our own requests.
    my_next: u32,
    inflight: Option<InFlight>,
    queue: VecDeque<Pending>,
    created: Instant,
    last_heard: Instant,
}

impl Ike {
    fn key(&self) -> (u64, u64) {
        (self.sa.spi_i, self.sa.spi_r)
    }
    fn peer_key(&self) -> &[u8] {
        match self.sa.role {
            Role::Initiator => &self.sa.keys.sk_er,
            Role::Responder => &self.sa.keys.sk_ei,
        }
    }
}

struct InitState {
    local: LocalSecret,
    request: Vec<u8>,
    sent: Instant,
    tries: u32,
    dh: u16,
}

struct Peer {
    args: Args,
    ent: OsEntropy,
    auth: AuthConfig,
    udp500: UdpSocket,
    udp4500: UdpSocket,
    raw: OwnedFd,
    tun: OwnedFd,
    ctl: Option<OwnedFd>,
    ctl_buf: Vec<u8>,
    ikes: Vec<Ike>,
    children: Vec<Child>,
    /// Local SPI of the child used for outbound traffic.
    active: Option<u32>,
    /// Where IKE goes (port 500, or 4500 with the non-ESP marker after a float).
    ike_dst: SocketAddr,
    ike_on_4500: bool,
    /// ESP in UDP (seen from the peer on 4500) instead of raw protocol 50.
    esp_udp: Option<SocketAddr>,
    init: Option<InitState>,
    /// No new IKE_SA_INIT before this instant (back-off after a refusal).
    retry_at: Instant,
    mute_ike: bool,
    mute_esp: bool,
    last_dpd: Instant,
    esp_bad: u64,
    tun_no_sa: u64,
}

fn ip_of(a: Ipv4Addr) -> Identification {
    Identification {
        id_type: id_type::IPV4_ADDR,
        data: a.octets().to_vec(),
    }
}

fn offer(dh: u16, more: &[u16]) -> SecurityAssociation {
    let mut sa = SecurityAssociation {
        proposals: vec![Proposal {
            num: 1,
            protocol_id: protocol_id::IKE,
            spi: Vec::new(),
            transforms: vec![
                Transform {
                    transform_type: transform_type::ENCR,
                    transform_id: transform_id::AES_GCM_16,
                    key_length: Some(256),
                },
                Transform {
                    transform_type: transform_type::PRF,
                    transform_id: transform_id::PRF_HMAC_SHA2_256,
                    key_length: None,
                },
                Transform {
                    transform_type: transform_type::DH,
                    transform_id: dh,
                    key_length: None,
                },
            ],
        }],
    };
    for g in more.iter().filter(|g| **g != dh) {
        sa.proposals[0].transforms.push(Transform {
            transform_type: transform_type::DH,
            transform_id: *g,
            key_length: None,
        });
    }
    sa
}

fn exch_name(e: ExchangeType) -> String {
    match e {
        ExchangeType::IkeSaInit => "IKE_SA_INIT".into(),
        ExchangeType::IkeAuth => "IKE_AUTH".into(),
        ExchangeType::CreateChildSa => "CREATE_CHILD_SA".into(),
        ExchangeType::Informational => "INFORMATIONAL".into(),
        ExchangeType::Other(v) => format!("exchange {v}"),
    }
}

/// A one-line summary of a payload list: types, notify types, Delete contents.
fn summarize(list: &[(PayloadType, Vec<u8>)]) -> String {
    let mut out = Vec::new();
    for (t, d) in list {
        out.push(match t {
            PayloadType::Notify => match Notify::parse(d) {
                Ok(n) => format!("N({})", n.notify_type),
                Err(_) => "N(?)".into(),
            },
            PayloadType::Delete => match Delete::parse(d) {
                Ok(x) => format!(
                    "D(proto {} spis [{}])",
                    x.protocol_id,
                    x.spis
                        .iter()
                        .map(|s| format!("{s:08x}"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Err(_) => "D(?)".into(),
            },
            PayloadType::KeyExchange => {
                if d.len() >= 2 {
                    format!("KE(group {})", u16::from_be_bytes([d[0], d[1]]))
                } else {
                    "KE".into()
                }
            }
            PayloadType::SecurityAssociation => match SecurityAssociation::parse(d) {
                Ok(sa) => format!(
                    "SA({})",
                    sa.proposals
                        .iter()
                        .map(|p| format!(
                            "#{} proto {} spi {} [{}]",
                            p.num,
                            p.protocol_id,
                            p.spi.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                            p.transforms
                                .iter()
                                .map(|t| match t.key_length {
                                    Some(k) =>
                                        format!("{}:{}/{}", t.transform_type, t.transform_id, k),
                                    None => format!("{}:{}", t.transform_type, t.transform_id),
                                })
                                .collect::<Vec<_>>()
                                .join(" ")
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Err(e) => format!("SA(unparsable: {e})"),
            },
            PayloadType::IdInitiator => "IDi".into(),
            PayloadType::IdResponder => "IDr".into(),
            PayloadType::Authentication => "AUTH".into(),
            PayloadType::Nonce => "No".into(),
            PayloadType::TrafficSelectorInitiator => "TSi".into(),
            PayloadType::TrafficSelectorResponder => "TSr".into(),
            PayloadType::Configuration => "CP".into(),
            PayloadType::VendorId => "V".into(),
            other => format!("{other:?}"),
        });
    }
    out.join(" ")
}

fn plain_list(hdr: &IkeHeader, data: &[u8]) -> Vec<(PayloadType, Vec<u8>)> {
    payloads(hdr.next_payload, &data[IkeHeader::LEN.min(data.len())..])
        .filter_map(|p| p.ok())
        .map(|p| (p.payload_type, p.data.to_vec()))
        .collect()
}

fn decrypt_list(key: &[u8], data: &[u8]) -> Result<Vec<(PayloadType, Vec<u8>)>, ryke::IkeError> {
    let (first, inner) = open_encrypted_gcm(data, key)?;
    let mut out = Vec::new();
    for p in payloads(first, &inner) {
        let p = p?;
        out.push((p.payload_type, p.data.to_vec()));
    }
    Ok(out)
}

impl Peer {
    fn rand_u32(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            self.ent.fill(&mut b);
            let v = u32::from_be_bytes(b);
            if v >= 256 {
                return v;
            }
        }
    }
    fn iv(&mut self) -> [u8; 8] {
        let mut b = [0u8; 8];
        self.ent.fill(&mut b);
        b
    }
    fn nonce(&mut self) -> Vec<u8> {
        let mut b = vec![0u8; 32];
        self.ent.fill(&mut b);
        b
    }

    fn send_ike(&self, bytes: &[u8]) {
        let r = if self.ike_on_4500 {
            let mut v = vec![0u8; 4];
            v.extend_from_slice(bytes);
            self.udp4500.send_to(&v, self.ike_dst)
        } else {
            self.udp500.send_to(bytes, self.ike_dst)
        };
        if let Err(e) = r {
            log!("send IKE to {}: {e}", self.ike_dst);
        }
    }

    fn ike_idx(&self, key: (u64, u64)) -> Option<usize> {
        self.ikes.iter().position(|i| i.key() == key)
    }

    /// The newest established IKE SA (the one our own requests go on).
    fn current_ike(&self) -> Option<usize> {
        self.ikes
            .iter()
            .enumerate()
            .filter(|(_, i)| i.established)
            .max_by_key(|(_, i)| i.created)
            .map(|(n, _)| n)
    }

    // ------------------------------------------------------------ IKE input

    fn on_ike(&mut self, data: &[u8], from: SocketAddr, via4500: bool) {
        let hdr = match IkeHeader::parse(data) {
            Ok(h) => h,
            Err(e) => {
                log!("unparsable IKE from {from}: {e}");
                return;
            }
        };
        if self.mute_ike {
            log!(
                "MUTED: dropping {} {} mid {} from {from}",
                exch_name(hdr.exchange_type),
                if hdr.flags.response {
                    "response"
                } else {
                    "request"
                },
                hdr.message_id
            );
            return;
        }
        if via4500 && !self.ike_on_4500 {
            log!("peer floated IKE to UDP 4500 ({from})");
            self.ike_on_4500 = true;
        }
        self.ike_dst = from;
        let key = (hdr.initiator_spi, hdr.responder_spi);
        // Summary (decrypted when we can).
        let summary = if hdr.exchange_type == ExchangeType::IkeSaInit {
            summarize(&plain_list(&hdr, data))
        } else if let Some(n) = self.ike_idx(key) {
            match decrypt_list(self.ikes[n].peer_key(), data) {
                Ok(l) => format!("SK{{{}}}", summarize(&l)),
                Err(e) => format!("SK{{undecryptable: {e}}}"),
            }
        } else if hdr.flags.response && hdr.exchange_type == ExchangeType::IkeAuth {
            "SK{..}".into()
        } else {
            "SK{unknown IKE SA}".into()
        };
        log!(
            "<- {} {} mid {} spi {:016x}/{:016x} {} {}",
            exch_name(hdr.exchange_type),
            if hdr.flags.response {
                "response"
            } else {
                "request"
            },
            hdr.message_id,
            hdr.initiator_spi,
            hdr.responder_spi,
            from,
            summary
        );
        if hdr.flags.response {
            self.on_response(hdr, data);
        } else {
            self.on_request(hdr, data, from);
        }
    }

    fn on_request(&mut self, hdr: IkeHeader, data: &[u8], from: SocketAddr) {
        if hdr.exchange_type == ExchangeType::IkeSaInit {
            return self.on_sa_init_request(hdr, data, from);
        }
        let key = (hdr.initiator_spi, hdr.responder_spi);
        let Some(n) = self.ike_idx(key) else {
            log!(
                "request for unknown IKE SA {:016x}/{:016x}: ignored",
                key.0,
                key.1
            );
            return;
        };
        self.ikes[n].last_heard = Instant::now();
        let mid = hdr.message_id;
        if let Some((m, resp)) = &self.ikes[n].last_resp {
            if *m == mid {
                log!("retransmitted request mid {mid}: resending cached response");
                let r = resp.clone();
                self.send_ike(&r);
                return;
            }
        }
        if mid != self.ikes[n].peer_next {
            log!(
                "request mid {mid} but expected {}: ignored",
                self.ikes[n].peer_next
            );
            return;
        }
        let resp = match hdr.exchange_type {
            ExchangeType::IkeAuth => self.on_auth_request(n, data),
            ExchangeType::CreateChildSa => self.on_create_child(n, data),
            ExchangeType::Informational => self.on_informational(n, data, mid),
            other => {
                log!("{}: not handled", exch_name(other));
                None
            }
        };
        if let Some(resp) = resp {
            // The SA may have been removed (Delete IKE) — look it up again.
            if let Some(n) = self.ike_idx(key) {
                self.ikes[n].last_resp = Some((mid, resp.clone()));
                self.ikes[n].peer_next = mid + 1;
            }
            self.send_ike(&resp);
        } else if let Some(n) = self.ike_idx(key) {
            // ryke produced no response; still consume the Message ID so that we do not
            // loop on it (the peer will retransmit and time out).
            self.ikes[n].peer_next = mid + 1;
        }
    }

    fn on_sa_init_request(&mut self, hdr: IkeHeader, data: &[u8], from: SocketAddr) {
        if let Some(i) = self
            .ikes
            .iter()
            .find(|i| i.sa.spi_i == hdr.initiator_spi && !i.established)
        {
            if let Some((0, r)) = &i.last_resp {
                log!("retransmitted IKE_SA_INIT: resending cached response");
                let r = r.clone();
                self.send_ike(&r);
                return;
            }
        }
        let local = LocalSecret::generate(&mut self.ent, 32);
        let our = SocketAddr::V4(SocketAddrV4::new(self.args.local, 500));
        match responder_respond_natt(data, &local, our, from, None) {
            Ok(SaInitResult::Established { response, sa }) => {
                log!(
                    "ryke: IKE_SA_INIT answered: suite encr {} prf {} dh {} spi_r {:016x}",
                    sa.suite.encr_id,
                    sa.suite.prf_id,
                    sa.suite.dh_id,
                    sa.spi_r
                );
                let now = Instant::now();
                self.ikes.push(Ike {
                    sa,
                    established: false,
                    peer_next: 1,
                    last_resp: Some((0, response.clone())),
                    my_next: 0,
                    inflight: None,
                    queue: VecDeque::new(),
                    created: now,
                    last_heard: now,
                });
                self.send_ike(&response);
            }
            Ok(SaInitResult::InvalidKe { response, group }) => {
                log!("ryke: INVALID_KE_PAYLOAD, wants group {group}");
                self.send_ike(&response);
            }
            Ok(SaInitResult::CookieRequired { response }) => self.send_ike(&response),
            Err(e) => log!("ryke: responder_respond_natt failed: {e} (ryke sends no error notify)"),
        }
    }

    /// Workaround for ryke's IDi/IDr confusion: drop IDr from the request (decrypt, filter,
    /// re-encrypt in memory with the same key and IV; the result never leaves the process).
    fn strip_idr(ike: &Ike, data: &[u8]) -> Result<Vec<u8>, ryke::IkeError> {
        let key = ike.peer_key();
        let list = decrypt_list(key, data)?;
        if !list.iter().any(|(t, _)| *t == PayloadType::IdResponder) {
            return Ok(data.to_vec());
        }
        let kept: Vec<_> = list
            .into_iter()
            .filter(|(t, _)| *t != PayloadType::IdResponder)
            .collect();
        let hdr = IkeHeader::parse(data)?;
        let iv: [u8; 8] = data[IkeHeader::LEN + 4..IkeHeader::LEN + 12]
            .try_into()
            .unwrap();
        build_encrypted_gcm(
            hdr,
            first_payload_type(&kept),
            &encode_payload_chain(&kept),
            key,
            &iv,
        )
    }

    fn on_auth_request(&mut self, n: usize, data: &[u8]) -> Option<Vec<u8>> {
        let req = if self.args.idr_fix {
            match Self::strip_idr(&self.ikes[n], data) {
                Ok(r) => {
                    if r.len() != data.len() {
                        log!("workaround: removed the optional IDr from the IKE_AUTH request before ryke parses it");
                    }
                    r
                }
                Err(e) => {
                    log!("strip_idr: {e}");
                    data.to_vec()
                }
            }
        } else {
            data.to_vec()
        };
        let child_spi = self.rand_u32();
        let iv = self.iv();
        match responder_process_auth(&self.ikes[n].sa, &req, &self.auth, child_spi, &iv, None) {
            Ok((resp, peer_id, peer_child_spi)) => {
                let ike = &mut self.ikes[n];
                ike.established = true;
                log!(
                    "ryke: IKE_AUTH ok, peer ID type {} {:?}; Child SA in {:08x} out {:08x}",
                    peer_id.id_type,
                    peer_id.data,
                    child_spi,
                    peer_child_spi
                );
                let keys = ChildSa::derive(
                    &ike.sa.keys.sk_d,
                    &ike.sa.ni,
                    &ike.sa.nr,
                    Role::Responder,
                    child_spi,
                    peer_child_spi,
                );
                let owner = ike.key();
                self.children.push(Child {
                    keys,
                    local_spi: child_spi,
                    peer_spi: peer_child_spi,
                    owner,
                    rx: 0,
                    tx: 0,
                    rekey_of: None,
                });
                self.active = Some(child_spi);
                Some(resp)
            }
            Err(e) => {
                log!("ryke: responder_process_auth failed: {e} (ryke builds no AUTHENTICATION_FAILED response)");
                None
            }
        }
    }

    fn on_create_child(&mut self, n: usize, data: &[u8]) -> Option<Vec<u8>> {
        let list = match decrypt_list(self.ikes[n].peer_key(), data) {
            Ok(l) => l,
            Err(e) => {
                log!("CREATE_CHILD_SA undecryptable: {e}");
                return None;
            }
        };
        let iv = self.iv();
        if is_ike_sa_rekey(&list) {
            let local = LocalSecret::generate(&mut self.ent, 32);
            match responder_process_ike_rekey(
                &self.ikes[n].sa,
                data,
                local.spi,
                &local.dh_private,
                &local.nonce,
                &iv,
            ) {
                Ok((resp, new_sa)) => {
                    let old = self.ikes[n].key();
                    let new = (new_sa.spi_i, new_sa.spi_r);
                    log!(
                        "ryke: IKE SA rekeyed {:016x}/{:016x} -> {:016x}/{:016x} (dh {})",
                        old.0,
                        old.1,
                        new.0,
                        new.1,
                        new_sa.suite.dh_id
                    );
                    for c in self.children.iter_mut().filter(|c| c.owner == old) {
                        c.owner = new;
                    }
                    let now = Instant::now();
                    self.ikes.push(Ike {
                        sa: new_sa,
                        established: true,
                        peer_next: 0,
                        last_resp: None,
                        my_next: 0,
                        inflight: None,
                        queue: VecDeque::new(),
                        created: now,
                        last_heard: now,
                    });
                    Some(resp)
                }
                Err(e) => {
                    log!("ryke: responder_process_ike_rekey failed: {e}");
                    None
                }
            }
        } else {
            let rekey_spi = list.iter().find_map(|(t, d)| {
                if *t != PayloadType::Notify {
                    return None;
                }
                let n = Notify::parse(d).ok()?;
                (n.notify_type == notify_type::REKEY_SA && n.spi.len() == 4)
                    .then(|| u32::from_be_bytes(n.spi[..4].try_into().unwrap()))
            });
            if list.iter().any(|(t, _)| *t == PayloadType::KeyExchange) {
                log!("note: request carries KE (PFS); ryke's responder_process_rekey ignores it");
            }
            let new_spi = self.rand_u32();
            let nr = self.nonce();
            match responder_process_rekey(&self.ikes[n].sa, data, new_spi, &nr, &iv, None) {
                Ok((resp, keys)) => {
                    let peer_spi = keys.outbound.spi();
                    // REKEY_SA carries the peer's inbound SPI of the SA being rekeyed.
                    let old_local = rekey_spi.and_then(|s| {
                        self.children
                            .iter()
                            .find(|c| c.peer_spi == s)
                            .map(|c| c.local_spi)
                    });
                    log!(
                        "ryke: {} new Child SA in {:08x} out {:08x}{}",
                        if rekey_spi.is_some() {
                            "rekey:"
                        } else {
                            "create:"
                        },
                        new_spi,
                        peer_spi,
                        match old_local {
                            Some(o) => format!(" (replaces in {o:08x})"),
                            None => String::new(),
                        }
                    );
                    let owner = self.ikes[n].key();
                    self.children.push(Child {
                        keys,
                        local_spi: new_spi,
                        peer_spi,
                        owner,
                        rx: 0,
                        tx: 0,
                        rekey_of: old_local,
                    });
                    if self.active.is_none() {
                        self.active = Some(new_spi);
                    }
                    Some(resp)
                }
                Err(e) => {
                    log!("ryke: responder_process_rekey failed: {e}");
                    None
                }
            }
        }
    }

    fn on_informational(&mut self, n: usize, data: &[u8], mid: u32) -> Option<Vec<u8>> {
        let list = match ryke::open_informational(&self.ikes[n].sa, data) {
            Ok(l) => l,
            Err(e) => {
                log!("INFORMATIONAL undecryptable: {e}");
                return None;
            }
        };
        let mut out: Vec<(PayloadType, Vec<u8>)> = Vec::new();
        let mut delete_ike = false;
        for (t, d) in &list {
            if *t == PayloadType::Delete {
                match Delete::parse(d) {
                    Ok(del) if del.protocol_id == protocol_id::IKE => delete_ike = true,
                    Ok(del) if del.protocol_id == protocol_id::ESP => {
                        let mut ours = Vec::new();
                        for s in &del.spis {
                            if let Some(c) = self.children.iter().find(|c| c.peer_spi == *s) {
                                ours.push(c.local_spi);
                            }
                        }
                        for l in &ours {
                            self.remove_child(*l, "peer deleted it");
                        }
                        if !ours.is_empty() {
                            out.push((PayloadType::Delete, Delete::esp(ours).to_bytes()));
                        }
                    }
                    Ok(del) => log!("Delete for protocol {}: ignored", del.protocol_id),
                    Err(e) => log!("bad Delete: {e}"),
                }
            }
        }
        if list.is_empty() {
            log!("liveness check (DPD) from peer: answering");
        }
        let iv = self.iv();
        let resp = build_informational(&self.ikes[n].sa, mid, true, &out, &iv).ok()?;
        if delete_ike {
            let key = self.ikes[n].key();
            log!("peer deleted IKE SA {:016x}/{:016x}", key.0, key.1);
            let owned: Vec<u32> = self
                .children
                .iter()
                .filter(|c| c.owner == key)
                .map(|c| c.local_spi)
                .collect();
            for l in owned {
                self.remove_child(l, "its IKE SA was deleted");
            }
            self.ikes.remove(n);
        }
        Some(resp)
    }

    fn remove_child(&mut self, local: u32, why: &str) {
        if let Some(p) = self.children.iter().position(|c| c.local_spi == local) {
            let c = self.children.remove(p);
            log!(
                "Child SA in {:08x} out {:08x} removed ({why}); {} packets in, {} out",
                c.local_spi,
                c.peer_spi,
                c.rx,
                c.tx
            );
            // A child that replaced this one takes over output.
            for n in self.children.iter_mut() {
                if n.rekey_of == Some(local) {
                    n.rekey_of = None;
                    if self.active == Some(local) {
                        self.active = Some(n.local_spi);
                        log!("outbound switched to out {:08x}", n.peer_spi);
                    }
                }
            }
            if self.active == Some(local) {
                self.active = self.children.last().map(|c| c.local_spi);
            }
        }
    }

    // ------------------------------------------------------------ our requests

    fn on_response(&mut self, hdr: IkeHeader, data: &[u8]) {
        if hdr.exchange_type == ExchangeType::IkeSaInit {
            return self.on_sa_init_response(hdr, data);
        }
        let key = (hdr.initiator_spi, hdr.responder_spi);
        let Some(n) = self.ike_idx(key) else {
            log!("response for unknown IKE SA: ignored");
            return;
        };
        self.ikes[n].last_heard = Instant::now();
        let Some(fl) = self.ikes[n].inflight.take() else {
            log!("unexpected response mid {}: ignored", hdr.message_id);
            return;
        };
        if fl.mid != hdr.message_id {
            log!(
                "response mid {} but waiting for {}: ignored",
                hdr.message_id,
                fl.mid
            );
            self.ikes[n].inflight = Some(fl);
            return;
        }
        match fl.what {
            Pending::Auth { child_spi } => {
                match initiator_verify_auth(&self.ikes[n].sa, data, &self.auth) {
                    Ok((peer_id, peer_child_spi, _ip)) => {
                        let ike = &mut self.ikes[n];
                        ike.established = true;
                        log!(
                            "ryke: IKE_AUTH ok, responder ID type {} {:?}; Child SA in {:08x} out {:08x}",
                            peer_id.id_type, peer_id.data, child_spi, peer_child_spi
                        );
                        let keys = ChildSa::derive(
                            &ike.sa.keys.sk_d,
                            &ike.sa.ni,
                            &ike.sa.nr,
                            Role::Initiator,
                            child_spi,
                            peer_child_spi,
                        );
                        let owner = ike.key();
                        self.children.push(Child {
                            keys,
                            local_spi: child_spi,
                            peer_spi: peer_child_spi,
                            owner,
                            rx: 0,
                            tx: 0,
                            rekey_of: None,
                        });
                        self.active = Some(child_spi);
                    }
                    Err(e) => log!("ryke: initiator_verify_auth failed: {e}"),
                }
            }
            Pending::Dpd => log!("our liveness check answered"),
            Pending::DeleteChild { local_spis } => {
                for l in local_spis {
                    self.remove_child(l, "we deleted it");
                }
            }
            Pending::DeleteIke => {
                log!("peer acknowledged our IKE SA delete");
                let key = self.ikes[n].key();
                let owned: Vec<u32> = self
                    .children
                    .iter()
                    .filter(|c| c.owner == key)
                    .map(|c| c.local_spi)
                    .collect();
                for l in owned {
                    self.remove_child(l, "its IKE SA was deleted");
                }
                self.ikes.remove(n);
                return;
            }
            Pending::ChildRekey {
                old_local,
                new_spi,
                ni,
            } => match initiator_complete_rekey(&self.ikes[n].sa, &ni, new_spi, data) {
                Ok(keys) => {
                    let peer_spi = keys.outbound.spi();
                    log!("ryke: our Child rekey done: new in {new_spi:08x} out {peer_spi:08x}; deleting old in {old_local:08x}");
                    let owner = self.ikes[n].key();
                    self.children.push(Child {
                        keys,
                        local_spi: new_spi,
                        peer_spi,
                        owner,
                        rx: 0,
                        tx: 0,
                        rekey_of: None,
                    });
                    self.active = Some(new_spi);
                    self.ikes[n].queue.push_back(Pending::DeleteChild {
                        local_spis: vec![old_local],
                    });
                }
                Err(e) => log!("ryke: initiator_complete_rekey failed: {e}"),
            },
        }
        self.pump(n);
    }

    fn on_sa_init_response(&mut self, hdr: IkeHeader, data: &[u8]) {
        let Some(st) = self.init.take() else {
            log!("unexpected IKE_SA_INIT response");
            return;
        };
        let list = plain_list(&hdr, data);
        for (t, d) in &list {
            if *t == PayloadType::Notify {
                if let Ok(nt) = Notify::parse(d) {
                    if nt.notify_type == notify_type::INVALID_KE_PAYLOAD && nt.data.len() == 2 {
                        let g = u16::from_be_bytes([nt.data[0], nt.data[1]]);
                        log!("responder wants DH group {g}; retrying");
                        return self.start_initiator(g);
                    }
                    if nt.notify_type < 16384 {
                        log!(
                            "IKE_SA_INIT refused with notify {}; retrying in 10 s",
                            nt.notify_type
                        );
                        self.retry_at = Instant::now() + Duration::from_secs(10);
                        return;
                    }
                }
            }
        }
        match initiator_complete(&st.local, &st.request, data) {
            Ok(sa) => {
                log!(
                    "ryke: IKE_SA_INIT done: encr {} prf {} dh {} spi {:016x}/{:016x}",
                    sa.suite.encr_id,
                    sa.suite.prf_id,
                    sa.suite.dh_id,
                    sa.spi_i,
                    sa.spi_r
                );
                let child_spi = self.rand_u32();
                let iv = self.iv();
                let now = Instant::now();
                match initiator_auth_request(&sa, &self.auth, child_spi, &iv) {
                    Ok(req) => {
                        let ike = Ike {
                            sa,
                            established: false,
                            peer_next: 0,
                            last_resp: None,
                            my_next: 2,
                            inflight: Some(InFlight {
                                mid: 1,
                                bytes: req.clone(),
                                sent: now,
                                tries: 1,
                                what: Pending::Auth { child_spi },
                            }),
                            queue: VecDeque::new(),
                            created: now,
                            last_heard: now,
                        };
                        let summary = decrypt_list(&ike.sa.keys.sk_ei, &req)
                            .map(|l| summarize(&l))
                            .unwrap_or_default();
                        self.ikes.push(ike);
                        log!("-> IKE_AUTH request mid 1 SK{{{summary}}}");
                        self.send_ike(&req);
                    }
                    Err(e) => log!("ryke: initiator_auth_request failed: {e}"),
                }
            }
            Err(e) => log!("ryke: initiator_complete failed: {e} (dh {})", st.dh),
        }
    }

    fn start_initiator(&mut self, dh: u16) {
        let local = LocalSecret::generate(&mut self.ent, 32);
        let more = self.args.dh_more.clone();
        let request = initiator_request(&local, &offer(dh, &more));
        let hdr = IkeHeader::parse(&request).unwrap();
        log!(
            "-> IKE_SA_INIT request mid 0 {}",
            summarize(&plain_list(&hdr, &request))
        );
        self.ike_on_4500 = false;
        self.ike_dst = SocketAddr::V4(SocketAddrV4::new(self.args.peer, 500));
        self.send_ike(&request);
        self.init = Some(InitState {
            local,
            request,
            sent: Instant::now(),
            tries: 1,
            dh,
        });
    }

    /// Queue one of our own requests on the current IKE SA.
    fn enqueue(&mut self, what: Pending) {
        match self.current_ike() {
            Some(n) => {
                self.ikes[n].queue.push_back(what);
                self.pump(n);
            }
            None => log!("no established IKE SA for {}", what.name()),
        }
    }

    /// Send the next queued request of IKE SA `n` if none is in flight (window size 1).
    fn pump(&mut self, n: usize) {
        if self.ikes[n].inflight.is_some() {
            return;
        }
        let Some(what) = self.ikes[n].queue.pop_front() else {
            return;
        };
        let mid = self.ikes[n].my_next;
        let iv = self.iv();
        let bytes = match &what {
            Pending::Dpd => ryke::dpd_request(&self.ikes[n].sa, mid, &iv),
            Pending::DeleteChild { local_spis } => build_informational(
                &self.ikes[n].sa,
                mid,
                false,
                &[(
                    PayloadType::Delete,
                    Delete::esp(local_spis.clone()).to_bytes(),
                )],
                &iv,
            ),
            Pending::DeleteIke => build_informational(
                &self.ikes[n].sa,
                mid,
                false,
                &[(PayloadType::Delete, Delete::ike_sa().to_bytes())],
                &iv,
            ),
            Pending::ChildRekey {
                old_local,
                new_spi,
                ni,
            } => build_rekey_request(&self.ikes[n].sa, mid, *old_local, *new_spi, ni, &iv),
            Pending::Auth { .. } => unreachable!(),
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                log!("ryke: building {} failed: {e}", what.name());
                return;
            }
        };
        let own_key = match self.ikes[n].sa.role {
            Role::Initiator => self.ikes[n].sa.keys.sk_ei.clone(),
            Role::Responder => self.ikes[n].sa.keys.sk_er.clone(),
        };
        let summary = decrypt_list(&own_key, &bytes)
            .map(|l| summarize(&l))
            .unwrap_or_default();
        log!("-> {} request mid {mid} SK{{{summary}}}", what.name());
        self.send_ike(&bytes);
        self.ikes[n].my_next = mid + 1;
        self.ikes[n].inflight = Some(InFlight {
            mid,
            bytes,
            sent: Instant::now(),
            tries: 1,
            what,
        });
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if let Some(st) = &mut self.init {
            if now.duration_since(st.sent) > Duration::from_secs(2) {
                if st.tries >= 5 {
                    log!("IKE_SA_INIT: no answer after 5 tries; starting over");
                    let dh = st.dh;
                    self.init = None;
                    self.start_initiator(dh);
                } else {
                    st.tries += 1;
                    st.sent = now;
                    let r = st.request.clone();
                    log!("-> IKE_SA_INIT retransmit");
                    self.send_ike(&r);
                }
            }
        }
        let mut resend = Vec::new();
        let mut dead = Vec::new();
        for (n, ike) in self.ikes.iter_mut().enumerate() {
            if let Some(fl) = &mut ike.inflight {
                if now.duration_since(fl.sent) > Duration::from_secs(2) {
                    if fl.tries >= 5 {
                        log!(
                            "{} mid {}: no answer after 5 tries; giving the IKE SA up",
                            fl.what.name(),
                            fl.mid
                        );
                        dead.push(n);
                    } else {
                        fl.tries += 1;
                        fl.sent = now;
                        log!(
                            "-> {} retransmit mid {} (try {})",
                            fl.what.name(),
                            fl.mid,
                            fl.tries
                        );
                        resend.push(fl.bytes.clone());
                    }
                }
            }
        }
        for r in resend {
            self.send_ike(&r);
        }
        for n in dead.into_iter().rev() {
            let key = self.ikes[n].key();
            let owned: Vec<u32> = self
                .children
                .iter()
                .filter(|c| c.owner == key)
                .map(|c| c.local_spi)
                .collect();
            for l in owned {
                self.remove_child(l, "IKE SA given up");
            }
            self.ikes.remove(n);
        }
        if let Some(every) = self.args.dpd_every {
            if now.duration_since(self.last_dpd) > Duration::from_secs(every) {
                self.last_dpd = now;
                if let Some(n) = self.current_ike() {
                    if self.ikes[n].inflight.is_none() && self.ikes[n].queue.is_empty() {
                        self.enqueue(Pending::Dpd);
                    }
                }
            }
        }
        if self.args.mode == Mode::Initiator
            && self.init.is_none()
            && self.ikes.is_empty()
            && !self.mute_ike
            && now >= self.retry_at
        {
            self.retry_at = now + Duration::from_secs(10);
            log!("no IKE SA: initiating");
            self.start_initiator(self.args.dh);
        }
    }

    fn on_ctl(&mut self) {
        let Some(fd) = &self.ctl else { return };
        let mut buf = [0u8; 512];
        match fd_read(fd.as_raw_fd(), &mut buf) {
            Ok(k) => self.ctl_buf.extend_from_slice(&buf[..k]),
            Err(_) => return,
        }
        while let Some(p) = self.ctl_buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.ctl_buf.drain(..=p).collect();
            let cmd = String::from_utf8_lossy(&line).trim().to_string();
            log!("control: {cmd}");
            match cmd.as_str() {
                "dpd" => self.enqueue(Pending::Dpd),
                "rekey-child" => match self.active {
                    Some(old) => {
                        let new_spi = self.rand_u32();
                        let ni = self.nonce();
                        self.enqueue(Pending::ChildRekey {
                            old_local: old,
                            new_spi,
                            ni,
                        })
                    }
                    None => log!("no Child SA"),
                },
                "delete-child" => match self.active {
                    Some(l) => self.enqueue(Pending::DeleteChild {
                        local_spis: vec![l],
                    }),
                    None => log!("no Child SA"),
                },
                "delete-ike" => self.enqueue(Pending::DeleteIke),
                "mute" => self.mute_ike = true,
                "unmute" => self.mute_ike = false,
                "mute-esp" => self.mute_esp = true,
                "unmute-esp" => self.mute_esp = false,
                "status" => self.status(),
                "quit" => {
                    self.status();
                    std::process::exit(0)
                }
                _ => log!("unknown command"),
            }
        }
    }

    fn status(&self) {
        for i in &self.ikes {
            log!(
                "status: IKE {:016x}/{:016x} role {:?} established {} age {}s peer_next {} my_next {}",
                i.sa.spi_i, i.sa.spi_r, i.sa.role, i.established, i.created.elapsed().as_secs(), i.peer_next, i.my_next
            );
        }
        for c in &self.children {
            log!(
                "status: Child in {:08x} out {:08x} rx {} tx {}{}",
                c.local_spi,
                c.peer_spi,
                c.rx,
                c.tx,
                if self.active == Some(c.local_spi) {
                    " (active out)"
                } else {
                    ""
                }
            );
        }
        log!(
            "status: esp_bad {} tun_no_sa {}",
            self.esp_bad,
            self.tun_no_sa
        );
    }

    // ------------------------------------------------------------ ESP

    fn on_esp(&mut self, esp: &[u8], via_udp: Option<SocketAddr>) {
        if self.mute_esp {
            return;
        }
        if esp.len() < 8 {
            return;
        }
        if let Some(a) = via_udp {
            if self.esp_udp.is_none() {
                log!("ESP arrives UDP-encapsulated from {a}; replying the same way");
            }
            self.esp_udp = Some(a);
        }
        let spi = u32::from_be_bytes(esp[0..4].try_into().unwrap());
        let Some(p) = self.children.iter().position(|c| c.local_spi == spi) else {
            self.esp_bad += 1;
            if self.esp_bad < 5 || self.esp_bad % 100 == 0 {
                log!("ESP for unknown SPI {spi:08x} (count {})", self.esp_bad);
            }
            return;
        };
        match self.children[p].keys.inbound.open(esp) {
            Ok((inner, nh)) => {
                let c = &mut self.children[p];
                c.rx += 1;
                if c.rx == 1 {
                    log!(
                        "first ESP packet on in {:08x} (next header {nh}, {} bytes inner)",
                        c.local_spi,
                        inner.len()
                    );
                }
                if let Some(old) = c.rekey_of {
                    // Traffic arrives on the new SA: start sending on it too.
                    c.rekey_of = None;
                    let new = c.local_spi;
                    if self.active == Some(old) || self.active.is_none() {
                        self.active = Some(new);
                        log!("outbound switched to the rekeyed Child SA (in {new:08x})");
                    }
                }
                if nh == 4 {
                    let _ = fd_write(self.tun.as_raw_fd(), &inner);
                }
            }
            Err(e) => {
                self.esp_bad += 1;
                log!("ESP open failed on {spi:08x}: {e}");
            }
        }
    }

    fn on_tun(&mut self, pkt: &[u8]) {
        if self.mute_esp || pkt.is_empty() || pkt[0] >> 4 != 4 {
            return;
        }
        let Some(a) = self.active else {
            self.tun_no_sa += 1;
            return;
        };
        let Some(c) = self.children.iter_mut().find(|c| c.local_spi == a) else {
            return;
        };
        match c.keys.outbound.seal(pkt, 4) {
            Ok(esp) => {
                c.tx += 1;
                let r = match self.esp_udp {
                    Some(dst) => self.udp4500.send_to(&esp, dst).map(|_| ()),
                    None => raw_send(self.raw.as_raw_fd(), &esp, self.args.peer),
                };
                if let Err(e) = r {
                    log!("ESP send: {e}");
                }
            }
            Err(e) => log!("ESP seal: {e}"),
        }
    }
}

fn main() {
    let args = parse_args();
    let ent = OsEntropy::new().expect("/dev/urandom");
    let auth = AuthConfig::psk(ip_of(args.local), args.psk.clone());
    let udp500 =
        UdpSocket::bind(SocketAddr::new(IpAddr::V4(args.local), 500)).expect("bind UDP 500");
    let udp4500 =
        UdpSocket::bind(SocketAddr::new(IpAddr::V4(args.local), 4500)).expect("bind UDP 4500");
    udp500.set_nonblocking(true).unwrap();
    udp4500.set_nonblocking(true).unwrap();
    let raw = open_raw_esp(args.local).expect("raw ESP socket (protocol 50)");
    let tun = open_tun(&args.tun).expect("TUN device");
    let ctl = args
        .ctl
        .as_deref()
        .map(|p| open_fifo(p).expect("control FIFO"));
    log!(
        "ryke 0.3.0 peer: mode {:?}, local {}, peer {}, TUN {}, DH {}, IDr workaround {}",
        args.mode,
        args.local,
        args.peer,
        args.tun,
        args.dh,
        if args.idr_fix { "on" } else { "off" }
    );
    let ike_dst = SocketAddr::V4(SocketAddrV4::new(args.peer, 500));
    let mut p = Peer {
        args,
        ent,
        auth,
        udp500,
        udp4500,
        raw,
        tun,
        ctl,
        ctl_buf: Vec::new(),
        ikes: Vec::new(),
        children: Vec::new(),
        active: None,
        ike_dst,
        ike_on_4500: false,
        esp_udp: None,
        init: None,
        retry_at: Instant::now(),
        mute_ike: false,
        mute_esp: false,
        last_dpd: Instant::now(),
        esp_bad: 0,
        tun_no_sa: 0,
    };
    if p.args.mode == Mode::Initiator {
        let dh = p.args.dh;
        p.start_initiator(dh);
    }
    let mut buf = vec![0u8; 65536];
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: p.udp500.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: p.udp4500.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: p.raw.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: p.tun.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if let Some(c) = &p.ctl {
            fds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, 200) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                log!("poll: {e}");
            }
            continue;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            while let Ok((k, from)) = p.udp500.recv_from(&mut buf) {
                let d = buf[..k].to_vec();
                p.on_ike(&d, from, false);
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            while let Ok((k, from)) = p.udp4500.recv_from(&mut buf) {
                let d = buf[..k].to_vec();
                if k == 1 && d[0] == 0xff {
                    continue; // NAT-T keepalive
                }
                if k >= 4 && d[..4] == [0, 0, 0, 0] {
                    p.on_ike(&d[4..], from, true);
                } else {
                    p.on_esp(&d, Some(from));
                }
            }
        }
        if fds[2].revents & libc::POLLIN != 0 {
            loop {
                let k = match fd_read(p.raw.as_raw_fd(), &mut buf) {
                    Ok(k) => k,
                    Err(_) => break,
                };
                if k < 20 {
                    continue;
                }
                let ihl = ((buf[0] & 0x0f) as usize) * 4;
                let src = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
                if src != p.args.peer || k <= ihl {
                    continue;
                }
                let d = buf[ihl..k].to_vec();
                p.on_esp(&d, None);
            }
        }
        if fds[3].revents & libc::POLLIN != 0 {
            loop {
                let k = match fd_read(p.tun.as_raw_fd(), &mut buf) {
                    Ok(k) => k,
                    Err(_) => break,
                };
                let d = buf[..k].to_vec();
                p.on_tun(&d);
            }
        }
        if fds.len() > 4 && fds[4].revents & libc::POLLIN != 0 {
            p.on_ctl();
        }
        p.timers();
    }
}
