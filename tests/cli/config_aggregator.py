"""A stand-in of AWS Config's ``SelectAggregateResourceConfig`` (moto has none), on a loopback
HTTP server, for the tests of ``portguard scan --aggregator``.

It speaks the API's JSON 1.1 protocol (``X-Amz-Target: StarlingDoveService.…``) and answers as
the API reference and the Config developer guide describe:

- ``Results`` is a list of JSON strings, one per resource, holding the fields the SELECT names,
  nested as in a configuration item (``configuration`` an object, ports as floats such as
  ``22.0``, as SelectResourceConfig writes them); ``tags`` is a list of ``{key, value, tag}``
  (``tag`` is ``key=value``), the advanced-query schema of ``AWS::EC2::SecurityGroup``
  (awslabs/aws-config-resource-schema);
- pages of ``Limit`` (or ``MaxResults``) results, at most 100 (``InvalidLimitException`` above),
  25 when neither is given, chained by ``NextToken``;
- an aggregation (``COUNT(*)`` with ``GROUP BY``) gives one row per group;
- ``NoSuchConfigurationAggregatorException`` for another aggregator's name,
  ``InvalidExpressionException`` for a query it does not know.

It knows only the queries portguard makes (any SELECT list, ``WHERE resourceType = '…' AND
awsRegion = '…'``, and ``SELECT awsRegion, COUNT(*) … GROUP BY awsRegion``): enough to check what
portguard sends, not an SQL engine.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

TARGET = "StarlingDoveService.SelectAggregateResourceConfig"
MAX_PAGE = 100
DEFAULT_PAGE = 25
_SELECT = re.compile(
    r"SELECT (?P<fields>[\w., ]+) WHERE resourceType = '(?P<type>[\w:]+)'"
    r" AND awsRegion = '(?P<region>[a-z0-9-]+)'"
)
_COUNT_BY_REGION = re.compile(
    r"SELECT awsRegion, COUNT\(\*\) WHERE resourceType = '(?P<type>[\w:]+)' GROUP BY awsRegion"
)


def security_group(
    account: str,
    region: str,
    group_id: str,
    name: str,
    permissions: list[dict[str, Any]],
    *,
    tags: dict[str, str] | None = None,
    status: str = "OK",
) -> dict[str, Any]:
    """A security group as Config records it (the fields the query can select)."""
    return {
        "accountId": account,
        "awsRegion": region,
        "resourceId": group_id,
        "resourceName": name,
        "resourceType": "AWS::EC2::SecurityGroup",
        "configurationItemStatus": status,
        "configuration": {
            "groupId": group_id,
            "groupName": name,
            "description": name,
            "ownerId": account,
            "vpcId": "vpc-0a1b2c3d4e5f60718",
            "ipPermissions": permissions,
            "ipPermissionsEgress": [],
            # Config's configuration usually repeats the tags (configuration.tags); left out
            # here, so that the tests see them read from the result's own tags.
        },
        "tags": [{"key": k, "value": v, "tag": f"{k}={v}"} for k, v in (tags or {}).items()],
    }


def permission(
    protocol: str, port: int, *cidrs: str, lists: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An ingress permission as Config records it, ports as floats (as advanced queries give)."""
    ipv4 = [c for c in cidrs if ":" not in c]
    return {
        "ipProtocol": protocol,
        "fromPort": float(port),
        "toPort": float(port),
        "ipRanges": ipv4,
        "ipv4Ranges": [{"cidrIp": c} for c in ipv4],
        "ipv6Ranges": [{"cidrIpv6": c} for c in cidrs if ":" in c],
        "prefixListIds": [{"prefixListId": pl} for pl in lists],
        "userIdGroupPairs": [],
    }


@dataclass
class Aggregator:
    """What the aggregator named ``name`` recorded, the requests it was sent, and an optional
    ``fail(request)`` that answers a request with ``(status, code, message)`` instead."""

    name: str
    items: list[dict[str, Any]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: Callable[[dict[str, Any]], tuple[int, str, str] | None] | None = None

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append(request)
        if self.fail is not None and (failure := self.fail(request)):
            status, code, message = failure
            return status, {"__type": code, "message": message}
        if request.get("ConfigurationAggregatorName") != self.name:
            return 400, {
                "__type": "NoSuchConfigurationAggregatorException",
                "message": "The configuration aggregator does not exist.",
            }
        limit = request.get("Limit") or request.get("MaxResults")
        if limit is not None and not 0 <= limit <= MAX_PAGE:
            return 400, {"__type": "InvalidLimitException", "message": f"Limit {limit}"}
        expression = request.get("Expression", "")
        if match := _COUNT_BY_REGION.fullmatch(expression):
            counts: dict[str, int] = {}
            for item in self._of(match["type"]):
                counts[item["awsRegion"]] = counts.get(item["awsRegion"], 0) + 1
            rows = [{"awsRegion": region, "COUNT(*)": n} for region, n in counts.items()]
            fields = ["awsRegion", "COUNT(*)"]
            return 200, self._page([json.dumps(row) for row in rows], fields, request, 500)
        if match := _SELECT.fullmatch(expression):
            fields = [name.strip() for name in match["fields"].split(",")]
            selected = [
                json.dumps({f: item[f] for f in fields if f in item})
                for item in self._of(match["type"])
                if item["awsRegion"] == match["region"]
            ]
            return 200, self._page(selected, fields, request, DEFAULT_PAGE)
        return 400, {"__type": "InvalidExpressionException", "message": expression}

    def _of(self, resource_type: str) -> Iterator[dict[str, Any]]:
        return (item for item in self.items if item["resourceType"] == resource_type)

    @staticmethod
    def _page(
        results: list[str], fields: list[str], request: dict[str, Any], default: int
    ) -> dict[str, Any]:
        size = request.get("Limit") or request.get("MaxResults") or default
        start = int(request.get("NextToken") or 0)
        answer: dict[str, Any] = {
            "Results": results[start : start + size],
            "QueryInfo": {"SelectFields": [{"Name": f} for f in fields]},
        }
        if start + size < len(results):
            answer["NextToken"] = str(start + size)
        return answer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("X-Amz-Target") != TARGET:
            status, answer = 400, {"__type": "UnknownOperationException", "message": ""}
        else:
            status, answer = self.server.aggregator.answer(body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:  # quiet: the tests read stderr
        pass


class _Server(ThreadingHTTPServer):
    aggregator: Aggregator


def serve(aggregator: Aggregator) -> tuple[str, Callable[[], None]]:
    """The stand-in on 127.0.0.1 (a free port): its URL, and how to stop it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.aggregator = aggregator
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return f"http://127.0.0.1:{server.server_address[1]}", stop
