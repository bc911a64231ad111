//! The web console's sign-in page: a browser signs in as an organisation with nothing but its
//! key, which never leaves the page. The page makes the same access token as `hansa token`
//! (WebCrypto's Ed25519), sends only the token, and reads with it what the organisation may
//! read. It is public (it holds no data) and may talk to its own validator only (its content
//! security policy).

use super::ApiState;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The console's part of the document.
#[derive(OpenApi)]
#[openapi(tags((name = "console", description = "The web console: pages for a browser.")))]
struct ConsoleApi;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ConsoleApi::openapi()).routes(routes!(console))
}

/// What the page may load and reach: its own inline script and style, and this validator.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
    base-uri 'none'";

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
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        include_str!("console.html"),
    )
}
