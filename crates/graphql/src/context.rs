//! What every resolver can reach: the module APIs (schema data) and the caller (request data).

use std::sync::Arc;

use async_graphql::Context;
use kanjian_contracts::identity::IdentityApi;
use kanjian_contracts::media::MediaApi;
use kanjian_contracts::social::SocialApi;
use kanjian_kernel::Actor;

/// The module APIs the schema is built on. Only contracts: never a module's internals.
#[derive(Clone)]
pub struct Services {
    pub identity: Arc<dyn IdentityApi>,
    pub media: Arc<dyn MediaApi>,
    pub social: Arc<dyn SocialApi>,
    /// Prefix for the relative file URLs modules return, e.g. `http://localhost:8080`.
    pub public_url: String,
}

impl Services {
    pub fn absolute_url(&self, path: &str) -> String {
        format!("{}{}", self.public_url.trim_end_matches('/'), path)
    }
}

pub(crate) trait ContextExt {
    fn services(&self) -> &Services;
    fn actor(&self) -> &Actor;
}

static ANONYMOUS: Actor = Actor::Anonymous;

impl ContextExt for Context<'_> {
    fn services(&self) -> &Services {
        // The schema is always built with `Services` (see `build_schema`).
        self.data_unchecked::<Services>()
    }

    fn actor(&self) -> &Actor {
        self.data_opt::<Actor>().unwrap_or(&ANONYMOUS)
    }
}
