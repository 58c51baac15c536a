//! GraphQL over HTTP (the GraphQL Foundation's spec, <https://graphql.github.io/graphql-over-http/>):
//! which media type to answer with, how a request's parameters are read and checked, and which
//! status a response gets. Pure functions, tested here; `graphql.rs` does the I/O.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::HttpResponse;
use async_graphql::{ServerError, Value as ConstValue, Variables};
use serde::Serialize;
use serde_json::Value;

/// The media types a GraphQL response can be sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseType {
    /// `application/json`: the legacy type; every well-formed request is answered 200.
    Json,
    /// `application/graphql-response+json`: request errors (unparsable, invalid) are 4xx.
    GraphqlResponse,
}

impl ResponseType {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// Picks the response type from `Accept`. No header (or an empty one): `application/json`, as
/// the spec says for clients that predate it. `None`: the client accepts neither (406).
///
/// Each type gets the quality of the most specific range that matches it; the higher quality
/// wins. On a tie, `application/graphql-response+json` when the client named it, else
/// `application/json` (`*/*` and `application/*` mean "anything", and JSON is what every client
/// can read).
pub(crate) fn negotiate(accept: Option<&str>) -> Option<ResponseType> {
    let accept = match accept.map(str::trim) {
        None | Some("") => return Some(ResponseType::Json),
        Some(a) => a,
    };
    // (quality, specificity) of the best range matching each type.
    let mut json: Option<(f32, u8)> = None;
    let mut gql: Option<(f32, u8)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0_f32;
        let mut charset_ok = true;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else { continue };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => q = value.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0),
                "charset" => charset_ok = value.eq_ignore_ascii_case("utf-8"),
                _ => {}
            }
        }
        if !charset_ok {
            continue;
        }
        let (for_json, for_gql) = match media.as_str() {
            "*/*" => (Some(0), Some(0)),
            "application/*" => (Some(1), Some(1)),
            "application/json" => (Some(2), None),
            "application/graphql-response+json" => (None, Some(2)),
            _ => (None, None),
        };
        let better = |current: Option<(f32, u8)>, specificity: Option<u8>| match (current, specificity) {
            (_, None) => current,
            (None, Some(s)) => Some((q, s)),
            // A more specific range decides the quality, whatever its value.
            (Some((_, cs)), Some(s)) if s > cs => Some((q, s)),
            (Some((cq, cs)), Some(s)) if s == cs && q > cq => Some((q, s)),
            (current, Some(_)) => current,
        };
        json = better(json, for_json);
        gql = better(gql, for_gql);
    }
    let json = json.filter(|(q, _)| *q > 0.0);
    let gql = gql.filter(|(q, _)| *q > 0.0);
    match (json, gql) {
        (None, None) => None,
        (Some(_), None) => Some(ResponseType::Json),
        (None, Some(_)) => Some(ResponseType::GraphqlResponse),
        (Some((jq, _)), Some((gq, gs))) => {
            if gq > jq || (gq == jq && gs == 2) {
                Some(ResponseType::GraphqlResponse)
            } else {
                Some(ResponseType::Json)
            }
        }
    }
}

/// What a POST body is, from `Content-Type`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyType {
    Json,
    /// The GraphQL multipart request spec (file uploads).
    Multipart,
}

/// `Err`: a message for the 415 answer.
pub(crate) fn body_type(content_type: Option<&str>) -> Result<BodyType, String> {
    let Some(content_type) = content_type else {
        return Err("a POST needs a Content-Type: application/json (or multipart/form-data for uploads)".into());
    };
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" => {
            for param in parts {
                if let Some((name, value)) = param.split_once('=')
                    && name.trim().eq_ignore_ascii_case("charset")
                    && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
                {
                    return Err(format!("the body must be UTF-8, not {}", value.trim()));
                }
            }
            Ok(BodyType::Json)
        }
        "multipart/form-data" => Ok(BodyType::Multipart),
        other => Err(format!(
            "unsupported Content-Type {other:?}: send application/json (or multipart/form-data for uploads)"
        )),
    }
}

/// Reads a POST body: a JSON object with a string `query`, and optional `operationName`
/// (string), `variables` and `extensions` (objects); `null` counts as absent. `Err`: why it is
/// not one, for the 400 answer.
pub(crate) fn parse_json_body(body: &[u8]) -> Result<async_graphql::Request, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(mut params) = value else {
        return Err("the body must be a JSON object with a `query` (batches are not supported)".into());
    };
    let query = match params.remove("query") {
        Some(Value::String(query)) => query,
        None | Some(Value::Null) => return Err("the `query` parameter is missing".into()),
        Some(_) => return Err("the `query` parameter must be a string".into()),
    };
    let operation_name = match params.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("the `operationName` parameter must be a string".into()),
    };
    let variables = object_param(params.remove("variables"), "variables")?;
    let extensions = object_param(params.remove("extensions"), "extensions")?;
    Ok(build(query, operation_name, variables, extensions))
}

/// Reads a GET's query string: `query`, and optional `operationName`, `variables` and
/// `extensions` (the last two as JSON text).
pub(crate) fn parse_query_string(query_string: &str) -> Result<async_graphql::Request, String> {
    let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query_string)
        .map_err(|e| format!("the query string is malformed: {e}"))?
        .into_inner();
    let mut query = None;
    let mut operation_name = None;
    let mut variables = None;
    let mut extensions = None;
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "query" => &mut query,
            "operationName" => &mut operation_name,
            "variables" => &mut variables,
            "extensions" => &mut extensions,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(format!("the `{name}` parameter is given more than once"));
        }
    }
    let query = query.ok_or("the `query` parameter is missing")?;
    let json = |text: Option<String>, name: &str| -> Result<Option<Value>, String> {
        match text.filter(|t| !t.is_empty()) {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("the `{name}` parameter is not JSON: {e}")),
        }
    };
    let variables = object_param(json(variables, "variables")?, "variables")?;
    let extensions = object_param(json(extensions, "extensions")?, "extensions")?;
    Ok(build(query, operation_name.filter(|n| !n.is_empty()), variables, extensions))
}

fn object_param(value: Option<Value>, name: &str) -> Result<Option<serde_json::Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(format!("the `{name}` parameter must be an object")),
    }
}

fn build(
    query: String,
    operation_name: Option<String>,
    variables: Option<serde_json::Map<String, Value>>,
    extensions: Option<serde_json::Map<String, Value>>,
) -> async_graphql::Request {
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = variables {
        request = request.variables(Variables::from_json(Value::Object(variables)));
    }
    if let Some(extensions) = extensions {
        for (name, value) in extensions {
            request.extensions.insert(name, ConstValue::from_json(value).unwrap_or(ConstValue::Null));
        }
    }
    request
}

/// A request error: the request was not run (unparsable or invalid document, variables that do
/// not fit, no such operation). async-graphql leaves `data` null and gives such errors no path;
/// an error raised while executing always has the path of its field.
pub(crate) fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == ConstValue::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn error_code(error: &ServerError) -> Option<String> {
    match error.extensions.as_ref()?.get("code")? {
        ConstValue::String(code) => Some(code.clone()),
        _ => None,
    }
}

/// The body: `data` only when execution started (a request error has none), `errors` and
/// `extensions` when there are some.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a ConstValue>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, ConstValue>,
}

/// Turns an executed (or refused) request into its HTTP response. Status: 405 with
/// `Allow: POST` for a mutation sent with GET; 400 for any other request error answered as
/// `application/graphql-response+json`; 200 otherwise (field errors, and everything under
/// `application/json`).
pub(crate) fn respond(response_type: ResponseType, response: async_graphql::Response) -> HttpResponse {
    let request_error = is_request_error(&response);
    let method_not_allowed =
        request_error && response.errors.iter().any(|e| error_code(e).as_deref() == Some("METHOD_NOT_ALLOWED"));
    let status = if method_not_allowed {
        StatusCode::METHOD_NOT_ALLOWED
    } else if request_error && response_type == ResponseType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = Body {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    let bytes = match serde_json::to_vec(&body) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "serializing a GraphQL response");
            return error(response_type, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error");
        }
    };
    let mut http = HttpResponse::build(status);
    http.insert_header((CONTENT_TYPE, response_type.content_type()));
    if method_not_allowed {
        http.insert_header((ALLOW, "POST"));
    }
    if response.is_ok()
        && let Some(cache_control) = response.cache_control.value()
    {
        http.insert_header((CACHE_CONTROL, cache_control));
    }
    let mut http = http.body(bytes);
    for (name, value) in response.http_headers.iter() {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        {
            http.headers_mut().append(name, value);
        }
    }
    http
}

/// A request refused before GraphQL saw it (bad JSON, no query, unsupported media types): a
/// GraphQL-shaped body with one error and its code, and no `data`.
pub(crate) fn error(response_type: ResponseType, status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).insert_header((CONTENT_TYPE, response_type.content_type())).body(
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResponseType::{GraphqlResponse as Gql, Json};

    #[test]
    fn accept_picks_the_type_the_client_prefers() {
        for (accept, expected) in [
            (None, Some(Json)),
            (Some(""), Some(Json)),
            (Some("application/json"), Some(Json)),
            (Some("application/graphql-response+json"), Some(Gql)),
            (Some("*/*"), Some(Json)),
            (Some("application/*"), Some(Json)),
            (Some("application/graphql-response+json, application/json"), Some(Gql)),
            (Some("application/json, application/graphql-response+json"), Some(Gql)),
            (Some("application/graphql-response+json;q=0.9, application/json"), Some(Json)),
            (Some("application/json;q=0.9, application/graphql-response+json"), Some(Gql)),
            (Some("application/graphql-response+json, */*;q=0.5"), Some(Gql)),
            (Some("application/json, multipart/mixed"), Some(Json)),
            (Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), Some(Json)),
            (Some("APPLICATION/JSON; charset=UTF-8"), Some(Json)),
            (Some("application/json; charset=latin1"), None),
            (Some("text/plain"), None),
            (Some("image/png, text/html"), None),
            (Some("application/json;q=0"), None),
            (Some("*/*, application/json;q=0"), Some(Gql)),
            (Some("application/graphql-response+json;q=0, */*"), Some(Json)),
            (Some("application/json;q=nonsense"), None),
        ] {
            assert_eq!(negotiate(accept), expected, "Accept: {accept:?}");
        }
    }

    #[test]
    fn content_type_decides_how_the_body_is_read() {
        assert_eq!(body_type(Some("application/json")), Ok(BodyType::Json));
        assert_eq!(body_type(Some("application/json; charset=utf-8")), Ok(BodyType::Json));
        assert_eq!(body_type(Some("Application/JSON;charset=\"UTF-8\"")), Ok(BodyType::Json));
        assert_eq!(body_type(Some("multipart/form-data; boundary=x")), Ok(BodyType::Multipart));
        assert!(body_type(None).is_err());
        assert!(body_type(Some("application/json; charset=utf-16")).is_err());
        assert!(body_type(Some("text/plain")).is_err());
        assert!(body_type(Some("application/x-www-form-urlencoded")).is_err());
    }

    #[test]
    fn post_bodies_are_checked_parameter_by_parameter() {
        let ok = parse_json_body(br#"{"query":"{ a }","operationName":null,"variables":null,"extensions":null}"#).unwrap();
        assert_eq!(ok.query, "{ a }");
        let ok = parse_json_body(br#"{"query":"query Q($x: Int) { a }","operationName":"Q","variables":{"x":1},"extensions":{"k":"v"}}"#)
            .unwrap();
        assert_eq!(ok.operation_name.as_deref(), Some("Q"));
        assert_eq!(ok.variables.get("x"), Some(&ConstValue::from(1)));
        assert_eq!(ok.extensions.get("k"), Some(&ConstValue::from("v")));
        for bad in [
            &br#"{ "not a JSON"#[..],
            b"",
            br#"[{"query":"{ a }"}]"#,
            br#""{ a }""#,
            br#"{"notquery":"{ a }"}"#,
            br#"{"query":null}"#,
            br#"{"query":{"obj":"ect"}}"#,
            br#"{"query":0}"#,
            br#"{"query":false}"#,
            br#"{"query":["array"]}"#,
            br#"{"query":"{ a }","operationName":0}"#,
            br#"{"query":"{ a }","operationName":{"obj":"ect"}}"#,
            br#"{"query":"{ a }","variables":"string"}"#,
            br#"{"query":"{ a }","variables":["array"]}"#,
            br#"{"query":"{ a }","variables":false}"#,
            br#"{"query":"{ a }","extensions":0}"#,
            br#"{"query":"{ a }","extensions":"string"}"#,
        ] {
            assert!(parse_json_body(bad).is_err(), "accepted {}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn get_parameters_are_read_from_the_query_string() {
        let ok = parse_query_string("query=query+T(%24n%3A+String!)+%7B+a+%7D&variables=%7B%22n%22%3A%22x%22%7D&operationName=T")
            .unwrap();
        assert_eq!(ok.query, "query T($n: String!) { a }");
        assert_eq!(ok.variables.get("n"), Some(&ConstValue::from("x")));
        assert_eq!(ok.operation_name.as_deref(), Some("T"));
        let ok = parse_query_string("query=%7B+a+%7D&variables=&operationName=").unwrap();
        assert!(ok.variables.is_empty() && ok.operation_name.is_none());
        for bad in ["", "variables=%7B%7D", "query=a&query=b", "query=a&variables=nope", "query=a&variables=%5B%5D", "query=a&extensions=1"] {
            assert!(parse_query_string(bad).is_err(), "accepted {bad:?}");
        }
    }
}
