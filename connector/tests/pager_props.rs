//! The list pager against generated adversarial servers: each answer may lie about
//! `totalResults` and `itemsPerPage`, repeat items of earlier pages, come in another order,
//! stop short, be empty, or be a 5xx or a body that does not parse. Whatever the script, the
//! pager never loops (its requests are bounded), never hands out an id twice, and either hands
//! out exactly the set the server served (every id some answer carried) or fails with a clear
//! error. (A server that never shows an item cannot be caught by any client; one that shows it
//! once, on any page, must not lose it.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use baton_notion::scim::client::{ClientConfig, RetryPolicy, ScimClient, ScimError};
use baton_notion::secret::Secret;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How one answer bends the truth.
#[derive(Debug, Clone, Copy)]
enum Twist {
    Honest,
    /// `totalResults` off by this much (never below zero).
    Total(i64),
    /// `totalResults` left out.
    NoTotal,
    /// `itemsPerPage` 0, whatever the page holds.
    ZeroItemsPerPage,
    /// The list rotated by this much before slicing (order changed between requests).
    Rotate(usize),
    /// The page repeats the item before its first.
    RepeatPrevious,
    /// Only the first half of the page.
    Short,
    /// An empty page, whatever was asked.
    Empty,
    /// 503 (retried by the client).
    Unavailable,
    /// 200 with a body that is not JSON (retried by the client).
    Garbage,
}

fn twist() -> impl Strategy<Value = Twist> {
    prop_oneof![
        6 => Just(Twist::Honest),
        1 => (-5i64..40).prop_map(Twist::Total),
        1 => Just(Twist::NoTotal),
        1 => Just(Twist::ZeroItemsPerPage),
        1 => (1usize..300).prop_map(Twist::Rotate),
        1 => Just(Twist::RepeatPrevious),
        1 => Just(Twist::Short),
        1 => Just(Twist::Empty),
        1 => Just(Twist::Unavailable),
        1 => Just(Twist::Garbage),
    ]
}

fn user(i: usize) -> serde_json::Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": format!("00000000-0000-4000-8000-{i:012}"),
        "userName": format!("u{i}@example.com"),
        "active": true,
    })
}

/// The answer to `GET /Users?startIndex=S&count=C` under `twist`: (status, body, ids served).
fn answer(n: usize, start: usize, count: usize, twist: Twist) -> (u16, String, Vec<usize>) {
    let all: Vec<usize> = match twist {
        Twist::Rotate(r) if n > 0 => (0..n).map(|i| (i + r) % n).collect(),
        _ => (0..n).collect(),
    };
    let from = start.saturating_sub(1).min(n);
    let mut page: Vec<usize> = all[from..(from + count).min(n)].to_vec();
    match twist {
        Twist::RepeatPrevious if from > 0 => page.insert(0, all[from - 1]),
        Twist::Short => page.truncate(page.len() / 2),
        Twist::Empty => page.clear(),
        Twist::Unavailable => return (503, r#"{"detail":"try later"}"#.into(), Vec::new()),
        Twist::Garbage => return (200, "<html>oops".into(), Vec::new()),
        _ => {}
    }
    let mut body = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "startIndex": start,
        "itemsPerPage": page.len(),
        "totalResults": n,
        "Resources": page.iter().map(|i| user(*i)).collect::<Vec<_>>(),
    });
    match twist {
        Twist::Total(d) => body["totalResults"] = serde_json::json!((n as i64 + d).max(0)),
        Twist::NoTotal => {
            body.as_object_mut().unwrap().remove("totalResults");
        }
        Twist::ZeroItemsPerPage => body["itemsPerPage"] = serde_json::json!(0),
        _ => {}
    }
    (200, body.to_string(), page)
}

type Served = Arc<std::sync::Mutex<HashSet<usize>>>;

/// Serves `n` users, twisting the k-th answer by `script[k % len]`; counts requests.
async fn server(n: usize, script: Vec<Twist>, requests: Arc<AtomicUsize>, served: Served) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            let requests = requests.clone();
            let served = served.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => got.extend_from_slice(&buf[..k]),
                        }
                    }
                    let head = String::from_utf8_lossy(&got).into_owned();
                    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let param = |name: &str| {
                        target
                            .split(['?', '&'])
                            .find_map(|p| p.strip_prefix(&format!("{name}=")))
                            .and_then(|v| v.parse::<usize>().ok())
                    };
                    let k = requests.fetch_add(1, Ordering::SeqCst);
                    let twist = script[k % script.len()];
                    let (status, body, ids) = answer(
                        n,
                        param("startIndex").unwrap_or(1),
                        param("count").unwrap_or(100),
                        twist,
                    );
                    served.lock().unwrap().extend(ids);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/scim/v2")
}

async fn walk(base: &str, page_size: u32) -> (Result<Vec<String>, ScimError>, HashSet<String>) {
    let mut config = ClientConfig::new(base, Secret::new("secret_pager_property_token"));
    config.page_size = page_size;
    config.requests_per_minute = 0;
    config.retry = RetryPolicy::fast();
    let client = ScimClient::new(config).unwrap();
    let mut pager = client.users();
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    loop {
        match pager.next_page().await {
            Ok(Some(page)) => {
                for u in page {
                    seen.insert(u.id.clone());
                    ids.push(u.id);
                }
            }
            Ok(None) => return (Ok(ids), seen),
            Err(e) => return (Err(e), seen),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_pager_returns_the_whole_set_once_or_fails_clearly(
        n in 0usize..260,
        page_size in prop_oneof![Just(100u32), Just(7u32), 1u32..60],
        script in proptest::collection::vec(twist(), 1..12),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let served: Served = Arc::default();
        let (result, requests) = rt.block_on(async {
            let requests = Arc::new(AtomicUsize::new(0));
            let base = server(n, script.clone(), requests.clone(), served.clone()).await;
            let (result, _) = walk(&base, page_size).await;
            (result, requests.load(Ordering::SeqCst))
        });
        let served: HashSet<String> = served.lock().unwrap().iter().map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect();
        // Never loops: the walk's requests stay within a bound set by the list's size.
        let pages = n.div_ceil(page_size as usize).max(1);
        // Every logical request may be retried (a 503, a body that does not parse) up to the
        // retry policy's limit, and each shows up here.
        let bound = ((pages + 4) * 12 + 100) * 6;
        prop_assert!(requests <= bound, "{requests} requests for {n} items (bound {bound})");
        match result {
            Ok(ids) => {
                let unique: HashSet<&String> = ids.iter().collect();
                prop_assert_eq!(unique.len(), ids.len(), "an id handed out twice");
                let got: HashSet<String> = ids.into_iter().collect();
                prop_assert!(got == served, "returned {} of the {} ids served without an error", got.len(), served.len());
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.trim().is_empty());
            }
        }
    }
}
