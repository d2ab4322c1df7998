//! The oracle: the c1z decoder and the expectations, written here from baton's public
//! definitions and Notion's documented behaviour. It shares no code with any connector it
//! judges (not even this repository's), so a misreading cannot hide in both halves.

pub mod c1z;
pub mod data;
pub mod expect;
pub mod proto;
