//! Email opt-outs: per person and category, set from the person's settings or from the
//! unsubscribe link of a mail (a random token stored by its hash; nothing in it is the user id
//! or can be guessed).

use kanjian_contracts::notify::{EmailCategory, EmailPreferenceDto};
use kanjian_kernel::{Actor, Context, Error, Result, UserErrorCode};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::Deps;
use crate::emails::token_hash;
use crate::entity::{preference, unsubscribe_token};

async fn save(deps: &Deps, user_id: i64, category: EmailCategory, opted_out: bool) -> Result<()> {
    preference::Entity::insert(preference::ActiveModel {
        user_id: Set(user_id),
        category: Set(category.as_str().to_owned()),
        opted_out: Set(opted_out),
        updated_at: Set(deps.db.now()),
    })
    .on_conflict(
        OnConflict::columns([preference::Column::UserId, preference::Column::Category])
            .update_columns([preference::Column::OptedOut, preference::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(deps.db.writer())
    .await
    .context("saving an email preference")?;
    Ok(())
}

/// Every optional category, with whether the actor turned it off.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn email_preferences(deps: &Deps, actor: &Actor) -> Result<Vec<EmailPreferenceDto>> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    let rows = preference::Entity::find()
        .filter(preference::Column::UserId.eq(user.0))
        .all(deps.db.reader())
        .await
        .context("loading email preferences")?;
    Ok(EmailCategory::OPTIONAL
        .iter()
        .map(|&category| EmailPreferenceDto {
            category,
            opted_out: rows.iter().any(|r| r.category == category.as_str() && r.opted_out),
        })
        .collect())
}

#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty, category = category.as_str(), opted_out))]
pub(crate) async fn set_email_opt_out(
    deps: &Deps,
    actor: &Actor,
    category: EmailCategory,
    opted_out: bool,
) -> Result<EmailPreferenceDto> {
    let user = actor.require_user()?;
    tracing::Span::current().record("user_id", user.0);
    if category.is_essential() {
        return Err(Error::user(
            "category",
            UserErrorCode::Invalid,
            "Essential mail (verification, password resets) cannot be turned off.",
        ));
    }
    save(deps, user.0, category, opted_out).await?;
    tracing::info!(user_id = user.0, category = category.as_str(), opted_out, "email preference changed");
    Ok(EmailPreferenceDto { category, opted_out })
}

/// The longest token accepted; real ones are 43 characters.
const TOKEN_MAX: usize = 128;

/// Turns off the category of the mail whose link carried `token`.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub(crate) async fn unsubscribe(deps: &Deps, token: &str) -> Result<EmailPreferenceDto> {
    let token = token.trim();
    let not_found = || Error::not_found("unsubscribe link");
    if token.is_empty() || token.len() > TOKEN_MAX {
        return Err(not_found());
    }
    let row = unsubscribe_token::Entity::find_by_id(token_hash(token))
        .one(deps.db.reader())
        .await
        .context("looking up an unsubscribe token")?
        .ok_or_else(not_found)?;
    let category = EmailCategory::parse(&row.category)
        .filter(|c| !c.is_essential())
        .ok_or_else(|| Error::internal(format!("unsubscribe token of category {:?}", row.category)))?;
    tracing::Span::current().record("user_id", row.user_id);
    save(deps, row.user_id, category, true).await?;
    tracing::info!(user_id = row.user_id, category = category.as_str(), "unsubscribed through a mail's link");
    Ok(EmailPreferenceDto { category, opted_out: true })
}
