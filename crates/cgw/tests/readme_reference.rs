//! The README's configuration reference is checked against the code: every key the parser
//! accepts is documented, nothing else is, and every literal default in the tables is the
//! default the code applies.

use cgw::config::{CgwConfig, DefaultValue, Section, FIELDS};

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

/// The README heading of a section's table.
fn heading(section: Section) -> &'static str {
    match section {
        Section::Gateway => "### `[gateway]`",
        Section::Monitor => "### `[monitor]`",
        Section::Tunnel => "### `[[tunnel]]`",
        Section::TunnelBgp => "### `[tunnel.bgp]`",
    }
}

const SECTIONS: [Section; 4] = [
    Section::Gateway,
    Section::Monitor,
    Section::Tunnel,
    Section::TunnelBgp,
];

/// A file with the required keys only (and an empty `[tunnel.bgp]`), plus `extra` lines in
/// `section`.
fn minimal_with(section: Section, extra: &str) -> String {
    let pick = |s: Section| if s == section { extra } else { "" };
    format!(
        "[gateway]\nlocal_address = \"192.0.2.1\"\nrouting = \"bgp\"\n{}\n[monitor]\n{}\n{TUNNEL}{}\n[tunnel.bgp]\n{}\n",
        pick(Section::Gateway),
        pick(Section::Monitor),
        pick(Section::Tunnel),
        pick(Section::TunnelBgp),
    )
}

fn table_keys(section: Section) -> Vec<String> {
    let mut keys: Vec<String> = FIELDS
        .iter()
        .filter(|f| f.section == section)
        .map(|f| f.key.to_string())
        .collect();
    keys.sort();
    keys
}

#[test]
fn the_field_table_holds_every_key_the_parser_accepts_and_nothing_else() {
    for section in SECTIONS {
        let code = accepted(&minimal_with(section, "zzz_unknown = 1"));
        assert_eq!(
            table_keys(section),
            code,
            "cgw::config::FIELDS vs the parser, section {}",
            section.toml_name()
        );
    }
}

#[test]
fn the_readme_tables_are_the_field_table() {
    for section in SECTIONS {
        let readme = documented(heading(section));
        let table: Vec<(String, String)> = FIELDS
            .iter()
            .filter(|f| f.section == section)
            .map(|f| (f.key.to_string(), f.default.readme_text()))
            .collect();
        assert_eq!(
            readme,
            table,
            "README {} (key, default) vs cgw::config::FIELDS",
            heading(section)
        );
    }
}

#[test]
fn the_field_tables_defaults_are_the_code_defaults() {
    let base = CgwConfig::from_toml_str(&minimal_with(Section::Gateway, "")).unwrap();
    let written = toml::Value::try_from(&base).unwrap();
    let mut checked = 0;
    for f in FIELDS {
        match f.default {
            // Setting a key to its default changes nothing.
            DefaultValue::Value(v) => {
                let text = minimal_with(f.section, &format!("{} = {v}", f.key));
                let with =
                    CgwConfig::from_toml_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.key));
                assert_eq!(
                    with,
                    base,
                    "{}.{}: the table's default {v} is not the code's",
                    f.section.toml_name(),
                    f.key
                );
                checked += 1;
            }
            // An unset key stays out of the parsed configuration.
            DefaultValue::Unset => {
                let table = match f.section {
                    Section::Gateway => &written["gateway"],
                    Section::Monitor => &written["monitor"],
                    Section::Tunnel => &written["tunnel"][0],
                    Section::TunnelBgp => &written["tunnel"][0]["bgp"],
                };
                if f.key != "bgp" {
                    assert!(
                        table.get(f.key).is_none(),
                        "{}.{} is unset by default, but the code gives it {:?}",
                        f.section.toml_name(),
                        f.key,
                        table.get(f.key)
                    );
                }
                checked += 1;
            }
            DefaultValue::Required => {
                // Leaving it out is an error naming the key.
                let text: String = minimal_with(Section::Gateway, "")
                    .lines()
                    .filter(|l| !l.starts_with(&format!("{} = ", f.key)))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let e = toml::from_str::<CgwConfig>(&text).expect_err(f.key);
                assert!(e.to_string().contains(f.key), "{}: {e}", f.key);
                checked += 1;
            }
            DefaultValue::Derived(_) => {}
        }
    }
    assert!(checked >= 40, "only {checked} defaults checked");
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
    for f in FIELDS {
        let Some(r) = &f.range else { continue };
        let row =
            row(heading(f.section), f.key).unwrap_or_else(|| panic!("{} not in the README", f.key));
        assert!(
            row.contains(&r.text(false)),
            "the README row of {}.{} does not say {}: {row}",
            f.section.toml_name(),
            f.key,
            r.text(false)
        );
        if r.lab_min != r.min {
            assert!(
                row.contains(&r.text(true)),
                "the README row of {}.{} does not say {} (lab mode): {row}",
                f.section.toml_name(),
                f.key,
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
    // Every key it writes is commented with the table's description, and its range if any.
    let lines: Vec<&str> = toml.lines().collect();
    let mut section = Section::Gateway;
    let mut written = 0;
    for (i, l) in lines.iter().enumerate() {
        match *l {
            "[gateway]" => section = Section::Gateway,
            "[monitor]" => section = Section::Monitor,
            "[[tunnel]]" => section = Section::Tunnel,
            "[tunnel.bgp]" => section = Section::TunnelBgp,
            _ => {}
        }
        let Some((key, _)) = l.trim_start_matches("# ").split_once(" = ") else {
            continue;
        };
        if !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        let f = cgw::config::field_of(section, key);
        let comment = lines[i - 1];
        assert!(
            comment.starts_with(&format!("# {}", f.doc)),
            "{key}: {comment}"
        );
        if let Some(r) = &f.range {
            assert!(
                comment.contains(&format!("(allowed: {})", r.text(false))),
                "{key}: {comment}"
            );
        }
        written += 1;
    }
    assert!(written >= 40, "only {written} keys written");
    for f in FIELDS.iter().filter(|f| f.range.is_some()) {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{} = ", f.key))),
            "{} not written",
            f.key
        );
    }
}
