"""An EDR-like MCP tool server, written with the official Python SDK (`mcp`).

Usage: mcp_tool_server.py STATE_DIR [--http PORT]

Speaks MCP on stdin and stdout, or with --http over streamable HTTP at
http://127.0.0.1:PORT/mcp, where each call's Authorization header is
appended to STATE_DIR/headers.jsonl. Tools:
  lookup_host      read (readOnlyHint): what the EDR knows about a host
  isolate_host     no hints, so a write
  enable_quarantine  adds the tool quarantine_file and tells the client
                   that the list changed

Each call appends a line to STATE_DIR/<tool>.calls before it acts, and
while STATE_DIR/hold-<tool> exists it waits there, so a test can kill the
caller or the server between a call and its result.

Each start appends its pid to STATE_DIR/pids, so a test can kill the
server and see it started again. Every call's `_meta` is appended to
STATE_DIR/meta.jsonl.
"""

import json
import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

STATE = sys.argv[1]
server = MCPServer("edr-fixture")


def record(name, line):
    with open(os.path.join(STATE, name), "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def hold(tool):
    while os.path.exists(os.path.join(STATE, "hold-" + tool)):
        time.sleep(0.05)


def record_meta(ctx):
    request = getattr(ctx.request_context, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        record("headers.jsonl", json.dumps({"authorization": headers.get("authorization")}))
    meta = None
    try:
        meta = ctx.request_context.meta
        if meta is not None and hasattr(meta, "model_dump"):
            meta = meta.model_dump(by_alias=True, exclude_none=True)
    except Exception as error:  # the meta is for the test's eyes only
        meta = {"error": str(error)}
    record("meta.jsonl", json.dumps(meta, default=str))


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def lookup_host(host: str, ctx: Context) -> dict:
    """What the EDR knows about a host."""
    record_meta(ctx)
    record("lookup_host.calls", host)
    hold("lookup_host")
    return {"host": host, "os": "windows", "sensor": "online", "last_user": "jdoe"}


@server.tool()
def isolate_host(host: str, ctx: Context) -> dict:
    """Cut a host off the network (the EDR keeps its management channel)."""
    record_meta(ctx)
    record("isolate_host.calls", host)
    hold("isolate_host")
    return {"host": host, "isolated": True}


def quarantine_file(host: str, sha256: str) -> dict:
    """Quarantine a file on a host."""
    record("quarantine_file.calls", f"{host} {sha256}")
    return {"host": host, "sha256": sha256, "quarantined": True}


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
async def enable_quarantine(ctx: Context) -> str:
    """Turn on the quarantine capability."""
    server.add_tool(quarantine_file)
    try:
        await ctx.notify_tools_changed()
    except Exception:
        pass
    try:
        await ctx.session.send_tool_list_changed()
    except Exception:
        pass
    return "quarantine_file is available"


if __name__ == "__main__":
    record("pids", str(os.getpid()))
    if len(sys.argv) > 3 and sys.argv[2] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[3]))
    else:
        server.run()
