//! Prometheus metrics at `/metrics`: request counts and latencies by route pattern (not by raw
//! path, which would make one series per video id).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::app::AppState;

#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    /// The modules' gauges (`Parts::gauge`), each read at every scrape.
    module_gauges: std::sync::Arc<Vec<(prometheus::Gauge, kanjian_module::Gauge)>>,
    requests: IntCounterVec,
    latency: HistogramVec,
    db_statements: IntCounterVec,
    db_latency: Histogram,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("kanjian".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0]),
            &["route", "method"],
        )?;
        let db_statements = IntCounterVec::new(
            Opts::new("db_statements_total", "SQL statements sent to the database, by outcome"),
            &["outcome"],
        )?;
        let db_latency = Histogram::with_opts(
            HistogramOpts::new("db_statement_duration_seconds", "SQL statement latency")
                .buckets(vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0]),
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(db_statements.clone()))?;
        registry.register(Box::new(db_latency.clone()))?;
        Ok(Self { registry, module_gauges: Default::default(), requests, latency, db_statements, db_latency })
    }

    /// Registers the gauges the modules declared (`kanjian_<name>`).
    pub fn add_module_gauges(&mut self, gauges: Vec<kanjian_module::Gauge>) -> prometheus::Result<()> {
        let mut registered = Vec::with_capacity(gauges.len());
        for gauge in gauges {
            let metric = prometheus::Gauge::new(gauge.name, gauge.help)?;
            self.registry.register(Box::new(metric.clone()))?;
            registered.push((metric, gauge));
        }
        self.module_gauges = std::sync::Arc::new(registered);
        Ok(())
    }

    /// Counts every statement sea-orm sends through `db` (writer, readers and transactions).
    /// Call it before `db` is cloned.
    pub fn watch_database(&self, db: &mut kanjian_db::Db) {
        let (statements, latency) = (self.db_statements.clone(), self.db_latency.clone());
        let watching = db.watch_statements(move |info| {
            statements.with_label_values(&[if info.failed { "error" } else { "ok" }]).inc();
            latency.observe(info.elapsed.as_secs_f64());
        });
        if !watching {
            tracing::warn!("the database was shared before its statements could be counted");
        }
    }

    pub fn render(&self) -> Vec<u8> {
        for (metric, gauge) in self.module_gauges.iter() {
            metric.set((gauge.read)());
        }
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

pub(crate) async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        let status = response.status().as_u16().to_string();
        metrics.requests.with_label_values(&[route.as_str(), method.as_str(), status.as_str()]).inc();
        metrics
            .latency
            .with_label_values(&[route.as_str(), method.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
