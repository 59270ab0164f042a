//! Issue 12 in network namespaces: an internet host (the lab's attacker namespace) floods cgw
//! with IKE_SA_INIT requests that carry an AWS endpoint's address as their source, on UDP 500
//! and, behind a NAT, on the NAT-T port 4500. cgw, with both tunnels up to `cgw emulate-aws`,
//! answers with cookies and keeps no state, its memory barely moves, its control socket
//! answers within 0.1 s, no ping through the tunnels is lost, the real endpoint's rekeys and
//! liveness checks go on, and a restarted endpoint is found and the tunnel re-established in
//! its normal time while spoofed requests keep arriving. Also: once set up, cgw holds only the
//! capabilities it still needs. Needs root; fails (does not skip) without it.
//!
//! Run alone: `sudo -E cargo test -p cgw --test netns_flood -- --nocapture`.

mod lab;

use cgw::status::{Status, TunnelState};
use lab::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const CGW: &str = env!("CARGO_BIN_EXE_cgw");
const FLOOD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/ike_flood.py");

/// cgw with both tunnels to the emulated endpoints; `extra` goes into each `[[tunnel]]`.
fn cgw_toml(local: &str, sock: &str, monitor: bool, extra: &str) -> String {
    let public = if local == CGW_PUBLIC.to_string() {
        String::new()
    } else {
        format!("public_address = \"{CGW_PUBLIC}\"\n")
    };
    let mut s = format!(
        r#"[gateway]
local_address = "{local}"
{public}routing = "static"
remote_cidrs = ["{VPC_CIDR}"]
control_socket = "{sock}"
lab_mode = true

[monitor]
enabled = {monitor}
interval_secs = 1
threshold = 3
"#
    );
    for i in 0..2 {
        s.push_str(&format!(
            "\n[[tunnel]]\naws_outside_address = \"{}\"\npsk = \"{}\"\ninside_cidr = \"{}\"\n{extra}\n",
            AWS[i], EMULATED_PSK[i], INSIDE[i]
        ));
    }
    s
}

/// Both emulated endpoints, cgw with `extra` per tunnel, both tunnels up (and answering the
/// monitor, with `monitor`): cgw's PID, its control socket and the endpoints' PIDs.
fn bring_up(lab: &mut Lab, monitor: bool, extra: &str) -> (u32, std::path::PathBuf, [u32; 2]) {
    let emu_sock = lab.dir.join("aws.sock");
    let emu = lab.write("aws-side.toml", &emulator_toml(emu_sock.to_str().unwrap()));
    let endpoints = [start_endpoint(lab, &emu, 0), start_endpoint(lab, &emu, 1)];
    let sock = lab.dir.join("cgw.sock");
    let local = if lab.nat { CGW_PRIVATE } else { CGW_PUBLIC };
    let cfg = lab.write(
        "cgw.toml",
        &cgw_toml(&local.to_string(), sock.to_str().unwrap(), monitor, extra),
    );
    let pid = lab.start_cgw_daemon(CGW, &cfg, &sock);
    wait_for(
        Duration::from_secs(30),
        || {
            status_of(&sock).is_some_and(|s| {
                s.tunnels.iter().all(|t| t.state == TunnelState::Up)
                    && s.tunnels.iter().all(|t| t.monitor.alive || !monitor)
            })
        },
        "both tunnels up and answering the monitor",
    );
    (pid, sock, endpoints)
}

fn start_endpoint(lab: &mut Lab, emu: &Path, i: usize) -> u32 {
    let name = format!("aws{}", i + 1);
    let tunnel = (i + 1).to_string();
    let pid = lab.spawn(
        &name,
        &[
            CGW,
            "emulate-aws",
            "-c",
            emu.to_str().unwrap(),
            "--tunnel",
            &tunnel,
            "--log-level",
            "debug",
        ],
        &format!("{name}.log"),
        &[],
    );
    let sock = format!("{}-{}", lab.dir.join("aws.sock").display(), i + 1);
    wait_for(
        Duration::from_secs(10),
        || Path::new(&sock).exists(),
        "emulate-aws's control socket",
    );
    pid
}

/// One status request over the control socket.
fn status_of(sock: &Path) -> Option<Status> {
    let mut s = std::os::unix::net::UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"status\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// An IKE_SA_INIT request as the AWS endpoint `aws` would send it to cgw (cgw's proposal,
/// a valid ECP-384 public value), written as hex for the flood script; its path.
fn template(lab: &Lab, aws: std::net::Ipv4Addr, name: &str) -> String {
    template_offering(lab, aws, name, None)
}

/// The same with another offer (`proposal`, strongSwan syntax).
fn template_offering(
    lab: &Lab,
    aws: std::net::Ipv4Addr,
    name: &str,
    proposal: Option<&str>,
) -> String {
    let mut c = cgw_ike::Config::new(aws.into(), CGW_PUBLIC.into(), b"not used".to_vec());
    if let Some(p) = proposal {
        c.ike_proposals = vec![cgw_ike::IkeProposal::parse(p).unwrap()];
    }
    let mut e = cgw_ike::Connection::new(c, Box::new(cgw_crypto::SystemRandom::new()));
    e.initiate(Instant::now());
    let t = e.poll_transmit().expect("an IKE_SA_INIT request");
    let hex: String = t.contents.iter().map(|b| format!("{b:02x}")).collect();
    lab.write(name, &hex).to_str().unwrap().to_string()
}

/// Pings the VPC host from on-prem, 50 a second for `secs` seconds (in the background): the
/// ping's PID and its log name.
fn pings(lab: &mut Lab, secs: u32, log: &str) -> u32 {
    let count = (secs * 50).to_string();
    lab.spawn(
        "onprem",
        &[
            "ping", "-n", "-q", "-i", "0.02", "-W", "1", "-c", &count, VPC_HOST,
        ],
        log,
        &[],
    )
}

/// Waits for a ping started by [`pings`] and returns (sent, received).
fn ping_result(lab: &mut Lab, pid: u32, log: &str) -> (u32, u32) {
    lab.wait_exit(pid, Duration::from_secs(60))
        .expect("ping ended");
    let out = lab.read(log);
    let line = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("ping output: {out}"));
    let n: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse().ok())
        .collect();
    (n[0], n[1])
}

/// Starts `ike_flood.py` in the attacker namespace: `count` copies of the message in
/// `template` at `rate` a second from AWS endpoint 1's address and port `sport` to
/// `dst`:`dport` (from port 4500 with the non-ESP marker); its PID.
#[allow(clippy::too_many_arguments)]
fn start_flood(
    lab: &mut Lab,
    sport: u16,
    dst: &str,
    dport: &str,
    count: u32,
    rate: u32,
    template: &str,
    log: &str,
) -> u32 {
    let (src, sport, count, rate) = (
        AWS[0].to_string(),
        sport.to_string(),
        count.to_string(),
        rate.to_string(),
    );
    let mut argv = vec![
        "python3", FLOOD, &src, &sport, dst, dport, &count, &rate, template,
    ];
    if sport == "4500" {
        argv.push("--marker");
    }
    lab.spawn("attacker", &argv, log, &[])
}

/// Polls the control socket every 100 ms until process `pid` exits; the slowest answer and
/// the number of polls.
fn slowest_status_until_exit(lab: &mut Lab, sock: &Path, pid: u32) -> (Duration, usize) {
    let mut worst = Duration::ZERO;
    let mut n = 0;
    while lab.wait_exit(pid, Duration::ZERO).is_none() {
        let t = Instant::now();
        assert!(status_of(sock).is_some(), "the control socket answered");
        worst = worst.max(t.elapsed());
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    (worst, n)
}

#[test]
fn an_ike_sa_init_flood_on_port_500_gets_cookies_and_a_restarted_endpoint_still_comes_back() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let mut lab = Lab::with_attacker("fa", false, Default::default());
    let (pid, sock, endpoints) = bring_up(&mut lab, true, "");

    // Least privilege: set up, cgw keeps CAP_NET_ADMIN and CAP_NET_BIND_SERVICE on its
    // control thread, nothing on its data path thread, and cannot regain anything.
    const KEPT: u64 = (1 << 12) | (1 << 10);
    let threads = thread_caps(pid);
    assert!(
        threads.iter().any(|t| t.name == "cgw-dataplane") && threads.len() >= 2,
        "{threads:#?}"
    );
    for t in &threads {
        let want = if t.name == "cgw-dataplane" { 0 } else { KEPT };
        assert_eq!(
            (
                t.effective,
                t.permitted,
                t.bounding,
                t.ambient,
                t.inheritable
            ),
            (want, want, want, 0, 0),
            "{t:#?}"
        );
        assert!(t.no_new_privs, "{t:#?}");
    }
    assert!(lab
        .cgw_log()
        .contains("capabilities reduced to CAP_NET_ADMIN, CAP_NET_BIND_SERVICE"));
    let tpl = template(&lab, AWS[0], "init.hex");
    let rss_before = rss_kib(pid);
    let log_before = lab.cgw_log().len();

    // 12,000 requests at 2,000/s from AWS endpoint 1's address, pings all the while.
    let ping = pings(&mut lab, 9, "ping.log");
    std::thread::sleep(Duration::from_secs(1));
    let flood = start_flood(
        &mut lab,
        500,
        &CGW_PUBLIC.to_string(),
        "500",
        12000,
        2000,
        &tpl,
        "flood.log",
    );
    let (worst, polls) = slowest_status_until_exit(&mut lab, &sock, flood);
    let (sent, received) = ping_result(&mut lab, ping, "ping.log");
    let flood_log = lab.read("flood.log");
    assert!(flood_log.contains("sent 12000"), "{flood_log}");
    let st = status_of(&sock).unwrap();
    let t1 = &st.tunnels[0];
    eprintln!(
        "flood on port 500: {flood_log} cookies_sent {}, half-open {}, ike_drops {:?}, slowest status {worst:?} of {polls}, RSS {rss_before} -> {} KiB, ping {received}/{sent}",
        t1.cookies_sent,
        t1.half_open_ike_sas,
        t1.ike_drops,
        rss_kib(pid)
    );
    assert!(
        t1.cookies_sent >= 10_000,
        "cookies demanded: {}",
        t1.cookies_sent
    );
    assert!(t1.half_open_ike_sas <= 2, "{t1:#?}");
    assert!(
        worst < Duration::from_millis(100),
        "control socket took {worst:?}"
    );
    assert!(polls >= 20, "only {polls} status polls during the flood");
    let growth = rss_kib(pid).saturating_sub(rss_before);
    assert!(growth < 8 * 1024, "RSS grew by {growth} KiB");
    assert_eq!(received, sent, "pings lost during the flood");
    assert!(
        st.tunnels.iter().all(|t| t.state == TunnelState::Up),
        "{st:#?}"
    );
    assert_eq!(st.failovers, 0);
    assert_eq!(t1.last_error, None, "{t1:#?}");
    // The log says so once, not per packet (cgw runs with --log-level debug: only the
    // debug lines are per packet).
    let log = lab.cgw_log();
    let loud: Vec<&str> = log[log_before..]
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains("ERROR"))
        .collect();
    assert_eq!(loud.len(), 1, "{loud:#?}");
    assert!(
        loud[0].contains("answered with a COOKIE or dropped"),
        "{}",
        loud[0]
    );

    // AWS endpoint 1 is replaced (killed, a fresh one started: no SAs) while two spoofed
    // IKE_SA_INITs a second arrive with its address: cgw's DPD finds the old IKE SA dead and
    // cgw sets up a new one in its normal time (DPD 10 s + 30 s, then the retry).
    lab.kill_pid(endpoints[0]);
    let trickle = start_flood(
        &mut lab,
        500,
        &CGW_PUBLIC.to_string(),
        "500",
        180,
        2,
        &tpl,
        "trickle.log",
    );
    let killed = Instant::now();
    let emu = lab.dir.join("aws-side.toml");
    start_endpoint(&mut lab, &emu, 0);
    let spi_before = st.tunnels[0].ike_sa.as_ref().unwrap().spi_i.clone();
    wait_for(
        Duration::from_secs(70),
        || {
            status_of(&sock).is_some_and(|s| {
                s.tunnels[0].state == TunnelState::Up
                    && s.tunnels[0]
                        .ike_sa
                        .as_ref()
                        .is_some_and(|i| i.spi_i != spi_before)
            })
        },
        "tunnel 1 re-established with the new endpoint",
    );
    let back = killed.elapsed();
    eprintln!("tunnel 1 back {back:?} after the endpoint was replaced");
    assert!(
        back <= Duration::from_secs(10 + 30 + 10 + 5),
        "back after {back:?}"
    );
    assert!(
        lab.wait_exit(trickle, Duration::ZERO).is_none(),
        "the spoofed requests were still arriving"
    );
    lab.stop_pid(trickle);
}

#[test]
fn an_ike_sa_init_flood_on_port_4500_behind_a_nat_does_not_stop_rekeys_or_liveness_checks() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let mut lab = Lab::with_attacker("fb", true, Default::default());
    // Child SAs rekeyed every 100 packets each way: several rekeys under the pings. No
    // monitor: without traffic the liveness checks (DPD) are due after 10 s.
    let (pid, sock, _) = bring_up(&mut lab, false, "child_lifetime_packets = 100");
    // The NAT's port for cgw's NAT-T flow, as endpoint 1 sees it.
    let emu1 = format!("{}-1", lab.dir.join("aws.sock").display());
    let remote = status_of(Path::new(&emu1)).unwrap().tunnels[0]
        .ike_sa
        .as_ref()
        .expect("endpoint 1's IKE SA")
        .remote;
    assert_eq!(
        remote.ip(),
        std::net::IpAddr::from(CGW_PUBLIC),
        "the NAT's address"
    );
    let (ip, port) = (remote.ip().to_string(), remote.port().to_string());
    let tpl = template(&lab, AWS[0], "init.hex");
    let before = status_of(&sock).unwrap();
    let rss_before = rss_kib(pid);
    let log_before = lab.cgw_log().len();

    // 36,000 requests at 2,000/s (18 s) to the NAT's port for cgw: 6 s with pings (rekeys by
    // packet count), then no traffic, so that the liveness checks of both ends (DPD, an
    // empty INFORMATIONAL 10 s after the last ESP) fall inside the flood.
    let ping = pings(&mut lab, 6, "ping.log");
    let flood = start_flood(&mut lab, 4500, &ip, &port, 36000, 2000, &tpl, "flood.log");
    let (worst, polls) = slowest_status_until_exit(&mut lab, &sock, flood);
    let (sent, received) = ping_result(&mut lab, ping, "ping.log");
    let flood_log = lab.read("flood.log");
    assert!(flood_log.contains("sent 36000"), "{flood_log}");
    // The liveness checks during the flood: empty INFORMATIONAL requests from the endpoints
    // that cgw received (and answered), and the answers to cgw's own.
    let log = lab.cgw_log();
    let dpd: Vec<&str> = log[log_before..]
        .lines()
        .filter(|l| {
            l.contains("IKE INFORMATIONAL") && l.contains("received from") && l.ends_with("(empty)")
        })
        .collect();
    let dpd_requests = dpd.iter().filter(|l| l.contains(" request ")).count();
    let dpd_responses = dpd.iter().filter(|l| l.contains(" response ")).count();
    let st = status_of(&sock).unwrap();
    let t1 = &st.tunnels[0];
    eprintln!(
        "flood on port 4500: {flood_log} cookies_sent {}, queue_drops {}, half-open {}, slowest status {worst:?} of {polls}, RSS {rss_before} -> {} KiB, ping {received}/{sent}, child rekeys {} -> {}, liveness checks received {dpd_requests}, answered {dpd_responses}",
        t1.cookies_sent,
        st.queue_drops,
        t1.half_open_ike_sas,
        rss_kib(pid),
        before.tunnels[0].rekeys.child,
        t1.rekeys.child,
    );
    assert!(
        t1.cookies_sent >= 30_000,
        "cookies demanded: {} (queue drops {})",
        t1.cookies_sent,
        st.queue_drops
    );
    assert!(t1.half_open_ike_sas <= 2, "{t1:#?}");
    assert!(
        worst < Duration::from_millis(100),
        "control socket took {worst:?}"
    );
    let growth = rss_kib(pid).saturating_sub(rss_before);
    assert!(growth < 8 * 1024, "RSS grew by {growth} KiB");
    assert_eq!(received, sent, "pings lost during the flood");
    assert!(
        t1.rekeys.child >= before.tunnels[0].rekeys.child + 2,
        "Child SA rekeys during the flood: {} -> {}",
        before.tunnels[0].rekeys.child,
        t1.rekeys.child
    );
    assert_eq!(t1.rekeys.child_failures, 0, "{t1:#?}");
    // Whichever end's probe came first (the other's timer restarts on hearing it), each
    // tunnel had one during the flood.
    for aws in AWS {
        assert!(
            dpd.iter()
                .any(|l| l.contains(&format!("received from {aws}:4500"))),
            "no liveness check with {aws} during the flood: {dpd:#?}"
        );
    }
    assert!(
        st.tunnels.iter().all(|t| t.state == TunnelState::Up),
        "{st:#?}"
    );
    assert_eq!(st.failovers, 0);

    // The flood's two half-open IKE SAs expire, then spoofed requests that are refused (a
    // proposal cgw does not accept) arrive: counted, and the tunnel stays up without an error.
    wait_for(
        Duration::from_secs(35),
        || status_of(&sock).is_some_and(|s| s.tunnels[0].half_open_ike_sas == 0),
        "the flood's half-open IKE SAs to expire",
    );
    let refused = template_offering(&lab, AWS[0], "refused.hex", Some("aes128-sha256-modp2048"));
    let probe = start_flood(&mut lab, 4500, &ip, &port, 3, 10, &refused, "refused.log");
    lab.wait_exit(probe, Duration::from_secs(10))
        .expect("the refused requests sent");
    wait_for(
        Duration::from_secs(5),
        || status_of(&sock).is_some_and(|s| s.tunnels[0].ike_drops.init_requests_no_proposal == 3),
        "three requests refused with NO_PROPOSAL_CHOSEN",
    );
    let st = status_of(&sock).unwrap();
    let t1 = &st.tunnels[0];
    assert!(t1.stray_ike_failures >= 2 + 3, "{t1:#?}");
    assert_eq!(t1.state, TunnelState::Up, "{t1:#?}");
    assert_eq!(t1.last_error, None, "{t1:#?}");
}
