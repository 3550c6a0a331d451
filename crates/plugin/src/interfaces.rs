//! The host interfaces every world shares (`types`, `log`, `http`, `files`), generated once
//! here: each world module's bindings reuse them through `with`, and `sandbox` implements
//! them once for all worlds. No world owns them, so adding or dropping a world leaves the
//! others' types where they are.

wasmtime::component::bindgen!({
    path: "../../wit",
    inline: "
        package hangar:host;

        world shared {
            import hangar:plugin/types@0.1.1;
            import hangar:plugin/log@0.1.1;
            import hangar:plugin/http@0.1.1;
            import hangar:plugin/files@0.1.1;
        }
    ",
    world: "hangar:host/shared",
    imports: { default: async },
});
