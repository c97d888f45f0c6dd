"""What a network service costs a network create: a project with a VXLAN
service (driver ``agent``) against a project on the deployment default, the
creates interleaved (A, B, A, B ...) by one client against one `quark serve`,
so both see the same machine at the same moments.

The service's cost is one indexed SELECT (the project's association joined
to its service, share-locked) in the create's transaction.

    .venv/bin/python bench/network_services.py --backend postgresql --count 300
"""

from __future__ import annotations

import argparse
import time
import uuid

import httpx
from harness import fresh_database, machine, running_server, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "mariadb", "sqlite"])
    parser.add_argument("--count", type=int, default=300, help="networks per project")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    print(machine())
    with fresh_database(args.backend) as url, running_server(url, workers=1) as base:
        with httpx.Client(base_url=base, timeout=60) as admin:
            body = {"network_service": {"kind": "vxlan", "driver": "agent"}}
            service = admin.post("/v2.0/network-services", json=body).json()["network_service"]
            with_service, default = f"ns-{uuid.uuid4().hex[:8]}", f"nd-{uuid.uuid4().hex[:8]}"
            link = {"project_id": with_service, "network_service_id": service["id"]}
            assert admin.post(
                "/v2.0/network-service-associations", json={"network_service_association": link}
            ).is_success
            timings: dict[str, list[float]] = {with_service: [], default: []}
            for i in range(args.warmup + args.count):
                for project in (with_service, default):
                    headers = {"X-Project-Id": project, "X-Roles": "member"}
                    start = time.perf_counter()
                    r = admin.post("/v2.0/networks", json={"network": {"name": "b"}}, headers=headers)
                    elapsed = (time.perf_counter() - start) * 1000
                    assert r.status_code == 201, r.text
                    if i >= args.warmup:
                        timings[project].append(elapsed)
    print(f"{args.backend}: {args.count} network creates each, one client, interleaved")
    print(f"  with a network service: {summary(timings[with_service])}")
    print(f"  deployment default:     {summary(timings[default])}")


if __name__ == "__main__":
    main()
