"""``aiedge import``: the seed's ACM + Argo CD GitOps tree (``acm/``) as aiedge documents.

Every kustomization root of the tree is rendered with ``kubectl kustomize`` (kustomize's own
rules, no plugins, no files outside the tree), so names, labels and images are exactly what Argo
CD applied. Then, per rendered object:

- an app folder whose Deployment runs an image pinned by digest becomes an ``App``: its model
  (readiness probe or ``model-name`` label), image, protocol (from its load-generator CronJob's
  endpoint), port, the seed's own Kubernetes names in ``spec.kubernetes`` (so ``aiedge render``
  gives Argo CD the objects it already manages), and its test request when one is given;
- an ``ApplicationSet`` and the ACM ``Placement`` it draws clusters from become a ``Placement``
  over the sites of its cluster sets (ACM's ``cluster.open-cluster-management.io/clusterset``
  label) and its label selector;
- every other object, and every file that holds none of the above, is listed as not mapped,
  with what takes its place in aiedge. Nothing is dropped without a line in the report.

Clusters are not in the seed's repo (they join a cluster set at run time): ``--site NAME=SET``
declares them. Full-line comments of each source file travel with the documents made from it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from aiedge.gitops.errors import GitopsError
from aiedge.gitops.schema import API_VERSION, NAME_RE
from aiedge.oci.digest import DIGEST_PATTERN
from aiedge.smoke.testdata import load_test_data

CLUSTERSET_LABEL = "cluster.open-cluster-management.io/clusterset"
PLACEMENT_LABEL = "cluster.open-cluster-management.io/placement"
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_FILES = 5000
MAX_FILE_BYTES = 4 << 20
_DIGEST_IMAGE = re.compile(rf"^(?P<repo>[^@\s]+)@(?P<digest>{DIGEST_PATTERN})$")
_READY_PATH = re.compile(r"^/v2/models/(?P<model>[^/]+)/ready$")

# what takes the place of the seed's objects that have no aiedge document, by kind
_INSTEAD = {
    "ManagedClusterSetBinding": "no counterpart needed: a site joins by enrolling with a join token",
    "GitOpsCluster": "no counterpart needed: agents dial out to the hub, no Argo CD registration",
    "MultiClusterObservability": "agents remote-write to the hub; `aiedge hub --forward-remote-write` "
    "feeds Thanos Receive",
    "OpenTelemetryCollector": "the agent scrapes its apps itself and ships with remote-write",
    "Role": "no counterpart needed (Argo CD permissions on the edge cluster)",
    "RoleBinding": "no counterpart needed (Argo CD permissions on the edge cluster)",
    "Secret": "not imported (credentials stay out of the import); the hub's own secrets: deploy/kubernetes",
    "Namespace": "the namespace of objects that have no aiedge counterpart",
}


@dataclass
class Imported:
    """What an import produced: output files (path -> YAML text) and the report's lines."""

    files: dict[str, str] = field(default_factory=dict)
    mapped: list[str] = field(default_factory=list)
    not_mapped: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {"files": sorted(self.files), "mapped": self.mapped, "not_mapped": self.not_mapped}


@dataclass
class _Root:
    """One kustomization root: its folder (relative to the tree) and its rendered objects."""

    rel: str
    docs: list[dict[str, Any]]
    comments: list[str]


def _kubectl() -> list[str]:
    if exe := shutil.which("kubectl"):
        return [exe, "kustomize"]
    if exe := shutil.which("kustomize"):
        return [exe, "build"]
    raise GitopsError(
        "kubectl is not installed: aiedge import renders the seed's kustomizations with "
        "`kubectl kustomize` (or `kustomize build`)"
    )


def _safe_files(top: Path) -> Iterator[Path]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            count += 1
            if count > MAX_FILES:
                raise GitopsError(f"{top} holds more than {MAX_FILES} files; import a smaller tree")
            if path.is_symlink() or not path.is_file():
                continue
            yield path


def _load(path: Path, top: Path) -> list[Any]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise GitopsError(f"{path.relative_to(top)}: larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if d is not None]
    except Exception as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise GitopsError(f"{path.relative_to(top)}{where}: invalid YAML: {e}") from None


_BLOCK_START = re.compile(r"^(?P<indent>\s*)(-\s+)?([^#'\"]*:\s*)?[|>][-+0-9]*\s*(#.*)?$")


def _comments(path: Path, top: Path) -> list[str]:
    """The file's YAML comments (whole-line and trailing), skipping block scalars' text (a shell
    script's ``#`` lines are not YAML comments)."""
    rel = path.relative_to(top).as_posix()
    out: list[str] = []
    block: int | None = None  # indent of the line that opened a block scalar
    for line in path.read_text(errors="replace").splitlines():
        indent = len(line) - len(line.lstrip())
        if block is not None and (not line.strip() or indent > block):
            continue
        block = None
        stripped = line.strip()
        if stripped.startswith("#"):
            text = stripped.lstrip("#").strip()
        else:
            head, sep, tail = line.partition(" #")
            balanced = head.count('"') % 2 == 0 and head.count("'") % 2 == 0
            text = tail.strip() if sep and balanced else ""
            if m := _BLOCK_START.match(line):
                block = len(m.group("indent"))
        if text:
            out.append(f"{rel}: {text}")
    return out


def _render(folder: Path, top: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [*_kubectl(), str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    rel = folder.relative_to(top).as_posix() or "."
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise GitopsError(f"{rel}: kubectl kustomize failed: {first}")
    docs = YAML(typ="safe", pure=True).load_all(proc.stdout)
    return [d for d in docs if isinstance(d, dict)]


def _roots(top: Path, files: list[Path]) -> list[Path]:
    """Kustomization folders no other kustomization of the tree lists in its resources."""
    folders = [p.parent for p in files if p.name in KUSTOMIZATIONS]
    referenced: set[Path] = set()
    for folder in folders:
        for doc in (d for n in KUSTOMIZATIONS if (folder / n).is_file() for d in _load(folder / n, top)):
            for res in (doc.get("resources") or []) if isinstance(doc, dict) else []:
                target = (folder / str(res)).resolve()
                if target.is_dir():
                    referenced.add(target)
    return [f for f in folders if f.resolve() not in referenced]


def _name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _describe(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{_name(doc)}"


class _Importer:
    def __init__(self, top: Path, sites: dict[str, str], tests: dict[str, Path]) -> None:
        self.top = top
        self.sites = sites
        self.tests = tests
        self.out = Imported()
        self.apps: dict[str, str] = {}  # app folder (relative) -> App name
        self.placements: dict[str, dict[str, Any]] = {}  # ACM Placement name -> its doc
        self.appsets: list[tuple[str, dict[str, Any]]] = []

    def run(self) -> Imported:
        files = list(_safe_files(self.top))
        roots = [
            _Root(
                folder.relative_to(self.top).as_posix() or ".",
                _render(folder, self.top),
                [
                    c
                    for p in sorted(folder.iterdir())
                    if p.suffix in (".yaml", ".yml")
                    for c in _comments(p, self.top)
                ],
            )
            for folder in _roots(self.top, files)
        ]
        used: set[str] = set()
        for root in roots:
            if self._app(root):
                used.add(root.rel)
        for root in roots:
            if root.rel not in used:
                self._others(root)
        self._placements()
        self._sites()
        covered = {
            p.parent.relative_to(self.top).as_posix() or "." for p in files if p.name in KUSTOMIZATIONS
        }
        for path in files:
            rel = path.relative_to(self.top).as_posix()
            if path.suffix not in (".yaml", ".yml", ".json") and path.name not in KUSTOMIZATIONS:
                self.out.not_mapped.append(f"{rel}: not a YAML or JSON file, not read")
            elif not any(rel == r or rel.startswith(f"{r}/") or r == "." for r in covered):
                self.out.not_mapped.append(f"{rel}: in no kustomization; not read")
        return self.out

    # -- apps ---------------------------------------------------------------------------------

    def _app(self, root: _Root) -> bool:
        deployments = [d for d in root.docs if d.get("kind") == "Deployment"]
        if len(deployments) != 1:
            return False
        dep = deployments[0]
        spec = dep.get("spec") or {}
        containers = (((spec.get("template") or {}).get("spec") or {}).get("containers")) or []
        images = [_DIGEST_IMAGE.match(str(c.get("image", ""))) for c in containers if isinstance(c, dict)]
        pinned = [m for m in images if m]
        if len(containers) != 1 or not pinned:
            return False
        container = containers[0]
        name = root.rel.rsplit("/", 1)[-1]
        if not re.match(NAME_RE, name) or len(name) > 63:
            self.out.not_mapped.append(f"{root.rel}: folder name {name!r} is not a valid App name")
            return False
        labels = {str(k): str(v) for k, v in ((dep.get("metadata") or {}).get("labels") or {}).items()}
        ready = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path", "")
        m = _READY_PATH.match(str(ready))
        model = m.group("model") if m else labels.get("model-name", name)
        ports = [p.get("containerPort") for p in container.get("ports") or [] if isinstance(p, dict)]
        port = int(ports[0]) if ports and isinstance(ports[0], int) else 8080
        protocol, path, schedule = "v2", None, None
        for cron in (d for d in root.docs if d.get("kind") == "CronJob"):
            schedule = str((cron.get("spec") or {}).get("schedule", "")) or None
            for env in _cron_env(cron):
                if env.get("name") == "TEST_ENDPOINT":
                    path = "/" + str(env.get("value", "")).lstrip("/")
        if path is not None:
            protocol = "tfserving" if ":predict" in path else "mlflow" if "invocations" in path else "v2"
        kube: dict[str, Any] = {"name": _name(dep)}
        namespace = (dep.get("metadata") or {}).get("namespace")
        if namespace:
            kube["namespace"] = str(namespace)
        if any(d.get("kind") == "Namespace" for d in root.docs):
            kube["createNamespace"] = True
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        kube["labels"] = {str(k): str(v) for k, v in selector.items()} or labels
        kube["runnable"] = True
        if any(d.get("kind") == "Route" for d in root.docs):
            kube["route"] = True
        if schedule:
            kube["smokeSchedule"] = schedule
        app_spec: dict[str, Any] = {
            "model": model,
            "image": {"repository": pinned[0].group("repo"), "digest": pinned[0].group("digest")},
            "protocol": protocol,
            "port": port,
        }
        test = self.tests.get(name)
        if test is not None:
            smoke = load_test_data(test, model=model, protocol=protocol)
            app_spec["test"] = {"path": smoke.path, "request": smoke.request, "response": smoke.response}
        app_spec["kubernetes"] = kube
        doc = {"apiVersion": API_VERSION, "kind": "App", "metadata": {"name": name}, "spec": app_spec}
        header = [
            f"imported from {root.rel} (rendered with kubectl kustomize)",
            "spec.kubernetes keeps the seed's names and selector, so Argo CD adopts its objects",
            *(
                []
                if test
                else [f"no smoke test: pass --test-data {name}=FILE (the seed's test-data ConfigMap)"]
            ),
            *root.comments,
        ]
        out = f"apps/{name}.yaml"
        self.out.files[out] = _dump(doc, header)
        self.apps[root.rel] = name
        self.out.mapped.append(f"{root.rel}: {_describe(dep)} -> App {name} ({out})")
        for d in root.docs:
            if d is dep:
                continue
            kind = d.get("kind")
            if kind in ("Service", "Route", "Namespace"):
                self.out.mapped.append(f"{root.rel}: {_describe(d)} -> App {name} spec.kubernetes")
            elif kind == "CronJob":
                self.out.not_mapped.append(
                    f"{root.rel}: {_describe(d)}: the seed's load generator (ab); aiedge renders a CronJob "
                    f"that replays the App's test request on {schedule!r} instead"
                )
            elif kind == "ConfigMap":
                self.out.not_mapped.append(f"{root.rel}: {_describe(d)}: {_configmap_note(d)}")
            else:
                self._other(root.rel, d)
        return True

    # -- registration and the rest --------------------------------------------------------------

    def _others(self, root: _Root) -> None:
        if not root.docs:
            self.out.not_mapped.append(f"{root.rel}: renders no objects")
        for doc in root.docs:
            kind = doc.get("kind")
            if kind == "ApplicationSet":
                self.appsets.append((root.rel, doc))
            elif kind == "Placement" and str(doc.get("apiVersion", "")).startswith("cluster.open-cluster"):
                if _name(doc) in self.placements:
                    continue  # the same Placement rendered again by another root (e.g. a test overlay)
                self.placements[_name(doc)] = doc
            else:
                self._other(root.rel, doc)

    def _other(self, rel: str, doc: dict[str, Any]) -> None:
        kind = str(doc.get("kind", "?"))
        if kind == "ConfigMap":
            why = _configmap_note(doc)
        elif kind == "Deployment":
            why = "a Deployment without one image pinned by digest; not an App"
        else:
            why = _INSTEAD.get(kind, "no aiedge counterpart")
        self.out.not_mapped.append(f"{rel}: {_describe(doc)}: {why}")

    def _placements(self) -> None:
        seen: set[str] = set()
        made: dict[str, dict[str, Any]] = {}
        for rel, appset in self.appsets:
            key = _name(appset)
            if key in seen:
                continue
            seen.add(key)
            template = ((appset.get("spec") or {}).get("template") or {}).get("spec") or {}
            path = str((template.get("source") or {}).get("path", "")).strip("/")
            app = next((n for f, n in self.apps.items() if path.endswith(f) or f.endswith(path)), None)
            placement = _placement_of(appset)
            acm = self.placements.get(placement or "")
            if app is None:
                self.out.not_mapped.append(
                    f"{rel}: ApplicationSet/{key}: deploys {path or '?'}, which holds no model app"
                )
                continue
            if acm is None:
                self.out.not_mapped.append(
                    f"{rel}: ApplicationSet/{key}: no ACM Placement {placement!r} found"
                )
                continue
            name = str(placement)
            entry = made.setdefault(name, {"acm": acm, "apps": [], "from": []})
            entry["apps"].append(app)
            entry["from"].append(f"{rel}: ApplicationSet/{key}")
        for name, entry in sorted(made.items()):
            selector, notes = _selector(entry["acm"])
            doc = {
                "apiVersion": API_VERSION,
                "kind": "Placement",
                "metadata": {"name": name},
                "spec": {"siteSelector": selector, "apps": sorted(set(entry["apps"]))},
            }
            out = f"placements/{name}.yaml"
            header = [f"imported from ACM Placement {name} and {', '.join(entry['from'])}", *notes]
            self.out.files[out] = _dump(doc, header)
            for src in entry["from"]:
                self.out.mapped.append(f"{src} -> Placement {name} ({out})")
            self.out.mapped.append(f"Placement/{name} (ACM) -> Placement {name} spec.siteSelector")
        for name, acm in self.placements.items():
            if name not in made:
                self.out.not_mapped.append(
                    f"Placement/{name} (ACM): no ApplicationSet of a model app uses it"
                )
            del acm

    def _sites(self) -> None:
        for site, clusterset in sorted(self.sites.items()):
            labels = {CLUSTERSET_LABEL: clusterset} if clusterset else {}
            doc = {"apiVersion": API_VERSION, "kind": "Site", "metadata": {"name": site, "labels": labels}}
            out = f"sites/{site}.yaml"
            self.out.files[out] = _dump(doc, [f"a cluster of the ACM cluster set {clusterset!r} (--site)"])
            self.out.mapped.append(f"--site {site}={clusterset} -> Site {site} ({out})")
        if not self.sites:
            self.out.not_mapped.append(
                "clusters: the seed's repo names none (they join a cluster set at run time); "
                "declare each with --site NAME=CLUSTERSET"
            )


def _cron_env(cron: dict[str, Any]) -> list[dict[str, Any]]:
    pod = (((cron.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    out: list[dict[str, Any]] = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        out.extend(e for e in (c.get("env") or []) if isinstance(e, dict))
    return out


def _configmap_note(doc: dict[str, Any]) -> str:
    data = doc.get("data") or {}
    keys = set(data) if isinstance(data, dict) else set()
    if "uwl_metrics_list.yaml" in keys or "metrics_list.yaml" in keys:
        return "ACM metrics allowlist: use deploy/acm/observability-metrics-custom-allowlist.yaml"
    if any(k.endswith(".json") and "dashboard" in _name(doc) for k in keys):
        return (
            "Grafana dashboard: keep it (aiedge serve exports the OVMS names it queries), or deploy/grafana/"
        )
    if {"data.json", "output.json"} <= keys:
        return "test data: give it with --test-data APP=FILE to make the App's smoke test"
    if "test-data.json" in keys:
        return "rows for the seed's load generator; aiedge's CronJob replays the App's test request instead"
    return "no aiedge counterpart"


def _placement_of(appset: dict[str, Any]) -> str | None:
    for gen in (appset.get("spec") or {}).get("generators") or []:
        cdr = gen.get("clusterDecisionResource") if isinstance(gen, dict) else None
        labels = ((cdr or {}).get("labelSelector") or {}).get("matchLabels") or {}
        if PLACEMENT_LABEL in labels:
            return str(labels[PLACEMENT_LABEL])
    return None


def _selector(acm: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    spec = acm.get("spec") or {}
    sets = [str(s) for s in spec.get("clusterSets") or []]
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    notes: list[str] = []
    if len(sets) == 1:
        match_labels[CLUSTERSET_LABEL] = sets[0]
    elif sets:
        expressions.append({"key": CLUSTERSET_LABEL, "operator": "In", "values": sets})
    for pred in spec.get("predicates") or []:
        req = (pred or {}).get("requiredClusterSelector") or {}
        sel = req.get("labelSelector") or {}
        match_labels.update({str(k): str(v) for k, v in (sel.get("matchLabels") or {}).items()})
        expressions.extend(sel.get("matchExpressions") or [])
        if req.get("claimSelector"):
            notes.append("not mapped: claimSelector (sites report no cluster claims; use Site labels)")
    if spec.get("tolerations"):
        notes.append("tolerations not needed: a site that cannot reach the hub keeps serving what it has")
    if spec.get("numberOfClusters") is not None:
        notes.append("not mapped: numberOfClusters (use rollout waves to limit how many sites update)")
    selector: dict[str, Any] = {"matchLabels": match_labels}
    if expressions:
        selector["matchExpressions"] = expressions
    return selector, notes


def _dump(doc: dict[str, Any], header: list[str]) -> str:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    node = _commented(doc)
    buf = io.StringIO()
    yaml.dump(node, buf)
    return "".join(f"# {line}\n" for line in header) + buf.getvalue()


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _commented(v)
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_commented(v) for v in value)
        if all(not isinstance(v, dict) for v in value):  # tensors and rows read best on one line
            seq.fa.set_flow_style()
        return seq
    return value


def import_seed(top: Path, sites: dict[str, str], test_data: dict[str, Path]) -> Imported:
    """Import the seed-style tree at ``top`` (its ``acm/`` folder or the repo above it)."""
    if not top.is_dir():
        raise GitopsError(f"{top} is not a directory")
    result = _Importer(top.resolve(), sites, test_data).run()
    unknown = sorted(set(test_data) - {Path(n).stem for n in result.files if n.startswith("apps/")})
    if unknown:
        raise GitopsError(f"--test-data for {', '.join(unknown)}: no such app in {top}")
    return result


def write_imported(result: Imported, out: Path) -> None:
    """Write the documents under ``out`` (created; refused when it holds files already)."""
    if out.exists() and any(out.iterdir()):
        raise GitopsError(f"{out} is not empty: import into a new folder")
    for rel, text in result.files.items():
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    (out / "IMPORT-REPORT.json").write_text(json.dumps(result.report(), indent=2) + "\n")
