//! The official suite's `big_list_of_naughty_strings.txt`, used the way ion-hash-java uses it:
//! each line becomes a symbol, strings, a clob, a blob, annotated values, a struct, a list and
//! a sexp. Every variant that is valid Ion must hash, and its hash must not depend on the
//! encoding (text vs binary). For the bare scalars the identity bytes are also checked against
//! an independent encoding of the expected representation.

use veritrail_core::ion_hash::{IonHasher, ion_hash_with};
use veritrail_core::ion_rs::{Element, v1_0};

struct Identity;
impl IonHasher for Identity {
    type Digest = Vec<u8>;
    fn digest(&self, data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }
}

struct Line {
    ion: String,
    valid: Option<bool>,
}

impl Line {
    fn parse(raw: &str) -> Self {
        if let Some(rest) = raw.strip_prefix("ion::") {
            Self {
                ion: rest.to_owned(),
                valid: Some(true),
            }
        } else if let Some(rest) = raw.strip_prefix("invalid_ion::") {
            Self {
                ion: rest.to_owned(),
                valid: Some(false),
            }
        } else {
            Self {
                ion: raw.to_owned(),
                valid: None,
            }
        }
    }
    fn symbol(&self) -> String {
        format!("'{}'", self.ion.replace('\\', "\\\\").replace('\'', "\\'"))
    }
    fn string(&self) -> String {
        format!(
            "\"{}\"",
            self.ion.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
    fn long_string(&self) -> String {
        format!(
            "'''{}'''",
            self.ion.replace('\\', "\\\\").replace('\'', "\\'")
        )
    }
    fn clob(&self) -> String {
        let mut out = String::from("{{");
        for b in self.string().bytes() {
            if b >= 128 {
                out.push_str(&format!("\\x{b:02x}"));
            } else {
                out.push(char::from(b));
            }
        }
        out + "}}"
    }
    fn blob(&self) -> String {
        use base64::Engine as _;
        format!(
            "{{{{{}}}}}",
            base64::engine::general_purpose::STANDARD.encode(self.ion.as_bytes())
        )
    }
    fn is_valid_ion(&self) -> bool {
        self.valid == Some(true)
    }
    fn variants(&self) -> Vec<String> {
        let (sym, s, ls, clob, blob) = (
            self.symbol(),
            self.string(),
            self.long_string(),
            self.clob(),
            self.blob(),
        );
        let mut v = vec![
            sym.clone(),
            s.clone(),
            ls.clone(),
            clob.clone(),
            blob.clone(),
        ];
        for x in [&sym, &s, &ls, &clob, &blob] {
            v.push(format!("{sym}::{x}"));
            v.push(format!("{sym}::{{{sym}:{x}}}"));
        }
        let ion = if self.is_valid_ion() {
            self.ion.clone()
        } else {
            String::new()
        };
        if self.is_valid_ion() {
            v.push(ion.clone());
            v.push(format!("{sym}::{ion}"));
            v.push(format!("{sym}::{{{sym}:{ion}}}"));
            v.push(format!("{sym}::{{{sym}:{sym}::{ion}}}"));
        }
        v.push(format!("{sym}::[{sym}, {s}, {ls}, {clob}, {blob}, {ion}]"));
        v.push(format!("{sym}::({sym} {s} {ls} {clob} {blob} {ion})"));
        v.push(format!("{sym}::{sym}::{sym}::{s}"));
        v
    }
}

fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in bytes {
        if matches!(b, 0x0B | 0x0C | 0x0E) {
            out.push(0x0C);
        }
        out.push(b);
    }
    out
}

fn framed(tq: u8, repr: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0B, tq];
    out.extend(escape(repr));
    out.push(0x0E);
    out
}

#[test]
fn naughty_strings_hash_consistently() {
    let path = crate::shared_dir().join("vectors/ion-hash/big_list_of_naughty_strings.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let mut hashed = 0;
    for raw in text.lines() {
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let line = Line::parse(raw);
        for variant in line.variants() {
            let value = match Element::read_one(variant.as_bytes()) {
                Ok(v) => v,
                Err(e) => {
                    assert!(
                        !line.is_valid_ion(),
                        "line |{raw}| as |{variant}| should parse: {e}"
                    );
                    continue;
                }
            };
            let from_text = ion_hash_with(&Identity, &value);
            let binary = value.encode_as(v1_0::Binary).unwrap();
            let reread = Element::read_one(binary).unwrap();
            assert_eq!(
                from_text,
                ion_hash_with(&Identity, &reread),
                "line |{raw}| as |{variant}|: text and binary hashes differ"
            );
            hashed += 1;
        }
        // The plain scalars, checked against an independent encoding of the representation.
        if let Ok(v) = Element::read_one(line.string().as_bytes()) {
            assert_eq!(
                ion_hash_with(&Identity, &v),
                framed(0x80, line.ion.as_bytes()),
                "string |{raw}|"
            );
        }
        if let Ok(v) = Element::read_one(line.symbol().as_bytes()) {
            assert_eq!(
                ion_hash_with(&Identity, &v),
                framed(0x70, line.ion.as_bytes()),
                "symbol |{raw}|"
            );
        }
        let blob = Element::read_one(line.blob().as_bytes()).unwrap();
        assert_eq!(
            ion_hash_with(&Identity, &blob),
            framed(0xA0, line.ion.as_bytes()),
            "blob |{raw}|"
        );
    }
    assert_eq!(
        hashed, 8998,
        "every parseable variant of every line is hashed"
    );
}
