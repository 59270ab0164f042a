//! `cgw emulate-aws`'s configuration side: the emulator file, the AWS endpoint configurations
//! built from it, AWS's proposal order, and the describe-vpn-connections JSON that
//! `cgw import aws` must take unchanged. (The endpoints running for real: tests/netns_demo.rs.)

use cgw::config::{DpdAction, Routing, StartupAction};
use cgw::emulate::{aws_order_proposals, Emulator, EXAMPLE};
use cgw::import::{import_aws, ImportOptions};
use cgw_ike::{Config, Connection, Event};
use std::net::Ipv4Addr;
use std::time::Instant;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn proposals_follow_aws_order_lowest_first() {
    let all_enc = s(&["AES256-GCM-16", "AES128", "AES128-GCM-16", "AES256"]);
    let all_int = s(&["SHA2-512", "SHA1", "SHA2-384", "SHA2-256"]);
    let ike = aws_order_proposals(&all_enc, &all_int, &[20, 2, 14, 24], true).unwrap();
    assert_eq!(
        ike,
        [
            "aes128-aes256-sha1-sha256-sha384-sha512-modp1024-modp2048-ecp384-modp2048s256",
            "aes128gcm16-aes256gcm16-prfsha1-prfsha256-prfsha384-prfsha512-modp1024-modp2048-ecp384-modp2048s256",
        ]
    );
    let esp = aws_order_proposals(&s(&["AES256-GCM-16"]), &[], &[20, 5], false).unwrap();
    assert_eq!(esp, ["aes256gcm16-modp1536-ecp384"]);
    assert!(aws_order_proposals(&s(&["3DES"]), &all_int, &[2], true).is_err());
    // Groups 21-24 are AWS's too; a number AWS does not define is not.
    let only_new = aws_order_proposals(&all_enc, &all_int, &[22, 21], true).unwrap();
    assert!(
        only_new[0].ends_with("-ecp521-modp1024s160"),
        "{only_new:?}"
    );
    assert!(aws_order_proposals(&all_enc, &all_int, &[25, 26], true)
        .unwrap_err()
        .contains("no DH group"));
    assert!(aws_order_proposals(&s(&["AES128"]), &[], &[2], false).is_err());
}

/// Runs IKE_SA_INIT and IKE_AUTH between two engines in memory; returns the negotiated IKE
/// and Child SA suites as the initiator sees them.
fn negotiate(initiator: Config, responder: Config) -> (String, String) {
    let mut a = Connection::new(initiator, Box::new(cgw_crypto::SystemRandom::new()));
    let mut b = Connection::new(responder, Box::new(cgw_crypto::SystemRandom::new()));
    let now = Instant::now();
    a.initiate(now);
    let (mut ike, mut child) = (None, None);
    for _ in 0..10 {
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, t.remote, t.local, &t.contents);
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, t.remote, t.local, &t.contents);
        }
        while let Some(e) = a.poll_event() {
            match e {
                Event::IkeSaEstablished(i) => ike = Some(i.suite.to_string()),
                Event::ChildSaEstablished(c) => child = Some(c.suite.to_string()),
                _ => {}
            }
        }
        while b.poll_event().is_some() {}
    }
    (ike.expect("IKE SA"), child.expect("Child SA"))
}

#[test]
fn the_emulated_endpoint_picks_the_lowest_value_it_allows() {
    let emu = Emulator::parse(EXAMPLE).unwrap();
    let aws = emu.endpoint_config(0).unwrap().try_ike_config(0).unwrap();
    let customer = |ike: &str, esp: &str| {
        let mut c = Config::new(
            Ipv4Addr::new(198, 51, 100, 10).into(),
            Ipv4Addr::new(203, 0, 113, 11).into(),
            "Emulated.Tunnel1_PreShared_Key_0".as_bytes().to_vec(),
        );
        c.ike_proposals = ike
            .split(',')
            .map(|p| cgw_ike::IkeProposal::parse(p).unwrap())
            .collect();
        c.esp_proposals = esp
            .split(',')
            .map(|p| cgw_ike::EspProposal::parse(p).unwrap())
            .collect();
        c
    };
    // Suite-B-GCM-256 alone: that is what AWS takes.
    let (ike, child) = negotiate(
        customer("aes256-sha384-ecp384", "aes256gcm16-ecp384"),
        aws.clone(),
    );
    assert!(ike.contains("aes256") && ike.contains("sha384"), "{ike}");
    assert!(child.contains("aes256gcm16"), "{child}");
    // One IKE proposal with several transforms of each kind: AWS takes the lowest of each,
    // including the DH group (the initiator's ECP-384 guess draws INVALID_KE_PAYLOAD for
    // MODP-2048). For ESP, a fallback proposal after Suite-B is what AWS picks.
    let (ike, child) = negotiate(
        customer(
            "aes256-aes128-sha384-sha256-ecp384-modp2048",
            "aes256gcm16-ecp384,aes128-sha1-modp2048",
        ),
        aws,
    );
    assert!(
        ike.starts_with("aes128-sha256") && ike.ends_with("modp2048"),
        "{ike}"
    );
    assert!(child.starts_with("aes128-sha1"), "{child}");
}

#[test]
fn endpoint_configs_play_aws() {
    let text = EXAMPLE.replace("routing = \"static\"", "routing = \"bgp\"");
    let emu = Emulator::parse(&text).unwrap();
    for i in 0..2 {
        let c = emu.endpoint_config(i).unwrap();
        let t = &c.tunnels[0];
        assert_eq!(t.role, cgw::config::Role::AwsEndpoint);
        assert_eq!(c.gateway.local_address, emu.spec.tunnels[i].outside_address);
        assert_eq!(t.aws_outside_address, Ipv4Addr::new(198, 51, 100, 10));
        // AWS on the first inside address, the customer gateway on the second.
        let net = u32::from(t.inside_cidr.network());
        assert_eq!(u32::from(t.our_inside_address()), net + 1);
        assert_eq!(u32::from(t.aws_inside_address()), net + 2);
        assert_eq!(t.startup_action, StartupAction::Respond);
        assert_eq!(t.dpd_action, DpdAction::Clear);
        assert_eq!(
            (t.ike_lifetime_secs, t.child_lifetime_secs),
            (28_800, 3_600)
        );
        assert_eq!((t.rekey_margin_secs, t.rekey_fuzz_percent), (270, 100));
        assert!(!c.monitor.enabled);
        let b = t.bgp.as_ref().unwrap();
        assert_eq!((b.local_asn, b.peer_asn), (64512, 65000));
        assert_eq!(b.med, Some([100, 200][i]));
        assert!(b.passive);
        assert_eq!(c.gateway.routing, Routing::Bgp);
        assert_eq!(c.gateway.lan, emu.vpc_cidrs);
        let ike = c.try_ike_config(0).unwrap();
        assert!(!ike.lifetimes.lead, "AWS rekeys in its own window");
        assert_eq!(
            ike.local_ts,
            vec![cgw_wire::TrafficSelector::IPV4_ANY],
            "0.0.0.0/0"
        );
    }
    assert_ne!(
        emu.endpoint_config(0).unwrap().gateway.control_socket,
        emu.endpoint_config(1).unwrap().gateway.control_socket
    );
}

#[test]
fn the_json_imports_unchanged_into_a_matching_customer_config() {
    for routing in ["static", "bgp"] {
        let text = EXAMPLE.replace("routing = \"static\"", &format!("routing = \"{routing}\""));
        let emu = Emulator::parse(&text).unwrap();
        let json = emu.describe_vpn_connections_json();
        let opts = ImportOptions {
            remote_cidrs: if routing == "static" {
                emu.vpc_cidrs.clone()
            } else {
                Vec::new()
            },
            ..ImportOptions::default()
        };
        let imported = import_aws(&json, &opts).unwrap();
        let c = &imported.config;
        assert_eq!(
            c.gateway.effective_public_address(),
            emu.spec.customer_gateway_address
        );
        for (i, t) in c.tunnels.iter().enumerate() {
            let e = emu.endpoint_config(i).unwrap();
            let et = &e.tunnels[0];
            assert_eq!(t.aws_outside_address, e.gateway.local_address);
            assert_eq!(t.psk, et.psk);
            assert_eq!(t.inside_cidr, et.inside_cidr);
            // Each end's inside address is the other's peer address.
            assert_eq!(t.our_inside_address(), et.aws_inside_address());
            assert_eq!(t.aws_inside_address(), et.our_inside_address());
            assert_eq!(t.child_lifetime_secs, et.child_lifetime_secs);
            assert_eq!(t.bgp.is_some(), routing == "bgp");
        }
        if routing == "static" {
            // Routes[] (the static routes to the customer network) became the LAN.
            assert_eq!(c.gateway.lan, emu.spec.routes);
        }
    }
}

#[test]
fn bad_emulator_files_are_refused_with_the_field_named() {
    let one = EXAMPLE
        .split("[[tunnel]]")
        .take(2)
        .collect::<Vec<_>>()
        .join("[[tunnel]]");
    assert!(Emulator::parse(&one)
        .unwrap_err()
        .contains("exactly two tunnels"));
    let e = Emulator::parse(&EXAMPLE.replace("169.254.11.0/30", "169.254.11.0/29")).unwrap_err();
    assert!(e.contains("tunnel[0].inside_cidr"), "{e}");
    let e = Emulator::parse(&EXAMPLE.replace("vpc_cidrs = [\"10.201.0.0/16\"]", "vpc_cidrs = []"))
        .unwrap_err();
    assert!(e.contains("vpc_cidrs"), "{e}");
    let e = Emulator::parse(&EXAMPLE.replace(
        "inside_cidr = \"169.254.12.0/30\"",
        "inside_cidr = \"169.254.12.0/30\"\nphase1_dh_groups = [25, 26]",
    ))
    .unwrap_err();
    assert!(
        e.contains("tunnel[1].phase1_*") && e.contains("no DH group"),
        "{e}"
    );
    let e = Emulator::parse(&EXAMPLE.replace("psk =", "pks =")).unwrap_err();
    assert!(e.contains("pks"), "{e}");
    let e = Emulator::parse(&EXAMPLE.replace(
        "inside_cidr = \"169.254.12.0/30\"",
        "inside_cidr = \"169.254.11.0/30\"",
    ));
    assert!(e.unwrap_err().contains("tunnel[1].inside_cidr"));
}

#[test]
fn the_command_line_prints_the_example_and_the_json() {
    let cgw = env!("CARGO_BIN_EXE_cgw");
    let out = std::process::Command::new(cgw)
        .args(["emulate-aws", "--print-example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), EXAMPLE);
    let dir = std::env::temp_dir().join(format!("cgw-emulate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("aws-side.toml");
    std::fs::write(
        &file,
        EXAMPLE.replace("routing = \"static\"", "routing = \"bgp\""),
    )
    .unwrap();
    let out = std::process::Command::new(cgw)
        .args(["emulate-aws", "--describe", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let json = String::from_utf8(out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let c = &v["VpnConnections"][0];
    assert_eq!(c["Options"]["StaticRoutesOnly"], false);
    assert_eq!(
        c["CustomerGatewayConfiguration"]
            .as_str()
            .map(|x| x.contains("<asn>64512</asn>")),
        Some(true)
    );
    // A broken file: exit 2 and the field named, before anything is touched.
    std::fs::write(&file, EXAMPLE.replace("psk =", "secret =")).unwrap();
    let out = std::process::Command::new(cgw)
        .args(["emulate-aws", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 12: MODP-6144 and MODP-8192 cost 50-100 ms of CPU per IKE_SA_INIT: the emulated
/// endpoint accepts them only when the file lists DH groups itself, though AWS's default
/// lists allow them; cgw's own defaults never offer or accept them.
#[test]
fn expensive_modp_groups_are_off_unless_listed() {
    let groups = |ps: &[String]| -> Vec<String> {
        ps.iter()
            .flat_map(|p| p.split('-').map(str::to_string).collect::<Vec<_>>())
            .filter(|x| x.starts_with("modp") || x.starts_with("ecp"))
            .collect()
    };
    let emu = Emulator::parse(EXAMPLE).unwrap();
    let t = &emu.endpoint_config(0).unwrap().tunnels[0];
    for list in [&t.ike_proposals, &t.esp_proposals] {
        let g = groups(list);
        assert!(g.contains(&"modp4096".to_string()), "{list:?}");
        assert!(
            !g.iter().any(|x| x == "modp6144" || x == "modp8192"),
            "{list:?}"
        );
    }
    // The describe JSON still shows what AWS allows.
    let json = emu.describe_vpn_connections_json();
    assert!(json.contains("18"), "{json}");
    // Listed in the file: accepted.
    let text = EXAMPLE.replace(
        "inside_cidr = \"169.254.11.0/30\"",
        "inside_cidr = \"169.254.11.0/30\"\nphase1_dh_groups = [18, 20]\nphase2_dh_groups = [18]",
    );
    let emu = Emulator::parse(&text).unwrap();
    let t = &emu.endpoint_config(0).unwrap().tunnels[0];
    assert!(groups(&t.ike_proposals).contains(&"modp8192".to_string()));
    assert!(groups(&t.esp_proposals).contains(&"modp8192".to_string()));
    // An initiator offering only MODP-8192 gets NO_PROPOSAL_CHOSEN from the default endpoint.
    let emu = Emulator::parse(EXAMPLE).unwrap();
    let aws = emu.endpoint_config(0).unwrap().try_ike_config(0).unwrap();
    let mut c = Config::new(
        Ipv4Addr::new(198, 51, 100, 10).into(),
        Ipv4Addr::new(203, 0, 113, 11).into(),
        "Emulated.Tunnel1_PreShared_Key_0".as_bytes().to_vec(),
    );
    c.ike_proposals = vec![cgw_ike::IkeProposal::parse("aes256-sha256-modp8192").unwrap()];
    let mut a = Connection::new(c, Box::new(cgw_crypto::SystemRandom::new()));
    let mut b = Connection::new(aws, Box::new(cgw_crypto::SystemRandom::new()));
    let now = Instant::now();
    a.initiate(now);
    let t = a.poll_transmit().unwrap();
    b.handle_datagram(now, t.remote, t.local, &t.contents);
    let r = cgw_wire::Message::parse(&b.poll_transmit().unwrap().contents).unwrap();
    assert!(r.notify(cgw_wire::NotifyType::NO_PROPOSAL_CHOSEN).is_some());
    // cgw's defaults: Suite-B only.
    assert!(!cgw::config::DEFAULT_IKE_PROPOSALS
        .iter()
        .chain(cgw::config::DEFAULT_ESP_PROPOSALS)
        .any(|p| p.contains("modp6144") || p.contains("modp8192")));
}
