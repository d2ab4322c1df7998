//! SQLite's record format and variable-length integers (sqlite.org/fileformat2.html, "Record
//! Format" and "Variable-Length Integers").

/// One column value, as it is stored (no affinity conversion is applied: the caller passes the
/// storage class it wants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    /// The bytes of a text value known to be UTF-8 (as stored from a `Text`).
    TextBytes(&'a [u8]),
    Blob(&'a [u8]),
}

impl std::fmt::Display for Value<'_> {
    /// As SQL literals: `NULL`, `42`, `'text'`, `x'0a0b'` (long blobs cut short).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("NULL"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Self::TextBytes(b) => write!(f, "'{}'", String::from_utf8_lossy(b).replace('\'', "''")),
            Self::Blob(b) => {
                f.write_str("x'")?;
                for byte in b.iter().take(32) {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str(if b.len() > 32 { "...'" } else { "'" })
            }
        }
    }
}

/// Appends `v` as a SQLite varint: big-endian groups of 7 bits with the high bit set on all but
/// the last byte; a ninth byte, when needed, carries 8 bits.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v <= 0x7f {
        out.push(v as u8);
        return;
    }
    if v > 0x00ff_ffff_ffff_ffff {
        // Nine bytes: eight groups of 7 bits, then the low 8 bits whole.
        let mut bytes = [0u8; 9];
        bytes[8] = v as u8;
        let mut rest = v >> 8;
        for b in bytes[..8].iter_mut().rev() {
            *b = (rest & 0x7f) as u8 | 0x80;
            rest >>= 7;
        }
        out.extend_from_slice(&bytes);
        return;
    }
    let mut bytes = [0u8; 8];
    let mut n = 0;
    let mut rest = v;
    while rest > 0 {
        bytes[n] = (rest & 0x7f) as u8;
        rest >>= 7;
        n += 1;
    }
    for i in (0..n).rev() {
        out.push(if i == 0 { bytes[i] } else { bytes[i] | 0x80 });
    }
}

/// Bytes [`put_varint`] would write for `v`.
pub fn varint_len(v: u64) -> usize {
    if v > 0x00ff_ffff_ffff_ffff {
        return 9;
    }
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

#[cfg(test)]
/// Reads a varint at the start of `bytes`: the value and its length, or `None` when cut short.
pub fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some(((v << 8) | u64::from(b), 9));
        }
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The serial type of an integer and the bytes of its big-endian body (schema format 4: 0 and
/// 1 have bodiless types 8 and 9).
fn int_serial(i: i64) -> (u64, usize) {
    match i {
        0 => (8, 0),
        1 => (9, 0),
        -128..=127 => (1, 1),
        -32_768..=32_767 => (2, 2),
        -8_388_608..=8_388_607 => (3, 3),
        -2_147_483_648..=2_147_483_647 => (4, 4),
        -140_737_488_355_328..=140_737_488_355_327 => (5, 6),
        _ => (6, 8),
    }
}

fn serial_type(v: &Value<'_>) -> (u64, usize) {
    match v {
        Value::Null => (0, 0),
        Value::Int(i) => int_serial(*i),
        Value::Text(s) => (2 * s.len() as u64 + 13, s.len()),
        Value::TextBytes(s) => (2 * s.len() as u64 + 13, s.len()),
        Value::Blob(b) => (2 * b.len() as u64 + 12, b.len()),
    }
}

/// Appends the record of `values` (header of serial types, then the bodies) to `out`.
pub fn encode_record(values: &[Value<'_>], out: &mut Vec<u8>) {
    encode_record_with_null(values, None, out);
}

/// [`encode_record`], storing NULL for column `null_at` whatever its value (the `integer
/// primary key` column, whose value is the rowid).
pub fn encode_record_with_null(values: &[Value<'_>], null_at: Option<usize>, out: &mut Vec<u8>) {
    let value = |i: usize| if Some(i) == null_at { &Value::Null } else { &values[i] };
    let types_len: usize = (0..values.len()).map(|i| varint_len(serial_type(value(i)).0)).sum();
    // The header length counts its own varint.
    let mut header_len = types_len + 1;
    if varint_len(header_len as u64) > 1 {
        header_len = types_len + varint_len((types_len + 2) as u64);
    }
    put_varint(out, header_len as u64);
    for i in 0..values.len() {
        put_varint(out, serial_type(value(i)).0);
    }
    for i in 0..values.len() {
        match value(i) {
            Value::Null => {}
            Value::Int(i) => {
                let (_, len) = int_serial(*i);
                out.extend_from_slice(&i.to_be_bytes()[8 - len..]);
            }
            Value::Text(s) => out.extend_from_slice(s.as_bytes()),
            Value::TextBytes(s) => out.extend_from_slice(s),
            Value::Blob(b) => out.extend_from_slice(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            prop_assert_eq!(get_varint(&out), Some((v, out.len())));
        }
    }

    #[test]
    fn varint_examples_from_the_file_format() {
        let enc = |v| {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            out
        };
        assert_eq!(enc(0), vec![0]);
        assert_eq!(enc(127), vec![0x7f]);
        assert_eq!(enc(128), vec![0x81, 0x00]);
        assert_eq!(enc(16383), vec![0xff, 0x7f]);
        assert_eq!(enc(u64::MAX), vec![0xff; 9]);
        assert_eq!(get_varint(&[0x81]), None);
    }

    #[test]
    fn records_use_the_smallest_integer_types() {
        let mut out = Vec::new();
        encode_record(
            &[
                Value::Null,
                Value::Int(0),
                Value::Int(1),
                Value::Int(-1),
                Value::Int(300),
                Value::Text("ab"),
                Value::Blob(&[7]),
            ],
            &mut out,
        );
        // header: len 8, types 0, 8, 9, 1, 2, 17, 14; bodies: ff, 01 2c, "ab", 07
        assert_eq!(out, vec![8, 0, 8, 9, 1, 2, 17, 14, 0xff, 0x01, 0x2c, b'a', b'b', 7]);
    }
}
