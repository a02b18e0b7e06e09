//! Binding, serving and stopping a simulator.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

/// A running simulator; dropping it (or calling [`Sim::shutdown`]) stops the server.
#[derive(Debug)]
pub struct Sim<O> {
    /// Where the simulator listens, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub base_url: String,
    /// The org's state, shared with the server: seed and inspect it directly in tests.
    pub org: Arc<O>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl<O> Sim<O> {
    /// Stops the server and waits until it has stopped accepting requests.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<O> Drop for Sim<O> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `addr` and returns the listener with the base URL clients should use.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to bind simulator on {addr}"))?;
    let local = listener
        .local_addr()
        .context("failed to read the simulator's local address")?;
    Ok((listener, format!("http://{local}")))
}

/// Drops a trailing `/` from the path, as both CRMs answer `/sobjects/Account/` like
/// `/sobjects/Account` (and clients send both).
fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Serves `router` on `listener` in a background task until the returned [`Sim`] stops.
pub(crate) fn spawn<O: Send + Sync + 'static>(
    listener: TcpListener,
    base_url: String,
    router: Router,
    org: Arc<O>,
) -> Sim<O> {
    let (stop, stopped) = oneshot::channel::<()>();
    let router = Router::new().fallback_service(router.map_request(trim_trailing_slash));
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::debug!(%error, "simulator server stopped with an error");
        }
    });
    Sim {
        base_url,
        org,
        stop: Some(stop),
        task: Some(task),
    }
}
