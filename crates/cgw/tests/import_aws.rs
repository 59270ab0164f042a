//! `cgw import aws`: describe-vpn-connections JSON, bare XML and Generic text fixtures, broken
//! inputs, and the render -> import round trip.

use cgw::config::{
    CgwConfig, DpdAction, Routing, StartupAction, DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS,
};
use cgw::import::{
    import_aws, render_describe_vpn_connections, AwsConnectionSpec, AwsTarget, AwsTunnelSpec,
    ImportError, ImportOptions, Imported, SourceFormat,
};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/import/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn strings(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

/// The written TOML must load with cgw's own loader, equal the returned config, validate, and
/// have a comment line above every key.
#[track_caller]
fn check_toml(i: &Imported) {
    let back = CgwConfig::from_toml_str(&i.toml).unwrap_or_else(|e| panic!("{e}\n{}", i.toml));
    assert_eq!(back, i.config, "{}", i.toml);
    back.validate()
        .unwrap_or_else(|e| panic!("{e:?}\n{}", i.toml));
    let lines: Vec<&str> = i.toml.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let is_key = !line.starts_with('#')
            && !line.starts_with('[')
            && !line.starts_with(' ')
            && !line.starts_with(']')
            && line.contains(" = ");
        if is_key {
            assert!(
                n > 0 && lines[n - 1].starts_with("# "),
                "key without a comment line: {line:?}\n{}",
                i.toml
            );
        }
    }
    // Every schema key is present (options that are unset appear commented out).
    for key in [
        "local_address",
        "public_address",
        "routing",
        "lan",
        "remote_cidrs",
        "route_table",
        "control_socket",
        "vpn_connection_id",
        "enabled",
        "interval_secs",
        "threshold",
        "failback_hold_secs",
        "name",
        "device",
        "aws_outside_address",
        "psk",
        "inside_cidr",
        "child_lifetime_packets",
        "child_lifetime_bytes",
        "mtu",
        "tcp_mss",
        "ike_proposals",
        "esp_proposals",
        "ike_lifetime_secs",
        "child_lifetime_secs",
        "rekey_margin_secs",
        "rekey_fuzz_percent",
        "replay_window",
        "dpd_interval_secs",
        "dpd_timeout_secs",
        "dpd_action",
        "startup_action",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{key} = "))
                    || l.starts_with(&format!("# {key} = "))),
            "{key} missing\n{}",
            i.toml
        );
    }
}

fn import(name: &str, opts: &ImportOptions) -> Imported {
    let i = import_aws(&fixture(name), opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    check_toml(&i);
    i
}

#[track_caller]
fn import_err(input: &str, opts: &ImportOptions) -> ImportError {
    match import_aws(input, opts) {
        Ok(i) => panic!("expected an error, got:\n{}", i.toml),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_element(e: &ImportError, element: &str, needle: &str) {
    assert_eq!(e.element(), Some(element), "{e}");
    let msg = e.to_string();
    assert!(msg.starts_with(element), "{msg}");
    assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
}

// ---- describe-vpn-connections JSON ----

#[test]
fn vgw_bgp_connection() {
    let i = import("vgw_bgp.json", &ImportOptions::default());
    assert_eq!(i.format, SourceFormat::DescribeJson);
    let c = &i.config;
    assert_eq!(c.gateway.routing, Routing::Bgp);
    assert_eq!(c.gateway.local_address, ip("198.51.100.10"));
    assert_eq!(c.gateway.public_address, Some(ip("198.51.100.10")));
    assert!(!c.gateway.behind_nat());
    assert_eq!(
        c.gateway.vpn_connection_id.as_deref(),
        Some("vpn-0123456789abcdef0")
    );
    assert!(c.gateway.remote_cidrs.is_empty());
    assert_eq!(c.tunnels.len(), 2);

    let t = &c.tunnels[0];
    assert_eq!((t.name.as_str(), t.device.as_str()), ("tunnel1", "cgw0"));
    assert_eq!(t.aws_outside_address, ip("203.0.113.21"));
    assert_eq!(t.psk, "Ex4mple.Key_0nly.For.Docs1234567");
    assert_eq!(t.inside_cidr, net("169.254.10.0/30"));
    assert_eq!(t.aws_inside_address(), ip("169.254.10.1"));
    assert_eq!(t.our_inside_address(), ip("169.254.10.2"));
    assert_eq!(t.tcp_mss, 1379);
    assert_eq!(t.mtu, 1427);
    // The lists are AWS's complete sets: cgw's stronger defaults, not SHA-1/MODP-1024.
    assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);
    assert_eq!(t.esp_proposals, DEFAULT_ESP_PROPOSALS);
    assert_eq!((t.ike_lifetime_secs, t.child_lifetime_secs), (28800, 3600));
    assert_eq!(t.dpd_timeout_secs, 40);
    assert_eq!(t.dpd_action, DpdAction::Restart);
    assert_eq!(t.startup_action, StartupAction::Initiate);
    let b = t.bgp.as_ref().unwrap();
    assert_eq!(
        (b.local_asn, b.peer_asn, b.hold_time_secs, b.keepalive_secs),
        (65000, 64512, 30, 10)
    );

    let t = &c.tunnels[1];
    assert_eq!(t.aws_outside_address, ip("203.0.113.77"));
    assert_eq!(t.psk, "An0ther_Example.Key.For.Tunnel2xy");
    // TunnelInsideCidr "169.254.20.1/30" has host bits set, as AWS sometimes writes it.
    assert_eq!(t.inside_cidr, net("169.254.20.0/30"));
    assert_eq!((t.ike_lifetime_secs, t.child_lifetime_secs), (27000, 3000));
    assert_eq!((t.rekey_margin_secs, t.rekey_fuzz_percent), (540, 50));
    assert_eq!(t.replay_window, 2048);
    assert_eq!(t.startup_action, StartupAction::Respond);
    assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);

    // No DH warnings for complete lists; a warning for the missing --lan.
    assert!(
        !i.warnings.iter().any(|w| w.contains("DHGroupNumbers")),
        "{:?}",
        i.warnings
    );
    assert!(
        i.warnings.iter().any(|w| w.contains("--lan")),
        "{:?}",
        i.warnings
    );

    // The TOML says where things came from.
    for needle in [
        "from TunnelOptions[1].Phase2LifetimeSeconds",
        "from TunnelOptions[0].PreSharedKey",
        "from ipsec_tunnel[1]/customer_gateway/bgp/asn",
        "from ipsec_tunnel[2]/vpn_gateway/bgp/asn",
        "from Options.StaticRoutesOnly = false",
        "virtual private gateway vgw-0bbbbbbbbbbbbbbbb",
        "TunnelOptions[0].DpdTimeoutAction is \"clear\"",
        "from TunnelOptions[1].StartupAction = \"start\"",
    ] {
        assert!(i.toml.contains(needle), "{needle:?} not in\n{}", i.toml);
    }
}

#[test]
fn options_override_addresses_and_prefixes() {
    let opts = ImportOptions {
        local_address: Some(ip("192.0.2.10")),
        remote_cidrs: vec![net("203.0.113.128/25")],
        lan: vec![net("198.51.100.128/25"), net("192.0.2.128/25")],
        source_name: Some("vpn.json".into()),
    };
    let i = import("vgw_bgp.json", &opts);
    let g = &i.config.gateway;
    assert_eq!(g.local_address, ip("192.0.2.10"));
    assert_eq!(g.public_address, Some(ip("198.51.100.10")));
    assert!(g.behind_nat());
    assert_eq!(g.lan, vec![net("198.51.100.128/25"), net("192.0.2.128/25")]);
    assert_eq!(g.remote_cidrs, vec![net("203.0.113.128/25")]);
    assert!(i.toml.contains("from --local-address (differs from the customer gateway address 198.51.100.10: behind NAT)"));
    assert!(i.toml.contains("(vpn.json)"));
    assert!(
        !i.warnings.iter().any(|w| w.contains("--lan")),
        "{:?}",
        i.warnings
    );
    // The IKE ID is the NAT's public address.
    let k = i.config.ike_config(0);
    assert_eq!(
        k.local_id,
        cgw_ike::id_for_addr(std::net::IpAddr::V4(ip("198.51.100.10")))
    );
    assert_eq!(k.local_addr, std::net::IpAddr::V4(ip("192.0.2.10")));
}

#[test]
fn tgw_static_connection_with_narrowed_options() {
    // No AWS file names the VPC CIDR: static routing needs --remote-cidr.
    let e = import_err(
        &fixture("tgw_static_narrowed.json"),
        &ImportOptions::default(),
    );
    assert!(e.to_string().contains("--remote-cidr"), "{e}");
    let i = import(
        "tgw_static_narrowed.json",
        &ImportOptions {
            remote_cidrs: vec![net("172.31.0.0/16")],
            ..ImportOptions::default()
        },
    );
    let c = &i.config;
    assert_eq!(c.gateway.routing, Routing::Static);
    assert_eq!(c.gateway.remote_cidrs, vec![net("172.31.0.0/16")]);
    // The connection's static routes (to the customer network) are the LAN; the deleted
    // route is not used.
    assert_eq!(c.gateway.lan, vec![net("203.0.113.128/26")]);
    assert!(c.tunnels.iter().all(|t| t.bgp.is_none()));
    assert!(
        i.toml.contains("transit gateway tgw-0dddddddddddddddd"),
        "{}",
        i.toml
    );

    let t = &c.tunnels[0];
    assert_eq!(t.inside_cidr, net("169.254.44.4/30"));
    // Phase 1: AES256 / SHA2-256 / DH 14,19 -> one proposal of the strongest: group 19.
    assert_eq!(t.ike_proposals, strings(&["aes256-sha256-ecp256"]));
    // Phase 2: AES256-GCM-16 / DH 19 (the integrity list does not apply to GCM).
    assert_eq!(t.esp_proposals, strings(&["aes256gcm16-ecp256"]));

    let t = &c.tunnels[1];
    assert_eq!(t.inside_cidr, net("169.254.45.8/30"));
    // Phase 1: AES256 (CBC) and AES128-GCM-16, SHA2-512 and SHA1: AES-256-CBC with SHA2-512
    // only, since AWS would pick the lowest of anything more that cgw offered.
    assert_eq!(t.ike_proposals, strings(&["aes256-sha512-ecp384"]));
    // Phase 2: AES256-GCM-16 / SHA2-512 / DH 22,23,20 -> 20 first (the strongest), and
    // nothing dropped (cgw has 22 and 23 too).
    assert!(
        t.esp_proposals[0].starts_with("aes256gcm16-ecp384"),
        "{:?}",
        t.esp_proposals
    );
    assert!(
        !i.warnings
            .iter()
            .any(|w| w.starts_with("TunnelOptions[1].Phase2DHGroupNumbers")),
        "{:?}",
        i.warnings
    );

    // The config drives the IKE engine.
    for k in 0..2 {
        let ike = i.config.ike_config(k);
        assert_eq!(ike.esp_proposals.len(), c.tunnels[k].esp_proposals.len());
    }
}

#[test]
fn tunnels_are_matched_by_outside_address_not_order() {
    let i = import("reversed_order.json", &ImportOptions::default());
    let c = &i.config;
    // TunnelOptions order decides tunnel1/tunnel2; the XML lists them the other way round.
    let t = &c.tunnels[0];
    assert_eq!(t.aws_outside_address, ip("203.0.113.101"));
    assert_eq!(t.psk, "Rev3rsed.Order.Tunnel_A.Key12345");
    assert_eq!(t.inside_cidr, net("169.254.101.0/30"));
    assert_eq!(t.child_lifetime_secs, 1800);
    assert_eq!(t.esp_proposals, strings(&["aes128-sha256-modp2048"]));
    assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);
    assert!(i
        .toml
        .contains("from ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address/ip_address (= TunnelOptions[0].OutsideIpAddress)"));
    let t = &c.tunnels[1];
    assert_eq!(t.aws_outside_address, ip("203.0.113.102"));
    assert_eq!(t.psk, "Rev3rsed.Order.Tunnel_B.Key67890");
    assert_eq!(t.inside_cidr, net("169.254.102.0/30"));
    assert_eq!(t.child_lifetime_secs, 2700);
    let b = t.bgp.as_ref().unwrap();
    assert_eq!((b.local_asn, b.peer_asn), (65010, 64520));
}

// ---- bare XML and Generic text ----

#[test]
fn bare_xml() {
    let i = import("bare.xml", &ImportOptions::default());
    assert_eq!(i.format, SourceFormat::Xml);
    let c = &i.config;
    assert_eq!(c.gateway.routing, Routing::Bgp);
    assert_eq!(
        c.gateway.vpn_connection_id.as_deref(),
        Some("vpn-0badc0ffee0000001")
    );
    assert_eq!(c.gateway.local_address, ip("198.51.100.30"));
    let t = &c.tunnels[1];
    assert_eq!(t.aws_outside_address, ip("203.0.113.132"));
    assert_eq!(t.psk, "Bare.Xml.Tunnel2.Key_ijklmnop");
    assert_eq!(t.inside_cidr, net("169.254.132.0/30"));
    assert_eq!(t.tcp_mss, 1387);
    assert_eq!(t.bgp.as_ref().unwrap().peer_asn, 7224);
    assert_eq!(t.dpd_timeout_secs, 30);
    // Not the template's aes-128-cbc/sha1/group2: cgw's defaults, with a comment and a warning.
    for t in &c.tunnels {
        assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);
        assert_eq!(t.esp_proposals, DEFAULT_ESP_PROPOSALS);
        assert!(!t.ike_proposals.iter().any(|p| p.contains("modp1024")));
    }
    assert!(
        i.warnings
            .iter()
            .any(|w| w.contains("fixed algorithm template")),
        "{:?}",
        i.warnings
    );
    assert!(i.toml.contains("not the XML's aes-128-cbc/sha1/group2"));
}

#[test]
fn generic_text_with_bgp() {
    let i = import("generic_bgp.txt", &ImportOptions::default());
    assert_eq!(i.format, SourceFormat::GenericText);
    let c = &i.config;
    assert_eq!(c.gateway.routing, Routing::Bgp);
    assert_eq!(c.gateway.local_address, ip("198.51.100.40"));
    assert_eq!(
        c.gateway.vpn_connection_id.as_deref(),
        Some("vpn-0c0ffee0c0ffee001")
    );
    let t = &c.tunnels[0];
    assert_eq!(t.aws_outside_address, ip("203.0.113.161"));
    assert_eq!(t.psk, "Generic.Bgp.Tunnel1_Key.abcdefg");
    assert_eq!(t.inside_cidr, net("169.254.161.0/30"));
    assert_eq!((t.mtu, t.tcp_mss), (1436, 1379));
    let b = t.bgp.as_ref().unwrap();
    assert_eq!(
        (b.local_asn, b.peer_asn, b.hold_time_secs),
        (65040, 64512, 30)
    );
    let t = &c.tunnels[1];
    assert_eq!(t.aws_outside_address, ip("203.0.113.162"));
    assert_eq!(t.psk, "Generic.Bgp.Tunnel2_Key.hijklmn");
    assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);
    assert!(i
        .warnings
        .iter()
        .any(|w| w.contains("fixed algorithm template")));
    assert!(i
        .toml
        .contains("from IPsec Tunnel #2 > #3 Tunnel Interface > Tunnel interface MTU"));
}

#[test]
fn generic_text_with_static_routing_needs_the_vpc_cidr() {
    let text = fixture("generic_static.txt");
    let e = import_err(&text, &ImportOptions::default());
    assert_element(&e, "--remote-cidr", "static routing");
    let opts = ImportOptions {
        remote_cidrs: vec![net("203.0.113.128/26")],
        ..Default::default()
    };
    let i = import_aws(&text, &opts).unwrap();
    check_toml(&i);
    assert_eq!(i.config.gateway.routing, Routing::Static);
    assert_eq!(i.config.gateway.remote_cidrs, vec![net("203.0.113.128/26")]);
    assert!(i.config.tunnels.iter().all(|t| t.bgp.is_none()));
    assert_eq!(i.config.tunnels[1].inside_cidr, net("169.254.172.0/30"));
}

#[test]
fn generic_placeholder_address_needs_local_address() {
    let text = fixture("generic_bgp.txt").replace(
        "Customer Gateway:        : 198.51.100.40",
        "Customer Gateway:        : YOUR_UPLINK_ADDRESS",
    );
    let e = import_err(&text, &ImportOptions::default());
    assert_element(
        &e,
        "IPsec Tunnel #1 > #3 Tunnel Interface > Outside IP Addresses > Customer Gateway",
        "--local-address",
    );
    let i = import_aws(
        &text,
        &ImportOptions {
            local_address: Some(ip("192.0.2.10")),
            ..Default::default()
        },
    )
    .unwrap();
    check_toml(&i);
    assert_eq!(i.config.gateway.public_address, None);
    assert!(i.toml.contains("# public_address = "));
    assert!(i.warnings.iter().any(|w| w.contains("public_address")));
}

// ---- broken inputs ----

#[test]
fn missing_outside_address_names_the_element() {
    let e = import_err(
        &fixture("broken_missing_outside.json"),
        &ImportOptions::default(),
    );
    assert_element(
        &e,
        "ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address/ip_address",
        "missing",
    );
}

#[test]
fn two_connections_are_refused() {
    let e = import_err(
        &fixture("broken_two_connections.json"),
        &ImportOptions::default(),
    );
    assert_element(&e, "VpnConnections", "2 connections");
    let msg = e.to_string();
    assert!(msg.contains("vpn-0123456789abcdef0") && msg.contains("vpn-0fedcba9876543210"));
}

#[test]
fn unsupported_dh_groups_only_is_an_error() {
    let e = import_err(
        &fixture("broken_unknown_dh.json"),
        &ImportOptions {
            remote_cidrs: vec![net("172.31.0.0/16")],
            ..ImportOptions::default()
        },
    );
    // 25 and 26 (RFC 5114's small ECP groups) are IANA groups AWS does not offer.
    assert_element(&e, "TunnelOptions[1].Phase1DHGroupNumbers", "25, 26");
}

#[test]
fn garbage_and_empty_input_are_unrecognised() {
    for input in [fixture("garbage.txt"), String::new(), "   \n".to_string()] {
        let e = import_err(&input, &ImportOptions::default());
        assert!(matches!(e, ImportError::UnknownFormat(_)), "{e:?}");
        assert!(
            e.to_string().contains("describe-vpn-connections JSON"),
            "{e}"
        );
    }
}

#[test]
fn malformed_json_and_xml() {
    let e = import_err("{\"VpnConnections\": [", &ImportOptions::default());
    assert_element(&e, "JSON", "not valid JSON");
    let e = import_err("<vpn_connection><ipsec_tunnel>", &ImportOptions::default());
    assert_element(&e, "CustomerGatewayConfiguration", "not well-formed XML");
    let e = import_err("<other/>", &ImportOptions::default());
    assert_element(&e, "CustomerGatewayConfiguration", "<vpn_connection>");
    let e = import_err("{\"VpnConnections\": []}", &ImportOptions::default());
    assert_element(&e, "VpnConnections", "empty");
    let e = import_err("{\"Reservations\": []}", &ImportOptions::default());
    assert_element(&e, "VpnConnections", "not describe-vpn-connections output");
    let e = import_err(
        "{\"VpnConnectionId\": \"vpn-01\", \"Options\": {}}",
        &ImportOptions::default(),
    );
    assert_element(&e, "CustomerGatewayConfiguration", "missing");
}

/// The BGP fixture with `f` applied to its only connection object.
fn edited(f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&fixture("vgw_bgp.json")).unwrap();
    f(&mut v["VpnConnections"][0]);
    serde_json::to_string(&v).unwrap()
}

fn edit_xml(conn: &mut serde_json::Value, from: &str, to: &str) {
    let xml = conn["CustomerGatewayConfiguration"].as_str().unwrap();
    assert!(xml.contains(from), "{from}");
    conn["CustomerGatewayConfiguration"] = xml.replacen(from, to, 1).into();
}

#[test]
fn inconsistent_json_is_refused_with_the_element() {
    let o = ImportOptions::default();
    let e = import_err(
        &edited(|c| c["Options"]["TunnelOptions"][1]["OutsideIpAddress"] = "203.0.113.99".into()),
        &o,
    );
    assert_element(
        &e,
        "TunnelOptions[1].OutsideIpAddress",
        "203.0.113.99 matches no tunnel",
    );

    let e = import_err(
        &edited(|c| {
            c["Options"]["TunnelOptions"][0]["TunnelInsideCidr"] = "169.254.11.0/30".into()
        }),
        &o,
    );
    assert_element(&e, "TunnelOptions[0].TunnelInsideCidr", "disagrees");

    let e = import_err(
        &edited(|c| {
            c["Options"]["TunnelOptions"][1]["IkeVersions"] =
                serde_json::json!([{"Value": "ikev1"}])
        }),
        &o,
    );
    assert_element(&e, "TunnelOptions[1].IkeVersions", "IKEv2 only");

    let e = import_err(
        &edited(|c| c["Options"]["TunnelOptions"][0]["StartupAction"] = "later".into()),
        &o,
    );
    assert_element(&e, "TunnelOptions[0].StartupAction", "\"later\"");

    let e = import_err(
        &edited(|c| {
            c["Options"]["TunnelOptions"][0]["Phase1DHGroupNumbers"] =
                serde_json::json!([{"Value": "twenty"}])
        }),
        &o,
    );
    assert_element(
        &e,
        "TunnelOptions[0].Phase1DHGroupNumbers[0].Value",
        "DH group number",
    );

    let e = import_err(
        &edited(|c| {
            c["Options"]["TunnelOptions"][0]["Phase2EncryptionAlgorithms"] =
                serde_json::json!([{"Value": "3DES"}])
        }),
        &o,
    );
    assert_element(&e, "TunnelOptions[0].Phase2EncryptionAlgorithms", "3DES");

    let e = import_err(
        &edited(|c| {
            c["Options"]["TunnelOptions"][0]
                .as_object_mut()
                .unwrap()
                .remove("PreSharedKey");
            edit_xml(
                c,
                "<pre_shared_key>Ex4mple.Key_0nly.For.Docs1234567</pre_shared_key>",
                "<pre_shared_key></pre_shared_key>",
            );
        }),
        &o,
    );
    assert_element(&e, "ipsec_tunnel[1]/ike/pre_shared_key", "missing");

    let e = import_err(
        &edited(|c| {
            edit_xml(
                c,
                "<ip_address>169.254.10.2</ip_address>",
                "<ip_address>169.254.10.3</ip_address>",
            )
        }),
        &o,
    );
    assert_element(
        &e,
        "ipsec_tunnel[1]/customer_gateway/tunnel_inside_address/ip_address",
        "second host",
    );

    let e = import_err(&edited(|c| edit_xml(c, "<asn>65000</asn>", "")), &o);
    assert_element(&e, "ipsec_tunnel[1]/customer_gateway/bgp/asn", "missing");

    let e = import_err(
        &edited(|c| {
            edit_xml(
                c,
                "<ip_address>198.51.100.10</ip_address>",
                "<ip_address>198.51.100.11</ip_address>",
            )
        }),
        &o,
    );
    assert_element(
        &e,
        "ipsec_tunnel[2]/customer_gateway/tunnel_outside_address/ip_address",
        "one customer gateway has one address",
    );

    let e = import_err(
        &edited(|c| {
            edit_xml(
                c,
                "<ip_address>203.0.113.77</ip_address>",
                "<ip_address>203.0.113.777</ip_address>",
            )
        }),
        &o,
    );
    assert_element(
        &e,
        "ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address/ip_address",
        "expected an IPv4 address",
    );

    // An invalid PSK from AWS fails cgw check with the field named.
    let e = import_err(
        &edited(|c| c["Options"]["TunnelOptions"][0]["PreSharedKey"] = "short".into()),
        &o,
    );
    let ImportError::Invalid(errs) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(errs[0].field(), Some("tunnel[0].psk"));
}

#[test]
fn non_default_traffic_selectors_are_warned_about_and_used() {
    let text = edited(|c| {
        c["Options"]["LocalIpv4NetworkCidr"] = "198.51.100.128/25".into();
        c["Options"]["RemoteIpv4NetworkCidr"] = "203.0.113.128/25".into();
    });
    let i = import_aws(&text, &ImportOptions::default()).unwrap();
    check_toml(&i);
    assert_eq!(i.config.gateway.lan, vec![net("198.51.100.128/25")]);
    assert!(i
        .warnings
        .iter()
        .any(|w| w.starts_with("Options.RemoteIpv4NetworkCidr") && w.contains("TS_UNACCEPTABLE")));
}

#[test]
fn create_vpn_connection_output_and_bare_objects_are_accepted() {
    let v: serde_json::Value = serde_json::from_str(&fixture("vgw_bgp.json")).unwrap();
    let conn = v["VpnConnections"][0].clone();
    let created = serde_json::json!({ "VpnConnection": conn.clone() }).to_string();
    let a = import_aws(&created, &ImportOptions::default()).unwrap();
    let b = import_aws(&conn.to_string(), &ImportOptions::default()).unwrap();
    let c = import_aws(&fixture("vgw_bgp.json"), &ImportOptions::default()).unwrap();
    assert_eq!(a.config, c.config);
    assert_eq!(b.config, c.config);
}

#[test]
fn xml_with_one_or_three_tunnels() {
    let xml = fixture("bare.xml");
    let start = xml.find("  <ipsec_tunnel>").unwrap();
    let end = xml.find("  </ipsec_tunnel>").unwrap() + "  </ipsec_tunnel>\n".len();
    let first = &xml[start..end];
    // One tunnel: allowed, with a warning.
    let one = format!(
        "{}{}",
        &xml[..end],
        &xml[xml.rfind("</vpn_connection>").unwrap()..]
    );
    let i = import_aws(&one, &ImportOptions::default()).unwrap();
    check_toml(&i);
    assert_eq!(i.config.tunnels.len(), 1);
    assert!(i.warnings.iter().any(|w| w.starts_with("tunnel:")));
    // Three: refused.
    let three = xml.replacen(
        first,
        &format!("{first}{}", first.replace("203.0.113.131", "203.0.113.133")),
        1,
    );
    let e = import_err(&three, &ImportOptions::default());
    assert_element(&e, "ipsec_tunnel", "3 tunnels");
    // Two with the same AWS address: refused.
    let dup = xml.replace("203.0.113.132", "203.0.113.131");
    let e = import_err(&dup, &ImportOptions::default());
    assert_element(
        &e,
        "ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address/ip_address",
        "must differ",
    );
}

#[test]
fn static_attribute_in_xml_means_static_routing() {
    let xml = fixture("bare.xml").replace(
        "<vpn_connection_type>ipsec.1</vpn_connection_type>",
        "<vpn_connection_type>ipsec.1</vpn_connection_type>\n  <vpn_connection_attributes>NoBGPVPNConnection</vpn_connection_attributes>",
    );
    let opts = ImportOptions {
        remote_cidrs: vec![net("203.0.113.128/26")],
        ..Default::default()
    };
    let i = import_aws(&xml, &opts).unwrap();
    check_toml(&i);
    assert_eq!(i.config.gateway.routing, Routing::Static);
    assert!(i.config.tunnels.iter().all(|t| t.bgp.is_none()));
    assert!(i.toml.contains("from vpn_connection_attributes"));
}

// ---- render -> import round trip ----

fn spec_bgp() -> AwsConnectionSpec {
    let mut t1 = AwsTunnelSpec::new(
        ip("203.0.113.201"),
        net("169.254.201.0/30"),
        "Round.Trip_Tunnel.One.Key123456",
    );
    t1.phase1_encryption = strings(&["AES256", "AES256-GCM-16"]);
    t1.phase1_integrity = strings(&["SHA2-384", "SHA2-256"]);
    t1.phase1_dh = vec![20, 19, 24];
    t1.phase2_encryption = strings(&["AES256-GCM-16", "AES128"]);
    t1.phase2_integrity = strings(&["SHA2-256"]);
    t1.phase2_dh = vec![20, 14, 5];
    t1.phase1_lifetime_secs = 14400;
    t1.phase2_lifetime_secs = 1800;
    t1.rekey_margin_secs = 120;
    t1.dpd_timeout_secs = 40;
    t1.dpd_action = "restart".into();
    t1.startup_action = "start".into();
    t1.ike_versions = strings(&["ikev2"]);
    let mut t2 = AwsTunnelSpec::new(
        ip("203.0.113.202"),
        net("169.254.202.0/30"),
        "Round.Trip_Tunnel.Two.Key654321",
    );
    // Left out of the JSON: AWS allows everything.
    t2.phase1_encryption.clear();
    t2.phase1_integrity.clear();
    t2.phase1_dh.clear();
    t2.phase2_encryption.clear();
    t2.phase2_integrity.clear();
    t2.phase2_dh.clear();
    for t in [&mut t1, &mut t2] {
        t.amazon_asn = 4_200_000_001;
        t.customer_asn = 65123;
    }
    AwsConnectionSpec::new("vpn-0123456789abcdef9", ip("198.51.100.60"), [t1, t2])
}

#[test]
fn round_trip_bgp_vgw() {
    let spec = spec_bgp();
    let json = render_describe_vpn_connections(&spec);
    // The XML carries AWS's template, not the options.
    assert!(json.contains("<encryption_protocol>aes-128-cbc</encryption_protocol>"));
    assert!(json.contains("<perfect_forward_secrecy>group2</perfect_forward_secrecy>"));

    let i = import_aws(&json, &ImportOptions::default()).unwrap();
    check_toml(&i);
    let c = &i.config;
    assert_eq!(c.gateway.routing, Routing::Bgp);
    assert_eq!(c.gateway.local_address, spec.customer_gateway_address);
    assert_eq!(
        c.gateway.public_address,
        Some(spec.customer_gateway_address)
    );
    assert_eq!(
        c.gateway.vpn_connection_id.as_deref(),
        Some(spec.vpn_connection_id.as_str())
    );
    for (t, s) in c.tunnels.iter().zip(&spec.tunnels) {
        assert_eq!(t.aws_outside_address, s.outside_address);
        assert_eq!(t.psk, s.psk);
        assert_eq!(t.inside_cidr, s.inside_cidr);
        assert_eq!(t.aws_inside_address(), s.aws_inside_address());
        assert_eq!(t.our_inside_address(), s.customer_inside_address());
        assert_eq!(t.ike_lifetime_secs, s.phase1_lifetime_secs);
        assert_eq!(t.child_lifetime_secs, s.phase2_lifetime_secs);
        assert_eq!(t.rekey_margin_secs, s.rekey_margin_secs);
        assert_eq!(t.rekey_fuzz_percent, s.rekey_fuzz_percent);
        assert_eq!(t.replay_window, s.replay_window);
        assert_eq!(t.dpd_timeout_secs, s.dpd_timeout_secs);
        assert_eq!(t.tcp_mss, s.tcp_mss);
        let b = t.bgp.as_ref().unwrap();
        assert_eq!((b.local_asn, b.peer_asn), (s.customer_asn, s.amazon_asn));
        assert_eq!(b.hold_time_secs, s.bgp_hold_time_secs);
    }
    let t = &c.tunnels[0];
    assert_eq!(t.startup_action, StartupAction::Respond);
    assert_eq!(t.ike_proposals, strings(&["aes256-sha384-ecp384"]));
    assert_eq!(t.esp_proposals, strings(&["aes256gcm16-ecp384"]));
    // Its group 24 is one cgw has: nothing is dropped.
    assert!(
        !i.warnings
            .iter()
            .any(|w| w.starts_with("TunnelOptions[0].Phase1DHGroupNumbers")),
        "{:?}",
        i.warnings
    );
    let t = &c.tunnels[1];
    assert_eq!(t.startup_action, StartupAction::Initiate);
    assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);
    assert_eq!(t.esp_proposals, DEFAULT_ESP_PROPOSALS);
}

#[test]
fn round_trip_static_tgw_with_reversed_xml() {
    let mut spec = spec_bgp();
    spec.vpn_connection_id = "vpn-0aaaabbbbccccdddd".into();
    spec.target = AwsTarget::TransitGateway("tgw-0123456789abcdef0".into());
    spec.static_routes_only = true;
    spec.routes = vec![net("203.0.113.128/26"), net("192.0.2.128/25")];
    spec.reverse_xml_tunnel_order = true;
    let json = render_describe_vpn_connections(&spec);
    assert!(json.contains("<vpn_gateway_id></vpn_gateway_id>"));
    assert!(json.contains("NoBGPVPNConnection"));
    assert!(json.contains("\"TransitGatewayId\""));
    let xml_first = json.find("203.0.113.202").unwrap();
    let xml_second = json.find("203.0.113.201").unwrap();
    assert!(xml_first < xml_second, "the XML lists tunnel 2 first");

    // AWS's Routes[] are the static routes to the customer network: they become the LAN, and
    // the VPC CIDR (which no AWS file contains) must be given.
    let err = import_aws(&json, &ImportOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--remote-cidr"), "{err}");
    let opts = ImportOptions {
        remote_cidrs: vec![net("172.31.0.0/16")],
        ..ImportOptions::default()
    };
    let i = import_aws(&json, &opts).unwrap();
    check_toml(&i);
    let c = &i.config;
    assert_eq!(c.gateway.routing, Routing::Static);
    assert_eq!(c.gateway.lan, spec.routes);
    assert_eq!(c.gateway.remote_cidrs, vec![net("172.31.0.0/16")]);
    assert!(
        i.toml.contains("from Routes[].DestinationCidrBlock"),
        "{}",
        i.toml
    );
    assert!(i.toml.contains("transit gateway tgw-0123456789abcdef0"));
    for (t, s) in c.tunnels.iter().zip(&spec.tunnels) {
        assert_eq!(t.aws_outside_address, s.outside_address);
        assert_eq!(t.psk, s.psk);
        assert_eq!(t.inside_cidr, s.inside_cidr);
        assert!(t.bgp.is_none());
    }
    assert_eq!(c.tunnels[0].child_lifetime_secs, 1800);
}

#[test]
fn rendered_default_spec_imports_to_cgw_defaults() {
    let spec = AwsConnectionSpec::new(
        "vpn-0000000000000000a",
        ip("198.51.100.70"),
        [
            AwsTunnelSpec::new(
                ip("203.0.113.211"),
                net("169.254.211.0/30"),
                "Default.Spec.Key.One_12345",
            ),
            AwsTunnelSpec::new(
                ip("203.0.113.212"),
                net("169.254.212.0/30"),
                "Default.Spec.Key.Two_12345",
            ),
        ],
    );
    let json = render_describe_vpn_connections(&spec);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["VpnConnections"][0]["Options"]["TunnelOptions"][0]["Phase1DHGroupNumbers"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    let i = import_aws(&json, &ImportOptions::default()).unwrap();
    check_toml(&i);
    for t in &i.config.tunnels {
        assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);
        assert_eq!(t.esp_proposals, DEFAULT_ESP_PROPOSALS);
        assert_eq!(t.dpd_action, DpdAction::Restart);
        assert_eq!(t.startup_action, StartupAction::Initiate);
    }
    // The only warning is the missing --lan.
    assert_eq!(i.warnings.len(), 1, "{:?}", i.warnings);
}
