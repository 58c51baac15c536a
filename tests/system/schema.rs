//! The public contract: the committed SDL must match the server's.

#[test]
fn committed_schema_matches_the_server() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../graphql/schema.graphql"))
        .expect("graphql/schema.graphql exists");
    let current = kanjian_graphql::sdl();
    assert!(
        committed == current,
        "graphql/schema.graphql is stale: run `cargo run -q -p kanjian-server -- schema > graphql/schema.graphql` and review the diff"
    );
}

/// The parts of an example file: each operation (its kind, name and text) and the fragments.
fn definitions(text: &str) -> (Vec<(String, String, String)>, Vec<String>) {
    let mut chunks: Vec<String> = Vec::new();
    for line in text.lines() {
        let starts = ["query", "mutation", "subscription", "fragment", "{"].iter().any(|k| line.starts_with(k));
        if starts || chunks.is_empty() {
            chunks.push(String::new());
        }
        let chunk = chunks.last_mut().unwrap();
        chunk.push_str(line);
        chunk.push('\n');
    }
    let (mut operations, mut fragments) = (Vec::new(), Vec::new());
    for chunk in chunks {
        let head: Vec<&str> = chunk.trim_start().split(|c: char| !c.is_alphanumeric() && c != '_').filter(|w| !w.is_empty()).take(2).collect();
        match head.as_slice() {
            ["fragment", ..] => fragments.push(chunk),
            [kind @ ("query" | "mutation" | "subscription"), name, ..] => operations.push(((*kind).to_owned(), (*name).to_owned(), chunk)),
            _ if chunk.trim_start().starts_with('{') => operations.push(("query".into(), String::new(), chunk)),
            _ => {}
        }
    }
    (operations, fragments)
}

/// Every operation of every example in `graphql/examples` is a valid document for the server's
/// schema: each is sent by no one signed in (subscriptions over WebSocket), and none is refused
/// as a document (a syntax or validation error, or over a limit). Variables are left out: an
/// operation that declares some is only checked as far as validation goes without them.
#[tokio::test]
async fn every_example_operation_is_valid_against_the_schema() {
    use kanjian_system_tests::TestApp;
    use kanjian_system_tests::ws::Connection;
    use serde_json::{Value, json};

    let app = TestApp::spawn().await;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../graphql/examples"))
        .expect("graphql/examples")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "graphql"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let (mut checked, mut failures) = (0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let (operations, fragments) = definitions(&text);
        assert!(!operations.is_empty(), "{} has no operation", file.display());
        for (kind, name, operation) in operations {
            // The operation with the fragments it may use (unused ones are an error: only those named).
            let used: Vec<&String> = fragments
                .iter()
                .filter(|f| f.split_whitespace().nth(1).is_some_and(|n| operation.contains(&format!("...{n}"))))
                .collect();
            let doc = std::iter::once(&operation).chain(used).cloned().collect::<Vec<_>>().join("\n");
            let answer = if kind == "subscription" {
                let mut connection = Connection::open(&app.base, None).await.expect("a connection");
                connection.subscribe("1", &doc, json!({})).await;
                let message = connection.next_for("1", std::time::Duration::from_secs(10)).await.unwrap_or(Value::Null);
                connection.close().await;
                message
            } else {
                let body = json!({ "query": doc, "operationName": if name.is_empty() { Value::Null } else { json!(name) } });
                app.http.post(app.url("/graphql")).json(&body).send().await.unwrap().json::<Value>().await.unwrap()
            };
            checked += 1;
            let errors = answer.get("payload").unwrap_or(&answer);
            let errors = errors.get("errors").or(if answer["type"] == "error" { answer.get("payload") } else { None });
            let as_document: Vec<&Value> = errors
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|e| e["extensions"]["code"].as_str().is_some_and(|c| c.starts_with("GRAPHQL_") || c.starts_with("QUERY_TOO_")))
                // Sent without its variables, an operation that declares them is refused for that.
                .filter(|e| !(operation.contains('$') && e["message"].as_str().is_some_and(|m| m.contains("ariable"))))
                .collect();
            if !as_document.is_empty() {
                failures.push(format!("{} {kind} {name}: {answer}", file.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} example operations are not valid:\n{}", failures.len(), failures.join("\n"));
    app.stop().await;
}
