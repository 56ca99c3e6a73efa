//! A FAKE Kubernetes API server, at the transport (`tower_test`): no cluster runs on the
//! build machines, so these tests script the API server's answers in sequence and assert
//! the exact requests hoist makes (method, path, query, content type).
//!
//! Each step is written as the request line hoist must send, with the query parameters
//! sorted (`PATCH /apis/apps/v1/namespaces/shop/deployments/web?fieldManager=hoist`), and
//! the reply. Anything else, in any other order, fails the test.
//!
//! With `HOIST_TEST_KUBECONFIG` set, the same scenarios that make sense on a real cluster
//! run against it instead (see `docs/kubernetes.md`); the fake is only the default.

use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// One scripted exchange.
#[derive(Debug, Clone)]
pub struct Step {
    /// `METHOD /path?sorted=query`
    pub expect: String,
    pub status: u16,
    pub reply: Value,
}

pub fn step(expect: &str, status: u16, reply: Value) -> Step {
    Step { expect: expect.to_string(), status, reply }
}

/// A request the fake receives and never answers (status 0): a server that hangs.
pub fn hang(expect: &str) -> Step {
    Step { expect: expect.to_string(), status: 0, reply: Value::Null }
}

/// What the fake saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub content_type: Option<String>,
    pub body: Value,
}

/// The fake API server: a kube client wired to a script.
#[derive(Debug)]
pub struct FakeApiServer {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

/// `METHOD path?query` with the query pairs sorted, for comparing with a script line.
fn request_line<B>(req: &Request<B>) -> String {
    let mut pairs: Vec<String> = req
        .uri()
        .query()
        .map(|q| q.split('&').filter(|p| !p.is_empty()).map(|p| p.replace("%2F", "/").replace("%3D", "=")).collect())
        .unwrap_or_default();
    pairs.sort();
    let path = req.uri().path();
    if pairs.is_empty() {
        format!("{} {path}", req.method())
    } else {
        format!("{} {path}?{}", req.method(), pairs.join("&"))
    }
}

impl FakeApiServer {
    /// Start the fake with its script; returns it and a client that talks only to it.
    pub fn start(script: Vec<Step>) -> (FakeApiServer, kube::Client) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            // Answers never sent, kept open until the script ends.
            let mut hung = Vec::new();
            for (i, step) in script.into_iter().enumerate() {
                let Some((req, send)) = handle.next_request().await else {
                    panic!("fake API server: hoist stopped after {i} requests; step {i} expected `{}`", step.expect)
                };
                let line = request_line(&req);
                let content_type =
                    req.headers().get(http::header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or_default().to_string());
                let bytes = req.into_body().collect_bytes().await.expect("read request body");
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
                };
                log.lock().unwrap().push(Seen { line: line.clone(), content_type, body });
                assert_eq!(line, step.expect, "fake API server: request {i} differs from the script");
                if step.status == 0 {
                    hung.push(send);
                    continue;
                }
                let response = Response::builder()
                    .status(StatusCode::from_u16(step.status).unwrap())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Body::from(serde_json::to_vec(&step.reply).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
            // Anything after the script is a failure too.
            if let Some((req, _send)) = handle.next_request().await {
                panic!("fake API server: unexpected request after the script: {}", request_line(&req));
            }
        });
        (FakeApiServer { seen, task }, kube::Client::new(service, "default"))
    }

    /// Wait for the script to finish (after the client is dropped) and return what was seen.
    /// Panics inside the fake (a wrong request) surface here.
    pub async fn finish(self, client: kube::Client) -> Vec<Seen> {
        drop(client);
        if let Err(e) = self.task.await {
            std::panic::resume_unwind(e.into_panic());
        }
        self.seen.lock().unwrap().clone()
    }
}

/// A `Status` failure body as the API server sends it.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}
