//! What the pump's rules and its sweep read from the biller's configuration,
//! typed once: IC advanced settings 11-19 (endpoints), 35 (D1), 64/65 (D3),
//! 131 (D4, D11), `[biller] features` and `timezone` (D8, D12) and `[pump]`.

use crate::config::{Config, ConfigError, Endpoint, Feature, PaymentModeMap, ServiceVersion};

use super::Route;

/// The inputs of the seed's mapping rules ([`super::rules`]).
#[derive(Debug, Clone)]
pub struct RuleSettings {
    /// Setting 35 (D1).
    pub service_version: ServiceVersion,
    /// Setting 64: card paymentMode by payment source (D3).
    pub cc_modes: PaymentModeMap,
    /// Setting 65: bank (ACH, eCheck) paymentMode by payment source (D3).
    pub ach_modes: PaymentModeMap,
    /// `[pump] default_payment_mode`: a source with no entry (D3).
    pub default_payment_mode: String,
    /// Setting 131 `Daffron.DataPumpConfigs.SkipDonationTypes` (D11).
    pub skip_donation_types: bool,
    /// Setting 131 `Daffron.DataPumpConfigs.UsePaymentGuidAsTransactionId` (D4).
    pub use_payment_guid_as_transaction_id: bool,
    /// `[biller] features` has `scheduled_payments` (D8, INT-11451).
    pub scheduled_payments: bool,
    /// `[biller] features` has `autopay_grouping` (D12, EBPP-8383).
    pub autopay_grouping: bool,
    /// `[biller] timezone`: logTime's offset (D8).
    pub timezone: chrono_tz::Tz,
}

impl RuleSettings {
    pub fn from_config(config: &Config) -> RuleSettings {
        let s = &config.settings;
        let json = s.json.clone().unwrap_or_default();
        RuleSettings {
            service_version: s.service_version,
            cc_modes: s.cc_modes.clone(),
            ach_modes: s.ach_modes.clone(),
            default_payment_mode: config.pump.default_payment_mode.clone(),
            skip_donation_types: json.skip_donation_types,
            use_payment_guid_as_transaction_id: json.use_payment_guid_as_transaction_id,
            scheduled_payments: config.biller.has(Feature::ScheduledPayments),
            autopay_grouping: config.biller.has(Feature::AutopayGrouping),
            timezone: config.biller.timezone,
        }
    }
}

/// The endpoint a route posts to (settings 11, 14 or 17 and the two after).
pub fn endpoint(config: &Config, route: Route) -> Option<&Endpoint> {
    let s = &config.settings;
    match route {
        Route::Payments => s.payments.as_ref(),
        Route::Paperless => s.paperless.as_ref(),
        Route::Comments => s.autopay.as_ref(),
    }
}

/// The endpoint of a route, or the configuration error naming its setting.
pub fn require_endpoint<'a>(
    config: &'a Config,
    command: &'static str,
    route: Route,
) -> Result<&'a Endpoint, ConfigError> {
    let s = &config.settings;
    let ep = match route {
        Route::Payments => &s.payments,
        Route::Paperless => &s.paperless,
        Route::Comments => &s.autopay,
    };
    config.require_endpoint(command, ep, route.url_setting())
}
