//! Channels (视频号): a user's creator profile. One per user, with a unique handle.

use kanjian_db::Db;
use kanjian_contracts::identity::{
    ChannelCreated, ChannelDto, ChannelUpdated, CreateChannelInput, UpdateChannelInput,
};
use kanjian_events::Outbox;
use kanjian_kernel::ids::{ChannelId, UserId};
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode, Validation};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    IntoActiveModel, NotSet, QueryFilter, Set, };

use crate::db::{channel_dto, in_order_of, unique_violation};
use crate::domain::{AvatarUrl, Bio, DisplayName, Handle};
use crate::entity::channel;

fn handle_taken() -> Error {
    Error::user(Handle::FIELD, UserErrorCode::Taken, "This handle is taken.")
}

fn already_has_channel() -> Error {
    Error::user(
        "",
        UserErrorCode::AlreadyExists,
        "You already have a channel.",
    )
}

/// A blank avatar URL means "no avatar".
fn parse_avatar(raw: Option<&str>) -> Option<Result<Option<AvatarUrl>, kanjian_kernel::UserError>> {
    raw.map(|raw| {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            AvatarUrl::parse(raw).map(Some)
        }
    })
}

/// Turns a unique-index violation on insert or update into the user error it stands for.
fn map_write_error(e: DbErr, what: &'static str) -> Error {
    match unique_violation(&e) {
        Some(message) if message.contains("owner") => already_has_channel(),
        Some(message) if message.contains("handle") => handle_taken(),
        _ => Error::Internal(anyhow::Error::new(e).context(what)),
    }
}

async fn handle_owner<C: ConnectionTrait>(conn: &C, handle: &Handle) -> Result<Option<i64>> {
    Ok(channel::Entity::find()
        .filter(channel::Column::Handle.eq(handle.as_str()))
        .one(conn)
        .await
        .context("looking up the handle")?
        .map(|c| c.id))
}

/// Opens the actor's channel. Emits `ChannelCreated`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, channel_id = tracing::field::Empty))]
pub async fn create_channel(
    db: &Db,
    outbox: &Outbox,
    actor: &Actor,
    input: CreateChannelInput,
) -> Result<ChannelDto> {
    let owner = actor.require_user()?;
    tracing::Span::current().record("user_id", owner.0);

    let mut validation = Validation::new();
    let handle = validation.check(Handle::parse(&input.handle));
    let display_name = validation.check(DisplayName::parse_channel(&input.display_name));
    let bio = validation.check(input.bio.as_deref().map_or(Ok(Bio::default()), Bio::parse));
    let avatar = validation.check(parse_avatar(input.avatar_url.as_deref()).unwrap_or(Ok(None)));
    validation.finish()?;
    let (Some(handle), Some(display_name), Some(bio), Some(avatar)) =
        (handle, display_name, bio, avatar)
    else {
        return Err(Error::internal("validation passed without values"));
    };

    let txn = db.begin().await.context("beginning the channel creation")?;
    let existing = channel::Entity::find()
        .filter(channel::Column::OwnerId.eq(owner.0))
        .one(&txn)
        .await
        .context("looking for the user's channel")?;
    if existing.is_some() {
        return Err(already_has_channel());
    }
    if handle_owner(&txn, &handle).await?.is_some() {
        return Err(handle_taken());
    }
    let now = db.now();
    let created = channel::ActiveModel {
        id: NotSet,
        owner_id: Set(owner.0),
        handle: Set(handle.into_inner()),
        display_name: Set(display_name.into_inner()),
        bio: Set(bio.into_inner()),
        avatar_url: Set(avatar.map(AvatarUrl::into_inner)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| map_write_error(e, "inserting the channel"))?;
    outbox
        .enqueue(
            &txn,
            &ChannelCreated {
                channel_id: ChannelId(created.id),
                owner_id: owner,
                handle: created.handle.clone(),
            },
        )
        .await?;
    txn.commit()
        .await
        .context("committing the channel creation")?;
    outbox.notify();

    tracing::Span::current().record("channel_id", created.id);
    tracing::info!(channel_id = created.id, handle = %created.handle, "channel created");
    Ok(channel_dto(created))
}

/// Changes the given fields of a channel; only its owner may. Emits `ChannelUpdated` when
/// something changed.
#[tracing::instrument(skip_all, fields(channel_id = id.0, user_id = tracing::field::Empty))]
pub async fn update_channel(
    db: &Db,
    outbox: &Outbox,
    actor: &Actor,
    id: ChannelId,
    input: UpdateChannelInput,
) -> Result<ChannelDto> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);

    let txn = db.begin().await.context("beginning the channel update")?;
    let current = channel::Entity::find_by_id(id.0)
        .one(&txn)
        .await
        .context("loading the channel")?
        .ok_or_else(|| Error::not_found("channel"))?;
    if current.owner_id != user.0 {
        tracing::warn!(
            owner_id = current.owner_id,
            "someone else tried to change a channel"
        );
        return Err(Error::forbidden("only the channel's owner may change it"));
    }

    let mut validation = Validation::new();
    let handle = input
        .handle
        .as_deref()
        .and_then(|h| validation.check(Handle::parse(h)));
    let display_name = input
        .display_name
        .as_deref()
        .and_then(|n| validation.check(DisplayName::parse_channel(n)));
    let bio = input
        .bio
        .as_deref()
        .and_then(|b| validation.check(Bio::parse(b)));
    let avatar = input
        .avatar_url
        .as_ref()
        .and_then(|avatar| validation.check(parse_avatar(avatar.as_deref()).unwrap_or(Ok(None))));
    validation.finish()?;

    let mut model = current.clone().into_active_model();
    if let Some(handle) = handle.filter(|h| h.as_str() != current.handle) {
        if handle_owner(&txn, &handle)
            .await?
            .is_some_and(|owner| owner != current.id)
        {
            return Err(handle_taken());
        }
        model.handle.set_if_not_equals(handle.into_inner());
    }
    if let Some(display_name) = display_name {
        model
            .display_name
            .set_if_not_equals(display_name.into_inner());
    }
    if let Some(bio) = bio {
        model.bio.set_if_not_equals(bio.into_inner());
    }
    if let Some(avatar) = avatar {
        model
            .avatar_url
            .set_if_not_equals(avatar.map(AvatarUrl::into_inner));
    }
    if !model.is_changed() {
        return Ok(channel_dto(current));
    }
    model.updated_at = Set(db.now());
    let updated = model
        .update(&txn)
        .await
        .map_err(|e| map_write_error(e, "updating the channel"))?;
    outbox
        .enqueue(&txn, &ChannelUpdated { channel_id: id })
        .await?;
    txn.commit()
        .await
        .context("committing the channel update")?;
    outbox.notify();

    tracing::info!(channel_id = id.0, "channel updated");
    Ok(channel_dto(updated))
}

/// Channels by id, in the order asked; ids that do not exist are left out.
#[tracing::instrument(skip_all, fields(count = ids.len()))]
pub async fn channels_by_ids(
    db: &Db,
    ids: &[ChannelId],
) -> Result<Vec<ChannelDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows = channel::Entity::find()
        .filter(channel::Column::Id.is_in(ids.iter().copied()))
        .all(db.reader())
        .await
        .context("loading channels by id")?;
    Ok(in_order_of(&ids, rows, |c| c.id)
        .into_iter()
        .map(channel_dto)
        .collect())
}

/// The channel with this handle (any case, surrounding spaces and a leading `@` ignored).
#[tracing::instrument(skip_all)]
pub async fn channel_by_handle(
    db: &Db,
    handle: &str,
) -> Result<Option<ChannelDto>> {
    let handle = handle.trim();
    let handle = handle.strip_prefix('@').unwrap_or(handle).to_lowercase();
    if handle.is_empty() || handle.len() > Handle::MAX_LEN {
        return Ok(None);
    }
    Ok(channel::Entity::find()
        .filter(channel::Column::Handle.eq(handle))
        .one(db.reader())
        .await
        .context("looking up a channel by handle")?
        .map(channel_dto))
}

/// The user's channel, if they opened one.
pub async fn channels_of_users(db: &Db, users: &[UserId]) -> Result<Vec<ChannelDto>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    Ok(channel::Entity::find()
        .filter(channel::Column::OwnerId.is_in(users.iter().map(|u| u.0)))
        .all(db.reader())
        .await
        .context("looking up users' channels")?
        .into_iter()
        .map(channel_dto)
        .collect())
}

#[tracing::instrument(skip_all, fields(user_id = user.0))]
pub async fn channel_of_user(db: &Db, user: UserId) -> Result<Option<ChannelDto>> {
    Ok(channel::Entity::find()
        .filter(channel::Column::OwnerId.eq(user.0))
        .one(db.reader())
        .await
        .context("looking up the user's channel")?
        .map(channel_dto))
}
