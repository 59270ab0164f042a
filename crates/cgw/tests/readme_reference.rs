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
