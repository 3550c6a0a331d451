"""The images of rendered Kubernetes manifests: the generator logic of the `k8s` plugin.

Pure Python (PyYAML's pure-Python SafeLoader and the standard library), with no knowledge of
the component: `app.py` hands it the user's options and the host's `files` interface, and turns
what it returns into `image-entry` records. The unit tests run it with a fake file system.

Inputs are `path=P` options: a manifest file (any name; `.json` files are read as JSON,
everything else as YAML) or a directory, walked recursively for `*.yaml`, `*.yml` and `*.json`
files in name order (`.git` directories are skipped). A file holds any number of documents
(`---`-separated YAML, or concatenated JSON values), as `kubectl apply -f`, `kustomize build`
and `helm template` produce.

The images are those of the containers, init containers and ephemeral containers of Pods and
of the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets,
ReplicationControllers, Jobs and CronJobs, and of the items of `List` objects (`kind: List`,
`kind: DeploymentList`...). An object of another kind, or of a workload kind in another API
group (a custom resource that happens to be called `Job`), is not looked into, whatever `image`
keys it holds. An image's `os` is the pod's: its `nodeSelector` (`kubernetes.io/os`, then
`beta.kubernetes.io/os`), else `spec.os.name`, else a required node affinity on those labels.

In the component, only the modules imported while componentize-py built it exist (it snapshots
the interpreter; the sandbox has no file system to import others from): import everything at
the top, and use no codec but `utf-8` (`bytes.decode("utf-16-le")` would look one up).
"""

import json
import posixpath
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import yaml

NAME = "k8s"
VERSION = "0.1.0"

# Suffixes of the files a directory walk reads (compared in lower case).
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Directory names a walk does not enter.
SKIPPED_DIRECTORIES = frozenset([".git"])
# How deep a walk goes: a symlink loop would otherwise go on until paths get too long.
MAX_DEPTH = 40
# How deep `List` objects may nest in one another (a recursive YAML alias would not end).
MAX_LIST_DEPTH = 16

# The path from a workload object to its pod spec, and the API groups the kind belongs to
# (the part of `apiVersion` before the `/`; "" is the core group, `apiVersion: v1`).
WORKLOADS: Dict[str, Tuple[Tuple[str, ...], frozenset]] = {
    "Pod": (("spec",), frozenset([""])),
    "ReplicationController": (("spec", "template", "spec"), frozenset([""])),
    "Deployment": (("spec", "template", "spec"), frozenset(["apps", "extensions"])),
    "DaemonSet": (("spec", "template", "spec"), frozenset(["apps", "extensions"])),
    "ReplicaSet": (("spec", "template", "spec"), frozenset(["apps", "extensions"])),
    "StatefulSet": (("spec", "template", "spec"), frozenset(["apps"])),
    "Job": (("spec", "template", "spec"), frozenset(["batch"])),
    "CronJob": (("spec", "jobTemplate", "spec", "template", "spec"), frozenset(["batch"])),
}
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
OS_LABELS = ("kubernetes.io/os", "beta.kubernetes.io/os")


class InputError(Exception):
    """An input that cannot be used; the message (one line) names it."""


class FilesError(Exception):
    """The host's `files` interface refused a call; the message is the host's (it names the
    path)."""


class Image(NamedTuple):
    reference: str
    os: Optional[str]
    source: str


class Generated(NamedTuple):
    images: List[Image]
    # Things the user should know about that did not stop the run (an `image` that is not a
    # string...), one line each.
    warnings: List[str]
    # Inputs that could not be read or parsed, one line each naming the input: the other
    # inputs are still listed, and the host exits 1 after writing the lists (as for a broken
    # chart).
    errors: List[str]


def generate(options: Sequence[Tuple[str, str]], files) -> Generated:
    """The images of the manifests the `path` options name. `files` has `read(path) -> bytes`
    and `list(dir) -> names`, both raising `FilesError`. Raises `InputError` for bad options;
    a path or file that cannot be walked, read or parsed is reported in `errors` and the
    others are still read."""
    paths = parse_options(options)
    images: List[Image] = []
    warnings: List[str] = []
    errors: List[str] = []
    seen_images = set()
    seen_files = set()
    for path in paths:
        try:
            found = manifest_files(files, path)
        except (InputError, FilesError) as e:
            errors.append(str(e))
            continue
        for file in found:
            if file in seen_files:
                continue
            seen_files.add(file)
            try:
                listed = file_images(file, files.read(file), warnings)
            except (InputError, FilesError) as e:
                errors.append(str(e))
                continue
            for image in listed:
                key = (image.reference, image.os)
                if key not in seen_images:
                    seen_images.add(key)
                    images.append(image)
    return Generated(images, warnings, errors)


def parse_options(options: Sequence[Tuple[str, str]]) -> List[str]:
    paths = []
    for key, value in options:
        if key == "path":
            if value == "":
                raise InputError("path= needs a file or directory")
            paths.append(value)
        else:
            raise InputError(f"unknown option {key!r} (path=FILE|DIR, repeatable)")
    if not paths:
        raise InputError("no manifests given (path=FILE|DIR, repeatable)")
    return paths


def manifest_files(files, path: str) -> List[str]:
    """`path` itself when it is not a directory (reading it then says what is wrong with
    it), else the manifest files under it."""
    try:
        names = files.list(path)
    except FilesError:
        return [path]
    found: List[str] = []
    _walk(files, path, names, 0, found)
    return found


def _walk(files, directory: str, names: List[str], depth: int, found: List[str]) -> None:
    if depth >= MAX_DEPTH:
        raise InputError(
            f"{directory}: more than {MAX_DEPTH} directories deep (a symlink loop?)"
        )
    for name in sorted(names):
        child = posixpath.join(directory, name)
        try:
            child_names = files.list(child)
        except FilesError:
            child_names = None
        if child_names is not None:
            if name not in SKIPPED_DIRECTORIES:
                _walk(files, child, child_names, depth + 1, found)
        elif name.lower().endswith(MANIFEST_SUFFIXES):
            found.append(child)


def file_images(path: str, data: bytes, warnings: List[str]) -> List[Image]:
    """The images of one manifest file, in document order (not de-duplicated)."""
    images: List[Image] = []
    for document in documents(path, data):
        _object_images(document, path, None, None, 0, images, warnings)
    return images


def documents(path: str, data: bytes) -> list:
    if path.lower().endswith(".json"):
        return _json_documents(path, data)
    try:
        # PyYAML's pure-Python safe loader: plain data only (no Python object tags), and
        # encoding from the byte order mark (UTF-8 without one).
        return list(yaml.load_all(data, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML: {_yaml_message(e)}") from None
    except RecursionError:
        raise InputError(f"{path}: invalid YAML: nested too deeply") from None


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _json_documents(path: str, data: bytes) -> list:
    # (Not the `utf-8-sig` codec: in the component, only the codecs imported while it was
    # built exist; `utf-8` is built into the interpreter.)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: invalid JSON: not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None
    decoder = json.JSONDecoder()
    found = []
    index = _WHITESPACE.match(text, 0).end()
    try:
        while index < len(text):
            value, index = decoder.raw_decode(text, index)
            found.append(value)
            index = _WHITESPACE.match(text, index).end()
    except json.JSONDecodeError as e:
        raise InputError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except RecursionError:
        raise InputError(f"{path}: invalid JSON: nested too deeply") from None
    return found


def _yaml_message(error: "yaml.YAMLError") -> str:
    """PyYAML's error on one line: `line L, column C: problem (context at line L, column C)`."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        text = error.problem or error.context or "error"
        if mark is not None:
            text = f"line {mark.line + 1}, column {mark.column + 1}: {text}"
        if error.problem and error.context:
            context = error.context
            other = error.context_mark
            if other is not None and (other.line, other.column) != (mark.line, mark.column):
                context += f" at line {other.line + 1}, column {other.column + 1}"
            text += f" ({context})"
        return text
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        # A byte the encoding rejects, or a character YAML does not allow (`encoding` is
        # "unicode" then).
        if error.encoding == "unicode":
            what = f"character #x{error.character:04x} is not allowed"
        else:
            what = f"cannot decode byte 0x{error.character:02x} as {error.encoding}"
        return f"{what} (offset {error.position})"
    return " ".join(str(error).split())


def _api_group(api_version) -> Optional[str]:
    """The group of an `apiVersion` ("" for the core `v1`); None when it is not a string."""
    if not isinstance(api_version, str):
        return None
    return api_version.rpartition("/")[0]


def _get(value, *keys):
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _object_images(obj, path, kind, api_version, depth, images, warnings) -> None:
    """The images of one object. `kind` and `api_version` are inherited from a typed list
    (`kind: PodList`), whose items the API serves without their own."""
    if not isinstance(obj, dict):
        return
    own_kind = obj.get("kind")
    if own_kind is not None:
        kind = own_kind
    if "apiVersion" in obj:
        api_version = obj.get("apiVersion")
    if not isinstance(kind, str):
        return
    name = _get(obj, "metadata", "name")
    named = isinstance(name, (str, int)) and not isinstance(name, bool)
    label = f"{kind}/{name}" if named else kind
    where = f"{path}: {label}"
    if kind.endswith("List") and "items" in obj:
        items = obj.get("items")
        if items is None:
            return
        if not isinstance(items, list):
            warnings.append(f"{where}: items is not a list; ignored")
            return
        if depth >= MAX_LIST_DEPTH:
            warnings.append(f"{where}: lists nested more than {MAX_LIST_DEPTH} deep; ignored")
            return
        item_kind = kind[: -len("List")] or None
        item_version = api_version if item_kind else None
        for item in items:
            _object_images(item, path, item_kind, item_version, depth + 1, images, warnings)
        return
    workload = WORKLOADS.get(kind)
    if workload is None:
        return
    spec_path, groups = workload
    # Without an apiVersion (hand-written manifests) the kind decides.
    if api_version is not None and _api_group(api_version) not in groups:
        return
    spec = _get(obj, *spec_path)
    if spec is None:
        return
    if not isinstance(spec, dict):
        warnings.append(f"{where}: {'.'.join(spec_path)} is not a mapping; ignored")
        return
    os = pod_os(spec)
    for field in CONTAINER_FIELDS:
        containers = spec.get(field)
        if containers is None:
            continue
        if not isinstance(containers, list):
            warnings.append(f"{where}: {field} is not a list; ignored")
            continue
        for index, container in enumerate(containers):
            if container is None:
                continue
            if not isinstance(container, dict):
                warnings.append(f"{where}: {field}[{index}] is not a mapping; ignored")
                continue
            image = container.get("image")
            # No image: allowed in a workload's pod template, where config management may
            # set it later.
            if image is None:
                continue
            cname = container.get("name")
            which = f"{field}[{index}]" + (f" ({cname})" if isinstance(cname, str) else "")
            if not isinstance(image, str):
                warnings.append(
                    f"{where}: {which}: image {image!r} is not a string; ignored"
                )
                continue
            if image.strip() == "":
                warnings.append(f"{where}: {which}: empty image; ignored")
                continue
            images.append(Image(image, os, where))


def pod_os(spec: dict) -> Optional[str]:
    """The operating system a pod spec is for, when it says."""
    selector = spec.get("nodeSelector")
    if isinstance(selector, dict):
        for label in OS_LABELS:
            value = selector.get(label)
            if isinstance(value, str) and value:
                return value
    name = _get(spec, "os", "name")
    if isinstance(name, str) and name:
        return name
    return _affinity_os(spec)


def _affinity_os(spec: dict) -> Optional[str]:
    """The operating systems a required node affinity admits (comma-separated, e.g.
    `linux,windows`), when every one of its terms names them with `In`; otherwise None."""
    terms = _get(
        spec,
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )
    if not isinstance(terms, list) or not terms:
        return None
    admitted = set()
    for term in terms:
        expressions = _get(term, "matchExpressions")
        if not isinstance(expressions, list):
            return None
        # The expressions of a term all apply: the OSes that every one of them admits.
        term_os = None
        for expression in expressions:
            if not isinstance(expression, dict) or expression.get("key") not in OS_LABELS:
                continue
            values = expression.get("values")
            if expression.get("operator") != "In" or not isinstance(values, list):
                continue
            names = {v for v in values if isinstance(v, str) and v}
            term_os = names if term_os is None else term_os & names
        if term_os is None:
            # A term that does not name an OS: any OS may match.
            return None
        # (A term whose expressions admit no common OS matches no node.)
        admitted |= term_os
    return ",".join(sorted(admitted)) or None
