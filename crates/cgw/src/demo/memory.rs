//! `cgw demo --in-memory`: two cgw endpoints in memory, no network and no AWS account needed.
//!
//! "cgw" (198.51.100.10) and an "AWS endpoint" (203.0.113.21, configured as AWS configures its
//! side: AWS's full proposal list in AWS's order) negotiate IKEv2 with a pre-shared key, then
//! ESP packets of every size from 1 to 1427 bytes cross in both directions, and a burst of
//! 1400-byte packets shows what one core does. Everything here is the real engine; only the
//! wire is a function call.

use anyhow::{bail, Result};
use cgw_ike::{Config, Connection, Event};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Instant;

const CGW: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
const AWS: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 11));

fn inner_packet(len: usize, seq: u32, buf: &mut [u8]) {
    let p = &mut buf[..len];
    p.fill(0);
    if len >= 20 {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 10, 0, 10]);
        p[16..20].copy_from_slice(&[172, 31, 0, 10]);
        for (i, b) in p[20..].iter_mut().enumerate() {
            *b = (i as u32 ^ seq) as u8;
        }
    }
}

pub fn run() -> Result<ExitCode> {
    println!(
        "cgw demo: two cgw endpoints in memory (`sudo cgw demo` runs the network-namespace lab)\n"
    );
    // The AWS side exactly as `cgw emulate-aws` configures tunnel 1 of its built-in example
    // (AWS's full proposal list in AWS's order); cgw with its defaults (Suite-B-GCM-256).
    let emu = cgw::emulate::Emulator::parse(cgw::emulate::EXAMPLE).map_err(anyhow::Error::msg)?;
    let b_cfg = emu
        .endpoint_config(0)
        .map_err(anyhow::Error::msg)?
        .try_ike_config(0)?;
    let a_cfg = Config::new(CGW, AWS, b_cfg.psk.to_vec());
    println!(
        "  cgw offers      IKE {}",
        a_cfg.ike_proposals[0].describe()
    );
    println!(
        "                  ESP {}",
        a_cfg.esp_proposals[0].describe()
    );
    let mut a = Connection::new(a_cfg, Box::new(cgw_crypto::SystemRandom::new()));
    let mut b = Connection::new(b_cfg, Box::new(cgw_crypto::SystemRandom::new()));
    let t0 = Instant::now();
    a.initiate(t0);
    let (mut a_child, mut b_child) = (None, None);
    for _ in 0..10 {
        let now = Instant::now();
        while let Some(t) = a.poll_transmit() {
            println!(
                "  cgw -> aws      {} bytes, {}",
                t.contents.len(),
                exchange(&t.contents)
            );
            b.handle_datagram(now, t.remote, t.local, &t.contents);
        }
        while let Some(t) = b.poll_transmit() {
            println!(
                "  aws -> cgw      {} bytes, {}",
                t.contents.len(),
                exchange(&t.contents)
            );
            a.handle_datagram(now, t.remote, t.local, &t.contents);
        }
        for (conn, slot, who) in [(&mut a, &mut a_child, "cgw"), (&mut b, &mut b_child, "aws")] {
            while let Some(e) = conn.poll_event() {
                match e {
                    Event::IkeSaEstablished(i) => println!(
                        "  {who}: IKE SA established: {} (peer {})",
                        i.suite, i.peer_id
                    ),
                    Event::ChildSaEstablished(c) => {
                        println!(
                            "  {who}: Child SA established: {} in {:#010x} out {:#010x}",
                            c.suite, c.inbound_spi, c.outbound_spi
                        );
                        *slot = Some(c);
                    }
                    other => println!("  {who}: {other:?}"),
                }
            }
        }
    }
    let (Some(ac), Some(bc)) = (a_child, b_child) else {
        bail!("the demo tunnel did not come up");
    };
    let setup = t0.elapsed();
    let (mut a_in, mut a_out) = cgw::child_sa::esp_sas(&ac, &mut cgw_crypto::SystemRandom::new())?;
    let (mut b_in, mut b_out) = cgw::child_sa::esp_sas(&bc, &mut cgw_crypto::SystemRandom::new())?;
    let mut buf = vec![0u8; 2048];
    let head = 64;
    let mut ok = 0;
    for len in 1..=1427usize {
        for (tx, rx) in [(&mut a_out, &mut b_in), (&mut b_out, &mut a_in)] {
            inner_packet(len.max(20), len as u32, &mut buf[head..]);
            let expect = buf[head..head + len.max(20)].to_vec();
            let r = tx.encapsulate(&mut buf, head, expect.len(), 4)?;
            let mut pkt = buf[r].to_vec();
            let d = rx.decapsulate(&mut pkt)?;
            if pkt[d.inner] != expect[..] {
                bail!("packet of {len} bytes changed in transit");
            }
            ok += 1;
        }
    }
    println!("\n  ESP: {ok} packets of 20..1427 bytes crossed both ways intact");
    let n = 200_000u64;
    inner_packet(1400, 1, &mut buf[head..]);
    let start = Instant::now();
    for _ in 0..n {
        let r = a_out.encapsulate(&mut buf, head, 1400, 4)?;
        let d = b_in.decapsulate(&mut buf[r.clone()])?;
        buf.copy_within(r.start + d.inner.start..r.start + d.inner.end, head);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "  one core, encapsulate + decapsulate, 1400-byte packets ({}): {:.2} Gbit/s ({:.0} ns per packet pair)",
        ac.suite,
        n as f64 * 1400.0 * 8.0 / secs / 1e9,
        secs * 1e9 / n as f64
    );
    println!(
        "  tunnel setup took {:.1} ms (both sides' crypto on this core)",
        setup.as_secs_f64() * 1e3
    );
    println!("\ndemo OK");
    Ok(ExitCode::SUCCESS)
}

fn exchange(m: &[u8]) -> String {
    match cgw_wire::IkeHeader::parse(m) {
        Ok(h) => format!(
            "{} {} #{}",
            h.exchange,
            if h.flags.response() {
                "response"
            } else {
                "request"
            },
            h.message_id
        ),
        Err(_) => "?".into(),
    }
}
