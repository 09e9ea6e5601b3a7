//! Query: `GET /events` with the standard's parameters, a page at a time (`perPage`,
//! `nextPageToken`, a `Link` header to the next page), `GET /events/{eventID}` (by the
//! captured `eventID` or the CBV event hash), and named queries (`/queries`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::capture::path_segment;
use super::query::{EventQuery, QueryError, page_token, query_document, read_page_token};
use super::{Gateway, Problem, blocking, internal, located, now_ms, problem};
use crate::limits::GATEWAY_QUERIES_MAX;

/// A named query, as created by `POST /queries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedQuery {
    pub name: String,
    pub query: Map<String, Value>,
}

pub fn parameter_problem(error: &QueryError) -> Problem {
    problem(
        StatusCode::BAD_REQUEST,
        "QueryParameterException",
        error.to_string(),
    )
}

fn no_such(what: &str) -> Problem {
    problem(StatusCode::NOT_FOUND, "NoSuchNameException", what)
}

/// The URL query string of `pairs`, each part percent-encoded.
fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", path_segment(name), path_segment(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One page of `query` for the caller at `path` with `pairs` (its URL parameters).
pub async fn answer_page(
    gateway: Arc<Gateway>,
    query: EventQuery,
    query_name: String,
    path: String,
    pairs: Vec<(String, String)>,
) -> Response {
    let token = pairs
        .iter()
        .find(|(name, _)| name == "nextPageToken")
        .map(|(_, value)| value.clone());
    let from = match token
        .map(|token| read_page_token(&query, &token))
        .transpose()
    {
        Ok(from) => from.unwrap_or(1),
        Err(error) => return parameter_problem(&error).into_response(),
    };
    let page = blocking(move || {
        let page = query.page(&gateway.store, from).map_err(internal)?;
        Ok((page, query))
    })
    .await;
    let (page, query) = match page {
        Ok(found) => found,
        Err(problem) => return problem.into_response(),
    };
    let document = query_document(&page.events, &query_name, None, now_ms());
    let mut response = axum::Json(document).into_response();
    if let Some(next) = page.next {
        let mut kept: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(name, _)| name != "nextPageToken")
            .collect();
        kept.push(("nextPageToken".into(), page_token(&query, next)));
        let link = format!("<{path}?{}>; rel=\"next\"", query_string(&kept));
        if let Ok(link) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    response
}

/// `GET /events`.
pub async fn query(
    State(gateway): State<Arc<Gateway>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    match EventQuery::from_pairs(&pairs) {
        Ok(query) => {
            let name = "SimpleEventQuery".to_string();
            answer_page(gateway, query, name, "/events".into(), pairs).await
        }
        Err(error) => parameter_problem(&error).into_response(),
    }
}

/// `GET /events/{eventID}`: the event in a query document.
pub async fn one(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let found = blocking(move || gateway.store.find(&id).map_err(internal)).await;
    match found {
        Ok(Some(event)) => {
            let document = query_document(&[event], "SimpleEventQuery", None, now_ms());
            axum::Json(document).into_response()
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "NoSuchResourceException",
            "no event with this eventID or event hash among those this organisation may read",
        )
        .into_response(),
        Err(problem) => problem.into_response(),
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads the named query `name`.
pub fn named(gateway: &Gateway, name: &str) -> Result<(NamedQuery, EventQuery), Problem> {
    let stored: Option<NamedQuery> = gateway.store.doc(b'q', name).map_err(internal)?;
    let stored = stored.ok_or_else(|| no_such(&format!("no query named {name:?}")))?;
    let query = EventQuery::from_json(&stored.query).map_err(|e| parameter_problem(&e))?;
    Ok((stored, query))
}

/// `POST /queries`: `{"name": …, "query": {…parameters}}`.
pub async fn create_query(
    State(gateway): State<Arc<Gateway>>,
    axum::Json(definition): axum::Json<NamedQuery>,
) -> Response {
    if !valid_name(&definition.name) {
        return problem(
            StatusCode::BAD_REQUEST,
            "QueryParameterException",
            "name: 1 to 64 letters, digits, - or _",
        )
        .into_response();
    }
    if let Err(error) = EventQuery::from_json(&definition.query) {
        return parameter_problem(&error).into_response();
    }
    let created = blocking(move || {
        let store = &gateway.store;
        if store
            .doc::<NamedQuery>(b'q', &definition.name)
            .map_err(internal)?
            .is_some()
        {
            return Err(problem(
                StatusCode::CONFLICT,
                "ResourceAlreadyExistsException",
                format!("a query named {:?} exists", definition.name),
            ));
        }
        let count = store
            .docs::<NamedQuery>(b'q', GATEWAY_QUERIES_MAX)
            .map_err(internal)?
            .len();
        if count >= GATEWAY_QUERIES_MAX {
            return Err(problem(
                StatusCode::INSUFFICIENT_STORAGE,
                "ImplementationException",
                format!("at most {GATEWAY_QUERIES_MAX} named queries: delete one first"),
            ));
        }
        store
            .put_doc(b'q', &definition.name, &definition)
            .map_err(internal)?;
        Ok(definition.name)
    })
    .await;
    match created {
        Ok(name) => located(
            StatusCode::CREATED.into_response(),
            &format!("/queries/{name}"),
        ),
        Err(problem) => problem.into_response(),
    }
}

/// `GET /queries`.
pub async fn list_queries(State(gateway): State<Arc<Gateway>>) -> Response {
    let found = blocking(move || {
        gateway
            .store
            .docs::<NamedQuery>(b'q', GATEWAY_QUERIES_MAX)
            .map_err(internal)
    })
    .await;
    match found {
        Ok(queries) => axum::Json(queries).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// `GET /queries/{name}`.
pub async fn named_query(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Response {
    match blocking(move || named(&gateway, &name)).await {
        Ok((stored, _)) => axum::Json(stored).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// `DELETE /queries/{name}`: the query and its subscriptions.
pub async fn delete_query(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Response {
    let deleted = blocking(move || {
        named(&gateway, &name)?;
        super::subscribe::remove_all(&gateway, &name)?;
        gateway.store.delete_doc(b'q', &name).map_err(internal)
    })
    .await;
    match deleted {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(problem) => problem.into_response(),
    }
}
