"""The component glue of the `k8s` list generator (world `list-generator-plugin` of
hangar:plugin@0.1.1): the host's `files` and `log` imports in, `image-entry` records out. The
logic is in `k8s_images`, which knows nothing of the component. `wit_world` and
`componentize_py_types` are the bindings componentize-py generates while it builds."""

import k8s_images
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.list_generator import ImageEntry
from wit_world.imports import files, log
from wit_world.imports.types import Info


class HostFiles:
    """The host's read-only `files` interface, failing with `k8s_images.FilesError`."""

    def read(self, path: str) -> bytes:
        try:
            return files.read(path)
        except Err as e:
            raise k8s_images.FilesError(e.value) from None

    def list(self, directory: str):
        try:
            return files.list(directory)
        except Err as e:
            raise k8s_images.FilesError(e.value) from None


class ListGenerator(exports.ListGenerator):
    def describe(self) -> Info:
        return Info(name=k8s_images.NAME, version=k8s_images.VERSION, hosts=[])

    def generate(self, options):
        try:
            generated = k8s_images.generate(options, HostFiles())
        except k8s_images.InputError as e:
            raise Err(str(e)) from None
        except Exception as e:  # a bug: say what it was rather than trap without a word
            raise Err(f"internal error: {type(e).__name__}: {e}") from None
        for warning in generated.warnings:
            log.log(log.Level.WARN, warning)
        # Logged as errors, the host exits 1 once the lists of everything else are written.
        for error in generated.errors:
            log.log(log.Level.ERROR, error)
        return [
            ImageEntry(reference=i.reference, os=i.os, source=i.source)
            for i in generated.images
        ]
