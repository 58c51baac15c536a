#!/usr/bin/env python3
"""Where a node(id:) request's CPU goes, from `perf script -F comm,pid,tid,time,ip,sym,dso` of a
server sampled under load (scripts/bench/profile-node makes it).

    python3 scripts/bench/perf_buckets.py target/bench-profile/kanjian.txt

Each sample of the profiled process goes in exactly one bucket:
1. kernel work caused by hand-offs between threads (futex wait/wake, eventfd wakes of a tokio
   runtime, the reschedule IPIs those wakes send), wherever it is in the stack;
2. kernel TCP send/receive (loopback) and the event loop (epoll_wait);
3. otherwise the first user frame, from the leaf towards the root, matching a bucket's pattern.
Prints each bucket's share of the process's samples, then the same samples by layer, where the
kernel's and the runtime's share goes to SQL when the sample is on one of sqlx-sqlite's
connection threads or its stack goes through sqlx or flume (sqlx-sqlite's channels): on SQLite
every statement is sent to the connection's own thread and its rows sent back."""
import collections
import re
import sys

USER = [
    ("allocator (mimalloc)", r"\bmi_|_mi_|mimalloc"),
    ("logging / tracing", r"tracing_core::|tracing_subscriber::|tracing::|tracing_actix_web|\blog::|sqlx_core::logger|QueryLogger"),
    ("metrics (Prometheus)", r"prometheus|kanjian_server::metrics"),
    ("SQL: SQLite engine (C)", r"sqlite3|unixShm|pager|btree|^vdbe|libsqlite3"),
    ("SQL: sqlx (pool, statements, rows)", r"sqlx_"),
    ("SQL: sea-orm / sea-query (build SQL, decode models)", r"sea_orm|sea_query|FromQueryResult"),
    ("GraphQL: parse", r"async_graphql_parser|pest::|pest_"),
    ("GraphQL: validate (incl. Kanjian's limits)", r"async_graphql::validation|kanjian_graphql::limits"),
    ("JSON: decode request, encode response", r"serde_json|async_graphql_actix_web|serde::ser|serde::de|async_graphql_value::ser|async_graphql_value::de"),
    ("Kanjian: module APIs (media, identity, db)", r"kanjian_media|kanjian_identity|kanjian_db|kanjian_social|kanjian_notify|kanjian_events|kanjian_contracts"),
    ("GraphQL: execute (resolvers, DataLoaders, schema)", r"async_graphql|kanjian_graphql"),
    ("Kanjian: HTTP glue (caller, request id, routes)", r"kanjian_server|uuid::"),
    ("HTTP: actix-web / actix-http", r"actix_|httparse|http::header"),
    ("async runtime (tokio, channels)", r"tokio::|futures_|flume::|mio::|std::sync|std::thread"),
]
USER_RX = [(n, re.compile(p)) for n, p in USER]
HANDOFF = "thread hand-offs: futex wait/wake, eventfd wakes, reschedule IPIs (kernel)"
TCP = "loopback TCP send/receive (kernel)"
EPOLL = "event loop: epoll_wait (kernel)"


def classify(frames):
    kernel = [f for f in frames if "kallsyms" in f]
    if kernel:
        names = " ".join(kernel)
        if "futex" in names or "reschedule_ipi" in names or "eventfd" in names:
            return HANDOFF
        if any("Waker::wake" in f or "thread::functions::park" in f or "futex_wake" in f
               for f in frames[:12]):
            return HANDOFF
        if "epoll" in names:
            return EPOLL
        if re.search(r"sendto|recvfrom|tcp_|sock_|__sys_send|__sys_recv|ksys_read|ksys_write", names):
            return TCP
    for f in frames:
        if "kallsyms" in f or "libc.so" in f:
            continue
        for name, rx in USER_RX:
            if rx.search(f):
                return name
    for f in frames:
        if "libc.so" in f:
            return "libc (memcpy, …) outside any recognised caller"
    return "other"


LAYERS = {
    "SQL (engine, sqlx, sea-orm, and the hand-offs to sqlx-sqlite's threads)": [
        "SQL: SQLite engine (C)", "SQL: sqlx (pool, statements, rows)",
        "SQL: sea-orm / sea-query (build SQL, decode models)"],
    "GraphQL parse + validate": ["GraphQL: parse", "GraphQL: validate (incl. Kanjian's limits)"],
    "GraphQL execution (resolvers, DataLoaders, module APIs)": [
        "GraphQL: execute (resolvers, DataLoaders, schema)",
        "Kanjian: module APIs (media, identity, db)"],
    "JSON (request in, response out)": ["JSON: decode request, encode response"],
    "HTTP (actix, Kanjian's glue, kernel TCP)": [
        "HTTP: actix-web / actix-http", "Kanjian: HTTP glue (caller, request id, routes)", TCP],
    "allocator (mimalloc)": ["allocator (mimalloc)"],
    "logging, tracing, metrics": ["logging / tracing", "metrics (Prometheus)"],
}


def layer(bucket, comm, frames):
    sql = "sqlite" in comm or any("sqlx_" in f or "flume::" in f for f in frames)
    if bucket in (HANDOFF, "async runtime (tokio, channels)") and sql:
        return next(iter(LAYERS))
    for name, buckets in LAYERS.items():
        if bucket in buckets:
            return name
    return "async runtime: tokio, epoll, other hand-offs" if bucket in (
        HANDOFF, EPOLL, "async runtime (tokio, channels)") else "other"


def read(path):
    header = re.compile(r"^(\S.*?)\s+(\d+)/(\d+)\s")
    comm, frames = None, []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if comm is not None:
                    yield comm, frames
                comm, frames = None, []
                continue
            if not line.startswith((" ", "\t")):
                m = header.match(line)
                comm = m.group(1).strip() if m else "?"
                continue
            parts = line.strip().split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if comm is not None:
        yield comm, frames


def main(path):
    counts = collections.Counter()
    layers = collections.Counter()
    threads = collections.Counter()
    inclusive = collections.Counter()
    total = 0
    marks = {
        "sqlx": "sqlx_",
        "sea-orm": "sea_orm",
        "GraphQL parse": "async_graphql_parser",
        "GraphQL validate": "async_graphql::validation",
        "tracing core/subscriber": "tracing_core::",
    }
    for comm, frames in read(path):
        total += 1
        bucket = classify(frames)
        counts[bucket] += 1
        layers[layer(bucket, comm, frames)] += 1
        threads["actix-web workers" if comm.startswith("actix") else
                "sqlx-sqlite connection threads" if "sqlite" in comm else comm] += 1
        joined = "\n".join(frames)
        for name, needle in marks.items():
            if needle in joined:
                inclusive[name] += 1
    print(f"samples: {total}")
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f} %  {name}")
    print("\nby layer:")
    for name, n in layers.most_common():
        print(f"{100 * n / total:5.1f} %  {name}")
    print("\nthreads: " + ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in threads.most_common()))
    print("stacks containing (inclusive): " + ", ".join(f"{k} {100 * v / total:.1f} %" for k, v in inclusive.items()))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"== {arg}")
        main(arg)
