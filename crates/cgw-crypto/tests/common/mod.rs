//! Shared helpers of the known-answer tests: a parser for the vector files in
//! `tests/vectors/` and a `Random` that replays fixed bytes.
//!
//! Vector file format: `#` starts a comment line; a record is a run of `key = value` lines,
//! records are separated by blank lines. Values are hex strings unless the test reads them
//! with [`Record::str`]. Every file must begin with a comment header naming its source.
#![allow(dead_code)]

use cgw_crypto::Random;

/// One record of a vector file.
#[derive(Debug, Clone)]
pub struct Record {
    /// File name and line of the record's first field, for failure messages.
    pub at: String,
    fields: Vec<(String, String)>,
}

impl Record {
    /// The raw value of `key`; panics when absent.
    pub fn str(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{}: no field `{key}`", self.at))
    }

    /// Whether the record has `key`.
    pub fn has(&self, key: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == key)
    }

    /// The value of `key` decoded from hex (an empty value is an empty vector).
    pub fn hex(&self, key: &str) -> Vec<u8> {
        hex::decode(self.str(key))
            .unwrap_or_else(|e| panic!("{}: field `{key}` is not hex: {e}", self.at))
    }

    /// The value of `key` as a decimal number.
    pub fn num(&self, key: &str) -> u64 {
        self.str(key)
            .parse()
            .unwrap_or_else(|e| panic!("{}: field `{key}` is not a number: {e}", self.at))
    }
}

/// Parses the text of a vector file (`name` is used in messages only).
pub fn parse(name: &str, text: &str) -> Vec<Record> {
    assert!(
        text.starts_with('#'),
        "{name}: a vector file must start with a comment header naming its source"
    );
    let mut records = Vec::new();
    let mut cur: Option<Record> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if let Some(r) = cur.take() {
                records.push(r);
            }
            continue;
        }
        let (k, v) = line
            .split_once(" = ")
            .map(|(k, v)| (k.trim(), v.trim()))
            .or_else(|| line.strip_suffix(" =").map(|k| (k.trim(), "")))
            .unwrap_or_else(|| panic!("{name}:{}: expected `key = value`: {line:?}", i + 1));
        let r = cur.get_or_insert_with(|| Record {
            at: format!("{name}:{}", i + 1),
            fields: Vec::new(),
        });
        assert!(
            !r.has(k),
            "{name}:{}: field `{k}` repeated in one record",
            i + 1
        );
        r.fields.push((k.to_string(), v.to_string()));
    }
    if let Some(r) = cur.take() {
        records.push(r);
    }
    records
}

/// Loads `tests/vectors/<name>`.
pub fn load(name: &str) -> Vec<Record> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let records = parse(name, &text);
    assert!(!records.is_empty(), "{name}: no records");
    records
}

/// A [`Random`] that hands out the given bytes in order (for IVs of published vectors) and
/// panics when asked for more than it holds.
pub struct FixedRandom {
    bytes: Vec<u8>,
    at: usize,
}

impl FixedRandom {
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
            at: 0,
        }
    }

    /// Whether every byte was handed out.
    pub fn exhausted(&self) -> bool {
        self.at == self.bytes.len()
    }
}

impl Random for FixedRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        let end = self.at + dest.len();
        assert!(end <= self.bytes.len(), "FixedRandom: out of bytes");
        dest.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
    }
}
