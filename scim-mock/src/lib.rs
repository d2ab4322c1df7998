//! An emulation of Notion Enterprise's SCIM API, faithful down to its quirks, for testing
//! identity-governance connectors without a Notion Enterprise organisation.
//!
//! ```no_run
//! # async fn demo() {
//! use notion_scim_mock::{Fault, MockServer};
//! let mock = MockServer::builder().seed(7).users(250).groups(20).start().await;
//! mock.faults().script([Fault::Status(503)]);
//! // point a client at mock.base_url() with mock.token() ...
//! assert_eq!(mock.truth().users.len(), 250);
//! # }
//! ```
//!
//! What it knows of Notion, and how surely, is written down in `docs/notion-scim.md`; every
//! behaviour marked unknown there is a switch in [`Quirks`], defaulting to the best guess.
//!
//! # Layout
//! - `model`: the org: accounts that outlive memberships, workspaces, groups, tokens.
//! - `seed`: deterministic fake orgs from a seed; `org_file`: orgs written as JSON.
//! - [`quirks`]: one switch per unknown behaviour.
//! - [`faults`]: rate limits, scripted and random failures, broken bodies, list pathologies,
//!   deterministic churn (the org changing under a walk).
//! - [`journal`]: what was received, for assertions and expectations.
//! - [`filter`] and [`patch_path`]: the SCIM filter and PATCH path grammars, parsed and printed.
//! - `patch` and `user_doc`: PATCH applied to a resource's JSON document, validated whole.
//! - `resource`: the JSON shapes Notion answers with; `error`: error bodies in either dialect.
//! - `http`: routes, middleware (the request log among them), the admin API and the server
//!   loop; `server`: [`MockServer`]; `tls`: the throwaway CA and certificate of `--tls`.
//! - `truth`: the ground truth a correct client must find.

mod error;
pub mod faults;
pub mod filter;
mod http;
pub mod journal;
mod model;
mod org_file;
mod patch;
pub mod patch_path;
pub mod quirks;
mod resource;
mod seed;
mod server;
mod tls;
mod truth;
mod user_doc;

pub use error::ScimError;
pub use faults::{
    ChurnList, ChurnOp, ChurnStep, Fault, FaultControls, FaultSettings, PagingFault, RandomFaults, RateLimit,
};
pub use http::MAX_BODY_BYTES;
pub use journal::{Expectation, JournalEntry, JournalFilter, JournalLimits, JournalStatus, DEFAULT_JOURNAL_MAX_BYTES};
pub use model::{Account, Group, Member, Org, PersonName, Role, Token, Workspace};
pub use org_file::{GroupFile, OrgFile, PersonFile, TokenFile, WorkspaceFile};
pub use quirks::Quirks;
pub use resource::{ENTERPRISE_USER_EXT, GROUP_SCHEMA, LOCATION_BASE, NOTION_USER_EXT, PATCH_SCHEMA, USER_SCHEMA};
pub use seed::{generate as generate_org, SeedSpec, DEFAULT_TOKEN};
pub use server::{MockServer, MockServerBuilder, ResetKeep, StartError, DEFAULT_JOURNAL_CAPACITY};
pub use tls::{TlsError, TlsIdentity};
pub use truth::{GroundTruth, OrgTruth, TruthGroup, TruthGuest, TruthToken, TruthUser};

/// Serves an org on a listener until `shutdown` resolves, over TLS when `tls` is given: the
/// entry point for binaries that manage their own runtime and listener.
pub async fn serve_org(
    listener: tokio::net::TcpListener,
    org: Org,
    quirks: Quirks,
    faults: Vec<(String, FaultSettings)>,
    journal: JournalLimits,
    tls: Option<&TlsIdentity>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let book = std::sync::Arc::new(faults::FaultBook::default());
    for (token, settings) in faults {
        book.set(&token, settings);
    }
    let shared = std::sync::Arc::new(http::Shared {
        initial: parking_lot::Mutex::new(org.clone()),
        org: parking_lot::RwLock::new(org),
        quirks: parking_lot::RwLock::new(quirks.clone()),
        initial_quirks: quirks,
        faults: book,
        journal: journal::Journal::new(journal),
    });
    http::serve(listener, shared, tls.map(|t| t.acceptor.clone()), shutdown).await;
}
