//! Churn: the org changing while a client walks a list, made deterministic.
//!
//! Offset paging loses items when the list shifts between two page requests. Real churn
//! (someone deprovisioned or added while a sync runs) depends on timing; a [`ChurnStep`]
//! instead fires on a count: once a token has sent `after` list requests of the step's target
//! (`/Users` or `/Groups`), the step deletes, inserts or moves `count` items at list position
//! `at` before the next such request is answered. Tests then need no sleeps and replay exactly.
//!
//! Positions are 0-based in list order (the order pages are cut from). Deleting a user removes
//! the membership as SCIM's DELETE does (its group memberships go too); the owner who created
//! the token is skipped, as Notion refuses to remove them. Inserted users and groups get ids
//! drawn from a generator seeded by the step and the org's size, so a replay makes the same ids.

use std::fmt;
use std::str::FromStr;

use indexmap::IndexSet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Account, Group, Member, Org, PersonName, Role};

/// The list a churn step changes, and whose list requests it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnList {
    Users,
    Groups,
}

impl ChurnList {
    pub(crate) fn index(self) -> usize {
        match self {
            ChurnList::Users => 0,
            ChurnList::Groups => 1,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ChurnList::Users => "users",
            ChurnList::Groups => "groups",
        }
    }
}

/// What a churn step does at its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnOp {
    /// Removes `count` items from position `at` on.
    Delete,
    /// Adds `count` new items at position `at`.
    Insert,
    /// Takes `count` items from position `at` and puts them back at position `to` of the list
    /// without them: the list's order changes, its contents do not.
    Move,
}

impl ChurnOp {
    fn as_str(self) -> &'static str {
        match self {
            ChurnOp::Delete => "delete",
            ChurnOp::Insert => "insert",
            ChurnOp::Move => "move",
        }
    }
}

/// One change to the org, made once after the `after`-th list request of `target`.
///
/// Text form (the `--churn` flag): `after=N,OP=TARGET,at=P,count=M[,to=Q][,links=K]` with OP
/// one of `delete`, `insert`, `move` and TARGET `users` or `groups`, e.g.
/// `after=3,delete=users,at=0,count=10`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnStep {
    /// List requests of `target` (since the churn was set) after which the step fires: 0 fires
    /// before the first is answered, 3 before the fourth.
    #[serde(default)]
    pub after: u64,
    pub op: ChurnOp,
    pub target: ChurnList,
    /// 0-based position in list order; past the end means the end.
    #[serde(default)]
    pub at: usize,
    /// How many items; fewer when the list ends first.
    #[serde(default = "one")]
    pub count: usize,
    /// `move` only: the position the items go to, in the list without them (default: the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<usize>,
    /// `insert` only: each new user joins the last `links` groups of the list (the ones a
    /// walk reaches last, so a client walking users and groups side by side still reads them
    /// after the change); each new group holds the first `links` users. This is how a member
    /// id that no user page showed comes about.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub links: usize,
    /// Set once the step has fired: the ids it removed, added or moved. A step given with
    /// `applied` set never fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Vec<String>>,
}

fn one() -> usize {
    1
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ChurnStep {
    /// A step with `count` 1 at position 0 and nothing else set.
    pub fn new(after: u64, op: ChurnOp, target: ChurnList) -> Self {
        ChurnStep {
            after,
            op,
            target,
            at: 0,
            count: 1,
            to: None,
            links: 0,
            applied: None,
        }
    }

    pub fn at(mut self, at: usize) -> Self {
        self.at = at;
        self
    }

    pub fn count(mut self, count: usize) -> Self {
        self.count = count;
        self
    }

    pub fn to(mut self, to: usize) -> Self {
        self.to = Some(to);
        self
    }

    pub fn links(mut self, links: usize) -> Self {
        self.links = links;
        self
    }
}

impl fmt::Display for ChurnStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "after={},{}={},at={},count={}",
            self.after,
            self.op.as_str(),
            self.target.as_str(),
            self.at,
            self.count
        )?;
        if let Some(to) = self.to {
            write!(f, ",to={to}")?;
        }
        if self.links > 0 {
            write!(f, ",links={}", self.links)?;
        }
        Ok(())
    }
}

impl FromStr for ChurnStep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut after = 0;
        let mut action: Option<(ChurnOp, ChurnList)> = None;
        let (mut at, mut count, mut to, mut links) = (0, 1, None, 0);
        let number = |k: &str, v: &str| -> Result<u64, String> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("churn {s:?}: {k} must be a whole number, got {v:?}"))
        };
        let size = |k: &str, v: &str| number(k, v).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("churn {s:?}: expected key=value, got {part:?}"))?;
            let k = k.trim().to_ascii_lowercase();
            match k.as_str() {
                "after" => after = number(&k, v)?,
                "at" => at = size(&k, v)?,
                "count" => count = size(&k, v)?,
                "to" => to = Some(size(&k, v)?),
                "links" => links = size(&k, v)?,
                "delete" | "insert" | "move" => {
                    let op = match k.as_str() {
                        "delete" => ChurnOp::Delete,
                        "insert" => ChurnOp::Insert,
                        _ => ChurnOp::Move,
                    };
                    let target = match v.trim().to_ascii_lowercase().as_str() {
                        "users" => ChurnList::Users,
                        "groups" => ChurnList::Groups,
                        other => return Err(format!("churn {s:?}: {k}={other}: expected users or groups")),
                    };
                    if action.replace((op, target)).is_some() {
                        return Err(format!("churn {s:?}: one of delete, insert, move per step"));
                    }
                }
                other => {
                    return Err(format!(
                        "churn {s:?}: unknown key {other:?}: expected after, delete, insert, move, at, count, to, links"
                    ))
                }
            }
        }
        let (op, target) = action
            .ok_or_else(|| format!("churn {s:?}: say what changes: delete=users, insert=groups, move=users ..."))?;
        if to.is_some() && op != ChurnOp::Move {
            return Err(format!("churn {s:?}: to= goes with move only"));
        }
        Ok(ChurnStep {
            after,
            op,
            target,
            at,
            count,
            to,
            links,
            applied: None,
        })
    }
}

/// Makes `step`'s change to `workspace` of `org` and returns the ids it removed, added or
/// moved. `protected` (the token's creator) is never removed.
pub(crate) fn apply(org: &mut Org, workspace: usize, protected: Uuid, step: &ChurnStep) -> Vec<String> {
    if workspace >= org.workspaces.len() {
        return Vec::new();
    }
    let ids = match (step.op, step.target) {
        (ChurnOp::Delete, ChurnList::Users) => delete_users(org, workspace, protected, step),
        (ChurnOp::Delete, ChurnList::Groups) => delete_groups(org, workspace, step),
        (ChurnOp::Insert, ChurnList::Users) => insert_users(org, workspace, step),
        (ChurnOp::Insert, ChurnList::Groups) => insert_groups(org, workspace, step),
        (ChurnOp::Move, ChurnList::Users) => {
            let members = &mut org.workspaces[workspace].members;
            move_block(members, step)
        }
        (ChurnOp::Move, ChurnList::Groups) => {
            let groups = &mut org.workspaces[workspace].groups;
            move_block(groups, step)
        }
    };
    ids.iter().map(Uuid::to_string).collect()
}

fn delete_users(org: &mut Org, workspace: usize, protected: Uuid, step: &ChurnStep) -> Vec<Uuid> {
    let doomed: Vec<Uuid> = org.workspaces[workspace]
        .members
        .keys()
        .skip(step.at)
        .filter(|id| **id != protected)
        .take(step.count)
        .copied()
        .collect();
    for id in &doomed {
        org.remove_member(workspace, *id);
    }
    doomed
}

fn delete_groups(org: &mut Org, workspace: usize, step: &ChurnStep) -> Vec<Uuid> {
    let groups = &mut org.workspaces[workspace].groups;
    let doomed: Vec<Uuid> = groups.keys().skip(step.at).take(step.count).copied().collect();
    for id in &doomed {
        groups.shift_remove(id);
    }
    doomed
}

/// Ids for new items: from the step and the org's size, so that the same script on the same
/// org makes the same ids.
fn id_source(org: &Org, step: &ChurnStep) -> ChaCha8Rng {
    let seed = (org.accounts.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (step.at as u64).rotate_left(17)
        ^ step.after.rotate_left(33)
        ^ (step.count as u64).rotate_left(49)
        ^ (org.workspaces.iter().map(|w| w.groups.len() as u64).sum::<u64>()).rotate_left(7);
    ChaCha8Rng::seed_from_u64(seed)
}

fn new_id(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

fn insert_users(org: &mut Org, workspace: usize, step: &ChurnStep) -> Vec<Uuid> {
    let mut rng = id_source(org, step);
    let domain = org
        .verified_domains
        .first()
        .cloned()
        .unwrap_or_else(|| "example.com".to_string());
    let mut added = Vec::with_capacity(step.count);
    let mut n = org.accounts.len();
    for i in 0..step.count {
        let mut id = new_id(&mut rng);
        while org.accounts.contains_key(&id) {
            id = new_id(&mut rng);
        }
        let email = loop {
            n += 1;
            let email = format!("churn.{n}@{domain}");
            if org.account_by_email(&email).is_none() {
                break email;
            }
        };
        org.insert_account(Account {
            id,
            email,
            secondary_email: None,
            name: PersonName {
                formatted: Some(format!("Churn User {n}")),
                given: Some("Churn".to_string()),
                family: Some(format!("User {n}")),
            },
            photo: None,
            attributes: serde_json::Map::new(),
        });
        let now = org.tick();
        let ws = &mut org.workspaces[workspace];
        let at = (step.at + i).min(ws.members.len());
        ws.members.shift_insert(
            at,
            id,
            Member {
                role: Some(Role::Member),
                active: true,
                created_ms: now,
                modified_ms: now,
            },
        );
        let groups = ws.groups.len();
        for group in ws.groups.values_mut().skip(groups.saturating_sub(step.links)) {
            group.members.insert(id);
            group.modified_ms = now;
        }
        added.push(id);
    }
    added
}

fn insert_groups(org: &mut Org, workspace: usize, step: &ChurnStep) -> Vec<Uuid> {
    let mut rng = id_source(org, step);
    let mut added = Vec::with_capacity(step.count);
    for i in 0..step.count {
        let now = org.tick();
        let ws = &mut org.workspaces[workspace];
        let mut id = new_id(&mut rng);
        while ws.groups.contains_key(&id) {
            id = new_id(&mut rng);
        }
        let mut n = ws.groups.len();
        let display_name = loop {
            n += 1;
            let name = format!("Churn Group {n}");
            if !ws.groups.values().any(|g| g.display_name == name) {
                break name;
            }
        };
        let members: IndexSet<Uuid> = ws.members.keys().take(step.links).copied().collect();
        let at = (step.at + i).min(ws.groups.len());
        ws.groups.shift_insert(
            at,
            id,
            Group {
                display_name,
                members,
                sole_full_access_pages: 0,
                created_ms: now,
                modified_ms: now,
            },
        );
        added.push(id);
    }
    added
}

/// Moves the block of `step.count` entries at `step.at` to `step.to` (in the map without
/// them), keeping their order.
fn move_block<V>(map: &mut indexmap::IndexMap<Uuid, V>, step: &ChurnStep) -> Vec<Uuid> {
    let from = step.at.min(map.len());
    let taken: Vec<(Uuid, V)> = map.drain(from..(from + step.count).min(map.len())).collect();
    let to = step.to.unwrap_or(usize::MAX).min(map.len());
    let ids: Vec<Uuid> = taken.iter().map(|(id, _)| *id).collect();
    for (i, (id, value)) in taken.into_iter().enumerate() {
        map.shift_insert(to + i, id, value);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        for text in [
            "after=3,delete=users,at=0,count=10",
            "after=0,insert=groups,at=7,count=2,links=4",
            "after=2,move=users,at=400,count=5,to=0",
        ] {
            let step: ChurnStep = text.parse().unwrap();
            assert_eq!(step.to_string(), text);
            assert_eq!(step.to_string().parse::<ChurnStep>().unwrap(), step);
        }
        let step: ChurnStep = "insert=users".parse().unwrap();
        assert_eq!(step, ChurnStep::new(0, ChurnOp::Insert, ChurnList::Users));
    }

    #[test]
    fn bad_text_says_what_is_wrong() {
        for (text, says) in [
            ("after=3", "say what changes"),
            ("delete=people", "expected users or groups"),
            ("delete=users,insert=users", "one of delete"),
            ("delete=users,to=3", "move only"),
            ("delete=users,count=-1", "whole number"),
            ("delete=users,when=3", "unknown key"),
            ("delete users", "key=value"),
        ] {
            let err = text.parse::<ChurnStep>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn json_form_defaults_and_rejects_unknown_fields() {
        let step: ChurnStep = serde_json::from_str(r#"{"op":"move","target":"groups","at":2,"to":0}"#).unwrap();
        assert_eq!(step, ChurnStep::new(0, ChurnOp::Move, ChurnList::Groups).at(2).to(0));
        assert!(serde_json::from_str::<ChurnStep>(r#"{"op":"move","target":"groups","when":1}"#).is_err());
    }
}
