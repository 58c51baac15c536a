//! Shops: opened by an organization's owner, one per organization, public to everyone.

use kanjian_contracts::commerce::{OpenShopInput, ShopDto, UpdateShopInput};
use kanjian_contracts::identity::OrgRole;
use kanjian_kernel::ids::{OrganizationId, ShopId};
use kanjian_kernel::text;
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode, Validation};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::Deps;
use crate::access::{self, is_unique_violation, money};
use crate::domain;
use crate::entity::shop;

pub(crate) fn dto(row: &shop::Model, actor_is_member: bool) -> Result<ShopDto> {
    Ok(ShopDto {
        id: ShopId(row.id),
        organization_id: OrganizationId(row.organization_id),
        name: row.name.clone(),
        description: row.description.clone(),
        shipping_fee: money(row.shipping_fee_minor, &row.currency)?,
        free_shipping_threshold: row.free_shipping_threshold_minor.map(|m| money(m, &row.currency)).transpose()?,
        actor_is_member,
        created_at: row.created_at,
    })
}

#[tracing::instrument(skip_all, fields(organization_id = input.organization_id.0))]
pub(crate) async fn open_shop(deps: &Deps, actor: &Actor, input: OpenShopInput) -> Result<ShopDto> {
    let user = actor.require_user()?;
    let mut validation = Validation::new();
    let name = validation.check(text::parse(&input.name, &domain::SHOP_NAME));
    let description = validation.check(text::parse(input.description.as_deref().unwrap_or(""), &domain::SHOP_DESCRIPTION));
    let currency = validation.check(domain::parse_currency(input.currency.as_deref()));
    let fee = validation.check(domain::parse_fee(input.shipping_fee_minor, "shippingFee"));
    let threshold = match input.free_shipping_threshold_minor {
        Some(m) => validation.check(domain::parse_fee(m, "freeShippingThreshold")).map(Some),
        None => Some(None),
    };
    validation.finish()?;
    let (Some(name), Some(description), Some(currency), Some(fee), Some(threshold)) = (name, description, currency, fee, threshold) else {
        return Err(Error::internal("validation passed without values"));
    };
    match deps.orgs.organization_role(input.organization_id, user).await? {
        Some(OrgRole::Owner) => {}
        // Organizations are not public: a non-member learns nothing of one.
        None => return Err(Error::not_found("organization")),
        Some(OrgRole::Agent) => return Err(Error::forbidden("only the organization's owners may open its shop")),
    }
    let now = deps.db.now();
    let inserted = shop::ActiveModel {
        organization_id: Set(input.organization_id.0),
        name: Set(name),
        description: Set(description),
        currency: Set(currency.as_str().to_owned()),
        shipping_fee_minor: Set(fee),
        free_shipping_threshold_minor: Set(threshold),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(deps.db.writer())
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::user("organizationId", UserErrorCode::AlreadyExists, "This organization already has a shop."));
        }
        Err(e) => return Err(Error::Internal(anyhow::Error::new(e).context("opening a shop"))),
    };
    tracing::info!(shop_id = row.id, "shop opened");
    dto(&row, true)
}

#[tracing::instrument(skip_all, fields(shop_id = input.shop_id.0))]
pub(crate) async fn update_shop(deps: &Deps, actor: &Actor, input: UpdateShopInput) -> Result<ShopDto> {
    let row = access::shop_as_owner(deps, actor, input.shop_id).await?;
    let mut validation = Validation::new();
    let mut active: shop::ActiveModel = row.into();
    if let Some(name) = &input.name
        && let Some(name) = validation.check(text::parse(name, &domain::SHOP_NAME))
    {
        active.name = Set(name);
    }
    if let Some(description) = &input.description
        && let Some(description) = validation.check(text::parse(description, &domain::SHOP_DESCRIPTION))
    {
        active.description = Set(description);
    }
    if let Some(fee) = input.shipping_fee_minor
        && let Some(fee) = validation.check(domain::parse_fee(fee, "shippingFee"))
    {
        active.shipping_fee_minor = Set(fee);
    }
    match input.free_shipping_threshold_minor {
        Some(Some(m)) => {
            if let Some(m) = validation.check(domain::parse_fee(m, "freeShippingThreshold")) {
                active.free_shipping_threshold_minor = Set(Some(m));
            }
        }
        Some(None) => active.free_shipping_threshold_minor = Set(None),
        None => {}
    }
    validation.finish()?;
    active.updated_at = Set(deps.db.now());
    let row = active.update(deps.db.writer()).await.context("updating a shop")?;
    dto(&row, true)
}

pub(crate) async fn shop_of_organization(deps: &Deps, actor: &Actor, organization: OrganizationId) -> Result<Option<ShopDto>> {
    let Some(row) = shop::Entity::find()
        .filter(shop::Column::OrganizationId.eq(organization.0))
        .one(deps.db.reader())
        .await
        .context("loading an organization's shop")?
    else {
        return Ok(None);
    };
    let member = access::role_in(deps, actor, &row).await?.is_some();
    Ok(Some(dto(&row, member)?))
}

pub(crate) async fn shops_by_ids(deps: &Deps, actor: &Actor, ids: &[ShopId]) -> Result<Vec<ShopDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = shop::Entity::find()
        .filter(shop::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(deps.db.reader())
        .await
        .context("loading shops")?;
    let roles = access::member_shops(deps, actor, &rows.iter().collect::<Vec<_>>()).await?;
    let rows = access::in_order_of(ids, rows, |r| ShopId(r.id));
    rows.iter().map(|r| dto(r, roles.contains_key(&r.id))).collect()
}
