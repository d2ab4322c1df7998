//! `GET /__admin/journal/stream`: the journal as server-sent events, for watching a client
//! work (`curl -N`) or for tests in any language that wait for a request instead of polling.
//!
//! The entries already kept that pass the filter come first, then each new one as it is
//! recorded, each as `id: <seq>`, `event: request`, `data: <the entry as JSON>`. A reconnecting
//! `EventSource` sends `Last-Event-ID` and resumes after it. A follower too slow to keep up
//! gets `event: lagged` with how many entries it missed (they stay readable with
//! `GET /__admin/journal?since=<seq>`). A comment line every 15 s keeps proxies from closing an
//! idle stream.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::{interval_at, Instant, Interval};

use super::{journal_filter, AppState};
use crate::error::ScimError;
use crate::journal::{JournalEntry, JournalFilter};

const KEEP_ALIVE: Duration = Duration::from_secs(15);

struct Follower {
    backlog: VecDeque<JournalEntry>,
    live: Receiver<JournalEntry>,
    filter: JournalFilter,
    keep_alive: Interval,
}

pub(super) async fn journal_stream(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let mut filter = journal_filter(uri.query())?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(seen) = resume {
        filter.since = Some(filter.since.map_or(seen, |s| s.max(seen)));
    }
    let (backlog, live) = state.journal.follow(&filter);
    let follower = Follower {
        backlog: backlog.into(),
        live,
        filter,
        keep_alive: interval_at(Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
    };
    let events = futures_util::stream::unfold(follower, |mut f| async move {
        let chunk = next_event(&mut f).await?;
        Some((Ok::<Bytes, std::convert::Infallible>(Bytes::from(chunk)), f))
    });
    let mut resp = Response::new(Body::from_stream(events));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// The next chunk of the stream; `None` when the journal is gone (the server stopped).
async fn next_event(f: &mut Follower) -> Option<String> {
    if let Some(entry) = f.backlog.pop_front() {
        return Some(event(&entry));
    }
    loop {
        tokio::select! {
            received = f.live.recv() => match received {
                Ok(entry) if f.filter.matches(&entry) => return Some(event(&entry)),
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    return Some(format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n"));
                }
                Err(RecvError::Closed) => return None,
            },
            _ = f.keep_alive.tick() => return Some(": keep-alive\n\n".to_string()),
        }
    }
}

fn event(entry: &JournalEntry) -> String {
    // Compact JSON holds no newline, so one `data:` line carries it.
    let data = serde_json::to_string(entry).unwrap_or_else(|_| "{}".into());
    format!("id: {}\nevent: request\ndata: {data}\n\n", entry.seq)
}
