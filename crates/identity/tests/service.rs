//! The identity service against a real, freshly migrated database: a SQLite file, or PostgreSQL
//! with `KANJIAN_TEST_DATABASE=postgres` (see `kanjian_migrations::testing`).

// The helpers below are test code too: clippy's `allow-unwrap-in-tests` only covers `#[test]`
// functions, so it is allowed here explicitly.
#![allow(clippy::unwrap_used)]

use kanjian_contracts::IntegrationEvent;
use kanjian_contracts::identity::{
    IdentityDirectory,
    AddMemberInput, ChannelCreated, ChannelUpdated, ClientInfo, CreateChannelInput,
    CreateOrganizationInput, IdentityApi, LogInInput, OrgRole, OrganizationMemberAdded,
    OrganizationMemberRemoved, RemoveMemberInput, SignUpInput, UpdateChannelInput,
    UpdateProfileInput, UserDto, UserProfileUpdated, UserSignedUp,
};
use kanjian_events::Outbox;
use kanjian_identity::{IdentityConfig, IdentityService};
use kanjian_kernel::ids::{ChannelId, OrganizationId, UserId};
use kanjian_kernel::{Actor, Error, PageRequest, UserErrorCode};
use kanjian_db::testing::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

const PASSWORD: &str = "correct horse battery staple";

struct TestApp {
    _database: TestDatabase,
    db: DatabaseConnection,
    identity: IdentityService,
}

/// A fresh database per test: SQLite, or PostgreSQL with `KANJIAN_TEST_DATABASE=postgres`.
async fn app_with(config: IdentityConfig) -> TestApp {
    let database = TestDatabase::create().await;
    let db = kanjian_migrations::database::migrated(&database).await;
    let identity = IdentityService::new(db.clone(), Outbox::new(), config);
    TestApp {
        _database: database,
        db: db.writer().clone(),
        identity,
    }
}

async fn app() -> TestApp {
    app_with(IdentityConfig::default()).await
}

fn client(ip: &str) -> ClientInfo {
    ClientInfo {
        ip: Some(ip.into()),
        user_agent: Some("tests/1.0".into()),
    }
}

fn codes(e: &Error) -> Vec<(String, UserErrorCode)> {
    match e {
        Error::User(errors) => errors.iter().map(|e| (e.field.join("."), e.code)).collect(),
        other => panic!("expected user errors, got {other:?}"),
    }
}

impl TestApp {
    async fn sign_up(&self, email: &str) -> (Actor, String) {
        let session = self
            .identity
            .sign_up(
                SignUpInput {
                    email: email.into(),
                    password: PASSWORD.into(),
                    display_name: None,
                },
                client("10.0.0.1"),
            )
            .await
            .unwrap();
        let actor = self.identity.authenticate(&session.token).await.unwrap();
        (actor, session.token)
    }

    async fn log_in(&self, email: &str, password: &str, ip: &str) -> Result<String, Error> {
        self.identity
            .log_in(
                LogInInput {
                    email: email.into(),
                    password: password.into(),
                },
                client(ip),
            )
            .await
            .map(|s| s.token)
    }

    async fn events<E: IntegrationEvent>(&self) -> Vec<E> {
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "SELECT payload FROM events_outbox WHERE kind = $1 ORDER BY id",
                [E::KIND.into()],
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap()
            })
            .collect()
    }

    async fn create_channel(
        &self,
        actor: &Actor,
        handle: &str,
    ) -> Result<kanjian_contracts::identity::ChannelDto, Error> {
        self.identity
            .create_channel(
                actor,
                CreateChannelInput {
                    handle: handle.into(),
                    display_name: "Alice 的厨房".into(),
                    bio: Some("I cook.".into()),
                    avatar_url: Some("https://cdn.example.com/a.png".into()),
                },
            )
            .await
    }
}

#[tokio::test]
async fn sign_up_log_in_authenticate_log_out() {
    let app = app().await;
    let signed_up = app
        .identity
        .sign_up(
            SignUpInput {
                email: "  Alice@Example.com ".into(),
                password: PASSWORD.into(),
                display_name: None,
            },
            client("10.0.0.1"),
        )
        .await
        .unwrap();
    assert_eq!(signed_up.user.email, "alice@example.com");
    assert!(signed_up.token.starts_with("kj_"));
    assert!(signed_up.expires_at > kanjian_kernel::now() + chrono::TimeDelta::days(29));
    let user_id = signed_up.user.id;

    // The sign-up session works, and so does a log-in session; they are different sessions.
    let first = app.identity.authenticate(&signed_up.token).await.unwrap();
    assert_eq!(first.user_id(), Some(user_id));
    let token = app
        .log_in("ALICE@example.com", PASSWORD, "10.0.0.2")
        .await
        .unwrap();
    let actor = app.identity.authenticate(&token).await.unwrap();
    assert_eq!(actor.user_id(), Some(user_id));
    assert_ne!(actor.session_id(), first.session_id());

    // Only the hash of the token is stored.
    let stored = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM identity_sessions WHERE token_hash LIKE 'kj_%'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(stored, 0);

    app.identity.log_out(&actor).await.unwrap();
    assert!(matches!(
        app.identity.authenticate(&token).await,
        Err(Error::Unauthenticated)
    ));
    // Logging out again is harmless; the other session still works.
    app.identity.log_out(&actor).await.unwrap();
    assert!(app.identity.authenticate(&signed_up.token).await.is_ok());
    assert!(matches!(
        app.identity.log_out(&Actor::Anonymous).await,
        Err(Error::Unauthenticated)
    ));

    let users = app
        .identity
        .users_by_ids(&[UserId(999), user_id])
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email, "alice@example.com");
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_unauthenticated() {
    let app = app().await;
    for token in [
        "",
        "kj_",
        "kj_doesnotexist",
        "Bearer abc",
        &"kj_x".repeat(100),
    ] {
        assert!(
            matches!(
                app.identity.authenticate(token).await,
                Err(Error::Unauthenticated)
            ),
            "{token}"
        );
    }
}

#[tokio::test]
async fn expired_sessions_are_unauthenticated() {
    let app = app_with(IdentityConfig {
        session_ttl_days: 0,
        ..Default::default()
    })
    .await;
    let session = app
        .identity
        .sign_up(
            SignUpInput {
                email: "bob@example.com".into(),
                password: PASSWORD.into(),
                display_name: None,
            },
            ClientInfo::default(),
        )
        .await
        .unwrap();
    assert!(matches!(
        app.identity.authenticate(&session.token).await,
        Err(Error::Unauthenticated)
    ));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_fail_alike() {
    let app = app().await;
    app.sign_up("alice@example.com").await;
    let wrong = app
        .log_in("alice@example.com", "not the password", "10.0.0.1")
        .await
        .unwrap_err();
    let unknown = app
        .log_in("nobody@example.com", PASSWORD, "10.0.0.1")
        .await
        .unwrap_err();
    let malformed = app
        .log_in("not an email", PASSWORD, "10.0.0.1")
        .await
        .unwrap_err();
    for e in [&wrong, &unknown, &malformed] {
        assert_eq!(
            codes(e),
            vec![(String::new(), UserErrorCode::InvalidCredentials)]
        );
    }
    assert_eq!(wrong.to_string(), unknown.to_string());
}

#[tokio::test]
async fn duplicate_email_is_taken_whatever_its_case() {
    let app = app().await;
    app.sign_up("alice@example.com").await;
    let e = app
        .identity
        .sign_up(
            SignUpInput {
                email: "ALICE@example.com".into(),
                password: PASSWORD.into(),
                display_name: None,
            },
            ClientInfo::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.email".into(), UserErrorCode::Taken)]
    );
    // The failed sign-up wrote no event.
    assert_eq!(app.events::<UserSignedUp>().await.len(), 1);
}

#[tokio::test]
async fn racing_sign_ups_with_one_email_give_one_account_and_one_taken() {
    let app = app().await;
    let input = || SignUpInput {
        email: "race@example.com".into(),
        password: PASSWORD.into(),
        display_name: None,
    };
    let (a, b) = tokio::join!(
        app.identity.sign_up(input(), ClientInfo::default()),
        app.identity.sign_up(input(), ClientInfo::default()),
    );
    let (ok, err): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 1);
    assert_eq!(
        codes(err[0].as_ref().unwrap_err()),
        vec![("input.email".into(), UserErrorCode::Taken)]
    );
    assert_eq!(app.events::<UserSignedUp>().await.len(), 1);
}

#[tokio::test]
async fn invalid_sign_up_reports_every_field_at_once() {
    let app = app().await;
    let e = app
        .identity
        .sign_up(
            SignUpInput {
                email: "not-an-email".into(),
                password: "short".into(),
                display_name: None,
            },
            ClientInfo::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![
            ("input.email".into(), UserErrorCode::Invalid),
            ("input.password".into(), UserErrorCode::TooShort)
        ]
    );

    for weak in ["password123", "bob@example.com", "BOB@EXAMPLE.COM"] {
        let e = app
            .identity
            .sign_up(
                SignUpInput {
                    email: "bob@example.com".into(),
                    password: weak.into(),
                    display_name: None,
                },
                ClientInfo::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            codes(&e),
            vec![("input.password".into(), UserErrorCode::WeakPassword)],
            "{weak}"
        );
    }
    assert!(app.events::<UserSignedUp>().await.is_empty());
}

#[tokio::test]
async fn too_many_failures_for_an_email_are_rate_limited_until_the_window_passes() {
    let app = app_with(IdentityConfig {
        login_max_failures: 3,
        ..Default::default()
    })
    .await;
    app.sign_up("alice@example.com").await;
    for i in 0..3 {
        let e = app
            .log_in(
                "alice@example.com",
                "wrong password",
                &format!("10.0.1.{i}"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::User(_)), "{e:?}");
    }
    // Even the right password is refused now, before it is checked, from any IP and any case.
    let e = app
        .log_in(" Alice@Example.com", PASSWORD, "10.9.9.9")
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after_secs } = e else {
        panic!("expected RateLimited, got {e:?}")
    };
    assert!((1..=900).contains(&retry_after_secs), "{retry_after_secs}");
    // Other accounts are not affected.
    app.sign_up("bob@example.com").await;
    assert!(
        app.log_in("bob@example.com", PASSWORD, "10.0.1.0")
            .await
            .is_ok()
    );

    // Once the failures are older than the window, log-in works again.
    app.db
        .execute_unprepared("DELETE FROM identity_login_attempts WHERE email = 'alice@example.com'")
        .await
        .unwrap();
    assert!(
        app.log_in("alice@example.com", PASSWORD, "10.9.9.9")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_successful_log_in_clears_the_failures_of_the_email() {
    let app = app_with(IdentityConfig {
        login_max_failures: 3,
        ..Default::default()
    })
    .await;
    app.sign_up("alice@example.com").await;
    for _ in 0..2 {
        app.log_in("alice@example.com", "wrong password", "10.0.0.1")
            .await
            .unwrap_err();
    }
    app.log_in("alice@example.com", PASSWORD, "10.0.0.1")
        .await
        .unwrap();
    for _ in 0..2 {
        let e = app
            .log_in("alice@example.com", "wrong password", "10.0.0.1")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::User(_)), "{e:?}");
    }
}

#[tokio::test]
async fn too_many_failures_from_one_ip_are_rate_limited() {
    let app = app_with(IdentityConfig {
        login_max_failures_per_ip: 4,
        ..Default::default()
    })
    .await;
    app.sign_up("alice@example.com").await;
    for i in 0..4 {
        app.log_in(&format!("user{i}@example.com"), PASSWORD, "203.0.113.7")
            .await
            .unwrap_err();
    }
    let e = app
        .log_in("alice@example.com", PASSWORD, "203.0.113.7")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    assert!(
        app.log_in("alice@example.com", PASSWORD, "203.0.113.8")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn channels_are_one_per_user_with_unique_handles() {
    let app = app().await;
    let (alice, _) = app.sign_up("alice@example.com").await;
    let (bob, _) = app.sign_up("bob@example.com").await;

    assert!(matches!(
        app.create_channel(&Actor::Anonymous, "alice").await,
        Err(Error::Unauthenticated)
    ));

    let channel = app.create_channel(&alice, "Alice.Cooks").await.unwrap();
    assert_eq!(channel.handle, "alice.cooks");
    assert_eq!(channel.owner_id, alice.user_id().unwrap());
    assert_eq!(
        channel.avatar_url.as_deref(),
        Some("https://cdn.example.com/a.png")
    );

    let e = app.create_channel(&bob, "ALICE.cooks").await.unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.handle".into(), UserErrorCode::Taken)]
    );
    let e = app.create_channel(&bob, "admin").await.unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.handle".into(), UserErrorCode::Taken)]
    );
    let e = app.create_channel(&alice, "another_one").await.unwrap_err();
    assert_eq!(
        codes(&e),
        vec![(String::new(), UserErrorCode::AlreadyExists)]
    );

    let e = app
        .identity
        .create_channel(
            &bob,
            CreateChannelInput {
                handle: "1bad handle".into(),
                display_name: "   ".into(),
                bio: Some("x".repeat(201)),
                avatar_url: Some("javascript:alert(1)".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![
            ("input.handle".into(), UserErrorCode::Invalid),
            ("input.displayName".into(), UserErrorCode::Required),
            ("input.bio".into(), UserErrorCode::TooLong),
            ("input.avatarUrl".into(), UserErrorCode::Invalid),
        ]
    );

    // Lookups.
    assert_eq!(
        app.identity
            .channel_by_handle("@Alice.Cooks")
            .await
            .unwrap(),
        Some(channel.clone())
    );
    assert_eq!(
        app.identity.channel_by_handle("nobody").await.unwrap(),
        None
    );
    assert_eq!(
        app.identity
            .channel_of_user(alice.user_id().unwrap())
            .await
            .unwrap(),
        Some(channel.clone())
    );
    assert_eq!(
        app.identity
            .channel_of_user(bob.user_id().unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        app.identity
            .channels_by_ids(&[ChannelId(12345), channel.id])
            .await
            .unwrap(),
        vec![channel.clone()]
    );

    let created = app.events::<ChannelCreated>().await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        (created[0].channel_id, created[0].handle.as_str()),
        (channel.id, "alice.cooks")
    );
}

#[tokio::test]
async fn only_the_owner_updates_a_channel() {
    let app = app().await;
    let (alice, _) = app.sign_up("alice@example.com").await;
    let (bob, _) = app.sign_up("bob@example.com").await;
    let channel = app.create_channel(&alice, "alice").await.unwrap();
    app.create_channel(&bob, "bob").await.unwrap();

    let change = UpdateChannelInput {
        handle: Some("stolen".into()),
        display_name: Some("Bob was here".into()),
        bio: Some(String::new()),
        avatar_url: Some(None),
    };
    let e = app
        .identity
        .update_channel(&bob, channel.id, change.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let e = app
        .identity
        .update_channel(&Actor::Anonymous, channel.id, change.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated), "{e:?}");
    let e = app
        .identity
        .update_channel(&alice, ChannelId(999), change.clone())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert_eq!(
        app.identity.channels_by_ids(&[channel.id]).await.unwrap(),
        vec![channel.clone()]
    );
    assert!(app.events::<ChannelUpdated>().await.is_empty());

    // The owner may; a handle someone else holds is taken.
    let e = app
        .identity
        .update_channel(
            &alice,
            channel.id,
            UpdateChannelInput {
                handle: Some("BOB".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.handle".into(), UserErrorCode::Taken)]
    );
    let updated = app
        .identity
        .update_channel(&alice, channel.id, change)
        .await
        .unwrap();
    assert_eq!(updated.handle, "stolen");
    assert_eq!(updated.display_name, "Bob was here");
    assert_eq!(updated.bio, "");
    assert_eq!(updated.avatar_url, None);
    assert!(updated.updated_at >= channel.updated_at);
    assert_eq!(updated.created_at, channel.created_at);

    // Nothing to change: nothing written, no event.
    let same = app
        .identity
        .update_channel(
            &alice,
            channel.id,
            UpdateChannelInput {
                handle: Some("Stolen".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(same, updated);
    let events = app.events::<ChannelUpdated>().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].channel_id, channel.id);
}

#[tokio::test]
async fn organizations_members_and_the_last_owner() {
    let app = app().await;
    let (owner, _) = app.sign_up("owner@example.com").await;
    let (agent, _) = app.sign_up("agent@example.com").await;
    let (other, _) = app.sign_up("other@example.com").await;
    let owner_id = owner.user_id().unwrap();
    let agent_id = agent.user_id().unwrap();
    let other_id = other.user_id().unwrap();

    let e = app
        .identity
        .create_organization(
            &Actor::Anonymous,
            CreateOrganizationInput {
                name: "看见小店".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated));
    let e = app
        .identity
        .create_organization(&owner, CreateOrganizationInput { name: " x ".into() })
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.name".into(), UserErrorCode::TooShort)]
    );

    let org = app
        .identity
        .create_organization(
            &owner,
            CreateOrganizationInput {
                name: " 看见小店 ".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(org.name, "看见小店");
    assert_eq!(
        app.identity
            .organization_role(org.id, owner_id)
            .await
            .unwrap(),
        Some(OrgRole::Owner)
    );
    assert_eq!(
        app.identity
            .organizations_by_ids(&[org.id, OrganizationId(77)])
            .await
            .unwrap(),
        vec![org.clone()]
    );

    let add = |email: &str, role| AddMemberInput {
        organization_id: org.id,
        email: email.into(),
        role,
    };

    // Only owners add members.
    let e = app
        .identity
        .add_organization_member(&other, add("agent@example.com", OrgRole::Agent))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let e = app
        .identity
        .add_organization_member(
            &owner,
            AddMemberInput {
                organization_id: OrganizationId(999),
                ..add("agent@example.com", OrgRole::Agent)
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");

    let membership = app
        .identity
        .add_organization_member(&owner, add(" AGENT@example.com", OrgRole::Agent))
        .await
        .unwrap();
    assert_eq!(
        (membership.user_id, membership.role),
        (agent_id, OrgRole::Agent)
    );
    let e = app
        .identity
        .add_organization_member(&owner, add("agent@example.com", OrgRole::Owner))
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.email".into(), UserErrorCode::AlreadyExists)]
    );
    let e = app
        .identity
        .add_organization_member(&owner, add("ghost@example.com", OrgRole::Agent))
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.email".into(), UserErrorCode::Invalid)]
    );
    let e = app
        .identity
        .add_organization_member(&owner, add("not an email", OrgRole::Agent))
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.email".into(), UserErrorCode::Invalid)]
    );
    // An agent is not an owner.
    let e = app
        .identity
        .add_organization_member(&agent, add("other@example.com", OrgRole::Agent))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");

    // Members list, paginated; members only.
    let e = app
        .identity
        .organization_members(&other, org.id, PageRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let first = app
        .identity
        .organization_members(
            &agent,
            org.id,
            PageRequest {
                first: Some(1),
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(first.has_next_page && !first.has_previous_page);
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].1.user_id, owner_id);
    let second = app
        .identity
        .organization_members(
            &agent,
            org.id,
            PageRequest {
                first: Some(1),
                after: Some(first.items[0].0.clone()),
            },
        )
        .await
        .unwrap();
    assert!(!second.has_next_page && second.has_previous_page);
    assert_eq!(second.items[0].1.user_id, agent_id);
    assert_eq!(
        app.identity.memberships_of(agent_id).await.unwrap(),
        vec![membership]
    );

    // The last owner stays; an agent cannot remove anyone.
    let remove = |user_id| RemoveMemberInput {
        organization_id: org.id,
        user_id,
    };
    let e = app
        .identity
        .remove_organization_member(&owner, remove(owner_id))
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.userId".into(), UserErrorCode::InvalidState)]
    );
    let e = app
        .identity
        .remove_organization_member(&agent, remove(owner_id))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let e = app
        .identity
        .remove_organization_member(&owner, remove(other_id))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");

    // With a second owner, the first may go.
    app.identity
        .add_organization_member(&owner, add("other@example.com", OrgRole::Owner))
        .await
        .unwrap();
    app.identity
        .remove_organization_member(&other, remove(owner_id))
        .await
        .unwrap();
    assert_eq!(
        app.identity
            .organization_role(org.id, owner_id)
            .await
            .unwrap(),
        None
    );
    let e = app
        .identity
        .remove_organization_member(&other, remove(other_id))
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![("input.userId".into(), UserErrorCode::InvalidState)]
    );
    app.identity
        .remove_organization_member(&other, remove(agent_id))
        .await
        .unwrap();
    assert!(
        app.identity
            .memberships_of(agent_id)
            .await
            .unwrap()
            .is_empty()
    );

    let added = app.events::<OrganizationMemberAdded>().await;
    assert_eq!(
        added
            .iter()
            .map(|e| (e.user_id, e.role))
            .collect::<Vec<_>>(),
        vec![
            (owner_id, OrgRole::Owner),
            (agent_id, OrgRole::Agent),
            (other_id, OrgRole::Owner)
        ]
    );
    let removed = app.events::<OrganizationMemberRemoved>().await;
    assert_eq!(
        removed.iter().map(|e| e.user_id).collect::<Vec<_>>(),
        vec![owner_id, agent_id]
    );
}

#[tokio::test]
async fn every_sign_up_writes_its_event_with_the_user() {
    let app = app().await;
    let (alice, _) = app.sign_up("alice@example.com").await;
    let (bob, _) = app.sign_up("bob@example.com").await;
    let ids: Vec<UserId> = app
        .events::<UserSignedUp>()
        .await
        .into_iter()
        .map(|e| e.user_id)
        .collect();
    assert_eq!(ids, vec![alice.user_id().unwrap(), bob.user_id().unwrap()]);
}

#[tokio::test]
async fn racing_channel_creations_with_one_handle_give_one_channel_and_one_taken() {
    let app = app().await;
    let (alice, _) = app.sign_up("alice@example.com").await;
    let (bob, _) = app.sign_up("bob@example.com").await;
    let (a, b) = tokio::join!(
        app.create_channel(&alice, "same"),
        app.create_channel(&bob, "same")
    );
    let (ok, err): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 1);
    assert_eq!(
        codes(err[0].as_ref().unwrap_err()),
        vec![("input.handle".into(), UserErrorCode::Taken)]
    );
    assert_eq!(app.events::<ChannelCreated>().await.len(), 1);
}

#[tokio::test]
async fn only_failures_inside_the_window_count_and_retry_after_is_when_one_leaves_it() {
    let app = app().await;
    app.sign_up("alice@example.com").await;
    let now = kanjian_kernel::now();
    let insert = |seconds_ago: i64| {
        Statement::from_sql_and_values(
            app.db.get_database_backend(),
            "INSERT INTO identity_login_attempts (email, ip, succeeded, at) VALUES ($1, $2, $3, $4)",
            [
                "alice@example.com".into(),
                "10.0.0.1".into(),
                false.into(),
                (now - chrono::TimeDelta::seconds(seconds_ago)).into(),
            ],
        )
    };
    // Ten old failures (outside the 900 s window) and four recent ones.
    for seconds_ago in [
        1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 40, 30, 20, 10,
    ] {
        app.db.execute_raw(insert(seconds_ago)).await.unwrap();
    }
    // The fifth failure in the window is still checked...
    let e = app
        .log_in("alice@example.com", "wrong password", "10.0.0.1")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::User(_)), "{e:?}");
    // ...then the email is limited until the oldest of the five (40 s ago) leaves the window.
    let e = app
        .log_in("alice@example.com", PASSWORD, "10.0.0.1")
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after_secs } = e else {
        panic!("expected RateLimited, got {e:?}")
    };
    assert!(
        (855..=860).contains(&retry_after_secs),
        "{retry_after_secs}"
    );
}

impl TestApp {
    async fn sign_up_named(
        &self,
        email: &str,
        display_name: Option<&str>,
    ) -> Result<UserDto, Error> {
        self.identity
            .sign_up(
                SignUpInput {
                    email: email.into(),
                    password: PASSWORD.into(),
                    display_name: display_name.map(Into::into),
                },
                ClientInfo::default(),
            )
            .await
            .map(|s| s.user)
    }

    async fn user(&self, id: UserId) -> UserDto {
        self.identity.users_by_ids(&[id]).await.unwrap().remove(0)
    }

    async fn user_count(&self) -> i64 {
        self.db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM identity_users",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "n")
            .unwrap()
    }
}

fn rename(display_name: &str) -> UpdateProfileInput {
    UpdateProfileInput {
        display_name: Some(display_name.into()),
    }
}

#[tokio::test]
async fn without_a_display_name_an_account_is_named_after_its_email() {
    let app = app().await;
    let lilei = app
        .sign_up_named("  Li.Lei@Example.com ", None)
        .await
        .unwrap();
    assert_eq!(lilei.display_name, "li.lei");
    assert_eq!(app.user(lilei.id).await.display_name, "li.lei");

    // The local part is cut to 32 characters.
    let long = format!("{}@example.com", "x".repeat(40));
    assert_eq!(
        app.sign_up_named(&long, None).await.unwrap().display_name,
        "x".repeat(32)
    );

    // A blank name is no name.
    let blank = app
        .sign_up_named("blank@example.com", Some("  "))
        .await
        .unwrap();
    assert_eq!(blank.display_name, "blank");
}

#[tokio::test]
async fn a_display_name_given_at_sign_up_is_kept_trimmed_and_checked() {
    let app = app().await;
    let lilei = app
        .sign_up_named("lilei@example.com", Some("  李雷 "))
        .await
        .unwrap();
    assert_eq!(lilei.display_name, "李雷");
    assert_eq!(app.user(lilei.id).await.display_name, "李雷");

    for (bad, code) in [
        ("雷".repeat(33), UserErrorCode::TooLong),
        ("Li\nLei".to_owned(), UserErrorCode::Invalid),
    ] {
        let e = app
            .sign_up_named("hanmeimei@example.com", Some(&bad))
            .await
            .unwrap_err();
        assert_eq!(
            codes(&e),
            vec![("input.displayName".into(), code)],
            "{bad:?}"
        );
    }
    // Nothing was written: one account, and the refused email is still free.
    assert_eq!(app.user_count().await, 1);
    assert_eq!(app.events::<UserSignedUp>().await.len(), 1);
    app.sign_up_named("hanmeimei@example.com", Some("韩梅梅"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_user_renames_themself_and_the_change_is_announced_once() {
    let app = app().await;
    let (actor, _) = app.sign_up("lilei@example.com").await;
    let id = actor.user_id().unwrap();

    let renamed = app
        .identity
        .update_profile(&actor, rename(" 李雷 👨‍👩‍👧‍👦 "))
        .await
        .unwrap();
    assert_eq!(renamed.id, id);
    assert_eq!(renamed.display_name, "李雷 👨‍👩‍👧‍👦");
    assert_eq!(app.user(id).await, renamed);
    let events = app.events::<UserProfileUpdated>().await;
    assert_eq!(
        events.iter().map(|e| e.user_id).collect::<Vec<_>>(),
        vec![id]
    );

    // The same name again, or no field at all, changes nothing and announces nothing.
    let same = app
        .identity
        .update_profile(&actor, rename("李雷 👨‍👩‍👧‍👦"))
        .await
        .unwrap();
    assert_eq!(same, renamed);
    let nothing = app
        .identity
        .update_profile(&actor, UpdateProfileInput::default())
        .await
        .unwrap();
    assert_eq!(nothing, renamed);
    assert_eq!(app.events::<UserProfileUpdated>().await.len(), 1);
}

#[tokio::test]
async fn a_bad_display_name_leaves_the_profile_unchanged() {
    let app = app().await;
    let (actor, _) = app.sign_up("lilei@example.com").await;
    let id = actor.user_id().unwrap();
    let before = app.user(id).await;

    for (bad, code) in [
        (String::new(), UserErrorCode::Required),
        (" \t ".to_owned(), UserErrorCode::Required),
        ("a".repeat(33), UserErrorCode::TooLong),
        ("Li\nLei".to_owned(), UserErrorCode::Invalid),
        ("Li\u{1b}[31mLei".to_owned(), UserErrorCode::Invalid),
    ] {
        let e = app
            .identity
            .update_profile(&actor, rename(&bad))
            .await
            .unwrap_err();
        assert_eq!(
            codes(&e),
            vec![("input.displayName".into(), code)],
            "{bad:?}"
        );
        assert_eq!(app.user(id).await, before, "{bad:?}");
    }
    assert!(app.events::<UserProfileUpdated>().await.is_empty());
}

#[tokio::test]
async fn only_a_signed_in_user_updates_a_profile() {
    let app = app().await;
    let e = app
        .identity
        .update_profile(&Actor::Anonymous, rename("李雷"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated), "{e:?}");
    assert!(app.events::<UserProfileUpdated>().await.is_empty());
}

#[tokio::test]
async fn accounts_made_before_display_names_are_named_after_their_email() {
    use kanjian_migrations::{Migrator, MigratorTrait};

    let database = TestDatabase::create().await;
    let db = database.connect(kanjian_kernel::Clock::system()).await.writer().clone();
    let backend = db.get_database_backend();
    // Every migration before the one that added display names, then the rest.
    let migrations = Migrator::migrations();
    let before = migrations
        .iter()
        .position(|m| m.name() == "m20261121_000006_identity_display_names")
        .unwrap();
    let after = migrations.len() - before;
    Migrator::up(&db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    let long = "y".repeat(40);
    db.execute_unprepared(&format!(
        "INSERT INTO identity_users (id, email, password_hash, created_at) VALUES \
         (1, 'li.lei@example.com', 'x', '2026-01-01T00:00:00Z'), \
         (2, '{long}@example.com', 'x', '2026-01-01T00:00:00Z'), \
         (3, '@example.com', 'x', '2026-01-01T00:00:00Z')"
    ))
    .await
    .unwrap();

    Migrator::up(&db, None).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT display_name FROM identity_users ORDER BY id",
        ))
        .await
        .unwrap();
    let names: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("", "display_name").unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["li.lei".to_owned(), "y".repeat(32), "user3".to_owned()]
    );

    // Down drops the column; up adds it again.
    Migrator::down(&db, Some(u32::try_from(after).unwrap()))
        .await
        .unwrap();
    let gone = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT display_name FROM identity_users",
        ))
        .await;
    assert!(gone.is_err());
    Migrator::up(&db, None).await.unwrap();
}
