//! Merchant organizations, their members and roles.

use kanjian_system_tests::TestApp;
use serde_json::json;

const CREATE: &str = "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id name viewerRole } userErrors { field code } } }";
const ADD: &str = "mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) { membership { role user { id } } userErrors { field code } } }";
const REMOVE: &str = "mutation($input: RemoveOrganizationMemberInput!) { removeOrganizationMember(input: $input) { removedUserId userErrors { field code } } }";
const MEMBERS: &str = "query($id: ID!) { organization(id: $id) { name members(first: 10) { edges { node { role user { id } } } } } }";

#[tokio::test]
async fn owners_manage_members_and_agents_cannot() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.sign_up("boss@example.com").await;
    let (agent, agent_id) = app.sign_up("agent@example.com").await;
    let (outsider, _) = app.sign_up("outsider@example.com").await;

    let org = app.data(Some(&owner), CREATE, json!({ "input": { "name": "Tea House" } })).await;
    assert_eq!(org["createOrganization"]["organization"]["viewerRole"], "OWNER");
    let org_id = org["createOrganization"]["organization"]["id"].as_str().unwrap().to_owned();

    let added = app.data(Some(&owner), ADD, json!({ "input": { "organizationId": org_id, "email": "agent@example.com", "role": "AGENT" } })).await;
    assert_eq!(added["addOrganizationMember"]["membership"]["user"]["id"], agent_id);

    let again = app.data(Some(&owner), ADD, json!({ "input": { "organizationId": org_id, "email": "agent@example.com", "role": "AGENT" } })).await;
    assert_eq!(again["addOrganizationMember"]["userErrors"][0]["code"], "ALREADY_EXISTS");
    let unknown = app.data(Some(&owner), ADD, json!({ "input": { "organizationId": org_id, "email": "ghost@example.com", "role": "AGENT" } })).await;
    assert_eq!(unknown["addOrganizationMember"]["userErrors"][0]["field"], json!(["input", "email"]));

    // An agent may not add members.
    let body = app.graphql(Some(&agent), ADD, json!({ "input": { "organizationId": org_id, "email": "outsider@example.com", "role": "OWNER" } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body:#}");

    // Members see the member list; outsiders are refused.
    let members = app.data(Some(&agent), MEMBERS, json!({ "id": org_id })).await;
    assert_eq!(members["organization"]["members"]["edges"].as_array().unwrap().len(), 2);
    let body = app.graphql(Some(&outsider), MEMBERS, json!({ "id": org_id })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body:#}");
    // `members` is non-null: its error nulls the nearest nullable parent (the spec's Handling
    // Field Errors), and the key is there, as `null`.
    assert_eq!(body["data"], json!({ "organization": null }), "{body:#}");
    assert_eq!(body["errors"][0]["path"], json!(["organization", "members"]), "{body:#}");

    // The last owner cannot leave the organization ownerless.
    let last = app.data(Some(&owner), REMOVE, json!({ "input": { "organizationId": org_id, "userId": owner_id } })).await;
    assert_eq!(last["removeOrganizationMember"]["userErrors"][0]["code"], "INVALID_STATE");
    let removed = app.data(Some(&owner), REMOVE, json!({ "input": { "organizationId": org_id, "userId": agent_id } })).await;
    assert_eq!(removed["removeOrganizationMember"]["removedUserId"], agent_id);
    let body = app.graphql(Some(&agent), MEMBERS, json!({ "id": org_id })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    app.stop().await;
}
