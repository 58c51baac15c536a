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
    OrganizationMemberRemoved, RemoveMemberInput, RequestPasswordResetInput, ResetPasswordInput,
    SignUpInput, UpdateChannelInput, UpdateProfileInput, UserDto, UserProfileUpdated,
    UserSignedUp, UserVerified, VerifyEmailInput,
};
use kanjian_contracts::notify::{EmailRequested, EmailTemplate};
use sha2::Digest;
use kanjian_events::Outbox;
use kanjian_identity::{IdentityConfig, IdentityService};
use kanjian_kernel::ids::{ChannelId, OrganizationId, SessionId, UserId};
use kanjian_kernel::{Actor, Clock, Error, PageRequest, UserErrorCode};
use kanjian_db::testing::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

const PASSWORD: &str = "correct horse battery staple";

struct TestApp {
    _database: TestDatabase,
    db: DatabaseConnection,
    identity: IdentityService,
    clock: Clock,
}

/// The shared history and identity's own migrations, as the server merges them.
struct WithIdentity;

impl kanjian_migrations::MigratorTrait for WithIdentity {
    fn migrations() -> Vec<Box<dyn kanjian_migrations::MigrationTrait>> {
        let mut all = kanjian_migrations::Migrator::migrations();
        all.extend(<kanjian_identity::Identity as kanjian_module::Module>::migrations());
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }
}

/// A fresh database per test: SQLite, or PostgreSQL with `KANJIAN_TEST_DATABASE=postgres`.
async fn app_with(config: IdentityConfig) -> TestApp {
    app_at(config, Clock::system()).await
}

/// As `app_with`, reading time from `clock` (the database's and the outbox's).
async fn app_at(config: IdentityConfig, clock: Clock) -> TestApp {
    let database = TestDatabase::create().await;
    let db = kanjian_migrations::database::connect_and_migrate_with::<WithIdentity>(
        &database.url,
        &kanjian_db::DatabaseConfig::default(),
        clock.clone(),
    )
    .await
    .unwrap();
    let identity = IdentityService::new(db.clone(), Outbox::with_clock(clock.clone()), config);
    TestApp {
        _database: database,
        db: db.writer().clone(),
        identity,
        clock,
    }
}

async fn app() -> TestApp {
    app_with(IdentityConfig::default()).await
}

/// The user as the actor, for reads that show private fields to the user themself.
fn as_user(user_id: UserId) -> Actor {
    Actor::User { user_id, session_id: SessionId(0), roles: Vec::new() }
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
    // The caller is the new user: the session's user carries the private fields.
    let private = signed_up.user.private.clone().expect("the new user sees their own email");
    assert_eq!(private.email, "alice@example.com");
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

    // By id: private fields for the user themself only, whoever else asks.
    let users = app
        .identity
        .users_by_ids(&first, &[UserId(999), user_id])
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].private.as_ref().map(|p| p.email.as_str()), Some("alice@example.com"));
    let (bob, _) = app.sign_up("bob@example.com").await;
    for stranger in [bob, Actor::Anonymous] {
        let seen = app.identity.users_by_ids(&stranger, &[user_id]).await.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].id, seen[0].private.as_ref()), (user_id, None));
    }
    let logged_in = app.identity.log_in(
        LogInInput { email: "alice@example.com".into(), password: PASSWORD.into() },
        client("10.0.0.3"),
    ).await.unwrap();
    assert_eq!(logged_in.user.private, Some(private));
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
        app.identity.memberships_of(&agent, agent_id).await.unwrap(),
        vec![membership]
    );
    // Someone else's memberships are not theirs to read: the list is empty.
    assert!(app.identity.memberships_of(&other, agent_id).await.unwrap().is_empty());
    assert!(app.identity.memberships_of(&Actor::Anonymous, agent_id).await.unwrap().is_empty());

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
            .memberships_of(&agent, agent_id)
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
        self.identity.users_by_ids(&as_user(id), &[id]).await.unwrap().remove(0)
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

// ---------------------------------------------------------------------------------------------
// Email verification and password reset

const PUBLIC_URL: &str = "https://kanjian.example";

fn mail_config() -> IdentityConfig {
    IdentityConfig {
        public_url: PUBLIC_URL.into(),
        ..IdentityConfig::default()
    }
}

/// An app on a manual clock, with links to `PUBLIC_URL`.
async fn mail_app_with(config: IdentityConfig) -> TestApp {
    app_at(config, Clock::manual_from_now()).await
}

async fn mail_app() -> TestApp {
    mail_app_with(mail_config()).await
}

/// The token in a mail's link (`…?token=…`).
fn token_in(mail: &EmailRequested) -> String {
    let link = match &mail.template {
        EmailTemplate::VerifyEmail { link } | EmailTemplate::PasswordReset { link, .. } => link,
        other => panic!("not an identity mail: {other:?}"),
    };
    link.split_once("?token=").unwrap().1.to_owned()
}

fn verify(token: &str) -> VerifyEmailInput {
    VerifyEmailInput {
        token: token.into(),
    }
}

fn reset(token: &str, new_password: &str) -> ResetPasswordInput {
    ResetPasswordInput {
        token: token.into(),
        new_password: new_password.into(),
    }
}

fn forgot(email: &str) -> RequestPasswordResetInput {
    RequestPasswordResetInput {
        email: email.into(),
    }
}

const NEW_PASSWORD: &str = "a brand new passphrase";

impl TestApp {
    async fn mails(&self) -> Vec<EmailRequested> {
        self.events::<EmailRequested>().await
    }

    async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let rows = self
            .db
            .query_all_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                (0..)
                    .map_while(|i| {
                        row.try_get_by_index::<Option<String>>(i)
                            .or_else(|_| {
                                row.try_get_by_index::<Option<i64>>(i)
                                    .map(|n| n.map(|n| n.to_string()))
                            })
                            .ok()
                    })
                    .collect()
            })
            .collect()
    }

    /// Everything email verification and password reset could change: accounts (password hash,
    /// verification), tokens, sessions, log-in attempts and the outbox.
    async fn fingerprint(&self) -> Vec<Vec<Option<String>>> {
        let mut all = Vec::new();
        for sql in [
            "SELECT id, password_hash, CAST(email_verified_at AS TEXT) FROM identity_users ORDER BY id",
            "SELECT id, token_hash, purpose, CAST(used_at AS TEXT), CAST(expires_at AS TEXT) FROM identity_email_tokens ORDER BY id",
            "SELECT id, CAST(revoked_at AS TEXT) FROM identity_sessions ORDER BY id",
            "SELECT id, CAST(succeeded AS TEXT) FROM identity_login_attempts ORDER BY id",
            "SELECT id, kind FROM events_outbox ORDER BY id",
        ] {
            all.extend(self.rows(sql).await);
            all.push(vec![None]);
        }
        all
    }

    /// On PostgreSQL, the transaction that last wrote each row (`xmin`), for rows picked by
    /// `(table, condition)`; `None` on SQLite, which has no such thing.
    async fn writers(&self, rows: &[(&str, &str)]) -> Option<Vec<String>> {
        if self.db.get_database_backend() != sea_orm::DbBackend::Postgres {
            return None;
        }
        let mut out = Vec::new();
        for (table, condition) in rows {
            let found = self
                .rows(&format!(
                    "SELECT CAST(xmin AS TEXT) FROM {table} WHERE {condition}"
                ))
                .await;
            assert!(!found.is_empty(), "no row in {table} where {condition}");
            out.extend(found.into_iter().map(|r| r[0].clone().unwrap()));
        }
        Some(out)
    }

    async fn verified(&self, id: UserId) -> bool {
        self.user(id).await.private.is_some_and(|p| p.email_verified_at.is_some())
    }

    async fn sign_up_at(&self, email: &str, ip: &str) -> (UserId, String) {
        let session = self
            .identity
            .sign_up(
                SignUpInput {
                    email: email.into(),
                    password: PASSWORD.into(),
                    display_name: None,
                },
                client(ip),
            )
            .await
            .unwrap();
        (session.user.id, session.token)
    }
}

fn assert_all_same(writers: Option<Vec<String>>) {
    if let Some(writers) = writers {
        assert!(
            writers.windows(2).all(|w| w[0] == w[1]),
            "written by different transactions: {writers:?}"
        );
    }
}

#[tokio::test]
async fn sign_up_mails_a_verification_link_and_stores_only_the_hash_of_its_token() {
    let app = mail_app().await;
    let (id, _) = app.sign_up_at(" Li.Lei@Example.com ", "10.0.0.1").await;

    let mails = app.mails().await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.recipient_user, Some(id));
    assert_eq!(mail.to, "li.lei@example.com");
    assert_eq!(mail.locale, "zh-CN");
    let EmailTemplate::VerifyEmail { link } = &mail.template else {
        panic!("{mail:?}")
    };
    assert!(
        link.starts_with(&format!("{PUBLIC_URL}/verify-email?token=")),
        "{link}"
    );
    let token = token_in(mail);
    assert_eq!(token.len(), 43);
    assert!(mail.dedupe_key.starts_with("identity.verify_email:"), "{}", mail.dedupe_key);
    assert!(!app.verified(id).await);

    // The token's SHA-256 is stored, never the token.
    let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let stored = app
        .rows("SELECT token_hash, purpose, email, CAST(user_id AS TEXT) FROM identity_email_tokens")
        .await;
    assert_eq!(
        stored,
        vec![vec![
            Some(hash),
            Some("verify_email".into()),
            Some("li.lei@example.com".into()),
            Some(id.0.to_string())
        ]]
    );
    let requests = app
        .rows("SELECT purpose, email, ip FROM identity_mail_requests")
        .await;
    assert_eq!(
        requests,
        vec![vec![
            Some("verify_email".into()),
            Some("li.lei@example.com".into()),
            Some("10.0.0.1".into())
        ]]
    );
    assert!(!format!("{stored:?}{requests:?}").contains(&token));

    // The account, its token and both events were written by one transaction.
    assert_all_same(
        app.writers(&[
            ("identity_users", "true"),
            ("identity_email_tokens", "true"),
            ("events_outbox", "true"),
        ])
        .await,
    );
    assert_eq!(app.events::<UserSignedUp>().await.len(), 1);
}

#[tokio::test]
async fn a_verification_link_verifies_once_and_announces_it_in_the_same_transaction() {
    let app = mail_app().await;
    let (id, _) = app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    let token = token_in(&app.mails().await[0]);

    app.clock.advance(std::time::Duration::from_secs(60));
    let verified = app.identity.verify_email(verify(&token)).await.unwrap();
    assert_eq!(verified.id, id);
    assert_eq!(verified.private, None, "a followed link shows no private field");
    assert_eq!(app.user(id).await.private.and_then(|p| p.email_verified_at), Some(app.clock.now()));
    let announced = app.events::<UserVerified>().await;
    assert_eq!(
        announced.iter().map(|e| e.user_id).collect::<Vec<_>>(),
        vec![id]
    );
    // The verification, the spent token and the event: one transaction.
    assert_all_same(
        app.writers(&[
            ("identity_users", "true"),
            ("identity_email_tokens", "used_at IS NOT NULL"),
            ("events_outbox", "kind = 'identity.user_verified'"),
        ])
        .await,
    );

    // The same link again: refused, and nothing changes.
    let before = app.fingerprint().await;
    let e = app.identity.verify_email(verify(&token)).await.unwrap_err();
    assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Invalid)]);
    assert_eq!(app.fingerprint().await, before);

    // Verified: asking for another link is refused, and sends nothing.
    let actor = app.identity.authenticate(&app.log_in("lilei@example.com", PASSWORD, "10.0.0.1").await.unwrap()).await.unwrap();
    let e = app
        .identity
        .request_email_verification(&actor, client("10.0.0.1"))
        .await
        .unwrap_err();
    assert_eq!(codes(&e), vec![(String::new(), UserErrorCode::InvalidState)]);
    assert_eq!(app.mails().await.len(), 1);
}

#[tokio::test]
async fn expired_verification_links_are_refused_and_a_new_one_works() {
    let app = mail_app().await;
    let (id, token) = app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    let actor = app.identity.authenticate(&token).await.unwrap();
    let first = token_in(&app.mails().await[0]);

    // Twelve hours later, another link; twelve more (and a second), the first is too old.
    app.clock.advance(std::time::Duration::from_secs(12 * 3600));
    app.identity
        .request_email_verification(&actor, client("10.0.0.1"))
        .await
        .unwrap();
    let second = token_in(&app.mails().await[1]);
    assert_ne!(first, second);
    app.clock.advance(std::time::Duration::from_secs(12 * 3600 + 1));

    let before = app.fingerprint().await;
    let e = app.identity.verify_email(verify(&first)).await.unwrap_err();
    assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Expired)]);
    assert_eq!(app.fingerprint().await, before);
    assert!(!app.verified(id).await);

    app.identity.verify_email(verify(&second)).await.unwrap();
    assert!(app.verified(id).await);
    assert_eq!(app.events::<UserVerified>().await.len(), 1);
}

#[tokio::test]
async fn garbage_unknown_and_wrong_purpose_tokens_are_refused_with_nothing_changed() {
    let app = mail_app().await;
    let (id, _) = app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    let verification = token_in(&app.mails().await[0]);
    app.identity
        .request_password_reset(forgot("lilei@example.com"), client("10.0.0.1"))
        .await
        .unwrap();
    let reset_token = token_in(&app.mails().await[1]);

    let before = app.fingerprint().await;
    let unknown = "A".repeat(43);
    let tampered = format!("{}{}", &verification[..42], if verification.ends_with('A') { "B" } else { "A" });
    for bad in [
        "",
        "   ",
        "abc",
        unknown.as_str(),
        tampered.as_str(),
        &"é".repeat(43),
        "' OR 1=1; --",
        &format!("{verification}{verification}"),
        &"x".repeat(10_000),
    ] {
        let e = app.identity.verify_email(verify(bad)).await.unwrap_err();
        assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Invalid)], "{bad:?}");
        let e = app
            .identity
            .reset_password(reset(bad, NEW_PASSWORD), client("10.0.0.1"))
            .await
            .unwrap_err();
        assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Invalid)], "{bad:?}");
    }
    // A token of one purpose does not serve the other.
    let e = app.identity.verify_email(verify(&reset_token)).await.unwrap_err();
    assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Invalid)]);
    let e = app
        .identity
        .reset_password(reset(&verification, NEW_PASSWORD), client("10.0.0.1"))
        .await
        .unwrap_err();
    assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Invalid)]);
    assert_eq!(app.fingerprint().await, before);
    assert!(!app.verified(id).await);
}

#[tokio::test]
async fn one_link_used_twice_at_once_works_once() {
    let app = mail_app().await;
    app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    let token = token_in(&app.mails().await[0]);
    let (a, b) = tokio::join!(
        app.identity.verify_email(verify(&token)),
        app.identity.verify_email(verify(&token))
    );
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1, "{a:?} {b:?}");
    assert_eq!(app.events::<UserVerified>().await.len(), 1);

    app.identity
        .request_password_reset(forgot("lilei@example.com"), client("10.0.0.1"))
        .await
        .unwrap();
    let token = token_in(&app.mails().await[1]);
    let (a, b) = tokio::join!(
        app.identity.reset_password(reset(&token, NEW_PASSWORD), client("10.0.0.1")),
        app.identity.reset_password(reset(&token, "another new passphrase"), client("10.0.0.1"))
    );
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1, "{a:?} {b:?}");
    let winner = if a.is_ok() { NEW_PASSWORD } else { "another new passphrase" };
    app.log_in("lilei@example.com", winner, "10.0.0.2").await.unwrap();
}

#[tokio::test]
async fn verification_mails_are_for_signed_in_users_and_rate_limited() {
    let app = mail_app_with(IdentityConfig {
        email_verification_max_requests: 3,
        mail_request_window_secs: 600,
        ..mail_config()
    })
    .await;
    let e = app
        .identity
        .request_email_verification(&Actor::Anonymous, client("10.0.0.1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unauthenticated), "{e:?}");

    let (id, token) = app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    let actor = app.identity.authenticate(&token).await.unwrap();
    // The sign-up mail counts: two more, then the limit.
    for _ in 0..2 {
        app.clock.advance(std::time::Duration::from_secs(60));
        app.identity
            .request_email_verification(&actor, client("10.0.0.1"))
            .await
            .unwrap();
    }
    let before = app.fingerprint().await;
    let e = app
        .identity
        .request_email_verification(&actor, client("10.0.0.1"))
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after_secs } = e else {
        panic!("expected RateLimited, got {e:?}")
    };
    // The sign-up mail, 120 s ago, leaves the 600 s window in 480 s.
    assert_eq!(retry_after_secs, 480);
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(app.mails().await.len(), 3);

    // Refused requests do not count: once the oldest leaves the window, one more goes.
    app.clock.advance(std::time::Duration::from_secs(480));
    app.identity
        .request_email_verification(&actor, client("10.0.0.1"))
        .await
        .unwrap();
    let mails = app.mails().await;
    assert_eq!(mails.len(), 4);
    assert!(mails.iter().all(|m| m.recipient_user == Some(id)));
    // Every link works until one is used; then the others stop working.
    let tokens: Vec<String> = mails.iter().map(token_in).collect();
    app.identity.verify_email(verify(&tokens[2])).await.unwrap();
    for other in [&tokens[0], &tokens[1], &tokens[3]] {
        let e = app.identity.verify_email(verify(other)).await.unwrap_err();
        assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Invalid)]);
    }
    assert_eq!(app.events::<UserVerified>().await.len(), 1);
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_answers_the_same_and_enqueues_nothing() {
    let app = mail_app().await;
    let (known_id, _) = app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    let outbox_before = app.rows("SELECT id FROM events_outbox").await.len();

    let unknown = app
        .identity
        .request_password_reset(forgot("nobody@example.com"), client("10.0.0.9"))
        .await;
    assert_eq!(app.rows("SELECT id FROM events_outbox").await.len(), outbox_before);
    assert!(app.rows("SELECT id FROM identity_email_tokens WHERE purpose = 'password_reset'").await.is_empty());
    let known = app
        .identity
        .request_password_reset(forgot(" LiLei@Example.com "), client("10.0.0.9"))
        .await;
    assert!(matches!((&unknown, &known), (Ok(()), Ok(()))), "{unknown:?} {known:?}");
    assert_eq!(format!("{unknown:?}"), format!("{known:?}"));

    // Only the known email got a mail: the reset link, valid 30 minutes.
    let mails = app.mails().await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].to, "lilei@example.com");
    assert_eq!(mails[1].recipient_user, Some(known_id));
    let EmailTemplate::PasswordReset { link, expires_in_minutes } = &mails[1].template else {
        panic!("{:?}", mails[1])
    };
    assert!(link.starts_with(&format!("{PUBLIC_URL}/reset-password?token=")), "{link}");
    assert_eq!(*expires_in_minutes, 30);
    // Both requests were recorded alike; the known one names its account.
    assert_eq!(
        app.rows("SELECT email, ip, CAST(user_id AS TEXT) FROM identity_mail_requests WHERE purpose = 'password_reset' ORDER BY id")
            .await,
        vec![
            vec![Some("nobody@example.com".into()), Some("10.0.0.9".into()), None],
            vec![Some("lilei@example.com".into()), Some("10.0.0.9".into()), Some(known_id.0.to_string())],
        ]
    );
    // The token and its mail were written by one transaction.
    assert_all_same(
        app.writers(&[
            ("identity_email_tokens", "purpose = 'password_reset'"),
            ("events_outbox", "id = (SELECT MAX(id) FROM events_outbox)"),
        ])
        .await,
    );

    // A malformed email is a user error, whatever the accounts.
    for bad in ["", "not an email"] {
        let e = app
            .identity
            .request_password_reset(forgot(bad), client("10.0.0.9"))
            .await
            .unwrap_err();
        assert_eq!(codes(&e).len(), 1, "{bad:?}");
        assert_eq!(codes(&e)[0].0, "input.email", "{bad:?}");
    }
}

#[tokio::test]
async fn a_password_reset_sets_the_password_ends_every_session_and_works_once() {
    let app = mail_app().await;
    let (id, signed_up) = app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    let other_device = app.log_in("lilei@example.com", PASSWORD, "10.0.0.2").await.unwrap();
    let third_device = app.log_in("lilei@example.com", PASSWORD, "10.0.0.3").await.unwrap();
    let sessions = [signed_up, other_device, third_device];
    // Then someone guessed wrong until log-in is limited for the email.
    app.clock.advance(std::time::Duration::from_secs(1));
    for _ in 0..5 {
        let _ = app.log_in("lilei@example.com", "a wrong guess!", "10.0.0.66").await;
    }
    assert!(matches!(
        app.log_in("lilei@example.com", PASSWORD, "10.0.0.2").await,
        Err(Error::RateLimited { .. })
    ));

    app.identity
        .request_password_reset(forgot("lilei@example.com"), client("10.0.0.1"))
        .await
        .unwrap();
    let older = token_in(&app.mails().await[1]);
    app.identity
        .request_password_reset(forgot("lilei@example.com"), client("10.0.0.1"))
        .await
        .unwrap();
    let token = token_in(&app.mails().await[2]);

    // Weak or short passwords are refused, with nothing changed: the link still works after.
    let before = app.fingerprint().await;
    for (weak, code) in [
        ("short", UserErrorCode::TooShort),
        ("password1", UserErrorCode::WeakPassword),
        ("LiLei@Example.com", UserErrorCode::WeakPassword),
        ("", UserErrorCode::Required),
    ] {
        let e = app
            .identity
            .reset_password(reset(&token, weak), client("10.0.0.1"))
            .await
            .unwrap_err();
        assert_eq!(codes(&e), vec![("input.newPassword".into(), code)], "{weak:?}");
        assert_eq!(app.fingerprint().await, before, "{weak:?}");
    }
    // A bad token and a bad password are reported together.
    let e = app
        .identity
        .reset_password(reset("nope", "short"), client("10.0.0.1"))
        .await
        .unwrap_err();
    assert_eq!(
        codes(&e),
        vec![
            ("input.token".into(), UserErrorCode::Invalid),
            ("input.newPassword".into(), UserErrorCode::TooShort)
        ]
    );

    app.clock.advance(std::time::Duration::from_secs(60));
    app.identity
        .reset_password(reset(&token, NEW_PASSWORD), client("10.0.0.1"))
        .await
        .unwrap();
    // Every session ended: old tokens authenticate no more.
    for session in &sessions {
        assert!(matches!(
            app.identity.authenticate(session).await,
            Err(Error::Unauthenticated)
        ));
    }
    assert!(app.rows("SELECT id FROM identity_sessions WHERE revoked_at IS NULL").await.is_empty());
    // The old password is gone; the new one logs in at once (the reset cleared the failures).
    let e = app.log_in("lilei@example.com", PASSWORD, "10.0.0.2").await.unwrap_err();
    assert_eq!(codes(&e), vec![(String::new(), UserErrorCode::InvalidCredentials)]);
    let fresh = app.log_in("lilei@example.com", NEW_PASSWORD, "10.0.0.2").await.unwrap();
    assert_eq!(app.identity.authenticate(&fresh).await.unwrap().user_id(), Some(id));

    // The link proved the mailbox: the email is verified, announced once.
    assert!(app.verified(id).await);
    assert_eq!(app.events::<UserVerified>().await.len(), 1);
    // Password, token, sessions and event: one transaction.
    assert_all_same(
        app.writers(&[
            ("identity_users", "true"),
            ("identity_email_tokens", "purpose = 'password_reset'"),
            ("identity_sessions", "revoked_at IS NOT NULL"),
            ("events_outbox", "kind = 'identity.user_verified'"),
        ])
        .await,
    );
    // (Not a check that always passes: the failed log-ins were other transactions.)
    if let Some(writers) = app
        .writers(&[
            ("identity_users", "true"),
            ("identity_login_attempts", "succeeded = false"),
        ])
        .await
    {
        assert!(writers[1..].iter().all(|w| *w != writers[0]), "{writers:?}");
    }

    // The link works once, and the older one died with it.
    let before = app.fingerprint().await;
    for used in [&token, &older] {
        let e = app
            .identity
            .reset_password(reset(used, "yet another passphrase"), client("10.0.0.1"))
            .await
            .unwrap_err();
        assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Invalid)]);
    }
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn an_expired_reset_link_is_refused_and_changes_nothing() {
    let app = mail_app().await;
    let (_, session) = app.sign_up_at("lilei@example.com", "10.0.0.1").await;
    app.identity
        .request_password_reset(forgot("lilei@example.com"), client("10.0.0.1"))
        .await
        .unwrap();
    let token = token_in(&app.mails().await[1]);
    app.clock.advance(std::time::Duration::from_secs(30 * 60 + 1));

    let before = app.fingerprint().await;
    let e = app
        .identity
        .reset_password(reset(&token, NEW_PASSWORD), client("10.0.0.1"))
        .await
        .unwrap_err();
    assert_eq!(codes(&e), vec![("input.token".into(), UserErrorCode::Expired)]);
    assert_eq!(app.fingerprint().await, before);
    assert!(app.identity.authenticate(&session).await.is_ok());
    app.log_in("lilei@example.com", PASSWORD, "10.0.0.1").await.unwrap();
}

#[tokio::test]
async fn reset_requests_are_rate_limited_per_email_and_per_ip_whether_or_not_the_email_has_an_account() {
    let app = mail_app_with(IdentityConfig {
        password_reset_max_per_email: 2,
        password_reset_max_per_ip: 4,
        mail_request_window_secs: 600,
        ..mail_config()
    })
    .await;
    app.sign_up_at("lilei@example.com", "10.0.0.1").await;

    // Per email: known and unknown alike, from any address.
    for email in ["lilei@example.com", "nobody@example.com"] {
        for ip in ["10.0.1.1", "10.0.1.2"] {
            app.identity
                .request_password_reset(forgot(email), client(ip))
                .await
                .unwrap();
        }
        let e = app
            .identity
            .request_password_reset(forgot(email), client("10.0.1.3"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::RateLimited { retry_after_secs: 600 }),
            "{email}: {e:?}"
        );
    }
    assert_eq!(app.mails().await.len(), 3, "the sign-up mail and two resets");

    // Per IP: four requests for any emails, then the address is limited.
    for n in 0..4 {
        app.identity
            .request_password_reset(forgot(&format!("guess{n}@example.com")), client("10.0.2.1"))
            .await
            .unwrap();
    }
    app.clock.advance(std::time::Duration::from_secs(100));
    let e = app
        .identity
        .request_password_reset(forgot("guess9@example.com"), client("10.0.2.1"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimited { retry_after_secs: 500 }), "{e:?}");
    // Another address is not limited by it.
    app.identity
        .request_password_reset(forgot("guess9@example.com"), client("10.0.2.2"))
        .await
        .unwrap();
    // Once the window passes, the email is welcome again.
    app.clock.advance(std::time::Duration::from_secs(500));
    app.identity
        .request_password_reset(forgot("lilei@example.com"), client("10.0.2.1"))
        .await
        .unwrap();
    assert_eq!(app.mails().await.len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Sign-up limits, token rotation, log-out everywhere

fn signing_up(email: &str, password: &str) -> SignUpInput {
    SignUpInput { email: email.into(), password: password.into(), display_name: None }
}

#[tokio::test]
async fn sign_ups_from_one_address_are_rate_limited_write_nothing_and_come_back() {
    let app = mail_app().await;
    // The default: five an hour from one address, refilled one every twelve minutes.
    assert_eq!(IdentityConfig::default().sign_ups_per_ip, [kanjian_db::Rate::new(5, 3600)]);
    // Invalid input is refused before anything is spent.
    let e = app.identity.sign_up(signing_up("bad", "password"), client("203.0.113.9")).await.unwrap_err();
    assert!(matches!(e, Error::User(_)), "{e:?}");
    for n in 0..5 {
        app.sign_up_at(&format!("user{n}@example.com"), "203.0.113.9").await;
    }
    let before = app.fingerprint().await;
    let e = app
        .identity
        .sign_up(signing_up("user5@example.com", PASSWORD), client("203.0.113.9"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimited { retry_after_secs: 720 }), "{e:?}");
    // A taken email counts too: the limit also slows down probing for accounts.
    let e = app
        .identity
        .sign_up(signing_up("user0@example.com", PASSWORD), client("203.0.113.9"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RateLimited { .. }), "{e:?}");
    assert_eq!(app.fingerprint().await, before, "a refused sign-up writes nothing");
    // Another address is not limited by it.
    app.sign_up_at("elsewhere@example.com", "203.0.113.10").await;
    // Twelve minutes on, one more; a window on, five more.
    app.clock.advance(std::time::Duration::from_secs(720));
    app.sign_up_at("user5@example.com", "203.0.113.9").await;
    assert!(app.identity.sign_up(signing_up("user6@example.com", PASSWORD), client("203.0.113.9")).await.is_err());
    app.clock.advance(std::time::Duration::from_secs(3600));
    for n in 6..11 {
        app.sign_up_at(&format!("user{n}@example.com"), "203.0.113.9").await;
    }
    assert_eq!(app.user_count().await, 12);
}

#[tokio::test]
async fn a_rotated_token_replaces_the_old_one_at_once_with_a_later_expiry() {
    let app = app_at(IdentityConfig::default(), Clock::manual_from_now()).await;
    let (actor, old) = app.sign_up("rotate@example.com").await;
    let (_, other_device) = {
        let token = app.log_in("rotate@example.com", PASSWORD, "10.0.0.3").await.unwrap();
        (app.identity.authenticate(&token).await.unwrap(), token)
    };
    app.clock.advance(std::time::Duration::from_secs(5 * 86_400));
    let rotated = app.identity.rotate_token(&actor, client("10.0.0.4")).await.unwrap();
    assert!(rotated.token.starts_with("kj_") && rotated.token != old);
    assert_eq!(rotated.expires_at, app.clock.now() + chrono::TimeDelta::days(30));
    assert_eq!(rotated.user.private.as_ref().map(|p| p.email.as_str()), Some("rotate@example.com"));
    // The old token stops at once; the new one is the same user; other devices are untouched.
    assert!(matches!(app.identity.authenticate(&old).await, Err(Error::Unauthenticated)));
    let new_actor = app.identity.authenticate(&rotated.token).await.unwrap();
    assert_eq!(new_actor.user_id(), actor.user_id());
    assert_ne!(new_actor.session_id(), actor.session_id());
    assert!(app.identity.authenticate(&other_device).await.is_ok());
    // The old session cannot rotate again, nor can anyone anonymous.
    assert!(matches!(app.identity.rotate_token(&actor, client("10.0.0.4")).await, Err(Error::Unauthenticated)));
    assert!(matches!(app.identity.rotate_token(&Actor::Anonymous, client("10.0.0.4")).await, Err(Error::Unauthenticated)));
    // The new token outlives the old one's expiry, and then expires in its turn.
    app.clock.advance(std::time::Duration::from_secs(26 * 86_400));
    assert!(app.identity.authenticate(&other_device).await.is_err(), "log-in tokens last 30 days");
    assert!(app.identity.authenticate(&rotated.token).await.is_ok());
    app.clock.advance(std::time::Duration::from_secs(5 * 86_400));
    assert!(app.identity.authenticate(&rotated.token).await.is_err());
    assert!(matches!(app.identity.rotate_token(&new_actor, client("10.0.0.4")).await, Err(Error::Unauthenticated)));
}

#[tokio::test]
async fn one_token_rotated_twice_at_once_gives_one_new_token() {
    let app = app().await;
    let (actor, _) = app.sign_up("twice@example.com").await;
    let (a, b) = tokio::join!(
        app.identity.rotate_token(&actor, client("10.0.0.1")),
        app.identity.rotate_token(&actor, client("10.0.0.1")),
    );
    let won: Vec<_> = [a, b].into_iter().filter_map(|r| match r {
        Ok(session) => Some(session),
        Err(Error::Unauthenticated) => None,
        Err(other) => panic!("{other:?}"),
    }).collect();
    assert_eq!(won.len(), 1);
    let working = app.rows("SELECT id FROM identity_sessions WHERE revoked_at IS NULL").await;
    assert_eq!(working.len(), 1, "only the winner's session works");
    assert!(app.identity.authenticate(&won[0].token).await.is_ok());
}

#[tokio::test]
async fn log_out_everywhere_ends_every_session_of_the_user_and_only_theirs() {
    let app = app_at(IdentityConfig::default(), Clock::manual_from_now()).await;
    let (_, first) = app.sign_up("everywhere@example.com").await;
    let second = app.log_in("everywhere@example.com", PASSWORD, "10.0.0.2").await.unwrap();
    let third = app.log_in("everywhere@example.com", PASSWORD, "10.0.0.3").await.unwrap();
    let (_, stranger) = app.sign_up("stranger@example.com").await;
    let actor = app.identity.authenticate(&second).await.unwrap();
    assert_eq!(app.identity.log_out_everywhere(&actor).await.unwrap(), 3);
    for token in [&first, &second, &third] {
        assert!(matches!(app.identity.authenticate(token).await, Err(Error::Unauthenticated)));
    }
    assert!(app.identity.authenticate(&stranger).await.is_ok());
    // Nothing is left to end; anonymous callers have nothing to end.
    assert_eq!(app.identity.log_out_everywhere(&actor).await.unwrap(), 0);
    assert!(matches!(app.identity.log_out_everywhere(&Actor::Anonymous).await, Err(Error::Unauthenticated)));
    // Logging in again works, and an expired session is not counted as ended.
    let fresh = app.log_in("everywhere@example.com", PASSWORD, "10.0.0.2").await.unwrap();
    app.clock.advance(std::time::Duration::from_secs(31 * 86_400));
    let newest = app.log_in("everywhere@example.com", PASSWORD, "10.0.0.2").await.unwrap();
    let actor = app.identity.authenticate(&newest).await.unwrap();
    assert_eq!(app.identity.log_out_everywhere(&actor).await.unwrap(), 1);
    assert!(app.identity.authenticate(&fresh).await.is_err());
}
