//! dap's signing keys as served: loaded from the control plane, created on first start,
//! reloaded when another process rotated them.

use std::sync::{Arc, RwLock};

use dap_auth::DapKeys;
use dap_auth::jwks::KeySet;
use dap_schema::ControlPlane;

/// The signer and the verifier's view of dap's keys, kept in step.
#[derive(Debug)]
pub struct IssuerKeys {
    signer: RwLock<Arc<DapKeys>>,
    /// Shared with the token verifier.
    pub verifier_keys: Arc<KeySet>,
}

impl IssuerKeys {
    /// Loads the keys, creating the first one if there is none.
    pub async fn load(control: &ControlPlane) -> anyhow::Result<Self> {
        let mut stored = stored(control).await?;
        if stored.is_empty() {
            let (kid, seed) = DapKeys::generate();
            control.rotate_signing_key(&kid, &seed).await?;
            stored = stored_after_race(control).await?;
        }
        let keys = DapKeys::from_stored(&stored)?;
        let verifier_keys = Arc::new(KeySet::fixed(keys.jwks()?));
        Ok(Self {
            signer: RwLock::new(Arc::new(keys)),
            verifier_keys,
        })
    }

    /// The current signer.
    pub fn signer(&self) -> Arc<DapKeys> {
        self.signer
            .read()
            .map(|k| Arc::clone(&k))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// Picks up keys rotated by any process sharing the database.
    pub async fn reload(&self, control: &ControlPlane) -> anyhow::Result<()> {
        let stored = stored(control).await?;
        let kids: Vec<String> = stored.iter().map(|(k, _)| k.clone()).collect();
        if kids == self.signer().kids() || stored.is_empty() {
            return Ok(());
        }
        let keys = DapKeys::from_stored(&stored)?;
        self.verifier_keys.replace(keys.jwks()?).await;
        if let Ok(mut signer) = self.signer.write() {
            *signer = Arc::new(keys);
        }
        tracing::info!(?kids, "signing keys reloaded");
        Ok(())
    }
}

async fn stored(control: &ControlPlane) -> anyhow::Result<Vec<(String, String)>> {
    Ok(control
        .signing_keys()
        .await?
        .into_iter()
        .map(|k| (k.kid, k.private_key))
        .collect())
}

/// Two replicas starting at once may both create a key; the newest wins for signing and
/// both verify.
async fn stored_after_race(control: &ControlPlane) -> anyhow::Result<Vec<(String, String)>> {
    stored(control).await
}
