//! A room event that many viewers get alike is answered once per node.
//!
//! In a busy room a node hands most of its viewers the same batch (`RoomEvent::shared`).
//! Resolving it through GraphQL once per subscriber was most of what a batch cost (20 000
//! subscribers, 20 000 resolutions of the same comments). So the first subscriber's answer is
//! kept with the event, under the shape of what was asked (the selection with its fragments,
//! directives and variables), and every other subscriber asking for the same shape gets a
//! copy. Subscribers of one client app send the same document, so in practice one resolution
//! per batch serves them all. The shape's key is worked out once per subscription, for each
//! member of the union, when it starts ([`Shapes::of`]), not once per event.
//!
//! Only selections made of fields that read nothing but the event itself are shared
//! ([`PURE_FIELDS`]; fragments on the union's other members do not count); any other field (a
//! comment's `author`, which depends on who asks) makes the event resolve per viewer, as every
//! event of one viewer alone does.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, OnceLock};

use async_graphql::parser::types::{Directive, Field, FragmentDefinition, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{Context, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use kanjian_contracts::live::{LiveRoomEventDto, RoomEvent};

use super::LiveRoomEvent;

/// Fields of the union's members that depend on the event alone, never on who asks. A field
/// not listed here is resolved per viewer. Add one only if it reads nothing from the context.
const PURE_FIELDS: &[&str] = &[
    "__typename",
    // LiveCommentsAdded and LiveComment (not `author`: whom a viewer may see is theirs).
    "comments",
    "omitted",
    "id",
    "text",
    "authorName",
    "authorRole",
    "createdAt",
    // LiveCommentsDeleted
    "liveCommentIds",
    // LivePinnedMessageChanged and LivePinnedMessage
    "pinnedMessage",
    "pinnedAt",
    // LiveCountsChanged and LiveRoomCounts
    "counts",
    "viewersNow",
    "viewersPeak",
    "viewersTotal",
    "likes",
    // LiveProductPinned, LivePinnedProduct, LiveProductUpdated, LiveJustBought, and the
    // product's own fields that read nothing but it (not `shop`, nor a SKU's `held`, which
    // depend on who asks).
    "pinnedProduct",
    "product",
    "productId",
    "quantity",
    "at",
    "title",
    "description",
    "category",
    "imageUrls",
    "status",
    "purchaseLimit",
    "skus",
    "priceRange",
    "updatedAt",
    "specs",
    "name",
    "value",
    "price",
    "stock",
    "sold",
    "removed",
    "min",
    "max",
    "minor",
    "currency",
    "formatted",
];

/// `liveRoomEvents`' item: a [`LiveRoomEvent`] in the schema, answered once per shape when
/// it is shared.
pub struct LiveRoomEventItem {
    pub event: RoomEvent,
    /// The subscription's shapes (the same for all its events).
    pub shapes: Shapes,
}

/// A subscription's shape key for each member of the union: `None` where what it selects on
/// that member is not pure.
#[derive(Debug, Clone, Copy)]
pub struct Shapes([Option<u64>; MEMBERS.len()]);

impl Shapes {
    /// The shapes `ctx`'s field (`liveRoomEvents`) selects. Keyed with this process's random
    /// keys, so nobody can make up a document whose key collides with another's.
    pub fn of(ctx: &Context<'_>) -> Self {
        static KEYS: OnceLock<RandomState> = OnceLock::new();
        let keys = KEYS.get_or_init(RandomState::new);
        let selection = &ctx.item.node.selection_set.node;
        let variables = ctx.query_env.variables.to_string();
        Self(MEMBERS.map(|member| {
            let mut hasher = keys.build_hasher();
            hash_selection(&ctx.query_env.fragments, selection, Some(member), &mut hasher, 0)?;
            (member, &variables).hash(&mut hasher);
            Some(hasher.finish())
        }))
    }

    fn key(&self, event: &LiveRoomEventDto) -> Option<u64> {
        let member = member_name(event);
        MEMBERS.iter().position(|m| *m == member).and_then(|i| self.0[i])
    }
}

impl OutputType for LiveRoomEventItem {
    fn type_name() -> Cow<'static, str> {
        LiveRoomEvent::type_name()
    }

    fn qualified_type_name() -> String {
        LiveRoomEvent::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        LiveRoomEvent::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        let shared = self.event.answers().and_then(|answers| Some((answers, self.shapes.key(self.event.event())?)));
        if let Some((answers, key)) = shared
            && let Some(answer) = answers.get::<Value>(key)
        {
            return Ok(Value::clone(&answer));
        }
        let errors_before = query_errors(ctx);
        let value = LiveRoomEvent::from(self.event.event().clone()).resolve(ctx, field).await?;
        // An answer that came with errors is this viewer's alone (their errors are not kept).
        if let Some((answers, key)) = shared
            && query_errors(ctx) == errors_before
        {
            answers.put(key, Arc::new(value.clone()));
        }
        Ok(value)
    }
}

fn query_errors(ctx: &ContextSelectionSet<'_>) -> usize {
    ctx.query_env.errors.lock().map_or(usize::MAX, |errors| errors.len())
}

/// Fragments may not spread themselves (validation refuses cycles); the depth is a guard all
/// the same.
const MAX_DEPTH: usize = 32;

/// Hashes `set`. At the top, `member` is the union member the event is: fragments on the
/// other members add nothing to its answer and are passed over.
fn hash_selection(
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    set: &SelectionSet,
    member: Option<&str>,
    hasher: &mut impl Hasher,
    depth: usize,
) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let applies = |on: &str| member.is_none_or(|member| on == member || on == UNION);
    hasher.write_usize(set.items.len());
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let name = field.name.node.as_str();
                if !PURE_FIELDS.contains(&name) {
                    return None;
                }
                (0u8, name, field.alias.as_ref().map(|a| a.node.as_str())).hash(hasher);
                for (arg, value) in &field.arguments {
                    (arg.node.as_str(), value.node.to_string()).hash(hasher);
                }
                hash_directives(&field.directives, hasher);
                hash_selection(fragments, &field.selection_set.node, None, hasher, depth + 1)?;
            }
            Selection::FragmentSpread(spread) => {
                let spread = &spread.node;
                let fragment = fragments.get(&spread.fragment_name.node)?;
                let on = fragment.node.type_condition.node.on.node.as_str();
                if !applies(on) {
                    continue;
                }
                (1u8, spread.fragment_name.node.as_str(), on).hash(hasher);
                hash_directives(&spread.directives, hasher);
                hash_directives(&fragment.node.directives, hasher);
                hash_selection(fragments, &fragment.node.selection_set.node, member, hasher, depth + 1)?;
            }
            Selection::InlineFragment(inline) => {
                let inline = &inline.node;
                let on = inline.type_condition.as_ref().map(|t| t.node.on.node.as_str());
                if on.is_some_and(|on| !applies(on)) {
                    continue;
                }
                (2u8, on).hash(hasher);
                hash_directives(&inline.directives, hasher);
                hash_selection(fragments, &inline.selection_set.node, member, hasher, depth + 1)?;
            }
        }
    }
    Some(())
}

const UNION: &str = "LiveRoomEvent";

/// The union's members, as the schema names them.
const MEMBERS: [&str; 9] = [
    "LiveRoomChanged",
    "LiveCommentsAdded",
    "LiveCommentsDeleted",
    "LivePinnedMessageChanged",
    "LiveCountsChanged",
    "LiveViewerRemoved",
    "LiveProductPinned",
    "LiveProductUpdated",
    "LiveJustBought",
];

/// The union member an event is answered as.
fn member_name(event: &LiveRoomEventDto) -> &'static str {
    match event {
        LiveRoomEventDto::Changed(_) => MEMBERS[0],
        LiveRoomEventDto::Comments { .. } => MEMBERS[1],
        LiveRoomEventDto::CommentsDeleted { .. } => MEMBERS[2],
        LiveRoomEventDto::PinnedMessage(_) => MEMBERS[3],
        LiveRoomEventDto::Counts(_) => MEMBERS[4],
        LiveRoomEventDto::Removed => MEMBERS[5],
        LiveRoomEventDto::ProductPinned(_) => MEMBERS[6],
        LiveRoomEventDto::ProductUpdated(_) => MEMBERS[7],
        LiveRoomEventDto::JustBought { .. } => MEMBERS[8],
    }
}

fn hash_directives(directives: &[Positioned<Directive>], hasher: &mut impl Hasher) {
    hasher.write_usize(directives.len());
    for directive in directives {
        directive.node.name.node.as_str().hash(hasher);
        for (arg, value) in &directive.node.arguments {
            (arg.node.as_str(), value.node.to_string()).hash(hasher);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use async_graphql::{EmptyMutation, Object, Request, Schema, Subscription, Variables};
    use futures::{Stream, StreamExt};
    use kanjian_contracts::live::{CommentRole, LiveCommentDto, LiveRoomEventDto};
    use kanjian_kernel::ids::{LiveCommentId, LiveRoomId, UserId};
    use serde_json::json;

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn ok(&self) -> bool {
            true
        }
    }

    struct Events(RoomEvent);

    #[Subscription]
    impl Events {
        async fn events(&self, ctx: &Context<'_>) -> impl Stream<Item = LiveRoomEventItem> + use<> {
            futures::stream::iter([LiveRoomEventItem { event: self.0.clone(), shapes: Shapes::of(ctx) }])
        }
    }

    fn comments(shared: bool) -> RoomEvent {
        let comment = LiveCommentDto {
            id: LiveCommentId(7),
            room_id: LiveRoomId(1),
            author_id: UserId(2),
            author_name: "bob".into(),
            role: CommentRole::Viewer,
            text: "主播好".into(),
            created_at: kanjian_kernel::now(),
        };
        let event = LiveRoomEventDto::Comments { comments: vec![comment], omitted: 3 };
        if shared { RoomEvent::shared(event) } else { RoomEvent::own(event) }
    }

    async fn answer(event: &RoomEvent, document: &str, variables: serde_json::Value) -> serde_json::Value {
        let schema = Schema::new(Query, EmptyMutation, Events(event.clone()));
        let request = Request::new(document).variables(Variables::from_json(variables));
        let response = schema.execute_stream(request).next().await.unwrap();
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        response.data.into_json().unwrap()["events"].clone()
    }

    const PLAIN: &str = "subscription { events { __typename ... on LiveCommentsAdded { comments { id text } omitted } } }";

    #[tokio::test]
    async fn one_shape_is_answered_once_and_each_other_shape_for_itself() {
        let event = comments(true);
        let answers = event.answers().unwrap();
        let first = answer(&event, PLAIN, json!({})).await;
        assert_eq!(first["omitted"], 3);
        assert_eq!(first["comments"][0]["text"], "主播好");
        // The same document again (or laid out differently): the kept answer.
        assert_eq!(answer(&event, &PLAIN.replace(' ', "  "), json!({})).await, first);
        assert_eq!(answers.len(), 1);
        // An alias, a directive reading a variable, fragments of one name but other fields:
        // each is another shape, with an answer of its own.
        let aliased = answer(&event, "subscription { events { ... on LiveCommentsAdded { n: omitted } } }", json!({})).await;
        assert_eq!(aliased, json!({ "n": 3 }));
        const INCLUDE: &str = "subscription($x: Boolean!) { events { ... on LiveCommentsAdded { omitted @include(if: $x) } } }";
        assert_eq!(answer(&event, INCLUDE, json!({ "x": true })).await, json!({ "omitted": 3 }));
        // Exactly what resolving it for this viewer alone gives.
        let excluded = answer(&event, INCLUDE, json!({ "x": false })).await;
        assert_eq!(excluded, answer(&comments(false), INCLUDE, json!({ "x": false })).await);
        assert_ne!(excluded, json!({ "omitted": 3 }));
        let omitted = answer(&event, "subscription { events { ...F } } fragment F on LiveCommentsAdded { omitted }", json!({})).await;
        let texts = answer(&event, "subscription { events { ...F } } fragment F on LiveCommentsAdded { comments { text } }", json!({})).await;
        assert_eq!((omitted, texts), (json!({ "omitted": 3 }), json!({ "comments": [{ "text": "主播好" }] })));
        assert_eq!(answers.len(), 6);
    }

    #[tokio::test]
    async fn a_product_card_and_just_bought_are_answered_once_per_shape() {
        use kanjian_contracts::commerce::{ProductDto, ProductStatus, SkuDto};
        use kanjian_kernel::ids::{ProductId, ShopId, SkuId};
        let now = kanjian_kernel::now();
        let product = ProductDto {
            id: ProductId(3),
            shop_id: ShopId(1),
            title: "明前龙井".into(),
            description: String::new(),
            category: "茶叶".into(),
            image_urls: vec![],
            status: ProductStatus::OnShelf,
            purchase_limit: Some(2),
            skus: vec![SkuDto {
                id: SkuId(30),
                product_id: ProductId(3),
                specs: vec![],
                price: kanjian_kernel::Money::new(1990, kanjian_kernel::Currency::CNY),
                stock: 7,
                held: 1,
                sold: 2,
                removed: false,
            }],
            affiliate_commission_bps: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let card = RoomEvent::shared(LiveRoomEventDto::ProductUpdated(Box::new(product)));
        const CARD: &str = "subscription { events { ... on LiveProductUpdated { product { id title skus { price { minor formatted } stock sold } } } } }";
        let first = answer(&card, CARD, json!({})).await;
        assert_eq!(first["product"]["skus"][0], json!({ "price": { "minor": 1990, "formatted": "¥19.90" }, "stock": 7, "sold": 2 }));
        assert_eq!(answer(&card, CARD, json!({})).await, first);
        assert_eq!(card.answers().unwrap().len(), 1);
        let bought = RoomEvent::shared(LiveRoomEventDto::JustBought { product_id: ProductId(3), quantity: 2, at: now });
        let answered = answer(&bought, "subscription { events { ... on LiveJustBought { productId quantity } } }", json!({})).await;
        assert_eq!(answered["quantity"], 2);
        assert_eq!(bought.answers().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn fragments_on_other_members_do_not_count_and_an_event_of_one_viewer_is_not_kept() {
        let event = comments(true);
        let answers = event.answers().unwrap();
        let other_members = "subscription { events { ... on LiveCommentsAdded { omitted } ... on LiveRoomChanged { liveRoom { id } } ... on LiveViewerRemoved { message } } }";
        assert_eq!(answer(&event, other_members, json!({})).await, json!({ "omitted": 3 }));
        assert_eq!(answers.len(), 1);
        let own = comments(false);
        assert_eq!(answer(&own, PLAIN, json!({})).await["omitted"], 3);
        assert!(own.answers().is_none());
    }
}
