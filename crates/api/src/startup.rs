//! Building and running the HTTP server from [`Settings`].

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Protocol};
use actix_server::ServerBuilder;
use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, fn_service, map_config};

use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use motcua_persistence::{Db, DbError};
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{LoginThrottle, Passwords, ThrottleLimits, TokenIssuer};
use crate::error::{self, ApiError, FieldError, Problem};
use crate::routes;
use crate::settings::{Limits, Settings};
use crate::telemetry::{self, RequestSpan};
use crate::wire::ProblemAnswers;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "motcua",
        description = "REST API of motcua, the backend of Vietnam's one-stop mechanism for \
                       administrative procedures. Errors are application/problem+json \
                       (RFC 9457) with a stable `code`; see docs/api-conventions.md."
    ),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "auth", description = "Registration, login, tokens"),
        (name = "administration", description = "Agencies and staff accounts (administrators, within their subtree)"),
        (name = "catalogue", description = "Procedures (public to read)"),
        (name = "dossiers", description = "Filing, intake, the lifecycle and the legal clock"),
        (name = "audit", description = "History verification and the access log"),
        (name = "files", description = "Uploaded documents"),
        (name = "reports", description = "Auditors' reports (JSON or CSV)"),
        (name = "public", description = "Public look-up of a dossier's progress"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme (JWT access tokens).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, generated from the handlers the server registers.
pub fn openapi() -> OpenApi {
    let Some(limits) = routes::public::limits() else {
        return ApiDoc::openapi();
    };
    let (_, mut document) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure(&limits))
        .split_for_parts();
    document_common_answers(&mut document);
    document
}

/// Adds to every operation the answers any request can get before or
/// beside its handler, where the operation does not describe them itself:
/// 400 (unreadable: a malformed body, request line or header), 408 (the
/// request head too slow), 422 (a control character in the path or query),
/// 431 (headers too large), 503 (database unavailable); with a body also 413
/// and 415; with a bearer token also 401 and 403. (400, 408 and 431 for the
/// request head are the HTTP layer's, rewritten as problems by
/// [`crate::wire`].)
fn document_common_answers(document: &mut OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    error::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in document.paths.paths.iter_mut() {
        let reads_dossiers = path.contains("/dossiers") || path.contains("/reports");
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let with_body = operation.request_body.is_some();
            let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let mut common = vec![
                (
                    "422",
                    problem("Invalid values, e.g. a control character in the path or query"),
                ),
                (
                    "431",
                    problem(
                        "Request headers too large: over 128 KiB or 96 headers (code headers_too_large)",
                    ),
                ),
                (
                    "408",
                    problem(
                        "The request line and headers did not arrive within 5 seconds (code request_timeout)",
                    ),
                ),
                (
                    "503",
                    problem("The database is unavailable; see Retry-After"),
                ),
                (
                    "400",
                    problem(
                        "The request cannot be read: a malformed body (code malformed_body), \
                         request line or header (code malformed_request)",
                    ),
                ),
            ];
            if reads_dossiers {
                common.push((
                    "409",
                    problem(
                        "A dossier involved cannot be read from storage (code \
                         record_unreadable, naming it) and must be repaired",
                    ),
                ));
            }
            if with_body {
                common.push(("413", problem("The body is larger than the limit")));
                common.push(("415", problem("The body has an unsupported media type")));
            }
            if authenticated {
                common.push((
                    "401",
                    problem("No valid access token, or the account is deactivated"),
                ));
                common.push(("403", problem("The caller's roles do not allow this")));
            }
            for (status, response) in common {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert(response);
            }
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The listening address could not be bound.
    #[error("cannot listen on {bind} (MOTCUA_BIND, host:port such as 127.0.0.1:8080): {source}")]
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
    /// Something the application needs could not be prepared (metrics, the
    /// password hasher, the national calendar).
    #[error("start-up: {0}")]
    Setup(String),
}

/// What every worker's [`app`] shares: built once per process.
#[derive(Clone)]
pub struct AppState {
    db: web::Data<Db>,
    issuer: web::Data<TokenIssuer>,
    passwords: web::Data<Passwords>,
    throttle: web::Data<LoginThrottle>,
    registrations: web::Data<routes::auth::RegistrationLimit>,
    code_guard: web::Data<routes::public::CodeGuard>,
    shared_rates: web::Data<routes::public::SharedRates>,
    account_status: web::Data<crate::auth::AccountStatus>,
    caches: web::Data<crate::cache::Caches>,
    recorder: web::Data<crate::routes::access_log::AccessRecorder>,
    proxies: web::Data<crate::client::TrustedProxies>,
    clock: web::Data<crate::clock::Clock>,
    payment_secret: web::Data<crate::routes::dossiers::PaymentSecret>,
    history_keys: web::Data<crate::audit::HistoryKeys>,
    files: web::Data<crate::routes::files::Uploads>,
    public_limits: (routes::PublicLimit, routes::PublicLimit),
    registry: web::Data<prometheus::Registry>,
    outbox_metrics: web::Data<crate::outbox::OutboxMetrics>,
    portal_inbound: web::Data<crate::routes::dossiers::portal::PortalInbound>,
    printer: web::Data<routes::reports::Printer>,
    known_routes: web::Data<KnownRoutes>,
    metrics: PrometheusMetrics,
    document: web::Data<OpenApiJson>,
    limits: Limits,
}

/// The OpenAPI document as served at `/openapi.json`: serialized once and
/// shared by every worker (a worker holding its own copy of the document,
/// as Swagger UI's `url` does, cost each about 9 MiB; docs/performance.md, P6).
#[derive(Debug)]
pub struct OpenApiJson(web::Bytes);

async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("db", &self.db)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The shared state for an application on `db` (already migrated). In
    /// development without configured history keys, the key file in the
    /// data directory is read or created here.
    pub fn new(db: Db, settings: &Settings) -> Result<Self, StartupError> {
        let limits = settings.limits;
        let metrics = PrometheusMetricsBuilder::new("motcua")
            .mask_unmatched_patterns("unmatched")
            .build()
            .map_err(|e| StartupError::Setup(e.to_string()))?;
        let document = openapi();
        let throttle = LoginThrottle::new(ThrottleLimits::default());
        if let Some(alerts) = throttle.alerts() {
            metrics
                .registry
                .register(Box::new(alerts))
                .map_err(|e| StartupError::Setup(e.to_string()))?;
        }
        let outbox_metrics =
            crate::outbox::OutboxMetrics::register(&metrics.registry, settings.outbox.alert_after)
                .map_err(|e| StartupError::Setup(e.to_string()))?;
        Ok(AppState {
            outbox_metrics: web::Data::new(outbox_metrics),
            portal_inbound: web::Data::new(crate::routes::dossiers::portal::PortalInbound::new(
                settings.destinations.portal_inbound.clone(),
            )),
            printer: web::Data::new(routes::reports::Printer::new(settings.chromium.clone())),
            db: web::Data::new(db.clone()),
            issuer: web::Data::new(TokenIssuer::new(&settings.jwt_secret, settings.tokens)),
            passwords: web::Data::new(
                match settings.password_hashers {
                    Some(hashers) => Passwords::with_hashers(hashers),
                    None => Passwords::new(),
                }
                .map_err(StartupError::Setup)?,
            ),
            throttle: web::Data::new(throttle),
            registrations: web::Data::new(routes::auth::RegistrationLimit::default()),
            code_guard: web::Data::new(routes::public::CodeGuard::default()),
            shared_rates: web::Data::new(routes::public::SharedRates::default()),
            account_status: web::Data::new(crate::auth::AccountStatus::default()),
            caches: web::Data::new(crate::cache::Caches::default()),
            recorder: web::Data::new(
                crate::routes::access_log::AccessRecorder::start(db.clone())
                    .map_err(|e| StartupError::Setup(e.to_string()))?,
            ),
            proxies: web::Data::new(settings.trusted_proxies.clone()),
            clock: web::Data::new(settings.clock.clone()),
            files: web::Data::new(crate::routes::files::Uploads {
                store: crate::storage::FileStore::open(&settings.file_store, &settings.data_dir)
                    .map_err(StartupError::Setup)?,
                limit: settings.limits.upload_bytes,
                quota_files: settings.limits.upload_quota_files,
                quota_bytes: settings.limits.upload_quota_bytes,
            }),
            payment_secret: web::Data::new(crate::routes::dossiers::PaymentSecret(
                settings.payment_secret.clone(),
            )),
            history_keys: web::Data::new(
                crate::audit::history_keys(settings).map_err(StartupError::Setup)?,
            ),
            public_limits: routes::public::limits()
                .ok_or_else(|| StartupError::Setup("public rate limits".into()))?,
            registry: web::Data::new(metrics.registry.clone()),
            known_routes: web::Data::new(KnownRoutes::from_openapi(&document)),
            metrics,
            document: web::Data::new(OpenApiJson(
                serde_json::to_vec(&document)
                    .map_err(|e| StartupError::Setup(format!("the OpenAPI document: {e}")))?
                    .into(),
            )),
            limits,
        })
    }
}

/// The application: routes, extractor limits and error mapping, and the
/// middleware stack (outermost first: request id, tracing span, metrics,
/// problem+json for every error response).
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _) = App::new()
        .into_utoipa_app()
        .configure(routes::configure(&state.public_limits))
        .split_for_parts();
    let limits = state.limits;
    app.app_data(state.db)
        .app_data(state.issuer)
        .app_data(state.passwords)
        .app_data(state.throttle)
        .app_data(state.registrations)
        .app_data(state.code_guard)
        .app_data(state.shared_rates)
        .app_data(state.account_status)
        .app_data(state.caches)
        .app_data(state.recorder)
        .app_data(state.proxies)
        .app_data(state.clock)
        .app_data(state.payment_secret)
        .app_data(state.history_keys)
        .app_data(state.files)
        .app_data(state.registry)
        .app_data(state.outbox_metrics)
        .app_data(state.portal_inbound)
        .app_data(state.printer)
        .app_data(state.known_routes)
        .app_data(
            web::JsonConfig::default()
                .limit(limits.json_body_bytes)
                .error_handler(|e, _| error::json_error(e).into()),
        )
        .app_data(web::PayloadConfig::new(limits.json_body_bytes))
        .app_data(web::PathConfig::default().error_handler(|e, _| error::path_error(e).into()))
        .app_data(state.document)
        .route("/openapi.json", web::get().to(openapi_json))
        .service(
            SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")),
        )
        .service(web::resource("/docs").get(docs_redirect))
        .default_service(web::to(fallback))
        .wrap(from_fn(head_as_get))
        .wrap(from_fn(move |request, next| {
            crate::hygiene::screen(request, next, limits.json_body_bytes)
        }))
        .wrap(
            actix_web::middleware::DefaultHeaders::new().add(("x-content-type-options", "nosniff")),
        )
        .wrap(ErrorHandlers::new().default_handler(error::ensure_problem))
        .wrap(state.metrics)
        .wrap(TracingLogger::<RequestSpan>::new())
        .wrap(from_fn(telemetry::request_id))
}

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    address: SocketAddr,
    db: Db,
    outbox: crate::settings::OutboxSettings,
    outbox_metrics: crate::outbox::OutboxMetrics,
    dispatcher: crate::outbox::Dispatcher,
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
        // The port first: a port in use is reported before anything is
        // created or migrated.
        let bind_error = |source| StartupError::Bind {
            bind: settings.bind.clone(),
            source,
        };
        let listener = TcpListener::bind(&settings.bind).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartupError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
        let db = Db::open(&settings.database)?;
        db.migrate()?;
        crate::calendars::ensure_national(&db).map_err(StartupError::Setup)?;
        let dispatcher = crate::outbox::Dispatcher::new(&settings.destinations)
            .map_err(|e| StartupError::Setup(e.to_string()))?;
        configure_destinations(&db, &settings.destinations)?;

        let state = AppState::new(db.clone(), &settings)?;
        let outbox_metrics = state.outbox_metrics.get_ref().clone();
        tracing::info!(store = %state.files.store.describe(), "uploaded files live in the file store");
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        // Blocking work is database work (hashing has its own threads): many
        // more threads than connections would only wait, each growing its own
        // allocator arena (docs/performance.md, P6). As many per worker as
        // the pool has connections, so that while the database is away every
        // request waits for the pool's timeout at once, not in turns
        // (docs/reliability.md, R3).
        let connections = usize::try_from(settings.database.pool_size).unwrap_or(16);
        let server = serve(listener, state, address)
            .map_err(bind_error)?
            .workers(workers)
            .worker_max_blocking_threads(connections.max(2))
            .shutdown_timeout(settings.shutdown_timeout.as_secs())
            .run();

        Ok(Application {
            server,
            address,
            db,
            outbox: settings.outbox,
            outbox_metrics,
            dispatcher,
        })
    }

    /// Where the server listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether anyone can log in yet (an empty database has no account).
    pub fn has_accounts(&self) -> Result<bool, motcua_persistence::DbError> {
        Ok(self.db.run(motcua_persistence::users::count)? > 0)
    }

    /// The application's database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Serves until the server is stopped: SIGINT or SIGTERM stop accepting
    /// connections and let in-flight requests finish (up to the shutdown timeout).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let dispatcher = self
            .dispatcher
            .spawn(&self.db, self.outbox, &self.outbox_metrics);
        let served = self.server.await;
        for task in dispatcher {
            task.abort();
        }
        served
    }
}

/// Keeps the outbox's rows of the configured destinations as the settings
/// have them: the portal and the broker hear every event, e-mail and SMS
/// the events that may give rise to a notice; an unconfigured one hears
/// nothing from now on.
fn configure_destinations(
    db: &Db,
    destinations: &crate::settings::Destinations,
) -> Result<(), StartupError> {
    use motcua_domain::portal::Notice;
    use motcua_persistence::outbox::{self, Destination};
    let every = vec!["*".to_owned()];
    let notices: Vec<String> = Notice::ACTIONS.map(str::to_owned).to_vec();
    let rows = [
        (
            Destination::Portal,
            destinations
                .portal
                .as_ref()
                .map(|p| (p.url.clone(), &every)),
        ),
        (
            Destination::Email,
            destinations
                .email
                .as_ref()
                .map(|e| (e.shown.clone(), &notices)),
        ),
        (
            Destination::Sms,
            destinations.sms.as_ref().map(|s| (s.url.clone(), &notices)),
        ),
        (
            Destination::Nats,
            destinations.nats.as_ref().map(|n| (n.clone(), &every)),
        ),
    ];
    for (destination, configured) in rows {
        let (address, kinds): (String, &[String]) = match configured {
            Some((address, kinds)) => (address, kinds),
            None => (String::new(), &[]),
        };
        db.run(|conn| outbox::configure(conn, destination, &address, kinds, chrono::Utc::now()))
            .map_err(|e| {
                StartupError::Setup(format!("outbox destination {}: {e}", destination.as_str()))
            })?;
    }
    Ok(())
}

/// The server on `listener`: actix-web's `HttpServer::listen` with the same
/// settings, except that each connection is wrapped in
/// [`ProblemAnswers`](crate::wire::ProblemAnswers) so that the HTTP layer's
/// own answers are problem documents too.
fn serve(
    listener: TcpListener,
    state: AppState,
    address: SocketAddr,
) -> std::io::Result<ServerBuilder> {
    let builder = ServerBuilder::new().backlog(1024);
    let shutdown = builder.graceful_shutdown_signal();
    builder.listen("motcua", listener, move || {
        let shutdown = shutdown.clone();
        let http = HttpService::build()
            // Lets idle keep-alive connections close as soon as a graceful
            // shutdown starts, as actix-web's HttpServer does.
            .graceful_shutdown_signal(move || {
                let shutdown = shutdown.clone();
                async move { shutdown.notified().await }
            })
            .keep_alive(KeepAlive::default())
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .local_addr(address)
            .finish(map_config(
                app(state.clone())
                    .into_factory()
                    .map_err(|error| error.error_response()),
                |()| AppConfig::default(),
            ));
        fn_service(|stream: actix_web::rt::net::TcpStream| async move {
            let peer = stream.peer_addr().ok();
            Ok::<_, DispatchError>((ProblemAnswers::new(stream, peer), Protocol::Http1, peer))
        })
        .and_then(http)
    })
}

/// HEAD is answered wherever GET is (RFC 9110 §9.3.2): the request is
/// routed as a GET, and the HTTP layer, which read a HEAD, sends the
/// answer's headers (with the length the body would have) and no body.
async fn head_as_get(
    mut request: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if request.method() == Method::HEAD {
        request.head_mut().method = Method::GET;
    }
    next.call(request).await
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
pub struct KnownRoutes(Vec<(Vec<Option<String>>, Vec<Method>)>);

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
        // HEAD wherever GET (`head_as_get`).
        if allowed.contains(&Method::GET) {
            allowed.push(Method::HEAD);
        }
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
    }
}

#[cfg(test)]
mod tests {
    //! The HTTP edge's handling of request bodies, checked on a probe route
    //! mounted on the real application (no handler in this crate takes a
    //! JSON body yet). Nothing here touches SQL, so SQLite suffices.

    use actix_web::http::header::ContentType;
    use actix_web::{test, web};
    use motcua_persistence::Backend;
    use motcua_persistence::testing::TestDb;
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;
    use crate::error::PROBLEM_JSON;

    #[derive(Debug, Deserialize)]
    struct Probe {
        name: String,
        count: u32,
    }

    async fn probe(body: web::Json<Probe>) -> HttpResponse {
        HttpResponse::Ok().body(format!("{} {}", body.name, body.count))
    }

    const LIMIT: usize = 1024;

    async fn call(request: test::TestRequest) -> (u16, Option<String>, Value) {
        let db =
            TestDb::migrated(Backend::Sqlite).unwrap_or_else(|| panic!("SQLite is always there"));
        let mut settings = Settings::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        settings.history_keys = Some(
            motcua_domain::history::Keyring::parse("test:secret").unwrap_or_else(|e| panic!("{e}")),
        );
        settings.limits = Limits {
            json_body_bytes: LIMIT,
            upload_bytes: LIMIT,
            ..settings.limits
        };
        let state = AppState::new(db.open(), &settings).unwrap_or_else(|e| panic!("{e}"));
        let service = test::init_service(app(state).route("/probe", web::post().to(probe))).await;
        let response = test::call_service(&service, request.to_request()).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = test::read_body(response).await;
        (
            status,
            content_type,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }

    fn post_json(body: &str) -> test::TestRequest {
        test::TestRequest::post()
            .uri("/probe")
            .insert_header(ContentType::json())
            .set_payload(body.to_owned())
    }

    fn assert_problem(outcome: &(u16, Option<String>, Value), status: u16, code: &str) {
        let (actual, content_type, body) = outcome;
        assert_eq!(*actual, status, "{body}");
        assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
        assert_eq!(body["status"], status);
        assert_eq!(body["code"], code);
        assert_eq!(body["type"], format!("urn:motcua:problem:{code}"));
    }

    #[actix_web::test]
    async fn a_well_formed_body_reaches_the_handler() {
        let (status, _, _) = call(post_json(r#"{"name": "Tiên Sơn", "count": 3}"#)).await;
        assert_eq!(status, 200);
    }

    #[actix_web::test]
    async fn malformed_json_is_400() {
        let outcome = call(post_json(r#"{"name": "Tiên Sơn", "count": "#)).await;
        assert_problem(&outcome, 400, "malformed_body");
    }

    #[actix_web::test]
    async fn json_of_the_wrong_shape_is_422_with_a_field_message() {
        let outcome = call(post_json(r#"{"name": "Tiên Sơn", "count": "many"}"#)).await;
        assert_problem(&outcome, 422, "validation_failed");
        let message = outcome.2["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains("invalid type"), "{message}");
    }

    #[actix_web::test]
    async fn an_oversized_body_is_413() {
        let big = format!(r#"{{"name": "{}", "count": 1}}"#, "x".repeat(LIMIT));
        let outcome = call(post_json(&big)).await;
        assert_problem(&outcome, 413, "payload_too_large");
    }

    #[actix_web::test]
    async fn a_body_that_is_not_json_is_415() {
        let request = test::TestRequest::post()
            .uri("/probe")
            .insert_header(ContentType::plaintext())
            .set_payload("name=x");
        let outcome = call(request).await;
        assert_problem(&outcome, 415, "unsupported_media_type");
    }
}
