//! Field-level validation: collect every problem of a request, then answer
//! 422 with one message per field.

use std::fmt::Display;

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldError};

/// The problems found so far in one request.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// Keeps the value, or records the error against `field`.
    pub fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.error(field, error.to_string());
                None
            }
        }
    }

    /// Records a problem.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok` if nothing was wrong, else 422 listing every problem.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

/// A required line of text: trimmed, not empty, at most `max` characters.
pub fn text(value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        Err("must not be empty".into())
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if value.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(value.to_owned())
    }
}

/// A plausible e-mail address (one `@`, a dot in the domain, no spaces).
pub fn email(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = value.len() <= 254
        && !value.contains(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(value.to_owned())
    } else {
        Err("is not an e-mail address".into())
    }
}

/// A day a query names (`?at=`; today in Vietnam when absent), within the
/// years the service computes with (1900–2200): outside them PostgreSQL
/// cannot store the date, and no procedure was in force.
pub fn supported_day(
    field: &str,
    day: Option<chrono::NaiveDate>,
) -> Result<chrono::NaiveDate, ApiError> {
    let day = day.unwrap_or_else(|| motcua_domain::time::to_local(chrono::Utc::now()).date());
    if (1900..=2200).contains(&chrono::Datelike::year(&day)) {
        Ok(day)
    } else {
        Err(ApiError::Validation(vec![FieldError::new(
            field,
            "must be a day between the years 1900 and 2200",
        )]))
    }
}

/// `?limit=&cursor=` of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page: 1 to 500, default 50.
    pub limit: Option<i64>,
    /// Opaque position from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The validated limit and the decoded cursor.
    pub fn parse(&self) -> Result<(i64, Option<String>), ApiError> {
        let mut fields = Fields::default();
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            fields.error("limit", "must be between 1 and 500");
        }
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(cursor) => fields.check("cursor", decode_cursor(cursor)),
        };
        fields.finish()?;
        Ok((limit, cursor))
    }
}

/// A page of a list.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched rows: the extra row, if any, says there
    /// is a next page, which starts after the last item's `key`.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        key: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|row| encode_cursor(&key(row)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

fn encode_cursor(position: &str) -> String {
    position.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(cursor: &str) -> Result<String, &'static str> {
    let bad = "is not a cursor from a previous page";
    if !cursor.len().is_multiple_of(2)
        || cursor.len() > 1024
        || !cursor.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(bad);
    }
    let bytes: Result<Vec<u8>, _> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
        .collect();
    String::from_utf8(bytes.map_err(|_| bad)?).map_err(|_| bad)
}

/// A staff login name: 3 to 64 characters of a-z, 0-9, `.`, `_` or `-`, not
/// all digits (those are citizens' personal IDs). Trimmed.
pub fn staff_username(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = (3..=64).contains(&value.len())
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !valid {
        return Err("must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'".into());
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must not be all digits (those are citizens' personal IDs)".into());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor("/a/b/");
        assert_eq!(decode_cursor(&cursor).as_deref(), Ok("/a/b/"));
        assert!(decode_cursor("xyz").is_err());
        assert!(decode_cursor("zz").is_err());
        // Multi-byte characters are refused, not sliced (found by an outside probe).
        assert!(decode_cursor("\u{1F600}").is_err());
        assert!(decode_cursor("é1").is_err());
    }

    #[test]
    fn emails() {
        assert!(email("an.nguyen@example.vn").is_ok());
        for bad in ["", "an", "an@", "@x.vn", "an@x", "a n@x.vn", "an@.vn"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
