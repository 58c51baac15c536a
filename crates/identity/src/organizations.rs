//! Organizations (merchants) and their members. Owners manage members; agents take
//! customer-service consultations (in another module). An organization always keeps an owner.

use kanjian_db::Db;
use kanjian_contracts::identity::{
    AddMemberInput, CreateOrganizationInput, MembershipDto, OrgRole, OrganizationDto,
    OrganizationMemberAdded, OrganizationMemberRemoved, RemoveMemberInput,
};
use kanjian_events::Outbox;
use kanjian_kernel::ids::{OrganizationId, UserId};
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait,
    NotSet, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, };

use crate::db::{
    in_order_of, membership_dto, organization_dto, role_from_str, role_to_str, unique_violation,
};
use crate::domain::{Email, OrganizationName};
use crate::entity::{membership, organization, user};

fn already_member() -> Error {
    Error::user(
        Email::FIELD,
        UserErrorCode::AlreadyExists,
        "This account is already a member.",
    )
}

async fn membership_of<C: ConnectionTrait>(
    conn: &C,
    organization: OrganizationId,
    user: UserId,
) -> Result<Option<membership::Model>> {
    membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization.0))
        .filter(membership::Column::UserId.eq(user.0))
        .one(conn)
        .await
        .context("looking up a membership")
}

/// Locks the organization's row (PostgreSQL `FOR UPDATE`; SQLite has one writer anyway) so
/// membership changes of one organization happen one at a time, then checks that `actor` owns
/// it. An organization that does not exist is owned by no one: `Forbidden` either way.
async fn lock_as_owner<C: ConnectionTrait>(
    conn: &C,
    organization: OrganizationId,
    actor: UserId,
) -> Result<()> {
    organization::Entity::find_by_id(organization.0)
        .lock_exclusive()
        .one(conn)
        .await
        .context("locking the organization")?;
    let role = membership_of(conn, organization, actor).await?;
    match role.map(|m| role_from_str(&m.role)).transpose()? {
        Some(OrgRole::Owner) => Ok(()),
        _ => Err(Error::forbidden(
            "only an owner of the organization may manage its members",
        )),
    }
}

/// Creates an organization with the actor as its first owner. Emits `OrganizationMemberAdded`
/// for that owner.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, organization_id = tracing::field::Empty))]
pub async fn create_organization(
    db: &Db,
    outbox: &Outbox,
    actor: &Actor,
    input: CreateOrganizationInput,
) -> Result<OrganizationDto> {
    let owner = actor.require_user()?;
    tracing::Span::current().record("user_id", owner.0);
    let name = OrganizationName::parse(&input.name).map_err(|e| Error::User(vec![e]))?;

    let now = db.now();
    let txn = db
        .begin()
        .await
        .context("beginning the organization creation")?;
    let org = organization::ActiveModel {
        id: NotSet,
        name: Set(name.into_inner()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await
    .context("inserting the organization")?;
    membership::ActiveModel {
        id: NotSet,
        organization_id: Set(org.id),
        user_id: Set(owner.0),
        role: Set(role_to_str(OrgRole::Owner).to_owned()),
        added_at: Set(now),
    }
    .insert(&txn)
    .await
    .context("inserting the first owner")?;
    outbox
        .enqueue(
            &txn,
            &OrganizationMemberAdded {
                organization_id: OrganizationId(org.id),
                user_id: owner,
                role: OrgRole::Owner,
            },
        )
        .await?;
    txn.commit()
        .await
        .context("committing the organization creation")?;
    outbox.notify();

    tracing::Span::current().record("organization_id", org.id);
    tracing::info!(organization_id = org.id, "organization created");
    Ok(organization_dto(org))
}

/// Adds the account with the given email to the organization; owners only. Emits
/// `OrganizationMemberAdded`.
#[tracing::instrument(skip_all, fields(organization_id = input.organization_id.0, role = ?input.role))]
pub async fn add_member(
    db: &Db,
    outbox: &Outbox,
    actor: &Actor,
    input: AddMemberInput,
) -> Result<MembershipDto> {
    let by = actor.require_user()?;
    let organization_id = input.organization_id;

    let txn = db.begin().await.context("beginning the member addition")?;
    lock_as_owner(&txn, organization_id, by).await?;
    let email = Email::parse(&input.email).map_err(|e| Error::User(vec![e]))?;
    let member = user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(&txn)
        .await
        .context("looking up the account to add")?
        .ok_or_else(|| {
            Error::user(
                Email::FIELD,
                UserErrorCode::Invalid,
                "No account uses this email address; ask them to sign up first.",
            )
        })?;
    if membership_of(&txn, organization_id, UserId(member.id))
        .await?
        .is_some()
    {
        return Err(already_member());
    }
    let added = membership::ActiveModel {
        id: NotSet,
        organization_id: Set(organization_id.0),
        user_id: Set(member.id),
        role: Set(role_to_str(input.role).to_owned()),
        added_at: Set(db.now()),
    }
    .insert(&txn)
    .await;
    let added = match added {
        Ok(added) => added,
        Err(e) if unique_violation(&e).is_some() => return Err(already_member()),
        Err(e) => return Err(e).context("inserting the membership"),
    };
    outbox
        .enqueue(
            &txn,
            &OrganizationMemberAdded {
                organization_id,
                user_id: UserId(member.id),
                role: input.role,
            },
        )
        .await?;
    txn.commit()
        .await
        .context("committing the member addition")?;
    outbox.notify();

    tracing::info!(
        organization_id = organization_id.0,
        user_id = member.id,
        by = by.0,
        "member added"
    );
    membership_dto(added)
}

/// Removes a member; owners only, and the last owner stays. Emits `OrganizationMemberRemoved`.
#[tracing::instrument(skip_all, fields(organization_id = input.organization_id.0, user_id = input.user_id.0))]
pub async fn remove_member(
    db: &Db,
    outbox: &Outbox,
    actor: &Actor,
    input: RemoveMemberInput,
) -> Result<()> {
    let by = actor.require_user()?;
    let RemoveMemberInput {
        organization_id,
        user_id,
    } = input;

    let txn = db.begin().await.context("beginning the member removal")?;
    lock_as_owner(&txn, organization_id, by).await?;
    let target = membership_of(&txn, organization_id, user_id)
        .await?
        .ok_or_else(|| Error::not_found("membership"))?;
    if role_from_str(&target.role)? == OrgRole::Owner {
        let owners = membership::Entity::find()
            .filter(membership::Column::OrganizationId.eq(organization_id.0))
            .filter(membership::Column::Role.eq(role_to_str(OrgRole::Owner)))
            .count(&txn)
            .await
            .context("counting the owners")?;
        if owners <= 1 {
            return Err(Error::user(
                "userId",
                UserErrorCode::InvalidState,
                "The last owner cannot be removed; make someone else an owner first.",
            ));
        }
    }
    target
        .delete(&txn)
        .await
        .context("deleting the membership")?;
    outbox
        .enqueue(
            &txn,
            &OrganizationMemberRemoved {
                organization_id,
                user_id,
            },
        )
        .await?;
    txn.commit()
        .await
        .context("committing the member removal")?;
    outbox.notify();

    tracing::info!(
        organization_id = organization_id.0,
        user_id = user_id.0,
        by = by.0,
        "member removed"
    );
    Ok(())
}

/// Organizations by id, in the order asked; ids that do not exist are left out.
#[tracing::instrument(skip_all, fields(count = ids.len()))]
pub async fn organizations_by_ids(
    db: &Db,
    ids: &[OrganizationId],
) -> Result<Vec<OrganizationDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows = organization::Entity::find()
        .filter(organization::Column::Id.is_in(ids.iter().copied()))
        .all(db.reader())
        .await
        .context("loading organizations by id")?;
    Ok(in_order_of(&ids, rows, |o| o.id)
        .into_iter()
        .map(organization_dto)
        .collect())
}

/// A page of the organization's members in the order they were added; members only.
#[tracing::instrument(skip_all, fields(organization_id = organization.0))]
pub async fn members(
    db: &Db,
    actor: &Actor,
    organization: OrganizationId,
    page: PageRequest,
) -> Result<Page<MembershipDto>> {
    let user = actor.require_user()?;
    if membership_of(db.reader(), organization, user).await?.is_none() {
        return Err(Error::forbidden(
            "only members may see an organization's members",
        ));
    }
    let limit = page.limit();
    let after: Option<i64> = page.after_key()?;
    let mut query = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization.0))
        .order_by_asc(membership::Column::Id)
        .limit(u64::from(limit) + 1);
    if let Some(after) = after {
        query = query.filter(membership::Column::Id.gt(after));
    }
    let rows = query.all(db.reader()).await.context("loading a page of members")?;
    let rows = rows
        .into_iter()
        .map(|m| Ok((m.id, membership_dto(m)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |(id, _)| *id).map(|(_, dto)| dto))
}

/// Every organization the user belongs to, oldest membership first; for the user themself
/// only (empty for anyone else).
#[tracing::instrument(skip_all, fields(user_id = user.0))]
pub async fn memberships_of(db: &Db, actor: &Actor, user: UserId) -> Result<Vec<MembershipDto>> {
    if actor.user_id() != Some(user) {
        return Ok(Vec::new());
    }
    membership::Entity::find()
        .filter(membership::Column::UserId.eq(user.0))
        .order_by_asc(membership::Column::Id)
        .all(db.reader())
        .await
        .context("loading the user's memberships")?
        .into_iter()
        .map(membership_dto)
        .collect()
}

/// The user's role in the organization, if they are a member.
#[tracing::instrument(skip_all, fields(organization_id = organization.0, user_id = user.0))]
pub async fn role_of(
    db: &Db,
    organization: OrganizationId,
    user: UserId,
) -> Result<Option<OrgRole>> {
    membership_of(db.reader(), organization, user)
        .await?
        .map(|m| role_from_str(&m.role))
        .transpose()
}
