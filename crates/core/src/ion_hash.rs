//! Ion Hash (amazon-ion/ion-hash `docs/spec.md`; `../shared/specs/qldb.md` §7) over `ion-rs`
//! values, computed in one pass with a pluggable hash function.
//!
//! ```text
//! H(v)            = hash( s(v) )
//! s(scalar|null)  = B || TQ || escape(representation) || E
//! s(list|sexp)    = B || TQ || s(v1) || … || s(vn) || E
//! s(struct)       = B || 0xD0 || escape( concat( sort( H(s(name) || s(value)) ) ) ) || E
//! s(annotated)    = B || 0xE0 || s(ann1) || … || s(value) || E
//! ```
//! The representation of a scalar is the body of its minimal Ion binary encoding, so the
//! hash does not depend on whether the value was read from text or binary.

use ion_rs::{Decimal, Element, Int, IonType, Symbol, Timestamp, TimestampPrecision, Value};
use sha2::{Digest as _, Sha256};

use crate::hash::Hash32;

const BEGIN: u8 = 0x0B;
const END: u8 = 0x0E;
const ESCAPE: u8 = 0x0C;

/// A hash function for Ion Hash. SHA-256 is what QLDB uses; the official conformance suite
/// also uses an identity function and MD5, hence the trait.
pub trait IonHasher {
    /// The digest this function produces.
    type Digest: AsRef<[u8]>;
    /// Hashes `data` in one call.
    fn digest(&self, data: &[u8]) -> Self::Digest;
}

/// SHA-256, the hash function QLDB applies everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256Hasher;

impl IonHasher for Sha256Hasher {
    type Digest = [u8; 32];
    fn digest(&self, data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }
}

/// The Ion Hash of `value` with SHA-256: QLDB's `H(v)`.
pub fn ion_hash(value: &Element) -> Hash32 {
    Hash32(ion_hash_with(&Sha256Hasher, value))
}

/// The Ion Hash of `value` with any hash function.
pub fn ion_hash_with<H: IonHasher>(hasher: &H, value: &Element) -> H::Digest {
    let mut buf = Vec::with_capacity(128);
    serialize_with(hasher, value, &mut buf);
    hasher.digest(&buf)
}

/// Ion Hash of a bare string (hashed as an Ion string, TQ 0x80): how QLDB hashes transaction
/// ids and statements.
pub fn ion_hash_str(text: &str) -> Hash32 {
    let mut buf = Vec::with_capacity(text.len() + 4);
    buf.extend_from_slice(&[BEGIN, 0x80]);
    push_escaped(&mut buf, text.as_bytes());
    buf.push(END);
    Hash32::sha256(&buf)
}

/// Appends `s(value)`, the bytes the hash function is given for `value`, to `out`.
pub fn serialize_with<H: IonHasher>(hasher: &H, value: &Element, out: &mut Vec<u8>) {
    Serializer::new(hasher).value(value, out, 0);
}

/// Reusable scratch space, so that hashing a document allocates only while its deepest
/// struct is first seen.
struct Serializer<'h, H: IonHasher> {
    hasher: &'h H,
    scratch: Vec<u8>,
    /// Per struct depth: the buffer a field is serialized into, and the field digests.
    levels: Vec<(Vec<u8>, Vec<H::Digest>)>,
}

impl<'h, H: IonHasher> Serializer<'h, H> {
    fn new(hasher: &'h H) -> Self {
        Self {
            hasher,
            scratch: Vec::with_capacity(32),
            levels: Vec::new(),
        }
    }

    fn value(&mut self, value: &Element, out: &mut Vec<u8>, depth: usize) {
        let annotations = value.annotations();
        if annotations.is_empty() {
            self.bare(value.value(), out, depth);
        } else {
            out.extend_from_slice(&[BEGIN, 0xE0]);
            for annotation in annotations {
                serialize_symbol(annotation, out);
            }
            self.bare(value.value(), out, depth);
            out.push(END);
        }
    }

    /// `B TQ escape(repr) E` for a representation built in the scratch buffer.
    fn scalar(&mut self, out: &mut Vec<u8>, tq: u8, repr: impl FnOnce(&mut Vec<u8>)) {
        self.scratch.clear();
        repr(&mut self.scratch);
        out.extend_from_slice(&[BEGIN, tq]);
        push_escaped(out, &self.scratch);
        out.push(END);
    }

    fn bare(&mut self, value: &Value, out: &mut Vec<u8>, depth: usize) {
        match value {
            Value::Null(ion_type) => {
                out.extend_from_slice(&[BEGIN, null_qualifier(*ion_type), END]);
            }
            Value::Bool(b) => out.extend_from_slice(&[BEGIN, 0x10 | u8::from(*b), END]),
            Value::Int(i) => {
                let tq = if i.is_negative() { 0x30 } else { 0x20 };
                match i.as_i64() {
                    Some(small) => {
                        let be = small.unsigned_abs().to_be_bytes();
                        let skip = be.iter().take_while(|b| **b == 0).count();
                        out.extend_from_slice(&[BEGIN, tq]);
                        push_escaped(out, &be[skip..]);
                        out.push(END);
                    }
                    None => self.scalar(out, tq, |r| push_int_magnitude(r, i)),
                }
            }
            Value::Float(f) => self.scalar(out, 0x40, |r| push_float(r, *f)),
            Value::Decimal(d) => self.scalar(out, 0x50, |r| push_decimal(r, d)),
            Value::Timestamp(t) => self.scalar(out, 0x60, |r| push_timestamp(r, t)),
            Value::Symbol(s) => serialize_symbol(s, out),
            Value::String(s) => framed(out, 0x80, s.text().as_bytes()),
            Value::Clob(b) => framed(out, 0x90, b.as_ref()),
            Value::Blob(b) => framed(out, 0xA0, b.as_ref()),
            Value::List(seq) | Value::SExp(seq) => {
                let tq = if value.ion_type() == IonType::List {
                    0xB0
                } else {
                    0xC0
                };
                out.extend_from_slice(&[BEGIN, tq]);
                for child in seq.iter() {
                    self.value(child, out, depth);
                }
                out.push(END);
            }
            Value::Struct(st) => {
                if self.levels.len() <= depth {
                    self.levels.push((Vec::with_capacity(64), Vec::new()));
                }
                let (mut field_buf, mut digests) = std::mem::take(&mut self.levels[depth]);
                digests.clear();
                for (name, field_value) in st.iter() {
                    field_buf.clear();
                    serialize_symbol(name, &mut field_buf);
                    self.value(field_value, &mut field_buf, depth + 1);
                    digests.push(self.hasher.digest(&field_buf));
                }
                digests.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
                out.extend_from_slice(&[BEGIN, 0xD0]);
                for d in &digests {
                    push_escaped(out, d.as_ref());
                }
                out.push(END);
                self.levels[depth] = (field_buf, digests);
            }
        }
    }
}

fn framed(out: &mut Vec<u8>, tq: u8, repr: &[u8]) {
    out.extend_from_slice(&[BEGIN, tq]);
    push_escaped(out, repr);
    out.push(END);
}

fn serialize_symbol(symbol: &Symbol, out: &mut Vec<u8>) {
    match symbol.text() {
        Some(text) => framed(out, 0x70, text.as_bytes()),
        // Symbol with unknown text ($0): its own type qualifier, no representation.
        None => out.extend_from_slice(&[BEGIN, 0x71, END]),
    }
}

fn null_qualifier(t: IonType) -> u8 {
    let high = match t {
        IonType::Null => 0x00,
        IonType::Bool => 0x10,
        IonType::Int => 0x20,
        IonType::Float => 0x40,
        IonType::Decimal => 0x50,
        IonType::Timestamp => 0x60,
        IonType::Symbol => 0x70,
        IonType::String => 0x80,
        IonType::Clob => 0x90,
        IonType::Blob => 0xA0,
        IonType::List => 0xB0,
        IonType::SExp => 0xC0,
        IonType::Struct => 0xD0,
    };
    high | 0x0F
}

fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    // Runs without a marker byte are copied whole (found a word at a time by memchr: this runs
    // over every byte of every value a document hashes).
    out.reserve(bytes.len() + 8);
    let mut from = 0;
    for at in memchr::memchr3_iter(BEGIN, END, ESCAPE, bytes) {
        out.extend_from_slice(&bytes[from..at]);
        out.push(ESCAPE);
        from = at;
    }
    out.extend_from_slice(&bytes[from..]);
}

/// Big-endian magnitude with no leading zero bytes; zero has no bytes.
fn magnitude_be(le: Vec<u8>) -> Vec<u8> {
    let mut be: Vec<u8> = le.into_iter().rev().skip_while(|b| *b == 0).collect();
    be.shrink_to_fit();
    be
}

fn push_int_magnitude(out: &mut Vec<u8>, i: &Int) {
    out.extend(magnitude_be(i.unsigned_abs().to_le_bytes()));
}

fn push_float(out: &mut Vec<u8>, f: f64) {
    if f == 0.0 && f.is_sign_positive() {
        return; // 0e0 has no representation
    }
    let bits = if f.is_nan() {
        0x7ff8_0000_0000_0000u64
    } else {
        f.to_bits()
    };
    out.extend_from_slice(&bits.to_be_bytes());
}

fn push_var_uint(out: &mut Vec<u8>, mut v: u64) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    loop {
        groups[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(if i == 0 { groups[i] | 0x80 } else { groups[i] });
    }
}

/// Ion binary VarInt; `negative_zero` writes the sign bit with a zero magnitude (`0xC0`).
fn push_var_int(out: &mut Vec<u8>, v: i64, negative_zero: bool) {
    let negative = v < 0 || negative_zero;
    let mut mag = v.unsigned_abs();
    let mut groups = [0u8; 10];
    let mut n = 0;
    loop {
        groups[n] = (mag & 0x7F) as u8;
        n += 1;
        mag >>= 7;
        if mag == 0 {
            break;
        }
    }
    // The first (most significant) byte carries the sign bit and only six magnitude bits.
    if groups[n - 1] & 0x40 != 0 {
        groups[n] = 0;
        n += 1;
    }
    for i in (0..n).rev() {
        let mut b = groups[i];
        if i == n - 1 && negative {
            b |= 0x40;
        }
        if i == 0 {
            b |= 0x80;
        }
        out.push(b);
    }
}

/// Ion binary Int (sign and magnitude): positive zero has no bytes, negative zero is `0x80`.
fn push_signed_magnitude(out: &mut Vec<u8>, magnitude_be: &[u8], negative: bool) {
    if magnitude_be.is_empty() {
        if negative {
            out.push(0x80);
        }
        return;
    }
    let start = out.len();
    if magnitude_be[0] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(magnitude_be);
    if negative {
        out[start] |= 0x80;
    }
}

fn push_decimal(out: &mut Vec<u8>, d: &Decimal) {
    let coefficient = d.coefficient();
    let exponent = d.exponent();
    if coefficient.is_positive_zero() && exponent == 0 {
        return; // 0d0 has no representation
    }
    push_var_int(out, exponent, false);
    let magnitude = magnitude_be(coefficient.magnitude().to_le_bytes());
    push_signed_magnitude(out, &magnitude, coefficient.is_negative());
}

fn push_timestamp(out: &mut Vec<u8>, t: &Timestamp) {
    match t.offset() {
        Some(minutes) => push_var_int(out, i64::from(minutes), false),
        None => push_var_int(out, 0, true),
    }
    let utc = t.to_utc();
    let precision = t.precision();
    push_var_uint(out, u64::from(utc.year()));
    if precision >= TimestampPrecision::Month {
        push_var_uint(out, u64::from(utc.month()));
    }
    if precision >= TimestampPrecision::Day {
        push_var_uint(out, u64::from(utc.day()));
    }
    if precision >= TimestampPrecision::HourAndMinute {
        push_var_uint(out, u64::from(utc.hour()));
        push_var_uint(out, u64::from(utc.minute()));
    }
    if precision >= TimestampPrecision::Second {
        push_var_uint(out, u64::from(utc.second()));
        if let Some(scale) = t.fractional_seconds_scale() {
            push_var_int(out, -scale, false);
            let digits = fraction_digits(t, scale);
            let coefficient = digits.trim_start_matches('0');
            push_signed_magnitude(out, &decimal_digits_to_be(coefficient), false);
        }
    }
}

/// The fractional-second digits as written, `scale` of them.
fn fraction_digits(t: &Timestamp, scale: i64) -> String {
    let scale = usize::try_from(scale).unwrap_or(0);
    if scale <= 9 {
        let nanos = t.nanoseconds();
        let value = nanos / 10u32.pow(9 - scale as u32);
        format!("{value:0scale$}")
    } else {
        // Beyond nanoseconds the only public view of the digits is the text form.
        let text = t.to_string();
        let digits: String = text
            .split_once('.')
            .map(|(_, rest)| rest.chars().take_while(|c| c.is_ascii_digit()).collect())
            .unwrap_or_default();
        digits
    }
}

/// Converts decimal digits (no sign, no leading zeros) to a big-endian magnitude.
fn decimal_digits_to_be(digits: &str) -> Vec<u8> {
    let mut le: Vec<u8> = Vec::new(); // little-endian base-256 accumulator
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in le.iter_mut() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xFF) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            le.push((carry & 0xFF) as u8);
            carry >>= 8;
        }
    }
    magnitude_be(le)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let value = Element::read_one(text).unwrap();
        serialize_with(&Identity, &value, &mut out);
        out
    }

    struct Identity;
    impl IonHasher for Identity {
        type Digest = Vec<u8>;
        fn digest(&self, data: &[u8]) -> Vec<u8> {
            data.to_vec()
        }
    }

    // Byte examples from spec §7, computed with ion-hash-python.
    #[test]
    fn spec_byte_examples() {
        let cases: &[(&str, &[u8])] = &[
            (
                "2019-09-16T19:37:05.344Z",
                &[
                    0x0b, 0x60, 0x80, 0x0f, 0xe3, 0x89, 0x90, 0x93, 0xa5, 0x85, 0xc3, 0x01, 0x58,
                    0x0e,
                ],
            ),
            (
                "2017-08-21",
                &[0x0b, 0x60, 0xc0, 0x0f, 0xe1, 0x88, 0x95, 0x0e],
            ),
            ("90.25", &[0x0b, 0x50, 0xc2, 0x23, 0x41, 0x0e]),
            ("3", &[0x0b, 0x20, 0x03, 0x0e]),
            ("-7", &[0x0b, 0x30, 0x07, 0x0e]),
            ("1e0", &[0x0b, 0x40, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x0e]),
            ("0d0", &[0x0b, 0x50, 0x0e]),
            (
                "[1,2]",
                &[
                    0x0b, 0xb0, 0x0b, 0x20, 0x01, 0x0e, 0x0b, 0x20, 0x02, 0x0e, 0x0e,
                ],
            ),
            (
                "ann::\"x\"",
                &[
                    0x0b, 0xe0, 0x0b, 0x70, 0x61, 0x6e, 0x6e, 0x0e, 0x0b, 0x80, 0x78, 0x0e, 0x0e,
                ],
            ),
            ("null.string", &[0x0b, 0x8f, 0x0e]),
        ];
        for (text, expected) in cases {
            assert_eq!(&s(text), expected, "s({text})");
        }
    }

    // Known answers from spec §8.2 and §8.3.
    #[test]
    fn sha256_known_answers() {
        let h = |t: &str| ion_hash(&Element::read_one(t).unwrap()).to_hex();
        assert_eq!(
            h("\"hello world\""),
            "82c4010bfc9cace7f645c0a951243b9b122cb5ba21b60b3f71ea79c513c39342"
        );
        assert_eq!(
            ion_hash_str("hello world").to_hex(),
            "82c4010bfc9cace7f645c0a951243b9b122cb5ba21b60b3f71ea79c513c39342"
        );
        assert_eq!(
            h("null"),
            "0fb06b6183c21379529fdd45d6af4aba731ac6f081ef9e6c1c94b1fb26177304"
        );
        assert_eq!(
            h("\"\""),
            "37b6e5aef22429d44339e2786f9ccdab715bf4fac80f6e860d4e79b964621dd4"
        );
        assert_eq!(
            h("{c:3,a:1,b:2}"),
            "67d8fe266b27368733ec8fc5070383f0851cfe2911545a9e6ee75b8cd08199e8"
        );
    }

    #[test]
    fn var_int_edges() {
        let mut out = Vec::new();
        push_var_int(&mut out, -754, false);
        assert_eq!(out, [0x45, 0xf2]);
        out.clear();
        push_var_int(&mut out, 64, false); // needs a second byte: six bits hold only 0..63
        assert_eq!(out, [0x00, 0xc0]);
        out.clear();
        push_var_int(&mut out, 0, true);
        assert_eq!(out, [0xc0]);
        out.clear();
        push_var_uint(&mut out, 2001);
        assert_eq!(out, [0x0f, 0xd1]);
    }

    #[test]
    fn decimal_digits_convert() {
        assert_eq!(
            decimal_digits_to_be("123456789"),
            vec![0x07, 0x5b, 0xcd, 0x15]
        );
        assert_eq!(decimal_digits_to_be(""), Vec::<u8>::new());
    }
}
