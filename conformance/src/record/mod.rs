//! `notion-conformance record`: a recording proxy between any SCIM client and an upstream
//! (a real tenant, the standalone emulation), and a probe that drives it with a fixed sequence
//! of questions.
//!
//! - [`scrub`]: what an exchange loses before it is written (secrets, personal values).
//! - [`proxy`]: the HTTP proxy: playback, write gate, forwarding, recording.
//! - [`probe`]: the fixed sequence that answers the facts file's open questions.
//!
//! Record modes are VCR's: `once` (record when the cassette does not exist yet, else only play
//! it back), `new_episodes` (play back what is recorded, record the rest), `all` (record
//! everything afresh) and `none` (only play back).

pub mod probe;
pub mod proxy;
pub mod scrub;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::cassette::{Cassette, Interaction, Source, Target};
use crate::matching::{Miss, Player};
use scrub::{RawExchange, ScrubKey, Scrubber};

/// VCR's record modes, as vcrpy and Ruby VCR name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordMode {
    Once,
    NewEpisodes,
    All,
    None,
}

impl FromStr for RecordMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "once" => Ok(RecordMode::Once),
            "new_episodes" => Ok(RecordMode::NewEpisodes),
            "all" => Ok(RecordMode::All),
            "none" => Ok(RecordMode::None),
            other => Err(format!(
                "unknown record mode {other:?}: expected once, new_episodes, all or none"
            )),
        }
    }
}

impl fmt::Display for RecordMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordMode::Once => "once",
            RecordMode::NewEpisodes => "new_episodes",
            RecordMode::All => "all",
            RecordMode::None => "none",
        })
    }
}

/// What a recording session needs.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The upstream SCIM base URL (`https://api.notion.com/scim/v2`).
    pub upstream: String,
    pub cassette: PathBuf,
    pub mode: RecordMode,
    /// Let methods other than GET and HEAD through to the upstream.
    pub allow_writes: bool,
    pub key: ScrubKey,
    /// Replace ids by pseudonym UUIDs (the default) rather than keep them.
    pub map_ids: bool,
    /// What is recorded, in words; `None` detects the emulation by its admin API.
    pub label: Option<String>,
    /// A played-back exchange may answer again once every match has answered.
    pub allow_playback_repeats: bool,
    /// Secrets to remove besides those seen in `Authorization` headers.
    pub secrets: Vec<String>,
}

/// Counts of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub played_back: usize,
    pub recorded: usize,
    /// Writes refused for want of `--allow-writes`.
    pub refused_writes: usize,
    /// Requests neither played back nor recordable (record mode `once` with a cassette, or
    /// `none`).
    pub missed: usize,
    /// Exchanges answered but not written because the final check still found a secret or a
    /// real email in them.
    pub withheld: usize,
}

/// The cassette of a session, its scrubber and its playback state.
#[derive(Debug)]
pub struct Recorder {
    config: RecordConfig,
    base_path: String,
    upstream: reqwest::Url,
    cassette: Cassette,
    player: Player,
    recording: bool,
    scrubber: Scrubber,
    dirty: bool,
    last_save: Option<Instant>,
    pub stats: Stats,
}

/// What to do with one request.
#[derive(Debug)]
pub enum Decision {
    /// Answer with this recorded exchange.
    Play(Box<Interaction>),
    /// Forward it upstream and record the exchange.
    Forward,
    /// Refuse it: a write without `--allow-writes`.
    RefuseWrite,
    /// Nothing recorded matches and this session may not record.
    Miss(Miss),
}

impl Recorder {
    /// Opens a session: loads the cassette when the mode plays back, checks that a cassette
    /// appended to was scrubbed with the same key.
    pub fn open(config: RecordConfig, source: Source) -> anyhow::Result<Recorder> {
        let upstream = reqwest::Url::parse(&config.upstream)
            .with_context(|| format!("--upstream {:?} is not a URL", config.upstream))?;
        if !matches!(upstream.scheme(), "http" | "https") {
            bail!("--upstream must be an http or https URL");
        }
        let base_path = upstream.path().trim_end_matches('/').to_string();
        let mut scrubber = Scrubber::new(&config.key, config.map_ids);
        for s in &config.secrets {
            scrubber.add_secret(s);
        }
        let exists = config.cassette.exists();
        let existing = match (config.mode, exists) {
            (RecordMode::All, _) | (_, false) => None,
            (_, true) => Some(Cassette::load(&config.cassette)?),
        };
        if config.mode == RecordMode::None && existing.is_none() {
            bail!(
                "record mode none plays back only, and {} does not exist",
                config.cassette.display()
            );
        }
        let recording = match config.mode {
            RecordMode::All | RecordMode::NewEpisodes => true,
            RecordMode::Once => existing.as_ref().is_none_or(|c| c.http_interactions.is_empty()),
            RecordMode::None => false,
        };
        let cassette = match existing {
            Some(c) => {
                if recording {
                    let same_key = c
                        .notion_conformance
                        .scrubbing
                        .as_ref()
                        .is_some_and(|s| s.key_check == scrubber.key_check());
                    if !same_key {
                        bail!(
                            "{} was scrubbed with another key (or holds synthesised values): new exchanges would get other pseudonyms. Pass the key file it was recorded with (--scrub-key FILE), or record it afresh with --record-mode all",
                            config.cassette.display()
                        );
                    }
                    if c.notion_conformance.upstream != config.upstream.trim_end_matches('/') {
                        bail!(
                            "{} was recorded from {}, not {}",
                            config.cassette.display(),
                            c.notion_conformance.upstream,
                            config.upstream
                        );
                    }
                }
                c
            }
            None => Cassette::new(source, &config.upstream, Some(scrubber.scrubbing())),
        };
        let mut targets = Vec::new();
        for i in 0..cassette.http_interactions.len() {
            targets.push(cassette.target(i)?);
        }
        let player = Player::new(targets, config.allow_playback_repeats);
        Ok(Recorder {
            base_path,
            upstream,
            cassette,
            player,
            recording,
            scrubber,
            dirty: false,
            last_save: None,
            stats: Stats::default(),
            config,
        })
    }

    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    pub fn upstream(&self) -> &reqwest::Url {
        &self.upstream
    }

    pub fn recording(&self) -> bool {
        self.recording
    }

    pub fn mode(&self) -> RecordMode {
        self.config.mode
    }

    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Decides what a request gets: a recorded answer, the upstream, a refusal or a miss.
    pub fn decide(&mut self, target: &Target) -> Decision {
        // Playback never reaches the upstream, so recorded writes may be played back.
        if self.config.mode != RecordMode::All && !self.player.is_empty() {
            match self.player.take(target) {
                Ok(i) => {
                    self.stats.played_back += 1;
                    return Decision::Play(Box::new(self.cassette.http_interactions[i].clone()));
                }
                Err(miss) if !self.recording => {
                    self.stats.missed += 1;
                    return Decision::Miss(miss);
                }
                Err(_) => {}
            }
        }
        if !self.recording {
            self.stats.missed += 1;
            return Decision::Miss(Miss {
                request: target.describe(),
                nearest: Vec::new(),
            });
        }
        if !matches!(target.method.as_str(), "GET" | "HEAD") && !self.config.allow_writes {
            self.stats.refused_writes += 1;
            return Decision::RefuseWrite;
        }
        Decision::Forward
    }

    /// Scrubs an exchange and appends it; returns what the client is answered with (the
    /// scrubbed exchange, so that it sees what a replay will show).
    pub fn record(&mut self, raw: &RawExchange) -> anyhow::Result<Interaction> {
        let interaction = self.scrubber.scrub(raw, &self.base_path);
        let text = serde_json::to_string(&interaction)?;
        let leaks = self.scrubber.leaks(&text);
        if !leaks.is_empty() {
            // Never written; the client still gets its (scrubbed) answer.
            self.stats.withheld += 1;
            eprintln!(
                "record: an exchange was not written: after scrubbing it still held {}",
                leaks.join(" and ")
            );
            return Ok(interaction);
        }
        self.cassette.http_interactions.push(interaction.clone());
        self.stats.recorded += 1;
        self.dirty = true;
        // Written at most once a second while recording (a long sync is many pages), and at
        // the end.
        if self.last_save.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            self.save()?;
        }
        Ok(interaction)
    }

    /// Writes the cassette if it changed, after checking its whole text once more.
    pub fn save(&mut self) -> anyhow::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let text = self.cassette.to_json()?;
        let leaks = self.scrubber.leaks(&text);
        if !leaks.is_empty() {
            bail!(
                "refusing to write {}: it would hold {}",
                self.config.cassette.display(),
                leaks.join(" and ")
            );
        }
        self.cassette.save(&self.config.cassette)?;
        self.dirty = false;
        self.last_save = Some(Instant::now());
        Ok(())
    }

    /// The cassette as it stands.
    pub fn cassette(&self) -> &Cassette {
        &self.cassette
    }

    pub fn path(&self) -> &std::path::Path {
        &self.config.cassette
    }
}

/// What a cassette records, in words: the emulation is recognised by its admin API beside the
/// SCIM base; Notion's hosts are a tenant.
pub async fn detect_source(upstream: &str, label: Option<&str>) -> Source {
    let base = upstream.trim_end_matches('/');
    let root = base.strip_suffix("/scim/v2").unwrap_or(base);
    let admin = async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .ok()?;
        let resp = http.get(format!("{root}/__admin/truth")).send().await.ok()?;
        let body: serde_json::Value = resp.json().await.ok()?;
        body.get("workspaces").map(drop)
    };
    let host = reqwest::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let (kind, description) = if admin.await.is_some() {
        (
            "emulation",
            format!("the standalone notion-scim-mock emulation at {base}: NOT a real Notion tenant, so no evidence of Notion's behaviour"),
        )
    } else if ["notion.com", "notion.so"]
        .iter()
        .any(|h| host == *h || host.ends_with(&format!(".{h}")))
    {
        ("tenant", format!("a Notion tenant at {base}"))
    } else {
        ("unknown", format!("the SCIM server at {base}"))
    };
    Source {
        kind: kind.into(),
        description: label.map_or(description, str::to_string),
    }
}
