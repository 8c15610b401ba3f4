//! Building and running the HTTP server from [`Settings`].

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_web_prom::PrometheusMetricsBuilder;
use motcua_persistence::{Db, DbError};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{self, ApiError, FieldError, Problem};
use crate::routes;
use crate::settings::Settings;
use crate::telemetry::{self, RequestSpan};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "motcua",
        description = "REST API of motcua, the backend of Vietnam's one-stop mechanism for \
                       administrative procedures. Errors are application/problem+json \
                       (RFC 9457) with a stable `code`; see docs/api-conventions.md."
    ),
    tags((name = "operations", description = "Liveness, readiness and metrics")),
    components(schemas(Problem, FieldError))
)]
struct ApiDoc;

/// The OpenAPI document, generated from the handlers the server registers.
pub fn openapi() -> OpenApi {
    let (_, document) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    document
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The listening address could not be bound.
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        /// The configured address.
        bind: String,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The configured directory.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics registry could not be set up.
    #[error("metrics: {0}")]
    Metrics(String),
}

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    address: SocketAddr,
    db: Db,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the database, applies pending migrations and binds the listener
    /// (port 0 picks a free port; see [`Application::address`]).
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartupError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
        let db = Db::open(&settings.database)?;
        db.migrate()?;

        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartupError::Bind {
            bind: settings.bind.clone(),
            source,
        })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            bind: settings.bind.clone(),
            source,
        })?;

        let metrics = PrometheusMetricsBuilder::new("motcua")
            .mask_unmatched_patterns("unmatched")
            .build()
            .map_err(|e| StartupError::Metrics(e.to_string()))?;
        let document = openapi();
        let known_routes = web::Data::new(KnownRoutes::from_openapi(&document));
        let registry = web::Data::new(metrics.registry.clone());
        let db_data = web::Data::new(db.clone());
        let limits = settings.limits;

        let server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .configure(routes::configure)
                .split_for_parts();
            app.app_data(db_data.clone())
                .app_data(registry.clone())
                .app_data(known_routes.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(limits.json_body_bytes)
                        .error_handler(|e, _| error::json_error(e).into()),
                )
                .app_data(web::PayloadConfig::new(limits.json_body_bytes))
                .app_data(web::QueryConfig::default().error_handler(|e, _| error::query_error(e).into()))
                .app_data(web::PathConfig::default().error_handler(|e, _| error::path_error(e).into()))
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", document.clone()))
                .service(web::resource("/docs").get(docs_redirect))
                .default_service(web::to(fallback))
                .wrap(ErrorHandlers::new().default_handler(error::ensure_problem))
                .wrap(metrics.clone())
                .wrap(TracingLogger::<RequestSpan>::new())
                .wrap(from_fn(telemetry::request_id))
        })
        .workers(settings.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }))
        .shutdown_timeout(settings.shutdown_timeout.as_secs())
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            bind: settings.bind.clone(),
            source,
        })?
        .run();

        Ok(Application {
            server,
            address,
            db,
        })
    }

    /// Where the server listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The application's database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Serves until the server is stopped: SIGINT or SIGTERM stop accepting
    /// connections and let in-flight requests finish (up to the shutdown timeout).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("location", "/docs/"))
        .finish()
}

/// No route matched: 405 with `Allow` when the path exists with other
/// methods, otherwise 404.
async fn fallback(
    request: HttpRequest,
    routes: web::Data<KnownRoutes>,
) -> Result<HttpResponse, ApiError> {
    Err(match routes.allowed_methods(request.path()) {
        Some(allow) => ApiError::MethodNotAllowed {
            method: request.method().clone(),
            allow,
        },
        None => ApiError::NotFound,
    })
}

/// The documented paths and their methods, read from the OpenAPI document.
#[derive(Debug)]
struct KnownRoutes(Vec<(Vec<Option<String>>, Vec<Method>)>);

impl KnownRoutes {
    fn from_openapi(document: &OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (segments, methods)
            })
            .collect();
        KnownRoutes(routes)
    }

    fn allowed_methods(&self, path: &str) -> Option<Vec<Method>> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<Method> = self
            .0
            .iter()
            .filter(|(pattern, _)| {
                pattern.len() == segments.len()
                    && pattern
                        .iter()
                        .zip(&segments)
                        .all(|(p, s)| p.as_deref().is_none_or(|p| p == *s))
            })
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect();
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
    }
}
