//! Reading the schema back out of a migrated database: to regenerate
//! `schema.rs` (and check the committed one) and to check that down
//! migrations leave no trace.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use diesel::sql_types::{Bool, Integer, Text};
use diesel::{QueryableByName, RunQueryDsl};

use crate::db::DbConnection;
use crate::sql_types::CLOSED_COLUMNS;

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    type_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Integer)]
    pk_position: i32,
    #[diesel(sql_type = Integer)]
    position: i32,
}

#[derive(QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    referenced_table: String,
    #[diesel(sql_type = Integer)]
    columns: i32,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

const PG_COLUMNS: &str = r"
SELECT c.table_name::text AS table_name, c.column_name::text AS column_name,
       c.udt_name::text AS type_name, (c.is_nullable = 'YES') AS nullable,
       COALESCE((SELECT k.ordinal_position::int
                   FROM information_schema.table_constraints t
                   JOIN information_schema.key_column_usage k
                     ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema
                    AND k.table_name = t.table_name
                  WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema
                    AND t.table_name = c.table_name AND k.column_name = c.column_name), 0) AS pk_position,
       c.ordinal_position::int AS position
  FROM information_schema.columns c
  JOIN information_schema.tables tb
    ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
 WHERE c.table_schema = 'public' AND tb.table_type = 'BASE TABLE'
   AND c.table_name NOT LIKE '\_\_diesel%'";

const SQLITE_COLUMNS: &str = r#"
SELECT m.name AS table_name, p.name AS column_name, p.type AS type_name,
       p."notnull" = 0 AS nullable, p.pk AS pk_position, p.cid AS position
  FROM sqlite_master m JOIN pragma_table_info(m.name) p
 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
   AND m.name NOT LIKE '\_\_diesel%' ESCAPE '\'"#;

const PG_FOREIGN_KEYS: &str = r"
SELECT cl.relname::text AS table_name, a.attname::text AS column_name,
       rf.relname::text AS referenced_table, array_length(con.conkey, 1) AS columns
  FROM pg_constraint con
  JOIN pg_class cl ON cl.oid = con.conrelid
  JOIN pg_class rf ON rf.oid = con.confrelid
  JOIN pg_namespace n ON n.oid = cl.relnamespace
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
 WHERE con.contype = 'f' AND n.nspname = 'public'";

const SQLITE_FOREIGN_KEYS: &str = r#"
SELECT m.name AS table_name, MIN(f."from") AS column_name, f."table" AS referenced_table,
       COUNT(*) AS columns
  FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
 WHERE m.type = 'table'
 GROUP BY m.name, f.id, f."table""#;

/// The diesel SQL type a column maps to, or why it is outside the subset both
/// backends share.
fn diesel_type(conn: &DbConnection, declared: &str) -> Result<&'static str, String> {
    let declared = declared.to_ascii_lowercase();
    let mapped = match conn {
        DbConnection::Postgres(_) => match declared.as_str() {
            "uuid" => "Uuid",
            "text" => "Text",
            "timestamptz" => "Timestamp",
            "int8" => "BigInt",
            "int4" => "Integer",
            "int2" => "SmallInt",
            "bool" => "Bool",
            "date" => "Date",
            "float8" => "Double",
            "bytea" => "Binary",
            _ => "",
        },
        DbConnection::Sqlite(_) => match declared.as_str() {
            "char(36)" => "Uuid",
            "text" => "Text",
            "timestamp" => "Timestamp",
            "bigint" => "BigInt",
            "integer" => "Integer",
            "smallint" => "SmallInt",
            "boolean" => "Bool",
            "date" => "Date",
            "double" => "Double",
            "blob" => "Binary",
            _ => "",
        },
    };
    if mapped.is_empty() {
        Err(format!(
            "column type `{declared}` is outside the subset motcua keeps on both backends \
             (see docs/architecture.md)"
        ))
    } else {
        Ok(mapped)
    }
}

/// Renders the database's tables as the `schema.rs` diesel expects, in a
/// fixed order (tables by name, columns as declared) so both backends render
/// the same text when their migrations agree.
pub fn render_schema(conn: &mut DbConnection) -> Result<String, String> {
    let (columns, foreign_keys) = match conn {
        DbConnection::Postgres(pg) => (
            diesel::sql_query(PG_COLUMNS).load::<ColumnRow>(pg),
            diesel::sql_query(PG_FOREIGN_KEYS).load::<ForeignKeyRow>(pg),
        ),
        DbConnection::Sqlite(sqlite) => (
            diesel::sql_query(SQLITE_COLUMNS).load::<ColumnRow>(sqlite),
            diesel::sql_query(SQLITE_FOREIGN_KEYS).load::<ForeignKeyRow>(sqlite),
        ),
    };
    let mut columns = columns.map_err(|e| e.to_string())?;
    let foreign_keys = foreign_keys.map_err(|e| e.to_string())?;
    columns.sort_by(|a, b| (&a.table_name, a.position).cmp(&(&b.table_name, b.position)));

    let mut tables: BTreeMap<&str, Vec<&ColumnRow>> = BTreeMap::new();
    for column in &columns {
        tables.entry(&column.table_name).or_default().push(column);
    }

    let mut out = String::from(
        "// @generated by the schema check in `motcua_persistence::testing` from the\n\
         // migrations; do not edit by hand. Regenerate with\n\
         // `MOTCUA_BLESS=1 cargo test -p motcua-persistence committed_schema`.\n",
    );
    for (table, columns) in &tables {
        let mut keys: Vec<&&ColumnRow> = columns.iter().filter(|c| c.pk_position > 0).collect();
        keys.sort_by_key(|c| c.pk_position);
        let keys: Vec<&str> = keys.iter().map(|c| c.column_name.as_str()).collect();
        if keys.is_empty() {
            return Err(format!("table {table} has no primary key"));
        }
        let mut body = String::new();
        // Our own SQL types: UUIDs, and the closed sets' text.
        let mut local: BTreeSet<&str> = BTreeSet::new();
        for column in columns {
            let ty = diesel_type(conn, &column.type_name)
                .map_err(|e| format!("{table}.{}: {e}", column.column_name))?;
            let closed = CLOSED_COLUMNS
                .iter()
                .find(|(t, c, _)| t == table && *c == column.column_name)
                .map(|(_, _, closed)| *closed);
            let ty = match closed {
                Some(closed) if ty == "Text" => closed,
                Some(_) => {
                    return Err(format!(
                        "{table}.{}: a closed set is text",
                        column.column_name
                    ));
                }
                None => ty,
            };
            if ty == "Uuid" || closed.is_some() {
                local.insert(ty);
            }
            let ty = if column.nullable {
                format!("Nullable<{ty}>")
            } else {
                ty.to_owned()
            };
            let _ = writeln!(body, "        {} -> {ty},", column.column_name);
        }
        let _ = write!(
            out,
            "\ndiesel::table! {{\n    use diesel::sql_types::*;\n{}\n    {table} ({}) {{\n{body}    }}\n}}\n",
            match local.into_iter().collect::<Vec<_>>()[..] {
                [] => String::new(),
                [one] => format!("    use crate::sql_types::{one};\n"),
                ref many => format!("    use crate::sql_types::{{{}}};\n", many.join(", ")),
            },
            keys.join(", "),
        );
    }

    // diesel can join along single-column foreign keys to another table, once per pair.
    let mut pairs: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for fk in &foreign_keys {
        if fk.columns == 1 && fk.table_name != fk.referenced_table {
            pairs
                .entry((&fk.table_name, &fk.referenced_table))
                .or_default()
                .push(&fk.column_name);
        }
    }
    let joinables: BTreeSet<String> = pairs
        .iter()
        .filter(|(_, columns)| columns.len() == 1)
        .map(|((table, parent), columns)| {
            format!("diesel::joinable!({table} -> {parent} ({}));\n", columns[0])
        })
        .collect();
    if !joinables.is_empty() {
        out.push('\n');
        out.extend(joinables);
    }
    if tables.len() > 1 {
        out.push_str("\ndiesel::allow_tables_to_appear_in_same_query!(\n");
        for table in tables.keys() {
            let _ = writeln!(out, "    {table},");
        }
        out.push_str(");\n");
    }
    Ok(out)
}

const PG_OBJECTS: &str = r"
SELECT 'column ' || table_name || '.' || column_name || ' ' || udt_name || ' null=' || is_nullable
       || ' default=' || COALESCE(column_default, '') AS line
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'relation ' || relname || ' kind=' || relkind::text AS line
  FROM pg_class WHERE relnamespace = 'public'::regnamespace
UNION ALL
SELECT 'index ' || indexdef AS line FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS line
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'type ' || typname AS line FROM pg_type
 WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd', 'r', 'm')
UNION ALL
SELECT 'function ' || proname AS line FROM pg_proc WHERE pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'trigger ' || tgname AS line FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal";

const SQLITE_OBJECTS: &str = r"
SELECT type || ' ' || name || ' on ' || tbl_name || ': ' || COALESCE(sql, '') AS line
  FROM sqlite_master";

/// Every object in the database other than diesel's own bookkeeping, one line
/// each, sorted: two snapshots are equal when the schemas are.
pub fn snapshot(conn: &mut DbConnection) -> Result<Vec<String>, String> {
    let lines = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(PG_OBJECTS).load::<Line>(pg),
        DbConnection::Sqlite(sqlite) => diesel::sql_query(SQLITE_OBJECTS).load::<Line>(sqlite),
    }
    .map_err(|e| e.to_string())?;
    let mut lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.line)
        .filter(|l| !l.contains("__diesel_schema_migrations"))
        .collect();
    lines.sort();
    Ok(lines)
}

#[derive(QueryableByName)]
struct KeyColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    /// The foreign key's or the index's name (SQLite: a foreign key's number).
    #[diesel(sql_type = Text)]
    name: String,
    /// The referenced table (foreign keys) or empty (indexes).
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Integer)]
    position: i32,
    /// Empty for an expression.
    #[diesel(sql_type = Text)]
    column_name: String,
}

const PG_FOREIGN_KEY_COLUMNS: &str = r"
SELECT cl.relname::text AS table_name, con.conname::text AS name, rf.relname::text AS target,
       k.ord::int AS position, a.attname::text AS column_name
  FROM pg_constraint con
  JOIN pg_class cl ON cl.oid = con.conrelid
  JOIN pg_class rf ON rf.oid = con.confrelid
  JOIN pg_namespace n ON n.oid = cl.relnamespace
  CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
 WHERE con.contype = 'f' AND n.nspname = 'public'";

// Key columns only (not INCLUDE), of indexes without a predicate; an
// expression has attnum 0 and gives an empty name.
const PG_INDEX_COLUMNS: &str = r"
SELECT cl.relname::text AS table_name, ic.relname::text AS name, '' AS target,
       k.ord::int AS position, COALESCE(a.attname::text, '') AS column_name
  FROM pg_index i
  JOIN pg_class cl ON cl.oid = i.indrelid
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = cl.relnamespace
  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
  LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
 WHERE n.nspname = 'public' AND i.indpred IS NULL AND k.ord <= i.indnkeyatts";

const SQLITE_FOREIGN_KEY_COLUMNS: &str = r#"
SELECT m.name AS table_name, CAST(f.id AS TEXT) AS name, f."table" AS target,
       f.seq AS position, f."from" AS column_name
  FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
 WHERE m.type = 'table'"#;

// Indexes with a WHERE clause are left out; so are the columns past an
// index's key (an index's `pragma_index_info` lists only key columns).
const SQLITE_INDEX_COLUMNS: &str = r#"
SELECT m.name AS table_name, il.name AS name, '' AS target, ii.seqno AS position,
       COALESCE(ii.name, '') AS column_name
  FROM sqlite_master m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
 WHERE m.type = 'table' AND il.partial = 0"#;

/// Groups (table, name) → (target, columns in order).
fn grouped(rows: Vec<KeyColumn>) -> BTreeMap<(String, String), (String, Vec<String>)> {
    let mut sorted = rows;
    sorted.sort_by(|a, b| {
        (&a.table_name, &a.name, a.position).cmp(&(&b.table_name, &b.name, b.position))
    });
    let mut groups: BTreeMap<(String, String), (String, Vec<String>)> = BTreeMap::new();
    for row in sorted {
        groups
            .entry((row.table_name, row.name))
            .or_insert_with(|| (row.target, Vec::new()))
            .1
            .push(row.column_name);
    }
    groups
}

/// Every foreign key whose columns are not the leading columns (in any
/// order) of some index of its table without a predicate, as
/// `table (columns) -> referenced table`, sorted. Without such an index,
/// each change of a referenced row (and every join from the referenced
/// side) scans the referencing table.
pub fn foreign_keys_without_index(conn: &mut DbConnection) -> Result<Vec<String>, String> {
    let (keys, indexes) = match conn {
        DbConnection::Postgres(pg) => (
            diesel::sql_query(PG_FOREIGN_KEY_COLUMNS).load::<KeyColumn>(pg),
            diesel::sql_query(PG_INDEX_COLUMNS).load::<KeyColumn>(pg),
        ),
        DbConnection::Sqlite(sqlite) => (
            diesel::sql_query(SQLITE_FOREIGN_KEY_COLUMNS).load::<KeyColumn>(sqlite),
            diesel::sql_query(SQLITE_INDEX_COLUMNS).load::<KeyColumn>(sqlite),
        ),
    };
    let keys = grouped(keys.map_err(|e| e.to_string())?);
    let indexes = grouped(indexes.map_err(|e| e.to_string())?);
    if keys.is_empty() || indexes.is_empty() {
        return Err("found no foreign keys or no indexes: is the database migrated?".into());
    }
    let mut missing = Vec::new();
    for ((table, _), (target, columns)) in &keys {
        let wanted: BTreeSet<&String> = columns.iter().collect();
        let covered = indexes
            .iter()
            .any(|((index_table, _), (_, index_columns))| {
                index_table == table
                    && index_columns.len() >= columns.len()
                    && index_columns[..columns.len()]
                        .iter()
                        .collect::<BTreeSet<_>>()
                        == wanted
            });
        if !covered {
            missing.push(format!("{table} ({}) -> {target}", columns.join(", ")));
        }
    }
    missing.sort();
    Ok(missing)
}
