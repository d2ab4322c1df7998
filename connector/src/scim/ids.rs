//! Ids a sync holds until its end, kept small.
//!
//! A sync remembers every user id it handed out (the pager's consistency checks, and the
//! membership check that asks "was this user listed?") and, for a while, the users that group
//! members point at before their user page comes. At a million users a `String` per id (24
//! bytes, plus 36 on the heap rounded up by the allocator) is most of the sync's memory. Notion's
//! ids are UUIDs, so an id in the canonical lowercase form is kept as its 16 bytes; any other id
//! (another SCIM server's) is kept as text. The two forms never meet: an id is canonical or not
//! whatever map it is looked up in, and a canonical id turned back into text is the same text.

use std::collections::HashMap;

/// Ids mapped to values, UUIDs stored as 16 bytes.
#[derive(Debug)]
pub(crate) struct IdMap<V> {
    uuids: HashMap<[u8; 16], V>,
    others: HashMap<Box<str>, V>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        Self {
            uuids: HashMap::new(),
            others: HashMap::new(),
        }
    }
}

impl<V> IdMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.uuids.is_empty() && self.others.is_empty()
    }

    /// Room for `additional` more UUIDs without growing (a list's `totalResults` says how many
    /// will come; growing a table briefly holds it twice).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.uuids.reserve(additional);
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&V> {
        match uuid_bytes(id) {
            Some(key) => self.uuids.get(&key),
            None => self.others.get(id),
        }
    }

    /// The value for `id`, made by `make` and inserted if there was none, and whether it was
    /// inserted now.
    pub(crate) fn get_or_insert_with(&mut self, id: &str, make: impl FnOnce() -> V) -> (&mut V, bool) {
        let mut inserted = false;
        let make = || {
            inserted = true;
            make()
        };
        let value = match uuid_bytes(id) {
            Some(key) => self.uuids.entry(key).or_insert_with(make),
            None => self.others.entry(id.into()).or_insert_with(make),
        };
        (value, inserted)
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<V> {
        match uuid_bytes(id) {
            Some(key) => self.uuids.remove(&key),
            None => self.others.remove(id),
        }
    }

    /// Every id, as text.
    pub(crate) fn ids(&self) -> impl Iterator<Item = String> + '_ {
        self.uuids
            .keys()
            .map(uuid_text)
            .chain(self.others.keys().map(|k| k.to_string()))
    }
}

/// The 16 bytes of a UUID in canonical form (`8-4-4-4-12` lowercase hex digits); `None` for any
/// other text, uppercase UUIDs included (they would not turn back into the same text).
fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let text = id.as_bytes();
    if text.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut byte = 0;
    let mut i = 0;
    while i < text.len() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if text[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        out[byte] = (hex_digit(text[i])? << 4) | hex_digit(text[i + 1])?;
        byte += 1;
        i += 2;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The canonical text of a UUID's 16 bytes.
fn uuid_text(bytes: &[u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(36);
    for (n, b) in bytes.iter().enumerate() {
        if matches!(n, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push(char::from(DIGITS[usize::from(b >> 4)]));
        text.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn canonical_uuids_are_bytes_and_come_back_as_the_same_text() {
        let id = "0c487f16-9a2b-4c3d-8e5f-0123456789ab";
        let bytes = uuid_bytes(id).expect("canonical");
        assert_eq!(bytes[0], 0x0c);
        assert_eq!(bytes[15], 0xab);
        assert_eq!(uuid_text(&bytes), id);
        for other in [
            "0C487F16-9A2B-4C3D-8E5F-0123456789AB",
            "0c487f169a2b4c3d8e5f0123456789ab",
            "0c487f16-9a2b-4c3d-8e5f-0123456789a",
            "0c487f16-9a2b-4c3d-8e5f_0123456789ab",
            "0c487f16-9a2b-4c3d-8e5f-0123456789ag",
            "{0c487f16-9a2b-4c3d-8e5f-0123456789a}",
            "user-1",
            "",
            "0c487f16-9a2b-4c3d-8e5f-0123456789é",
        ] {
            assert_eq!(uuid_bytes(other), None, "{other}");
        }
    }

    #[test]
    fn a_uuid_and_its_uppercase_twin_are_two_ids() {
        // SCIM ids are compared as given; Notion's are lowercase, another server may differ.
        let mut map = IdMap::default();
        map.get_or_insert_with("0c487f16-9a2b-4c3d-8e5f-0123456789ab", || 1);
        let (v, inserted) = map.get_or_insert_with("0C487F16-9A2B-4C3D-8E5F-0123456789AB", || 2);
        assert!(inserted);
        assert_eq!(*v, 2);
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("0c487f16-9a2b-4c3d-8e5f-0123456789ab"), Some(&1));
    }

    proptest! {
        // The map behaves as a HashMap<String, _> would, whatever mix of ids it is given.
        #[test]
        fn behaves_as_a_map_of_strings(
            ops in proptest::collection::vec(
                (0u8..4, prop_oneof![
                    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                    "[0-9a-fA-F-]{30,40}",
                    "[a-z0-9]{1,6}",
                ]),
                0..200,
            )
        ) {
            let mut ours: IdMap<usize> = IdMap::default();
            let mut model: HashMap<String, usize> = HashMap::new();
            for (n, (op, id)) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let (v, inserted) = ours.get_or_insert_with(&id, || n);
                        let was_absent = !model.contains_key(&id);
                        let expected = *model.entry(id.clone()).or_insert(n);
                        prop_assert_eq!(inserted, was_absent);
                        prop_assert_eq!(*v, expected);
                    }
                    1 => prop_assert_eq!(ours.remove(&id), model.remove(&id)),
                    2 => {
                        *ours.get_or_insert_with(&id, || n).0 += 1;
                        *model.entry(id.clone()).or_insert(n) += 1;
                    }
                    _ => prop_assert_eq!(ours.contains(&id), model.contains_key(&id)),
                }
                prop_assert_eq!(ours.get(&id), model.get(&id));
                prop_assert_eq!(ours.len(), model.len());
                prop_assert_eq!(ours.is_empty(), model.is_empty());
            }
            let mut ids: Vec<String> = ours.ids().collect();
            let mut expected: Vec<String> = model.keys().cloned().collect();
            ids.sort();
            expected.sort();
            prop_assert_eq!(ids, expected);
        }
    }
}
