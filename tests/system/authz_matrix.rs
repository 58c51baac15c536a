//! Issue 13: a generated authorization matrix. The schema is read from the running server;
//! every argument that carries an ID (directly, in a list, or in an input object) must have a
//! case in `authz_matrix/cases.rs`, or the test fails naming it. Each case runs against objects
//! in every state (`authz_matrix/world.rs`) as the owner, a stranger, someone the owner blocked,
//! someone who blocked the owner, and no one signed in. For each run:
//!
//! - a caller who may not see the object gets exactly what a missing object gets: the same
//!   answer (HTTP status and body) as for a well-formed id of the same kind that names
//!   nothing, ids aside;
//! - no response shows anything the caller may not read (titles of unpublished videos, comment
//!   bodies, emails, members, requests, notifications), wherever it appears;
//! - a call that was refused, or that the caller had no right to make, changes nothing: the
//!   owner's view of everything they have (objects and counts) reads the same afterwards, and
//!   no event was emitted;
//! - `BLOCKED` never tells which of the two blocked the other: the blocked and the blocker get
//!   the same answer;
//! - the owner does see their own objects (or the case would prove nothing), and a deleted
//!   object answers its owner as a missing one does.
//!
//! It prints the size of the matrix and what it found.

mod cases;
pub(crate) mod world;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kanjian_system_tests::TestApp;
use kanjian_system_tests::ws::Connection;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use cases::{Call, Case, Op, Probe, Who};
use world::{OTHERS, ROLES, Role, Target, World};

const INTROSPECTION: &str = "query { __schema { queryType { name } mutationType { name } subscriptionType { name } \
    types { kind name fields { name args { name type { ...T } } } inputFields { name type { ...T } } } } } \
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";

/// The named type under any list and non-null wrappers.
fn named(ty: &Value) -> &Value {
    let mut ty = ty;
    while matches!(ty["kind"].as_str(), Some("NON_NULL" | "LIST")) {
        ty = &ty["ofType"];
    }
    ty
}

/// The paths under `path` that carry an ID: the argument itself, or fields of its input object
/// (nested ones too; a type already on the way is not entered again).
fn id_paths(path: &str, ty: &Value, inputs: &HashMap<String, Vec<Value>>, seen: &mut Vec<String>, out: &mut Vec<String>) {
    let ty = named(ty);
    match (ty["kind"].as_str(), ty["name"].as_str()) {
        (Some("SCALAR"), Some("ID")) => out.push(path.to_owned()),
        (Some("INPUT_OBJECT"), Some(name)) if !seen.iter().any(|s| s == name) => {
            seen.push(name.to_owned());
            for field in inputs.get(name).into_iter().flatten() {
                id_paths(&format!("{path}.{}", field["name"].as_str().unwrap()), &field["type"], inputs, seen, out);
            }
            seen.pop();
        }
        _ => {}
    }
}

/// Every argument of every field of every object type (the roots included) that carries an ID,
/// as `Type.field(path)`, in the schema the server answers introspection with.
async fn id_arguments(app: &TestApp) -> BTreeSet<String> {
    let schema = app.data(None, INTROSPECTION, json!({})).await["__schema"].clone();
    for root in ["queryType", "mutationType", "subscriptionType"] {
        let name = schema[root]["name"].as_str().unwrap_or_default();
        let expected = &root[..root.len() - "Type".len()];
        assert!(name.is_empty() || name.eq_ignore_ascii_case(expected), "the {root} is `{name}`; the case keys say `{expected}`");
    }
    scan(&schema)
}

fn scan(schema: &Value) -> BTreeSet<String> {
    let types = schema["types"].as_array().unwrap();
    let inputs: HashMap<String, Vec<Value>> = types
        .iter()
        .filter(|t| t["kind"] == "INPUT_OBJECT")
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["inputFields"].as_array().cloned().unwrap_or_default()))
        .collect();
    let mut found = BTreeSet::new();
    for ty in types.iter().filter(|t| t["kind"] == "OBJECT") {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") {
            continue;
        }
        for field in ty["fields"].as_array().into_iter().flatten() {
            for arg in field["args"].as_array().into_iter().flatten() {
                let mut paths = Vec::new();
                id_paths(arg["name"].as_str().unwrap(), &arg["type"], &inputs, &mut Vec::new(), &mut paths);
                for path in paths {
                    found.insert(format!("{name}.{}({path})", field["name"].as_str().unwrap()));
                }
            }
        }
    }
    found
}

/// What is wrong with the case table against the arguments found: each argument without a case,
/// each case without an argument.
fn coverage(found: &BTreeSet<String>, keys: &BTreeSet<String>) -> Vec<String> {
    let uncovered = found.difference(keys).map(|k| {
        format!("{k} takes an ID but has no case in the authorization matrix: add one to `cases()` in tests/system/authz_matrix/cases.rs (how to call it for a target, and the kinds of object it targets)")
    });
    let stale = keys
        .difference(found)
        .map(|k| format!("{k} has a case in tests/system/authz_matrix/cases.rs but the schema has no such ID argument: remove or rename the case"));
    uncovered.chain(stale).collect()
}

/// Sends a call as `role`: its whole response with its HTTP status as `httpStatus`, or for a
/// subscription its first message.
async fn send(app: &TestApp, world: &World, role: Role, call: &Call) -> Value {
    let token = world.token(role);
    match call.op {
        Op::Query | Op::Mutation => {
            let mut request = app.http.post(app.url("/graphql")).json(&json!({ "query": call.doc, "variables": call.vars }));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("POST /graphql");
            let status = response.status().as_u16();
            let mut body: Value = response.json().await.expect("a JSON GraphQL response");
            body["httpStatus"] = json!(status);
            body
        }
        Op::Subscription => match Connection::open(&app.base, token).await {
            Err((code, reason)) => json!({ "closed": code, "reason": reason }),
            Ok(mut connection) => {
                connection.subscribe("1", &call.doc, call.vars.clone()).await;
                let first = connection.next_for("1", Duration::from_secs(10)).await.unwrap_or(Value::Null);
                connection.close().await;
                first
            }
        },
    }
}

/// The response as text with the probed id (the target's or the missing one) replaced.
fn normalise(response: &Value, id: &str) -> String {
    response.to_string().replace(id, "<id>")
}

/// Every `extensions.code` and `userErrors` code in a response.
fn codes(response: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(code) = o.get("extensions").and_then(|e| e.get("code")).and_then(Value::as_str) {
                    out.push(code.to_owned());
                }
                if let Some(errors) = o.get("userErrors").and_then(Value::as_array) {
                    out.extend(errors.iter().filter_map(|e| e["code"].as_str().map(str::to_owned)));
                }
                o.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(response, &mut out);
    out.sort();
    out.dedup();
    out
}

/// A response that says no: a top-level error, or user errors in the payload.
fn refused(response: &Value) -> bool {
    !codes(response).is_empty() || response.get("errors").is_some() || response["payload"].get("errors").is_some()
}

/// The owner's view of everything they have, objects and counts, in one request.
async fn fingerprint(app: &TestApp, world: &World) -> Value {
    let mut doc = String::from(
        "query($handle: String!, $org: ID!) { \
         viewer { id displayName email emailVerified memberships { role organization { id } } \
           addresses { id recipient phone region detail postalCode isDefault } orders(first: 100) { nodes { id state payments { state provider } } } \
           cart { itemCount shops { items { skuId quantity source } } } \
           creatorSales(first: 50) { nodes { title quantity source commission { minor } orderState } } \
           social { friendCount followingCount hideRecommends friends(first: 50) { nodes { id } } \
             incoming: friendRequests(direction: INCOMING, first: 50) { nodes { id status message from { id } } } \
             outgoing: friendRequests(direction: OUTGOING, first: 50) { nodes { id status message to { id } } } \
             blockedUsers(first: 50) { nodes { id } } } } \
         channel(handle: $handle) { id handle displayName bio avatarUrl updatedAt showcase(first: 20) { nodes { addedAt product { id } } } \
           social { followerCount followers(first: 50) { nodes { since user { id } } } } videos(first: 20) { nodes { id } } } \
         organization(id: $org) { name members(first: 50) { nodes { role addedAt user { id } } } \
           shop { name description shippingFee { minor } freeShippingThreshold { minor } orders(first: 100) { nodes { id state } } \
             catalog(first: 50) { nodes { id title description category imageUrls status purchaseLimit affiliateCommissionBps skus { id price { minor } stock held sold removed } } } } } \
         notifications(first: 50) { nodes { id kind payload read readAt } } unreadNotificationCount ",
    );
    let vars = json!({ "handle": world.owner_handle, "org": world.organization_id });
    for (i, id) in world.owner_videos.iter().enumerate() {
        write!(doc, "v{i}: node(id: \"{id}\") {{ ...V }} ").unwrap();
    }
    for (i, id) in world.owner_rooms.iter().enumerate() {
        write!(doc, "r{i}: node(id: \"{id}\") {{ ...R }} ").unwrap();
    }
    doc.push_str("upcoming: channel(handle: $handle) { upcomingLives { id } liveNow { id } liveModerators { id } liveBlockedKeywords } ");
    doc.push_str(
        "} fragment V on Video { id title description hashtags category isOriginal status isPublished publishedAt updatedAt product { id } \
         social { likeCount recommendCount commentCount shareCount viewCount reactions(first: 50) { nodes { kind at user { id } } } \
           comments(first: 20) { nodes { id body isPinned likeCount replyCount editedAt \
             replies(first: 10) { nodes { id body likeCount editedAt } } } } } } \
         fragment R on LiveRoom { id title description coverUrl state plannedStartAt startedAt endedAt cancelledAt \
           reservationCount viewerHasReserved streamCredentials { serverUrl streamKey rotatedAt } updatedAt pinnedProduct { id } pinnedProductAt \
           pinnedMessage { text } restrictedViewers { user { id } banned mutedIndefinitely } comments(first: 20) { nodes { id text } } }",
    );
    let body = app.graphql(world.token(Role::Owner), &doc, vars).await;
    assert!(body.get("errors").is_none(), "the fingerprint query failed: {body:#}");
    body["data"].clone()
}

/// The newest event in the outbox: a call that changes nothing emits nothing.
async fn last_event(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT COALESCE(MAX(id), 0) AS n FROM events_outbox"))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Waits until the dispatcher has delivered everything (handlers may change what the
/// fingerprint reads).
async fn settle(app: &TestApp, db: &DatabaseConnection) {
    app.eventually(Duration::from_secs(30), || async move {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT (SELECT COUNT(*) FROM events_outbox WHERE NOT fanned_out) + (SELECT COUNT(*) FROM events_deliveries WHERE status = 'pending') AS n",
            ))
            .await
            .unwrap()
            .unwrap();
        (row.try_get::<i64>("", "n").unwrap() == 0).then_some(())
    })
    .await;
}

/// The first lines that differ between two fingerprints, for the failure message.
fn diff(before: &Value, after: &Value) -> String {
    let (a, b) = (serde_json::to_string_pretty(before).unwrap(), serde_json::to_string_pretty(after).unwrap());
    let changed: Vec<String> = a
        .lines()
        .zip(b.lines())
        .filter(|(x, y)| x != y)
        .take(6)
        .map(|(x, y)| format!("      - {}\n      + {}", x.trim(), y.trim()))
        .collect();
    changed.join("\n")
}

#[derive(Default)]
struct Report {
    runs: usize,
    hidden_like_missing: usize,
    refusals: BTreeMap<(Role, String), usize>,
    let_through: usize,
    /// Objects of the owner that people in a block with them still reach, by case.
    seen_across_a_block: BTreeMap<String, BTreeSet<&'static str>>,
    /// Objects the caller may see that answered as missing anyway (stricter than the rule).
    stricter: BTreeMap<&'static str, BTreeSet<String>>,
    /// Existing objects whose owner is answered as for a missing one.
    owner_as_missing: BTreeMap<&'static str, BTreeSet<String>>,
    failures: Vec<String>,
}

impl Report {
    fn fail(&mut self, case: &Case, target: &Target, role: Role, what: String) {
        self.failures.push(format!("{} on {} as {}: {what}", case.key, target.label(), role.name()));
    }
}

/// May `role` change anything with `case` on `target`?
fn may_change(case: &Case, target: &Target, role: Role) -> bool {
    match case.who {
        Who::Read => false,
        Who::Owner => role == Role::Owner,
        Who::Viewers => role != Role::Anonymous && !role.in_a_block() && target.visible_to(role),
        Who::Anyone => role != Role::Anonymous,
    }
}

fn check_documents(report: &mut Report, case: &Case, target: &Target, role: Role, responses: [&Value; 2]) {
    for response in responses {
        let codes = codes(response);
        if codes.iter().any(|c| c.starts_with("GRAPHQL_") || c == "QUERY_TOO_COMPLEX" || c == "QUERY_TOO_DEEP" || c == "INTERNAL") {
            report.fail(case, target, role, format!("the call itself is broken (fix the case): {response}"));
        }
    }
}

fn check_secrets(report: &mut Report, world: &World, case: &Case, target: &Target, role: Role, responses: [&Value; 2]) {
    for response in responses {
        let text = response.to_string();
        for secret in world.secrets.iter().filter(|s| !s.seen_by.contains(&role)) {
            if text.contains(&secret.text) {
                report.fail(case, target, role, format!("shows {} ({:?}): {text}", secret.what, secret.text));
            }
        }
    }
}

#[tokio::test]
async fn every_id_argument_answers_only_to_those_who_may_see_its_object() {
    let started = Instant::now();
    // The fingerprint reads all the owner has in one query: over the default cost budget.
    // Unpaid orders stay unpaid for the whole run (a day's payment window).
    let app = TestApp::spawn_with(|c| {
        c.graphql.max_complexity = 100_000;
        c.modules.commerce.payment_window_secs = 24 * 3600;
    })
    .await;

    // Coverage first: every ID argument has a case, and every case an argument.
    let found = id_arguments(&app).await;
    let cases = cases::cases();
    let keys: BTreeSet<String> = cases.iter().map(|c| c.key.to_owned()).collect();
    assert_eq!(keys.len(), cases.len(), "two cases have the same key");
    let gaps = coverage(&found, &keys);
    assert!(gaps.is_empty(), "\n{}", gaps.join("\n"));

    let world = World::build(&app).await;
    let setup = started.elapsed();
    let db = app.database().await;
    settle(&app, &db).await;
    let mut baseline = fingerprint(&app, &world).await;
    let mut report = Report::default();
    search_shows_no_secret(&app, &world, &mut report).await;

    // Everyone but the owner first: the owner's own calls come last, as some of them delete.
    for case in &cases {
        for target in world.targets.iter().filter(|t| case.kinds.contains(&t.kind)) {
            let missing_id = World::missing_id(target.kind);
            let mut across_the_block: Vec<(Role, String)> = Vec::new();
            for role in OTHERS {
                let missing = send(&app, &world, role, &(case.build)(&Probe { id: &missing_id, target, world: &world, role })).await;
                let events = last_event(&db).await;
                let response = send(&app, &world, role, &(case.build)(&Probe { id: &target.id, target, world: &world, role })).await;
                report.runs += 1;
                check_documents(&mut report, case, target, role, [&response, &missing]);
                check_secrets(&mut report, &world, case, target, role, [&response, &missing]);
                let (answer, as_missing) = (normalise(&response, &target.id), normalise(&missing, &missing_id));
                if !target.visible_to(role) {
                    if answer == as_missing {
                        report.hidden_like_missing += 1;
                    } else {
                        report.fail(case, target, role, format!("answers differently from a missing {:?}:\n      got     {answer}\n      missing {as_missing}", target.kind));
                    }
                } else if answer == as_missing {
                    // Not a leak; listed when the object itself was denied (not the caller, as
                    // an anonymous caller's UNAUTHENTICATED is the same for every id).
                    if case.who == Who::Read || codes(&response).iter().any(|c| c == "NOT_FOUND") {
                        report.stricter.entry(case.key).or_default().insert(format!("{} as {}", target.label(), role.name()));
                    }
                } else if role.in_a_block() && case.who == Who::Read {
                    report.seen_across_a_block.entry(target.label()).or_default().insert(case.key);
                }
                for code in codes(&response) {
                    *report.refusals.entry((role, code)).or_default() += 1;
                }
                if role.in_a_block() {
                    across_the_block.push((role, answer));
                }

                if refused(&response) || !may_change(case, target, role) {
                    let after = fingerprint(&app, &world).await;
                    if after != baseline {
                        report.fail(case, target, role, format!("changed the owner's view:\n{}", diff(&baseline, &after)));
                        baseline = after;
                    }
                    if last_event(&db).await != events {
                        report.fail(case, target, role, "emitted an event".into());
                    }
                } else {
                    report.let_through += 1;
                    world.restore(&app, role).await;
                    settle(&app, &db).await;
                    baseline = fingerprint(&app, &world).await;
                }
            }
            if let [(_, blocked), (_, blocker)] = &across_the_block[..]
                && (blocked.contains("BLOCKED") || blocker.contains("BLOCKED"))
                && blocked != blocker
            {
                report.fail(case, target, Role::Blocked, format!("tells which way the block goes:\n      blocked {blocked}\n      blocker {blocker}"));
            }
        }
    }

    // The owner: reads, then writes, then what removes objects others use.
    let mut shown_to_owner = String::new();
    let mut order: Vec<&Case> = cases.iter().collect();
    order.sort_by_key(|c| (c.who != Who::Read, c.late));
    for case in order {
        let mut reached = false;
        for target in world.targets.iter().filter(|t| case.kinds.contains(&t.kind)) {
            let missing_id = World::missing_id(target.kind);
            let missing = send(&app, &world, Role::Owner, &(case.build)(&Probe { id: &missing_id, target, world: &world, role: Role::Owner })).await;
            let response = send(&app, &world, Role::Owner, &(case.build)(&Probe { id: &target.id, target, world: &world, role: Role::Owner })).await;
            report.runs += 1;
            check_documents(&mut report, case, target, Role::Owner, [&response, &missing]);
            shown_to_owner.push_str(&response.to_string());
            let (answer, as_missing) = (normalise(&response, &target.id), normalise(&missing, &missing_id));
            if target.deleted {
                if answer != as_missing {
                    report.fail(case, target, Role::Owner, format!("a deleted object answers its owner differently from a missing one:\n      got     {answer}\n      missing {as_missing}"));
                }
            } else if answer == as_missing {
                report.owner_as_missing.entry(case.key).or_default().insert(target.label());
                if case.who == Who::Read {
                    report.fail(case, target, Role::Owner, format!("the owner does not see their own object, so the case proves nothing: {answer}"));
                }
            } else {
                reached = true;
            }
            if case.who == Who::Read {
                let after = fingerprint(&app, &world).await;
                if after != baseline {
                    report.fail(case, target, Role::Owner, format!("a read changed the owner's view:\n{}", diff(&baseline, &after)));
                    baseline = after;
                }
            }
        }
        if !reached {
            report.failures.push(format!("{}: the owner's call never reaches any of their objects, so the case proves nothing", case.key));
        }
    }
    for secret in world.secrets.iter().filter(|s| s.owner_reads && !shown_to_owner.contains(&s.text)) {
        report.failures.push(format!("{} ({:?}) is in no response to the owner: the secret or the cases that should show it are wrong", secret.what, secret.text));
    }
    let elapsed = started.elapsed();

    // What was found.
    let fields: BTreeSet<&str> = found.iter().map(|k| k.split('(').next().unwrap()).collect();
    let by_root = |root: &str| found.iter().filter(|k| k.starts_with(&format!("{root}."))).count();
    let objects = found.len() - by_root("Query") - by_root("Mutation") - by_root("Subscription");
    let mut kinds: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for t in &world.targets {
        kinds.entry(format!("{:?}", t.kind)).or_default().push(t.state);
    }
    let mut out = String::new();
    writeln!(out, "\nauthorization matrix (issue 13)").unwrap();
    writeln!(
        out,
        "  {} ID arguments on {} fields ({} query, {} mutation, {} subscription, {} object-field) × {} roles × {} object states",
        found.len(),
        fields.len(),
        by_root("Query"),
        by_root("Mutation"),
        by_root("Subscription"),
        objects,
        ROLES.len(),
        world.targets.len()
    )
    .unwrap();
    writeln!(out, "  = {} runs where the argument reaches the object's kind (each beside the same call for a missing id), {:.1} s ({:.1} s making the objects)", report.runs, elapsed.as_secs_f64(), setup.as_secs_f64()).unwrap();
    for (kind, states) in &kinds {
        let reaching: Vec<&str> = cases.iter().filter(|c| c.kinds.iter().any(|k| format!("{k:?}") == *kind)).map(|c| c.key).collect();
        writeln!(out, "  {kind} ({}) ← {}", states.join(", "), reaching.join(", ")).unwrap();
    }
    writeln!(out, "  hidden objects answered exactly as missing ones: {}; calls let through (and undone): {}", report.hidden_like_missing, report.let_through).unwrap();
    let mut refusals: BTreeMap<Role, Vec<String>> = BTreeMap::new();
    for ((role, code), n) in &report.refusals {
        refusals.entry(*role).or_default().push(format!("{code} {n}"));
    }
    for (role, codes) in refusals {
        writeln!(out, "  answers to the {}: {}", role.name(), codes.join(", ")).unwrap();
    }
    if !report.seen_across_a_block.is_empty() {
        writeln!(out, "  reached by id across a block (by the blocked and the blocker), as the rule is today:").unwrap();
        for (target, keys) in &report.seen_across_a_block {
            writeln!(out, "    {target}: {}", keys.iter().copied().collect::<Vec<_>>().join(", ")).unwrap();
        }
    }
    if !report.stricter.is_empty() {
        writeln!(out, "  answered as missing though the caller may see the object (stricter than the rule):").unwrap();
        for (key, runs) in &report.stricter {
            writeln!(out, "    {key}: {}", runs.iter().cloned().collect::<Vec<_>>().join("; ")).unwrap();
        }
    }
    if !report.owner_as_missing.is_empty() {
        writeln!(out, "  the owner answered as for a missing object:").unwrap();
        for (key, targets) in &report.owner_as_missing {
            writeln!(out, "    {key}: {}", targets.iter().cloned().collect::<Vec<_>>().join("; ")).unwrap();
        }
    }
    eprintln!("{out}");
    assert!(report.failures.is_empty(), "{} failures:\n  {}", report.failures.len(), report.failures.join("\n  "));
    app.stop().await;
}

const SEARCH_PROBE: &str = "query($q: String!) { search(query: $q, first: 50) { totalCount edges { node { title node { ... on LiveRoom { id title } ... on Video { id title } ... on Product { id title } ... on Channel { id handle } } } } } \
    searchSuggestions(text: $q) { text } }";

/// Search takes no ID, yet shows titles: every caller searches (and is suggested) every secret's
/// text, and no answer may show one the caller may not read. The owner's live rooms, findable
/// outside the block, prove the probe reaches the index: the stranger and the signed-out find
/// them, neither side of the block does.
async fn search_shows_no_secret(app: &TestApp, world: &World, report: &mut Report) {
    let rooms = |body: &Value| body["data"]["search"]["totalCount"].as_i64().unwrap_or(-1);
    let probe = |role: Role, q: String| async move { app.graphql(world.token(role), SEARCH_PROBE, json!({ "q": q })).await };
    // The index catches up with the world's events in the background.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rooms(&probe(Role::Stranger, "Matrix live".into()).await) < 2 {
        assert!(Instant::now() < deadline, "the owner's live rooms never reached the search index");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for role in ROLES {
        let found = rooms(&probe(role, "Matrix live".into()).await);
        let expected_some = matches!(role, Role::Owner | Role::Stranger | Role::Anonymous);
        if expected_some != (found > 0) {
            report.failures.push(format!("search: the {} finds {found} of the owner's live rooms", role.name()));
        }
        for secret in world.secrets.iter().filter(|s| !s.seen_by.contains(&role) && role != Role::Owner) {
            let query: String = secret.text.chars().take(100).collect();
            let body = probe(role, query).await;
            report.runs += 1;
            let text = body.to_string();
            if text.contains("\"INTERNAL\"") || body["errors"].as_array().is_some_and(|e| !e.is_empty()) && !text.contains("BAD_USER_INPUT") {
                report.failures.push(format!("search for {:?} as the {}: the call itself is broken: {text}", secret.text, role.name()));
            }
            if let Some(data) = body.get("data").filter(|d| !d.is_null())
                && data.to_string().contains(&secret.text)
            {
                report.failures.push(format!("search shows {} ({:?}) to the {}: {text}", secret.what, secret.text, role.name()));
            }
        }
    }
}

/// The scan finds ID arguments wherever they are: in lists, in input objects nested in input
/// objects (a recursive input type too), and on fields of any object type; and an argument with
/// no case is named with where to add it.
#[test]
fn the_scan_finds_every_id_and_names_the_ones_without_a_case() {
    let t = |kind: &str, name: &str| json!({ "kind": kind, "name": name, "ofType": null });
    let wrap = |kind: &str, inner: Value| json!({ "kind": kind, "name": null, "ofType": inner });
    let schema = json!({ "types": [
        { "kind": "OBJECT", "name": "Mutation", "fields": [
            { "name": "tag", "args": [{ "name": "input", "type": wrap("NON_NULL", t("INPUT_OBJECT", "TagInput")) }] },
            { "name": "ping", "args": [{ "name": "text", "type": t("SCALAR", "String") }] },
        ] },
        { "kind": "OBJECT", "name": "Video", "fields": [
            { "name": "related", "args": [{ "name": "to", "type": wrap("LIST", wrap("NON_NULL", t("SCALAR", "ID"))) }] },
        ] },
        { "kind": "OBJECT", "name": "__Type", "fields": [{ "name": "fields", "args": [{ "name": "id", "type": t("SCALAR", "ID") }] }] },
        { "kind": "INPUT_OBJECT", "name": "TagInput", "inputFields": [
            { "name": "target", "type": wrap("NON_NULL", t("INPUT_OBJECT", "TargetInput")) },
            { "name": "note", "type": t("SCALAR", "String") },
            { "name": "parent", "type": t("INPUT_OBJECT", "TagInput") },
        ] },
        { "kind": "INPUT_OBJECT", "name": "TargetInput", "inputFields": [
            { "name": "videoIds", "type": wrap("LIST", t("SCALAR", "ID")) },
        ] },
    ] });
    let found = scan(&schema);
    assert_eq!(found.iter().map(String::as_str).collect::<Vec<_>>(), ["Mutation.tag(input.target.videoIds)", "Video.related(to)"]);
    let keys = BTreeSet::from(["Video.related(to)".to_owned(), "Mutation.gone(id)".to_owned()]);
    let gaps = coverage(&found, &keys);
    assert_eq!(gaps.len(), 2, "{gaps:#?}");
    assert!(gaps[0].starts_with("Mutation.tag(input.target.videoIds) takes an ID but has no case") && gaps[0].contains("tests/system/authz_matrix/cases.rs"));
    assert!(gaps[1].starts_with("Mutation.gone(id) has a case"));
}
