//! The embedded engine on its own: filters, sorts, facets, idempotent changes, refused
//! documents and rebuilds, with documents written directly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use kanjian_search::analysis::Analyzer;
use kanjian_search::index::tantivy::TantivyIndex;
use kanjian_search::index::{Change, DocKey, DocKind, IndexQuery, SearchDocument, SearchIndex, Sort};

fn product(id: i64, title: &str, price: i64, popularity: i64, published_at: i64) -> SearchDocument {
    SearchDocument {
        kind: DocKind::Product,
        id,
        title: title.into(),
        body: String::new(),
        owner_id: 0,
        channel_id: None,
        category: Some(if id % 2 == 0 { "茶叶" } else { "茶具" }.into()),
        price: Some(price),
        popularity,
        published_at,
        live: false,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    analyzer: Arc<Analyzer>,
    index: Arc<TantivyIndex>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let analyzer = Arc::new(Analyzer::new().unwrap());
    let index = Arc::new(TantivyIndex::open(dir.path(), analyzer.clone()).unwrap());
    Fixture { _dir: dir, analyzer, index }
}

impl Fixture {
    fn query(&self, q: &str) -> IndexQuery {
        IndexQuery { facets: true, ..IndexQuery::new(self.analyzer.plan(q, false).unwrap(), 20) }
    }

    async fn ids(&self, query: IndexQuery) -> Vec<i64> {
        self.index.search(&query).await.unwrap().hits.into_iter().map(|h| h.doc.id).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_ranges_categories_and_sorts() {
    let f = fixture();
    let docs = vec![
        product(1, "青瓷茶杯", 1_500, 10, 300),
        product(2, "明前龙井茶", 9_900, 50, 100),
        product(3, "紫砂茶壶", 29_900, 5, 200),
        product(4, "普洱茶饼", 4_900, 80, 400),
    ];
    f.index.apply(docs.into_iter().map(Change::Upsert).collect(), 4).await.unwrap();
    let in_range = f.ids(IndexQuery { min_price: Some(1_500), max_price: Some(9_900), ..f.query("茶") }).await;
    let mut sorted = in_range.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 4], "bounds are inclusive");
    assert_eq!(f.ids(IndexQuery { sort: Sort::Newest, ..f.query("茶") }).await, [4, 1, 3, 2]);
    assert_eq!(f.ids(IndexQuery { sort: Sort::Popular, ..f.query("茶") }).await, [4, 2, 1, 3]);
    let tea = f.index.search(&IndexQuery { categories: vec!["茶叶".into()], count: true, ..f.query("茶") }).await.unwrap();
    assert_eq!(tea.total, Some(2));
    // Facets ignore the category filter: they say what each choice gives.
    let mut categories = tea.facets.categories.clone();
    categories.sort();
    assert_eq!(categories, [("茶具".to_owned(), 2), ("茶叶".to_owned(), 2)]);
    // A page past the end is empty, the total still right.
    let far = f.index.search(&IndexQuery { offset: 10, count: true, ..f.query("茶") }).await.unwrap();
    assert!(far.hits.is_empty());
    assert_eq!(far.total, Some(4));
    // Not asked, nothing is counted.
    assert_eq!(f.index.search(&f.query("茶")).await.unwrap().total, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_idempotent_and_remember_how_far_they_go() {
    let f = fixture();
    assert_eq!(f.index.applied_through().await.unwrap(), 0);
    let change = Change::Upsert(product(1, "青瓷茶杯", 1_500, 10, 300));
    f.index.apply(vec![change.clone(), change], 7).await.unwrap();
    assert_eq!(f.index.count().await.unwrap(), 1);
    assert_eq!(f.index.applied_through().await.unwrap(), 7);
    f.index.apply(vec![Change::Delete(DocKey::new(DocKind::Product, 1)), Change::Delete(DocKey::new(DocKind::Product, 99))], 9).await.unwrap();
    assert_eq!(f.index.count().await.unwrap(), 0);
    assert_eq!(f.index.applied_through().await.unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_over_its_limits_is_refused_with_the_field_named() {
    let f = fixture();
    let long = product(1, &"茶".repeat(201), 1, 0, 0);
    let refused = f.index.apply(vec![Change::Upsert(long)], 1).await.unwrap_err();
    let chain = match refused {
        kanjian_kernel::Error::Internal(cause) => format!("{cause:#}"),
        other => panic!("{other:?}"),
    };
    assert!(chain.contains("title") && chain.contains("200"), "{chain}");
    // Nothing of the batch was kept.
    assert_eq!(f.index.applied_through().await.unwrap(), 0);
    assert_eq!(f.index.count().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_serves_the_old_copy_until_it_is_finished() {
    let f = fixture();
    f.index.apply(vec![Change::Upsert(product(1, "青瓷茶杯", 1_500, 10, 300))], 3).await.unwrap();
    let mut rebuild = f.index.rebuild().await.unwrap();
    rebuild.add(vec![product(2, "明前龙井茶", 9_900, 50, 100)]).await.unwrap();
    assert_eq!(f.ids(f.query("茶")).await, [1], "the old copy answers meanwhile");
    rebuild.finish(5).await.unwrap();
    assert_eq!(f.ids(f.query("茶")).await, [2]);
    assert_eq!(f.index.applied_through().await.unwrap(), 5);
    // Reopened (a restart), the rebuilt copy is the one served.
    drop(f.index);
    let reopened = Arc::new(TantivyIndex::open(f._dir.path(), f.analyzer.clone()).unwrap());
    assert_eq!(reopened.applied_through().await.unwrap(), 5);
    assert_eq!(reopened.count().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_in_an_older_format_is_started_again_empty() {
    let dir = tempfile::tempdir().unwrap();
    // What an earlier version left: generation 1 with another schema, and changes through 40.
    let mut old = tantivy::schema::Schema::builder();
    let title = old.add_text_field("title", tantivy::schema::TEXT);
    let old_index = tantivy::Index::create_in_dir(
        {
            std::fs::create_dir_all(dir.path().join("gen-1")).unwrap();
            dir.path().join("gen-1")
        },
        old.build(),
    )
    .unwrap();
    let mut writer: tantivy::IndexWriter = old_index.writer(15_000_000).unwrap();
    writer.add_document(tantivy::doc!(title => "青瓷茶杯")).unwrap();
    let mut commit = writer.prepare_commit().unwrap();
    commit.set_payload(r#"{"through":40}"#);
    commit.commit().unwrap();
    drop(writer);
    std::fs::write(dir.path().join("current"), "1").unwrap();

    let analyzer = Arc::new(Analyzer::new().unwrap());
    let index = Arc::new(TantivyIndex::open(dir.path(), analyzer.clone()).unwrap());
    // Nothing applied: the indexer sends every document again.
    assert_eq!(index.applied_through().await.unwrap(), 0);
    assert_eq!(index.count().await.unwrap(), 0);
    assert!(!dir.path().join("gen-1").exists(), "the old copy is removed");
    index.apply(vec![Change::Upsert(product(1, "青瓷茶杯", 1_500, 10, 300))], 40).await.unwrap();
    let found = index.search(&IndexQuery::new(analyzer.plan("茶杯", false).unwrap(), 10)).await.unwrap();
    assert_eq!(found.hits.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_found_as_typed_ranks_above_its_words_apart() {
    let f = fixture();
    // The words apart are the more popular and the more recent: only the phrase can lift the
    // contiguous title above them.
    let apart = SearchDocument { kind: DocKind::Video, price: None, category: None, ..product(1, "连衣裙 夏季新款 红色", 0, 900, 200) };
    let together = SearchDocument { kind: DocKind::Video, price: None, category: None, ..product(2, "夏季红色连衣裙", 0, 1, 100) };
    f.index.apply(vec![Change::Upsert(apart), Change::Upsert(together)], 2).await.unwrap();
    assert_eq!(f.ids(f.query("红色连衣裙")).await, [2, 1], "both found, the contiguous one first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_title_holding_the_query_ranks_above_a_body_holding_it() {
    let f = fixture();
    let in_body = SearchDocument { body: "配一只青瓷茶杯".into(), ..product(1, "龙井礼盒", 0, 900, 200) };
    let in_title = product(2, "青瓷茶杯", 0, 1, 100);
    f.index.apply(vec![Change::Upsert(in_body), Change::Upsert(in_title)], 2).await.unwrap();
    assert_eq!(f.ids(f.query("茶杯")).await, [2, 1], "both found, the title first though less popular");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_the_most_popular_matches_across_segments_and_deletions() {
    let f = fixture();
    // Three commits (three segments), popularity scattered across them.
    let popularity = |id: i64| (id * 37) % 101;
    for (batch, ids) in [(1..=20), (21..=40), (41..=60)].into_iter().enumerate() {
        let docs = ids.map(|id| Change::Upsert(product(id, &format!("茶杯 第{id}号"), 0, popularity(id), 0))).collect();
        f.index.apply(docs, batch as i64 + 1).await.unwrap();
    }
    // The most popular match is deleted, another is updated to the top.
    let mut expected: Vec<i64> = (1..=60).collect();
    let most_popular = *expected.iter().max_by_key(|&&id| popularity(id)).unwrap();
    f.index.apply(vec![Change::Delete(DocKey::new(DocKind::Product, most_popular))], 4).await.unwrap();
    f.index.apply(vec![Change::Upsert(product(7, "茶杯 第7号", 0, 500, 0))], 5).await.unwrap();
    expected.retain(|&id| id != most_popular);
    expected.sort_by_key(|&id| (std::cmp::Reverse(if id == 7 { 500 } else { popularity(id) }), id));
    for sort in [Sort::Relevance, Sort::Popular] {
        let page = f.ids(IndexQuery { offset: 5, limit: 10, sort, ..f.query("茶杯") }).await;
        assert_eq!(page, expected[5..15], "{sort:?}");
        let first = f.ids(IndexQuery { limit: 5, sort, ..f.query("茶杯") }).await;
        assert_eq!(first, expected[..5], "{sort:?}");
    }
}
