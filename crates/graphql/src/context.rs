//! What every resolver can reach: the module APIs (schema data) and the caller (request data).

use std::sync::Arc;

use async_graphql::Context;
use kanjian_contracts::Apis;
use kanjian_kernel::Actor;

use crate::errors::top_level;

/// The module APIs the schema is built on, by their contract trait (`dyn MediaApi`): never a
/// module's internals.
#[derive(Clone, Debug)]
pub struct Services {
    pub apis: Apis,
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
    /// A module's API by its trait: `ctx.api::<dyn MediaApi>()?`.
    fn api<T: ?Sized + Send + Sync + 'static>(&self) -> async_graphql::Result<Arc<T>>;
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

    fn api<T: ?Sized + Send + Sync + 'static>(&self) -> async_graphql::Result<Arc<T>> {
        self.services().apis.get::<T>().map_err(top_level)
    }
}
