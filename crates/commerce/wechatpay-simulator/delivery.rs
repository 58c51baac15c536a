//! Notifications: made (resource sealed with the APIv3 key), signed with the platform key at
//! each request, POSTed to the `notify_url` and retried on the schedule until the merchant answers
//! 200 or 204 within the timeout, as WeChat Pay does (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/
//! 3h/3h/6h/6h, about 24 hours, unless `--retry-schedule-ms` says otherwise).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::crypto;
use crate::state::{ALNUM, DeliveryRecord, Fault, NotificationRecord, Outgoing, Sim, now_beijing, random, uuid};

/// What a notification is about.
pub struct About<'a> {
    pub event_type: &'a str,
    pub summary: &'a str,
    /// `transaction` or `refund`: the resource's `original_type` and associated data.
    pub original_type: &'a str,
    pub out_trade_no: &'a str,
    pub out_refund_no: Option<&'a str>,
}

/// Makes a notification with `resource`, and queues, holds or drops it by its fault. Its id.
pub fn notify(sim: &Sim, notify_url: &str, about: About<'_>, resource: &serde_json::Value, fault: Option<Fault>) -> anyhow::Result<String> {
    let fault = sim.state().fault_for(fault);
    let nonce = random(12, ALNUM);
    let key = if fault.wrong_key { *b"not-the-merchants-apiv3-key-0000" } else { sim.settings.api_v3_key };
    let nonce_bytes: [u8; 12] = nonce.as_bytes().try_into().map_err(|_| anyhow::anyhow!("a 12-byte nonce"))?;
    let ciphertext = crypto::seal(&key, &nonce_bytes, about.original_type.as_bytes(), resource.to_string().as_bytes())?;
    let id = uuid();
    let body = serde_json::json!({
        "id": id,
        "create_time": now_beijing(),
        "resource_type": "encrypt-resource",
        "event_type": about.event_type,
        "summary": about.summary,
        "resource": {
            "original_type": about.original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "associated_data": about.original_type,
            "nonce": nonce,
        },
    })
    .to_string();
    let state = if fault.drop {
        "dropped"
    } else if fault.hold {
        "held"
    } else {
        "queued"
    };
    let outgoing = Outgoing { id: id.clone(), notify_url: notify_url.to_owned(), body, fault: fault.clone() };
    let mut s = sim.state();
    s.notifications.push(NotificationRecord {
        id: id.clone(),
        event_type: about.event_type.to_owned(),
        out_trade_no: about.out_trade_no.to_owned(),
        out_refund_no: about.out_refund_no.map(str::to_owned),
        notify_url: notify_url.to_owned(),
        faults: fault.names(),
        state: state.to_owned(),
    });
    match state {
        "dropped" => {}
        "held" => s.held.push(outgoing),
        _ => {
            drop(s);
            sim.outbox.send(outgoing).map_err(|_| anyhow::anyhow!("the delivery worker stopped"))?;
        }
    }
    Ok(id)
}

/// Sends the held notifications, in the order they were held; how many.
pub fn release(sim: &Sim) -> usize {
    let held: Vec<Outgoing> = std::mem::take(&mut sim.state().held);
    let n = held.len();
    for mut outgoing in held {
        outgoing.fault.hold = false;
        sim.state().note(&outgoing.id, "queued");
        let _ = sim.outbox.send(outgoing);
    }
    n
}

/// Requests to merchants in flight at once. A sender keeps a bounded pool of connections; without
/// a bound, a flash sale's thousands of notifications (and their copies) each opened a socket,
/// and past the open-file limit the deliveries failed to connect.
const IN_FLIGHT: usize = 256;

/// Delivers what is queued, each notification on a task of its own, [`IN_FLIGHT`] requests at a
/// time.
pub async fn run(sim: Arc<Sim>, mut queue: UnboundedReceiver<Outgoing>) {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    while let Some(outgoing) = queue.recv().await {
        tokio::spawn(deliver(sim.clone(), client.clone(), slots.clone(), outgoing));
    }
}

async fn deliver(sim: Arc<Sim>, client: Client<HttpConnector, Full<Bytes>>, slots: Arc<tokio::sync::Semaphore>, outgoing: Outgoing) {
    if outgoing.fault.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(outgoing.fault.delay_ms)).await;
    }
    sim.state().note(&outgoing.id, "delivering");
    let copies = outgoing.fault.duplicate.max(1);
    let mut all_taken = true;
    for copy in 0..copies {
        let mut attempt = 0u32;
        loop {
            let spoil = if copy == 0 && attempt == 0 && outgoing.fault.spoils_request() { Some(&outgoing.fault) } else { None };
            let (status, error) = {
                // Held for the request only, not for the wait before a retry.
                // The semaphore is never closed, so a permit always comes.
                let _slot = slots.acquire().await.ok();
                send(&sim, &client, &outgoing, spoil).await
            };
            let taken = matches!(status, Some(200 | 204));
            sim.state().deliveries.push(DeliveryRecord {
                notification_id: outgoing.id.clone(),
                copy,
                attempt,
                spoilt_by: spoil.map(Fault::names).unwrap_or_default().into_iter().filter(|n| !matches!(*n, "duplicate" | "delay")).collect(),
                status,
                error,
                at: now_beijing(),
            });
            if taken {
                break;
            }
            let Some(wait) = sim.settings.retry_schedule.get(attempt as usize) else {
                all_taken = false;
                break;
            };
            tokio::time::sleep(*wait).await;
            attempt += 1;
        }
    }
    sim.state().note(&outgoing.id, if all_taken { "delivered" } else { "failed" });
}

/// One request; its status, or why there was none.
async fn send(sim: &Sim, client: &Client<HttpConnector, Full<Bytes>>, outgoing: &Outgoing, spoil: Option<&Fault>) -> (Option<u16>, Option<String>) {
    let now = chrono::Utc::now().timestamp();
    let timestamp = if spoil.is_some_and(|f| f.stale) { now - 3600 } else { now };
    let nonce = random(32, ALNUM);
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(outgoing.body.as_bytes());
    message.push(b'\n');
    let mut signature = sim.platform.sign(&message);
    let mut body = outgoing.body.clone();
    let mut serial = sim.settings.platform_key_id.clone();
    if let Some(f) = spoil {
        if f.bad_signature {
            signature = crypto::corrupt(&signature);
        }
        if f.tamper {
            body = body.replacen("\"summary\":\"", "\"summary\":\"(tampered) ", 1);
        }
        if f.wrong_serial {
            serial = "PUB_KEY_ID_0199999999999999999999999999999999".into();
        }
    }
    let mut request = http::Request::post(&outgoing.notify_url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "Mozilla/4.0")
        .header("request-id", uuid());
    if !spoil.is_some_and(|f| f.unsigned) {
        request = request
            .header("wechatpay-serial", serial)
            .header("wechatpay-signature", signature)
            .header("wechatpay-timestamp", timestamp.to_string())
            .header("wechatpay-nonce", nonce)
            .header("wechatpay-signature-type", "WECHATPAY2-SHA256-RSA2048");
    }
    let request = match request.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => return (None, Some(format!("a bad notify_url: {e}"))),
    };
    match tokio::time::timeout(sim.settings.delivery_timeout, client.request(request)).await {
        Ok(Ok(response)) => (Some(response.status().as_u16()), None),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(_) => (None, Some(format!("no answer within {:?}", sim.settings.delivery_timeout))),
    }
}
