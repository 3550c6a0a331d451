//! One loader for every world: a plugin is a component (linked and pre-instantiated by its
//! world's bindings) or a native library, asked once to describe itself, and given its HTTP
//! transport once. Each call then runs in a fresh sandboxed store (`sandbox::store`) or
//! through the C ABI. The world modules keep only what is theirs: their functions and the
//! grants each call gets.

use super::interfaces::hangar::plugin::types::Info;
use super::native::NativePlugin;
use super::runtime::{PluginError, Runtime};
use super::sandbox::{self, Grants, State, Transport};
use std::sync::Arc;
use wasmtime::Store;

/// A world's pre-instantiated component, as its bindings generate it.
pub(crate) trait Component {
    /// The world's exports, instantiated in one store.
    type Instance;

    async fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Self::Instance>;
}

/// Implements [`Component`] for a world's generated `…Pre<State>`.
macro_rules! component {
    ($pre:ident, $instance:ident) => {
        impl $crate::loader::Component for $pre<$crate::sandbox::State> {
            type Instance = $instance;

            async fn instantiate(
                &self,
                store: &mut wasmtime::Store<$crate::sandbox::State>,
            ) -> wasmtime::Result<$instance> {
                self.instantiate_async(store).await
            }
        }
    };
}
pub(crate) use component;

pub(crate) enum Backend<C> {
    Wasm(C),
    Native(Arc<NativePlugin>),
}

/// A loaded plugin of one world.
pub(crate) struct Loaded<C> {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) backend: Backend<C>,
    /// What the plugin said about itself (`describe`): name, version, declared hosts.
    pub(crate) info: Info,
    pub(crate) http: Transport,
}

/// The live HTTP transport, verifying TLS unless told not to.
pub(crate) fn live(
    runtime: &Runtime,
    name: &str,
    tls_verify: bool,
) -> Result<Transport, PluginError> {
    sandbox::http_client(runtime, tls_verify).map_err(|message| PluginError::Load {
        plugin: name.to_string(),
        message,
    })
}

impl<C: Component> Loaded<C> {
    fn new(runtime: Arc<Runtime>, backend: Backend<C>, name: &str, http: Transport) -> Self {
        Loaded {
            runtime,
            backend,
            info: Info {
                name: name.to_string(),
                version: String::new(),
                hosts: Vec::new(),
            },
            http,
        }
    }

    /// A component, described by its world's `describe` export.
    pub(crate) async fn component<F>(
        runtime: Arc<Runtime>,
        name: &str,
        pre: C,
        http: Transport,
        describe: F,
    ) -> Result<Self, PluginError>
    where
        F: AsyncFnOnce(&C::Instance, &mut Store<State>) -> wasmtime::Result<Info>,
    {
        let mut loaded = Loaded::new(runtime, Backend::Wasm(pre), name, http);
        loaded.info = loaded.call(Grants::default(), describe).await?;
        Ok(loaded)
    }

    /// A native library of `world` (bytes already checked against its manifest), described
    /// through the C ABI.
    pub(crate) async fn native(
        runtime: Arc<Runtime>,
        name: &str,
        bytes: &[u8],
        world: &str,
        http: Transport,
    ) -> Result<Self, PluginError> {
        let plugin = NativePlugin::load(name, bytes)?;
        let loaded = Loaded::new(runtime, Backend::Native(plugin.clone()), name, http);
        let (name, version, hosts) = plugin
            .identify(world, loaded.http.clone(), loaded.runtime.limits.time)
            .await?;
        Ok(Loaded {
            info: Info {
                name,
                version,
                hosts,
            },
            ..loaded
        })
    }

    pub(crate) fn is_native(&self) -> bool {
        matches!(self.backend, Backend::Native(_))
    }

    /// Records every HTTP request the plugin makes from now on (`plugin test`).
    pub(crate) fn record_requests(&mut self) -> Arc<super::fixtures::RequestLog> {
        let (recorded, log) = std::mem::replace(&mut self.http, Transport::Offline).recorded();
        self.http = recorded;
        log
    }

    /// The plugin's own failure (an `err` it returned), named.
    pub(crate) fn failed(&self, message: String) -> PluginError {
        PluginError::Failed {
            plugin: self.info.name.clone(),
            message,
        }
    }

    /// Runs one export of the component in a fresh instance with `grants`.
    pub(crate) async fn call<R, F>(&self, grants: Grants, f: F) -> Result<R, PluginError>
    where
        F: AsyncFnOnce(&C::Instance, &mut Store<State>) -> wasmtime::Result<R>,
    {
        let Backend::Wasm(pre) = &self.backend else {
            unreachable!("component calls are only made on the wasm backend");
        };
        let mut store = sandbox::store(&self.runtime, &self.info.name, grants, self.http.clone());
        let result = async {
            let plugin = pre.instantiate(&mut store).await?;
            f(&plugin, &mut store).await
        }
        .await;
        result.map_err(|e| sandbox::trap(&self.info.name, e, self.runtime.limits))
    }

    /// A native call's answer: the plugin's `ok` value or its `err` message.
    pub(crate) async fn native_call(
        &self,
        grants: Grants,
        function: &str,
        input: serde_json::Value,
    ) -> Result<Result<serde_json::Value, String>, PluginError> {
        let Backend::Native(plugin) = &self.backend else {
            unreachable!("native calls are only made on the native backend");
        };
        plugin
            .call(
                &self.info.name,
                function,
                input,
                grants,
                self.http.clone(),
                self.runtime.limits.time,
            )
            .await
    }
}
