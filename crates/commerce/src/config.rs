//! The `[commerce]` section of the server's config.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CommerceConfig {
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
        Self { payment_window_secs: 15 * 60, auto_confirm_days: 10, sweep_interval_ms: 1000 }
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
