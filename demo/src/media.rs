//! The demo's media routes: `/stream-image`, `/stream-video` (or its
//! upstream, with `--video-upstream`) and the assets folder mounted at
//! `/assets/` with [`pagepipe::Files`], all through the file responder.

use std::path::Path;

use actix_web::{HttpRequest, web};

use crate::shared::{State, get_or_head, resource};
use pagepipe::{Files, Streamed, serve_file};

/// The bundled JPEG, under the assets folder.
const IMAGE: &str = "image.jpg";
/// The bundled MP4, under the assets folder.
const VIDEO: &str = "video.mp4";

/// Registers the media routes, with the folder `assets` at `/assets/`
/// (GET and HEAD; other methods get `405`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig, assets: &Path) {
    cfg.service(resource("/stream-image").route(get_or_head().to(image)))
        .service(resource("/stream-video").route(get_or_head().to(video)))
        .service(Files::new("/assets", assets));
}

async fn image(req: HttpRequest, state: web::Data<State>) -> Streamed {
    serve_file(&state.assets, IMAGE, &req).await
}

async fn video(req: HttpRequest, state: web::Data<State>) -> Streamed {
    match &state.video_upstream {
        Some(upstream) => upstream.relay(&req).await,
        None => serve_file(&state.assets, VIDEO, &req).await,
    }
}
