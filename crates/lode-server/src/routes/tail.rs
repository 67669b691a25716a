//! `GET /loki/api/v1/tail` (WebSocket): an initial batch of history (up to
//! `limit`, oldest first) then live entries as they become durable, each
//! text message `{"streams":[…],"dropped_entries":[…]}` in Loki's shape.
//!
//! Live entries come from a storage subscriber that only matches stream
//! labels (it runs on the writer thread) and hands clones to a bounded
//! channel; the LogQL pipeline runs here, per subscriber. When the channel
//! is full the entries are dropped and reported in `dropped_entries`.

use crate::encode::{json_str, labels_obj};
use crate::error::{ApiError, ApiResult};
use crate::params::{now_ns, parse_time, Params};
use crate::state::{categorize, tenant_or, SharedState};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use lode_logql::ast::LogExpr;
use lode_logql::pipeline::{LogPipeline, ProcessedEntry};
use lode_logql::{Expr, LabelSet};
use lode_proto::Entry;
use lode_storage::index::compile_all;
use lode_storage::{Direction, LogQuery};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Live batches buffered per subscriber before entries are dropped.
const CHANNEL_BATCHES: usize = 1024;
/// Bytes of live entries one tail may have waiting for its client (a tail
/// that never reads must not buffer every push: with 1 MB pushes, 1024
/// batches were a gigabyte). Past it entries are dropped and reported in
/// `dropped_entries`, as Loki does.
const MAX_QUEUED_BYTES: usize = 2 << 20;
/// Bytes of frames one tail's socket may hold unsent: a client that
/// stops reading past this is disconnected instead of buffered for.
const MAX_UNSENT_BYTES: usize = 4 << 20;

/// Tails open now, against `querier.max_concurrent_tail_requests`.
static OPEN_TAILS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts an open tail for as long as it lives.
struct TailSlot;

impl TailSlot {
    fn take(limit: usize) -> ApiResult<TailSlot> {
        use std::sync::atomic::Ordering;
        let n = OPEN_TAILS.fetch_add(1, Ordering::AcqRel) + 1;
        if limit > 0 && n > limit {
            OPEN_TAILS.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::BadRequest(format!(
                "max concurrent tail requests limit exceeded, count > limit ({n} > {limit})"
            )));
        }
        Ok(TailSlot)
    }
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        OPEN_TAILS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

fn batch_bytes(b: &Batch) -> usize {
    b.iter()
        .flat_map(|(_, es)| es.iter())
        .map(|e| e.line.len() + 64)
        .sum()
}
/// Dropped entries remembered for the next report.
const MAX_DROPPED: usize = 1000;
/// Loki's `tail_max_duration`.
const MAX_DURATION: Duration = Duration::from_secs(3600);
const MAX_DELAY_SECS: u64 = 5;

type Batch = Vec<(LabelSet, Vec<Entry>)>;

struct TailRequest {
    tenant: String,
    log: LogExpr,
    start: i64,
    limit: usize,
    delay: Duration,
    categorize: bool,
}

fn parse_request(state: &SharedState, uri: &Uri, headers: &HeaderMap) -> ApiResult<TailRequest> {
    let p = Params::parse(uri.query(), None)?;
    let tenant = tenant_or(state, headers, p.get("orgId"))?;
    let q = p.get("query").unwrap_or("");
    let log = match lode_logql::parse(q)? {
        Expr::Log(l) => l,
        Expr::Metric(_) | Expr::Variants(_) => {
            return Err(ApiError::BadRequest(
                "tail queries must be log queries".into(),
            ));
        }
    };
    LogPipeline::new(&log.pipeline)?;
    let limit = match p.get("limit") {
        None => 100,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|l| *l > 0)
            .ok_or_else(|| ApiError::BadRequest("limit must be a positive value".into()))?
            as usize,
    };
    let max = state.config.limits_config.max_entries_limit_per_query;
    if limit > max {
        return Err(ApiError::BadRequest(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})"
        )));
    }
    let start = match p.get("start") {
        Some(s) => parse_time(s)?,
        None => now_ns() - 3600 * 1_000_000_000,
    };
    // The history read is a query: no further back than max_query_length.
    let start = crate::read::clamp_length(state, &tenant, start, now_ns());
    let delay = match p.get("delay_for") {
        None => 0,
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!("cannot parse \"{s}\" to a valid delay_for"))
        })?,
    };
    if delay > MAX_DELAY_SECS {
        return Err(ApiError::BadRequest(
            "delay_for can't be greater than 5".into(),
        ));
    }
    Ok(TailRequest {
        tenant,
        log,
        start,
        limit,
        delay: Duration::from_secs(delay),
        categorize: categorize(headers),
    })
}

pub async fn tail(
    State(state): State<SharedState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // Parameters first: a bad request is a 400 whether or not it upgrades.
    let req = parse_request(&state, &uri, &headers)?;
    let slot = TailSlot::take(state.config.querier.max_concurrent_tail_requests)?;
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let ws = ws
        .write_buffer_size(64 << 10)
        .max_write_buffer_size(MAX_UNSENT_BYTES);
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        let mut socket = socket;
        if let Err(msg) = run(state, &mut socket, req).await {
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: 1011,
                    reason: msg.into(),
                })))
                .await;
        }
    }))
}

/// Unregisters the storage subscriber when the tail ends.
struct Subscription {
    state: SharedState,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.state.store.subscribers().remove(self.id);
    }
}

fn subscribe(
    state: &SharedState,
    req: &TailRequest,
    tx: mpsc::Sender<(Batch, usize)>,
    dropped: Arc<Mutex<Vec<(LabelSet, i64)>>>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
) -> Result<Subscription, String> {
    let matchers = compile_all(&req.log.selector).map_err(|e| e.to_string())?;
    let tenant = req.tenant.clone();
    let id = state.store.subscribers().add(Arc::new(
        move |t: &str, streams: &[(LabelSet, lode_proto::PushStream)]| {
            if t != tenant {
                return;
            }
            let batch: Batch = streams
                .iter()
                .filter(|(l, s)| {
                    !s.entries.is_empty() && matchers.iter().all(|m| m.matches_labels(l))
                })
                .map(|(l, s)| (l.clone(), s.entries.clone()))
                .collect();
            if batch.is_empty() {
                return;
            }
            use std::sync::atomic::Ordering;
            let bytes = batch_bytes(&batch);
            // Counted before it is sent, so the receiver never subtracts
            // bytes not yet added; the size travels with the batch.
            let refused = if queued.fetch_add(bytes, Ordering::AcqRel) + bytes > MAX_QUEUED_BYTES {
                queued.fetch_sub(bytes, Ordering::AcqRel);
                Some(batch)
            } else {
                match tx.try_send((batch, bytes)) {
                    Ok(()) => None,
                    Err(e) => {
                        queued.fetch_sub(bytes, Ordering::AcqRel);
                        match e {
                            mpsc::error::TrySendError::Full((b, _)) => Some(b),
                            mpsc::error::TrySendError::Closed(_) => None,
                        }
                    }
                }
            };
            if let Some(b) = refused {
                let mut d = dropped.lock();
                for (l, entries) in b {
                    for e in entries {
                        if d.len() < MAX_DROPPED {
                            d.push((l.clone(), e.ts));
                        }
                    }
                }
            }
        },
    ));
    Ok(Subscription {
        state: state.clone(),
        id,
    })
}

/// One tail message.
/// Line bytes per tail message: a client reading them gets them all, one
/// message at a time, and none comes near the socket's unsent limit.
const MESSAGE_BYTES: usize = 1 << 20;

/// Sends `hits` (and the dropped-entries report, with the first message) in
/// messages of about [`MESSAGE_BYTES`] of lines each.
async fn send_chunked(
    socket: &mut WebSocket,
    hits: &[(i64, ProcessedEntry)],
    dropped: &[(LabelSet, i64)],
    categorize: bool,
) -> Result<(), String> {
    let mut from = 0;
    let mut first = true;
    while from < hits.len() || first {
        let mut to = from;
        let mut bytes = 0;
        while to < hits.len() && (to == from || bytes + hits[to].1.line.len() <= MESSAGE_BYTES) {
            bytes += hits[to].1.line.len();
            to += 1;
        }
        let lost = if first { dropped } else { &[] };
        let msg = message(&hits[from..to], lost, categorize);
        socket
            .send(Message::Text(msg.into()))
            .await
            .map_err(|e| e.to_string())?;
        first = false;
        from = to;
    }
    Ok(())
}

fn message(
    hits: &[(i64, ProcessedEntry)],
    dropped: &[(LabelSet, i64)],
    categorize: bool,
) -> String {
    let mut groups: BTreeMap<String, (&LabelSet, Vec<usize>)> = BTreeMap::new();
    for (i, (_, e)) in hits.iter().enumerate() {
        let l = if categorize { &e.stream } else { &e.labels };
        groups
            .entry(l.to_string())
            .or_insert_with(|| (l, Vec::new()))
            .1
            .push(i);
    }
    let mut out = String::from("{");
    if categorize {
        out.push_str("\"encodingFlags\":[\"categorize-labels\"],");
    }
    out.push_str("\"streams\":[");
    for (gi, (labels, idx)) in groups.values().enumerate() {
        if gi > 0 {
            out.push(',');
        }
        out.push_str("{\"stream\":");
        labels_obj(&mut out, labels);
        out.push_str(",\"values\":[");
        for (n, &i) in idx.iter().enumerate() {
            let (ts, e) = &hits[i];
            if n > 0 {
                out.push(',');
            }
            let _ = write!(out, "[\"{ts}\",");
            json_str(&mut out, &e.line);
            if categorize {
                out.push_str(",{");
                if !e.structured_metadata.is_empty() {
                    out.push_str("\"structuredMetadata\":");
                    labels_obj(&mut out, &e.structured_metadata);
                }
                if !e.parsed.is_empty() {
                    if !e.structured_metadata.is_empty() {
                        out.push(',');
                    }
                    out.push_str("\"parsed\":");
                    labels_obj(&mut out, &e.parsed);
                }
                out.push('}');
            }
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push(']');
    if !dropped.is_empty() {
        out.push_str(",\"dropped_entries\":[");
        for (i, (l, ts)) in dropped.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"labels\":");
            labels_obj(&mut out, l);
            let _ = write!(out, ",\"timestamp\":\"{ts}\"}}");
        }
        out.push(']');
    }
    out.push('}');
    out
}

fn line_key(labels: &LabelSet, ts: i64, line: &str) -> (String, i64, String) {
    (labels.to_string(), ts, line.to_string())
}

async fn run(state: SharedState, socket: &mut WebSocket, req: TailRequest) -> Result<(), String> {
    let (tx, mut rx) = mpsc::channel::<(Batch, usize)>(CHANNEL_BATCHES);
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Subscribe before reading history so nothing falls between the two.
    let _sub = subscribe(&state, &req, tx, dropped.clone(), queued.clone())?;
    let pipeline = LogPipeline::new(&req.log.pipeline).map_err(|e| e.to_string())?;

    let st = state.clone();
    let (log, tenant, start, limit) = (req.log.clone(), req.tenant.clone(), req.start, req.limit);
    let tn = tenant.clone();
    let (history, held) = crate::read::run_read_held(&state, &tn, move || {
        let pipeline = LogPipeline::new(&log.pipeline)?;
        let q = LogQuery {
            matchers: &log.selector,
            pipeline: &pipeline,
            start,
            end: now_ns() + 1,
            limit,
            direction: Direction::Backward,
        };
        Ok(st.store.query_logs(&tenant, &q)?.0)
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut history: Vec<(i64, ProcessedEntry)> =
        history.into_iter().rev().map(|h| (h.ts, h.entry)).collect();
    // Live entries already in the history batch are not sent twice.
    let mut seen: HashSet<(String, i64, String)> = history
        .iter()
        .map(|(ts, e)| line_key(&e.stream, *ts, &e.line))
        .collect();
    let history_max = history.last().map_or(i64::MIN, |h| h.0);
    if !history.is_empty() {
        send_chunked(socket, &history, &[], req.categorize).await?;
        history.clear();
    }
    // The history's bytes stay charged to the process-wide share until sent.
    drop(held);

    let started = Instant::now();
    let mut ping = tokio::time::interval(Duration::from_secs(1));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut pending: Vec<(Instant, i64, ProcessedEntry)> = Vec::new();
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some((batch, bytes)) = batch else { return Ok(()) };
                queued.fetch_sub(bytes, std::sync::atomic::Ordering::AcqRel);
                let now = Instant::now();
                for (labels, entries) in batch {
                    let mut sp = pipeline.for_stream(&labels);
                    for e in entries {
                        if e.ts <= history_max && seen.remove(&line_key(&labels, e.ts, &e.line)) {
                            continue;
                        }
                        if let Some(out) = sp.process(e.ts, &e.line, &e.structured_metadata) {
                            pending.push((now + req.delay, e.ts, out));
                        }
                    }
                }
            }
            _ = tick.tick() => {}
            _ = ping.tick() => {
                socket.send(Message::Ping(Default::default())).await.map_err(|e| e.to_string())?;
            }
            msg = socket.recv() => {
                match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(_)) => {}
                }
            }
        }
        if started.elapsed() > MAX_DURATION {
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: 1000,
                    reason: "tail max duration reached".into(),
                })))
                .await;
            return Ok(());
        }
        let now = Instant::now();
        let due: Vec<(i64, ProcessedEntry)> = if pending.iter().any(|p| p.0 <= now) {
            let (ready, rest): (Vec<_>, Vec<_>) = pending.drain(..).partition(|p| p.0 <= now);
            pending = rest;
            let mut r: Vec<(i64, ProcessedEntry)> = ready.into_iter().map(|p| (p.1, p.2)).collect();
            r.sort_by_key(|p| p.0);
            r
        } else {
            Vec::new()
        };
        let lost: Vec<(LabelSet, i64)> = std::mem::take(&mut *dropped.lock());
        if !due.is_empty() || !lost.is_empty() {
            send_chunked(socket, &due, &lost, req.categorize).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(labels: &[(&str, &str)], line: &str) -> ProcessedEntry {
        let l = LabelSet::from_pairs(labels.iter().copied());
        ProcessedEntry {
            line: line.into(),
            labels: l.clone(),
            stream: l,
            structured_metadata: LabelSet::new(),
            parsed: LabelSet::new(),
        }
    }

    #[test]
    fn message_shape() {
        let hits = vec![
            (5, entry(&[("app", "a")], "one")),
            (6, entry(&[("app", "a")], "two")),
        ];
        let m: serde_json::Value = serde_json::from_str(&message(&hits, &[], false)).unwrap();
        assert_eq!(m["streams"][0]["stream"]["app"], "a");
        assert_eq!(
            m["streams"][0]["values"][1],
            serde_json::json!(["6", "two"])
        );
        assert!(m.get("dropped_entries").is_none());
        let dropped = vec![(LabelSet::from_pairs([("app", "b")]), 9)];
        let m: serde_json::Value = serde_json::from_str(&message(&[], &dropped, true)).unwrap();
        assert_eq!(m["dropped_entries"][0]["timestamp"], "9");
        assert_eq!(m["encodingFlags"][0], "categorize-labels");
        let m: serde_json::Value = serde_json::from_str(&message(&hits, &[], true)).unwrap();
        assert_eq!(m["streams"][0]["values"][0][2], serde_json::json!({}));
    }
}
