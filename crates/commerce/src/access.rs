//! Who may do what with a shop and its orders, and the few SQL helpers the use cases share.
//!
//! A shop is public; its management is its organization's: owners manage the shop and its
//! products, owners and agents read and ship its orders. An order is its buyer's and its shop's;
//! to anyone else it does not exist (`NOT_FOUND`, exactly as for a missing id).

use std::collections::HashMap;

use kanjian_contracts::identity::OrgRole;
use kanjian_kernel::ids::{OrganizationId, ShopId};
use kanjian_kernel::{Actor, Context, Currency, Error, Money, Result};
use sea_orm::{ConnectionTrait, EntityTrait, ExecResult, Statement, Value};

use crate::Deps;
use crate::entity::shop;

pub(crate) async fn find_shop<C: ConnectionTrait>(conn: &C, id: ShopId) -> Result<Option<shop::Model>> {
    shop::Entity::find_by_id(id.0).one(conn).await.context("loading a shop")
}

/// The actor's role in the shop's organization, if they are a member.
pub(crate) async fn role_in(deps: &Deps, actor: &Actor, shop: &shop::Model) -> Result<Option<OrgRole>> {
    match actor.user_id() {
        Some(user) => deps.orgs.organization_role(OrganizationId(shop.organization_id), user).await,
        None => Ok(None),
    }
}

/// The shop, for one of its organization's owners: `NOT_FOUND` without it, `FORBIDDEN` for
/// anyone else (a shop is public, so saying it exists hides nothing).
pub(crate) async fn shop_as_owner(deps: &Deps, actor: &Actor, id: ShopId) -> Result<shop::Model> {
    actor.require_user()?;
    let shop = find_shop(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("shop"))?;
    match role_in(deps, actor, &shop).await? {
        Some(OrgRole::Owner) => Ok(shop),
        Some(OrgRole::Agent) => Err(Error::forbidden("only the organization's owners manage its shop")),
        None => Err(Error::forbidden("only the organization's owners manage its shop")),
    }
}

/// The shop, for any member of its organization (owners and agents: they handle its orders).
pub(crate) async fn shop_as_member(deps: &Deps, actor: &Actor, id: ShopId) -> Result<shop::Model> {
    actor.require_user()?;
    let shop = find_shop(deps.db.reader(), id).await?.ok_or_else(|| Error::not_found("shop"))?;
    match role_in(deps, actor, &shop).await? {
        Some(_) => Ok(shop),
        None => Err(Error::forbidden("only the shop's owners and agents see its orders")),
    }
}

/// Which of `shops` the actor is a member of (one directory call per distinct organization).
pub(crate) async fn member_shops(deps: &Deps, actor: &Actor, shops: &[&shop::Model]) -> Result<HashMap<i64, OrgRole>> {
    let mut roles = HashMap::new();
    let Some(user) = actor.user_id() else { return Ok(roles) };
    let mut by_org: HashMap<i64, Option<OrgRole>> = HashMap::new();
    for shop in shops {
        let role = match by_org.get(&shop.organization_id) {
            Some(role) => *role,
            None => {
                let role = deps.orgs.organization_role(OrganizationId(shop.organization_id), user).await?;
                by_org.insert(shop.organization_id, role);
                role
            }
        };
        if let Some(role) = role {
            roles.insert(shop.id, role);
        }
    }
    Ok(roles)
}

pub(crate) fn currency_of(code: &str) -> Result<Currency> {
    Currency::parse(code).ok_or_else(|| Error::internal(format!("a stored currency is not a code: {code:?}")))
}

pub(crate) fn money(minor: i64, code: &str) -> Result<Money> {
    Ok(Money::new(minor, currency_of(code)?))
}

/// Runs one statement with `$n` placeholders (both backends read them).
pub(crate) async fn execute<C: ConnectionTrait>(conn: &C, sql: &str, values: Vec<Value>, what: &'static str) -> Result<ExecResult> {
    conn.execute_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, values)).await.context(what)
}

/// `ids` order kept, missing ones left out.
pub(crate) fn in_order_of<T, K: Eq + std::hash::Hash + Copy>(ids: &[K], rows: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut by_id: HashMap<K, T> = rows.into_iter().map(|row| (key(&row), row)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// A unique index turned a concurrent insert away.
pub(crate) fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
