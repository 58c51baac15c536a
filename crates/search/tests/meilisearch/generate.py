"""Writes the recorded Meilisearch exchanges (*.json beside this file) that tests/meilisearch.rs
replays. Run from anywhere: python3 crates/search/tests/meilisearch/generate.py

Shapes follow Meilisearch's API reference and the snapshots of its own HTTP tests (each exchange
names both in its "source"). The document tokens below were produced by the adapter and checked
by decoding each one (kind, hexadecimal code points or letters, terminator) back to its text.
"""
import json, os, copy
OUT = os.path.dirname(os.path.abspath(__file__))
TERMS = json.loads(r"""{
 "农业银行": "g1x4e1az g1x519cz g1x884cz g1x94f6z g2x4e1ax94f6z g2x519cx4e1az g2x94f6x884cz i1ny0 i1nyy0 i1nyyh0 i1nyyx0 i1yh0 i1yx0 i1yy0 i1yyh0 i1yyx0 p1hang0 p1heng0 p1nong0 p1xing0 p1ye0 p1yin0 p2nong1ye0 p2ye1yin0 p2yin1hang0 p2yin1heng0 p2yin1xing0",
 "本田雅阁": "g1x672cz g1x7530z g1x9601z g1x96c5z g2x672cx7530z g2x7530x96c5z g2x96c5x9601z i1bt0 i1bty0 i1btyg0 i1ty0 i1tyg0 i1yg0 p1ben0 p1ge0 p1tian0 p1ya0 p2ben1tian0 p2tian1ya0 p2ya1ge0",
 "清华大学": "g1x534ez g1x5927z g1x5b66z g1x6e05z g2x534ex5927z g2x5927x5b66z g2x6e05x534ez i1dx0 i1hd0 i1hdx0 i1ht0 i1htx0 i1qh0 i1qhd0 i1qhdx0 i1qht0 i1qhtx0 i1tx0 p1da0 p1dai0 p1hua0 p1qing0 p1tai0 p1xue0 p2da1xue0 p2dai1xue0 p2hua1da0 p2hua1dai0 p2hua1tai0 p2qing1hua0 p2tai1xue0"
}""")

T0, T1, T2 = "2026-07-24T05:50:01.104571Z", "2026-07-24T05:50:01.106012Z", "2026-07-24T05:50:01.118349Z"
DOCS_REF = "https://www.meilisearch.com/docs/reference/api/"
SRC = "meilisearch/meilisearch "

def err(code, message, typ="invalid_request"):
    return {"message": message, "code": code, "type": typ, "link": "https://docs.meilisearch.com/errors#" + code}

def summarized(uid, typ, index="kanjian"):
    return {"taskUid": uid, "indexUid": index, "status": "enqueued", "type": typ, "enqueuedAt": T0}

def task(uid, status, typ, details, error=None, index="kanjian"):
    done = status in ("succeeded", "failed")
    return {"uid": uid, "batchUid": uid if status != "enqueued" else None, "indexUid": index, "status": status, "type": typ,
            "canceledBy": None, "details": details, "error": error,
            "duration": "PT0.012278S" if done else None, "enqueuedAt": T0,
            "startedAt": T1 if status != "enqueued" else None, "finishedAt": T2 if done else None}

TASK_SRC = DOCS_REF + "tasks#task-object ; " + SRC + "crates/meilisearch/tests/documents/add_documents.rs (snapshots of GET /tasks/{uid}: enqueued, succeeded, failed)"
SUMMARY_SRC = DOCS_REF + "tasks#summarized-task-object ; " + SRC + "crates/meilisearch/tests/documents/add_documents.rs (202 snapshots: taskUid, indexUid, status, type, enqueuedAt)"

def ex(note, source, method, path, status, response, body=None, body_contains=None):
    req = {"method": method, "path": path}
    if body is not None: req["body"] = body
    if body_contains is not None: req["body_contains"] = body_contains
    return {"note": note, "source": source, "request": req, "response": {"status": status, "body": response}}

def poll(uid, typ, details, statuses=("succeeded",), error=None, index="kanjian", why="waits for the task"):
    out = []
    for st in statuses:
        out.append(ex(f"{why} ({st})", TASK_SRC, "GET", f"/tasks/{uid}", 200,
                      task(uid, st, typ, details if st != "enqueued" or typ != "documentAdditionOrUpdate" else dict(details, indexedDocuments=None),
                           error if st == "failed" else None, index)))
    return out

DISPLAYED = ["key","kind","id","title","body","owner_id","channel_id","category","price","popularity","published_at","live","folded_title","folded_body","through"]
COMPUTED = ["title_terms","body_terms","folded_title","folded_body"]
SETTINGS = {
    "rankingRules": ["sort","words","typo","proximity","attribute","exactness","live:desc","popularity:desc"],
    "filterableAttributes": ["kind","category","price","owner_id"],
    "sortableAttributes": ["published_at","popularity","live"],
    "searchableAttributes": ["title_terms","title","body_terms","body"],
    "displayedAttributes": DISPLAYED,
    "pagination": {"maxTotalHits": 1000},
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "count"}},
    "typoTolerance": {"enabled": True, "disableOnAttributes": COMPUTED, "disableOnWords": [],
                      "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
    "proximityPrecision": "byAttribute",
    "localizedAttributes": [{"locales": ["cmn"], "attributePatterns": ["title","body"]},
                            {"locales": ["eng"], "attributePatterns": ["title_terms","body_terms"]}],
}
SETTINGS_SRC = DOCS_REF + "settings#update-settings (body: rankingRules, filterableAttributes, sortableAttributes, searchableAttributes, displayedAttributes, pagination, faceting, typoTolerance, proximityPrecision, localizedAttributes)"
# GET /indexes/{uid}/settings of a new index: crates/meilisearch/tests/settings/get_settings.rs (get_settings, secrets_are_hidden_in_settings)
DEFAULT_SETTINGS = {
    "displayedAttributes": ["*"], "searchableAttributes": ["*"], "filterableAttributes": [], "sortableAttributes": [],
    "rankingRules": ["words","typo","proximity","attributeRank","sort","wordPosition","exactness"],
    "stopWords": [], "nonSeparatorTokens": [], "separatorTokens": [], "dictionary": [], "synonyms": {},
    "distinctAttribute": None, "proximityPrecision": "byWord",
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}, "disableOnWords": [], "disableOnAttributes": [], "disableOnNumbers": False},
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
    "pagination": {"maxTotalHits": 1000}, "embedders": {}, "searchCutoffMs": None, "localizedAttributes": None,
    "facetSearch": True, "prefixSearch": "indexingTime",
}
APPLIED_SETTINGS = dict(DEFAULT_SETTINGS)
APPLIED_SETTINGS.update(copy.deepcopy(SETTINGS))
APPLIED_SETTINGS["typoTolerance"]["disableOnNumbers"] = False
# Meilisearch keeps these as sets and returns them sorted (meilisearch-types settings.rs: BTreeSet).
APPLIED_SETTINGS["typoTolerance"]["disableOnAttributes"] = sorted(COMPUTED)
APPLIED_SETTINGS["sortableAttributes"] = sorted(SETTINGS["sortableAttributes"])
DEFAULT_SETTINGS_SRC = DOCS_REF + "settings#get-settings ; " + SRC + "crates/meilisearch/tests/settings/get_settings.rs (get_settings: every default of a new index)"

def not_found_index(uid):
    return err("index_not_found", f"Index `{uid}` not found.")
INDEX_NOT_FOUND_SRC = DOCS_REF + "indexes#get-one-index ; " + DOCS_REF.replace("api/", "errors/error_codes#index_not_found") + " ; " + SRC + "crates/meilisearch/tests/index/get_index.rs (error_get_unexisting_index)"

def ensure(uid, exists, applied, first_task):
    out = []
    if exists:
        out.append(ex("looks the index up: it exists", DOCS_REF + "indexes#get-one-index ; " + SRC + "crates/meilisearch/tests/index/get_index.rs (uid, primaryKey, createdAt, updatedAt)",
                      "GET", f"/indexes/{uid}", 200, {"uid": uid, "createdAt": "2026-07-01T08:00:00.000000Z", "updatedAt": T2, "primaryKey": "key"}))
    else:
        out.append(ex("looks the index up: not there yet", INDEX_NOT_FOUND_SRC, "GET", f"/indexes/{uid}", 404, not_found_index(uid)))
        out.append(ex("creates it with `key` as primary key", DOCS_REF + "indexes#create-an-index ; " + SUMMARY_SRC,
                      "POST", "/indexes", 202, summarized(first_task, "indexCreation", uid), body={"uid": uid, "primaryKey": "key"}))
        out += poll(first_task, "indexCreation", {"primaryKey": "key"}, index=uid, why="waits for the index creation")
    out.append(ex("reads the settings to compare", DEFAULT_SETTINGS_SRC, "GET", f"/indexes/{uid}/settings", 200,
                  APPLIED_SETTINGS if applied else DEFAULT_SETTINGS))
    if not applied:
        out.append(ex("applies the Chinese settings (exact body)", SETTINGS_SRC + " ; " + SUMMARY_SRC, "PATCH", f"/indexes/{uid}/settings", 202,
                      summarized(first_task + 1, "settingsUpdate", uid), body=SETTINGS))
        out += poll(first_task + 1, "settingsUpdate", SETTINGS, statuses=("processing", "succeeded"), index=uid, why="waits for the settings task")
    return out

def stored(kind, id_, title, folded_title=None, owner=1, category=None, price=None, popularity=0, published=0, live=False, channel=None, body=""):
    key = {"video": "v", "channel": "c", "live_room": "l", "product": "p"}[kind] + f"-{id_}"
    return {"kind": kind, "id": id_, "title": title, "body": body, "owner_id": owner, "channel_id": channel, "category": category,
            "price": price, "popularity": popularity, "published_at": published, "live": live, "key": key,
            "folded_title": folded_title if folded_title is not None else title, "folded_body": body,
            "title_terms": TERMS.get(title, "TODO"), "body_terms": ""}

def marker(n):
    return {"key": "kanjian-through", "through": n}

DOC_ADD_SRC = DOCS_REF + "documents#add-or-replace-documents ; " + SUMMARY_SRC
MARKER_SRC = DOCS_REF + "documents#get-one-document ; " + SRC + "crates/meilisearch/tests/documents/get_documents.rs (get_document: the document's displayed fields)"
DOC_NOT_FOUND_SRC = DOCS_REF + "documents#get-one-document ; " + SRC + "crates/meilisearch/tests/documents/get_documents.rs (error_get_unexisting_document)"
STATS_SRC = DOCS_REF + "stats#get-stats-of-an-index ; " + SRC + "crates/meilisearch/tests/stats/mod.rs (index stats snapshot: numberOfDocuments, rawDocumentDbSize, avgDocumentSize, isIndexing, numberOfEmbeddings, numberOfEmbeddedDocuments, fieldDistribution)"
SEARCH_SRC = DOCS_REF + "multi_search (federation: offset, limit, facetsByIndex, mergeFacets; queries: indexUid, q, filter, sort, attributesToSearchOn, attributesToRetrieve, matchingStrategy, locales) ; " + SRC + "crates/meilisearch/tests/search/multi/mod.rs (federated responses: hits with _federation {indexUid, queriesPosition, weightedRankingScore}, processingTimeMs, limit, offset, estimatedTotalHits, facetDistribution, facetStats)"

RETRIEVED = ["key","kind","id","title","body","owner_id","channel_id","category","price","popularity","published_at","live","folded_title","folded_body"]
RETRIEVED_FOR_FACETS = ["key","kind","category","folded_title","folded_body"]

def q(text, filt=None, sort=None, typo=False, retrieve=RETRIEVED, index="kanjian"):
    out = {"q": text}
    if filt: out["filter"] = filt
    if sort: out["sort"] = sort
    out["attributesToSearchOn"] = ["title_terms","title","body_terms","body"] if typo else ["title_terms","body_terms"]
    out["attributesToRetrieve"] = retrieve
    out["matchingStrategy"] = "all"
    out["locales"] = ["eng"]
    out["indexUid"] = index
    return out

def hit(doc, score=1.0, position=0, fields=RETRIEVED):
    h = {k: doc[k] for k in fields if k in doc}
    h["_federation"] = {"indexUid": "kanjian", "queriesPosition": position, "weightedRankingScore": score}
    return h

def answer(hits, limit, estimated, facets=None):
    out = {"hits": hits, "processingTimeMs": 2, "limit": limit, "offset": 0, "estimatedTotalHits": estimated}
    if facets is not None:
        out["facetDistribution"] = facets
        out["facetStats"] = {}
    out["requestUid"] = "0198f3c2-5a1e-7c3b-9d2e-4f6a8b0c1d2e"
    return out

def write(name, about, exchanges):
    with open(f"{OUT}/{name}.json", "w") as f:
        json.dump({"about": about, "exchanges": exchanges}, f, ensure_ascii=False, indent=2)
        f.write("\n")

# ---------------------------------------------------------------------------------------------
write("first_use", "A server that has never seen Kanjian: the index is created, the Chinese settings applied, and nothing has been applied yet.",
      ensure("kanjian", False, False, 1) + [
      ex("reads the bookkeeping document: absent on a new index", DOC_NOT_FOUND_SRC, "GET", "/indexes/kanjian/documents/kanjian-through", 404,
         err("document_not_found", "Document `kanjian-through` not found."))])

write("ready", "The index exists with Kanjian's settings (as GET /settings returns them after the update): nothing is sent.",
      ensure("kanjian", True, True, 0))

write("count_empty", "Counting an empty index.", [
      ex("counts documents", STATS_SRC, "GET", "/indexes/kanjian/stats", 200,
         {"numberOfDocuments": 0, "rawDocumentDbSize": 0, "avgDocumentSize": 0, "isIndexing": False, "numberOfEmbeddings": 0, "numberOfEmbeddedDocuments": 0, "fieldDistribution": {}})])

V1 = stored("video", 1, "农业银行")
fields_v1 = {k: 1 for k in V1}
fields_v1.update({"key": 2, "through": 1})
write("apply", "A batch with upserts and deletions (net: upsert v-1; delete v-2, v-9): deletions first, then the upserts with the marker in one addition.", [
      ex("deletes v-2 (upserted then deleted in the batch) and v-9", DOCS_REF + "documents#delete-documents-by-batch ; " + SUMMARY_SRC,
         "POST", "/indexes/kanjian/documents/delete-batch", 202, summarized(3, "documentDeletion"), body=["v-2", "v-9"]),
      *poll(3, "documentDeletion", {"providedIds": 2, "deletedDocuments": 1, "originalFilter": None}, why="waits for the deletion"),
      ex("adds v-1 with its computed fields, and the marker (through 42) in the same task", DOC_ADD_SRC,
         "POST", "/indexes/kanjian/documents?primaryKey=key", 202, summarized(4, "documentAdditionOrUpdate"), body=[V1, marker(42)]),
      *poll(4, "documentAdditionOrUpdate", {"receivedDocuments": 2, "indexedDocuments": 2}, statuses=("enqueued", "succeeded"), why="waits for the addition"),
      ex("reads the marker back", MARKER_SRC, "GET", "/indexes/kanjian/documents/kanjian-through", 200, marker(42)),
      ex("counts: two documents, one of them the marker", STATS_SRC, "GET", "/indexes/kanjian/stats", 200,
         {"numberOfDocuments": 2, "rawDocumentDbSize": 8192, "avgDocumentSize": 1536, "isIndexing": False, "numberOfEmbeddings": 0, "numberOfEmbeddedDocuments": 0,
          "fieldDistribution": dict(sorted(fields_v1.items()))})])

V5 = stored("video", 5, "本田雅阁")
write("task_failed", "The addition task fails (the database is full): the error names Meilisearch's code and the marker stays where it was.", [
      ex("adds v-5 and the marker (through 43)", DOC_ADD_SRC, "POST", "/indexes/kanjian/documents?primaryKey=key", 202,
         summarized(5, "documentAdditionOrUpdate"), body=[V5, marker(43)]),
      *poll(5, "documentAdditionOrUpdate", {"receivedDocuments": 2, "indexedDocuments": 0}, statuses=("failed",),
            error=err("database_size_limit_reached", "Maximum database size has been reached.", "internal"), why="waits for the addition"),
      ex("reads the marker: still 41", MARKER_SRC, "GET", "/indexes/kanjian/documents/kanjian-through", 200, marker(41))])

write("delete_failed", "The deletion task fails (the index was deleted behind Kanjian's back): nothing else is sent, so no marker claims the batch.", [
      ex("deletes v-2", DOCS_REF + "documents#delete-documents-by-batch ; " + SUMMARY_SRC,
         "POST", "/indexes/kanjian/documents/delete-batch", 202, summarized(6, "documentDeletion"), body=["v-2"]),
      *poll(6, "documentDeletion", {"providedIds": 1, "deletedDocuments": 0, "originalFilter": None}, statuses=("failed",),
            error=not_found_index("kanjian"), why="waits for the deletion")])

# Searches.
BENTIAN = "g2x672cx7530z"
H11 = stored("video", 11, "本田雅阁 2023款")
H12 = stored("video", 12, "本地美食推荐")
H13 = stored("video", 13, "中国银行信用卡")
H14 = stored("video", 14, "泰国银行中国分行")
write("search_narrowing", "Two searches whose candidates include what narrowing must drop.", [
      ex("searches 本田 (its bigram token); Meilisearch also returns 本地美食推荐, whose bigram g2x672cx5730z is one typo from 本田's (what typo tolerance does to these tokens wherever it reaches them)",
         SEARCH_SRC, "POST", "/multi-search", 200,
         answer([hit(H11, 1.0), hit(H12, 0.9090909090909091)], 40, 2),
         body={"queries": [q(BENTIAN + " ")], "federation": {"offset": 0, "limit": 40}}),
      ex("searches 中国银行 (one jieba word: its three bigrams); 泰国银行中国分行 has all three, not as one word",
         SEARCH_SRC, "POST", "/multi-search", 200,
         answer([hit(H13, 1.0), hit(H14, 0.9848484848484848)], 40, 2),
         body={"queries": [q("g2x4e2dx56fdz g2x56fdx94f6z g2x94f6x884cz ")], "federation": {"offset": 0, "limit": 40}})])

FILTER = 'kind IN ["product"] AND category IN ["手机配件"] AND price >= 1000 AND price <= 5000 AND owner_id NOT IN [7, 9]'
FACET_FILTER = 'price >= 1000 AND price <= 5000 AND owner_id NOT IN [7, 9]'
P21 = stored("product", 21, "中关村手机支架", owner=3, category="手机配件", price=1990, published=300, popularity=12)
P22 = stored("product", 22, "ZG 手机壳 磁吸", folded_title="zg 手机壳 磁吸", owner=4, category="手机配件", price=2990, published=200, popularity=40)
P25 = stored("product", 25, "ZG手机壳", folded_title="zg手机壳", owner=4, category="手机壳", price=1500, published=100)
SHOUJI = "g2x624bx673az"
write("search_filters", "zg 手机 among products of one category, in a price range, two owners hidden, newest first, with facets: two queries (zg as a Latin word, zg as initials), then the facet pass without the kind and category filters.", [
      ex("the page: both alternatives of zg, every filter, the sort", SEARCH_SRC, "POST", "/multi-search", 200,
         answer([hit(P21, 1.0, 1), hit(P22, 1.0, 0)], 20, 2),
         body={"queries": [q(SHOUJI + " l1x7ax67z ", FILTER, ["published_at:desc"]), q(SHOUJI + " i1zg0 ", FILTER, ["published_at:desc"])],
               "federation": {"offset": 0, "limit": 20}}),
      ex("the facets: same queries without the kind and category filters, kind and category counted over their union", SEARCH_SRC, "POST", "/multi-search", 200,
         answer([hit(P21, 1.0, 1, RETRIEVED_FOR_FACETS), hit(P22, 1.0, 0, RETRIEVED_FOR_FACETS), hit(P25, 1.0, 0, RETRIEVED_FOR_FACETS)], 20, 3,
                {"category": {"手机配件": 2, "手机壳": 1}, "kind": {"product": 3}}),
         body={"queries": [q(SHOUJI + " l1x7ax67z ", FACET_FILTER, ["published_at:desc"], retrieve=RETRIEVED_FOR_FACETS),
                           q(SHOUJI + " i1zg0 ", FACET_FILTER, ["published_at:desc"], retrieve=RETRIEVED_FOR_FACETS)],
               "federation": {"offset": 0, "limit": 20, "facetsByIndex": {"kanjian": ["kind", "category"]}, "mergeFacets": {}}})])

# A short page: 20 read, 2 kept (< 3), 80 read, 4 kept; 120 counted.
TRUE = {0: "本田思域", 5: "本田雅阁", 30: "本田CR-V", 60: "本田飞度"}
def refetch_hits(n):
    out = []
    for i in range(n):
        if i in TRUE:
            t = TRUE[i]
            d = stored("video", 100 + i, t, folded_title=t.lower())
        else:
            d = stored("video", 100 + i, f"本地美食推荐 第{i}期")
        out.append(hit(d, round(1.0 - i / 200, 6)))
    return out
FED_FACETS = {"offset": 0, "facetsByIndex": {"kanjian": ["kind", "category"]}, "mergeFacets": {}}
write("search_refetch", "本田 for a page of 3 with facets: 20 candidates hold 2 matches, so 80 are read; Meilisearch counts 120 in all, so the total and facets are estimates.", [
      ex("the first 20 candidates", SEARCH_SRC, "POST", "/multi-search", 200,
         answer(refetch_hits(20), 20, 120, {"kind": {"video": 120}}),
         body={"queries": [q(BENTIAN + " ")], "federation": dict(FED_FACETS, limit=20)}),
      ex("four times more", SEARCH_SRC, "POST", "/multi-search", 200,
         answer(refetch_hits(80), 80, 120, {"kind": {"video": 120}}),
         body={"queries": [q(BENTIAN + " ")], "federation": dict(FED_FACETS, limit=80)})])

C31 = stored("channel", 31, "清华大学")
H40 = stored("video", 40, "清华园")
INDEX_SRC = DOCS_REF + "indexes#delete-an-index ; " + SRC + "crates/meilisearch/tests/index/delete_index.rs (error_delete_unexisting_index: 202, then the task fails with index_not_found)"
SWAP_SRC = DOCS_REF + "indexes#swap-indexes ; " + SRC + "crates/meilisearch/tests/swap_indexes/ (indexSwap tasks: indexUid null, details.swaps[{indexes, rename}])"
write("rebuild", "A rebuild: a fresh kanjian_rebuild with the same settings, filled while searches read kanjian, then the marker, the swap and the removal of the old copy.", [
      ex("removes a leftover copy", INDEX_SRC, "DELETE", "/indexes/kanjian_rebuild", 202, summarized(20, "indexDeletion", "kanjian_rebuild")),
      *poll(20, "indexDeletion", {"deletedDocuments": 0}, statuses=("failed",), error=not_found_index("kanjian_rebuild"), index="kanjian_rebuild", why="none was there"),
      *ensure("kanjian_rebuild", False, False, 21),
      ex("fills the copy", DOC_ADD_SRC, "POST", "/indexes/kanjian_rebuild/documents?primaryKey=key", 202,
         summarized(23, "documentAdditionOrUpdate", "kanjian_rebuild"), body=[C31]),
      *poll(23, "documentAdditionOrUpdate", {"receivedDocuments": 1, "indexedDocuments": 1}, index="kanjian_rebuild", why="waits for the addition"),
      ex("a search meanwhile reads the serving index `kanjian`", SEARCH_SRC, "POST", "/multi-search", 200,
         answer([hit(H40, 1.0)], 40, 1),
         body={"queries": [q("g2x6e05x534ez ")], "federation": {"offset": 0, "limit": 40}}),
      ex("writes the marker (through 77) into the copy", DOC_ADD_SRC, "POST", "/indexes/kanjian_rebuild/documents?primaryKey=key", 202,
         summarized(24, "documentAdditionOrUpdate", "kanjian_rebuild"), body=[marker(77)]),
      *poll(24, "documentAdditionOrUpdate", {"receivedDocuments": 1, "indexedDocuments": 1}, index="kanjian_rebuild", why="waits for the marker"),
      ex("swaps the copy in", SWAP_SRC, "POST", "/swap-indexes", 202,
         {"taskUid": 25, "indexUid": None, "status": "enqueued", "type": "indexSwap", "enqueuedAt": T0},
         body=[{"indexes": ["kanjian", "kanjian_rebuild"]}]),
      *poll(25, "indexSwap", {"swaps": [{"indexes": ["kanjian", "kanjian_rebuild"], "rename": False}]}, index=None, why="waits for the swap"),
      ex("removes the old copy, now named kanjian_rebuild", INDEX_SRC, "DELETE", "/indexes/kanjian_rebuild", 202, summarized(26, "indexDeletion", "kanjian_rebuild")),
      *poll(26, "indexDeletion", {"deletedDocuments": 3}, index="kanjian_rebuild", why="waits for the removal"),
      ex("reads the marker of the new serving index", MARKER_SRC, "GET", "/indexes/kanjian/documents/kanjian-through", 200, marker(77))])
print("ok")
