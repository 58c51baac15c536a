//! Kanjian's search engine beside Meilisearch's (milli), on the same seeded corpus of Chinese
//! titles and the same queries, in one run on one machine: indexing docs/s, index size,
//! latency per query type (p50/p99), recall of substrings and single characters over the whole
//! corpus (against a scan of every title), and the Chinese case suite's score.
//!
//!   cargo run --release -- --docs 100000                   # Kanjian alone
//!   cargo run --release --features milli -- --docs 1000000 # beside milli (see Cargo.toml for pins)
//!
//! Measures and prints (Markdown); asserts nothing.

mod cases;
mod corpus;
mod engine;
mod kanjian_engine;
#[cfg(feature = "milli")]
mod milli_engine;

use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use kanjian_search::analysis::Analyzer;

use corpus::QueryKind;
use engine::{Doc, Engine};

#[derive(Debug, Parser)]
#[command(name = "kanjian-search-bench")]
struct Args {
    /// Titles in the corpus (100 000 for a quick run, 1 000 000 for the target).
    #[arg(long, default_value_t = 100_000)]
    docs: usize,
    /// Queries of each kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// The corpus's and the queries' seed.
    #[arg(long, default_value_t = 16)]
    seed: u64,
    /// Results asked per query (a page).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Recall is measured on queries matching at most this many titles (all of them are fetched).
    #[arg(long, default_value_t = 20_000)]
    recall_cap: usize,
}

struct EngineResult {
    name: &'static str,
    index_secs: f64,
    /// Indexing in the batches a server's indexer commits: (batch size, seconds).
    batched: Option<(usize, f64)>,
    size: u64,
    /// Per query kind, in the order of `QueryKind::ALL`.
    latency: Vec<Latency>,
    /// Per kind measured: (queries, mean recall, mean precision of what came back).
    recall: Vec<(QueryKind, usize, f64, f64)>,
    cases: cases::Score,
}

/// One query kind's latencies: a page alone (what a search box asks), and a page with the exact
/// number of matches (what a "12 345 results" line asks).
struct Latency {
    page: (u64, u64),
    counted: (u64, u64),
    mean_matches: f64,
    /// The slowest page and its µs.
    slowest: (String, u64),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let analyzer = Analyzer::new()?;
    eprintln!("making {} titles (seed {})", args.docs, args.seed);
    let docs = corpus::titles(args.docs, args.seed)?;
    let folded: Vec<String> = docs.iter().map(|d| analyzer.fold(&d.title).as_string()).collect();
    let queries: Vec<(QueryKind, Vec<String>)> =
        QueryKind::ALL.iter().map(|&k| (k, corpus::queries(k, args.queries, &folded, args.seed))).collect();

    let mut engines: Vec<Box<dyn Engine>> = vec![Box::new(kanjian_engine::Kanjian::new()?)];
    #[cfg(feature = "milli")]
    engines.push(Box::new(milli_engine::Milli::new()?));

    let mut results = Vec::new();
    for engine in &mut engines {
        results.push(run(engine.as_mut(), &args, &docs, &folded, &queries)?);
    }
    print!("{}", report(&args, &docs, &queries, &results));
    Ok(())
}

fn run(engine: &mut dyn Engine, args: &Args, docs: &[Doc], folded: &[String], queries: &[(QueryKind, Vec<String>)]) -> anyhow::Result<EngineResult> {
    let started = Instant::now();
    let batched = match engine.index_in_batches(docs) {
        Some(batch) => {
            eprintln!("{}: indexed {} titles in batches", engine.name(), docs.len());
            Some((batch?, started.elapsed().as_secs_f64()))
        }
        None => None,
    };
    eprintln!("{}: indexing {} titles", engine.name(), docs.len());
    let started = Instant::now();
    engine.index(docs)?;
    let index_secs = started.elapsed().as_secs_f64();
    let size = engine.size_bytes()?;
    let mut latency = Vec::new();
    for (kind, qs) in queries {
        // Once to warm the caches (and page the index in, counting every match), then measured.
        let mut matches = 0u64;
        for q in qs {
            matches += engine.search(q, kind.suggest(), args.limit, true)?.0.unwrap_or(0);
        }
        let measure = |count: bool| -> anyhow::Result<((u64, u64), (String, u64))> {
            let mut histogram = Histogram::<u64>::new(3)?;
            let mut slowest = (String::new(), 0);
            for q in qs {
                let started = Instant::now();
                engine.search(q, kind.suggest(), args.limit, count)?;
                let micros = started.elapsed().as_micros().max(1) as u64;
                histogram.record(micros)?;
                if micros > slowest.1 {
                    slowest = (q.clone(), micros);
                }
            }
            Ok(((histogram.value_at_quantile(0.5), histogram.value_at_quantile(0.99)), slowest))
        };
        let (page, slowest) = measure(false)?;
        let (counted, _) = measure(true)?;
        latency.push(Latency { page, counted, mean_matches: matches as f64 / qs.len() as f64, slowest });
    }
    // Recall where the truth is a plain scan: the folded query as a substring of the folded title.
    let mut recall = Vec::new();
    for (kind, qs) in queries.iter().filter(|(k, _)| matches!(k, QueryKind::Substring | QueryKind::SingleCharacter)) {
        let (mut measured, mut recall_sum, mut precision_sum) = (0, 0.0, 0.0);
        for q in qs {
            let truth: std::collections::HashSet<u32> =
                folded.iter().enumerate().filter(|(_, t)| t.contains(q.as_str())).map(|(i, _)| i as u32).collect();
            if truth.is_empty() || truth.len() > args.recall_cap {
                continue;
            }
            // Recall: the true matches among the best |truth| + 100 (a page deep past them);
            // precision: true matches among the best |truth| (R-precision), so an engine that
            // also finds the words apart, ranked below, is not counted down for it.
            let (_, ids) = engine.search(q, false, truth.len() + 100, false)?;
            let found = ids.iter().filter(|id| truth.contains(id)).count();
            recall_sum += found as f64 / truth.len() as f64;
            let best = &ids[..ids.len().min(truth.len())];
            precision_sum += if best.is_empty() { 0.0 } else { best.iter().filter(|id| truth.contains(id)).count() as f64 / best.len() as f64 };
            measured += 1;
        }
        recall.push((*kind, measured, recall_sum / measured.max(1) as f64, precision_sum / measured.max(1) as f64));
    }
    let cases = cases::score(engine)?;
    Ok(EngineResult { name: engine.name(), index_secs, batched, size, latency, recall, cases })
}

fn report(args: &Args, docs: &[Doc], queries: &[(QueryKind, Vec<String>)], results: &[EngineResult]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "## Search engines at {} titles (seed {}, {} queries of each kind, {} results a page)\n", docs.len(), args.seed, args.queries, args.limit);
    let names: Vec<&str> = results.iter().map(|r| r.name).collect();
    let _ = writeln!(out, "| | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(results.len()));
    let row = |out: &mut String, label: &str, cells: Vec<String>| {
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    };
    row(&mut out, "indexing (one bulk load), docs/s", results.iter().map(|r| format!("{:.0}", docs.len() as f64 / r.index_secs)).collect());
    row(&mut out, "indexing (one bulk load), s", results.iter().map(|r| format!("{:.1}", r.index_secs)).collect());
    row(
        &mut out,
        "indexing (a server's indexer: batches committed one by one), docs/s",
        results
            .iter()
            .map(|r| r.batched.map_or("-".into(), |(batch, secs)| format!("{:.0} ({batch} a batch)", docs.len() as f64 / secs)))
            .collect(),
    );
    row(&mut out, "index size, MB", results.iter().map(|r| format!("{:.1}", r.size as f64 / 1e6)).collect());
    for (i, (kind, qs)) in queries.iter().enumerate() {
        let example = qs.first().map(String::as_str).unwrap_or("");
        row(
            &mut out,
            &format!("{} (`{example}`…) p50 / p99 µs of a page; of a page and its exact count; mean matches", kind.name()),
            results.iter().map(|r| {
                let l = &r.latency[i];
                format!(
                    "{} / {}; {} / {}; {:.0} (slowest page: `{}` {})",
                    l.page.0, l.page.1, l.counted.0, l.counted.1, l.mean_matches, l.slowest.0, l.slowest.1
                )
            }).collect(),
        );
    }
    for (i, (kind, measured, _, _)) in results[0].recall.iter().enumerate() {
        row(
            &mut out,
            &format!("recall of {} over the corpus ({measured} queries with ≤ {} matches), precision", kind.name(), args.recall_cap),
            results.iter().map(|r| format!("{:.1} %, {:.1} %", r.recall[i].2 * 100.0, r.recall[i].3 * 100.0)).collect(),
        );
    }
    row(&mut out, "Chinese case suite: expectations met", results.iter().map(|r| format!("{}/{}", r.cases.met, r.cases.all)).collect());
    let categories: Vec<&String> = results[0].cases.by_category.keys().collect();
    for category in categories {
        row(
            &mut out,
            &format!("  {category}"),
            results.iter().map(|r| r.cases.by_category.get(category).map_or("-".into(), |(m, a)| format!("{m}/{a}"))).collect(),
        );
    }
    out
}
