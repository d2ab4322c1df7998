//! Replaying a cassette through `wiremock`: a recorded tenant becomes a server that any
//! connector can be pointed at, so that a recording is a regression test.
//!
//! One wiremock mock answers every request from the cassette with [`crate::matching`]'s
//! rules (JSON-aware, each exchange once in recorded order, repeats only when allowed). A
//! request the cassette lacks is answered 404 with a body naming the nearest recorded
//! requests and why each did not match, and is kept for [`Replay::check`], which also reports
//! the recorded exchanges that were never asked for when that is to count as an error.
//!
//! Requests for the emulation's admin API (`/__admin/...`, which the conformance runner probes
//! to tell an emulation from a tenant) are answered 404 and not counted: no cassette records
//! them.

use std::sync::Arc;

use anyhow::Context;
use parking_lot::Mutex;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

use crate::cassette::{self, Cassette, Target};
use crate::matching::{Miss, Player};

#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    /// Once every matching exchange has answered, the last one answers again.
    pub allow_playback_repeats: bool,
}

#[derive(Debug)]
struct PlayState {
    player: Player,
    misses: Vec<Miss>,
}

/// One recorded answer, ready to send.
#[derive(Debug, Clone)]
struct Prepared {
    status: u16,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    body: Vec<u8>,
}

struct Responder {
    state: Arc<Mutex<PlayState>>,
    answers: Vec<Prepared>,
    base_path: String,
}

impl Respond for Responder {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        if request.url.path().starts_with("/__admin") {
            return ResponseTemplate::new(404);
        }
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let target = cassette::target_of(request.method.as_str(), &request.url, &self.base_path, &body);
        let taken = self.state.lock().player.take(&target);
        match taken {
            Ok(i) => {
                let a = &self.answers[i];
                let mut t = ResponseTemplate::new(a.status).set_body_raw(a.body.clone(), "");
                for (k, v) in &a.headers {
                    t = t.append_header(k.clone(), v.clone());
                }
                t
            }
            Err(miss) => {
                let detail = miss.to_string();
                self.state.lock().misses.push(miss);
                let body = serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "404",
                    "detail": format!("replay: {detail}"),
                });
                ResponseTemplate::new(404)
                    .set_body_raw(body.to_string(), "application/scim+json")
                    .insert_header("x-cassette-miss", "true")
            }
        }
    }
}

/// A cassette served by wiremock.
pub struct Replay {
    server: MockServer,
    state: Arc<Mutex<PlayState>>,
    base_path: String,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").field("uri", &self.server.uri()).finish()
    }
}

impl Replay {
    pub async fn start(cassette: &Cassette, options: ReplayOptions) -> anyhow::Result<Replay> {
        let base_path = cassette.base_path();
        let mut targets: Vec<Target> = Vec::new();
        let mut answers = Vec::new();
        for (i, interaction) in cassette.http_interactions.iter().enumerate() {
            targets.push(cassette.target(i)?);
            let r = &interaction.response;
            let mut headers = Vec::new();
            for (k, values) in &r.headers {
                let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                    .with_context(|| format!("interaction {i}: bad header name {k:?}"))?;
                for v in values {
                    let value = reqwest::header::HeaderValue::from_str(v)
                        .with_context(|| format!("interaction {i}: bad value of header {k}"))?;
                    headers.push((name.clone(), value));
                }
            }
            answers.push(Prepared {
                status: r.status.code,
                headers,
                body: r.body.string.clone().into_bytes(),
            });
        }
        let state = Arc::new(Mutex::new(PlayState {
            player: Player::new(targets, options.allow_playback_repeats),
            misses: Vec::new(),
        }));
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder {
                state: state.clone(),
                answers,
                base_path: base_path.clone(),
            })
            .mount(&server)
            .await;
        Ok(Replay {
            server,
            state,
            base_path,
        })
    }

    /// The SCIM base URL to point a connector at.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.server.uri(), self.base_path)
    }

    /// Requests the cassette could not answer, in order.
    pub fn misses(&self) -> Vec<Miss> {
        self.state.lock().misses.clone()
    }

    /// Recorded exchanges never asked for (`#index METHOD /path`).
    pub fn unused(&self) -> Vec<String> {
        let s = self.state.lock();
        s.player
            .unused()
            .into_iter()
            .map(|i| format!("#{i} {}", s.player.target(i).describe()))
            .collect()
    }

    /// `Ok` when every request was answered from the cassette (and, with `unused_is_error`,
    /// every recorded exchange was asked for); otherwise an error that lists each miss with
    /// its nearest recorded requests, and the unused exchanges.
    pub fn check(&self, unused_is_error: bool) -> anyhow::Result<()> {
        let misses = self.misses();
        let unused = if unused_is_error { self.unused() } else { Vec::new() };
        if misses.is_empty() && unused.is_empty() {
            return Ok(());
        }
        let mut msg = String::new();
        if !misses.is_empty() {
            msg.push_str(&format!("{} request(s) the cassette does not record:", misses.len()));
            for m in &misses {
                msg.push_str(&format!("\n- {m}"));
            }
        }
        if !unused.is_empty() {
            if !msg.is_empty() {
                msg.push('\n');
            }
            msg.push_str(&format!("{} recorded exchange(s) never asked for:", unused.len()));
            for u in &unused {
                msg.push_str(&format!("\n- {u}"));
            }
        }
        anyhow::bail!("{msg}")
    }
}
