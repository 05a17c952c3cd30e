//! A dedicated Tokio runtime for DataFusion and delta-rs work, so scans never run on
//! the HTTP worker threads.

use std::future::Future;

use crate::{Error, Result};

/// Owns the lake's runtime; shuts it down without blocking when dropped.
#[derive(Debug)]
pub struct LakeRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl LakeRuntime {
    /// A multi-threaded runtime with `threads` workers.
    pub fn new(threads: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("dap-lake")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the lake runtime and awaits its result from any runtime.
    pub async fn run<F, T>(&self, future: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| Error::Runtime("lake runtime is shut down".into()))?;
        runtime
            .spawn(future)
            .await
            .map_err(|e| Error::Runtime(e.to_string()))?
    }

    /// Spawns `future` on the lake runtime without waiting for it.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
    }
}

impl Drop for LakeRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside async code panics; shut it down in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
