//! End-to-end throughput: iperf3 from the on-prem namespace to the VPC namespace through cgw,
//! (a) against a second cgw acting as the AWS endpoint and (b) against strongSwan (libipsec),
//! printing Mbit/s and the CPU each process used. Run with `bash benches/e2e.sh` (needs root).

#[path = "../tests/lab/mod.rs"]
mod lab;

use lab::*;
use std::time::{Duration, Instant};

const PSK: &str = "Cgw.To.Cgw_Lab_Key_0123456789";

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

const SUITE_B: &str =
    "ike_proposals = [\"aes256-sha384-ecp384\"]\nesp_proposals = [\"aes256gcm16-ecp384\"]";

struct Run {
    label: String,
    mbps: f64,
    cpu: Vec<(String, f64)>,
    loss: Option<f64>,
}

fn measure(lab: &mut Lab, label: &str, udp: bool, secs: u32, pids: &[(String, u32)]) -> Run {
    let server = lab.spawn(
        "vpc",
        &["iperf3", "-s", "-B", VPC_HOST, "-1"],
        "iperf3-server.log",
        &[],
    );
    std::thread::sleep(Duration::from_millis(500));
    let before: Vec<u64> = pids.iter().map(|(_, p)| cpu_ticks(*p)).collect();
    let t0 = Instant::now();
    let secs_s = secs.to_string();
    let mut args = vec!["iperf3", "-c", VPC_HOST, "-t", &secs_s, "-J"];
    if udp {
        args.extend_from_slice(&["-u", "-l", "1372", "-b", "3G"]);
    }
    let (ok, out) = lab.try_exec("onprem", &args);
    if !ok {
        eprintln!(
            "iperf3 failed: {}",
            out.lines().take(30).collect::<Vec<_>>().join("\n")
        );
    }
    let wall = t0.elapsed().as_secs_f64();
    let after: Vec<u64> = pids.iter().map(|(_, p)| cpu_ticks(*p)).collect();
    lab.stop_pid(server);
    // iperf3 may print warnings after its JSON document (stderr is appended): read the first value.
    let v: serde_json::Value = serde_json::Deserializer::from_str(&out)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default();
    if let Some(e) = v["error"].as_str() {
        eprintln!("iperf3: {e}");
    }
    if v.is_null() {
        eprintln!("iperf3 output: {}", &out[..out.len().min(600)]);
    }
    let (mbps, loss) = if v["error"].is_string() || v.is_null() {
        // A failed run has no valid figures (iperf3's partial "end" section would mislead).
        (f64::NAN, None)
    } else if udp {
        (
            v["end"]["sum"]["bits_per_second"].as_f64().unwrap_or(0.0) / 1e6
                * (1.0 - v["end"]["sum"]["lost_percent"].as_f64().unwrap_or(100.0) / 100.0),
            v["end"]["sum"]["lost_percent"].as_f64(),
        )
    } else {
        (
            v["end"]["sum_received"]["bits_per_second"]
                .as_f64()
                .unwrap_or(0.0)
                / 1e6,
            None,
        )
    };
    // Clock ticks are 1/100 s on Linux.
    let cpu = pids
        .iter()
        .zip(before.iter().zip(after))
        .map(|((n, _), (b, a))| (n.clone(), (a - b) as f64 / 100.0 / wall * 100.0))
        .collect();
    Run {
        label: label.to_string(),
        mbps,
        cpu,
        loss,
    }
}

fn print(r: &Run) {
    let cpu: Vec<String> = r.cpu.iter().map(|(n, c)| format!("{n} {c:.0}%")).collect();
    match r.loss {
        Some(l) => println!(
            "{:<46} {:>8.0} Mbit/s received (sent x (1 - loss), loss {l:.1}%)   CPU: {}",
            r.label,
            r.mbps,
            cpu.join(", ")
        ),
        None => println!(
            "{:<46} {:>8.0} Mbit/s   CPU: {}",
            r.label,
            r.mbps,
            cpu.join(", ")
        ),
    }
}

fn main() {
    require_root();
    let cgw = std::env::args()
        .nth(1)
        .expect("usage: e2e_bench PATH-TO-cgw [SECONDS]");
    let secs: u32 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(5);
    let side = || AwsSide {
        psk: PSK.into(),
        ike_proposals: "aes256-sha384-ecp384".into(),
        esp_proposals: "aes256gcm16-ecp384".into(),
        ..Default::default()
    };
    println!("cgw end-to-end benchmark: iperf3 on-prem -> VPC, {secs} s per run, Suite-B-GCM-256, all processes on this machine's cores\n");

    // (a) cgw <-> cgw: plain ESP, then NAT-T (UDP 4500) with and without UDP GSO.
    for (nat, gso) in [(false, true), (true, true), (true, false)] {
        let label = match (nat, gso) {
            (false, _) => "cgw <-> cgw",
            (true, true) => "cgw <-> cgw, NAT-T",
            (true, false) => "cgw <-> cgw, NAT-T, no GSO",
        };
        let env: &[(&str, &str)] = if gso { &[] } else { &[("CGW_NO_GSO", "1")] };
        let mut lab = Lab::new(if nat { "z" } else { "x" }, nat, [side(), side()]);
        let a_sock = lab.dir.join("cgw.sock");
        let b_sock = lab.dir.join("peer.sock");
        let a = lab.write(
            "cgw.toml",
            &one_tunnel_toml(
                if nat { "10.99.0.2" } else { "198.51.100.10" },
                "203.0.113.21",
                VPC_CIDR,
                a_sock.to_str().unwrap(),
                "initiate",
                false,
                SUITE_B,
            )
            .replace(
                "local_address = \"10.99.0.2\"",
                "local_address = \"10.99.0.2\"\npublic_address = \"198.51.100.10\"",
            ),
        );
        let b = lab.write(
            "peer.toml",
            &one_tunnel_toml(
                "203.0.113.21",
                "198.51.100.10",
                LAN,
                b_sock.to_str().unwrap(),
                "respond",
                false,
                SUITE_B,
            ),
        );
        let pb = lab.spawn(
            "aws1",
            &[&cgw, "up", "-c", b.to_str().unwrap()],
            "peer.log",
            env,
        );
        wait_for(Duration::from_secs(10), || b_sock.exists(), "peer cgw");
        let pa = lab.spawn(
            "cgw",
            &[&cgw, "up", "-c", a.to_str().unwrap()],
            "cgw.log",
            env,
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
        let pids = vec![("cgw".to_string(), pa), ("peer cgw".to_string(), pb)];
        print(&measure(
            &mut lab,
            &format!("TCP, {label}"),
            false,
            secs,
            &pids,
        ));
        print(&measure(
            &mut lab,
            &format!("UDP, 1400-byte IP packets, {label}"),
            true,
            secs,
            &pids,
        ));
    }
    // (b) cgw <-> strongSwan.
    {
        let mut lab = Lab::new("y", false, [side(), side()]);
        lab.start_aws(0);
        let sock = lab.dir.join("cgw.sock");
        let a = lab.write(
            "cgw.toml",
            &one_tunnel_toml(
                "198.51.100.10",
                "203.0.113.21",
                VPC_CIDR,
                sock.to_str().unwrap(),
                "initiate",
                true,
                SUITE_B,
            ),
        );
        let pa = lab.spawn(
            "cgw",
            &[&cgw, "up", "-c", a.to_str().unwrap()],
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
            "ping through cgw <-> strongSwan",
        );
        let charon = lab.exec("aws1", &["sh", "-c", "pidof charon || true"]);
        let mut pids = vec![("cgw".to_string(), pa)];
        if let Some(p) = charon
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
        {
            pids.push(("strongSwan charon".to_string(), p));
        }
        print(&measure(
            &mut lab,
            "TCP, cgw <-> strongSwan (libipsec)",
            false,
            secs,
            &pids,
        ));
        print(&measure(
            &mut lab,
            "UDP, 1400-byte IP packets, cgw <-> strongSwan",
            true,
            secs,
            &pids,
        ));
    }
}
