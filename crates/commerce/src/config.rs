//! The `[commerce]` section of the server's config.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CommerceConfig {
    /// The provider `payOrder` uses when the client names none: `sandbox` (the embedded
    /// default) or `wechatpay` (needs `[commerce.wechatpay]`).
    pub default_provider: String,
    /// Whether the built-in sandbox provider is offered (its page charges nothing).
    pub sandbox_enabled: bool,
    /// The key the sandbox signs its notifications with. Unset: a random key per process, which
    /// is fine for one node; several nodes need the same key.
    pub sandbox_secret: Option<SecretString>,
    /// WeChat Pay APIv3 (`[commerce.wechatpay]`): offered as `wechatpay` when set.
    pub wechatpay: Option<crate::payments::wechatpay::WechatPayConfig>,
    /// How long an open payment attempt may go without a notification before reconciliation
    /// asks the provider about it (and how often it asks again).
    pub reconcile_after_secs: u64,
    /// How long an unpaid order holds its stock (Channels and Taobao use 15 minutes for
    /// ordinary goods). Unpaid by then, the order is cancelled and its stock released.
    pub payment_window_secs: u64,
    /// How long after shipping an order completes on its own if the shopper does not confirm
    /// receipt (WeChat Shop: 10 days for most goods).
    pub auto_confirm_days: u64,
    /// How often each node looks for orders past their payment window or confirm window.
    pub sweep_interval_ms: u64,
}

impl Default for CommerceConfig {
    fn default() -> Self {
        Self {
            default_provider: "sandbox".into(),
            sandbox_enabled: true,
            sandbox_secret: None,
            wechatpay: None,
            reconcile_after_secs: 60,
            payment_window_secs: 15 * 60,
            auto_confirm_days: 10,
            sweep_interval_ms: 1000,
        }
    }
}

impl CommerceConfig {
    pub fn payment_window(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.payment_window_secs).unwrap_or(i64::MAX / 1000))
    }

    pub fn auto_confirm_after(&self) -> chrono::Duration {
        chrono::Duration::days(i64::try_from(self.auto_confirm_days).unwrap_or(36500).min(36500))
    }
}
