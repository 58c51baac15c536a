//! `wechatpay-simulator`: WeChat Pay APIv3's side of a directly connected merchant's Native
//! payments, written apart from Kanjian's adapter (its own crypto, its own reading of the
//! protocol), for tests and local development. See README.md beside this file.
//!
//!     wechatpay-simulator --mchid 1230000109 --appid wxd678efh567hg6787 \
//!         --merchant-serial-no 1DDE55AD… --merchant-public-key merchant_public_key.pem \
//!         --api-v3-key <32 bytes> --listen 127.0.0.1:0 --ready-file ready.json

mod api;
mod control;
mod crypto;
mod delivery;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use clap::Parser;

use crate::state::{DIGITS, Settings, Sim, random};

/// WeChat Pay's documented notification retries: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h.
const WECHAT_RETRIES_MS: &str = "15000,15000,30000,180000,600000,1200000,1800000,1800000,1800000,3600000,10800000,10800000,10800000,21600000,21600000";

#[derive(Debug, Parser)]
#[command(name = "wechatpay-simulator", about = "A WeChat Pay APIv3 simulator (Native payments, refunds, signed notifications, fault injection)")]
struct Args {
    /// Where to listen (port 0: any free port; it is printed and written to --ready-file).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The merchant's 商户号.
    #[arg(long, env = "WECHATPAY_SIM_MCHID")]
    mchid: String,
    /// The AppID bound to the merchant.
    #[arg(long, env = "WECHATPAY_SIM_APPID")]
    appid: String,
    /// The serial number of the merchant's API certificate (`serial_no` in requests).
    #[arg(long, env = "WECHATPAY_SIM_MERCHANT_SERIAL_NO")]
    merchant_serial_no: String,
    /// The merchant's API public key, PEM (`BEGIN PUBLIC KEY`): requests are verified with it.
    #[arg(long, env = "WECHATPAY_SIM_MERCHANT_PUBLIC_KEY")]
    merchant_public_key: PathBuf,
    /// The APIv3 key (exactly 32 bytes): notification resources are encrypted with it.
    #[arg(long, env = "WECHATPAY_SIM_API_V3_KEY")]
    api_v3_key: String,
    /// WeChat Pay's private key, PEM; generated (RSA 2048) when not given.
    #[arg(long, env = "WECHATPAY_SIM_PLATFORM_PRIVATE_KEY")]
    platform_private_key: Option<PathBuf>,
    /// The id of WeChat Pay's public key (`Wechatpay-Serial`); `PUB_KEY_ID_` and 32 random
    /// digits when not given.
    #[arg(long)]
    platform_public_key_id: Option<String>,
    /// Waits between a notification's deliveries, in ms (WeChat Pay's ~24 h schedule by default).
    #[arg(long, value_delimiter = ',', default_value = WECHAT_RETRIES_MS)]
    retry_schedule_ms: Vec<u64>,
    /// How long the merchant has to answer a notification.
    #[arg(long, default_value_t = 5000)]
    delivery_timeout_ms: u64,
    /// How far a request's signed timestamp may be from the clock.
    #[arg(long, default_value_t = 300)]
    request_window_secs: i64,
    /// Written once listening: the same JSON line as printed on stdout.
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let api_v3_key: [u8; 32] = args
        .api_v3_key
        .as_bytes()
        .try_into()
        .map_err(|_| anyhow::anyhow!("--api-v3-key must be exactly 32 bytes, not {}", args.api_v3_key.len()))?;
    let merchant_pem = std::fs::read_to_string(&args.merchant_public_key)
        .with_context(|| format!("reading --merchant-public-key {}", args.merchant_public_key.display()))?;
    let merchant = crypto::MerchantKey::from_pem(&merchant_pem)?;
    let started = Instant::now();
    let platform = match &args.platform_private_key {
        Some(path) => crypto::PlatformKey::from_pem(
            &std::fs::read_to_string(path).with_context(|| format!("reading --platform-private-key {}", path.display()))?,
        )?,
        None => crypto::PlatformKey::generate()?,
    };
    eprintln!("wechatpay-simulator: platform key ready in {:?}", started.elapsed());
    let platform_key_id = args.platform_public_key_id.clone().unwrap_or_else(|| format!("PUB_KEY_ID_{}", random(32, DIGITS)));

    let (outbox, queue) = tokio::sync::mpsc::unbounded_channel();
    let settings = Settings {
        mchid: args.mchid.clone(),
        appid: args.appid.clone(),
        merchant_serial_no: args.merchant_serial_no.clone(),
        api_v3_key,
        platform_key_id: platform_key_id.clone(),
        retry_schedule: args.retry_schedule_ms.iter().map(|ms| Duration::from_millis(*ms)).collect(),
        delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
        request_window_secs: args.request_window_secs,
    };
    let sim = Arc::new(Sim::new(settings, merchant, platform, outbox));
    tokio::spawn(delivery::run(sim.clone(), queue));

    let listener = std::net::TcpListener::bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let data = web::Data::new(sim.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .configure(api::routes)
            .configure(control::routes)
            .default_service(web::to(|| async {
                HttpResponse::NotFound().json(serde_json::json!({"code": "NOT_FOUND", "message": "该接口不存在（模拟器未实现）"}))
            }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .context("listening")?
    .run();

    let ready = serde_json::json!({
        "port": addr.port(),
        "base_url": format!("http://{addr}"),
        "mchid": args.mchid,
        "appid": args.appid,
        "platform_public_key_id": platform_key_id,
        "platform_public_key": sim.platform.public_pem,
    })
    .to_string();
    println!("{ready}");
    if let Some(path) = &args.ready_file {
        // Written whole, then renamed: a reader never sees half of it.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, format!("{ready}\n")).context("writing --ready-file")?;
        std::fs::rename(&partial, path).context("writing --ready-file")?;
    }
    eprintln!("wechatpay-simulator: listening on http://{addr}");
    let handle = server.handle();
    tokio::select! {
        served = server => served.context("serving"),
        _ = tokio::signal::ctrl_c() => {
            handle.stop(false).await;
            Ok(())
        }
    }
}
