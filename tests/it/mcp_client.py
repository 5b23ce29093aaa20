"""An MCP client of Vigil, written with the official Python SDK (`mcp`).

Usage:
  mcp_client.py http  URL TOKEN STEP [ID]
  mcp_client.py stdio VIGIL URL TOKEN STEP [ID]

STEP is one of:
  dispatch  list the tools, dispatch a triage, wait until it parks on its
            approval (with progress), print what was seen
  finish    wait until investigation ID finishes (with progress), read it
  refused   try a dispatch (for a token whose role may not dispatch)
  delegate  dispatch the orchestrator agent, wait until it finishes (its
            children first), read it and each of its children

Prints one JSON object on stdout.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


def field(obj, snake, camel):
    """An attribute under its snake_case name (SDK 2) or camelCase (SDK 1)."""
    return getattr(obj, snake, getattr(obj, camel, None))


def is_error(result):
    return bool(field(result, "is_error", "isError"))


def structured(result):
    """A tool result's JSON: its structured content, else its text."""
    content = field(result, "structured_content", "structuredContent")
    if content is not None:
        return content
    text = "".join(getattr(c, "text", "") for c in result.content)
    try:
        return json.loads(text)
    except ValueError:
        return text


async def run(session, step, ident):
    await session.initialize()
    out = {}
    progress = []

    async def on_progress(value, total, message):
        progress.append(message)

    if step == "dispatch":
        tools = await session.list_tools()
        out["tools"] = sorted(t.name for t in tools.tools)
        out["schema"] = next(
            field(t, "input_schema", "inputSchema") for t in tools.tools if t.name == "dispatch_investigation"
        )
        dispatched = await session.call_tool(
            "dispatch_investigation",
            {
                "agent_id": "triage",
                "prompt": "Failed SSH logins on web-01 from 185.220.101.4",
                "idempotency_key": "mcp-" + ident,
            },
        )
        out["dispatch_error"] = is_error(dispatched)
        body = structured(dispatched)
        out["id"] = body["id"]
        again = await session.call_tool(
            "dispatch_investigation",
            {
                "agent_id": "triage",
                "prompt": "Failed SSH logins on web-01 from 185.220.101.4",
                "idempotency_key": "mcp-" + ident,
            },
        )
        out["again_id"] = structured(again)["id"]
        waited = await session.call_tool(
            "wait_for_investigation",
            {"id": body["id"], "until": "awaiting_approval", "timeout_secs": 120},
            progress_callback=on_progress,
        )
        out["waited"] = structured(waited)
        approvals = await session.call_tool("list_pending_approvals", {"status": "pending"})
        out["approvals"] = structured(approvals)
        own = await session.call_tool(
            "list_pending_approvals", {"status": "pending", "investigation_id": body["id"]}
        )
        out["own_approvals"] = structured(own)
        bad = await session.call_tool("get_investigation", {"id": "not-an-id"})
        out["bad_error"] = is_error(bad)
        out["bad"] = structured(bad)
    elif step == "finish":
        waited = await session.call_tool(
            "wait_for_investigation",
            {"id": ident, "timeout_secs": 120},
            progress_callback=on_progress,
        )
        out["waited"] = structured(waited)
        got = await session.call_tool("get_investigation", {"id": ident})
        out["investigation"] = structured(got)
        timeline = await session.call_tool("get_timeline", {"id": ident})
        out["timeline"] = structured(timeline)
    elif step == "delegate":
        # An orchestrator agent that delegates: dispatch it, wait until the
        # run (and so every child) has finished, read the tree.
        dispatched = await session.call_tool(
            "dispatch_investigation",
            {"agent_id": "orchestrator", "prompt": "Phishing wave reached finance; " + ident},
        )
        parent = structured(dispatched)["id"]
        waited = await session.call_tool(
            "wait_for_investigation",
            {"id": parent, "timeout_secs": 240},
            progress_callback=on_progress,
        )
        out["waited"] = structured(waited)
        got = await session.call_tool("get_investigation", {"id": parent})
        out["investigation"] = structured(got)
        out["children"] = []
        for child in out["investigation"].get("children", []):
            detail = await session.call_tool("get_investigation", {"id": child["id"]})
            out["children"].append(structured(detail))
    elif step == "refused":
        refused = await session.call_tool(
            "dispatch_investigation", {"agent_id": "triage", "prompt": "not allowed"}
        )
        out["error"] = is_error(refused)
        out["body"] = structured(refused)
    out["progress"] = progress
    return out


async def main():
    transport = sys.argv[1]
    if transport == "http":
        url, token, step = sys.argv[2], sys.argv[3], sys.argv[4]
        ident = sys.argv[5] if len(sys.argv) > 5 else "http"
        http = create_mcp_http_client(headers={"Authorization": "Bearer " + token})
        async with http:
            async with streamable_http_client(url + "/mcp", http_client=http) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    out = await run(session, step, ident)
    else:
        vigil, url, token, step = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        ident = sys.argv[6] if len(sys.argv) > 6 else "stdio"
        params = StdioServerParameters(
            command=vigil,
            args=["mcp"],
            env={"VIGIL_URL": url, "VIGIL_TOKEN": token, "PATH": "/usr/bin:/bin"},
        )
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await run(session, step, ident)
    print(json.dumps(out))


asyncio.run(main())
