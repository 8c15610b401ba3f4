#!/usr/bin/env python3
"""Turns PostgreSQL's statement log of one request into a pgbench script
that replays the same SQL (issue #12: the ceilings of P1 and P2).

    scripts/pgbench-replay.py filing VARIABLES < postgresql.log > filing.sql
    scripts/pgbench-replay.py read VARIABLES < postgresql.log > read.sql
    pgbench -M prepared … -f filing.sql $(sed 's/^/-D /' VARIABLES)   # one -D per line

The logged parameters stay bind parameters: each becomes a pgbench
variable (written to VARIABLES as `name=value`, one per line, for `-D`), so
with `-M prepared` PostgreSQL sees the same prepared statements and binds as
from motcua.

Input: the server log written with `log_statement = 'all'` while motcua
answered one request (Debian's default prefix, `%m [%p] %q%u@%d `).

`read` (one `GET /dossiers/{code}`): the statements run outside any
transaction (the read's own queries; the access log's batch is a
transaction of its own writer and is left out), replayed as logged.

`filing` (one `POST /dossiers`): the filing's transaction is the one (by process id) that inserts into
"dossiers": from its BEGIN to its COMMIT, each statement with its logged
parameters put back in place. What must differ between replays is made to:
the new dossier's and event's ids (random, from pgbench variables) and its
code (its number); everything else — the reads, the day's counter row that
every filing of the agency updates, the inserts — is replayed as logged.
"""

import re
import sys

LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] \S* ?([A-Z]+):  (.*)$")


def statements(lines):
    """[(pid, sql, params)] in log order (a statement's text may span lines)."""
    out = []
    for line in lines:
        match = LINE.match(line)
        if match:
            pid, kind, text = match.groups()
            if kind == "LOG" and (text.startswith("execute ") or text.startswith("statement: ")):
                sql = text.split(": ", 1)[1]
                out.append([pid, sql, None])
            elif kind == "DETAIL" and text.startswith("parameters: ") and out and out[-1][0] == pid:
                out[-1][2] = text[len("parameters: "):]
        elif out:
            # A value or statement that spans lines: the rest of the last one.
            field = 2 if out[-1][2] is not None else 1
            out[-1][field] += "\n" + line.rstrip("\n")
    return out


def parameters(text):
    """`$1 = 'a', $2 = NULL` → {1: "'a'", 2: "NULL"} (quotes kept, '' inside)."""
    values, i = {}, 0
    while i < len(text):
        match = re.compile(r"\$(\d+) = ").match(text, i)
        if not match:
            i += 1
            continue
        number, i = int(match.group(1)), match.end()
        if text.startswith("NULL", i):
            values[number], i = "NULL", i + 4
            continue
        j = i + 1
        while True:
            j = text.index("'", j)
            if text.startswith("''", j):
                j += 2
                continue
            break
        values[number], i = text[i:j + 1], j + 1
    return values


def bind(sql, values):
    return re.sub(r"\$(\d+)", lambda m: values.get(int(m.group(1)), m.group(0)), sql)


def outside_transactions(logged):
    """The statements no BEGIN … COMMIT of their process encloses."""
    open_by, out = set(), []
    for pid, sql, params in logged:
        if sql == "BEGIN":
            open_by.add(pid)
        elif sql in ("COMMIT", "ROLLBACK"):
            open_by.discard(pid)
        elif pid not in open_by:
            out.append([pid, sql, params])
    return out


def filing(logged):
    """The filing's transaction, and what each replay must make fresh."""
    insert = next((s for s in logged if s[1].startswith('INSERT INTO "dossiers"')), None)
    if insert is None:
        sys.exit("no filing in the log (no INSERT INTO \"dossiers\")")
    pid = insert[0]
    mine = [s for s in logged if s[0] == pid]
    at = mine.index(insert)
    begin = max(i for i in range(at) if mine[i][1] == "BEGIN")
    end = next(i for i in range(at, len(mine)) if mine[i][1] == "COMMIT")
    transaction = mine[begin:end + 1]
    dossier = parameters(insert[2])
    dossier_id, code = dossier[1], dossier[2]
    event = next(s for s in transaction if s[1].startswith('INSERT INTO "dossier_events"'))
    event_id = parameters(event[2])[1]
    prefix = code[1:-1].rsplit("-", 1)[0]
    print("-- The SQL of one online filing, as PostgreSQL logged it (scripts/pgbench-replay.py).")
    print("\\set d random(1, 281474976710655)")
    print("\\set e random(1, 281474976710655)")
    fresh = {
        dossier_id: "('00000000-0000-7000-8000-' || lpad(to_hex(:d::bigint), 12, '0'))::uuid",
        event_id: "('00000000-0000-7000-9000-' || lpad(to_hex(:e::bigint), 12, '0'))::uuid",
        code: f"('{prefix}-' || to_hex(:d::bigint))",
    }
    return transaction, fresh


def main():
    mode, variables_file = sys.argv[1], sys.argv[2]
    logged = statements(sys.stdin)
    if mode == "filing":
        replayed, fresh = filing(logged)
    elif mode == "read":
        replayed, fresh = outside_transactions(logged), {}
        if not any(sql.startswith('SELECT "dossiers".') for _, sql, _ in replayed):
            sys.exit("no dossier read in the log (no SELECT … FROM \"dossiers\")")
        print("-- The SQL of one dossier read, as PostgreSQL logged it (scripts/pgbench-replay.py).")
    else:
        sys.exit(f"mode must be filing or read, not {mode}")
    variables = []
    for index, (_, sql, params) in enumerate(replayed):
        values = {}
        for number, value in (parameters(params) if params else {}).items():
            if value in fresh:
                values[number] = fresh[value]
            elif value in ("NULL", "''"):
                values[number] = value  # pgbench cannot define an empty variable
            else:
                name = f"s{index}p{number}"
                variables.append(f"{name}={value[1:-1].replace(chr(39) * 2, chr(39))}")
                values[number] = f":{name}"
        print(" ".join(bind(sql, values).split()) + ";")
    with open(variables_file, "w") as out:
        out.write("".join(line + "\n" for line in variables))


if __name__ == "__main__":
    main()
