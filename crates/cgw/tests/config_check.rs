//! `cgw check`: parsing, defaults and every validation rule of `cgw.toml`.

use cgw::config::{
    CgwConfig, ConfigError, DpdAction, Routing, StartupAction, Tunnel, TunnelBgp,
    DEFAULT_ESP_PROPOSALS, DEFAULT_IKE_PROPOSALS,
};
use cgw_ike::{id_for_addr, EspProposal, IkeProposal};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// The smallest valid static configuration: everything else is a default.
const MINIMAL_STATIC: &str = r#"
[gateway]
local_address = "198.51.100.10"
routing = "static"
remote_cidrs = ["203.0.113.128/26"]

[[tunnel]]
aws_outside_address = "203.0.113.21"
psk = "Ex4mple.Key_0nly.For.Docs1234567"
inside_cidr = "169.254.10.0/30"

[[tunnel]]
aws_outside_address = "203.0.113.77"
psk = "An0ther_Example.Key.For.Tunnel2xy"
inside_cidr = "169.254.20.0/30"
"#;

/// A BGP configuration behind NAT with every section present.
const FULL_BGP: &str = r#"
[gateway]
local_address = "192.0.2.10"
public_address = "198.51.100.10"
routing = "bgp"
lan = ["198.51.100.128/25", "192.0.2.128/25"]
route_table = 100
control_socket = "/tmp/cgw-test.sock"
vpn_connection_id = "vpn-0123456789abcdef0"

[monitor]
enabled = false
interval_secs = 5
threshold = 3
failback_hold_secs = 60

[[tunnel]]
name = "primary"
device = "aws-a"
aws_outside_address = "203.0.113.21"
psk = "Ex4mple.Key_0nly.For.Docs1234567"
inside_cidr = "169.254.10.0/30"
mtu = 1446
tcp_mss = 1406
ike_proposals = ["aes256gcm16-prfsha384-ecp384"]
esp_proposals = ["aes256gcm16-ecp384", "aes128-sha256-modp2048"]
ike_lifetime_secs = 28000
child_lifetime_secs = 3000
rekey_margin_secs = 300
rekey_fuzz_percent = 50
dpd_interval_secs = 15
dpd_timeout_secs = 45
dpd_action = "clear"
replay_window = 2048
startup_action = "respond"
[tunnel.bgp]
local_asn = 65000
peer_asn = 64512
hold_time_secs = 30
keepalive_secs = 10

[[tunnel]]
name = "secondary"
device = "aws-b"
aws_outside_address = "203.0.113.77"
psk = "An0ther_Example.Key.For.Tunnel2xy"
inside_cidr = "169.254.20.0/30"
[tunnel.bgp]
local_asn = 65000
peer_asn = 7224
"#;

fn minimal() -> CgwConfig {
    CgwConfig::from_toml_str(MINIMAL_STATIC).expect("parses")
}

fn bgp() -> CgwConfig {
    CgwConfig::from_toml_str(FULL_BGP).expect("parses")
}

/// Asserts that `cfg` fails validation with an error on exactly `field` whose message
/// contains `needle`.
#[track_caller]
fn assert_invalid(cfg: &CgwConfig, field: &str, needle: &str) {
    let errs = cfg
        .validate()
        .expect_err(&format!("expected {field} to be rejected"));
    let hit = errs.iter().find(|e| e.field() == Some(field));
    let Some(e) = hit else {
        panic!("no error for {field}; got: {errs:#?}");
    };
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{field}: ")),
        "message does not start with the field path: {msg}"
    );
    assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
}

#[test]
fn minimal_config_gets_defaults_and_validates() {
    let c = minimal();
    c.validate().expect("defaults validate");
    assert_eq!(c.gateway.routing, Routing::Static);
    assert_eq!(c.gateway.public_address, None);
    assert_eq!(
        c.gateway.effective_public_address(),
        c.gateway.local_address
    );
    assert!(!c.gateway.behind_nat());
    assert_eq!(
        c.gateway.control_socket,
        std::path::PathBuf::from("/run/cgw/cgw.sock")
    );
    assert_eq!(c.gateway.route_table, None);
    assert!(c.monitor.enabled);
    assert_eq!(c.monitor.interval_secs, 2);
    assert_eq!(c.monitor.threshold, 5);
    assert_eq!(c.monitor.failback_hold_secs, 30);
    let names: Vec<_> = c.tunnels.iter().map(|t| t.name.as_str()).collect();
    let devices: Vec<_> = c.tunnels.iter().map(|t| t.device.as_str()).collect();
    assert_eq!(names, ["tunnel1", "tunnel2"]);
    assert_eq!(devices, ["cgw0", "cgw1"]);
    let t = &c.tunnels[0];
    assert_eq!((t.mtu, t.tcp_mss), (1427, 1379));
    assert_eq!(t.ike_proposals, DEFAULT_IKE_PROPOSALS);
    assert_eq!(t.esp_proposals, DEFAULT_ESP_PROPOSALS);
    assert_eq!((t.ike_lifetime_secs, t.child_lifetime_secs), (28800, 3600));
    assert_eq!((t.rekey_margin_secs, t.rekey_fuzz_percent), (270, 100));
    assert_eq!(
        (t.dpd_interval_secs, t.dpd_timeout_secs, t.dpd_action),
        (10, 30, DpdAction::Restart)
    );
    assert_eq!(t.replay_window, 1024);
    assert_eq!(t.startup_action, StartupAction::Initiate);
    assert_eq!(t.bgp, None);
    // Defaults produce no warnings for a complete static setup.
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn default_proposals_start_with_suite_b_gcm_256() {
    assert_eq!(
        IkeProposal::parse(DEFAULT_IKE_PROPOSALS[0]).unwrap(),
        IkeProposal::suite_b_gcm_256()
    );
    assert_eq!(
        EspProposal::parse(DEFAULT_ESP_PROPOSALS[0]).unwrap(),
        EspProposal::suite_b_gcm_256()
    );
    for p in DEFAULT_IKE_PROPOSALS {
        IkeProposal::parse(p).unwrap();
    }
    for p in DEFAULT_ESP_PROPOSALS {
        EspProposal::parse(p).unwrap();
    }
}

#[test]
fn full_bgp_config_parses_and_validates() {
    let c = bgp();
    c.validate().expect("valid");
    assert!(c.gateway.behind_nat());
    assert_eq!(
        c.gateway.effective_public_address(),
        Ipv4Addr::new(198, 51, 100, 10)
    );
    assert_eq!(c.gateway.route_table, Some(100));
    assert!(!c.monitor.enabled);
    let t = &c.tunnels[0];
    assert_eq!((t.name.as_str(), t.device.as_str()), ("primary", "aws-a"));
    assert_eq!(t.dpd_action, DpdAction::Clear);
    assert_eq!(t.startup_action, StartupAction::Respond);
    let b = c.tunnels[1].bgp.as_ref().unwrap();
    assert_eq!(
        (b.local_asn, b.peer_asn, b.hold_time_secs, b.keepalive_secs),
        (65000, 7224, 30, 10)
    );
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn serialised_config_loads_back_equal() {
    for c in [minimal(), bgp()] {
        let text = c.to_toml_string();
        let back = CgwConfig::from_toml_str(&text).expect("reloads");
        assert_eq!(back, c, "{text}");
    }
}

#[test]
fn inside_address_helpers() {
    let c = minimal();
    assert_eq!(
        c.tunnels[0].aws_inside_address(),
        Ipv4Addr::new(169, 254, 10, 1)
    );
    assert_eq!(
        c.tunnels[0].our_inside_address(),
        Ipv4Addr::new(169, 254, 10, 2)
    );
    assert_eq!(
        c.tunnels[1].aws_inside_address(),
        Ipv4Addr::new(169, 254, 20, 1)
    );
}

#[test]
fn ike_config_maps_the_tunnel() {
    let c = bgp();
    let k = c.ike_config(0);
    assert_eq!(k.local_addr, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
    assert_eq!(k.remote_addr, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 21)));
    // Our ID is the public (NAT) address AWS knows, not the local one.
    assert_eq!(
        k.local_id,
        id_for_addr(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)))
    );
    assert_eq!(
        k.remote_id,
        Some(id_for_addr(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 21))))
    );
    assert_eq!(&k.psk[..], b"Ex4mple.Key_0nly.For.Docs1234567");
    // The key is never printed: not by the configuration's, the tunnel's or the engine
    // configuration's Debug, nor by the key's own Display.
    for text in [
        format!("{c:?}"),
        format!("{:#?}", c.tunnels[0]),
        format!("{k:?}"),
        format!("{} {:?}", c.tunnels[0].psk, c.tunnels[0].psk),
    ] {
        assert!(!text.contains("Ex4mple"), "{text}");
    }
    assert_eq!(c.tunnels[0].psk.to_string(), "<redacted>");
    assert_eq!(
        k.ike_proposals,
        vec![IkeProposal::parse("aes256gcm16-prfsha384-ecp384").unwrap()]
    );
    assert_eq!(
        k.esp_proposals,
        vec![
            EspProposal::suite_b_gcm_256(),
            EspProposal::parse("aes128-sha256-modp2048").unwrap()
        ]
    );
    assert_eq!(k.local_ts, vec![cgw_wire::TrafficSelector::IPV4_ANY]);
    assert_eq!(k.remote_ts, vec![cgw_wire::TrafficSelector::IPV4_ANY]);
    assert_eq!(k.lifetimes.ike, Duration::from_secs(28000));
    assert_eq!(k.lifetimes.child, Duration::from_secs(3000));
    assert_eq!(k.replay_window, 2048);

    // Without public_address the ID is the local address; defaults give Suite-B first.
    let m = minimal();
    let k = m.ike_config(1);
    assert_eq!(
        k.local_id,
        id_for_addr(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)))
    );
    assert_eq!(k.ike_proposals[0], IkeProposal::suite_b_gcm_256());
    assert_eq!(k.ike_proposals.len(), DEFAULT_IKE_PROPOSALS.len());
    assert_eq!(k.lifetimes.ike, Duration::from_secs(28800));
    assert_eq!(k.lifetimes.child, Duration::from_secs(3600));
    assert_eq!(k.replay_window, 1024);
}

#[test]
fn try_ike_config_reports_bad_index_and_bad_proposal() {
    let mut c = minimal();
    let e = c.try_ike_config(2).unwrap_err();
    assert_eq!(e.field(), Some("tunnel[2]"));
    c.tunnels[1].esp_proposals = vec!["3des-md5".into()];
    let e = c.try_ike_config(1).unwrap_err();
    assert_eq!(e.field(), Some("tunnel[1].esp_proposals"));
}

#[test]
fn debug_output_redacts_the_psk() {
    let c = minimal();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("Ex4mple"), "{dbg}");
    assert!(dbg.contains("<redacted>"));
}

#[test]
fn load_reads_files_and_reports_unreadable_ones() {
    let dir = std::env::temp_dir().join(format!("cgw-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cgw.toml");
    std::fs::write(&path, FULL_BGP).unwrap();
    assert_eq!(CgwConfig::load(&path).unwrap(), bgp());
    assert_eq!(CgwConfig::load_validated(&path).unwrap(), bgp());

    let missing = dir.join("nope.toml");
    let e = CgwConfig::load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().contains("nope.toml"), "{e}");

    std::fs::write(
        &path,
        MINIMAL_STATIC.replace(
            "inside_cidr = \"169.254.20.0/30\"",
            "inside_cidr = \"169.254.10.0/30\"",
        ),
    )
    .unwrap();
    let errs = CgwConfig::load_validated(&path).unwrap_err();
    assert_eq!(errs[0].field(), Some("tunnel[1].inside_cidr"));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- parse-level errors (serde / toml) ----

#[track_caller]
fn assert_parse_error(text: &str, needles: &[&str]) {
    let e = CgwConfig::from_toml_str(text).expect_err("must not parse");
    assert!(matches!(e, ConfigError::Parse { .. }), "{e:?}");
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "{msg:?} does not contain {n:?}");
    }
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    assert_parse_error(
        &MINIMAL_STATIC.replace("[gateway]", "[gateway]\nlocal_adress = \"192.0.2.1\""),
        &["local_adress"],
    );
    assert_parse_error(
        &MINIMAL_STATIC.replace("psk = \"An0ther", "pks = \"x\"\npsk = \"An0ther"),
        &["pks"],
    );
    assert_parse_error(
        &format!("{FULL_BGP}\nmulti_exit_disc = 100\n"),
        &["multi_exit_disc"],
    );
    assert_parse_error(&format!("{MINIMAL_STATIC}\n[bgp]\nasn = 1\n"), &["bgp"]);
    assert_parse_error(
        &MINIMAL_STATIC.replace("[gateway]", "[monitor]\nperiod = 3\n\n[gateway]"),
        &["period"],
    );
}

#[test]
fn missing_required_keys_and_wrong_types_are_named() {
    assert_parse_error(
        &MINIMAL_STATIC.replace("psk = \"An0ther_Example.Key.For.Tunnel2xy\"\n", ""),
        &["psk"],
    );
    assert_parse_error(
        &MINIMAL_STATIC.replace("routing = \"static\"\n", ""),
        &["routing"],
    );
    assert_parse_error(
        &MINIMAL_STATIC.replace("routing = \"static\"", "routing = \"ospf\""),
        &["ospf"],
    );
    assert_parse_error(
        &MINIMAL_STATIC.replace("\"198.51.100.10\"", "\"198.51.100.300\""),
        &["local_address"],
    );
    assert_parse_error(
        &MINIMAL_STATIC.replace("\"169.254.10.0/30\"", "\"169.254.10.0\""),
        &["inside_cidr"],
    );
    assert_parse_error(
        &MINIMAL_STATIC.replace(
            "inside_cidr = \"169.254.10.0/30\"",
            "inside_cidr = \"169.254.10.0/30\"\nmtu = 70000",
        ),
        &["mtu"],
    );
    assert_parse_error("this is = not toml [", &["cgw.toml"]);
}

// ---- validation: one failing case per rule, each naming its field ----

#[test]
fn tunnel_count_is_one_or_two() {
    let mut c = minimal();
    c.tunnels.clear();
    assert_invalid(&c, "tunnel", "configure 1 or 2");
    let mut c = minimal();
    let mut third = c.tunnels[1].clone();
    third.name = "tunnel3".into();
    third.device = "cgw2".into();
    third.aws_outside_address = Ipv4Addr::new(203, 0, 113, 99);
    third.inside_cidr = "169.254.30.0/30".parse().unwrap();
    c.tunnels.push(third);
    assert_invalid(&c, "tunnel", "3 [[tunnel]] sections");
    // One tunnel is allowed, with a warning.
    let mut c = minimal();
    c.tunnels.pop();
    c.validate().unwrap();
    assert!(c.warnings().iter().any(|w| w.starts_with("tunnel:")));
}

#[test]
fn psk_rules() {
    let cases = [
        ("short12", "7 characters"),
        (&"a".repeat(65)[..], "65 characters"),
        ("has-a-dash-in-it", "contains '-'"),
        ("has space inside", "contains ' '"),
        ("0startsWithZero", "starts with '0'"),
    ];
    for (psk, needle) in cases {
        let mut c = minimal();
        c.tunnels[1].psk = psk.into();
        assert_invalid(&c, "tunnel[1].psk", needle);
    }
    // The extremes that are allowed.
    let mut c = minimal();
    c.tunnels[0].psk = "a.b_c123".into();
    c.tunnels[1].psk = "Z".repeat(64).into();
    c.validate().unwrap();
}

#[test]
fn psk_errors_do_not_echo_the_key() {
    let mut c = minimal();
    c.tunnels[0].psk = "0SecretButInvalid-".into();
    let errs = c.validate().unwrap_err();
    for e in errs {
        assert!(!e.to_string().contains("SecretButInvalid"), "{e}");
    }
}

#[test]
fn inside_cidr_rules() {
    let cases = [
        ("169.254.10.0/29", "/29"),
        ("169.254.10.4/29", "/29"),
        ("169.254.10.1/30", "host bits"),
        ("10.0.0.0/30", "outside 169.254.0.0/16"),
        ("169.254.0.0/30", "reserved"),
        ("169.254.1.0/30", "reserved"),
        ("169.254.2.0/30", "reserved"),
        ("169.254.3.0/30", "reserved"),
        ("169.254.4.0/30", "reserved"),
        ("169.254.5.0/30", "reserved"),
        ("169.254.169.252/30", "reserved"),
        ("169.254.10.0/30", "also tunnel[0]'s"),
    ];
    for (cidr, needle) in cases {
        let mut c = minimal();
        c.tunnels[1].inside_cidr = cidr.parse().unwrap();
        assert_invalid(&c, "tunnel[1].inside_cidr", needle);
    }
    let mut c = minimal();
    c.tunnels[1].inside_cidr = "169.254.6.0/30".parse().unwrap();
    c.validate().unwrap();
}

#[test]
fn device_and_name_rules() {
    for (dev, needle) in [
        ("", "not a valid interface name"),
        ("sixteen-chars-xx", "15 bytes"),
        ("bad/name", "not a valid interface name"),
        ("..", "not a valid interface name"),
        ("cgw0", "also tunnel[0]'s device"),
    ] {
        let mut c = minimal();
        c.tunnels[1].device = dev.into();
        assert_invalid(&c, "tunnel[1].device", needle);
    }
    let mut c = minimal();
    c.tunnels[1].device = "fifteen-chars-x".into();
    c.validate().unwrap();

    let mut c = minimal();
    c.tunnels[1].name = "tunnel1".into();
    assert_invalid(&c, "tunnel[1].name", "also tunnel[0]'s name");
    let mut c = minimal();
    c.tunnels[0].name = "has space".into();
    assert_invalid(&c, "tunnel[0].name", "1 to 32 characters");
}

#[test]
fn outside_address_rules() {
    let mut c = minimal();
    c.tunnels[1].aws_outside_address = c.tunnels[0].aws_outside_address;
    assert_invalid(&c, "tunnel[1].aws_outside_address", "also tunnel[0]'s");
    let mut c = minimal();
    c.tunnels[0].aws_outside_address = Ipv4Addr::UNSPECIFIED;
    assert_invalid(&c, "tunnel[0].aws_outside_address", "0.0.0.0");
    let mut c = minimal();
    c.tunnels[0].aws_outside_address = c.gateway.local_address;
    assert_invalid(
        &c,
        "tunnel[0].aws_outside_address",
        "equals gateway.local_address",
    );
    let mut c = minimal();
    c.gateway.local_address = Ipv4Addr::UNSPECIFIED;
    assert_invalid(&c, "gateway.local_address", "0.0.0.0");
    let mut c = minimal();
    c.gateway.public_address = Some(Ipv4Addr::new(224, 0, 0, 5));
    assert_invalid(&c, "gateway.public_address", "multicast");
}

#[test]
fn mtu_and_mss_rules() {
    for (mtu, needle) in [(575, "576..=1446"), (1447, "1446")] {
        let mut c = minimal();
        c.tunnels[0].mtu = mtu;
        assert_invalid(&c, "tunnel[0].mtu", needle);
    }
    for (mss, needle) in [(535, "536..=1406"), (1407, "1406")] {
        let mut c = minimal();
        c.tunnels[0].mtu = 1446;
        c.tunnels[0].tcp_mss = mss;
        assert_invalid(&c, "tunnel[0].tcp_mss", needle);
    }
    let mut c = minimal();
    c.tunnels[0].mtu = 1400;
    c.tunnels[0].tcp_mss = 1361;
    assert_invalid(&c, "tunnel[0].tcp_mss", "mtu - 40 = 1360");
    c.tunnels[0].tcp_mss = 1360;
    c.validate().unwrap();
    let mut c = minimal();
    c.tunnels[1].mtu = 1446;
    c.tunnels[1].tcp_mss = 1406;
    c.validate().unwrap();
}

#[test]
fn lifetime_rules() {
    for (v, needle) in [(899, "900..=28800"), (28_801, "900..=28800")] {
        let mut c = minimal();
        c.tunnels[0].ike_lifetime_secs = v;
        assert_invalid(&c, "tunnel[0].ike_lifetime_secs", needle);
    }
    for (v, needle) in [(899, "900..=3600"), (3_601, "900..=3600")] {
        let mut c = minimal();
        c.tunnels[0].child_lifetime_secs = v;
        assert_invalid(&c, "tunnel[0].child_lifetime_secs", needle);
    }
    let mut c = minimal();
    c.tunnels[0].ike_lifetime_secs = 1200;
    c.tunnels[0].child_lifetime_secs = 1200;
    assert_invalid(
        &c,
        "tunnel[0].child_lifetime_secs",
        "less than ike_lifetime_secs",
    );
    c.tunnels[0].child_lifetime_secs = 1199;
    c.validate().unwrap();
}

#[test]
fn rekey_rules() {
    let mut c = minimal();
    c.tunnels[0].rekey_margin_secs = 59;
    assert_invalid(&c, "tunnel[0].rekey_margin_secs", "60 up to half");
    let mut c = minimal();
    c.tunnels[0].child_lifetime_secs = 1000;
    c.tunnels[0].rekey_margin_secs = 501;
    assert_invalid(&c, "tunnel[0].rekey_margin_secs", "(500)");
    c.tunnels[0].rekey_margin_secs = 500;
    c.validate().unwrap();
    let mut c = minimal();
    c.tunnels[1].rekey_fuzz_percent = 101;
    assert_invalid(&c, "tunnel[1].rekey_fuzz_percent", "0..=100");
    c.tunnels[1].rekey_fuzz_percent = 0;
    c.validate().unwrap();
}

#[test]
fn replay_window_rule() {
    for v in [63, 2049] {
        let mut c = minimal();
        c.tunnels[0].replay_window = v;
        assert_invalid(&c, "tunnel[0].replay_window", "64..=2048");
    }
}

#[test]
fn dpd_rules() {
    let mut c = minimal();
    c.tunnels[0].dpd_timeout_secs = 29;
    assert_invalid(&c, "tunnel[0].dpd_timeout_secs", "at least 30");
    let mut c = minimal();
    c.tunnels[0].dpd_interval_secs = 0;
    assert_invalid(&c, "tunnel[0].dpd_interval_secs", "at least 1");
    let mut c = minimal();
    c.tunnels[0].dpd_interval_secs = 30;
    assert_invalid(
        &c,
        "tunnel[0].dpd_interval_secs",
        "less than dpd_timeout_secs",
    );
}

#[test]
fn proposal_rules() {
    let mut c = minimal();
    c.tunnels[0].ike_proposals.clear();
    assert_invalid(&c, "tunnel[0].ike_proposals", "empty");
    let mut c = minimal();
    c.tunnels[0].esp_proposals.clear();
    assert_invalid(&c, "tunnel[0].esp_proposals", "empty");
    let mut c = minimal();
    c.tunnels[1].ike_proposals = vec!["aes256-sha384-ecp384".into(), "3des-sha1-modp1024".into()];
    assert_invalid(
        &c,
        "tunnel[1].ike_proposals[1]",
        "unknown algorithm \"3des\"",
    );
    let mut c = minimal();
    c.tunnels[1].ike_proposals = vec!["aes256-sha384".into()];
    assert_invalid(&c, "tunnel[1].ike_proposals[0]", "DH group");
    let mut c = minimal();
    c.tunnels[1].esp_proposals = vec!["aes256gcm16-sha256-ecp384".into()];
    assert_invalid(&c, "tunnel[1].esp_proposals[0]", "no integrity");
}

#[test]
fn bgp_section_rules() {
    let mut c = bgp();
    c.tunnels[1].bgp = None;
    assert_invalid(
        &c,
        "tunnel[1].bgp",
        "routing = \"bgp\" needs a [tunnel.bgp]",
    );

    let mut c = minimal();
    c.tunnels[0].bgp = Some(TunnelBgp::default());
    assert_invalid(&c, "tunnel[0].bgp", "only allowed with routing = \"bgp\"");
    let mut c = minimal();
    c.gateway.routing = Routing::External;
    c.tunnels[0].bgp = Some(TunnelBgp::default());
    assert_invalid(&c, "tunnel[0].bgp", "routing is \"external\"");
}

#[test]
fn bgp_asn_and_timer_rules() {
    let set = |f: &dyn Fn(&mut TunnelBgp)| {
        let mut c = bgp();
        f(c.tunnels[0].bgp.as_mut().unwrap());
        c
    };
    assert_invalid(
        &set(&|b| b.local_asn = 0),
        "tunnel[0].bgp.local_asn",
        "1..=2147483647",
    );
    assert_invalid(
        &set(&|b| b.local_asn = 4_200_000_000),
        "tunnel[0].bgp.local_asn",
        "not supported",
    );
    assert_invalid(
        &set(&|b| b.peer_asn = 65535),
        "tunnel[0].bgp.peer_asn",
        "64512..=65534",
    );
    assert_invalid(
        &set(&|b| b.peer_asn = 100),
        "tunnel[0].bgp.peer_asn",
        "Amazon-side",
    );
    assert_invalid(
        &set(&|b| {
            b.local_asn = 64512;
            b.peer_asn = 64512
        }),
        "tunnel[0].bgp.local_asn",
        "eBGP",
    );
    assert_invalid(
        &set(&|b| b.hold_time_secs = 2),
        "tunnel[0].bgp.hold_time_secs",
        "at least 3",
    );
    assert_invalid(
        &set(&|b| b.keepalive_secs = 11),
        "tunnel[0].bgp.keepalive_secs",
        "a third of hold_time_secs (10)",
    );
    assert_invalid(
        &set(&|b| b.keepalive_secs = 0),
        "tunnel[0].bgp.keepalive_secs",
        "1 up to",
    );
    for ok in [64512, 65534, 4_200_000_000, 4_294_967_294, 7224, 9059] {
        set(&|b| b.peer_asn = ok).validate().unwrap();
    }
    let mut c = bgp();
    c.tunnels[1].bgp.as_mut().unwrap().local_asn = 65001;
    assert_invalid(&c, "tunnel[1].bgp.local_asn", "one ASN");
}

#[test]
fn gateway_rules() {
    let mut c = minimal();
    c.gateway.remote_cidrs.clear();
    assert_invalid(
        &c,
        "gateway.remote_cidrs",
        "static routing needs at least one remote_cidrs entry (the VPC CIDR)",
    );
    // External routing needs none.
    c.gateway.routing = Routing::External;
    c.validate().unwrap();

    let mut c = minimal();
    c.gateway.remote_cidrs = vec!["203.0.113.129/26".parse().unwrap()];
    assert_invalid(&c, "gateway.remote_cidrs[0]", "host bits");
    let mut c = bgp();
    c.gateway.lan.push("198.51.100.128/25".parse().unwrap());
    assert_invalid(&c, "gateway.lan[2]", "listed twice");

    for t in [0, 253, 254, 255] {
        let mut c = bgp();
        c.gateway.route_table = Some(t);
        assert_invalid(&c, "gateway.route_table", "reserved");
    }
    let mut c = minimal();
    c.gateway.control_socket = "".into();
    assert_invalid(&c, "gateway.control_socket", "empty");
    let mut c = minimal();
    c.gateway.vpn_connection_id = Some("vgw-123".into());
    assert_invalid(&c, "gateway.vpn_connection_id", "vpn-<hex>");
}

#[test]
fn monitor_rules() {
    let mut c = minimal();
    c.monitor.interval_secs = 0;
    assert_invalid(&c, "monitor.interval_secs", "at least 1");
    let mut c = minimal();
    c.monitor.threshold = 0;
    assert_invalid(&c, "monitor.threshold", "at least 1");
}

#[test]
fn all_errors_are_reported_at_once() {
    let mut c = minimal();
    c.tunnels[0].psk = "short".into();
    c.tunnels[1].mtu = 100;
    c.monitor.threshold = 0;
    let errs = c.validate().unwrap_err();
    let fields: Vec<_> = errs.iter().filter_map(|e| e.field()).collect();
    for f in ["tunnel[0].psk", "tunnel[1].mtu", "monitor.threshold"] {
        assert!(fields.contains(&f), "{fields:?}");
    }
}

#[test]
fn warnings_point_at_likely_mistakes() {
    let mut c = bgp();
    c.gateway.lan.clear();
    c.gateway.route_table = None;
    let w = c.warnings();
    assert!(w.iter().any(|w| w.starts_with("gateway.lan:")), "{w:?}");
    c.validate().unwrap(); // a warning, not an error

    let mut c = minimal();
    c.gateway.remote_cidrs = vec!["203.0.113.0/24".parse().unwrap()];
    let w = c.warnings();
    assert!(
        w.iter()
            .any(|w| w.starts_with("gateway.remote_cidrs[0]") && w.contains("tunnel[0]")),
        "{w:?}"
    );

    let mut c = bgp();
    c.gateway.lan.clear();
    let w = c.warnings();
    assert!(
        w.iter().any(|w| w.starts_with("gateway.route_table")),
        "{w:?}"
    );
}

#[test]
fn tunnel_new_has_the_defaults() {
    let t = Tunnel::new(
        1,
        Ipv4Addr::new(203, 0, 113, 77),
        "An0ther_Example.Key.For.Tunnel2xy",
        "169.254.20.0/30".parse().unwrap(),
    );
    assert_eq!(t, minimal().tunnels[1]);
}
