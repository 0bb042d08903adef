"""examples/serve/: the container image and the Kubernetes manifests, checked as a
cluster would take them. Deployment and Service are validated (strict: no unknown field)
by kubernetes-validate against its bundled Kubernetes schemas; the ServiceMonitor (a
Prometheus Operator CRD, whose schema no registry package bundles for this Python) is
checked for the fields the operator reads, and everything is checked to fit together."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO, run_cli

kubernetes_validate = pytest.importorskip("kubernetes_validate")

EXAMPLES = REPO / "examples" / "serve"
KUBERNETES = "1.33.0"


def _load(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((EXAMPLES / "kubernetes" / name).read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml"])
def test_kubernetes_manifests_are_valid(name: str) -> None:
    kubernetes_validate.validate(_load(name), KUBERNETES, strict=True)


def test_the_pieces_fit_together() -> None:
    deployment, service, monitor = (_load(n) for n in ("deployment.yaml", "service.yaml",
                                                       "servicemonitor.yaml"))
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in ports
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert deployment["spec"]["replicas"] >= 2  # replicas split the environments

    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and re.fullmatch(r"\d+[smh]", endpoint["interval"])
    # Prometheus scrapes with the very token the service checks
    token = next(e for e in container["env"] if e["name"] == "RECONCILER_TOKEN")
    credentials = endpoint["authorization"]["credentials"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": credentials["name"], "key": credentials["key"]}


def test_the_image_runs_serve_as_a_user_beyond_loopback_with_a_token() -> None:
    text = (EXAMPLES / "Dockerfile").read_text()
    entry = re.search(r'^ENTRYPOINT \[(.*?)\]$', text.replace("\\\n", ""), re.M | re.S)
    assert entry is not None
    args = [a.strip().strip('"') for a in entry.group(1).split(",")]
    assert args[:2] == ["reconciler", "serve"]
    assert args[args.index("--host") + 1] == "0.0.0.0" and "--auth-token-env" in args
    assert re.search(r"^USER 10001$", text, re.M)  # not root; the Deployment says the same
    assert _load("deployment.yaml")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
    # every option the image passes is one `serve` knows
    known = run_cli("serve", "--help").out
    for option in (a for a in args if a.startswith("--")):
        assert option in known, option
