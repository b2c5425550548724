//! The regulator's web dashboard: three files built from
//! `node/dashboard/` (`npm run build`, committed in `dist/`) and embedded
//! here, served on the dashboard's own port next to the node's JSON-RPC
//! (`POST /rpc`, or any POST, is the same JSON-RPC as the RPC port).
//!
//! The browser signs every audit request with the regulator key the
//! analyst loads into the page; the key never leaves the browser, and the
//! node checks each request as it checks the CLI's. Nothing is fetched
//! from elsewhere: the policy below forbids it.

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use jsonrpsee::server::{HttpBody, HttpResponse};

const INDEX_HTML: &[u8] = include_bytes!("../../dashboard/dist/index.html");
const APP_JS: &[u8] = include_bytes!("../../dashboard/dist/app.js");
const APP_CSS: &[u8] = include_bytes!("../../dashboard/dist/app.css");

/// Scripts, styles and data from this origin only; no frames, no
/// referrer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// The answer to a page request (a GET or HEAD); `None` for anything
/// else, which goes to JSON-RPC.
pub fn page<B>(req: &Request<B>) -> Option<HttpResponse> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    let (status, body, content_type) = match req.uri().path() {
        "/" | "/index.html" => (StatusCode::OK, INDEX_HTML, "text/html; charset=utf-8"),
        "/app.js" => (StatusCode::OK, APP_JS, "text/javascript; charset=utf-8"),
        "/app.css" => (StatusCode::OK, APP_CSS, "text/css; charset=utf-8"),
        _ => (
            StatusCode::NOT_FOUND,
            &b"not found: the dashboard is /, its JSON-RPC is POST /rpc\n"[..],
            "text/plain; charset=utf-8",
        ),
    };
    let body = if req.method() == Method::HEAD {
        HttpBody::from(Vec::new())
    } else {
        HttpBody::from(body.to_vec())
    };
    let mut response = HttpResponse::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Option<HttpResponse> {
        page(&Request::get(path).body(()).unwrap())
    }

    #[test]
    fn pages_are_served_with_their_policy_and_posts_go_to_json_rpc() {
        let index = get("/").unwrap();
        assert_eq!(index.status(), StatusCode::OK);
        assert!(index.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(
            get("/app.js").unwrap().headers()[CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(get("/etc/passwd").unwrap().status(), StatusCode::NOT_FOUND);
        assert!(page(&Request::post("/rpc").body(()).unwrap()).is_none());
    }
}
