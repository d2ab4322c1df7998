//! `notion-conformance`: judges any Notion connector that follows baton's conventions (this
//! repository's, ConductorOne's Go `baton-notion`, anyone's) against the embedded emulation,
//! the standalone one, another SCIM server or a real tenant.
//!
//! # Layout
//! - [`oracle`]: the independent half: a c1z decoder and protobuf messages of its own, and the
//!   expectations derived from ground truth. It imports nothing of the connector.
//! - [`truth`]: a workspace's ground truth in the oracle's own types (from the emulation's admin
//!   API as JSON, or from SCIM reads); [`scim`]: the oracle's own SCIM client.
//! - [`target`]: what the suites run against (embedded emulation, a remote emulation, a real
//!   tenant) and what they may do there; clean-up of what they created.
//! - [`connector`]: the connector under test, driven through baton's command-line conventions,
//!   in-process or as a binary.
//! - [`suites`]: the cases, one module per suite; [`runner`]: runs them; [`report`]: the table,
//!   JUnit and JSON.
//! - [`fake_c1`]: a fake ConductorOne (token endpoint and BatonService over TLS) for connectors
//!   in service mode; the `service` suite drives a connector daemon through it.
//! - [`cassette`]: recorded exchanges (VCR's JSON layout); [`record`]: the recording proxy, its
//!   scrubber and the probe; [`matching`] and [`replay`]: a cassette served by wiremock;
//!   [`fidelity`]: where the emulation departs from a recording.
//! - [`inspect`]: what a c1z holds and what changed between two sync runs, read with the
//!   oracle's decoder (`notion-conformance inspect`).

pub mod cassette;
pub mod connector;
pub mod fake_c1;
pub mod fidelity;
pub mod inspect;
pub mod matching;
pub mod oracle;
pub mod record;
pub mod redact;
pub mod replay;
pub mod report;
pub mod runner;
pub mod scim;
pub mod suites;
pub mod target;
pub mod truth;
