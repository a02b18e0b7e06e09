//! A pass-through proxy in front of a simulator that can lose an answer:
//! armed, it lets the next matching request reach the CRM, which commits
//! it, and then cuts the connection before the answer is through, as a
//! network fault after the write would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The request the proxy will cut: its method and the end of its path.
type Armed = Option<(String, String)>;

struct Shared {
    upstream: String,
    base: String,
    http: reqwest::Client,
    armed: Mutex<Armed>,
    dropped: AtomicUsize,
}

/// A running proxy.
pub struct DropProxy {
    /// The proxy's base URL, to give the host instead of the simulator's.
    pub base_url: String,
    shared: Arc<Shared>,
}

impl DropProxy {
    /// A proxy on a free loopback port in front of `upstream`.
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the proxy")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            base: base_url.clone(),
            http: reqwest::Client::new(),
            armed: Mutex::new(None),
            dropped: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { base_url, shared })
    }

    /// Cuts the answer of the next `method` request whose path ends with
    /// `path_end`, after the simulator has handled it.
    pub fn drop_next_answer(&self, method: &str, path_end: &str) {
        if let Ok(mut armed) = self.shared.armed.lock() {
            *armed = Some((method.to_owned(), path_end.to_owned()));
        }
    }

    /// How many answers the proxy has cut.
    pub fn dropped(&self) -> usize {
        self.shared.dropped.load(Ordering::SeqCst)
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match relay(&shared, request).await {
        Ok(response) => response,
        Err(e) => (StatusCode::BAD_GATEWAY, format!("proxy: {e:#}")).into_response(),
    }
}

async fn relay(shared: &Shared, request: Request) -> anyhow::Result<Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await?;
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;

    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            headers.insert(name.clone(), value.clone());
        }
    }
    let answer = shared
        .http
        .request(method.clone(), format!("{}{target}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await?;
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let text = answer.text().await?;

    let cut = {
        let mut armed = shared
            .armed
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        let hit = armed
            .as_ref()
            .is_some_and(|(m, end)| *m == method.as_str() && parts.uri.path().ends_with(end));
        if hit {
            *armed = None;
        }
        hit
    };
    if cut {
        shared.dropped.fetch_add(1, Ordering::SeqCst);
        let broken = futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
        });
        return Ok(Response::builder()
            .status(status.as_u16())
            .header("content-length", "4096")
            .body(Body::from_stream(broken))?);
    }

    // Token answers name the API's own address; keep the host on the proxy.
    let text = text.replace(&shared.upstream, &shared.base);
    let mut response = Response::builder().status(status.as_u16());
    if let Some(content_type) = content_type {
        response = response.header("content-type", content_type);
    }
    Ok(response.body(Body::from(text))?)
}
