//! The README's configuration reference is checked against the code: every key the parser
//! accepts is documented, nothing else is, and every literal default in the tables is the
//! default the code applies.

use cgw::config::CgwConfig;

const README: &str = include_str!("../../../README.md");

const GATEWAY: &str =
    "[gateway]\nlocal_address = \"192.0.2.1\"\nrouting = \"bgp\"\nlan = [\"10.10.0.0/24\"]\n";
const TUNNEL: &str = "[[tunnel]]\naws_outside_address = \"203.0.113.11\"\npsk = \"Abcdefgh.12345678\"\ninside_cidr = \"169.254.11.0/30\"\n";

/// `(key, default cell)` of the table under the heading that starts with `heading`.
fn documented(heading: &str) -> Vec<(String, String)> {
    let mut lines = README.lines().skip_while(|l| !l.starts_with(heading));
    assert!(lines.next().is_some(), "README has no {heading:?} section");
    lines
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let key = cells[1].trim_matches('`').to_string();
            (key, cells[2].to_string())
        })
        .collect()
}

/// The keys the parser accepts in the table where `text` puts an unknown key, read from
/// serde's "unknown field ..., expected one of ..." error (derived from the structs).
fn accepted(text: &str) -> Vec<String> {
    let err = toml::from_str::<CgwConfig>(text)
        .expect_err("an unknown key is refused")
        .to_string();
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected error: {err}"));
    let mut keys: Vec<String> = list
        .split(',')
        .map(|k| k.trim().trim_matches('`').to_string())
        .filter(|k| !k.is_empty())
        .map(|k| {
            k.lines()
                .next()
                .unwrap()
                .trim()
                .trim_matches('`')
                .to_string()
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn every_key_the_parser_accepts_is_documented_and_nothing_else() {
    let cases = [
        ("### `[gateway]`", format!("{GATEWAY}zzz_unknown = 1\n")),
        (
            "### `[monitor]`",
            format!("{GATEWAY}[monitor]\nzzz_unknown = 1\n"),
        ),
        (
            "### `[[tunnel]]`",
            format!("{GATEWAY}{TUNNEL}zzz_unknown = 1\n"),
        ),
        (
            "### `[tunnel.bgp]`",
            format!("{GATEWAY}{TUNNEL}[tunnel.bgp]\nzzz_unknown = 1\n"),
        ),
    ];
    for (heading, text) in cases {
        let code = accepted(&text);
        let mut doc: Vec<String> = documented(heading).into_iter().map(|(k, _)| k).collect();
        doc.sort();
        assert_eq!(
            doc, code,
            "README {heading} documents {doc:?}, the parser accepts {code:?}"
        );
    }
}

#[test]
fn documented_defaults_are_the_code_defaults() {
    let text = format!("{GATEWAY}{TUNNEL}[tunnel.bgp]\n");
    let cfg = CgwConfig::from_toml_str(&text).unwrap();
    let v = toml::Value::try_from(&cfg).unwrap();
    let tables = [
        ("### `[gateway]`", &v["gateway"]),
        ("### `[monitor]`", &v["monitor"]),
        ("### `[[tunnel]]`", &v["tunnel"][0]),
        ("### `[tunnel.bgp]`", &v["tunnel"][0]["bgp"]),
    ];
    let mut checked = 0;
    for (heading, table) in tables {
        for (key, default) in documented(heading) {
            // Only literal defaults (in backticks) are checked; "required", "unset" and
            // references to other keys are prose.
            let Some(lit) = default
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
                .filter(|d| !d.contains('`'))
            else {
                continue;
            };
            if key == "routing" || key == "lan" || key == "local_address" {
                continue; // set by the test's base file
            }
            let got = match table.get(&key) {
                Some(x) => x.to_string(),
                // Not serialised: the empty value.
                None => {
                    assert!(
                        ["false", "0", "[]"].contains(&lit),
                        "{heading} {key}: README says {lit}, the code leaves it unset"
                    );
                    checked += 1;
                    continue;
                }
            };
            let norm = |s: &str| s.replace(' ', "");
            assert_eq!(
                norm(&got),
                norm(lit),
                "{heading} {key}: README says {lit}, the code's default is {got}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} defaults checked");
}

/// The README's `cgw status --json` example is the typed status document: it parses, and
/// every key the model writes is in the example and no other (compared level by level).
#[test]
fn the_readme_status_example_is_the_status_model() {
    let block = README
        .split("### `cgw status --json`")
        .nth(1)
        .and_then(|r| r.split("```json").nth(1))
        .and_then(|r| r.split("```").next())
        .expect("README has a cgw status --json block");
    let example: serde_json::Value = serde_json::from_str(block).expect("the example is JSON");
    let parsed: cgw::status::Status =
        serde_json::from_value(example.clone()).expect("the example is a status document");
    let written = serde_json::to_value(&parsed).unwrap();
    fn keys(path: &str, a: &serde_json::Value, b: &serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let kx: Vec<_> = x.keys().collect();
                let ky: Vec<_> = y.keys().collect();
                assert_eq!(kx, ky, "keys of {path} in the README vs the model");
                for k in x.keys() {
                    keys(&format!("{path}.{k}"), &x[k], &y[k]);
                }
            }
            (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    keys(&format!("{path}[{i}]"), p, q);
                }
            }
            _ => {}
        }
    }
    keys("status", &example, &written);
}

/// The whole row of `key` in the table under `heading`.
fn row(heading: &str, key: &str) -> Option<String> {
    README
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .find(|l| l.starts_with(&format!("| `{key}` |")))
        .map(str::to_string)
}

#[test]
fn every_range_the_validator_enforces_is_in_the_readme() {
    for r in cgw::config::RANGES {
        let heading = match r.section {
            "monitor" => "### `[monitor]`",
            "tunnel" => "### `[[tunnel]]`",
            other => panic!("no README table for {other}"),
        };
        let row = row(heading, r.key).unwrap_or_else(|| panic!("{} not in the README", r.key));
        assert!(
            row.contains(&r.text(false)),
            "the README row of {}.{} does not say {}: {row}",
            r.section,
            r.key,
            r.text(false)
        );
        if r.lab_min != r.min {
            assert!(
                row.contains(&r.text(true)),
                "the README row of {}.{} does not say {} (lab mode): {row}",
                r.section,
                r.key,
                r.text(true)
            );
        }
    }
}

#[test]
fn the_validator_and_the_import_comments_use_the_range_table() {
    // Lab mode allows 20 s lifetimes, and the message says so (it used to quote AWS's 900).
    let base = format!("{GATEWAY}lab_mode = true\n{TUNNEL}");
    let with = |extra: &str| {
        let c: CgwConfig = toml::from_str(&format!("{base}{extra}")).unwrap();
        c.validate()
            .err()
            .map(|e| {
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    };
    let e = with("child_lifetime_secs = 10\n");
    assert!(e.contains("20..=3600 in lab mode"), "{e}");
    let e = with("replay_window = 32\n");
    assert!(e.contains("64..=2048"), "{e}");
    // Every ranged key that `cgw import aws` writes is commented with its range.
    let json = cgw::emulate::Emulator::parse(cgw::emulate::EXAMPLE)
        .unwrap()
        .describe_vpn_connections_json();
    let opts = cgw::import::ImportOptions {
        remote_cidrs: vec!["10.201.0.0/16".parse().unwrap()],
        ..Default::default()
    };
    let toml = cgw::import::import_aws(&json, &opts).unwrap().toml;
    for r in cgw::config::RANGES {
        let lines: Vec<&str> = toml.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("{} = ", r.key)))
            .unwrap_or_else(|| panic!("{} not written", r.key));
        assert!(
            lines[at - 1].contains(&format!("(allowed: {})", r.text(false))),
            "{}: {}",
            r.key,
            lines[at - 1]
        );
    }
}
