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

/// `v` as a SQLite varint: big-endian groups of 7 bits with the high bit set on all but the
/// last byte; a ninth byte, when needed, carries 8 bits. Returns the bytes and their count.
fn varint_bytes(v: u64) -> ([u8; 9], usize) {
    let mut bytes = [0u8; 9];
    if v > 0x00ff_ffff_ffff_ffff {
        bytes[8] = v as u8;
        let mut rest = v >> 8;
        for b in bytes[..8].iter_mut().rev() {
            *b = (rest & 0x7f) as u8 | 0x80;
            rest >>= 7;
        }
        return (bytes, 9);
    }
    let n = varint_len(v);
    let mut rest = v;
    for i in (0..n).rev() {
        bytes[i] = (rest & 0x7f) as u8 | if i + 1 == n { 0 } else { 0x80 };
        rest >>= 7;
    }
    (bytes, n)
}

/// Appends `v` as a SQLite varint.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v <= 0x7f {
        out.push(v as u8);
        return;
    }
    let (bytes, n) = varint_bytes(v);
    out.extend_from_slice(&bytes[..n]);
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
    let start = out.len();
    out.resize(start + record_len(values, null_at), 0);
    write_record(values, null_at, &mut out[start..]);
}

fn stored<'v, 'a>(values: &'v [Value<'a>], null_at: Option<usize>, i: usize) -> &'v Value<'a> {
    if Some(i) == null_at {
        &Value::Null
    } else {
        &values[i]
    }
}

/// The length of the header (its own length varint included) and of the whole record.
fn record_lens(values: &[Value<'_>], null_at: Option<usize>) -> (usize, usize) {
    let mut types_len = 0;
    let mut body_len = 0;
    for i in 0..values.len() {
        let (serial, len) = serial_type(stored(values, null_at, i));
        types_len += varint_len(serial);
        body_len += len;
    }
    // The header length counts its own varint.
    let mut header_len = types_len + 1;
    if varint_len(header_len as u64) > 1 {
        header_len = types_len + varint_len((types_len + 2) as u64);
    }
    (header_len, header_len + body_len)
}

/// Bytes of the record [`write_record`] writes.
pub fn record_len(values: &[Value<'_>], null_at: Option<usize>) -> usize {
    record_lens(values, null_at).1
}

/// Writes the record into `out`, which is exactly [`record_len`] bytes.
pub fn write_record(values: &[Value<'_>], null_at: Option<usize>, out: &mut [u8]) {
    let (header_len, _) = record_lens(values, null_at);
    let mut at = put_varint_at(out, header_len as u64);
    for i in 0..values.len() {
        at += put_varint_at(&mut out[at..], serial_type(stored(values, null_at, i)).0);
    }
    for i in 0..values.len() {
        let bytes: &[u8] = match stored(values, null_at, i) {
            Value::Null => &[],
            Value::Int(v) => {
                let (_, len) = int_serial(*v);
                out[at..at + len].copy_from_slice(&v.to_be_bytes()[8 - len..]);
                at += len;
                continue;
            }
            Value::Text(s) => s.as_bytes(),
            Value::TextBytes(b) | Value::Blob(b) => b,
        };
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    }
}

/// Writes `v` as a varint at the start of `out` and returns its length.
pub fn put_varint_at(out: &mut [u8], v: u64) -> usize {
    if v <= 0x7f {
        out[0] = v as u8;
        return 1;
    }
    let (bytes, n) = varint_bytes(v);
    out[..n].copy_from_slice(&bytes[..n]);
    n
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
            let mut at = [0u8; 9];
            prop_assert_eq!(put_varint_at(&mut at, v), out.len());
            prop_assert_eq!(&at[..out.len()], &out[..]);
        }

        #[test]
        fn records_written_in_place_match(ints in proptest::collection::vec(any::<i64>(), 0..200), text in ".{0,300}", null_at in proptest::option::of(0usize..3)) {
            let mut values: Vec<Value<'_>> = ints.iter().map(|i| Value::Int(*i)).collect();
            values.push(Value::Text(&text));
            values.push(Value::Null);
            values.push(Value::Blob(text.as_bytes()));
            let mut vec = vec![7u8];
            encode_record_with_null(&values, null_at, &mut vec);
            let mut slice = vec![0u8; record_len(&values, null_at)];
            write_record(&values, null_at, &mut slice);
            prop_assert_eq!(&vec[1..], &slice[..]);
            // The header length is right even past 127 header bytes (a two-byte varint).
            let (header_len, used) = get_varint(&slice).expect("header length");
            let header_len = header_len as usize;
            let mut at = used;
            let mut body = 0usize;
            while at < header_len {
                let (serial, n) = get_varint(&slice[at..]).expect("serial type");
                at += n;
                body += match serial { 0 | 8 | 9 => 0, 1..=4 => serial as usize, 5 => 6, 6 | 7 => 8, s => ((s - 12) / 2) as usize };
            }
            prop_assert_eq!(at, header_len);
            prop_assert_eq!(header_len + body, slice.len());
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
