//! The web console's sign-in page: a browser signs in as an organisation with nothing but its
//! key, which never leaves the page. The page makes the same access token as `hansa token`
//! (WebCrypto's Ed25519), sends only the token, and reads with it what the organisation may
//! read. It is public (it holds no data) and may talk to its own validator only (its content
//! security policy).

use super::ApiState;
use axum::http::header;
use axum::response::IntoResponse;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use sha2::{Digest as _, Sha256};
use std::sync::OnceLock;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The console's part of the document.
#[derive(OpenApi)]
#[openapi(tags((name = "console", description = "The web console: pages for a browser.")))]
struct ConsoleApi;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ConsoleApi::openapi()).routes(routes!(console))
}

/// The page, built into the binary.
const PAGE: &str = include_str!("console.html");

/// What the page may run and reach: its own inline script and style, named by their SHA-256
/// (so nothing injected into it could run), and this validator only.
fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let inline = |open: &str, close: &str| {
            let start = PAGE.find(open).expect("the page has the element") + open.len();
            let end = start + PAGE[start..].find(close).expect("the element ends");
            format!("'sha256-{}'", STANDARD.encode(Sha256::digest(&PAGE.as_bytes()[start..end])))
        };
        format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; form-action 'none'; \
             frame-ancestors 'none'; base-uri 'none'",
            inline("<script>", "</script>"),
            inline("<style>", "</style>")
        )
    })
}

#[utoipa::path(get, path = "/console", tag = "console",
    summary = "The web console's sign-in page (HTML)",
    description = "Signs in as an organisation with its key in the browser (the key never leaves \
        the page): the page makes an access token, shows it for `curl`, and reads the \
        organisation's keys and an account with it.",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
async fn console() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, content_security_policy()),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_runs_only_the_pages_own_script_and_style() {
        let policy = content_security_policy();
        assert!(!policy.contains("unsafe"), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        assert_eq!(PAGE.matches("<script").count(), 1, "one inline script, the hashed one");
        assert_eq!(PAGE.matches("<style").count(), 1, "one inline style, the hashed one");
    }
}
