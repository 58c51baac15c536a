//! The shopper's address book (收货地址): at most `MAX_ADDRESSES`, one of them the default.
//! Orders copy the address they ship to, so editing or deleting one never moves an order.

use kanjian_contracts::commerce::{AddressDto, AddressInput, MAX_ADDRESSES, ShippingAddressDto};
use kanjian_kernel::ids::{AddressId, UserId};
use kanjian_kernel::text;
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode, Validation};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

use crate::Deps;
use crate::access::execute;
use crate::domain;
use crate::entity::address;

fn dto(row: address::Model) -> Result<AddressDto> {
    Ok(AddressDto {
        id: AddressId(row.id),
        region: serde_json::from_str(&row.region).context("reading a stored region")?,
        recipient: row.recipient,
        phone: row.phone,
        detail: row.detail,
        postal_code: row.postal_code,
        is_default: row.is_default,
        created_at: row.created_at,
    })
}

pub(crate) fn shipping_copy(row: &address::Model) -> Result<ShippingAddressDto> {
    Ok(ShippingAddressDto {
        recipient: row.recipient.clone(),
        phone: row.phone.clone(),
        region: serde_json::from_str(&row.region).context("reading a stored region")?,
        detail: row.detail.clone(),
        postal_code: row.postal_code.clone(),
    })
}

struct Parsed {
    recipient: String,
    phone: String,
    region: String,
    detail: String,
    postal_code: Option<String>,
}

fn parse(input: &AddressInput) -> Result<Parsed> {
    let mut validation = Validation::new();
    let recipient = validation.check(text::parse(&input.recipient, &domain::RECIPIENT));
    let phone = validation.check(domain::parse_phone(&input.phone));
    let region = validation.check(domain::parse_region(&input.region));
    let detail = validation.check(text::parse(&input.detail, &domain::DETAIL));
    let postal_code = validation.check(domain::parse_postal_code(input.postal_code.as_deref()));
    validation.finish()?;
    match (recipient, phone, region, detail, postal_code) {
        (Some(recipient), Some(phone), Some(region), Some(detail), Some(postal_code)) => Ok(Parsed {
            recipient,
            phone,
            region: serde_json::to_string(&region).context("storing a region")?,
            detail,
            postal_code,
        }),
        _ => Err(Error::internal("validation passed without values")),
    }
}

/// The actor's own address; someone else's is `NOT_FOUND`, like a missing one.
pub(crate) async fn own<C: ConnectionTrait>(conn: &C, user: UserId, id: AddressId) -> Result<address::Model> {
    address::Entity::find_by_id(id.0)
        .one(conn)
        .await
        .context("loading an address")?
        .filter(|a| a.user_id == user.0)
        .ok_or_else(|| Error::not_found("address"))
}

async fn clear_default<C: ConnectionTrait>(conn: &C, user: i64, except: i64) -> Result<()> {
    execute(
        conn,
        "UPDATE commerce_addresses SET is_default = FALSE WHERE user_id = $1 AND id <> $2 AND is_default = TRUE",
        vec![user.into(), except.into()],
        "moving the default address",
    )
    .await?;
    Ok(())
}

pub(crate) async fn list(deps: &Deps, actor: &Actor) -> Result<Vec<AddressDto>> {
    let user = actor.require_user()?;
    address::Entity::find()
        .filter(address::Column::UserId.eq(user.0))
        .order_by_desc(address::Column::IsDefault)
        .order_by_desc(address::Column::Id)
        .all(deps.db.reader())
        .await
        .context("listing addresses")?
        .into_iter()
        .map(dto)
        .collect()
}

#[tracing::instrument(skip_all)]
pub(crate) async fn create(deps: &Deps, actor: &Actor, input: AddressInput) -> Result<AddressDto> {
    let user = actor.require_user()?;
    let parsed = parse(&input)?;
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to add an address")?;
    let count = address::Entity::find().filter(address::Column::UserId.eq(user.0)).count(&txn).await.context("counting addresses")?;
    if count >= MAX_ADDRESSES as u64 {
        return Err(Error::user("", UserErrorCode::LimitReached, format!("An address book holds at most {MAX_ADDRESSES} addresses; delete one first.")));
    }
    // The first address is the default whatever was asked.
    let is_default = input.is_default || count == 0;
    let row = address::ActiveModel {
        user_id: Set(user.0),
        recipient: Set(parsed.recipient),
        phone: Set(parsed.phone),
        region: Set(parsed.region),
        detail: Set(parsed.detail),
        postal_code: Set(parsed.postal_code),
        is_default: Set(is_default),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .context("adding an address")?;
    if is_default {
        clear_default(&txn, user.0, row.id).await?;
    }
    txn.commit().await.context("committing an address")?;
    dto(row)
}

#[tracing::instrument(skip_all, fields(address_id = id.0))]
pub(crate) async fn update(deps: &Deps, actor: &Actor, id: AddressId, input: AddressInput) -> Result<AddressDto> {
    let parsed = parse(&input)?;
    let txn = deps.db.begin().await.context("starting to change an address")?;
    let row = own(&txn, actor.require_user()?, id).await?;
    let user = row.user_id;
    // Unsetting the default leaves the book without one only if asked for another; keep it.
    let is_default = input.is_default || row.is_default;
    let mut active: address::ActiveModel = row.into();
    active.recipient = Set(parsed.recipient);
    active.phone = Set(parsed.phone);
    active.region = Set(parsed.region);
    active.detail = Set(parsed.detail);
    active.postal_code = Set(parsed.postal_code);
    active.is_default = Set(is_default);
    active.updated_at = Set(deps.db.now());
    let row = active.update(&txn).await.context("changing an address")?;
    if is_default {
        clear_default(&txn, user, row.id).await?;
    }
    txn.commit().await.context("committing an address")?;
    dto(row)
}

#[tracing::instrument(skip_all, fields(address_id = id.0))]
pub(crate) async fn delete(deps: &Deps, actor: &Actor, id: AddressId) -> Result<()> {
    let txn = deps.db.begin().await.context("starting to delete an address")?;
    let row = own(&txn, actor.require_user()?, id).await?;
    address::Entity::delete_by_id(row.id).exec(&txn).await.context("deleting an address")?;
    if row.is_default {
        // The newest remaining address becomes the default.
        if let Some(next) = address::Entity::find()
            .filter(address::Column::UserId.eq(row.user_id))
            .order_by_desc(address::Column::Id)
            .one(&txn)
            .await
            .context("finding the next default address")?
        {
            let mut active: address::ActiveModel = next.into();
            active.is_default = Set(true);
            active.update(&txn).await.context("moving the default address")?;
        }
    }
    txn.commit().await.context("committing an address deletion")?;
    Ok(())
}
