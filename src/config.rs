//! The per-biller configuration file (`interface.md` §2).
//!
//! InvoiceCloud keeps a biller's integration choices as *advanced settings*
//! numbered by id (8 = RTDR endpoint, 119 = remote PDF version, ...). The
//! TOML file keeps them under the same ids with the values as IC stores them,
//! so an implementer can copy them from the biller's setup screen. This module
//! turns them into typed values once, at load time: a value of the wrong form
//! is an error that names the setting id, the value and what was expected.
//!
//! Secrets are never kept inline in committed files: a secret is written as
//! `{ env = "NAME" }` and read from the environment when a command needs it.
//! [`Secret`] never prints its value, in `Debug` or `Display`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default configuration file name, looked up in the current folder.
pub const DEFAULT_CONFIG_FILE: &str = "daffron-bridge.toml";

/// The default state file name, beside the configuration file.
pub const DEFAULT_STATE_FILE: &str = "daffron-bridge.sqlite";

/// The configuration built into the binary: the Lowell Light & Power demo
/// biller reading `samples/outbound` and talking to a local sandbox. Used when
/// no `--config` is given and no `daffron-bridge.toml` exists, so that a fresh
/// checkout can run the whole job without setup. It is read as if it were
/// `./samples/daffron-bridge.toml` (see [`Config::embedded_default`]).
pub const EMBEDDED_DEFAULT: &str = include_str!("../samples/daffron-bridge.toml");

/// A configuration problem. Every variant says where and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("configuration {origin} is not valid TOML: {message}")]
    Syntax { origin: String, message: String },

    /// Well-formed TOML whose value has the wrong form for its setting.
    #[error("configuration {origin}, line {line}: {place}: expected {expected}")]
    Shape {
        origin: String,
        line: usize,
        /// `[pump] batch_size = -5`, or `[pump] bogus` for a name.
        place: String,
        expected: String,
    },

    #[error("configuration {origin}: [{section}] {key} = {value}: expected {expected}")]
    BadValue {
        origin: String,
        section: &'static str,
        key: String,
        value: String,
        expected: &'static str,
    },

    #[error(
        "configuration {origin}: both [sftp] and [dropbox] are given; `pull` reads one source: remove one of them"
    )]
    TwoSources { origin: String },

    #[error(
        "configuration {origin}: advanced setting {id} ({name}) = {value:?}: expected {expected}"
    )]
    BadSetting {
        origin: String,
        id: u32,
        name: &'static str,
        value: String,
        expected: String,
    },

    #[error(
        "configuration {origin}: `{command}` needs advanced setting {id} ({name}); add it under [advanced_settings]"
    )]
    MissingSetting {
        origin: String,
        command: &'static str,
        id: u32,
        name: &'static str,
    },

    #[error("configuration {origin}: `{command}` needs the [{section}] section")]
    MissingSection {
        origin: String,
        command: &'static str,
        section: &'static str,
    },

    #[error(
        "the secret for {what} is read from environment variable {var}, which is not set; export it before running"
    )]
    MissingEnv { what: String, var: String },

    #[error(
        "configuration {origin}: {what} = {url} sends credentials in clear text to a host other than this machine; use https://, or set allow_insecure_http = true in {section} if that network is trusted"
    )]
    Cleartext {
        origin: String,
        what: &'static str,
        url: String,
        section: &'static str,
    },

    #[error("configuration {origin}: {what} ca_file {}: {message}", path.display())]
    CaFile {
        origin: String,
        what: &'static str,
        path: PathBuf,
        message: String,
    },
}

impl ConfigError {
    fn with_origin(mut self, o: &str) -> ConfigError {
        if let ConfigError::Cleartext { origin, .. } = &mut self {
            *origin = o.to_string();
        }
        self
    }
}

type CResult<T> = std::result::Result<T, ConfigError>;

/// A secret value: a password or a web-service key.
///
/// It is either inline (allowed for tests and demos, warned about) or read
/// from an environment variable when first needed. Printing a `Secret` never
/// shows its value.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    Env(String),
}

impl Secret {
    /// The secret's value. `what` names it in the error when the environment
    /// variable is missing ("advanced setting 10").
    pub fn expose(&self, what: &str) -> CResult<String> {
        match self {
            Secret::Inline(v) => Ok(v.clone()),
            Secret::Env(var) => std::env::var(var).map_err(|_| ConfigError::MissingEnv {
                what: what.to_string(),
                var: var.clone(),
            }),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret(inline, redacted)"),
            Secret::Env(var) => write!(f, "Secret(env {var})"),
        }
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("<redacted>"),
            Secret::Env(var) => write!(f, "${var}"),
        }
    }
}

/// Optional features a biller may have switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Scheduled-payment comments through WriteAccountHistoryComments
    /// (seed: INT-11451, Lowell Light & Power BID 2661 only).
    ScheduledPayments,
    /// Custom10 groups autopay payments into one call (seed: EBPP-8383,
    /// United Cooperative BID 3337).
    AutopayGrouping,
}

impl Feature {
    fn parse(s: &str) -> Option<Feature> {
        match s {
            "scheduled_payments" => Some(Feature::ScheduledPayments),
            "autopay_grouping" => Some(Feature::AutopayGrouping),
            _ => None,
        }
    }
}

/// `[biller]`: who the files and payments belong to.
#[derive(Debug, Clone)]
pub struct Biller {
    pub bid: u32,
    pub name: String,
    /// The FH BillerGuid of every file must equal this.
    pub guid: uuid::Uuid,
    /// Where `logTime` offsets come from (seed: "current date/time" with offset).
    pub timezone: chrono_tz::Tz,
    pub features: Vec<Feature>,
}

impl Biller {
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }
}

/// Setting 35, "Service Version" (D1): how amounts are written to Daffron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServiceVersion {
    /// Shortest form: `232.1`.
    #[default]
    V1,
    /// Exactly two decimals: `232.10` ("ServiceVersion2").
    V2,
}

/// Setting 119, "Remote PDF Service Version": which query parameters the
/// remote PDF link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum PdfVersion {
    /// ACCT, SUB.
    #[default]
    V1 = 1,
    /// ACCT, SUB, BCTR.
    V2 = 2,
    /// ACCT, SUB, BCTR, LDMO.
    V3 = 3,
    /// ACCT, SUB, BCTR, LDMO, PRINT_FORM=TRUE.
    V4 = 4,
}

impl PdfVersion {
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// Settings 64 and 65: `paymentSourceID(CODE)|...`, e.g. `0(WEB)|2(CSRWEB)|8(POS)`.
/// Maps InvoiceCloud's channel id to Daffron's paymentMode (D3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentModeMap(pub BTreeMap<u32, String>);

impl PaymentModeMap {
    /// Parses the IC form. Empty entries (a trailing `|`) are ignored.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for part in value.split('|').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, rest) = part
                .split_once('(')
                .ok_or_else(|| format!("`{part}` is not of the form N(CODE)"))?;
            let code = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("`{part}` is not of the form N(CODE)"))?
                .trim();
            let id: u32 = id.trim().parse().map_err(|_| {
                format!(
                    "`{part}`: payment source id `{}` is not a number",
                    id.trim()
                )
            })?;
            if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{part}`: code must be letters and digits"));
            }
            if map.insert(id, code.to_string()).is_some() {
                return Err(format!("payment source id {id} is listed twice"));
            }
        }
        Ok(PaymentModeMap(map))
    }

    pub fn get(&self, payment_source_id: u32) -> Option<&str> {
        self.0.get(&payment_source_id).map(String::as_str)
    }
}

/// `PdfConfig.BCTRModifier` of setting 131.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BctrModifier {
    /// BCTR is the whole Custom10.
    #[default]
    Whole,
    /// BCTR is the part of Custom10 after the dash (INT-5475).
    ValueAfterDash,
}

/// Setting 131, the JSON configuration. Only the keys this integration reads
/// are typed; others are kept by IC for other features and ignored here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonConfig {
    pub bctr_modifier: BctrModifier,
    /// `Daffron.DataPumpConfigs.SkipDonationTypes` (D11, INT-8007).
    pub skip_donation_types: bool,
    /// `Daffron.DataPumpConfigs.UsePaymentGuidAsTransactionId` (D4, ITG-3305).
    pub use_payment_guid_as_transaction_id: bool,
}

impl JsonConfig {
    pub fn parse(value: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(value).map_err(|e| format!("not valid JSON: {e}"))?;
        if !v.is_object() {
            return Err("a JSON object".into());
        }
        let mut out = JsonConfig::default();
        if let Some(m) = v.pointer("/PdfConfig/BCTRModifier") {
            out.bctr_modifier = match m.as_str() {
                Some("ValueAfterDash") => BctrModifier::ValueAfterDash,
                Some("") | Some("None") | Some("Whole") => BctrModifier::Whole,
                _ => {
                    return Err(format!(
                        "PdfConfig.BCTRModifier = {m}: expected \"ValueAfterDash\""
                    ));
                }
            };
        }
        let flag = |ptr: &str| -> Result<bool, String> {
            match v.pointer(ptr) {
                None => Ok(false),
                Some(serde_json::Value::Bool(b)) => Ok(*b),
                Some(other) => Err(format!(
                    "{} = {other}: expected true or false",
                    &ptr[1..].replace('/', ".")
                )),
            }
        };
        out.skip_donation_types = flag("/Daffron/DataPumpConfigs/SkipDonationTypes")?;
        out.use_payment_guid_as_transaction_id =
            flag("/Daffron/DataPumpConfigs/UsePaymentGuidAsTransactionId")?;
        Ok(out)
    }
}

/// One MultiSpeak endpoint: URL, user and password settings of a group.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// The setting id of the password, for error messages.
    pub password_setting: u32,
}

/// The IC advanced settings this integration reads, typed.
#[derive(Debug, Clone, Default)]
pub struct AdvancedSettings {
    /// 3: SSO customer login URL.
    pub sso_url: Option<String>,
    /// 6: customer portal, suppress change e-mail.
    pub suppress_change_email: bool,
    /// 8, 9, 10: RTDR (GetPayableItemsList).
    pub rtdr: Option<Endpoint>,
    /// 11, 12, 13: data pump payments (CommitPaymentTransaction).
    pub payments: Option<Endpoint>,
    /// 14, 15, 16: data pump paperless (ModifyCBDataForCustomer).
    pub paperless: Option<Endpoint>,
    /// 17, 18, 19: data pump autopay (WriteAccountHistoryComments). Scheduled
    /// payment comments use the same operation and so the same endpoint.
    pub autopay: Option<Endpoint>,
    /// 20: remote PDF base URL.
    pub remote_pdf_url: Option<String>,
    /// 32: customer profile, block ACH/CC read-only.
    pub block_readonly: bool,
    /// 35: service version (D1).
    pub service_version: ServiceVersion,
    /// 64: card paymentMode by payment source id.
    pub cc_modes: PaymentModeMap,
    /// 65: bank paymentMode by payment source id.
    pub ach_modes: PaymentModeMap,
    /// 119: remote PDF service version.
    pub pdf_version: PdfVersion,
    /// 131: JSON configuration; `None` where the setting does not exist.
    pub json: Option<JsonConfig>,
}

/// `[sftp]`: where Daffron drops BIF files.
#[derive(Debug, Clone)]
pub struct SftpConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key_file: Option<PathBuf>,
    pub password: Option<Secret>,
    pub known_hosts: PathBuf,
    pub remote_dir: String,
    pub archive_dir: String,
    pub failed_dir: String,
    pub settle_seconds: u64,
    pub timeout_seconds: u64,
    /// The largest file `pull` takes, in bytes ([`DEFAULT_MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
}

/// The largest BIF file `pull` takes unless `max_file_bytes` says otherwise:
/// 2 GiB, far above a real billing file (a 100,000-invoice file is tens of
/// MB), low enough that one runaway file cannot fill the disk or the night.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// `[dropbox]`: a local folder used instead of SFTP (demos, dry runs).
#[derive(Debug, Clone)]
pub struct DropboxConfig {
    pub dir: PathBuf,
    pub archive_dir: PathBuf,
    pub failed_dir: PathBuf,
    pub settle_seconds: u64,
    /// Copy taken files to the archive instead of moving them, so a demo can
    /// read the checked-in samples in place. A file already taken (same name
    /// and sha256) is still never taken twice.
    pub keep_originals: bool,
    /// The largest file `pull` takes, in bytes ([`DEFAULT_MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
}

/// `[invoicecloud]`: the UploadInvoiceFile endpoint.
#[derive(Debug, Clone)]
pub struct InvoiceCloudConfig {
    pub upload_url: String,
    pub web_service_key: Secret,
    /// Send again, by itself, a file whose upload went out without a usable
    /// answer (InvoiceCloud may then hold it twice). Off: a person decides.
    pub resend_unknown: bool,
    /// `upload_url` may be `http://` to a host other than loopback.
    pub allow_insecure_http: bool,
    /// CA certificates (PEM) the endpoint must chain to, instead of the
    /// built-in web roots.
    pub ca_file: Option<PathBuf>,
}

/// `[daffron]`: how Daffron's MultiSpeak endpoints (settings 8, 11, 14,
/// 17) are reached.
#[derive(Debug, Clone, Default)]
pub struct DaffronConfig {
    /// The endpoints may be `http://` to a host other than loopback (the
    /// password then crosses the network in clear text).
    pub allow_insecure_http: bool,
    /// CA certificates (PEM) of an on-premises server with a private CA,
    /// instead of the built-in web roots.
    pub ca_file: Option<PathBuf>,
}

/// `[paths]`, all absolute after loading.
#[derive(Debug, Clone)]
pub struct Paths {
    pub inbox: PathBuf,
    pub exports: PathBuf,
    pub reports: PathBuf,
    /// Files that failed validation, each with its error report beside it.
    pub quarantine: PathBuf,
    /// A per-biller BIF layout file replacing the embedded one.
    pub layout: Option<PathBuf>,
    /// Where `run` writes its counters and durations in the Prometheus text
    /// format (node_exporter's textfile collector), if anywhere.
    pub metrics: Option<PathBuf>,
    /// The SQLite state file when `--state` is not given; default
    /// `daffron-bridge.sqlite` beside the configuration file.
    pub state: PathBuf,
}

/// `[pump]`: how the data pump talks to Daffron.
#[derive(Debug, Clone)]
pub struct PumpConfig {
    pub batch_size: usize,
    /// Calls in flight at once on the payments endpoint (setting 11).
    pub parallel_calls: usize,
    pub max_attempts: u32,
    /// D3: paymentMode for a payment source with no entry in 64/65.
    pub default_payment_mode: String,
    pub app_name: String,
    pub app_version: String,
    pub company: String,
    /// Per-request HTTP timeout.
    pub timeout_seconds: u64,
    /// Across runs: an item that got no final answer waits this long before
    /// its second attempt; each later wait doubles (full jitter).
    pub backoff_seconds: u64,
    /// Across runs: no wait is longer than this.
    pub max_backoff_seconds: u64,
    /// Within a run: tries of one call that fails as a whole for a transient
    /// reason (connect, timeout, HTTP 5xx, an unusable answer).
    pub call_tries: u32,
    /// Within a run: the pause before the second try; later ones double.
    pub retry_pause_ms: u64,
    /// `run`'s verification: at most this many accounts paid in the run
    /// are asked for their balance (RTDR), sampled when there are more; 0
    /// turns verification off.
    pub verify_limit: usize,
}

impl PumpConfig {
    /// Within a run: the policy for one call that fails as a whole (used by
    /// `upload` and `sweep`).
    pub fn call_policy(&self) -> crate::retry::RetryPolicy {
        crate::retry::RetryPolicy {
            tries: self.call_tries,
            first_delay: std::time::Duration::from_millis(self.retry_pause_ms),
            max_delay: std::time::Duration::from_millis(self.retry_pause_ms.saturating_mul(8)),
            jitter: crate::retry::Jitter::Full,
        }
    }

    /// Across runs: when an outbox item that got no final answer is due again.
    pub fn item_policy(&self) -> crate::retry::RetryPolicy {
        crate::retry::RetryPolicy {
            tries: self.max_attempts,
            first_delay: std::time::Duration::from_secs(self.backoff_seconds),
            max_delay: std::time::Duration::from_secs(self.max_backoff_seconds),
            jitter: crate::retry::Jitter::Full,
        }
    }
}

/// `[sandbox]`: run the local stand-in in-process and point every endpoint
/// at it. Only the embedded demo configuration sets this.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    pub embedded: bool,
    /// BIF files whose accounts seed the embedded sandbox.
    pub seed: Vec<PathBuf>,
    /// The embedded sandbox's JSON state file, so that what one command
    /// posted (payments, paperless changes) is still there for the next;
    /// `None` keeps it in memory for one command only.
    pub state: Option<PathBuf>,
}

/// A loaded, typed configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from, for messages: a path or "(embedded default)".
    pub origin: String,
    /// The folder relative paths are resolved against.
    pub base_dir: PathBuf,
    pub biller: Biller,
    pub settings: AdvancedSettings,
    pub sftp: Option<SftpConfig>,
    pub dropbox: Option<DropboxConfig>,
    pub invoicecloud: Option<InvoiceCloudConfig>,
    pub daffron: DaffronConfig,
    pub paths: Paths,
    pub pump: PumpConfig,
    pub sandbox: SandboxConfig,
    /// Non-fatal remarks (unknown setting ids, inline secrets).
    pub warnings: Vec<String>,
}

// ---- raw TOML shapes --------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    biller: RawBiller,
    #[serde(default)]
    advanced_settings: toml::Table,
    sftp: Option<RawSftp>,
    dropbox: Option<RawDropbox>,
    invoicecloud: Option<RawInvoiceCloud>,
    #[serde(default)]
    daffron: RawDaffron,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    pump: RawPump,
    sandbox: Option<RawSandbox>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBiller {
    bid: u32,
    name: String,
    guid: String,
    #[serde(default = "default_timezone")]
    timezone: String,
    #[serde(default)]
    features: Vec<String>,
}

fn default_timezone() -> String {
    "America/Chicago".into()
}

/// A secret as written: a string, or `{ env = "NAME" }` and nothing else.
#[derive(Clone)]
enum RawSecret {
    Inline(String),
    Env(String),
}

impl<'de> Deserialize<'de> for RawSecret {
    /// By hand, not derived: a derived struct also takes `["x"]` (a
    /// sequence) as `{ env = "x" }`, and a value beside `env` would be
    /// ignored. The error never quotes the value.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(RawSecret::Inline(s)),
            toml::Value::Table(t) if t.len() == 1 => match t.get("env") {
                Some(toml::Value::String(var)) if !var.is_empty() => {
                    Ok(RawSecret::Env(var.clone()))
                }
                _ => Err(serde::de::Error::custom(SECRET_FORMS)),
            },
            _ => Err(serde::de::Error::custom(SECRET_FORMS)),
        }
    }
}

/// What a secret may be written as (its value is not shown).
const SECRET_FORMS: &str =
    "a secret is written { env = \"NAME\" } or as a string (the value is not shown)";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSftp {
    host: String,
    #[serde(default = "default_ssh_port")]
    port: u16,
    user: String,
    key_file: Option<PathBuf>,
    password: Option<RawSecret>,
    known_hosts: PathBuf,
    remote_dir: String,
    archive_dir: String,
    failed_dir: String,
    #[serde(default = "default_settle")]
    settle_seconds: u64,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
    #[serde(default = "default_max_file_bytes")]
    max_file_bytes: u64,
}

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}

fn default_ssh_port() -> u16 {
    22
}
fn default_settle() -> u64 {
    30
}
fn default_timeout() -> u64 {
    30
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDropbox {
    dir: PathBuf,
    archive_dir: Option<PathBuf>,
    failed_dir: Option<PathBuf>,
    #[serde(default)]
    settle_seconds: u64,
    #[serde(default)]
    keep_originals: bool,
    #[serde(default = "default_max_file_bytes")]
    max_file_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInvoiceCloud {
    upload_url: String,
    web_service_key: RawSecret,
    #[serde(default)]
    resend_unknown: bool,
    #[serde(default)]
    allow_insecure_http: bool,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaffron {
    #[serde(default)]
    allow_insecure_http: bool,
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    inbox: Option<PathBuf>,
    exports: Option<PathBuf>,
    reports: Option<PathBuf>,
    quarantine: Option<PathBuf>,
    layout: Option<PathBuf>,
    metrics: Option<PathBuf>,
    state: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPump {
    batch_size: Option<usize>,
    parallel_calls: Option<usize>,
    max_attempts: Option<u32>,
    default_payment_mode: Option<String>,
    app_name: Option<String>,
    app_version: Option<String>,
    company: Option<String>,
    timeout_seconds: Option<u64>,
    backoff_seconds: Option<u64>,
    max_backoff_seconds: Option<u64>,
    call_tries: Option<u32>,
    retry_pause_ms: Option<u64>,
    verify_limit: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    #[serde(default)]
    embedded: bool,
    #[serde(default)]
    seed: Vec<PathBuf>,
    state: Option<PathBuf>,
}

// ---- loading ----------------------------------------------------------------

/// The name IC gives each advanced setting this integration knows.
pub fn setting_name(id: u32) -> Option<&'static str> {
    Some(match id {
        3 => "SSO Customer Login URL",
        6 => "Customer Portal - Suppress Change Email",
        8 => "RTDR EndPoint/Webservice URL",
        9 => "RTDR Username",
        10 => "RTDR Password",
        11 => "DataPump Payments EndPoint/Webservice URL",
        12 => "DataPump Payments EndPoint/Webservice Username",
        13 => "DataPump Payments EndPoint/Webservice Password",
        14 => "DataPump Paperless EndPoint/Webservice URL",
        15 => "DataPump Paperless EndPoint/Webservice Username",
        16 => "DataPump Paperless EndPoint/Webservice Password",
        17 => "DataPump Autopay EndPoint/Webservice URL",
        18 => "DataPump Autopay EndPoint/Webservice Username",
        19 => "DataPump Autopay EndPoint/Webservice Password",
        20 => "Remote PDF EndPoint/Webservice URL",
        32 => "Customer Profile - Set Block ACH/CC as ReadOnly",
        35 => "Service Version",
        64 => "DataPump Payments CC Code",
        65 => "DataPump Payments ACH Code",
        119 => "Remote PDF Service Version",
        131 => "JSON Configuration",
        _ => return None,
    })
}

impl Config {
    /// Loads the file at `path`.
    pub fn load(path: &Path) -> CResult<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = std::path::absolute(&base).unwrap_or(base);
        Config::parse(&text, &path.display().to_string(), &base)
    }

    /// The configuration built into the binary, read as
    /// `./samples/daffron-bridge.toml` is: its relative paths are relative to
    /// `./samples`, so in a checkout the embedded default and
    /// `--config samples/daffron-bridge.toml` are the same configuration, with
    /// the same files. The folder need not exist (paths are joined, not
    /// resolved on disk).
    pub fn embedded_default() -> CResult<Config> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Config::parse(EMBEDDED_DEFAULT, "(embedded default)", &cwd.join("samples"))
    }

    /// Parses configuration text; `origin` names it in messages and relative
    /// paths are resolved against `base_dir`.
    pub fn parse(text: &str, origin: &str, base_dir: &Path) -> CResult<Config> {
        let origin = origin.to_string();
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, &origin, &e))?;
        let mut warnings = Vec::new();
        let rel = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                lexical_join(base_dir, p)
            }
        };
        let bad = |section: &'static str, key: &str, value: &str, expected: &'static str| {
            ConfigError::BadValue {
                origin: origin.clone(),
                section,
                key: key.to_string(),
                value: value.to_string(),
                expected,
            }
        };
        let mut secret = |raw: RawSecret, what: String| match raw {
            RawSecret::Env(env) => Secret::Env(env),
            RawSecret::Inline(v) => {
                warnings.push(format!(
                    "{what} is written inline; use {{ env = \"NAME\" }} outside tests and demos"
                ));
                Secret::Inline(v)
            }
        };

        // [biller]
        let rb = raw.biller;
        let guid = uuid::Uuid::parse_str(rb.guid.trim()).map_err(|_| {
            bad(
                "biller",
                "guid",
                &rb.guid,
                "a GUID such as 5F0C1A2B-...-...",
            )
        })?;
        let timezone: chrono_tz::Tz = rb.timezone.parse().map_err(|_| {
            bad(
                "biller",
                "timezone",
                &rb.timezone,
                "an IANA time zone such as America/Chicago",
            )
        })?;
        let mut features = Vec::new();
        for f in &rb.features {
            features.push(Feature::parse(f).ok_or_else(|| {
                bad(
                    "biller",
                    "features",
                    f,
                    "\"scheduled_payments\" or \"autopay_grouping\"",
                )
            })?);
        }
        let biller = Biller {
            bid: rb.bid,
            name: rb.name,
            guid,
            timezone,
            features,
        };

        // [sftp], [dropbox], [invoicecloud]
        if raw.sftp.is_some() && raw.dropbox.is_some() {
            return Err(ConfigError::TwoSources {
                origin: origin.clone(),
            });
        }
        let sftp = match raw.sftp {
            None => None,
            Some(s) => {
                if s.key_file.is_none() && s.password.is_none() {
                    return Err(bad("sftp", "key_file", "(absent)", "key_file or password"));
                }
                if s.max_file_bytes == 0 {
                    return Err(bad("sftp", "max_file_bytes", "0", "at least 1 (bytes)"));
                }
                Some(SftpConfig {
                    host: s.host,
                    port: s.port,
                    user: s.user,
                    key_file: s.key_file.as_deref().map(rel),
                    password: s.password.map(|p| secret(p, "[sftp] password".into())),
                    known_hosts: rel(&s.known_hosts),
                    remote_dir: s.remote_dir,
                    archive_dir: s.archive_dir,
                    failed_dir: s.failed_dir,
                    settle_seconds: s.settle_seconds,
                    timeout_seconds: s.timeout_seconds,
                    max_file_bytes: s.max_file_bytes,
                })
            }
        };
        if raw.dropbox.as_ref().is_some_and(|d| d.max_file_bytes == 0) {
            return Err(bad("dropbox", "max_file_bytes", "0", "at least 1 (bytes)"));
        }
        let dropbox = raw.dropbox.map(|d| {
            let dir = rel(&d.dir);
            DropboxConfig {
                archive_dir: d
                    .archive_dir
                    .as_deref()
                    .map(rel)
                    .unwrap_or_else(|| dir.join("archive")),
                failed_dir: d
                    .failed_dir
                    .as_deref()
                    .map(rel)
                    .unwrap_or_else(|| dir.join("failed")),
                dir,
                settle_seconds: d.settle_seconds,
                keep_originals: d.keep_originals,
                max_file_bytes: d.max_file_bytes,
            }
        });
        let invoicecloud = match raw.invoicecloud {
            None => None,
            Some(ic) => {
                check_url(&ic.upload_url).map_err(|_| {
                    bad(
                        "invoicecloud",
                        "upload_url",
                        &ic.upload_url,
                        "an http:// or https:// URL",
                    )
                })?;
                Some(InvoiceCloudConfig {
                    upload_url: ic.upload_url,
                    web_service_key: secret(
                        ic.web_service_key,
                        "[invoicecloud] web_service_key".into(),
                    ),
                    resend_unknown: ic.resend_unknown,
                    allow_insecure_http: ic.allow_insecure_http,
                    ca_file: ic.ca_file.as_deref().map(rel),
                })
            }
        };

        // [paths]
        let p = raw.paths;
        let path_or = |v: Option<PathBuf>, d: &str| rel(v.as_deref().unwrap_or(Path::new(d)));
        let paths = Paths {
            inbox: path_or(p.inbox, "inbox"),
            exports: path_or(p.exports, "exports"),
            reports: path_or(p.reports, "reports"),
            quarantine: path_or(p.quarantine, "quarantine"),
            layout: p.layout.as_deref().map(rel),
            metrics: p.metrics.as_deref().map(rel),
            state: path_or(p.state, DEFAULT_STATE_FILE),
        };

        // [pump]
        let rp = raw.pump;
        let pump = PumpConfig {
            batch_size: rp.batch_size.unwrap_or(100),
            parallel_calls: rp.parallel_calls.unwrap_or(2),
            max_attempts: rp.max_attempts.unwrap_or(8),
            default_payment_mode: rp.default_payment_mode.unwrap_or_else(|| "OBD".into()),
            app_name: rp.app_name.unwrap_or_else(|| "InvoiceCloud".into()),
            app_version: rp
                .app_version
                .unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
            company: rp.company.unwrap_or_else(|| "Invoice Cloud".into()),
            timeout_seconds: rp.timeout_seconds.unwrap_or(30),
            backoff_seconds: rp.backoff_seconds.unwrap_or(60),
            max_backoff_seconds: rp.max_backoff_seconds.unwrap_or(6 * 3600),
            call_tries: rp.call_tries.unwrap_or(3),
            retry_pause_ms: rp.retry_pause_ms.unwrap_or(500),
            verify_limit: rp.verify_limit.unwrap_or(200),
        };
        if pump.call_tries == 0 {
            return Err(bad("pump", "call_tries", "0", "at least 1"));
        }
        if pump.parallel_calls == 0 || pump.parallel_calls > 16 {
            return Err(bad(
                "pump",
                "parallel_calls",
                &pump.parallel_calls.to_string(),
                "1 to 16",
            ));
        }
        if pump.batch_size == 0 {
            return Err(bad("pump", "batch_size", "0", "at least 1"));
        }
        if pump.max_attempts == 0 {
            return Err(bad("pump", "max_attempts", "0", "at least 1"));
        }
        if pump.timeout_seconds == 0 {
            return Err(bad("pump", "timeout_seconds", "0", "at least 1"));
        }

        let sandbox = raw
            .sandbox
            .map(|s| SandboxConfig {
                embedded: s.embedded,
                seed: s.seed.iter().map(|p| rel(p)).collect(),
                state: s.state.as_deref().map(rel),
            })
            .unwrap_or_default();

        let settings = parse_settings(&raw.advanced_settings, &origin, &mut warnings)?;
        let daffron = DaffronConfig {
            allow_insecure_http: raw.daffron.allow_insecure_http,
            ca_file: raw.daffron.ca_file.as_deref().map(rel),
        };

        // No password or key in clear text by accident: `http://` only to
        // this machine, unless the section says so (warned every run).
        let endpoints = [
            (&settings.rtdr, "advanced setting 8"),
            (&settings.payments, "advanced setting 11"),
            (&settings.paperless, "advanced setting 14"),
            (&settings.autopay, "advanced setting 17"),
        ];
        for (ep, what) in endpoints {
            if let Some(ep) = ep {
                let w = check_cleartext(&ep.url, what, "[daffron]", daffron.allow_insecure_http)
                    .map_err(|e| e.with_origin(&origin))?;
                warnings.extend(w);
            }
        }
        if let Some(ic) = &invoicecloud {
            let w = check_cleartext(
                &ic.upload_url,
                "[invoicecloud] upload_url",
                "[invoicecloud]",
                ic.allow_insecure_http,
            )
            .map_err(|e| e.with_origin(&origin))?;
            warnings.extend(w);
        }

        Ok(Config {
            origin,
            base_dir: base_dir.to_path_buf(),
            biller,
            settings,
            sftp,
            dropbox,
            invoicecloud,
            daffron,
            paths,
            pump,
            sandbox,
            warnings,
        })
    }

    /// The `[sftp]` section, or an error naming the command that needs it.
    pub fn require_sftp(&self, command: &'static str) -> CResult<&SftpConfig> {
        self.sftp
            .as_ref()
            .ok_or_else(|| self.missing_section(command, "sftp"))
    }

    /// The `[invoicecloud]` section, or an error naming the command that needs it.
    pub fn require_invoicecloud(&self, command: &'static str) -> CResult<&InvoiceCloudConfig> {
        self.invoicecloud
            .as_ref()
            .ok_or_else(|| self.missing_section(command, "invoicecloud"))
    }

    /// An endpoint group (RTDR, payments, ...), or an error naming the URL
    /// setting it lacks.
    pub fn require_endpoint<'a>(
        &'a self,
        command: &'static str,
        endpoint: &'a Option<Endpoint>,
        url_setting: u32,
    ) -> CResult<&'a Endpoint> {
        endpoint
            .as_ref()
            .ok_or_else(|| ConfigError::MissingSetting {
                origin: self.origin.clone(),
                command,
                id: url_setting,
                name: setting_name(url_setting).unwrap_or("?"),
            })
    }

    /// Setting 20, or an error naming it.
    pub fn require_remote_pdf_url(&self, command: &'static str) -> CResult<&str> {
        self.settings
            .remote_pdf_url
            .as_deref()
            .ok_or_else(|| ConfigError::MissingSetting {
                origin: self.origin.clone(),
                command,
                id: 20,
                name: setting_name(20).unwrap_or("?"),
            })
    }

    fn missing_section(&self, command: &'static str, section: &'static str) -> ConfigError {
        ConfigError::MissingSection {
            origin: self.origin.clone(),
            command,
            section,
        }
    }
}

/// `Err` when `url` is `http://` to a host other than loopback and the
/// section does not allow it; `Ok(Some(warning))` when it allows it.
fn check_cleartext(
    url: &str,
    what: &'static str,
    section: &'static str,
    allowed: bool,
) -> CResult<Option<String>> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(None);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(None)
    } else if allowed {
        Ok(Some(format!(
            "{what} = {url} is plain http:// to another host (allow_insecure_http in {section}): credentials cross the network in clear text"
        )))
    } else {
        Err(ConfigError::Cleartext {
            origin: String::new(),
            what,
            url: url.to_string(),
            section,
        })
    }
}

/// A TOML error in words: where TOML itself is broken, its own message;
/// where a value has the wrong type or a name is unknown, the section, the
/// setting, its value (never a secret's) and the form expected, said for
/// people ("a whole number, written without quotes"), not serde's
/// ("expected u32").
fn toml_error(text: &str, origin: &str, e: &toml::de::Error) -> ConfigError {
    let msg = e.message();
    let shape = [
        "invalid type",
        "invalid value",
        "unknown field",
        "missing field",
        "data did not match",
        SECRET_FORMS,
    ]
    .iter()
    .any(|p| msg.starts_with(p));
    let Some(span) = e.span().filter(|_| shape) else {
        // toml's own Display quotes the source line, which may hold a
        // secret: the position and the key only.
        return ConfigError::Syntax {
            origin: origin.to_string(),
            message: syntax_message(text, e),
        };
    };
    let (line_no, line_start, _) = position(text, span.start);
    let line = text
        .get(line_start..)
        .and_then(|l| l.lines().next())
        .unwrap_or("");
    let section = text
        .get(..line_start)
        .unwrap_or("")
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.split('#').next().unwrap_or(l).trim().to_string())
        .unwrap_or_default();
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    let value = text.get(span.clone()).unwrap_or("").trim().to_string();
    // Secret settings (the passwords 10, 13, 16, 19, the web service key,
    // an SFTP password) and anything inside an `{ env = ... }` table are
    // never shown, whatever their form.
    let secret = key.contains("password")
        || key.contains("web_service_key")
        || matches!(key.as_str(), "10" | "13" | "16" | "19")
        || line.contains("env");
    let quoted = value.starts_with('"') || value.starts_with('\'');
    let after = |p: &str| msg.split_once(p).map(|(_, r)| r.trim().to_string());
    let (place, expected) = if msg.starts_with(SECRET_FORMS) {
        // A secret of the wrong form: where, and the form; never the value.
        (format!("{section} {key}"), msg.to_string())
    } else if let Some(field) = msg.strip_prefix("unknown field ") {
        let name = field.split('`').nth(1).unwrap_or(field);
        let known = after("expected ").unwrap_or_default();
        (
            format!("{section} {name}"),
            format!("a setting of {section} ({known})"),
        )
    } else if let Some(field) = msg.strip_prefix("missing field ") {
        let name = field.split('`').nth(1).unwrap_or(field);
        (section.clone(), format!("{name} = ... in {section}"))
    } else {
        let want = after("expected ").unwrap_or_default();
        let words = match want.as_str() {
            "u16" => "a whole number from 0 to 65535".to_string(),
            "u8" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_string(),
            "i64" | "i32" => "a whole number".to_string(),
            "a boolean" => "true or false".to_string(),
            "a string" => "text in quotes".to_string(),
            "a sequence" => "a list in brackets, such as [\"a\", \"b\"]".to_string(),
            _ if msg.starts_with("data did not match") => {
                "{ env = \"NAME\" } (the secret read from the environment) or text in quotes"
                    .to_string()
            }
            other => other.to_string(),
        };
        let numeric = matches!(
            want.as_str(),
            "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64"
        );
        let words = if (numeric || want == "a boolean") && quoted {
            format!("{words}, written without quotes")
        } else {
            words
        };
        let shown = if secret {
            "<redacted>".to_string()
        } else {
            value
        };
        (format!("{section} {key} = {shown}"), words)
    };
    ConfigError::Shape {
        origin: origin.to_string(),
        line: line_no,
        place: place.trim().to_string(),
        expected,
    }
}

/// `base` joined with the relative `rel`, `.` and `..` taken off by the
/// letters, not on disk: `samples` + `../demo/inbox` is `demo/inbox` even
/// where `samples/` does not exist (the kernel would refuse `samples/..`).
fn lexical_join(base: &Path, rel: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // Above the root is the root.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Accepts `http://host...` and `https://host...` with a non-empty host.
fn check_url(url: &str) -> Result<(), ()> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or(())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) || url.contains(char::is_whitespace) {
        return Err(());
    }
    Ok(())
}

/// The text form of a TOML value, as an error message shows it. A table is
/// not shown: it may be a secret's `{ env = ... }` with a value put beside it.
fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Table(_) => "(a table, not shown)".into(),
        other => other.to_string(),
    }
}

/// How an error shows the value of a secret setting: never.
const SECRET_NOT_SHOWN: &str = "(a secret, not shown)";

/// A TOML error as `line L, column C (key): message`.
///
/// Why not the toml crate's own text: it quotes the offending source line,
/// which for a secret written inline (or half-written, an unterminated
/// string) is the secret itself. Its message alone never holds a secret's
/// value: secrets are untagged enums of string or table, whose mismatch the
/// message names without the value.
/// Where byte `at` of the configuration is: its line (from 1), the byte
/// its line starts at, and its column (characters, from 1). Never panics,
/// whatever `at` is.
fn position(text: &str, at: usize) -> (usize, usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text.get(line_start..at).map_or(0, |s| s.chars().count()) + 1;
    (line, line_start, column)
}

fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return message.to_string();
    };
    let (line, line_start, column) = position(text, span.start);
    // The key of that line, when the line is `key = ...` with a plain key.
    let key = text
        .get(line_start..)
        .and_then(|l| l.lines().next())
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    match key {
        Some(k) => format!("line {line}, column {column} (`{k}`): {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

fn parse_settings(
    table: &toml::Table,
    origin: &str,
    warnings: &mut Vec<String>,
) -> CResult<AdvancedSettings> {
    let mut s = AdvancedSettings::default();
    let mut by_id: BTreeMap<u32, &toml::Value> = BTreeMap::new();
    for (key, value) in table {
        match key.trim().parse::<u32>() {
            Ok(id) => {
                by_id.insert(id, value);
            }
            Err(_) => {
                // The value is not shown: a key that is not an id says
                // nothing of whether it holds a secret.
                return Err(ConfigError::BadValue {
                    origin: origin.to_string(),
                    section: "advanced_settings",
                    key: key.clone(),
                    value: "...".into(),
                    expected: "numeric IC setting ids as keys",
                });
            }
        }
    }

    let bad = |id: u32, value: &toml::Value, expected: String| ConfigError::BadSetting {
        origin: origin.to_string(),
        id,
        name: setting_name(id).unwrap_or("unknown"),
        value: shown(value),
        expected,
    };
    // A setting stored as text by IC; integers and booleans are accepted too.
    let text = |id: u32, v: &toml::Value| -> CResult<String> {
        match v {
            toml::Value::String(s) => Ok(s.trim().to_string()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Boolean(b) => Ok(if *b { "1".into() } else { "0".into() }),
            _ => Err(bad(id, v, "a string".into())),
        }
    };
    let url = |id: u32, v: &toml::Value| -> CResult<String> {
        let t = text(id, v)?;
        check_url(&t).map_err(|_| bad(id, v, "an http:// or https:// URL".into()))?;
        Ok(t)
    };
    let flag = |id: u32, v: &toml::Value| -> CResult<bool> {
        match text(id, v)?.as_str() {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(bad(id, v, "0 or 1".into())),
        }
    };
    let secret = |id: u32, v: &toml::Value, warnings: &mut Vec<String>| -> CResult<Secret> {
        let refused = || ConfigError::BadSetting {
            origin: origin.to_string(),
            id,
            name: setting_name(id).unwrap_or("unknown"),
            value: SECRET_NOT_SHOWN.into(),
            expected: "{ env = \"NAME\" } or a string".into(),
        };
        match v {
            toml::Value::Table(t) => match (t.len(), t.get("env")) {
                (1, Some(toml::Value::String(var))) if !var.is_empty() => {
                    Ok(Secret::Env(var.clone()))
                }
                _ => Err(refused()),
            },
            toml::Value::String(val) => {
                warnings.push(format!(
                    "advanced setting {id} ({}) is written inline; use {{ env = \"NAME\" }} outside tests and demos",
                    setting_name(id).unwrap_or("?")
                ));
                Ok(Secret::Inline(val.clone()))
            }
            _ => Err(refused()),
        }
    };

    let mut endpoint = |url_id: u32| -> CResult<Option<Endpoint>> {
        let Some(u) = by_id.get(&url_id) else {
            for id in [url_id + 1, url_id + 2] {
                if by_id.contains_key(&id) {
                    warnings.push(format!(
                        "advanced setting {id} ({}) is set but its URL setting {url_id} is not; it is unused",
                        setting_name(id).unwrap_or("?")
                    ));
                }
            }
            return Ok(None);
        };
        let user = by_id
            .get(&(url_id + 1))
            .map(|v| text(url_id + 1, v))
            .transpose()?;
        let password = by_id
            .get(&(url_id + 2))
            .map(|v| secret(url_id + 2, v, warnings))
            .transpose()?;
        Ok(Some(Endpoint {
            url: url(url_id, u)?,
            user,
            password,
            password_setting: url_id + 2,
        }))
    };
    s.rtdr = endpoint(8)?;
    s.payments = endpoint(11)?;
    s.paperless = endpoint(14)?;
    s.autopay = endpoint(17)?;

    for (&id, &v) in &by_id {
        match id {
            8..=19 => {} // endpoint groups, above
            3 => s.sso_url = Some(url(id, v)?),
            6 => s.suppress_change_email = flag(id, v)?,
            20 => s.remote_pdf_url = Some(url(id, v)?),
            32 => s.block_readonly = flag(id, v)?,
            35 => {
                s.service_version = match text(id, v)?.as_str() {
                    "1" => ServiceVersion::V1,
                    "2" => ServiceVersion::V2,
                    _ => return Err(bad(id, v, "1 or 2".into())),
                }
            }
            64 => {
                s.cc_modes = PaymentModeMap::parse(&text(id, v)?).map_err(|e| {
                    bad(
                        id,
                        v,
                        format!("N(CODE)|N(CODE)|... such as 0(WEB)|2(CSRWEB)|8(POS); {e}"),
                    )
                })?
            }
            65 => {
                s.ach_modes = PaymentModeMap::parse(&text(id, v)?).map_err(|e| {
                    bad(
                        id,
                        v,
                        format!("N(CODE)|N(CODE)|... such as 0(WEB)|2(CSRWEB)|8(POS); {e}"),
                    )
                })?
            }
            119 => {
                s.pdf_version = match text(id, v)?.as_str() {
                    "1" => PdfVersion::V1,
                    "2" => PdfVersion::V2,
                    "3" => PdfVersion::V3,
                    "4" => PdfVersion::V4,
                    _ => return Err(bad(id, v, "1, 2, 3 or 4".into())),
                }
            }
            131 => {
                s.json = Some(
                    JsonConfig::parse(&text(id, v)?)
                        .map_err(|e| bad(id, v, format!("the JSON configuration: {e}")))?,
                )
            }
            other => warnings.push(format!(
                "advanced setting {other} is not used by this integration; ignored"
            )),
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[biller]
bid = 2661
name = "Lowell Light & Power"
guid = "5F0C1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A5B"
"#;

    fn parse(extra: &str) -> CResult<Config> {
        Config::parse(
            &format!("{MINIMAL}\n{extra}"),
            "test.toml",
            Path::new("/etc/db"),
        )
    }

    #[test]
    fn minimal_config_has_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.biller.bid, 2661);
        assert_eq!(c.paths.inbox, Path::new("/etc/db/inbox"));
        assert_eq!(c.pump.batch_size, 100);
        assert_eq!(c.pump.default_payment_mode, "OBD");
        assert_eq!(c.settings.pdf_version, PdfVersion::V1);
        assert_eq!(c.settings.service_version, ServiceVersion::V1);
        assert!(c.settings.json.is_none());
        assert!(c.sftp.is_none());
    }

    #[test]
    fn typed_settings() {
        let c = parse(
            r#"
[advanced_settings]
8 = "http://127.0.0.1:8083/tbx-daily/services/CB"
9 = "InvoiceCloud"
10 = { env = "DAFFRON_RTDR_PASSWORD" }
35 = "2"
64 = "0(WEB)|2(CSRWEB)|8(POS)"
65 = 8
119 = 4
131 = '{"PdfConfig":{"BCTRModifier":"ValueAfterDash"},"Daffron":{"DataPumpConfigs":{"SkipDonationTypes":true,"UsePaymentGuidAsTransactionId":true}}}'
"#,
        )
        .unwrap_err();
        // 65 = 8 is not of the N(CODE) form.
        let msg = c.to_string();
        assert!(msg.contains("setting 65"), "{msg}");
        assert!(msg.contains("\"8\""), "{msg}");
        assert!(msg.contains("N(CODE)"), "{msg}");

        let c = parse(
            r#"
[advanced_settings]
8 = "http://127.0.0.1:8083/tbx-daily/services/CB"
9 = "InvoiceCloud"
10 = { env = "DAFFRON_RTDR_PASSWORD" }
35 = "2"
64 = "0(WEB)|2(CSRWEB)|8(POS)"
119 = 4
131 = '{"PdfConfig":{"BCTRModifier":"ValueAfterDash"},"Daffron":{"DataPumpConfigs":{"SkipDonationTypes":true,"UsePaymentGuidAsTransactionId":true}}}'
"#,
        )
        .unwrap();
        let s = &c.settings;
        let rtdr = s.rtdr.as_ref().unwrap();
        assert_eq!(rtdr.user.as_deref(), Some("InvoiceCloud"));
        assert_eq!(
            rtdr.password,
            Some(Secret::Env("DAFFRON_RTDR_PASSWORD".into()))
        );
        assert_eq!(s.service_version, ServiceVersion::V2);
        assert_eq!(s.cc_modes.get(2), Some("CSRWEB"));
        assert_eq!(s.cc_modes.get(5), None);
        assert_eq!(s.pdf_version, PdfVersion::V4);
        let j = s.json.as_ref().unwrap();
        assert_eq!(j.bctr_modifier, BctrModifier::ValueAfterDash);
        assert!(j.skip_donation_types && j.use_payment_guid_as_transaction_id);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    /// `pull` reads one source; `doctor` must not pass a configuration
    /// that names two, so the rule is the configuration's.
    #[test]
    fn sftp_and_dropbox_together_are_refused() {
        let sftp = "[sftp]\nhost = \"h\"\nuser = \"u\"\nkey_file = \"k\"\nknown_hosts = \"kh\"\n\
                    remote_dir = \"/o\"\narchive_dir = \"/o/a\"\nfailed_dir = \"/o/f\"\n";
        let e = parse(&format!("{sftp}[dropbox]\ndir = \"in\"\n")).unwrap_err();
        assert!(matches!(e, ConfigError::TwoSources { .. }), "{e}");
        assert!(e.to_string().contains("remove one of them"), "{e}");
    }

    #[test]
    fn max_file_bytes_defaults_to_2_gib_and_is_never_0() {
        let sftp = "[sftp]\nhost = \"h\"\nuser = \"u\"\nkey_file = \"k\"\nknown_hosts = \"kh\"\n\
                    remote_dir = \"/o\"\narchive_dir = \"/o/a\"\nfailed_dir = \"/o/f\"\n";
        let c = parse(sftp).unwrap();
        assert_eq!(c.sftp.unwrap().max_file_bytes, 2_147_483_648);
        let c = parse("[dropbox]\ndir = \"in\"\n").unwrap();
        assert_eq!(c.dropbox.unwrap().max_file_bytes, 2_147_483_648);
        let c = parse("[dropbox]\ndir = \"in\"\nmax_file_bytes = 1000\n").unwrap();
        assert_eq!(c.dropbox.unwrap().max_file_bytes, 1000);
        let c = parse(&format!("{sftp}max_file_bytes = 5000\n")).unwrap();
        assert_eq!(c.sftp.unwrap().max_file_bytes, 5000);
        for text in [
            format!("{sftp}max_file_bytes = 0\n"),
            "[dropbox]\ndir = \"in\"\nmax_file_bytes = 0\n".to_string(),
        ] {
            let e = parse(&text).unwrap_err().to_string();
            assert!(
                e.contains("max_file_bytes") && e.contains("at least 1"),
                "{e}"
            );
        }
        let e = parse("[dropbox]\ndir = \"in\"\nmax_file_bytes = -1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_file_bytes"), "{e}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (line, want) in [
            ("119 = \"5\"", "setting 119"),
            ("35 = \"3\"", "setting 35"),
            ("8 = \"ftp://x\"", "setting 8"),
            (
                "131 = '{\"PdfConfig\":{\"BCTRModifier\":\"Left\"}}'",
                "setting 131",
            ),
            ("131 = 'not json'", "setting 131"),
            ("6 = \"yes\"", "setting 6"),
        ] {
            let err = parse(&format!("[advanced_settings]\n{line}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{line}: {err}");
            assert!(err.contains("expected"), "{line}: {err}");
        }
    }

    #[test]
    fn unknown_setting_is_a_warning_and_inline_secret_too() {
        let c =
            parse("[advanced_settings]\n999 = \"x\"\n11 = \"http://127.0.0.1/\"\n13 = \"hunter2\"")
                .unwrap();
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings.iter().all(|w| !w.contains("hunter2")));
        let dbg = format!("{:?}", c.settings.payments);
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn missing_env_secret_names_the_variable_not_a_value() {
        let s = Secret::Env("DAFFRON_TEST_SURELY_UNSET_VAR".into());
        let e = s.expose("advanced setting 13").unwrap_err().to_string();
        assert!(
            e.contains("DAFFRON_TEST_SURELY_UNSET_VAR") && e.contains("13"),
            "{e}"
        );
    }

    #[test]
    fn bad_biller_values() {
        let e = Config::parse(
            "[biller]\nbid = 1\nname = \"x\"\nguid = \"nope\"",
            "t",
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("guid") && e.contains("nope"), "{e}");
        let e = parse("[biller.x]").unwrap_err().to_string();
        assert!(
            e.contains("[biller] x: expected a setting of [biller] (one of `bid`"),
            "{e}"
        );
    }

    /// A value of the wrong type says which setting, and the form in words.
    #[test]
    fn type_errors_name_the_setting_in_words() {
        let e = |t: &str| {
            Config::parse(t, "lowell.toml", Path::new("/etc/db"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("[biller]\nbid = \"2661\"\nname = \"x\"\nguid = \"x\""),
            "configuration lowell.toml, line 2: [biller] bid = \"2661\": expected a whole number, 0 or more, written without quotes"
        );
        let base = "[biller]\nbid = 1\nname = \"x\"\nguid = \"x\"\n";
        assert_eq!(
            e(&format!("{base}[pump]\nbatch_size = -5")),
            "configuration lowell.toml, line 6: [pump] batch_size = -5: expected a whole number, 0 or more"
        );
        assert_eq!(
            e(&format!("{base}features = \"x\"")),
            "configuration lowell.toml, line 5: [biller] features = \"x\": expected a list in brackets, such as [\"a\", \"b\"]"
        );
        assert_eq!(
            e(&format!(
                "{base}[dropbox]\ndir = \"d\"\nkeep_originals = \"yes\""
            )),
            "configuration lowell.toml, line 7: [dropbox] keep_originals = \"yes\": expected true or false, written without quotes"
        );
        let unknown = e(&format!("{base}[pump]\nbatchsize = 5"));
        assert!(
            unknown.starts_with("configuration lowell.toml, line 6: [pump] batchsize: expected a setting of [pump] (one of `batch_size`"),
            "{unknown}"
        );
        // A secret of the wrong form is not shown.
        let secret = e(&format!(
            "{base}[invoicecloud]\nupload_url = \"http://h/\"\nweb_service_key = 123456"
        ));
        assert!(!secret.contains("123456"), "{secret}");
        assert!(
            secret.contains("[invoicecloud] web_service_key"),
            "{secret}"
        );
        // Broken TOML is still said as TOML says it.
        assert!(e("[biller").contains("not valid TOML"));
    }

    #[test]
    fn missing_sections_name_the_command() {
        let c = parse("").unwrap();
        let e = c.require_sftp("pull").unwrap_err().to_string();
        assert!(e.contains("pull") && e.contains("[sftp]"), "{e}");
        let e = c
            .require_endpoint("balance", &c.settings.rtdr, 8)
            .unwrap_err()
            .to_string();
        assert!(e.contains("setting 8"), "{e}");
    }

    #[test]
    fn payment_mode_map_rejects_garbage() {
        assert!(PaymentModeMap::parse("0(WEB)|x(Y)").is_err());
        assert!(PaymentModeMap::parse("0WEB").is_err());
        assert!(PaymentModeMap::parse("0(WEB)|0(POS)").is_err());
        assert_eq!(
            PaymentModeMap::parse("").unwrap(),
            PaymentModeMap::default()
        );
    }

    #[test]
    fn embedded_default_parses() {
        let c = Config::embedded_default().unwrap();
        assert_eq!(c.biller.bid, 2661);
        assert!(c.sandbox.embedded);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            c.sandbox.state.as_deref(),
            Some(cwd.join("demo/sandbox-state.json").as_path())
        );
    }

    /// The sample file is the embedded default: loaded with `--config
    /// samples/daffron-bridge.toml` from the checkout it names the same
    /// files, and nothing it writes lands in `samples/`.
    #[test]
    fn the_sample_file_and_the_embedded_default_name_the_same_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let file = Config::load(&root.join("samples/daffron-bridge.toml")).unwrap();
        let embedded = Config::parse(EMBEDDED_DEFAULT, "e", &root.join("samples")).unwrap();
        for c in [&file, &embedded] {
            let d = c.dropbox.as_ref().unwrap();
            assert_eq!(d.dir, root.join("samples/outbound"));
            assert_eq!(
                c.sandbox.seed,
                [root.join("samples/outbound/2661_11262026.BIF")]
            );
            assert_eq!(c.paths.exports, root.join("samples/exports"));
            for written in [
                &d.archive_dir,
                &d.failed_dir,
                &c.paths.inbox,
                &c.paths.reports,
                &c.paths.quarantine,
                &c.paths.state,
                c.sandbox.state.as_ref().unwrap(),
            ] {
                assert!(written.starts_with(root.join("demo")), "{written:?}");
            }
            assert!(d.dir.exists() && c.sandbox.seed[0].is_file());
        }
        assert_eq!(file.paths.state, root.join("demo/daffron-bridge.sqlite"));
    }

    #[test]
    fn relative_paths_are_joined_by_the_letters() {
        let j = |b: &str, r: &str| lexical_join(Path::new(b), Path::new(r));
        assert_eq!(j("/w/samples", "../demo/inbox"), Path::new("/w/demo/inbox"));
        assert_eq!(
            j("/w/samples", "./outbound"),
            Path::new("/w/samples/outbound")
        );
        assert_eq!(j("/w", "../../x"), Path::new("/x"));
        assert_eq!(j("rel", "../../x"), Path::new("../x"));
        // A folder that does not exist is no obstacle.
        assert_eq!(j("/nope/samples", "../demo"), Path::new("/nope/demo"));
    }

    #[test]
    fn the_state_file_defaults_beside_the_configuration() {
        assert_eq!(
            parse("").unwrap().paths.state,
            Path::new("/etc/db/daffron-bridge.sqlite")
        );
        let c = parse("[paths]\nstate = \"../var/lowell.sqlite\"").unwrap();
        assert_eq!(c.paths.state, Path::new("/etc/var/lowell.sqlite"));
    }

    #[test]
    fn sandbox_state_is_relative_to_the_file() {
        let c = parse("[sandbox]\nembedded = true\nstate = \"s/state.json\"").unwrap();
        assert_eq!(
            c.sandbox.state.as_deref(),
            Some(Path::new("/etc/db/s/state.json"))
        );
        assert!(parse("").unwrap().sandbox.state.is_none());
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    const MINIMAL: &str =
        "[biller]\nbid = 2661\nname = \"L\"\nguid = \"5F0C1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A5B\"\n";

    /// Every error of a configuration whose secret setting is wrong, in any
    /// way, and the secret's text (`Hunter2Secret`) must not be in it.
    #[test]
    fn no_error_shows_a_secret_value() {
        let cases = [
            // Advanced settings of every endpoint group, of a wrong type.
            "[advanced_settings]\n8 = \"http://h/\"\n10 = 7777Hunter2Secret",
            "[advanced_settings]\n11 = \"http://h/\"\n13 = 12345678",
            "[advanced_settings]\n14 = \"http://h/\"\n16 = [\"Hunter2Secret\"]",
            "[advanced_settings]\n17 = \"http://h/\"\n19 = { env = \"X\", value = \"Hunter2Secret\" }",
            "[advanced_settings]\n11 = \"http://h/\"\n13 = { env = \"\" , pw = \"Hunter2Secret\"}",
            // An {env=...} table where a plain value was expected.
            "[advanced_settings]\n8 = { env = \"Hunter2Secret\" }",
            "[advanced_settings]\n35 = { env = \"Hunter2Secret\" }",
            // A key that is not an id may be anything.
            "[advanced_settings]\npassword = \"Hunter2Secret\"",
            // TOML syntax errors on a secret's own line.
            "[invoicecloud]\nupload_url = \"http://h/\"\nweb_service_key = \"Hunter2Secret",
            "[advanced_settings]\n13 = \"Hunter2Secret\" x",
            "[sftp]\nhost = \"h\"\nuser = \"u\"\npassword = 'Hunter2Secret\nknown_hosts = \"k\"\nremote_dir = \"/\"\narchive_dir = \"/a\"\nfailed_dir = \"/f\"",
            // The right keys with the wrong shapes.
            "[invoicecloud]\nupload_url = \"http://h/\"\nweb_service_key = { env = \"X\", key = \"Hunter2Secret\" }",
            "[invoicecloud]\nupload_url = \"http://h/\"\nweb_service_key = [\"Hunter2Secret\"]",
            "[sftp]\nhost = \"h\"\nuser = \"u\"\npassword = { value = \"Hunter2Secret\" }\nknown_hosts = \"k\"\nremote_dir = \"/\"\narchive_dir = \"/a\"\nfailed_dir = \"/f\"",
            "[sftp]\nhost = \"h\"\nuser = \"u\"\npassword = 12345678\nknown_hosts = \"k\"\nremote_dir = \"/\"\narchive_dir = \"/a\"\nfailed_dir = \"/f\"",
        ];
        for case in cases {
            let text = format!("{MINIMAL}{case}\n");
            let e = Config::parse(&text, "t.toml", Path::new("/"))
                .err()
                .unwrap_or_else(|| panic!("{case}: expected an error"));
            let shown = format!("{e} {e:?}");
            for secret in ["Hunter2Secret", "12345678", "7777"] {
                assert!(!shown.contains(secret), "{case}:\n{shown}");
            }
            // Still useful: it says where.
            assert!(shown.contains("t.toml"), "{shown}");
        }
    }

    #[test]
    fn a_syntax_error_still_says_where() {
        let e = Config::parse(
            &format!(
                "{MINIMAL}[invoicecloud]\nupload_url = \"http://h/\"\nweb_service_key = \"abc\n"
            ),
            "t.toml",
            Path::new("/"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 7"), "{e}");
        assert!(e.contains("web_service_key"), "{e}");
    }
}
