//! cgw against strongSwan (the independent IKEv2 implementation) in network namespaces,
//! configured as AWS configures its side. Needs root; fails (does not skip) without it.
//!
//! Run alone: `sudo -E cargo test -p cgw --test netns_strongswan -- --nocapture`.

mod lab;

use cgw::import::{render_describe_vpn_connections, AwsConnectionSpec, AwsTarget, AwsTunnelSpec};
use cgw::status::{
    BgpInstalledRoute, ChildSaStatus, IkeSaStatus, Status, TunnelState, TunnelStatus,
};
use lab::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const CGW: &str = env!("CARGO_BIN_EXE_cgw");
const PSK: [&str; 2] = ["Tunnel1.Key_For.Lab01", "Tunnel2.Key_For.Lab02"];

fn suite_b() -> (String, String) {
    ("aes256-sha384-ecp384".into(), "aes256gcm16-ecp384".into())
}

/// The describe-vpn-connections JSON AWS would hand the user for this lab's connection.
fn aws_json(static_routing: bool, narrow: Option<(&str, &str, u16)>) -> String {
    let mk = |i: usize| {
        let mut t = AwsTunnelSpec::new(AWS[i], INSIDE[i].parse().unwrap(), PSK[i]);
        if let Some((enc, integ, dh)) = narrow {
            t.phase1_encryption = vec![enc.into()];
            t.phase1_integrity = vec![integ.into()];
            t.phase1_dh = vec![dh];
            t.phase2_encryption = vec![enc.into()];
            t.phase2_integrity = vec![integ.into()];
            t.phase2_dh = vec![dh];
        }
        t
    };
    let mut spec = AwsConnectionSpec::new("vpn-0123456789abcdef0", CGW_PUBLIC, [mk(0), mk(1)]);
    spec.static_routes_only = static_routing;
    spec.target = AwsTarget::TransitGateway("tgw-0a1b2c3d4e5f6a7b8".into());
    // The connection's static routes: to the customer network.
    spec.routes = vec![LAN.parse().unwrap()];
    render_describe_vpn_connections(&spec)
}

/// `cgw import aws` → cgw.toml (monitor sped up for the test) → `cgw check` → `cgw up`.
fn start_cgw(lab: &mut Lab, json: &str, extra_import_args: &[&str], tweaks: &[(&str, &str)]) {
    let json_path = lab.write("vpn.json", json);
    let toml_path = lab.dir.join("cgw.toml");
    let mut args = vec![
        CGW,
        "import",
        "aws",
        json_path.to_str().unwrap(),
        "-o",
        toml_path.to_str().unwrap(),
        "--lan",
        LAN,
    ];
    // No AWS file names the VPC CIDR; static routing needs it (BGP learns it).
    if json.contains("\"StaticRoutesOnly\": true") {
        args.extend_from_slice(&["--remote-cidr", VPC_CIDR]);
    }
    args.extend_from_slice(extra_import_args);
    run(&args);
    let sock = lab.dir.join("cgw.sock");
    let text = std::fs::read_to_string(&toml_path)
        .unwrap()
        .replace(
            "control_socket = \"/run/cgw/cgw.sock\"",
            &format!("control_socket = \"{}\"", sock.display()),
        )
        .replace("interval_secs = 2", "interval_secs = 1")
        .replace("threshold = 5", "threshold = 3")
        .replace("failback_hold_secs = 30", "failback_hold_secs = 5");
    let text = tweaks.iter().fold(text, |t, (from, to)| {
        assert!(t.contains(from), "{from:?} not in the imported cgw.toml");
        t.replace(from, to)
    });
    assert!(
        text.contains(&sock.display().to_string()),
        "control socket not set in:\n{text}"
    );
    std::fs::write(&toml_path, text).unwrap();
    let check = run(&[CGW, "check", "-c", toml_path.to_str().unwrap()]);
    assert!(check.contains("OK"), "{check}");
    lab.start_cgw_daemon(CGW, &toml_path, &sock);
}

fn tunnel<'a>(status: &'a Status, name: &str) -> &'a TunnelStatus {
    status
        .tunnels
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no {name} in {status:#?}"))
}

/// The tunnel's IKE SA and Child SA (it must be up).
fn sas(t: &TunnelStatus) -> (&IkeSaStatus, &ChildSaStatus) {
    match (&t.ike_sa, &t.child_sa) {
        (Some(i), Some(c)) => (i, c),
        _ => panic!("{} has no IKE SA or Child SA: {t:#?}", t.name),
    }
}

fn wait_up(lab: &Lab, names: &[&str], timeout: Duration) -> Status {
    let deadline = Instant::now() + timeout;
    loop {
        let s = lab.status(CGW);
        if names
            .iter()
            .all(|n| tunnel(&s, n).state == TunnelState::Up && tunnel(&s, n).monitor.alive)
        {
            return s;
        }
        if Instant::now() > deadline {
            panic!("tunnels {names:?} not up after {timeout:?}: {s:#?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ping(lab: &Lab, count: u32) -> (bool, String) {
    lab.try_exec(
        "onprem",
        &[
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            VPC_HOST,
        ],
    )
}

/// iperf3 from on-prem to the VPC host; returns Mbit/s received.
fn iperf(lab: &mut Lab, secs: u32) -> f64 {
    let pid = lab.spawn(
        "vpc",
        &["iperf3", "-s", "-B", VPC_HOST, "-1"],
        "iperf3-server.log",
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = lab.exec(
        "onprem",
        &["iperf3", "-c", VPC_HOST, "-t", &secs.to_string(), "-J"],
    );
    lab.stop_pid(pid);
    let v: Value = serde_json::from_str(&out).unwrap();
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    assert!(
        v["end"]["sum_received"]["bytes"].as_u64().unwrap() > 1_000_000,
        "iperf3 moved too little: {out}"
    );
    bps / 1e6
}

/// tcpdump on the VPC host's links while `f` runs; returns what it printed.
fn capture(lab: &mut Lab, filter: &str, f: impl FnOnce(&mut Lab)) -> String {
    let pid = lab.spawn(
        "vpc",
        &["tcpdump", "-nvl", "-i", "any", filter],
        "tcpdump.log",
        &[],
    );
    std::thread::sleep(Duration::from_millis(1000));
    f(lab);
    std::thread::sleep(Duration::from_millis(1000));
    lab.stop_pid(pid);
    std::fs::read_to_string(lab.dir.join("tcpdump.log")).unwrap()
}

#[test]
fn static_routing_suite_b_failover_and_mtu() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let (ike, esp) = suite_b();
    let side = |i: usize| AwsSide {
        psk: PSK[i].into(),
        ike_proposals: ike.clone(),
        esp_proposals: esp.clone(),
        ..Default::default()
    };
    let mut lab = Lab::new("a", false, [side(0), side(1)]);
    lab.start_aws(0);
    lab.start_aws(1);
    start_cgw(&mut lab, &aws_json(true, None), &[], &[]);

    // 1. Both tunnels establish, with Suite-B-GCM-256.
    let s = wait_up(&lab, &["tunnel1", "tunnel2"], Duration::from_secs(30));
    for n in ["tunnel1", "tunnel2"] {
        let t = tunnel(&s, n);
        let (ike, child) = sas(t);
        assert_eq!(ike.algorithms, "aes256-sha384-prfsha384-ecp384", "{t:#?}");
        assert_eq!(child.algorithms, "aes256gcm16", "{t:#?}");
        // libipsec forces UDP encapsulation (it fakes NAT-D), so NAT-T is on.
        assert!(ike.nat_t);
        assert!(!ike.local_behind_nat);
    }
    assert_eq!(s.active_tunnel.as_deref(), Some("tunnel1"));
    assert!(lab.aws_log(0).contains("CHILD_SA aws1{1} established"));

    // 2. Ping and TCP through tunnel 1.
    let (ok, out) = ping(&lab, 5);
    assert!(ok, "{out}");
    let mbps = iperf(&mut lab, 3);
    println!(
        "iperf3 TCP on-prem -> VPC through cgw and strongSwan (Suite-B-GCM-256): {mbps:.0} Mbit/s"
    );
    let s = lab.status(CGW);
    assert!(tunnel(&s, "tunnel1").traffic.tx_packets > 1000);

    // 5. MTU handling, checked in the on-prem -> VPC direction.
    let cap = capture(&mut lab, "icmp and dst host 10.202.0.10", |lab| {
        let _ = lab.try_exec(
            "onprem",
            &[
                "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1399", VPC_HOST,
            ],
        );
    });
    assert!(
        cap.contains("length 1427"),
        "a 1427-byte DF packet must arrive whole:\n{cap}"
    );
    let (_, out) = lab.try_exec(
        "onprem",
        &[
            "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1400", VPC_HOST,
        ],
    );
    assert!(
        out.contains("mtu = 1427") || out.contains("mtu=1427"),
        "a 1428-byte DF packet must get ICMP fragmentation needed with MTU 1427:\n{out}"
    );
    let cap = capture(
        &mut lab,
        "tcp[tcpflags] & tcp-syn != 0 and dst port 5201",
        |lab| {
            let _ = lab.try_exec("onprem", &["python3", "-c", "import socket; s=socket.socket(); s.settimeout(1); s.connect_ex(('10.202.0.10', 5201))"]);
        },
    );
    assert!(
        cap.contains("mss 1379"),
        "the SYN must arrive with its MSS clamped to 1379:\n{cap}"
    );
    let sink = lab.spawn(
        "vpc",
        &["python3", "-c", "import socket; s=socket.socket(2,2); s.bind(('10.202.0.10', 9999)); d,a=s.recvfrom(65535); print('got', len(d), flush=True)"],
        "udp-sink.log",
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    lab.exec(
        "onprem",
        &["python3", "-c", "import socket; s=socket.socket(2,2); s.setsockopt(0, 10, 0); s.sendto(b'x'*2972, ('10.202.0.10', 9999))"],
    );
    wait_for(
        Duration::from_secs(5),
        || {
            std::fs::read_to_string(lab.dir.join("udp-sink.log"))
                .unwrap_or_default()
                .contains("got 2972")
        },
        "the 3000-byte non-DF datagram at the VPC host (reassembled)",
    );
    lab.stop_pid(sink);

    // 3. Tunnel 1's AWS endpoint dies: traffic moves to tunnel 2 within the monitor's
    // threshold, and back once tunnel 1 returns and the hold-down passes.
    let pinger = lab.spawn(
        "onprem",
        &["ping", "-D", "-i", "0.1", "-W", "1", VPC_HOST],
        "failover-ping.log",
        &[],
    );
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    lab.kill_aws(0);
    wait_for(
        Duration::from_secs(20),
        || lab.status(CGW).active_tunnel.as_deref() == Some("tunnel2"),
        "failover to tunnel2",
    );
    let failed_over = killed.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    lab.stop_pid(pinger);
    let outage = outage_of(&std::fs::read_to_string(lab.dir.join("failover-ping.log")).unwrap());
    println!("failover: routes moved after {failed_over:.1?}; longest ping outage {outage:.1?} (monitor: 1 s interval, 3 misses)");
    assert!(outage < Duration::from_secs(8), "outage {outage:?}");
    let (ok, out) = ping(&lab, 3);
    assert!(ok, "traffic must flow through tunnel 2: {out}");
    let s = lab.status(CGW);
    assert_eq!(s.routes[0].device, "cgw1");
    let kernel = lab.exec("cgw", &["ip", "route", "show", VPC_CIDR]);
    assert!(
        kernel.contains("dev cgw1") && !kernel.contains("cgw0"),
        "the kernel route moved: {kernel}"
    );
    assert!(s.failovers >= 1);

    // Tunnel 1 returns: cgw finds the old SA dead (DPD), re-establishes, and fails back after
    // the hold-down.
    lab.restore_aws(0);
    let back = Instant::now();
    wait_for(
        Duration::from_secs(90),
        || lab.status(CGW).active_tunnel.as_deref() == Some("tunnel1"),
        "failback to tunnel1",
    );
    println!(
        "failback: tunnel 1 carried traffic again {:.1?} after its endpoint returned",
        back.elapsed()
    );
    let (ok, out) = ping(&lab, 3);
    assert!(ok, "{out}");
    let log = lab.cgw_log();
    assert!(
        log.contains("failover: routes move from tunnel1 to tunnel2"),
        "{log}"
    );
    assert!(log.contains("failover: routes move from tunnel2 to tunnel1"));
}

/// The longest gap between answered pings in `ping -D -i 0.1` output.
fn outage_of(log: &str) -> Duration {
    let times: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    assert!(times.len() > 10, "too few answers:\n{log}");
    let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    Duration::from_secs_f64(gap)
}

#[test]
fn behind_nat_with_aws_template_proposals() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let side = |i: usize| AwsSide {
        psk: PSK[i].into(),
        ike_proposals: "aes128-sha1-modp2048".into(),
        esp_proposals: "aes128-sha1-modp2048".into(),
        ..Default::default()
    };
    let mut lab = Lab::new("b", true, [side(0), side(1)]);
    lab.start_aws(0);
    lab.start_aws(1);
    // The tunnel options AWS's template describes: AES128, SHA1, DH 14.
    start_cgw(
        &mut lab,
        &aws_json(true, Some(("AES128", "SHA1", 14))),
        &["--local-address", "10.99.0.2"],
        &[("# route_table = 100", "route_table = 100")],
    );
    let s = wait_up(&lab, &["tunnel1", "tunnel2"], Duration::from_secs(30));
    for n in ["tunnel1", "tunnel2"] {
        let t = tunnel(&s, n);
        let (ike, child) = sas(t);
        assert_eq!(ike.algorithms, "aes128-sha1-prfsha1-modp2048", "{t:#?}");
        assert_eq!(child.algorithms, "aes128-sha1", "{t:#?}");
        assert!(ike.local_behind_nat, "the NAT must be detected: {t:#?}");
        assert!(child.udp_encap);
    }
    // Routes in their own table, selected by a rule for the LAN's sources (cgw's protocol
    // number on both). The FIB task installs them just after start.
    wait_for(
        Duration::from_secs(5),
        || {
            lab.exec("cgw", &["ip", "rule", "show"])
                .contains("1000:\tfrom 10.10.0.0/24 lookup 100 proto 200\n")
        },
        "cgw's rule",
    );
    let table = lab.exec("cgw", &["ip", "route", "show", "table", "100"]);
    assert!(
        table.contains("10.202.0.0/16 dev cgw0 proto 200"),
        "{table}"
    );
    assert!(!lab
        .exec("cgw", &["ip", "route", "show"])
        .contains("10.202.0.0/16"));

    let (ok, out) = ping(&lab, 5);
    if !ok {
        let (_, r) = lab.try_exec(
            "cgw",
            &[
                "ip",
                "route",
                "get",
                "10.202.0.10",
                "from",
                "10.10.0.10",
                "iif",
                "lan0",
            ],
        );
        panic!(
            "ping failed: {out}\nroute get: {r}\nstatus: {:#?}",
            lab.status(CGW)
        );
    }
    let mbps = iperf(&mut lab, 3);
    println!("iperf3 TCP through a NAT, AES-128-CBC/HMAC-SHA1: {mbps:.0} Mbit/s");
    // `cgw down`: Deletes sent, routes, rule and devices removed, exit 0.
    let sock = lab.dir.join("cgw.sock");
    let out = lab.exec("cgw", &[CGW, "down", "--socket", sock.to_str().unwrap()]);
    assert!(out.contains("stopped"), "{out}");
    let pid = lab.cgw_pid.take().unwrap();
    let st = lab
        .wait_exit(pid, Duration::from_secs(10))
        .expect("cgw exits after `cgw down`");
    assert!(st.success(), "{st:?}");
    for i in 0..2 {
        let log = lab.aws_log(i);
        assert!(
            log.contains("received DELETE for IKE_SA"),
            "aws{}: {log}",
            i + 1
        );
    }
    assert!(!lab
        .exec("cgw", &["ip", "rule", "show"])
        .contains("lookup 100"));
    assert!(lab
        .exec("cgw", &["ip", "route", "show", "table", "all"])
        .find("10.202.0.0/16")
        .is_none());
    assert!(!lab.exec("cgw", &["ip", "link", "show"]).contains("cgw0"));
}

#[test]
fn wrong_psk_on_one_tunnel_is_reported_and_the_other_works() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let (ike, esp) = suite_b();
    let mut sides = [0, 1].map(|i| AwsSide {
        psk: PSK[i].into(),
        ike_proposals: ike.clone(),
        esp_proposals: esp.clone(),
        ..Default::default()
    });
    sides[1].psk = "Not.The_Key.In.The.Json".into();
    let mut lab = Lab::new("c", false, sides);
    lab.start_aws(0);
    lab.start_aws(1);
    start_cgw(&mut lab, &aws_json(true, None), &[], &[]);
    wait_up(&lab, &["tunnel1"], Duration::from_secs(30));
    wait_for(
        Duration::from_secs(20),
        || {
            let s = lab.status(CGW);
            tunnel(&s, "tunnel2")
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("authentication failed: pre-shared key mismatch?"))
        },
        "tunnel2's authentication error in cgw status",
    );
    let s = lab.status(CGW);
    assert_ne!(tunnel(&s, "tunnel2").state, TunnelState::Up);
    assert_eq!(tunnel(&s, "tunnel1").state, TunnelState::Up);
    let (ok, out) = ping(&lab, 3);
    assert!(ok, "{out}");
    assert!(
        lab.cgw_log().contains("tunnel2: authentication failed"),
        "{}",
        lab.cgw_log()
    );
}

#[test]
fn rekeys_from_both_sides_lose_nothing_and_a_restarted_peer_is_found_by_dpd() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let (ike, esp) = suite_b();
    // Who starts a rekey must not be left to chance (two CI runs saw strongSwan win every
    // Child SA race with evenly overlapping windows): cgw (IKE 100 s, Child 45 s, margin 10 s,
    // fuzz 100 %) rekeys the IKE SA after 77-88 s, before strongSwan's 110 s ever comes, so
    // cgw starts every IKE rekey. For the Child SA strongSwan's window (19-31 s) starts before
    // cgw's (22-33 s) and mostly wins, cgw sometimes does, and some may collide.
    let side = |i: usize| AwsSide {
        psk: PSK[i].into(),
        ike_proposals: ike.clone(),
        esp_proposals: esp.clone(),
        conn_extra: "    rekey_time = 110s\n    over_time = 20s\n    rand_time = 0s".into(),
        child_extra: "        rekey_time = 31s\n        life_time = 50s\n        rand_time = 12s"
            .into(),
    };
    let mut lab = Lab::new("d", false, [side(0), side(1)]);
    lab.start_aws(0);
    lab.start_aws(1);
    start_cgw(
        &mut lab,
        &aws_json(true, None),
        &[],
        &[
            ("vpn_connection_id", "lab_mode = true\nvpn_connection_id"),
            ("ike_lifetime_secs = 28800", "ike_lifetime_secs = 100"),
            ("child_lifetime_secs = 3600", "child_lifetime_secs = 45"),
            ("rekey_margin_secs = 270", "rekey_margin_secs = 10"),
        ],
    );
    wait_up(&lab, &["tunnel1", "tunnel2"], Duration::from_secs(30));
    let secs = 200;
    let pinger = lab.spawn(
        "onprem",
        &[
            "ping",
            "-i",
            "0.05",
            "-c",
            &(secs * 20).to_string(),
            "-W",
            "2",
            VPC_HOST,
        ],
        "rekey-ping.log",
        &[],
    );
    let server = lab.spawn(
        "vpc",
        &["iperf3", "-s", "-B", VPC_HOST, "-1"],
        "iperf3-server.log",
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = lab.exec(
        "onprem",
        &[
            "iperf3",
            "-c",
            VPC_HOST,
            "-t",
            &(secs - 5).to_string(),
            "-b",
            "20M",
            "-J",
        ],
    );
    lab.stop_pid(server);
    let st = lab
        .wait_exit(pinger, Duration::from_secs(30))
        .expect("ping finishes");
    let ping_log = std::fs::read_to_string(lab.dir.join("rekey-ping.log")).unwrap();
    let summary = ping_log
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("")
        .to_string();
    let v: Value = serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    let intervals = v["intervals"].as_array().unwrap();
    let stalled: Vec<f64> = intervals
        .iter()
        .filter(|i| i["sum"]["bytes"].as_u64().unwrap_or(0) == 0)
        .map(|i| i["sum"]["start"].as_f64().unwrap_or(-1.0))
        .collect();
    let s = lab.status(CGW);
    let t1 = tunnel(&s, "tunnel1");
    let child_rekeys = t1.rekeys.child;
    let ike_rekeys = t1.rekeys.ike;
    let log0 = lab.aws_log(0);
    let swan_child = log0.matches("CHILD_SA aws1{").count();
    println!(
        "{secs} s with rekeys: ping {summary}; iperf3 {} intervals, stalled {stalled:?}; tunnel1: {child_rekeys} Child and {ike_rekeys} IKE rekeys ({} collisions); strongSwan sent {} CREATE_CHILD_SA requests and answered {}",
        intervals.len(),
        t1.rekeys.collisions,
        log0.matches("generating CREATE_CHILD_SA request").count(),
        log0.matches("generating CREATE_CHILD_SA response").count(),
    );
    assert!(
        st.success() && summary.contains(" 0% packet loss"),
        "ping reported loss: {summary}; cgw tunnel1 traffic {:?} drops {:?}; tunnel2 drops {:?}",
        t1.traffic,
        t1.drops,
        tunnel(&s, "tunnel2").drops
    );
    assert!(
        stalled.is_empty(),
        "iperf3 stalled in intervals starting at {stalled:?}"
    );
    assert!(
        child_rekeys >= 5,
        "only {child_rekeys} Child SA rekeys: {t1:#?}"
    );
    assert!(ike_rekeys >= 2, "only {ike_rekeys} IKE SA rekeys: {t1:#?}");
    assert!(swan_child >= 5, "strongSwan saw {swan_child} Child SAs");
    let cgw_log = lab.cgw_log();
    assert!(
        log0.contains("generating CREATE_CHILD_SA request"),
        "strongSwan never initiated a rekey"
    );
    assert!(
        log0.contains("generating CREATE_CHILD_SA response"),
        "cgw never initiated a rekey"
    );
    assert!(
        cgw_log.contains("IKE SA rekeyed"),
        "cgw initiates every IKE rekey here: {cgw_log}"
    );
    assert!(cgw_log.contains("Child SA rekeyed"), "{cgw_log}");

    // The AWS endpoint restarts and loses its SAs: cgw finds out by DPD and re-establishes.
    let old_spi = sas(tunnel(&lab.status(CGW), "tunnel1"))
        .1
        .inbound_spi
        .clone();
    lab.kill_aws(0);
    lab.restore_aws(0);
    let restarted = Instant::now();
    wait_for(
        Duration::from_secs(120),
        || {
            let s = lab.status(CGW);
            let t = tunnel(&s, "tunnel1");
            t.state == TunnelState::Up
                && t.child_sa
                    .as_ref()
                    .is_some_and(|c| c.inbound_spi != old_spi)
        },
        "tunnel1 re-established after the peer restarted",
    );
    println!("peer restart: cgw re-established tunnel1 {:.1?} after strongSwan came back (DPD 10 s interval, 30 s timeout)", restarted.elapsed());
    let (ok, out) = ping(&lab, 3);
    assert!(ok, "{out}");
}

/// Two cgw ends in the lab: a peer in `aws1` (203.0.113.21) that plays AWS (routes the LAN back
/// into its tunnel and waits to be called) and cgw in `cgw`, behind the NAT when the lab has
/// one, initiating. `gateway_extra` and `tunnel_extra` are lines for cgw's `[gateway]` and
/// `[[tunnel]]`. Returns (cgw's, the peer's control socket) once a ping crosses.
fn start_cgw_pair(
    lab: &mut Lab,
    gateway_extra: &str,
    tunnel_extra: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let a_sock = lab.dir.join("cgw.sock");
    let b_sock = lab.dir.join("peer.sock");
    let b = lab.write(
        "peer.toml",
        &one_tunnel_toml(
            "203.0.113.21",
            "198.51.100.10",
            LAN,
            b_sock.to_str().unwrap(),
            "respond",
            false,
            "",
        ),
    );
    // Behind the NAT cgw has a private address; the NAT's is the one the peer knows.
    let local = if lab.nat {
        "10.99.0.2"
    } else {
        "198.51.100.10"
    };
    let mut gateway = gateway_extra.to_string();
    if lab.nat {
        gateway.push_str("\npublic_address = \"198.51.100.10\"");
    }
    let a = lab.write(
        "cgw.toml",
        &one_tunnel_toml(
            local,
            "203.0.113.21",
            VPC_CIDR,
            a_sock.to_str().unwrap(),
            "initiate",
            false,
            tunnel_extra,
        )
        .replace(
            "routing = \"static\"",
            &format!("routing = \"static\"\n{gateway}"),
        ),
    );
    let check = run(&[CGW, "check", "-c", a.to_str().unwrap()]);
    assert!(check.contains("OK"), "{check}");
    lab.spawn(
        "aws1",
        &[CGW, "up", "-c", b.to_str().unwrap()],
        "peer.log",
        &[],
    );
    wait_for(Duration::from_secs(10), || b_sock.exists(), "the peer cgw");
    let pa = lab.spawn(
        "cgw",
        &[CGW, "up", "-c", a.to_str().unwrap(), "--log-level", "debug"],
        "cgw.log",
        &[],
    );
    lab.cgw_pid = Some(pa);
    wait_for(
        Duration::from_secs(20),
        || {
            lab.try_exec("onprem", &["ping", "-c", "1", "-W", "1", VPC_HOST])
                .0
        },
        "ping through cgw <-> cgw",
    );
    (a_sock, b_sock)
}

#[test]
fn cgw_to_cgw_without_nat_uses_plain_esp_and_rekeys_by_packet_count() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let side = AwsSide::default();
    let mut lab = Lab::new("e", false, [side.clone(), side]);
    // Metrics on for cgw's side.
    let (a_sock, b_sock) = start_cgw_pair(
        &mut lab,
        "metrics_listen = \"127.0.0.1:9820\"",
        "child_lifetime_packets = 100",
    );
    let s = lab.status(CGW);
    let t = tunnel(&s, "tunnel1");
    assert!(!sas(t).0.nat_t, "no NAT on the path: {t:#?}");
    assert!(!sas(t).1.udp_encap, "plain ESP (IP protocol 50): {t:#?}");
    // 20 pings a second both ways for 15 s: about 300 packets per direction, so the
    // 100-packet limit forces several rekeys; not one ping may be lost.
    let (ok, out) = lab.try_exec(
        "onprem",
        &["ping", "-q", "-i", "0.05", "-c", "300", "-W", "2", VPC_HOST],
    );
    let summary = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("")
        .to_string();
    let s = lab.status(CGW);
    let t = tunnel(&s, "tunnel1");
    let rekeys = t.rekeys.child;
    println!("cgw <-> cgw, plain ESP: {summary}; {rekeys} Child SA rekeys forced by the 100-packet limit");
    assert!(ok && summary.contains(" 0% packet loss"), "{out}");
    assert!(rekeys >= 2, "{t:#?}");
    assert!(lab
        .cgw_log()
        .contains("reached its packet, byte or sequence number limit"));
    assert!(t.traffic.rx_packets >= 300);

    // The metrics endpoint: scraped twice, the counters move.
    let scrape = |lab: &Lab| {
        lab.exec(
            "cgw",
            &["python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9820/metrics').read().decode())"],
        )
    };
    let value = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .map(|v| v.trim().parse::<f64>().unwrap())
            })
            .unwrap_or_else(|| panic!("{series} not in:\n{text}"))
    };
    let m1 = scrape(&lab);
    assert_eq!(value(&m1, "cgw_tunnel_up{tunnel=\"tunnel1\"}"), 1.0);
    assert!(value(&m1, "cgw_rekeys_total{tunnel=\"tunnel1\",kind=\"child\"}") >= 2.0);
    let tx1 = value(&m1, "cgw_tx_packets_total{tunnel=\"tunnel1\"}");
    assert!(
        m1.contains("cgw_drops_total{tunnel=\"tunnel1\",reason=\"replay\"} 0"),
        "{m1}"
    );
    let _ = ping(&lab, 5);
    let m2 = scrape(&lab);
    assert!(
        value(&m2, "cgw_tx_packets_total{tunnel=\"tunnel1\"}") >= tx1 + 5.0,
        "{m2}"
    );

    // `cgw keys --wireshark` on both ends: the same IKE SA keys, and each ESP SA's keys as the
    // other end has them.
    let ka = lab.dir.join("keys-a");
    let kb = lab.dir.join("keys-b");
    let out = lab.exec(
        "cgw",
        &[
            CGW,
            "keys",
            "--wireshark",
            ka.to_str().unwrap(),
            "--socket",
            a_sock.to_str().unwrap(),
        ],
    );
    assert!(out.contains("1 IKE SA(s) and 2 ESP SA(s)"), "{out}");
    lab.exec(
        "aws1",
        &[
            CGW,
            "keys",
            "--wireshark",
            kb.to_str().unwrap(),
            "--socket",
            b_sock.to_str().unwrap(),
        ],
    );
    let read = |d: &std::path::Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let ike_a = read(&ka, "ikev2_decryption_table");
    assert_eq!(ike_a, read(&kb, "ikev2_decryption_table"));
    assert!(
        ike_a.contains("\"AES-CBC-256 [RFC3602]\"")
            && ike_a.contains("\"HMAC_SHA2_384_192 [RFC4868]\""),
        "{ike_a}"
    );
    let mut esp_a: Vec<String> = read(&ka, "esp_sa").lines().map(String::from).collect();
    let mut esp_b: Vec<String> = read(&kb, "esp_sa").lines().map(String::from).collect();
    esp_a.sort();
    esp_b.sort();
    assert_eq!(esp_a, esp_b);
    assert!(
        esp_a[0].contains("\"AES-GCM with 16 octet ICV [RFC4106]\"")
            && esp_a[0].contains("\"NULL\""),
        "{esp_a:?}"
    );
    let mode = std::fs::metadata(ka.join("esp_sa")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
}

/// BIRD as AWS's BGP speaker on endpoint `i`: ASN 64512, the VPC prefix with `med`.
fn start_bird(lab: &mut Lab, i: usize, med: u32) {
    let d = lab.dir.join(format!("bird{}", i + 1));
    std::fs::create_dir_all(&d).unwrap();
    let conf = format!(
        r#"log "{log}" all;
router id {aws};
protocol device {{ scan time 2; }}
protocol static vpc {{ ipv4; route {VPC_CIDR} via 10.201.{n}.2; }}
protocol bgp cgw {{
  local {aws_inside} as 64512;
  neighbor {cgw_inside} as 65000;
  hold time 30;
  keepalive time 10;
  connect retry time 5;
  error wait time 5, 60;
  ipv4 {{
    import all;
    export filter {{ if proto = "vpc" then {{ bgp_med = {med}; accept; }} reject; }};
    next hop self;
  }};
}}
"#,
        log = d.join("bird.log").display(),
        aws = AWS[i],
        n = i + 1,
        aws_inside = AWS_INSIDE[i],
        cgw_inside = if i == 0 {
            "169.254.10.2"
        } else {
            "169.254.20.2"
        },
    );
    let conf_path = d.join("bird.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let sock = d.join("bird.ctl");
    lab.spawn(
        &format!("aws{}", i + 1),
        &[
            "bird",
            "-f",
            "-c",
            conf_path.to_str().unwrap(),
            "-s",
            sock.to_str().unwrap(),
            "-P",
            d.join("bird.pid").to_str().unwrap(),
        ],
        &format!("bird{}.stdout", i + 1),
        &[],
    );
    wait_for(
        Duration::from_secs(10),
        || sock.exists(),
        "BIRD's control socket",
    );
}

fn birdc(lab: &Lab, i: usize, cmd: &str) -> String {
    let sock = lab.dir.join(format!("bird{}/bird.ctl", i + 1));
    let mut args = vec!["birdc", "-s", sock.to_str().unwrap()];
    args.extend(cmd.split_whitespace());
    lab.try_exec(&format!("aws{}", i + 1), &args).1
}

fn bgp_route(lab: &Lab, prefix: &str) -> Option<BgpInstalledRoute> {
    lab.status(CGW)
        .bgp
        .installed
        .into_iter()
        .find(|r| r.prefix == prefix)
}

#[test]
fn bgp_over_both_tunnels_with_bird_picks_the_lower_med_and_fails_over() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let (ike, esp) = suite_b();
    let side = |i: usize| AwsSide {
        psk: PSK[i].into(),
        ike_proposals: ike.clone(),
        esp_proposals: esp.clone(),
        ..Default::default()
    };
    let mut lab = Lab::new("f", false, [side(0), side(1)]);
    lab.start_aws(0);
    lab.start_aws(1);
    // AWS marks its preferred tunnel with the lower MED: tunnel 2 here.
    start_bird(&mut lab, 0, 200);
    start_bird(&mut lab, 1, 100);
    start_cgw(&mut lab, &aws_json(false, None), &[], &[]);
    let t0 = Instant::now();
    wait_for(
        Duration::from_secs(60),
        || {
            let s = lab.status(CGW);
            let a = &s.bgp.sessions;
            a.len() == 2
                && a.iter().all(|x| x.state == "established")
                && bgp_route(&lab, VPC_CIDR).is_some_and(|r| r.tunnel == "tunnel2")
        },
        "both BGP sessions established and the VPC route via tunnel2 (MED 100)",
    );
    println!("BGP: both sessions up and the VPC route installed {:.1?} after cgw's control socket appeared", t0.elapsed());
    let r = bgp_route(&lab, VPC_CIDR).unwrap();
    assert_eq!(r.med, Some(100), "{r:?}");
    assert_eq!(r.as_path, "64512", "{r:?}");
    let kernel = lab.exec("cgw", &["ip", "route", "show", VPC_CIDR]);
    assert!(
        kernel.contains("dev cgw1 proto 200") && !kernel.contains("cgw0"),
        "{kernel}"
    );
    for i in 0..2 {
        let routes = birdc(&lab, i, "show route 10.10.0.0/24 all");
        assert!(
            routes.contains("10.10.0.0/24") && routes.contains("65000"),
            "aws{}: {routes}",
            i + 1
        );
    }
    let (ok, out) = ping(&lab, 3);
    assert!(ok, "{out}");

    // The preferred endpoint dies: the monitor sees it in ~3 s, the tunnel's BGP session closes
    // at once, and the route moves to tunnel 1, far sooner than the 30 s hold time.
    let pinger = lab.spawn(
        "onprem",
        &["ping", "-D", "-i", "0.1", "-W", "1", VPC_HOST],
        "bgp-failover-ping.log",
        &[],
    );
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    lab.kill_aws(1);
    wait_for(
        Duration::from_secs(25),
        || bgp_route(&lab, VPC_CIDR).is_some_and(|r| r.tunnel == "tunnel1"),
        "the VPC route moving to tunnel1",
    );
    let moved = killed.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    lab.stop_pid(pinger);
    let outage =
        outage_of(&std::fs::read_to_string(lab.dir.join("bgp-failover-ping.log")).unwrap());
    println!("BGP failover: route moved after {moved:.1?}; longest ping outage {outage:.1?} (hold time 30 s)");
    assert!(outage < Duration::from_secs(15), "{outage:?}");
    assert!(lab
        .exec("cgw", &["ip", "route", "show", VPC_CIDR])
        .contains("dev cgw0"));

    // Policy: local-pref on tunnel 1 beats AWS's MED, and an AS_PATH prepend on tunnel 2 is seen
    // by its peer.
    // (BIRD kept running on aws2 and reconnects once the tunnel is back.)
    lab.restore_aws(1);
    let sock = lab.dir.join("cgw.sock");
    lab.exec("cgw", &[CGW, "down", "--socket", sock.to_str().unwrap()]);
    let pid = lab.cgw_pid.take().unwrap();
    assert!(lab
        .wait_exit(pid, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let toml_path = lab.dir.join("cgw.toml");
    let text = std::fs::read_to_string(&toml_path).unwrap();
    let mut n = 0;
    let text = text
        .split("[tunnel.bgp]")
        .map(|part| part.to_string())
        .reduce(|acc, part| {
            n += 1;
            let policy = if n == 1 {
                "local_pref = 300\n"
            } else {
                "as_path_prepend = 2\n"
            };
            format!("{acc}[tunnel.bgp]\n{policy}{part}")
        })
        .unwrap();
    std::fs::write(&toml_path, text).unwrap();
    let pid = lab.spawn(
        "cgw",
        &[CGW, "up", "-c", toml_path.to_str().unwrap()],
        "cgw2.log",
        &[],
    );
    lab.cgw_pid = Some(pid);
    wait_for(
        Duration::from_secs(10),
        || sock.exists(),
        "cgw's control socket",
    );
    wait_for(
        Duration::from_secs(60),
        || {
            let s = lab.status(CGW);
            s.bgp.sessions.iter().all(|x| x.state == "established")
                && bgp_route(&lab, VPC_CIDR).is_some()
        },
        "BGP back up with the policy",
    );
    std::thread::sleep(Duration::from_secs(2));
    let r = bgp_route(&lab, VPC_CIDR).unwrap();
    assert_eq!(
        r.tunnel, "tunnel1",
        "local-pref 300 on tunnel1 overrides MED 100 on tunnel2: {r:?}"
    );
    assert_eq!(r.local_pref, 300);
    let aws2 = birdc(&lab, 1, "show route 10.10.0.0/24 all");
    assert!(
        aws2.contains("65000 65000 65000"),
        "prepend seen at aws2: {aws2}"
    );
    let aws1 = birdc(&lab, 0, "show route 10.10.0.0/24 all");
    assert!(
        !aws1.contains("65000 65000"),
        "no prepend towards aws1: {aws1}"
    );
}

/// A capture taken while two cgw endpoints talk is decrypted by tshark with the key tables
/// `cgw keys --wireshark` writes: tshark shows the IKE_AUTH payloads (identities, traffic
/// selectors) and the ICMP and TCP packets inside ESP.
#[test]
fn tshark_decrypts_a_capture_with_cgw_keys() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    assert!(
        std::path::Path::new("/usr/bin/tshark").exists(),
        "tshark is missing: apt-get install tshark (see .ci/run)"
    );
    let side = AwsSide::default();
    let mut lab = Lab::new("w", false, [side.clone(), side]);
    // The capture starts before cgw, so it holds IKE_SA_INIT and IKE_AUTH.
    let cap = lab.dir.join("wan0.pcap");
    let tcpdump = lab.spawn(
        "cgw",
        &[
            "tcpdump",
            "-i",
            "wan0",
            "-n",
            "-U",
            "-w",
            cap.to_str().unwrap(),
            "udp port 500 or udp port 4500 or esp",
        ],
        "tcpdump.log",
        &[],
    );
    let tcpdump_log = lab.dir.join("tcpdump.log");
    wait_for(
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(&tcpdump_log)
                .unwrap_or_default()
                .contains("listening on")
        },
        "tcpdump to start",
    );
    let (a_sock, _) = start_cgw_pair(&mut lab, "", "");
    // ICMP and one short TCP transfer through the tunnel.
    lab.exec("onprem", &["ping", "-c", "3", "-i", "0.2", VPC_HOST]);
    lab.spawn(
        "vpc",
        &["iperf3", "-s", "-1", "-B", VPC_HOST],
        "iperf3-server.log",
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    lab.exec(
        "onprem",
        &[
            "iperf3", "-c", VPC_HOST, "-t", "1", "-b", "2M", "-l", "1000",
        ],
    );
    // Wireshark reads its key tables from its personal configuration directory.
    let xdg = lab.dir.join("xdg");
    let ws = xdg.join("wireshark");
    let out = lab.exec(
        "cgw",
        &[
            CGW,
            "keys",
            "--wireshark",
            ws.to_str().unwrap(),
            "--socket",
            a_sock.to_str().unwrap(),
        ],
    );
    assert!(out.contains("1 IKE SA(s) and 2 ESP SA(s)"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    lab.stop_pid(tcpdump);

    let tshark = |filter: &str, fields: &[&str]| -> Vec<String> {
        let mut args = vec![
            "-n".to_string(),
            "-r".into(),
            cap.to_str().unwrap().into(),
            "-o".into(),
            "esp.enable_encryption_decode:TRUE".into(),
            "-Y".into(),
            filter.into(),
            "-T".into(),
            "fields".into(),
        ];
        for f in fields {
            args.push("-e".into());
            args.push(f.to_string());
        }
        let out = std::process::Command::new("tshark")
            .args(&args)
            .env("XDG_CONFIG_HOME", &xdg)
            .env("HOME", &lab.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect()
    };
    // IKE_AUTH (exchange type 35), decrypted: both identities and the 0.0.0.0/0 selectors.
    let ids = tshark("isakmp.exchangetype == 35", &["isakmp.id.data.ipv4_addr"]);
    let ids = ids.join(",");
    assert!(
        ids.contains("198.51.100.10") && ids.contains("203.0.113.21"),
        "IKE_AUTH identities not decrypted: {ids:?}"
    );
    let ts = tshark("isakmp.exchangetype == 35", &["isakmp.ts.start_ipv4"]).join(",");
    assert!(ts.contains("0.0.0.0"), "traffic selectors: {ts:?}");
    // ICMP echo inside ESP, both directions.
    let icmp = tshark("esp && icmp", &["ip.src", "ip.dst", "icmp.type"]);
    assert!(
        icmp.iter()
            .any(|l| l.contains("10.10.0.10") && l.contains(VPC_HOST) && l.ends_with('8')),
        "no decrypted echo request: {icmp:?}"
    );
    assert!(
        icmp.iter().any(|l| l.ends_with('0')),
        "no decrypted echo reply: {icmp:?}"
    );
    // TCP inside ESP: iperf3's connection to port 5201.
    let tcp = tshark("esp && tcp.port == 5201", &["tcp.srcport", "tcp.dstport"]);
    assert!(tcp.len() >= 10, "decrypted TCP packets: {tcp:?}");
    println!(
        "tshark decrypted IKE_AUTH (IDs {ids}), {} ICMP and {} TCP packets inside ESP",
        icmp.len(),
        tcp.len()
    );
}

/// cgw to cgw through a NAT (ESP in UDP 4500): a TCP bulk transfer each way goes out as UDP GSO
/// runs and comes in as UDP GRO runs, and every datagram cut from them decrypts (no drops).
#[test]
fn cgw_to_cgw_behind_nat_sends_with_udp_gso_and_receives_with_gro() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let side = AwsSide::default();
    let mut lab = Lab::new("g", true, [side.clone(), side]);
    let (a_sock, b_sock) = start_cgw_pair(&mut lab, "", "");
    let status = |lab: &Lab, sock: &std::path::Path| lab.status_at(CGW, sock.to_str().unwrap());
    assert!(sas(tunnel(&status(&lab, &a_sock), "tunnel1")).1.udp_encap);
    // Upload, then download (-R): 3 s of TCP each.
    for reverse in [false, true] {
        lab.spawn(
            "vpc",
            &["iperf3", "-s", "-1", "-B", VPC_HOST],
            "iperf3-server.log",
            &[],
        );
        std::thread::sleep(Duration::from_millis(500));
        let mut args = vec!["iperf3", "-c", VPC_HOST, "-t", "3", "-J"];
        if reverse {
            args.push("-R");
        }
        let out = lab.exec("onprem", &args);
        let v: Value = serde_json::Deserializer::from_str(&out)
            .into_iter::<Value>()
            .next()
            .unwrap()
            .unwrap();
        let bps = v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap();
        println!(
            "TCP {} through cgw <-> cgw behind NAT: {:.0} Mbit/s",
            if reverse { "download" } else { "upload" },
            bps / 1e6
        );
        assert!(bps > 10e6, "{out}");
    }
    let (ok, out) = ping(&lab, 5);
    assert!(ok, "{out}");
    for (who, sock) in [("cgw", &a_sock), ("peer", &b_sock)] {
        let s = status(&lab, sock);
        let t = tunnel(&s, "tunnel1");
        println!("{who}: traffic {:?}, drops {:?}", t.traffic, t.drops);
        assert!(
            t.traffic.gso_sends > 0,
            "{who} never sent a GSO run: {t:#?}"
        );
        assert!(
            t.traffic.gro_receives > 0,
            "{who} never received a GRO run: {t:#?}"
        );
        // Every datagram cut from a GRO run decrypted and passed its checks. (`no_sa` counts
        // the first pings, sent before the tunnel was up.)
        for (reason, n) in t.drops.by_reason() {
            if reason != "no_sa" {
                assert_eq!(n, 0, "{who}: drops.{reason}: {t:#?}");
            }
        }
    }
}

/// DH groups 21-24 (every group AWS allows beyond 20) against strongSwan: a connection whose
/// tunnel options allow only ECP-521 for the IKE SA and MODP-1024/160 for PFS on tunnel 1,
/// MODP-2048/224 and MODP-2048/256 on tunnel 2, imported by `cgw import aws`. Both tunnels
/// come up, strongSwan rekeys each Child SA with a KE of the PFS group, and pings pass.
#[test]
fn dh_groups_21_to_24_negotiate_and_rekey_with_strongswan() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let groups = [
        (21u16, 22u16, "ecp521", "modp1024s160"),
        (23, 24, "modp2048s224", "modp2048s256"),
    ];
    let side = |i: usize| AwsSide {
        psk: PSK[i].into(),
        ike_proposals: format!("aes256-sha256-{}", groups[i].2),
        esp_proposals: format!("aes256gcm16-{}", groups[i].3),
        child_extra: "        rekey_time = 12s\n        rand_time = 0s".into(),
        ..Default::default()
    };
    let mut lab = Lab::new("h", false, [side(0), side(1)]);
    lab.start_aws(0);
    lab.start_aws(1);
    let mk = |i: usize| {
        let mut t = AwsTunnelSpec::new(AWS[i], INSIDE[i].parse().unwrap(), PSK[i]);
        t.phase1_encryption = vec!["AES256".into()];
        t.phase1_integrity = vec!["SHA2-256".into()];
        t.phase1_dh = vec![groups[i].0];
        t.phase2_encryption = vec!["AES256-GCM-16".into()];
        t.phase2_integrity = vec!["SHA2-256".into()];
        t.phase2_dh = vec![groups[i].1];
        t
    };
    let mut spec = AwsConnectionSpec::new("vpn-0123456789abcdef0", CGW_PUBLIC, [mk(0), mk(1)]);
    spec.static_routes_only = true;
    spec.target = AwsTarget::TransitGateway("tgw-0a1b2c3d4e5f6a7b8".into());
    spec.routes = vec![LAN.parse().unwrap()];
    start_cgw(&mut lab, &render_describe_vpn_connections(&spec), &[], &[]);
    let st = wait_up(&lab, &["tunnel1", "tunnel2"], Duration::from_secs(40));
    for (i, name) in ["tunnel1", "tunnel2"].iter().enumerate() {
        let (ike, _) = sas(tunnel(&st, name));
        assert!(
            ike.algorithms.ends_with(groups[i].2),
            "{name}: {}",
            ike.algorithms
        );
    }
    wait_for(
        Duration::from_secs(40),
        || {
            let s = lab.status(CGW);
            s.tunnels
                .iter()
                .all(|t| t.rekeys.child >= 1 && t.state == TunnelState::Up)
        },
        "a Child SA rekey (with PFS) on both tunnels",
    );
    let s = lab.status(CGW);
    for (i, name) in ["tunnel1", "tunnel2"].iter().enumerate() {
        let (_, child) = sas(tunnel(&s, name));
        assert!(
            child.algorithms.ends_with(groups[i].3),
            "{name}: the rekeyed Child SA used {}",
            child.algorithms
        );
        assert_eq!(tunnel(&s, name).rekeys.child_failures, 0);
    }
    let (ok, out) = ping(&lab, 5);
    assert!(ok, "{out}");
    let log = lab.aws_log(0);
    assert!(
        log.contains("ECP_521") || log.contains("ECP-521") || log.contains("ecp521"),
        "{log}"
    );
}
