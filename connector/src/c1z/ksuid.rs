//! KSUIDs, the sync ids baton writes: 4 bytes of big-endian seconds since 2014-05-13
//! (unix 1400000000), 16 random bytes, as 27 base62 characters padded with `0`.
//!
//! The alphabet is ASCII-ordered (`0-9A-Za-z`) and the width fixed, so string order is byte
//! order is time order (to the second), which is what the SDK's `ORDER BY sync_id` relies on.

use rand::RngCore;

const EPOCH: i64 = 1_400_000_000;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of an encoded KSUID.
pub const KSUID_LEN: usize = 27;

/// A new KSUID for the current time.
pub fn new_ksuid() -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut payload = [0u8; 16];
    rand::rng().fill_bytes(&mut payload);
    ksuid_from_parts(now, &payload)
}

/// The KSUID for `unix_seconds` and `payload`. Times outside the 32-bit KSUID range are clamped.
pub fn ksuid_from_parts(unix_seconds: i64, payload: &[u8; 16]) -> String {
    let offset = (unix_seconds - EPOCH).clamp(0, i64::from(u32::MAX));
    let offset = u32::try_from(offset).unwrap_or(u32::MAX);
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&offset.to_be_bytes());
    bytes[4..].copy_from_slice(payload);
    encode_base62(&bytes)
}

/// Big-endian base62 of 20 bytes, by repeated long division of five 32-bit words.
fn encode_base62(bytes: &[u8; 20]) -> String {
    let mut words = [0u32; 5];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let mut out = [b'0'; KSUID_LEN];
    let mut pos = KSUID_LEN;
    while words.iter().any(|w| *w != 0) && pos > 0 {
        let mut remainder: u64 = 0;
        for word in words.iter_mut() {
            let value = (remainder << 32) | u64::from(*word);
            // value / 62 < 2^32 because remainder < 62.
            *word = u32::try_from(value / 62).unwrap_or(u32::MAX);
            remainder = value % 62;
        }
        pos -= 1;
        out[pos] = ALPHABET[usize::try_from(remainder).unwrap_or(0)];
    }
    out.iter().map(|b| char::from(*b)).collect()
}

/// True when `s` looks like a KSUID: 27 base62 characters.
pub fn is_ksuid(s: &str) -> bool {
    s.len() == KSUID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // The smallest and largest KSUIDs from the reference implementation.
        assert_eq!(ksuid_from_parts(EPOCH, &[0; 16]), "000000000000000000000000000");
        assert_eq!(
            ksuid_from_parts(EPOCH + i64::from(u32::MAX), &[0xff; 16]),
            "aWgEPTl1tmebfsQzFP4bxwgy80V"
        );
    }

    #[test]
    fn new_ids_are_27_base62_chars_and_distinct() {
        let a = new_ksuid();
        let b = new_ksuid();
        assert!(is_ksuid(&a), "{a}");
        assert!(is_ksuid(&b), "{b}");
        assert_ne!(a, b);
    }

    #[test]
    fn string_order_is_time_order() {
        let mut previous = ksuid_from_parts(EPOCH, &[0xff; 16]);
        for seconds in [EPOCH + 1, EPOCH + 61, EPOCH + 3_600, 1_700_000_000, 1_800_000_000] {
            let next = ksuid_from_parts(seconds, &[0; 16]);
            assert!(previous < next, "{previous} !< {next}");
            previous = next;
        }
        let now = new_ksuid();
        assert!(ksuid_from_parts(1_600_000_000, &[0xff; 16]) < now);
    }
}
