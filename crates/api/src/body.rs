//! Typed JSON request bodies and query strings whose errors name the field.
//!
//! [`Query<T>`] reads the query string the same way: `limit=abc` answers
//! 422 naming `limit`, not the whole query.
//!
//! [`Body<T>`] reads a JSON body (415 when it is not JSON, 413 when too big,
//! 400 when it does not parse, like actix's own extractor) and then
//! deserialises `T` tracking the path, so a wrong value answers 422 naming
//! `items[0].name` or `outcome`, not the whole body. A `version` field, which
//! every dossier action accepts beside `If-Match`, is read on the side.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::error::{ApiError, FieldError};

/// A request body of type `T`, with the raw JSON text it came from.
#[derive(Debug)]
pub struct Body<T> {
    /// The body.
    pub value: T,
    /// Its `version` field, if any.
    pub version: Option<i32>,
    /// The JSON text as sent.
    pub raw: Box<RawValue>,
}

impl<T: DeserializeOwned> Body<T> {
    /// `T` and the `version` field from JSON text already known to parse.
    pub fn read(raw: Box<RawValue>) -> Result<Self, ApiError> {
        // serde would also read a struct from an array, by position.
        if !raw.get().trim_start().starts_with('{') {
            return Err(ApiError::Validation(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )]));
        }
        let value = parse(raw.get())?;
        let version = serde_json::from_str::<VersionField>(raw.get())
            .map_err(|_| {
                ApiError::Validation(vec![FieldError::new(
                    "version",
                    "must be the dossier's version, a whole number",
                )])
            })?
            .version;
        Ok(Body {
            value,
            version,
            raw,
        })
    }
}

#[derive(Deserialize)]
struct VersionField {
    #[serde(default)]
    version: Option<i32>,
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Box<RawValue>>::from_request(request, payload);
        Box::pin(async move {
            // The app's `JsonConfig` has already made its errors problems.
            let raw = json.await?.into_inner();
            Ok(Body::read(raw)?)
        })
    }
}

/// `T` from JSON text that is known to parse as JSON; a value of the wrong
/// shape is a 422 naming its field. (serde_json reports some wrong types —
/// `null` or a number where an enum's name belongs — as syntax errors:
/// here the text is valid JSON, so every error is the value's.)
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = if inner.is_data() {
            inner.to_string()
        } else {
            "has the wrong type".to_owned()
        };
        let message = crate::error::without_position(&message);
        let parent = if path == "." { String::new() } else { path };
        let field_error = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(name) if parent.is_empty() => FieldError::new(name, "is required"),
            Some(name) => FieldError::new(format!("{parent}.{name}"), "is required"),
            None if parent.is_empty() => FieldError::new("body", message),
            None => FieldError::new(parent, message),
        };
        ApiError::Validation(vec![field_error])
    })
}

/// A query string of type `T`; a value that does not parse is a 422 naming
/// its parameter (or `query` for the string as a whole, e.g. a parameter
/// given twice, which the message names).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    /// The parameters.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(request.query_string().as_bytes());
        let read = serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs))
            .map(Query)
            .map_err(|error| {
                let field = error.path().to_string();
                let field = if field == "." {
                    "query".to_owned()
                } else {
                    field
                };
                ApiError::Validation(vec![FieldError::new(field, error.inner().to_string())]).into()
            });
        std::future::ready(read)
    }
}
