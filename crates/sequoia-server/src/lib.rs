//! The GA4GH refget API over a SEQUOIA store: `GET /sequence/{id}` (with `start`/`end` or
//! `Range`), `/sequence/{id}/metadata` and `/sequence/service-info`, v1.0.0 and v2.0.0
//! chosen by `Accept`, plus `GET /accession/{acc}` and `POST /batch` for what refget leaves
//! out. Commits made by other processes are picked up within a second.
//!
//! # Examples
//! ```no_run
//! use std::sync::Arc;
//! # async fn run() -> std::io::Result<()> {
//! let store = sequoia_store::PackedSequenceStorage::open("/data/store".as_ref()).unwrap();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! sequoia_server::serve(listener, Arc::new(store), std::future::pending()).await
//! # }
//! ```
#![warn(missing_docs)]

pub mod request;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sequoia_store::{PackedSequenceStorage, SequenceDigests, SequenceId, StoredSequence};
use serde_json::{json, Value};

use request::{negotiate, parse_slice, ApiVersion, Body};

/// Most identifiers one batch request may ask for.
pub const BATCH_LIMIT: usize = 10_000;

/// How often the store's commit record is checked for commits of other processes.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

type Shared = Arc<PackedSequenceStorage>;

/// The refget routes over `store`.
pub fn router(store: Shared) -> Router {
    Router::new()
        .route("/sequence/service-info", get(service_info))
        .route("/sequence/{id}", get(sequence))
        .route("/sequence/{id}/metadata", get(metadata))
        .route("/accession/{acc}", get(accession))
        .route("/batch", post(batch))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(store)
}

/// Serves `store` on `listener` until `shutdown` completes, then finishes the requests in
/// flight. Re-reads the store's indexes when another process commits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = tokio::spawn(watch_commits(store.clone()));
    let result = axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown)
        .await;
    watcher.abort();
    result
}

/// What changes with every commit: the newest commit record's number (or, in a store
/// written before layers, its multi-pack index's identity).
type CommitStamp = (Option<u64>, Option<(u64, u64, std::time::SystemTime)>);

fn commit_stamp(store: &PackedSequenceStorage) -> CommitStamp {
    use std::os::unix::fs::MetadataExt;
    let layout = sequoia_store::layout::StoreLayout::new(store.root());
    let newest = sequoia_store::commit_record::list_commit_records(&layout)
        .ok()
        .and_then(|seqs| seqs.first().copied());
    let legacy = std::fs::metadata(layout.multi_index_path())
        .ok()
        .and_then(|m| Some((m.ino(), m.len(), m.modified().ok()?)));
    (newest, legacy)
}

async fn watch_commits(store: Shared) {
    let mut seen = commit_stamp(&store);
    let mut tick = tokio::time::interval(REFRESH_INTERVAL);
    loop {
        tick.tick().await;
        let now = commit_stamp(&store);
        if now != seen {
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.refresh()).await {
                Ok(Ok(())) => {
                    tracing::info!("store refreshed after a commit");
                    seen = now;
                }
                Ok(Err(e)) => tracing::warn!("cannot refresh the store: {e}"),
                Err(e) => tracing::warn!("refresh task failed: {e}"),
            }
        }
    }
}

async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let response = next.run(req).await;
    tracing::debug!(
        "{method} {uri} {} {}us",
        response.status().as_u16(),
        started.elapsed().as_micros()
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    let mut r = (
        status,
        json!({ "error": message, "status": status.as_u16() }).to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_response(version: ApiVersion, body: Value) -> Response {
    let mut r = body.to_string().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match version {
            ApiVersion::V1 => "application/vnd.ga4gh.refget.v1.0.0+json",
            ApiVersion::V2 => "application/vnd.ga4gh.refget.v2.0.0+json",
        }),
    );
    r
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// Why a refget identifier gives no sequence: a status and a message.
type Failure = (StatusCode, String);

fn failure(f: Failure) -> Response {
    error(f.0, &f.1)
}

fn not_found() -> Failure {
    (
        StatusCode::NOT_FOUND,
        "no sequence has this identifier".into(),
    )
}

fn internal(e: impl std::fmt::Display) -> Failure {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The residues a refget identifier (a digest form only) names: only the residues entry is
/// read.
fn residues_for(store: &PackedSequenceStorage, id: &str) -> Result<Vec<u8>, Failure> {
    let parsed = SequenceId::parse_digest(id).ok_or_else(not_found)?;
    let found = store.get_by(&parsed).map_err(internal)?;
    found
        .into_iter()
        .next()
        .map(|(_, r)| r)
        .ok_or_else(not_found)
}

/// The stored sequence (with its representations) a refget identifier names.
fn record_for(store: &PackedSequenceStorage, id: &str) -> Result<StoredSequence, Failure> {
    let parsed = SequenceId::parse_digest(id).ok_or_else(not_found)?;
    let found = store.find(&parsed).map_err(internal)?;
    found.into_iter().next().ok_or_else(not_found)
}

async fn sequence(
    State(store): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(version) = negotiate(accept(&headers), Body::Text) else {
        return error(StatusCode::NOT_ACCEPTABLE, "sequences are served as text/plain or text/vnd.ga4gh.refget.v1.0.0+plain / v2.0.0+plain");
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let slice = match parse_slice(query.as_deref(), range) {
        Ok(s) => s,
        Err(r) => return refusal(r),
    };
    let residues = match residues_for(&store, &id) {
        Ok(r) => r,
        Err(f) => return failure(f),
    };
    let len = residues.len() as u64;
    let (range, partial) = match slice.resolve(len) {
        Ok(r) => r,
        Err(r) => return refusal(r),
    };
    let content_range = partial.then(|| {
        format!(
            "bytes {}-{}/{len}",
            range.start,
            range.end.saturating_sub(1)
        )
    });
    let body = if range == (0..residues.len()) {
        residues
    } else {
        residues[range].to_vec()
    };
    let mut r = body.into_response();
    if partial {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(match version {
            ApiVersion::V1 => "text/vnd.ga4gh.refget.v1.0.0+plain; charset=us-ascii",
            ApiVersion::V2 => "text/vnd.ga4gh.refget.v2.0.0+plain; charset=us-ascii",
        }),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(cr) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_RANGE, cr);
    }
    r
}

fn refusal(r: request::Refusal) -> Response {
    error(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
        &r.message,
    )
}

fn aliases(rec: &StoredSequence) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for r in &rec.representations {
        let alias = r.header.split_whitespace().next().unwrap_or("");
        let v = json!({ "alias": alias, "naming_authority": r.source });
        if !alias.is_empty() && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

async fn metadata(
    State(store): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(version) = negotiate(accept(&headers), Body::Json) else {
        return error(StatusCode::NOT_ACCEPTABLE, "metadata is served as application/json or application/vnd.ga4gh.refget.v1.0.0+json / v2.0.0+json");
    };
    let rec = match record_for(&store, &id) {
        Ok(r) => r,
        Err(f) => return failure(f),
    };
    let d = SequenceDigests::with_sha256(rec.hash, &rec.residues);
    let body = match version {
        ApiVersion::V1 => json!({ "metadata": {
            "id": id,
            "md5": d.md5_hex(),
            "trunc512": d.trunc512_hex(),
            "length": rec.residues.len(),
            "aliases": aliases(&rec),
        }}),
        ApiVersion::V2 => json!({ "metadata": {
            "id": id,
            "md5": d.md5_hex(),
            "ga4gh": d.ga4gh(),
            "sha256": rec.hash.to_hex(),
            "length": rec.residues.len(),
            "aliases": aliases(&rec),
        }}),
    };
    json_response(version, body)
}

async fn service_info(headers: HeaderMap) -> Response {
    let Some(version) = negotiate(accept(&headers), Body::Json) else {
        return error(StatusCode::NOT_ACCEPTABLE, "service-info is served as JSON");
    };
    let body = match version {
        ApiVersion::V1 => json!({ "service": {
            "circular_supported": false,
            "algorithms": ["md5", "trunc512", "ga4gh"],
            "subsequence_limit": null,
            "supported_api_versions": ["1.0.0", "2.0.0"],
        }}),
        ApiVersion::V2 => json!({
            "id": "org.sequoia.refget",
            "name": "SEQUOIA refget server",
            "type": { "group": "org.ga4gh", "artifact": "refget", "version": "2.0.0" },
            "description": "Sequences of a SEQUOIA store by MD5, ga4gh sha512t24u or SHA-256.",
            "organization": { "name": "SEQUOIA", "url": "https://example.invalid/sequoia" },
            "version": env!("CARGO_PKG_VERSION"),
            "refget": {
                "circular_supported": false,
                "subsequence_limit": null,
                "algorithms": ["md5", "ga4gh", "trunc512", "sha256"],
                "identifier_types": [],
            },
        }),
    };
    json_response(version, body)
}

fn sequence_json(rec: &StoredSequence, with_residues: bool) -> Value {
    let d = SequenceDigests::with_sha256(rec.hash, &rec.residues);
    let mut v = json!({
        "sha256": rec.hash.to_hex(),
        "md5": d.md5_hex(),
        "ga4gh": d.ga4gh(),
        "length": rec.residues.len(),
        "representations": rec.representations.iter()
            .map(|r| json!({ "header": r.header, "source": r.source }))
            .collect::<Vec<_>>(),
    });
    if with_residues {
        v["residues"] = Value::String(String::from_utf8_lossy(&rec.residues).into_owned());
    }
    v
}

async fn accession(State(store): State<Shared>, Path(acc): Path<String>) -> Response {
    let id = match SequenceId::parse(&acc) {
        Some(SequenceId::Accession(a)) => SequenceId::Accession(a),
        _ => return error(StatusCode::BAD_REQUEST, "not an accession"),
    };
    match store.find(&id) {
        Ok(found) if found.is_empty() => {
            error(StatusCode::NOT_FOUND, "no sequence has this accession")
        }
        Ok(found) => json_response(
            ApiVersion::V2,
            json!({
                "accession": acc,
                "sequences": found.iter().map(|r| sequence_json(r, false)).collect::<Vec<_>>(),
            }),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `POST /batch` with `{"ids": [...], "residues": bool}`: every identifier form `sequoia get`
/// takes; one result per identifier, in order.
async fn batch(State(store): State<Shared>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
    };
    let Some(ids) = request.get("ids").and_then(|v| v.as_array()) else {
        return error(StatusCode::BAD_REQUEST, "body needs \"ids\": [identifiers]");
    };
    if ids.len() > BATCH_LIMIT {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("at most {BATCH_LIMIT} identifiers per batch"),
        );
    }
    let with_residues = request
        .get("residues")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let mut results = Vec::with_capacity(ids.len());
    for v in ids {
        let Some(text) = v.as_str() else {
            return error(StatusCode::BAD_REQUEST, "identifiers must be strings");
        };
        let Some(id) = SequenceId::parse(text) else {
            results.push(json!({ "id": text, "error": "not an identifier" }));
            continue;
        };
        match store.find(&id) {
            Ok(found) => results.push(json!({
                "id": text,
                "sequences": found.iter().map(|r| sequence_json(r, with_residues)).collect::<Vec<_>>(),
            })),
            Err(e) => results.push(json!({ "id": text, "error": e.to_string() })),
        }
    }
    json_response(ApiVersion::V2, json!({ "results": results }))
}
