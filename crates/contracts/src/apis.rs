//! The module APIs a running Kanjian offers, looked up by their trait: `apis.get::<dyn MediaApi>()`.
//! The wiring fills it as it builds each module; a module and the GraphQL schema read from it,
//! so adding a module adds no field anywhere.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use kanjian_kernel::{Error, Result};

/// Cheap to clone (one `Arc`): a request may hold its own copy.
#[derive(Clone, Default)]
pub struct Apis {
    by_trait: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    names: Arc<Vec<&'static str>>,
}

impl std::fmt::Debug for Apis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apis").field("offered", &self.names).finish()
    }
}

impl Apis {
    /// Offers `api` as `T` (usually `dyn SomeApi`). A second offer of the same trait replaces the
    /// first (tests swap in a fake).
    pub fn insert<T: ?Sized + Send + Sync + 'static>(&mut self, api: Arc<T>) {
        if Arc::make_mut(&mut self.by_trait).insert(TypeId::of::<T>(), Arc::new(api)).is_none() {
            Arc::make_mut(&mut self.names).push(std::any::type_name::<T>());
        }
    }

    /// The API offered as `T`; an internal error when no module offers it (a wiring mistake).
    pub fn get<T: ?Sized + Send + Sync + 'static>(&self) -> Result<Arc<T>> {
        self.by_trait
            .get(&TypeId::of::<T>())
            .and_then(|api| api.downcast_ref::<Arc<T>>())
            .cloned()
            .ok_or_else(|| Error::internal(format!("no module offers {}", std::any::type_name::<T>())))
    }

    /// Adds everything `other` offers.
    pub fn extend(&mut self, other: Apis) {
        let offered = Arc::make_mut(&mut self.by_trait);
        for (id, api) in other.by_trait.iter() {
            offered.insert(*id, api.clone());
        }
        let names = Arc::make_mut(&mut self.names);
        for name in other.names.iter() {
            if !names.contains(name) {
                names.push(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Greeter: Send + Sync {
        fn greet(&self) -> String;
    }
    struct Hello(&'static str);
    impl Greeter for Hello {
        fn greet(&self) -> String {
            format!("hello {}", self.0)
        }
    }
    trait Other: Send + Sync {}

    #[test]
    fn apis_are_found_by_their_trait_and_a_missing_one_is_an_internal_error() {
        let mut apis = Apis::default();
        apis.insert::<dyn Greeter>(Arc::new(Hello("world")));
        assert_eq!(apis.get::<dyn Greeter>().unwrap().greet(), "hello world");
        let missing = apis.get::<dyn Other>().err().unwrap();
        assert!(matches!(missing, Error::Internal(_)), "{missing:?}");
        let mut more = Apis::default();
        more.insert::<dyn Greeter>(Arc::new(Hello("again")));
        apis.extend(more);
        assert_eq!(apis.get::<dyn Greeter>().unwrap().greet(), "hello again");
        assert_eq!(format!("{apis:?}").matches("Greeter").count(), 1);
    }
}
