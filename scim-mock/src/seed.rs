//! Seeded fake organisations, deterministic per seed (ChaCha8 and the `fake` crate's word
//! lists: the same seed and spec give the same org, byte for byte, on every machine).

use std::collections::HashMap;

use fake::faker::company::en::{Buzzword, CompanyName};
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake;
use indexmap::{IndexMap, IndexSet};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Account, Group, Member, Org, PersonName, Role, Token, Workspace};

/// What to generate. `users` counts the members visible through SCIM in the first workspace
/// (active or not); guests come on top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedSpec {
    pub seed: u64,
    pub users: usize,
    pub groups: usize,
    /// Guests of the first workspace: never visible through SCIM. `None`: a tenth of `users`.
    pub guests: Option<usize>,
    /// Workspaces in the org; each has its own members, groups and token.
    pub workspaces: usize,
    /// Share of members listed with `active: false`.
    pub inactive_ratio: f64,
    /// Share of members whose name is only `name.formatted`.
    pub formatted_name_only_ratio: f64,
    /// Share of members without the Notion extension object (no role shown).
    pub no_role_extension_ratio: f64,
    /// Share of members with a second email address.
    pub secondary_email_ratio: f64,
    /// Share of groups with no members.
    pub empty_group_ratio: f64,
    /// Share of groups that are the only holder of full access to some page (their deletion
    /// is refused).
    pub sole_access_group_ratio: f64,
}

impl Default for SeedSpec {
    fn default() -> Self {
        SeedSpec {
            seed: 1,
            users: 50,
            groups: 8,
            guests: None,
            workspaces: 1,
            inactive_ratio: 0.02,
            formatted_name_only_ratio: 0.05,
            no_role_extension_ratio: 0.05,
            secondary_email_ratio: 0.08,
            empty_group_ratio: 0.05,
            sole_access_group_ratio: 0.1,
        }
    }
}

/// The secret of the first workspace's token when none is given: fixed, so a standalone mock
/// started without `--token` is reachable with a documented value.
pub const DEFAULT_TOKEN: &str = "secret_notion_scim_mock_token";

struct Gen {
    rng: ChaCha8Rng,
    domain: String,
    alias_domain: String,
    taken: HashMap<String, u32>,
    clock: u64,
}

impl Gen {
    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    fn unique_email(&mut self, local: &str, domain: &str) -> String {
        let base = format!("{local}@{domain}");
        let n = self.taken.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            base
        } else {
            format!("{local}{n}@{domain}")
        }
    }

    fn times(&mut self) -> (u64, u64) {
        let created = self.clock - self.rng.random_range(86_400_000..40_000_000_000);
        let modified = created + self.rng.random_range(0..(self.clock - created));
        (created, modified)
    }

    fn person(&mut self, spec: &SeedSpec, domain: &str, plain: bool) -> Account {
        let first: String = FirstName().fake_with_rng(&mut self.rng);
        let last: String = LastName().fake_with_rng(&mut self.rng);
        let local = format!("{}.{}", slug(&first), slug(&last));
        let email = self.unique_email(&local, domain);
        let formatted = format!("{first} {last}");
        let name = if !plain && self.rng.random_bool(spec.formatted_name_only_ratio) {
            PersonName {
                formatted: Some(formatted),
                given: None,
                family: None,
            }
        } else {
            PersonName {
                formatted: Some(formatted),
                given: Some(first),
                family: Some(last),
            }
        };
        let secondary_email = (!plain && self.rng.random_bool(spec.secondary_email_ratio)).then(|| {
            let alias = self.alias_domain.clone();
            self.unique_email(&local, &alias)
        });
        let id = self.uuid();
        let photo = self
            .rng
            .random_bool(0.6)
            .then(|| format!("https://s3-us-west-2.amazonaws.com/public.notion-static.com/{id}/avatar.png"));
        Account {
            id,
            email,
            secondary_email,
            name,
            photo,
            attributes: serde_json::Map::new(),
        }
    }

    fn member(&mut self, role: Option<Role>, active: bool) -> Member {
        let (created_ms, modified_ms) = self.times();
        Member {
            role,
            active,
            created_ms,
            modified_ms,
        }
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// Builds an organisation from a spec.
pub fn generate(spec: &SeedSpec, token_secret: Option<&str>) -> Org {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let company: String = CompanyName().fake_with_rng(&mut rng);
    let mut company_slug = slug(&company);
    company_slug.truncate(24);
    if company_slug.is_empty() {
        company_slug = "example".into();
    }
    let domain = format!("{company_slug}.com");
    let alias_domain = format!("{company_slug}.io");
    let mut g = Gen {
        rng,
        domain: domain.clone(),
        alias_domain,
        taken: HashMap::new(),
        clock: 1_787_393_411_245,
    };
    let mut org = Org::new(company.clone(), vec![domain.clone()]);
    org.accounts.reserve(spec.users + spec.users / 10 + 16);

    let workspaces = spec.workspaces.max(1);
    let mut first_members: Vec<Uuid> = Vec::new();
    for w in 0..workspaces {
        let users = if w == 0 { spec.users } else { spec.users / 10 + 3 };
        let groups = if w == 0 { spec.groups } else { spec.groups.min(3) };
        let mut ws = Workspace {
            id: g.uuid(),
            name: if w == 0 {
                company.clone()
            } else {
                format!("{company} {}", w + 1)
            },
            enterprise: true,
            members: IndexMap::with_capacity(users),
            guests: IndexSet::new(),
            groups: IndexMap::new(),
        };
        let owners = (users / 400).clamp(1, 8);
        for i in 0..users {
            // Later workspaces share half their people with the first one.
            let shared = w > 0 && i > 0 && i % 2 == 0 && !first_members.is_empty();
            let id = if shared {
                first_members[g.rng.random_range(0..first_members.len())]
            } else {
                let domain = g.domain.clone();
                let acc = g.person(spec, &domain, i == 0);
                let id = acc.id;
                org.insert_account(acc);
                id
            };
            if ws.members.contains_key(&id) {
                continue;
            }
            let role = if i < owners {
                Some(Role::Owner)
            } else {
                let roll: f64 = g.rng.random();
                let role = if roll < 0.01 {
                    Role::MembershipAdmin
                } else if roll < 0.11 {
                    Role::RestrictedMember
                } else {
                    Role::Member
                };
                (!g.rng.random_bool(spec.no_role_extension_ratio)).then_some(role)
            };
            let active = i == 0 || !g.rng.random_bool(spec.inactive_ratio);
            let member = g.member(role, active);
            ws.members.insert(id, member);
        }
        let guests = if w == 0 {
            spec.guests.unwrap_or(spec.users / 10)
        } else {
            1
        };
        for _ in 0..guests {
            let acc = g.person(spec, "gmail.com", true);
            ws.guests.insert(acc.id);
            org.insert_account(acc);
        }
        seed_groups(&mut g, spec, &mut ws, groups);
        if let Some((&creator, _)) = ws.members.first() {
            let secret = match (w, token_secret) {
                (0, Some(s)) => s.to_string(),
                (0, None) => DEFAULT_TOKEN.to_string(),
                _ => format!("secret_ws{}_{:016x}", w + 1, g.rng.random::<u64>()),
            };
            org.tokens.push(Token {
                id: format!("tok_{}", w + 1),
                secret,
                workspace: w,
                creator,
                revoked: false,
            });
        }
        if w == 0 {
            first_members = ws.members.keys().copied().collect();
        }
        org.workspaces.push(ws);
    }
    org
}

fn seed_groups(g: &mut Gen, spec: &SeedSpec, ws: &mut Workspace, groups: usize) {
    let active: Vec<Uuid> = ws.members.iter().filter(|(_, m)| m.active).map(|(id, _)| *id).collect();
    let mut ranks: Vec<usize> = (0..groups).collect();
    ranks.shuffle(&mut g.rng);
    let suffixes = ["Team", "Guild", "Squad", "Council", "Chapter", "Crew", "Circle"];
    let mut names: HashMap<String, u32> = HashMap::new();
    for rank in ranks {
        let word: String = Buzzword().fake_with_rng(&mut g.rng);
        let base = format!(
            "{} {}",
            capitalise(&word),
            suffixes[g.rng.random_range(0..suffixes.len())]
        );
        let n = names.entry(base.clone()).or_insert(0);
        *n += 1;
        let display_name = if *n == 1 { base } else { format!("{base} {n}") };
        // A long tail: the largest group holds about a quarter of the workspace, sizes fall
        // off as a power of their rank.
        let size = if g.rng.random_bool(spec.empty_group_ratio) || active.is_empty() {
            0
        } else {
            let base = active.len() as f64 * 0.25 / ((rank + 1) as f64).powf(1.1);
            let jitter: f64 = g.rng.random_range(0.5..1.5);
            ((base * jitter).round() as usize).clamp(1, active.len())
        };
        let mut picked: Vec<usize> = rand::seq::index::sample(&mut g.rng, active.len(), size).into_vec();
        picked.sort_unstable();
        let members: IndexSet<Uuid> = picked.into_iter().map(|i| active[i]).collect();
        let sole_full_access_pages = if g.rng.random_bool(spec.sole_access_group_ratio) {
            g.rng.random_range(1..5)
        } else {
            0
        };
        let (created_ms, modified_ms) = g.times();
        let id = g.uuid();
        ws.groups.insert(
            id,
            Group {
                display_name,
                members,
                sole_full_access_pages,
                created_ms,
                modified_ms,
            },
        );
    }
}

fn capitalise(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
