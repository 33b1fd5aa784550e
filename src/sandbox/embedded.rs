//! The demo configuration's in-process sandbox (`[sandbox] embedded = true`):
//! every command that calls out starts one, so `daffron-bridge run` in a
//! fresh checkout works end to end with nothing real on the other side.
//!
//! [`start`] points every endpoint of the loaded configuration at it: the
//! MultiSpeak settings 8/11/14/17 and `[invoicecloud] upload_url` keep their
//! paths and get the sandbox's host and port. With `[sandbox] state` the
//! sandbox keeps its accounts and posted payments in that JSON file between
//! commands; the seed files are read only while that file does not exist
//! yet, since seeding a loaded state again would add every invoice twice.

use crate::Result;
use crate::config::{Config, Secret};

use super::{Sandbox, SandboxHandle, SandboxOptions};

/// The secret value used for the embedded sandbox when the configuration's
/// environment variable is not set: the sandbox accepts any credentials and
/// every endpoint points at it, so nothing real is sent anywhere.
const SANDBOX_SECRET: &str = "sandbox";

/// Starts the in-process sandbox of a `[sandbox] embedded = true`
/// configuration and points every endpoint of `config` at it. Secrets whose
/// environment variable is unset get a placeholder, since only the sandbox
/// will see them. `None` when the configuration does not ask for it. The
/// sandbox serves until the handle is shut down or dropped.
pub fn start(config: &mut Config) -> Result<Option<SandboxHandle>> {
    if !config.sandbox.embedded {
        return Ok(None);
    }
    let state = config.sandbox.state.clone();
    let seeds = match &state {
        Some(p) if p.exists() => Vec::new(),
        _ => config.sandbox.seed.clone(),
    };
    if let Some(dir) = state.as_deref().and_then(|p| p.parent()) {
        // The sandbox writes its state beside itself (a temporary file, then
        // a rename); on a fresh checkout `demo/` does not exist yet.
        std::fs::create_dir_all(dir).map_err(|source| crate::Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let handle = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".into(),
        state,
        seeds,
        user_id: "InvoiceCloud".into(),
        biller_guids: vec![config.biller.guid.to_string()],
        ..SandboxOptions::default()
    })?;
    let base = handle.url().to_string();
    let rebase = |url: &mut String| {
        let path = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
            .unwrap_or_else(|| "/".into());
        *url = format!("{base}{path}");
    };
    let placeholder = |secret: &mut Secret| {
        if let Secret::Env(var) = secret
            && std::env::var_os(var.as_str()).is_none()
        {
            *secret = Secret::Inline(SANDBOX_SECRET.into());
        }
    };
    let s = &mut config.settings;
    for ep in [
        &mut s.rtdr,
        &mut s.payments,
        &mut s.paperless,
        &mut s.autopay,
    ]
    .into_iter()
    .flatten()
    {
        rebase(&mut ep.url);
        if let Some(p) = ep.password.as_mut() {
            placeholder(p);
        }
    }
    if let Some(ic) = config.invoicecloud.as_mut() {
        rebase(&mut ic.upload_url);
        placeholder(&mut ic.web_service_key);
    }
    tracing::info!("embedded sandbox at {base}; every endpoint points at it");
    Ok(Some(handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_points_at_it() {
        let mut c = Config::embedded_default().unwrap();
        // Neither seed files nor a state file are needed to start it.
        c.sandbox.seed.clear();
        c.sandbox.state = None;
        let h = start(&mut c).unwrap().unwrap();
        let base = h.url().to_string();
        let s = &c.settings;
        for ep in [&s.rtdr, &s.payments, &s.paperless, &s.autopay] {
            let ep = ep.as_ref().unwrap();
            assert_eq!(ep.url, format!("{base}/tbx-daily/services/CB"));
        }
        let ic = c.invoicecloud.as_ref().unwrap();
        assert_eq!(
            ic.upload_url,
            format!("{base}/portal/webservices/CloudInvoicing.asmx")
        );
        h.shutdown();

        let mut plain = Config::embedded_default().unwrap();
        plain.sandbox.embedded = false;
        assert!(start(&mut plain).unwrap().is_none());
    }

    #[test]
    fn the_state_file_is_seeded_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::embedded_default().unwrap();
        c.sandbox.seed = vec![
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples/outbound/2661_11262026.BIF"),
        ];
        let state = dir.path().join("not/yet/there/sandbox-state.json");
        c.sandbox.state = Some(state.clone());

        let first = start(&mut c.clone()).unwrap().unwrap();
        let seeded = first.state();
        first.shutdown();
        assert!(state.exists(), "the folder is made and the state written");
        let items: usize = seeded.accounts.values().map(|a| a.items.len()).sum();
        assert_eq!(items, 300, "one payable item per sample invoice");

        // The next command loads the file and does not seed it again.
        let second = start(&mut c.clone()).unwrap().unwrap();
        assert_eq!(second.state(), seeded);
        second.shutdown();
    }
}
