//! Field errors propagate to the nearest nullable parent, as the spec's "Handling Field Errors"
//! says. async-graphql leaves a failed field's key out of its object instead: a client then
//! sees `{ organization: { name } }` where the spec promises `{ organization: null }`, and
//! typed clients (Relay, Apollo, codegen) read a missing key as a broken response.
//!
//! After a request runs, each error's path is followed through the document and the schema's
//! types: the failed field, if nullable, becomes `null`; if not, its nearest nullable ancestor
//! does (or `data` itself, when every field on the way is non-null).

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet, ServiceDocument, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, PathSegment, Positioned, Value};

/// The output types of the schema: each type's fields and their types.
pub(crate) struct TypeIndex {
    fields: HashMap<String, HashMap<String, Type>>,
    roots: [Option<String>; 3],
}

impl TypeIndex {
    pub fn from_sdl(sdl: &str) -> Self {
        let mut fields = HashMap::new();
        if let Ok(ServiceDocument { definitions }) = async_graphql::parser::parse_schema(sdl) {
            for definition in definitions {
                let TypeSystemDefinition::Type(t) = definition else { continue };
                let defined = match &t.node.kind {
                    TypeKind::Object(o) => &o.fields,
                    TypeKind::Interface(i) => &i.fields,
                    _ => continue,
                };
                let of_type: HashMap<String, Type> =
                    defined.iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone())).collect();
                fields.insert(t.node.name.node.to_string(), of_type);
            }
        }
        // async-graphql names its roots after the Rust types: Query, Mutation, Subscription.
        let root = |name: &str| fields.contains_key(name).then(|| name.to_owned());
        let roots = [root("Query"), root("Mutation"), root("Subscription")];
        Self { fields, roots }
    }

    fn field(&self, ty: &str, name: &str) -> Option<&Type> {
        if name == "__typename" {
            return None;
        }
        self.fields.get(ty)?.get(name)
    }
}

/// Nulls what the spec says a field error nulls, in `response.data`.
pub(crate) fn propagate(
    types: &TypeIndex,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    response: &mut async_graphql::Response,
) {
    if response.errors.is_empty() || matches!(response.data, Value::Null) {
        return;
    }
    let Some((kind, selection)) = operation(document, operation_name) else { return };
    let root = match kind {
        OperationType::Query => &types.roots[0],
        OperationType::Mutation => &types.roots[1],
        OperationType::Subscription => &types.roots[2],
    };
    let Some(root) = root else { return };
    let paths: Vec<Vec<PathSegment>> = response.errors.iter().map(|e| e.path.clone()).filter(|p| !p.is_empty()).collect();
    for path in paths {
        let Some(nullable) = nullability(types, &document.fragments, root, selection, &path) else { continue };
        // The deepest nullable position along the path, the failed field included.
        match nullable.iter().rposition(|n| *n) {
            Some(at) => set_null(&mut response.data, &path[..=at]),
            None => response.data = Value::Null,
        }
    }
}

fn operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<(OperationType, &'a SelectionSet)> {
    let op = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    Some((op.node.ty, &op.node.selection_set.node))
}

/// For each segment of `path`, whether the value there may be null; `None` when the path cannot
/// be followed (it then changes nothing).
fn nullability(
    types: &TypeIndex,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    root: &str,
    selection: &SelectionSet,
    path: &[PathSegment],
) -> Option<Vec<bool>> {
    let mut out = Vec::with_capacity(path.len());
    let mut parent_type = root.to_owned();
    let mut selection = selection;
    // The type of the value at the current position, as lists are stepped into.
    let mut current: Option<Type> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let (name, in_type, sub) = find_field(types, fragments, &parent_type, selection, key, 0)?;
                let ty = types.field(&in_type, &name)?.clone();
                out.push(ty.nullable);
                parent_type = named(&ty).to_owned();
                selection = sub;
                current = Some(ty);
            }
            PathSegment::Index(_) => {
                let BaseType::List(item) = &current.as_ref()?.base else { return None };
                out.push(item.nullable);
                current = Some((**item).clone());
            }
        }
    }
    Some(out)
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(item) => named(item),
    }
}

/// The field whose response key is `key` in `selection` (through fragments): its name, the type
/// it was selected on, and its own selection.
fn find_field<'a>(
    types: &TypeIndex,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    on_type: &str,
    selection: &'a SelectionSet,
    key: &str,
    depth: usize,
) -> Option<(String, String, &'a SelectionSet)> {
    if depth > 32 {
        return None;
    }
    for item in &selection.items {
        let found = match &item.node {
            Selection::Field(field) if field.node.response_key().node.as_str() == key => {
                let name = field.node.name.node.to_string();
                // Selected on an interface, found on it; the object's own fields otherwise.
                types.field(on_type, &name)?;
                Some((name, on_type.to_owned(), &field.node.selection_set.node))
            }
            Selection::Field(_) => None,
            Selection::InlineFragment(inline) => {
                let on = inline.node.type_condition.as_ref().map_or(on_type, |c| c.node.on.node.as_str());
                find_field(types, fragments, on, &inline.node.selection_set.node, key, depth + 1)
            }
            Selection::FragmentSpread(spread) => fragments.get(&spread.node.fragment_name.node).and_then(|f| {
                find_field(types, fragments, f.node.type_condition.node.on.node.as_str(), &f.node.selection_set.node, key, depth + 1)
            }),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Sets the value at `path` to null, when its parent is there.
fn set_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut at = data;
    for segment in parents {
        at = match (segment, at) {
            (PathSegment::Field(key), Value::Object(map)) => match map.get_mut(key.as_str()) {
                Some(v) => v,
                None => return,
            },
            (PathSegment::Index(i), Value::List(items)) => match items.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match (last, at) {
        (PathSegment::Field(key), Value::Object(map)) => {
            map.insert(Name::new(key), Value::Null);
        }
        (PathSegment::Index(i), Value::List(items)) => {
            if let Some(v) = items.get_mut(*i) {
                *v = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{ServerError, value};

    const SDL: &str = "type Query { organization(id: ID!): Organization viewer: User! videos: [Video!]! maybe: [Video] }
        type Organization { name: String! members: Members! viewerRole: String }
        type Members { count: Int! }
        type User { id: ID! email: String }
        type Video { id: ID! title: String! }";

    fn run(query: &str, data: Value, path: Vec<PathSegment>) -> Value {
        let types = TypeIndex::from_sdl(SDL);
        let document = async_graphql::parser::parse_query(query).unwrap();
        let mut response = async_graphql::Response::new(data);
        let mut error = ServerError::new("refused", None);
        error.path = path;
        response.errors.push(error);
        propagate(&types, &document, None, &mut response);
        response.data
    }

    fn field(key: &str) -> PathSegment {
        PathSegment::Field(key.to_owned())
    }

    #[test]
    fn a_failed_non_null_field_nulls_its_nearest_nullable_parent() {
        let data = run("{ organization(id: 1) { name members { count } } }", value!({ "organization": { "name": "茶" } }), vec![field("organization"), field("members")]);
        assert_eq!(data, value!({ "organization": null }));
        // Through an alias and a fragment.
        let data = run("{ org: organization(id: 1) { ...F } } fragment F on Organization { people: members { count } }", value!({ "org": {} }), vec![field("org"), field("people")]);
        assert_eq!(data, value!({ "org": null }));
    }

    #[test]
    fn a_failed_nullable_field_is_null_and_non_null_chains_reach_data() {
        let data = run("{ organization(id: 1) { name viewerRole } }", value!({ "organization": { "name": "茶" } }), vec![field("organization"), field("viewerRole")]);
        assert_eq!(data, value!({ "organization": { "name": "茶", "viewerRole": null } }));
        // viewer: User! and videos: [Video!]!: nothing nullable on the way, so data is null.
        let data = run("{ viewer { id } videos { id } }", value!({ "videos": [] }), vec![field("viewer")]);
        assert_eq!(data, Value::Null);
        let data = run("{ videos { id title } }", value!({ "videos": [{ "id": "1" }] }), vec![field("videos"), PathSegment::Index(0), field("title")]);
        assert_eq!(data, Value::Null);
        // [Video]: the item is nullable, so only it is nulled.
        let data = run("{ maybe { id title } }", value!({ "maybe": [{ "id": "1" }, { "id": "2", "title": "t" }] }), vec![field("maybe"), PathSegment::Index(0), field("title")]);
        assert_eq!(data, value!({ "maybe": [null, { "id": "2", "title": "t" }] }));
    }
}
