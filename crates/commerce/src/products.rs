//! Products and their SKUs: created and changed by the shop's owners, seen by everyone while
//! ON_SHELF and by the shop's members always (until DELETED).
//!
//! A SKU's stock only ever moves by conditional writes (`stock = stock + d WHERE stock + d >= 0`),
//! so a merchant restocking never overwrites units an order held a moment before.

use std::collections::HashMap;

use kanjian_contracts::commerce::{
    CreateProductInput, ProductChanged, ProductDto, ProductStatus, SkuChanged, SkuDto, SpecValue, UpdateProductInput, UpdateSkuInput,
};
use kanjian_kernel::ids::{ProductId, ShopId, SkuId};
use kanjian_kernel::text;
use kanjian_kernel::{Actor, Context, Error, Page, PageRequest, Result, UserErrorCode, Validation};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::Deps;
use crate::access::{self, execute, money};
use crate::domain;
use crate::entity::{affiliate_offer, product, shop, sku};

pub(crate) fn status_of(row: &product::Model) -> Result<ProductStatus> {
    ProductStatus::parse(&row.status).ok_or_else(|| Error::internal(format!("product {} has unknown status {}", row.id, row.status)))
}

pub(crate) fn specs_of(raw: &str) -> Result<Vec<SpecValue>> {
    serde_json::from_str(raw).context("reading stored specs")
}

pub(crate) fn images_of(row: &product::Model) -> Result<Vec<String>> {
    serde_json::from_str(&row.image_urls).context("reading stored image URLs")
}

fn sku_dto(row: &sku::Model) -> Result<SkuDto> {
    Ok(SkuDto {
        id: SkuId(row.id),
        product_id: ProductId(row.product_id),
        specs: specs_of(&row.specs)?,
        price: money(row.price_minor, &row.currency)?,
        stock: row.stock,
        held: row.held,
        sold: row.sold,
        removed: row.removed,
    })
}

/// DTOs of products with their SKUs (removed SKUs only for members).
pub(crate) async fn dtos<C: ConnectionTrait>(conn: &C, rows: Vec<product::Model>, members_of: &(dyn Fn(i64) -> bool + Sync)) -> Result<Vec<ProductDto>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut skus = sku::Entity::find()
        .filter(sku::Column::ProductId.is_in(rows.iter().map(|r| r.id)))
        .order_by_asc(sku::Column::Id)
        .all(conn)
        .await
        .context("loading SKUs")?;
    crate::stock::with_moves(conn, &mut skus).await?;
    let mut by_product: HashMap<i64, Vec<sku::Model>> = HashMap::new();
    for s in skus {
        by_product.entry(s.product_id).or_default().push(s);
    }
    let offers: HashMap<i64, i64> = affiliate_offer::Entity::find()
        .filter(affiliate_offer::Column::ProductId.is_in(rows.iter().map(|r| r.id)))
        .all(conn)
        .await
        .context("loading affiliate offers")?
        .into_iter()
        .map(|o| (o.product_id, o.commission_bps))
        .collect();
    rows.into_iter()
        .map(|row| {
            let member = members_of(row.shop_id);
            let skus = by_product
                .remove(&row.id)
                .unwrap_or_default()
                .iter()
                .filter(|s| member || !s.removed)
                .map(sku_dto)
                .collect::<Result<Vec<_>>>()?;
            Ok(ProductDto {
                id: ProductId(row.id),
                shop_id: ShopId(row.shop_id),
                status: status_of(&row)?,
                image_urls: images_of(&row)?,
                title: row.title,
                description: row.description,
                category: row.category,
                purchase_limit: row.purchase_limit,
                skus,
                affiliate_commission_bps: offers.get(&row.id).copied(),
                created_at: row.created_at,
                updated_at: row.updated_at,
                version: row.version,
            })
        })
        .collect()
}

pub(crate) async fn member_dto(deps: &Deps, row: product::Model) -> Result<ProductDto> {
    dtos(deps.db.writer(), vec![row], &|_| true).await?.pop().ok_or_else(|| Error::internal("a product vanished while mapping it"))
}

/// SKUs by id with their products, each keyed by id (missing ones left out): what pricing a
/// cart or an order starts from.
pub(crate) async fn skus_with_products<C: ConnectionTrait>(
    conn: &C,
    skus: impl IntoIterator<Item = i64>,
) -> Result<(HashMap<i64, sku::Model>, HashMap<i64, product::Model>)> {
    let skus: HashMap<i64, sku::Model> = sku::Entity::find()
        .filter(sku::Column::Id.is_in(skus))
        .all(conn)
        .await
        .context("loading SKUs")?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let products: HashMap<i64, product::Model> = product::Entity::find()
        .filter(product::Column::Id.is_in(skus.values().map(|s| s.product_id)))
        .all(conn)
        .await
        .context("loading products")?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok((skus, products))
}

pub(crate) async fn find_product<C: ConnectionTrait>(conn: &C, id: ProductId) -> Result<Option<product::Model>> {
    product::Entity::find_by_id(id.0).one(conn).await.context("loading a product")
}

/// The product for one of its shop's owners; a deleted product is gone for them too.
pub(crate) async fn product_as_owner(deps: &Deps, actor: &Actor, id: ProductId) -> Result<(shop::Model, product::Model)> {
    actor.require_user()?;
    let row = find_product(deps.db.reader(), id)
        .await?
        .filter(|p| p.status != ProductStatus::Deleted.as_str())
        .ok_or_else(|| Error::not_found("product"))?;
    let shop = access::find_shop(deps.db.reader(), ShopId(row.shop_id)).await?.ok_or_else(|| Error::internal("a product without its shop"))?;
    match access::role_in(deps, actor, &shop).await? {
        Some(kanjian_contracts::identity::OrgRole::Owner) => Ok((shop, row)),
        Some(_) => Err(Error::forbidden("only the organization's owners manage its products")),
        // An unlisted product is hidden from non-members: it does not exist for them.
        None if row.status != ProductStatus::OnShelf.as_str() => Err(Error::not_found("product")),
        None => Err(Error::forbidden("only the organization's owners manage its products")),
    }
}

#[tracing::instrument(skip_all, fields(shop_id = input.shop_id.0, product_id = tracing::field::Empty))]
pub(crate) async fn create_product(deps: &Deps, actor: &Actor, input: CreateProductInput) -> Result<ProductDto> {
    let mut validation = Validation::new();
    let title = validation.check(text::parse(&input.title, &domain::TITLE));
    let description = validation.check(text::parse(input.description.as_deref().unwrap_or(""), &domain::DESCRIPTION));
    let category = validation.check(text::parse(&input.category, &domain::CATEGORY));
    let images = validation.check(domain::parse_image_urls(&input.image_urls));
    let limit = validation.check(domain::parse_purchase_limit(input.purchase_limit));
    let mut skus = Vec::with_capacity(input.skus.len());
    for sku in &input.skus {
        let specs = validation.check(domain::parse_specs(&sku.specs));
        let price = validation.check(domain::parse_price(sku.price_minor, "skus.price"));
        let stock = validation.check(domain::parse_stock(sku.stock, "skus.stock"));
        if let (Some(specs), Some(price), Some(stock)) = (specs, price, stock) {
            skus.push((specs, price, stock));
        }
    }
    if skus.len() == input.skus.len() {
        validation.check(domain::check_sku_set(&skus.iter().map(|s| s.0.clone()).collect::<Vec<_>>()));
    }
    validation.finish()?;
    let (Some(title), Some(description), Some(category), Some(images), Some(limit)) = (title, description, category, images, limit) else {
        return Err(Error::internal("validation passed without values"));
    };
    let shop = access::shop_as_owner(deps, actor, input.shop_id).await?;
    let now = deps.db.now();
    let status = if input.on_shelf { ProductStatus::OnShelf } else { ProductStatus::OffShelf };
    let txn = deps.db.begin().await.context("starting to create a product")?;
    let row = product::ActiveModel {
        shop_id: Set(shop.id),
        title: Set(title),
        description: Set(description),
        category: Set(category),
        image_urls: Set(serde_json::to_string(&images).context("storing image URLs")?),
        status: Set(status.as_str().to_owned()),
        purchase_limit: Set(limit),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .context("creating a product")?;
    tracing::Span::current().record("product_id", row.id);
    for (specs, price, stock) in skus {
        sku::ActiveModel {
            product_id: Set(row.id),
            shop_id: Set(shop.id),
            specs: Set(serde_json::to_string(&specs).context("storing specs")?),
            currency: Set(shop.currency.clone()),
            price_minor: Set(price),
            stock: Set(stock),
            held: Set(0),
            sold: Set(0),
            removed: Set(false),
            version: Set(1),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .context("creating a SKU")?;
    }
    txn.commit().await.context("committing a new product")?;
    tracing::info!("product created");
    member_dto(deps, row).await
}

#[tracing::instrument(skip_all, fields(product_id = input.product_id.0))]
pub(crate) async fn update_product(deps: &Deps, actor: &Actor, input: UpdateProductInput) -> Result<ProductDto> {
    let (_, row) = product_as_owner(deps, actor, input.product_id).await?;
    let mut validation = Validation::new();
    let version = row.version;
    let mut active: product::ActiveModel = row.into();
    if let Some(title) = &input.title
        && let Some(title) = validation.check(text::parse(title, &domain::TITLE))
    {
        active.title = Set(title);
    }
    if let Some(description) = &input.description
        && let Some(description) = validation.check(text::parse(description, &domain::DESCRIPTION))
    {
        active.description = Set(description);
    }
    if let Some(category) = &input.category
        && let Some(category) = validation.check(text::parse(category, &domain::CATEGORY))
    {
        active.category = Set(category);
    }
    if let Some(images) = &input.image_urls
        && let Some(images) = validation.check(domain::parse_image_urls(images))
    {
        active.image_urls = Set(serde_json::to_string(&images).context("storing image URLs")?);
    }
    if let Some(limit) = input.purchase_limit
        && let Some(limit) = validation.check(domain::parse_purchase_limit(limit))
    {
        active.purchase_limit = Set(limit);
    }
    validation.finish()?;
    active.updated_at = Set(deps.db.now());
    active.version = Set(version + 1);
    let txn = deps.db.begin().await.context("starting to update a product")?;
    let row = active.update(&txn).await.context("updating a product")?;
    emit_changed(deps, &txn, &row, None).await?;
    txn.commit().await.context("committing a product")?;
    deps.outbox.notify();
    member_dto(deps, row).await
}

#[tracing::instrument(skip_all, fields(product_id = id.0, status = status.as_str()))]
pub(crate) async fn set_status(deps: &Deps, actor: &Actor, id: ProductId, status: ProductStatus) -> Result<ProductDto> {
    let (_, row) = product_as_owner(deps, actor, id).await?;
    let txn = deps.db.begin().await.context("starting to change a product's status")?;
    // A conditional write: a product deleted meanwhile stays deleted.
    let done = execute(
        &txn,
        "UPDATE commerce_products SET status = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND status <> 'DELETED'",
        vec![status.as_str().into(), deps.db.now().into(), row.id.into()],
        "changing a product's status",
    )
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("product"));
    }
    let row = find_product(&txn, id).await?.ok_or_else(|| Error::not_found("product"))?;
    emit_changed(deps, &txn, &row, None).await?;
    txn.commit().await.context("committing a product's status")?;
    deps.outbox.notify();
    tracing::info!("product status changed");
    member_dto(deps, row).await
}

/// `commerce.product_changed` for `row` as it is now, in `conn`'s transaction.
pub(crate) async fn emit_changed<C: ConnectionTrait>(deps: &Deps, conn: &C, row: &product::Model, channel: Option<kanjian_kernel::ids::ChannelId>) -> Result<()> {
    deps.outbox
        .enqueue(
            conn,
            &ProductChanged { product_id: ProductId(row.id), shop_id: ShopId(row.shop_id), status: status_of(row)?, channel_id: channel, version: row.version },
        )
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(sku_id = input.sku_id.0))]
pub(crate) async fn update_sku(deps: &Deps, actor: &Actor, input: UpdateSkuInput) -> Result<ProductDto> {
    let row = sku::Entity::find_by_id(input.sku_id.0).one(deps.db.reader()).await.context("loading a SKU")?;
    let row = row.ok_or_else(|| Error::not_found("SKU"))?;
    let (shop, product) = product_as_owner(deps, actor, ProductId(row.product_id)).await.map_err(|e| match e {
        Error::NotFound(_) => Error::not_found("SKU"),
        other => other,
    })?;
    let mut validation = Validation::new();
    let price = input.price_minor.and_then(|p| validation.check(domain::parse_price(p, "price")));
    if let Some(delta) = input.stock_delta
        && delta.abs() > domain::MAX_STOCK
    {
        validation.push(kanjian_kernel::UserError::new("stockDelta", UserErrorCode::TooLong, "This stock change is too large."));
    }
    validation.finish()?;
    if row.removed {
        return Err(Error::user("skuId", UserErrorCode::InvalidState, "This SKU was removed; it cannot change any more."));
    }
    let now = deps.db.now();
    let txn = deps.db.begin().await.context("starting to change a SKU")?;
    if let Some(price) = price {
        execute(
            &txn,
            "UPDATE commerce_skus SET price_minor = $1, updated_at = $2, version = version + 1 WHERE id = $3",
            vec![price.into(), now.into(), row.id.into()],
            "repricing a SKU",
        )
        .await?;
    }
    if let Some(delta) = input.stock_delta.filter(|d| *d != 0) {
        let done = execute(
            &txn,
            "UPDATE commerce_skus SET stock = stock + $1, updated_at = $2, version = version + 1 \
             WHERE id = $3 AND stock + $1 >= 0 AND stock + $1 <= $4",
            vec![delta.into(), now.into(), row.id.into(), domain::MAX_STOCK.into()],
            "restocking a SKU",
        )
        .await?;
        if done.rows_affected() == 0 {
            let current = sku::Entity::find_by_id(row.id).one(&txn).await.context("loading a SKU")?.map_or(0, |s| s.stock);
            return Err(Error::user(
                "stockDelta",
                UserErrorCode::InsufficientStock,
                format!("Only {current} units are on sale now (others are held by unpaid orders or sold); the stock cannot go below zero."),
            ));
        }
    }
    if input.remove {
        execute(
            &txn,
            "UPDATE commerce_skus SET removed = TRUE, updated_at = $1, version = version + 1 WHERE id = $2",
            vec![now.into(), row.id.into()],
            "removing a SKU",
        )
        .await?;
    }
    let changed = sku::Entity::find_by_id(row.id).one(&txn).await.context("loading a SKU")?.ok_or_else(|| Error::internal("a SKU vanished"))?;
    if changed.version != row.version {
        deps.outbox
            .enqueue(
                &txn,
                &SkuChanged {
                    sku_id: SkuId(changed.id),
                    product_id: ProductId(changed.product_id),
                    shop_id: ShopId(shop.id),
                    price: money(changed.price_minor, &changed.currency)?,
                    stock: if changed.removed { 0 } else { changed.stock },
                    version: changed.version,
                },
            )
            .await?;
    }
    txn.commit().await.context("committing a SKU change")?;
    deps.outbox.notify();
    tracing::info!("SKU changed");
    member_dto(deps, product).await
}

fn after_id(page: &PageRequest) -> Result<Option<i64>> {
    page.after_key::<i64>()
}

async fn page_of(deps: &Deps, shop: ShopId, statuses: &[ProductStatus], page: PageRequest, member: bool) -> Result<Page<ProductDto>> {
    let limit = page.limit();
    let after = after_id(&page)?;
    let mut query = product::Entity::find()
        .filter(product::Column::ShopId.eq(shop.0))
        .filter(product::Column::Status.is_in(statuses.iter().map(|s| s.as_str())));
    if let Some(after) = after {
        query = query.filter(product::Column::Id.lt(after));
    }
    let rows = query.order_by_desc(product::Column::Id).limit(u64::from(limit) + 1).all(deps.db.reader()).await.context("listing products")?;
    let rows = dtos(deps.db.reader(), rows, &|_| member).await?;
    Ok(Page::from_rows(rows, limit, after.is_some(), |p| p.id.0))
}

pub(crate) async fn shop_products(deps: &Deps, actor: &Actor, shop: ShopId, page: PageRequest) -> Result<Page<ProductDto>> {
    access::shop_as_member(deps, actor, shop).await.map_err(|e| match e {
        Error::Forbidden(_) => Error::forbidden("only the shop's owners and agents see its whole catalog"),
        other => other,
    })?;
    page_of(deps, shop, &[ProductStatus::OnShelf, ProductStatus::OffShelf], page, true).await
}

pub(crate) async fn products_of_shop(deps: &Deps, actor: &Actor, shop: ShopId, page: PageRequest) -> Result<Page<ProductDto>> {
    let row = access::find_shop(deps.db.reader(), shop).await?.ok_or_else(|| Error::not_found("shop"))?;
    let member = access::role_in(deps, actor, &row).await?.is_some();
    page_of(deps, shop, &[ProductStatus::OnShelf], page, member).await
}

pub(crate) async fn products_by_ids(deps: &Deps, actor: &Actor, ids: &[ProductId]) -> Result<Vec<ProductDto>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = product::Entity::find()
        .filter(product::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .filter(product::Column::Status.ne(ProductStatus::Deleted.as_str()))
        .all(deps.db.reader())
        .await
        .context("loading products")?;
    let shop_ids: Vec<i64> = rows.iter().map(|r| r.shop_id).collect();
    let shops = shop::Entity::find().filter(shop::Column::Id.is_in(shop_ids)).all(deps.db.reader()).await.context("loading shops")?;
    let roles = access::member_shops(deps, actor, &shops.iter().collect::<Vec<_>>()).await?;
    let rows: Vec<product::Model> =
        rows.into_iter().filter(|r| r.status == ProductStatus::OnShelf.as_str() || roles.contains_key(&r.shop_id)).collect();
    let rows = access::in_order_of(ids, rows, |r| ProductId(r.id));
    dtos(deps.db.reader(), rows, &|shop| roles.contains_key(&shop)).await
}
