//! The catalogue as served: loaded from the control plane, swapped atomically on refresh.

use std::sync::{Arc, RwLock};

use dap_schema::{ControlPlane, DatasetDef};

/// The datasets dap serves, shared by all workers.
#[derive(Debug, Default)]
pub struct Catalogue {
    datasets: RwLock<Arc<Vec<Arc<DatasetDef>>>>,
}

impl Catalogue {
    /// Loads the catalogue from the control plane.
    pub async fn load(control: &ControlPlane) -> dap_schema::Result<Self> {
        let catalogue = Self::default();
        catalogue.reload(control).await?;
        Ok(catalogue)
    }

    /// Replaces the served catalogue with the stored one.
    pub async fn reload(&self, control: &ControlPlane) -> dap_schema::Result<()> {
        let fresh: Vec<Arc<DatasetDef>> = control
            .load_catalogue()
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        if let Ok(mut datasets) = self.datasets.write() {
            *datasets = Arc::new(fresh);
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<Arc<DatasetDef>>> {
        self.datasets
            .read()
            .map(|d| Arc::clone(&d))
            .unwrap_or_default()
    }

    /// Every dataset, whoever asks; what a caller sees is
    /// [`super::Core::visible_datasets`].
    pub fn all(&self) -> Arc<Vec<Arc<DatasetDef>>> {
        self.snapshot()
    }

    /// Number of datasets.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// True when no dataset is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset with this id, whoever asks; callers must pass it through the policy.
    pub fn get(&self, id: &str) -> Option<Arc<DatasetDef>> {
        self.snapshot()
            .iter()
            .find(|d| d.id.as_str() == id)
            .cloned()
    }
}
