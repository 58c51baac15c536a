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
