//! The Kinesis Producer Library's aggregated record format, which QLDB's journal streams use
//! when `AggregationEnabled` is on, so consumers de-aggregate with the published libraries
//! (`aws-kinesis-agg`, the KCL):
//!
//! ```text
//! F3 89 9A C2 | protobuf AggregatedRecord | MD5(protobuf)
//! AggregatedRecord { repeated string partition_key_table = 1;
//!                    repeated string explicit_hash_key_table = 2;
//!                    repeated Record records = 3; }
//! Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
//!          required bytes data = 3; }
//! ```

use md5::{Digest as _, Md5};

/// The four bytes every aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One aggregated record holding `records` (partition key, data), in order.
pub fn aggregate(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let mut body = Vec::new();
    let mut inner = Vec::new();
    let mut entries = Vec::new();
    for (key, data) in records {
        let index = match keys.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        };
        inner.clear();
        varint(&mut inner, 1 << 3);
        varint(&mut inner, index as u64);
        field_bytes(&mut inner, 3, data);
        field_bytes(&mut entries, 3, &inner);
    }
    for key in &keys {
        field_bytes(&mut body, 1, key.as_bytes());
    }
    body.extend_from_slice(&entries);
    let mut out = Vec::with_capacity(body.len() + 20);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

/// Why bytes that start with the magic are not an aggregated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAggregate(pub String);

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, BadAggregate> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| BadAggregate("a varint runs past the end".into()))?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(BadAggregate("a varint is longer than 64 bits".into()))
    }

    fn bytes(&mut self) -> Result<&[u8], BadAggregate> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| BadAggregate("a length does not fit".into()))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| BadAggregate("a field runs past the end".into()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn skip(&mut self, wire: u64) -> Result<(), BadAggregate> {
        match wire {
            0 => self.varint().map(drop),
            2 => self.bytes().map(drop),
            other => Err(BadAggregate(format!("wire type {other} is not used here"))),
        }
    }
}

/// The (partition key, data) records a Kinesis record holds: itself when it is not aggregated
/// (as the KPL's de-aggregators do), else its sub-records after the MD5 is checked.
pub fn deaggregate(
    partition_key: &str,
    data: &[u8],
) -> Result<Vec<(String, Vec<u8>)>, BadAggregate> {
    if data.len() < MAGIC.len() + 16 || data[..4] != MAGIC {
        return Ok(vec![(partition_key.to_owned(), data.to_vec())]);
    }
    let (body, digest) = data[4..].split_at(data.len() - 20);
    if Md5::digest(body).as_slice() != digest {
        return Err(BadAggregate(
            "the MD5 of the aggregated record does not match".into(),
        ));
    }
    let mut r = Reader { bytes: body, at: 0 };
    let mut keys = Vec::new();
    let mut raw = Vec::new();
    while r.at < body.len() {
        let tag = r.varint()?;
        match (tag >> 3, tag & 7) {
            (1, 2) => keys.push(
                String::from_utf8(r.bytes()?.to_vec())
                    .map_err(|_| BadAggregate("a partition key is not UTF-8".into()))?,
            ),
            (3, 2) => raw.push(r.bytes()?.to_vec()),
            (_, wire) => r.skip(wire)?,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for entry in raw {
        let mut e = Reader {
            bytes: &entry,
            at: 0,
        };
        let (mut index, mut payload) = (None, None);
        while e.at < entry.len() {
            let tag = e.varint()?;
            match (tag >> 3, tag & 7) {
                (1, 0) => index = Some(e.varint()?),
                (3, 2) => payload = Some(e.bytes()?.to_vec()),
                (_, wire) => e.skip(wire)?,
            }
        }
        let key = index
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| keys.get(i))
            .ok_or_else(|| BadAggregate("a record names no partition key".into()))?;
        let payload = payload.ok_or_else(|| BadAggregate("a record has no data".into()))?;
        out.push((key.clone(), payload));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_records_round_trip_and_a_changed_byte_is_caught() {
        let records = vec![
            ("doc-a".to_owned(), b"first".to_vec()),
            ("doc-b".to_owned(), vec![0u8; 300]),
            ("doc-a".to_owned(), b"third".to_vec()),
        ];
        let agg = aggregate(&records);
        assert_eq!(agg[..4], MAGIC);
        assert_eq!(deaggregate("outer", &agg).unwrap(), records);
        let mut bad = agg.clone();
        bad[10] ^= 1;
        assert!(deaggregate("outer", &bad).is_err());
        assert_eq!(
            deaggregate("k", b"plain").unwrap(),
            vec![("k".to_owned(), b"plain".to_vec())]
        );
    }
}
