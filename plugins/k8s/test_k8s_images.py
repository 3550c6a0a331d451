"""Unit tests of k8s_images, with a fake `files` interface. `build` runs them; by hand, from this
folder, with the venv `build` makes (its python sees the pure-Python PyYAML of
target/plugin-python/k8s-site):

    ../../target/plugin-python/venv/bin/python -B -m unittest -v
"""

import codecs
import json
import textwrap
import unittest
from unittest import mock

import yaml

import k8s_images
from k8s_images import FilesError, Image, InputError, generate

DIGEST = "sha256:" + "ab" * 32


class FakeFiles:
    """A read-only tree: a dict of name -> bytes (a file) or dict (a directory), answering as
    the host's `files` does (sorted names; errors that start with the path)."""

    def __init__(self, tree):
        self.tree = tree
        self.reads = []

    def _find(self, path):
        node = self.tree
        for part in [p for p in path.split("/") if p and p != "."]:
            if not isinstance(node, dict) or part not in node:
                raise FilesError(f"{path}: No such file or directory (os error 2)")
            node = node[part]
        return node

    def read(self, path):
        node = self._find(path)
        if isinstance(node, dict):
            raise FilesError(f"{path}: Is a directory (os error 21)")
        self.reads.append(path)
        return node

    def list(self, path):
        node = self._find(path)
        if not isinstance(node, dict):
            raise FilesError(f"{path}: Not a directory (os error 20)")
        return sorted(node)


def doc(text):
    return textwrap.dedent(text).lstrip("\n").encode()


def run(tree, *paths, strict=True):
    """`generate` over `tree`; with `strict`, the first input error is raised as InputError
    (the tests below check each message)."""
    files = FakeFiles(tree)
    generated = generate([("path", p) for p in paths], files)
    if strict and generated.errors:
        raise InputError(generated.errors[0])
    return generated


def images(tree, *paths):
    return run(tree, *paths).images


def refs(tree, *paths):
    return [i.reference for i in images(tree, *paths)]


def workload(kind, api_version, name, pod_spec):
    spec = {"spec": pod_spec}
    if kind == "Pod":
        body = pod_spec
    elif kind == "CronJob":
        body = {"schedule": "@daily", "jobTemplate": {"spec": {"template": spec}}}
    else:
        body = {"template": spec}
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": body}


def yaml_stream(*objects):
    return "\n---\n".join(yaml.safe_dump(o) for o in objects).encode()


class NoOpen(unittest.TestCase):
    """Every test runs with `open` refused: the plugin reads through `files` only."""

    def setUp(self):
        patcher = mock.patch("builtins.open", side_effect=AssertionError("open() used"))
        patcher.start()
        self.addCleanup(patcher.stop)


class Kinds(NoOpen):
    KINDS = [
        ("Pod", "v1"),
        ("Deployment", "apps/v1"),
        ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
        ("ReplicaSet", "apps/v1"),
        ("ReplicationController", "v1"),
        ("Job", "batch/v1"),
        ("CronJob", "batch/v1"),
    ]

    def test_every_workload_kind(self):
        objects = [
            workload(kind, version, kind.lower(), {"containers": [{"name": "c", "image": f"img/{kind.lower()}:1"}]})
            for kind, version in self.KINDS
        ]
        got = images({"m.yaml": yaml_stream(*objects)}, "m.yaml")
        self.assertEqual(
            got,
            [Image(f"img/{k.lower()}:1", None, f"m.yaml: {k}/{k.lower()}") for k, _ in self.KINDS],
        )

    def test_older_api_versions(self):
        objects = [
            workload("Deployment", "extensions/v1beta1", "a", {"containers": [{"image": "a:1"}]}),
            workload("DaemonSet", "apps/v1beta2", "b", {"containers": [{"image": "b:1"}]}),
            workload("CronJob", "batch/v1beta1", "c", {"containers": [{"image": "c:1"}]}),
        ]
        self.assertEqual(refs({"m.yaml": yaml_stream(*objects)}, "m.yaml"), ["a:1", "b:1", "c:1"])

    def test_no_api_version_is_accepted(self):
        text = doc("""
            kind: Pod
            spec: {containers: [{name: c, image: "nginx:1"}]}
        """)
        self.assertEqual(images({"p.yaml": text}, "p.yaml"), [Image("nginx:1", None, "p.yaml: Pod")])

    def test_init_and_ephemeral_containers(self):
        text = doc("""
            apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              ephemeralContainers: [{name: debug, image: "busybox:1.36"}]
              containers: [{name: app, image: "app:2"}, {name: side, image: "side:3"}]
              initContainers: [{name: init, image: "init:1"}]
        """)
        self.assertEqual(
            refs({"p.yaml": text}, "p.yaml"), ["init:1", "app:2", "side:3", "busybox:1.36"]
        )

    def test_init_containers_of_a_template(self):
        text = doc("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: d}
            spec:
              template:
                spec:
                  initContainers: [{name: i, image: "init:1"}]
                  containers: [{name: c, image: "app:1"}]
        """)
        self.assertEqual(refs({"d.yaml": text}, "d.yaml"), ["init:1", "app:1"])

    def test_cronjob_path_is_job_template(self):
        # A CronJob's images are under spec.jobTemplate, not spec.template.
        text = doc("""
            apiVersion: batch/v1
            kind: CronJob
            metadata: {name: cj}
            spec:
              template: {spec: {containers: [{image: "wrong:1"}]}}
              jobTemplate:
                spec:
                  template:
                    spec: {containers: [{image: "right:1"}]}
        """)
        self.assertEqual(refs({"c.yaml": text}, "c.yaml"), ["right:1"])


class References(NoOpen):
    def test_kept_as_written(self):
        written = [
            "nginx",
            "nginx:1.25",
            f"nginx@{DIGEST}",
            f"docker.io/library/nginx:1.25@{DIGEST}",
            "reg.local:5000/a/b:1",
            f"reg.local:5000/a/b@{DIGEST}",
            "localhost:5000/x",
            "[::1]:5000/x:1",
            "quay.io/org/img:v1.2.3-rc.1_build",
        ]
        spec = {"containers": [{"name": f"c{i}", "image": r} for i, r in enumerate(written)]}
        text = yaml_stream(workload("Pod", "v1", "p", spec))
        self.assertEqual(refs({"p.yaml": text}, "p.yaml"), written)

    def test_port_in_plain_yaml_scalar(self):
        # Plain (unquoted) scalars with colons must stay strings, not sexagesimal numbers.
        text = doc("""
            kind: Pod
            spec:
              containers:
                - image: reg.local:5000/a/b:1
                - image: registry:5000/x:10
        """)
        self.assertEqual(refs({"p.yaml": text}, "p.yaml"), ["reg.local:5000/a/b:1", "registry:5000/x:10"])


class Documents(NoOpen):
    def test_multi_document_stream(self):
        text = doc(f"""
            # Source: chart/templates/a.yaml
            ---
            apiVersion: v1
            kind: Pod
            metadata: {{name: a}}
            spec: {{containers: [{{image: "a:1"}}]}}
            ---
            # an empty document: only a comment
            ---
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: b}}
            spec:
              template:
                spec: {{containers: [{{image: "b@{DIGEST}"}}]}}
            ...
            ---
            apiVersion: v1
            kind: Service
            metadata: {{name: svc}}
            spec: {{ports: [{{port: 80}}]}}
        """)
        got = images({"all.yaml": text}, "all.yaml")
        self.assertEqual(
            got,
            [
                Image("a:1", None, "all.yaml: Pod/a"),
                Image(f"b@{DIGEST}", None, "all.yaml: Deployment/b"),
            ],
        )

    def test_empty_and_comment_only_files(self):
        tree = {"d": {"empty.yaml": b"", "comments.yaml": b"# nothing\n---\n# still nothing\n", "dash.yml": b"---\n"}}
        self.assertEqual(run(tree, "d"), k8s_images.Generated([], [], []))

    def test_documents_that_are_not_objects(self):
        text = b"- a\n- b\n---\njust a string\n---\n42\n---\nkind: Pod\nspec: {containers: [{image: x:1}]}\n"
        self.assertEqual(refs({"m.yaml": text}, "m.yaml"), ["x:1"])

    def test_anchors_and_merge_keys(self):
        text = doc("""
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
                - &base {name: a, image: "base:1", imagePullPolicy: Always}
                - <<: *base
                  name: b
                  image: "other:2"
                - *base
        """)
        self.assertEqual(refs({"p.yaml": text}, "p.yaml"), ["base:1", "other:2"])

    def test_utf16_with_bom(self):
        text = "kind: Pod\nspec: {containers: [{image: \"u16:1\"}]}\n"
        data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
        self.assertEqual(refs({"m.yaml": data}, "m.yaml"), ["u16:1"])

    def test_utf8_bom(self):
        data = b"\xef\xbb\xbfkind: Pod\nspec: {containers: [{image: \"bom:1\"}]}\n"
        self.assertEqual(refs({"m.yaml": data}, "m.yaml"), ["bom:1"])


class Json(NoOpen):
    def test_json_file(self):
        obj = workload("Deployment", "apps/v1", "d", {"containers": [{"name": "c", "image": "j:1"}]})
        data = json.dumps(obj, indent="\t").encode()  # tabs: fine in JSON, not in YAML
        self.assertEqual(images({"d.json": data}, "d.json"), [Image("j:1", None, "d.json: Deployment/d")])

    def test_concatenated_json_values_and_bom(self):
        a = json.dumps(workload("Pod", "v1", "a", {"containers": [{"image": "a:1"}]}))
        b = json.dumps(workload("Pod", "v1", "b", {"containers": [{"image": "b:1"}]}))
        data = b"\xef\xbb\xbf" + f"{a}\n{b}\n\n".encode()
        self.assertEqual(refs({"x.json": data}, "x.json"), ["a:1", "b:1"])

    def test_empty_json_file(self):
        self.assertEqual(refs({"x.json": b"  \n"}, "x.json"), [])

    def test_malformed_json(self):
        with self.assertRaises(InputError) as e:
            run({"bad.json": b'{"kind": "Pod",\n  "spec": }'}, "bad.json")
        self.assertEqual(
            str(e.exception), "bad.json: invalid JSON at line 2, column 11: Expecting value"
        )

    def test_json_not_utf8(self):
        with self.assertRaises(InputError) as e:
            run({"bad.json": b'{"kind": "\xff"}'}, "bad.json")
        self.assertEqual(str(e.exception), "bad.json: invalid JSON: not UTF-8 (byte 0xff at offset 10)")


class Lists(NoOpen):
    def test_list_items(self):
        text = yaml_stream({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                workload("Deployment", "apps/v1", "d", {"containers": [{"image": "d:1"}]}),
                {"apiVersion": "v1", "kind": "ConfigMap", "data": {"image": "no:1"}},
                None,
                "text",
                workload("Pod", "v1", "p", {"containers": [{"image": "p:1"}]}),
            ],
        })
        self.assertEqual(
            images({"l.yaml": text}, "l.yaml"),
            [Image("d:1", None, "l.yaml: Deployment/d"), Image("p:1", None, "l.yaml: Pod/p")],
        )

    def test_nested_lists(self):
        inner = {"kind": "List", "items": [workload("Job", "batch/v1", "j", {"containers": [{"image": "j:1"}]})]}
        text = yaml_stream({"apiVersion": "v1", "kind": "List", "items": [inner]})
        self.assertEqual(refs({"l.yaml": text}, "l.yaml"), ["j:1"])

    def test_typed_list_items_without_kind(self):
        # The API serves a DeploymentList's items without kind and apiVersion.
        text = doc("""
            apiVersion: apps/v1
            kind: DeploymentList
            items:
              - metadata: {name: a}
                spec: {template: {spec: {containers: [{image: "a:1"}]}}}
              - kind: Pod
                apiVersion: v1
                metadata: {name: b}
                spec: {containers: [{image: "b:1"}]}
        """)
        self.assertEqual(
            images({"l.yaml": text}, "l.yaml"),
            [Image("a:1", None, "l.yaml: Deployment/a"), Image("b:1", None, "l.yaml: Pod/b")],
        )

    def test_typed_list_of_a_foreign_group(self):
        text = doc("""
            apiVersion: example.com/v1
            kind: JobList
            items:
              - spec: {template: {spec: {containers: [{image: "no:1"}]}}}
        """)
        self.assertEqual(refs({"l.yaml": text}, "l.yaml"), [])

    def test_list_without_items(self):
        text = b"kind: List\nitems: null\n---\nkind: List\n---\nkind: PodList\nitems: []\n"
        self.assertEqual(run({"l.yaml": text}, "l.yaml"), k8s_images.Generated([], [], []))

    def test_items_not_a_list(self):
        result = run({"l.yaml": b"kind: List\nitems: {kind: Pod}\n"}, "l.yaml")
        self.assertEqual(result.images, [])
        self.assertEqual(result.warnings, ["l.yaml: List: items is not a list; ignored"])

    def test_recursive_alias_ends(self):
        text = doc("""
            kind: List
            items: &items
              - kind: List
                items: *items
              - kind: Pod
                spec: {containers: [{image: "r:1"}]}
        """)
        result = run({"l.yaml": text}, "l.yaml")
        self.assertEqual([i.reference for i in result.images], ["r:1"])
        self.assertTrue(any("nested more than" in w for w in result.warnings))


class OperatingSystems(NoOpen):
    def os_of(self, pod_spec_yaml):
        spec = yaml.safe_load(pod_spec_yaml)
        spec["containers"] = [{"image": "x:1"}]
        text = yaml_stream(workload("Deployment", "apps/v1", "d", spec))
        (image,) = images({"d.yaml": text}, "d.yaml")
        return image.os

    def test_none(self):
        self.assertIsNone(self.os_of("{}"))
        self.assertIsNone(self.os_of("nodeSelector: {disktype: ssd}"))
        self.assertIsNone(self.os_of("nodeSelector: null"))
        self.assertIsNone(self.os_of("os: null"))

    def test_node_selector(self):
        self.assertEqual(self.os_of("nodeSelector: {kubernetes.io/os: windows}"), "windows")
        self.assertEqual(self.os_of("nodeSelector: {beta.kubernetes.io/os: linux}"), "linux")
        self.assertEqual(
            self.os_of("nodeSelector: {beta.kubernetes.io/os: linux, kubernetes.io/os: windows}"),
            "windows",
        )

    def test_spec_os(self):
        self.assertEqual(self.os_of("os: {name: windows}"), "windows")
        # The node selector wins.
        self.assertEqual(self.os_of("{os: {name: windows}, nodeSelector: {kubernetes.io/os: linux}}"), "linux")

    def test_non_string_values_are_ignored(self):
        self.assertIsNone(self.os_of("nodeSelector: {kubernetes.io/os: [windows]}"))
        self.assertIsNone(self.os_of("os: {name: 1}"))
        self.assertIsNone(self.os_of("os: windows"))

    def affinity(self, *terms):
        spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}}
        return self.os_of(yaml.safe_dump(spec))

    def test_required_node_affinity(self):
        win = {"key": "kubernetes.io/os", "operator": "In", "values": ["windows"]}
        lin = {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
        both = {"key": "kubernetes.io/os", "operator": "In", "values": ["windows", "linux"]}
        arch = {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
        self.assertEqual(self.affinity({"matchExpressions": [win, arch]}), "windows")
        self.assertEqual(self.affinity({"matchExpressions": [win]}, {"matchExpressions": [lin]}), "linux,windows")
        self.assertEqual(self.affinity({"matchExpressions": [both, lin]}), "linux")
        self.assertIsNone(self.affinity({"matchExpressions": [win]}, {"matchExpressions": [arch]}))
        not_in = {"key": "kubernetes.io/os", "operator": "NotIn", "values": ["windows"]}
        self.assertIsNone(self.affinity({"matchExpressions": [not_in]}))
        self.assertIsNone(self.affinity())

    def test_os_of_a_cronjob(self):
        text = yaml_stream(workload("CronJob", "batch/v1", "c", {
            "nodeSelector": {"kubernetes.io/os": "windows"}, "containers": [{"image": "w:1"}]}))
        self.assertEqual(images({"c.yaml": text}, "c.yaml"), [Image("w:1", "windows", "c.yaml: CronJob/c")])


class NotWorkloads(NoOpen):
    def test_objects_with_image_keys(self):
        text = doc("""
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: cfg}
            data: {image: "cm:1"}
            ---
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: things.example.com}
            spec: {template: {spec: {containers: [{image: "crd-def:1"}]}}}
            ---
            apiVersion: example.com/v1
            kind: Thing
            metadata: {name: t}
            spec:
              image: "cr:1"
              template: {spec: {containers: [{image: "cr:2"}]}}
            ---
            apiVersion: batch.volcano.sh/v1alpha1
            kind: Job
            metadata: {name: vcjob}
            spec:
              template: {spec: {containers: [{image: "volcano:1"}]}}
              tasks: [{template: {spec: {containers: [{image: "volcano:2"}]}}}]
            ---
            apiVersion: v1
            kind: PodTemplate
            metadata: {name: pt}
            template: {spec: {containers: [{image: "pt:1"}]}}
            ---
            image: "no-kind:1"
            spec: {containers: [{image: "no-kind:2"}]}
            ---
            kind: 42
            spec: {containers: [{image: "bad-kind:1"}]}
        """)
        self.assertEqual(run({"m.yaml": text}, "m.yaml"), k8s_images.Generated([], [], []))

    def test_image_outside_containers_is_ignored(self):
        text = doc("""
            kind: Deployment
            metadata: {name: d, annotations: {image: "ann:1"}}
            spec:
              image: "spec:1"
              template:
                metadata: {labels: {image: "label"}}
                spec:
                  image: "podspec:1"
                  volumes: [{name: v, image: {reference: "vol:1"}}]
                  containers: [{image: "real:1", env: [{name: IMAGE, value: "env:1"}]}]
        """)
        self.assertEqual(refs({"d.yaml": text}, "d.yaml"), ["real:1"])


class EdgeCases(NoOpen):
    def test_values_that_are_not_images(self):
        text = doc("""
            kind: Deployment
            metadata: {name: d}
            spec:
              template:
                spec:
                  containers:
                    - {name: number, image: 42}
                    - {name: flag, image: yes}
                    - {name: values, image: {repository: nginx, tag: "1"}}
                    - {name: list, image: [a, b]}
                    - {name: empty, image: ""}
                    - {name: blank, image: "  "}
                    - {name: "null", image: null}
                    - {name: missing}
                    - null
                    - just-a-string
                    - {name: ok, image: "ok:1"}
        """)
        result = run({"d.yaml": text}, "d.yaml")
        self.assertEqual(result.images, [Image("ok:1", None, "d.yaml: Deployment/d")])
        self.assertEqual(
            result.warnings,
            [
                "d.yaml: Deployment/d: containers[0] (number): image 42 is not a string; ignored",
                "d.yaml: Deployment/d: containers[1] (flag): image True is not a string; ignored",
                "d.yaml: Deployment/d: containers[2] (values): image {'repository': 'nginx', 'tag': '1'} is not a string; ignored",
                "d.yaml: Deployment/d: containers[3] (list): image ['a', 'b'] is not a string; ignored",
                "d.yaml: Deployment/d: containers[4] (empty): empty image; ignored",
                "d.yaml: Deployment/d: containers[5] (blank): empty image; ignored",
                "d.yaml: Deployment/d: containers[9] is not a mapping; ignored",
            ],
        )

    def test_missing_and_null_parts(self):
        text = doc("""
            kind: Pod
            metadata: {name: no-spec}
            ---
            kind: Pod
            metadata: {name: null-spec}
            spec: null
            ---
            kind: Pod
            metadata: {name: no-containers}
            spec: {}
            ---
            kind: Pod
            metadata: {name: null-containers}
            spec: {containers: null, initContainers: null}
            ---
            kind: Deployment
            metadata: {name: no-template}
            spec: {replicas: 1}
            ---
            kind: Deployment
            metadata: {name: null-template}
            spec: {template: null}
            ---
            kind: Deployment
            metadata: null
            spec: {template: {spec: null}}
            ---
            kind: CronJob
            spec: {jobTemplate: {spec: null}}
            ---
            kind: Job
            spec: null
        """)
        self.assertEqual(run({"m.yaml": text}, "m.yaml"), k8s_images.Generated([], [], []))

    def test_wrong_shapes_warn(self):
        text = doc("""
            kind: Pod
            metadata: {name: a}
            spec: [not, a, mapping]
            ---
            kind: Pod
            metadata: {name: b}
            spec: {containers: {image: "x:1"}}
            ---
            kind: Deployment
            metadata: {name: c}
            spec: {template: "text"}
        """)
        result = run({"m.yaml": text}, "m.yaml")
        self.assertEqual(result.images, [])
        self.assertEqual(
            result.warnings,
            [
                "m.yaml: Pod/a: spec is not a mapping; ignored",
                "m.yaml: Pod/b: containers is not a list; ignored",
            ],
        )

    def test_source_without_name(self):
        text = b"kind: Pod\nmetadata: {name: [x]}\nspec: {containers: [{image: a:1}]}\n---\nkind: Pod\nmetadata: {name: 7}\nspec: {containers: [{image: b:1}]}\n"
        self.assertEqual(
            [i.source for i in images({"m.yaml": text}, "m.yaml")], ["m.yaml: Pod", "m.yaml: Pod/7"]
        )


class Dedup(NoOpen):
    def test_identical_pairs_keep_first_source(self):
        pods = [
            workload("Pod", "v1", "a", {"containers": [{"image": "same:1"}, {"image": "same:1"}]}),
            workload("Pod", "v1", "b", {"containers": [{"image": "same:1"}]}),
            workload("Pod", "v1", "w", {"nodeSelector": {"kubernetes.io/os": "windows"}, "containers": [{"image": "same:1"}]}),
            workload("Pod", "v1", "w2", {"os": {"name": "windows"}, "containers": [{"image": "same:1"}]}),
        ]
        tree = {"1.yaml": yaml_stream(*pods[:2]), "2.yaml": yaml_stream(*pods[2:])}
        self.assertEqual(
            images(tree, "1.yaml", "2.yaml"),
            [Image("same:1", None, "1.yaml: Pod/a"), Image("same:1", "windows", "2.yaml: Pod/w")],
        )

    def test_different_spellings_are_different(self):
        spec = {"containers": [{"image": "nginx"}, {"image": "docker.io/library/nginx"}, {"image": "nginx:latest"}]}
        text = yaml_stream(workload("Pod", "v1", "p", spec))
        self.assertEqual(refs({"p.yaml": text}, "p.yaml"), ["nginx", "docker.io/library/nginx", "nginx:latest"])


def pod(name, image):
    return yaml_stream(workload("Pod", "v1", name, {"containers": [{"image": image}]}))


class Walk(NoOpen):
    def test_directory_walk(self):
        tree = {
            "m": {
                "b.yaml": pod("b", "b:1"),
                "a.yml": pod("a", "a:1"),
                "c.json": json.dumps(workload("Pod", "v1", "c", {"containers": [{"image": "c:1"}]})).encode(),
                "D.YAML": pod("d", "d:1"),
                "README.md": b"kind: Pod\nnot: [yaml",
                "kustomization.txt": pod("t", "txt:1"),
                "sub": {"deeper": {"z.yaml": pod("z", "z:1")}, "e.yaml": pod("e", "e:1")},
                "a-dir.yaml": {"inside.yaml": pod("i", "i:1")},
                ".git": {"config.yaml": pod("g", "git:1")},
                ".hidden.yaml": pod("h", "h:1"),
            }
        }
        got = images(tree, "m")
        self.assertEqual(
            [(i.reference, i.source) for i in got],
            [
                ("h:1", "m/.hidden.yaml: Pod/h"),
                ("d:1", "m/D.YAML: Pod/d"),
                ("i:1", "m/a-dir.yaml/inside.yaml: Pod/i"),
                ("a:1", "m/a.yml: Pod/a"),
                ("b:1", "m/b.yaml: Pod/b"),
                ("c:1", "m/c.json: Pod/c"),
                ("z:1", "m/sub/deeper/z.yaml: Pod/z"),
                ("e:1", "m/sub/e.yaml: Pod/e"),
            ],
        )

    def test_trailing_slash_and_absolute_paths(self):
        tree = {"abs": {"m": {"p.yaml": pod("p", "p:1")}}}
        self.assertEqual(images(tree, "/abs/m/")[0].source, "/abs/m/p.yaml: Pod/p")

    def test_named_file_of_any_name(self):
        self.assertEqual(refs({"manifest.txt": pod("p", "p:1")}, "manifest.txt"), ["p:1"])

    def test_each_file_read_once(self):
        files = FakeFiles({"m": {"p.yaml": pod("p", "p:1")}})
        result = generate([("path", "m"), ("path", "m/p.yaml"), ("path", "m")], files)
        self.assertEqual(files.reads, ["m/p.yaml"])
        self.assertEqual([i.reference for i in result.images], ["p:1"])

    def test_several_paths_in_order(self):
        tree = {"x.yaml": pod("x", "x:1"), "d": {"y.yaml": pod("y", "y:1")}}
        self.assertEqual(refs(tree, "x.yaml", "d"), ["x:1", "y:1"])

    def test_symlink_loop_ends(self):
        class Loop(FakeFiles):
            def list(self, path):
                return ["loop"]

        with self.assertRaises(InputError) as e:
            raise InputError(generate([("path", "d")], Loop({})).errors[0])
        self.assertIn("more than 40 directories deep", str(e.exception))

    def test_missing_path(self):
        with self.assertRaises(InputError) as e:
            run({}, "nowhere.yaml")
        self.assertEqual(str(e.exception), "nowhere.yaml: No such file or directory (os error 2)")

    def test_refused_path(self):
        class Refusing(FakeFiles):
            def read(self, path):
                raise FilesError(f"{path}: not one of the paths given to this plugin on the command line")

            def list(self, path):
                raise FilesError(f"{path}: not one of the paths given to this plugin on the command line")

        with self.assertRaises(InputError) as e:
            raise InputError(generate([("path", "/etc/passwd")], Refusing({})).errors[0])
        self.assertIn("/etc/passwd: not one of the paths given", str(e.exception))


class Malformed(NoOpen):
    def error(self, tree, *paths):
        with self.assertRaises(InputError) as e:
            run(tree, *paths)
        message = str(e.exception)
        self.assertNotIn("\n", message)
        return message

    def test_malformed_yaml_names_file_and_place(self):
        text = b"kind: Pod\nspec:\n  containers:\n  - image: a:1\n   name: x\n"
        self.assertEqual(
            self.error({"m": {"ok.yaml": pod("p", "p:1"), "z-bad.yaml": text}}, "m"),
            "m/z-bad.yaml: invalid YAML: line 5, column 4: expected <block end>, but found"
            " '<block mapping start>' (while parsing a block mapping at line 3, column 3)",
        )

    def test_unclosed_flow(self):
        message = self.error({"bad.yaml": b"kind: Pod\nspec: {containers: [\n"}, "bad.yaml")
        self.assertEqual(
            message,
            "bad.yaml: invalid YAML: line 3, column 1: expected the node content, but found"
            " '<stream end>' (while parsing a flow node)",
        )

    def test_error_in_a_later_document(self):
        text = pod("p", "p:1") + b"\n---\nkind: Pod\nspec: {containers: [{image: 'x}]}\n"
        self.assertIn("bad.yaml: invalid YAML: line ", self.error({"bad.yaml": text}, "bad.yaml"))

    def test_tabs_for_indentation(self):
        self.assertIn("invalid YAML", self.error({"t.yaml": b"kind: Pod\nspec:\n\tcontainers: []\n"}, "t.yaml"))

    def test_python_tags_are_refused(self):
        message = self.error({"evil.yaml": b"kind: !!python/object/apply:os.system [echo hi]\n"}, "evil.yaml")
        self.assertIn("could not determine a constructor for the tag", message)

    def test_unknown_tags_are_refused(self):
        self.assertIn("!Ref", self.error({"cf.yaml": b"image: !Ref Image\n"}, "cf.yaml"))

    def test_not_utf8(self):
        self.assertEqual(
            self.error({"b.yaml": b"kind: Pod\nx: \xff\xfe\n"}, "b.yaml"),
            "b.yaml: invalid YAML: cannot decode byte 0xff as utf-8 (offset 13)",
        )

    def test_control_character(self):
        self.assertEqual(
            self.error({"c.yaml": b"kind: Pod\x00\n"}, "c.yaml"),
            "c.yaml: invalid YAML: character #x0000 is not allowed (offset 9)",
        )

    def test_nested_too_deeply(self):
        deep = b"a: " + b"[" * 5000 + b"]" * 5000
        self.assertEqual(self.error({"d.yaml": deep}, "d.yaml"), "d.yaml: invalid YAML: nested too deeply")
        deep_json = b"[" * 100000 + b"]" * 100000
        self.assertEqual(self.error({"d.json": deep_json}, "d.json"), "d.json: invalid JSON: nested too deeply")

    def test_directory_named_as_a_file(self):
        # Reading a directory the walk did not list (refused by the host) is an error.
        class NoList(FakeFiles):
            def list(self, path):
                raise FilesError(f"{path}: Permission denied (os error 13)")

        with self.assertRaises(InputError) as e:
            raise InputError(generate([("path", "m")], NoList({"m": {}})).errors[0])
        self.assertEqual(str(e.exception), "m: Is a directory (os error 21)")


class Options(NoOpen):
    def test_no_paths(self):
        with self.assertRaises(InputError) as e:
            generate([], FakeFiles({}))
        self.assertEqual(str(e.exception), "no manifests given (path=FILE|DIR, repeatable)")

    def test_unknown_option(self):
        with self.assertRaises(InputError) as e:
            generate([("path", "x"), ("chart", "y")], FakeFiles({}))
        self.assertEqual(str(e.exception), "unknown option 'chart' (path=FILE|DIR, repeatable)")

    def test_empty_path(self):
        with self.assertRaises(InputError):
            generate([("path", "")], FakeFiles({}))


class PureYaml(unittest.TestCase):
    def test_safe_loader_is_pure_python(self):
        self.assertEqual(yaml.SafeLoader.__module__, "yaml.loader")
        self.assertEqual(k8s_images.yaml.SafeLoader.__mro__[1].__module__, "yaml.reader")


if __name__ == "__main__":
    unittest.main()


class BrokenInputsDoNotStopTheOthers(NoOpen):
    def test_a_broken_file_is_reported_and_the_others_listed(self):
        tree = {
            "m": {
                "a.yaml": pod("a", "a:1"),
                "b.yaml": b"kind: Pod\nspec: [unclosed\n",
                "c.yaml": pod("c", "c:1"),
            }
        }
        generated = run(tree, "m", "missing.yaml", strict=False)
        self.assertEqual([i.reference for i in generated.images], ["a:1", "c:1"])
        self.assertEqual(len(generated.errors), 2, generated.errors)
        self.assertTrue(generated.errors[0].startswith("m/b.yaml: invalid YAML"), generated.errors)
        self.assertTrue(generated.errors[1].startswith("missing.yaml:"), generated.errors)
