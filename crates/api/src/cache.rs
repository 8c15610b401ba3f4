//! What a server keeps in memory between requests: agencies' composed
//! working calendars and procedure versions. Both change rarely and are read
//! by every dossier request. Before using them a request reads the
//! database's stamps (one small query, `motcua_persistence::stamps`, or
//! within the dossier read's own statement); a
//! change to a calendar or a procedure bumps its stamp in the same
//! transaction, so a server forgets what changed on its next request,
//! whichever server made the change.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use motcua_domain::calendar::WorkingCalendar;
use motcua_persistence::procedures::{self, ProcedureRow};
use motcua_persistence::stamps::{self, Stamps};
use motcua_persistence::{AgencyId, DbConnection, ProcedureId, agencies};

use crate::error::ApiError;

/// The caches of one server (shared by its workers).
#[derive(Debug, Default)]
pub struct Caches {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The stamps the entries were read under.
    stamps: Option<Stamps>,
    calendars: HashMap<AgencyId, Arc<WorkingCalendar>>,
    procedures: HashMap<ProcedureId, Arc<ProcedureRow>>,
}

/// The caches as of one reading of the stamps: use within one request.
#[derive(Debug)]
pub struct Fresh<'a> {
    caches: &'a Caches,
    stamps: Stamps,
}

impl Caches {
    /// At most this many entries of each kind (more are read, not kept).
    const MAX_ENTRIES: usize = 20_000;

    /// Reads the stamps and forgets what changed since the entries were read.
    pub fn fresh(&self, conn: &mut DbConnection) -> Result<Fresh<'_>, ApiError> {
        Ok(self.as_of(stamps::read(conn)?))
    }

    /// The caches under `stamps` just read from the database (with the
    /// request's own query): forgets what changed since the entries were read.
    pub fn as_of(&self, stamps: Stamps) -> Fresh<'_> {
        if let Ok(mut inner) = self.inner.lock() {
            if let Some(seen) = inner.stamps
                && seen != stamps
            {
                if seen.calendars != stamps.calendars {
                    inner.calendars.clear();
                }
                if seen.procedures != stamps.procedures {
                    inner.procedures.clear();
                }
            }
            inner.stamps = Some(stamps);
        }
        Fresh {
            caches: self,
            stamps,
        }
    }
}

impl Fresh<'_> {
    /// The entry `get` finds, if the entries are still those of our stamps.
    fn cached<T>(&self, get: impl FnOnce(&Inner) -> Option<T>) -> Option<T> {
        let inner = self.caches.inner.lock().ok()?;
        (inner.stamps == Some(self.stamps)).then(|| get(&inner))?
    }

    /// Keeps an entry read under our stamps, unless they have moved on since
    /// (another request saw a change: what we read may predate it).
    fn keep(&self, put: impl FnOnce(&mut Inner)) {
        if let Ok(mut inner) = self.caches.inner.lock()
            && inner.stamps == Some(self.stamps)
        {
            put(&mut inner);
        }
    }

    /// The working calendar `agency` counts deadlines on.
    pub fn calendar(
        &self,
        conn: &mut DbConnection,
        agency: AgencyId,
    ) -> Result<Arc<WorkingCalendar>, ApiError> {
        if let Some(found) = self.cached(|inner| inner.calendars.get(&agency).cloned()) {
            return Ok(found);
        }
        let row = agencies::find(conn, agency)?;
        let calendar = Arc::new(crate::calendars::calendar_for(conn, &row)?);
        self.keep(|inner| bounded_insert(&mut inner.calendars, agency, calendar.clone()));
        Ok(calendar)
    }

    /// A procedure version by row id.
    pub fn procedure(
        &self,
        conn: &mut DbConnection,
        id: ProcedureId,
    ) -> Result<Arc<ProcedureRow>, ApiError> {
        if let Some(found) = self.cached(|inner| inner.procedures.get(&id).cloned()) {
            return Ok(found);
        }
        let row = Arc::new(procedures::find(conn, id)?);
        self.keep(|inner| bounded_insert(&mut inner.procedures, id, row.clone()));
        Ok(row)
    }
}

fn bounded_insert<K: Eq + Hash, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() < Caches::MAX_ENTRIES {
        map.insert(key, value);
    }
}
