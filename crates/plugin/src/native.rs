//! Native plugins: the same SDK source built as a shared library, loaded through the SDK's C
//! ABI (version 1, `sdk/src/native.rs`). They are trusted code with hangar's privileges and
//! no sandbox, so they load only when the user allows native plugins and only from bytes whose
//! SHA-256 matches the manifest recorded at install. The host functions they call (`log`,
//! `http.send`, `files.*`) are the ones components get, with the same checks.
//!
//! The bytes that were hashed are the bytes loaded: they are copied into a private file that
//! is opened and then removed, so the plugin file cannot change in between. Libraries stay
//! loaded until the process exits (unloading code that may have started threads is unsafe).

use super::interfaces::hangar::plugin::http::{Header, Request};
use super::interfaces::hangar::plugin::log::Level;
use super::runtime::PluginError;
use super::sandbox::{self, Grants};
use base64::Engine as _;
use serde_json::{Value, json};
use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

/// The ABI version this host speaks.
pub const ABI_VERSION: u32 = 1;

#[repr(C)]
pub struct Buffer {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

impl Buffer {
    fn empty() -> Buffer {
        Buffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    fn from_vec(bytes: Vec<u8>) -> Buffer {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        Buffer {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
        }
    }

    /// # Safety
    /// `ptr`/`len` must describe readable memory (or be null).
    unsafe fn to_vec(&self) -> Vec<u8> {
        if self.ptr.is_null() {
            Vec::new()
        } else {
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }.to_vec()
        }
    }
}

type HostCall = unsafe extern "C" fn(
    ctx: *mut c_void,
    name: *const u8,
    name_len: usize,
    input: *const u8,
    input_len: usize,
    out: *mut Buffer,
) -> i32;

#[repr(C)]
struct HostV1 {
    call: HostCall,
    free: unsafe extern "C" fn(buffer: Buffer),
}

static HOST_V1: HostV1 = HostV1 {
    call: host_call,
    free: host_free,
};

type AbiVersion = unsafe extern "C" fn() -> u32;
type Init = unsafe extern "C" fn(host: *const HostV1) -> i32;
type Call = unsafe extern "C" fn(
    ctx: *mut c_void,
    name: *const u8,
    name_len: usize,
    input: *const u8,
    input_len: usize,
    out: *mut Buffer,
) -> i32;
type Free = unsafe extern "C" fn(buffer: Buffer);

/// A loaded native plugin.
pub struct NativePlugin {
    label: String,
    call: Call,
    free: Free,
}

/// What the host functions of one call may use.
struct CallContext {
    plugin: String,
    grants: Grants,
    http: sandbox::Transport,
    runtime: tokio::runtime::Handle,
}

/// Whether `bytes` look like a shared library (ELF) rather than a component.
pub fn is_native(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

impl NativePlugin {
    /// Loads a shared library from `bytes` (already checked against its manifest by the
    /// caller), checks the ABI version and hands it the host's callbacks.
    pub fn load(label: &str, bytes: &[u8]) -> Result<Arc<NativePlugin>, PluginError> {
        let fail = |message: String| PluginError::Load {
            plugin: label.to_string(),
            message,
        };
        if !is_native(bytes) {
            return Err(fail("not a shared library".into()));
        }
        let dir = tempfile::Builder::new()
            .prefix("hangar-native-")
            .tempdir()
            .map_err(|e| fail(e.to_string()))?;
        let path = dir.path().join("plugin.so");
        std::fs::write(&path, bytes).map_err(|e| fail(e.to_string()))?;
        // SAFETY: native plugins are trusted code the user opted into, and these are the
        // bytes whose SHA-256 matched the manifest. The library is never unloaded.
        let library = unsafe { libloading::Library::new(&path) }
            .map_err(|e| fail(format!("cannot load: {e}")))?;
        drop(dir);
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        let symbol = |name: &str| {
            fail(format!(
                "does not export {name}: not a hangar native plugin (build it with hangar-plugin-sdk)"
            ))
        };
        // SAFETY: the symbols' types are the SDK's C ABI, version-checked just below.
        let (version, init, call, free) = unsafe {
            (
                *library
                    .get::<AbiVersion>(b"hangar_plugin_abi_version\0")
                    .map_err(|_| symbol("hangar_plugin_abi_version"))?,
                *library
                    .get::<Init>(b"hangar_plugin_init\0")
                    .map_err(|_| symbol("hangar_plugin_init"))?,
                *library
                    .get::<Call>(b"hangar_plugin_call\0")
                    .map_err(|_| symbol("hangar_plugin_call"))?,
                *library
                    .get::<Free>(b"hangar_plugin_free\0")
                    .map_err(|_| symbol("hangar_plugin_free"))?,
            )
        };
        // SAFETY: a plain function of the ABI, no arguments.
        let abi = unsafe { version() };
        if abi != ABI_VERSION {
            return Err(fail(format!(
                "speaks native ABI version {abi}, but this hangar speaks version {ABI_VERSION}; rebuild it with a matching hangar-plugin-sdk"
            )));
        }
        // SAFETY: HOST_V1 is a static that outlives the library.
        if unsafe { init(&HOST_V1) } != 0 {
            return Err(fail("refused the host's callbacks".into()));
        }
        Ok(Arc::new(NativePlugin {
            label: label.to_string(),
            call,
            free,
        }))
    }

    /// Checks the plugin implements `world` (the ABI's `contract` call) and returns its own
    /// description: name, version, declared hosts.
    pub async fn identify(
        self: &Arc<Self>,
        world: &str,
        http: sandbox::Transport,
        timeout: Duration,
    ) -> Result<(String, String, Vec<String>), PluginError> {
        let fail = |message: String| PluginError::Load {
            plugin: self.label.clone(),
            message,
        };
        let call = |function: &'static str| {
            self.call(
                &self.label,
                function,
                json!({}),
                Grants::default(),
                http.clone(),
                timeout,
            )
        };
        let contract = call("contract").await?.map_err(fail)?;
        if contract["world"] != world {
            return Err(fail(format!(
                "is a native {} plugin, not a {world}",
                text(&contract["world"])
            )));
        }
        let info = call("describe").await?.map_err(fail)?;
        Ok((
            text(&info["name"]),
            text(&info["version"]),
            strings(&info["hosts"]),
        ))
    }

    /// Calls world function `function` with a JSON argument on the blocking pool: the plugin's
    /// `ok` value, or its `err` message. A call that outlives `timeout` is abandoned (native
    /// code cannot be stopped) and reported as timed out.
    pub async fn call(
        self: &Arc<Self>,
        plugin: &str,
        function: &str,
        input: Value,
        grants: Grants,
        http: sandbox::Transport,
        timeout: Duration,
    ) -> Result<Result<Value, String>, PluginError> {
        let this = self.clone();
        let context = CallContext {
            plugin: plugin.to_string(),
            grants,
            http,
            runtime: tokio::runtime::Handle::current(),
        };
        let name = function.to_string();
        let input = input.to_string();
        // A thread of its own, not the blocking pool: a call that never returns is abandoned
        // at the time limit and must not hold the runtime's shutdown.
        let (done, work) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut out = Buffer::empty();
            let context = Box::new(context);
            let ctx = &*context as *const CallContext as *mut c_void;
            // SAFETY: the ABI's call: valid buffers, `ctx` alive for the whole call, the
            // answer freed with the plugin's own `free`.
            let code = unsafe {
                (this.call)(
                    ctx,
                    name.as_ptr(),
                    name.len(),
                    input.as_ptr(),
                    input.len(),
                    &mut out,
                )
            };
            let bytes = unsafe { out.to_vec() };
            unsafe { (this.free)(out) };
            drop(context);
            let _ = done.send((code, bytes));
        });
        let fail = |message: String| PluginError::Failed {
            plugin: plugin.to_string(),
            message,
        };
        let (code, bytes) = match tokio::time::timeout(timeout, work).await {
            Err(_) => {
                return Err(PluginError::TimedOut {
                    plugin: plugin.to_string(),
                    limit: timeout,
                });
            }
            Ok(Err(_)) => {
                return Err(fail(format!(
                    "{function}: the call ended without an answer"
                )));
            }
            Ok(Ok(answer)) => answer,
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match code {
            0 => serde_json::from_str(&text)
                .map(answer)
                .map_err(|e| fail(format!("answered {function} with bad JSON: {e}"))),
            2 => Err(PluginError::Trapped {
                plugin: plugin.to_string(),
                message: text,
            }),
            _ => Err(fail(format!("{}: {function}: {text}", self.label))),
        }
    }
}

/// The value of an `{"ok": ...}` answer, or the plugin's `{"err": ...}` message.
fn answer(value: Value) -> Result<Value, String> {
    match value {
        Value::Object(mut map) => match map.remove("err") {
            Some(Value::String(why)) => Err(why),
            _ => Ok(map.remove("ok").unwrap_or(Value::Null)),
        },
        other => Err(format!("unexpected answer {other}")),
    }
}

pub fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default()
}

fn base64() -> &'static base64::engine::GeneralPurpose {
    &base64::engine::general_purpose::STANDARD
}

/// The host side of `HostV1::call`: never unwinds into the plugin.
unsafe extern "C" fn host_call(
    ctx: *mut c_void,
    name: *const u8,
    name_len: usize,
    input: *const u8,
    input_len: usize,
    out: *mut Buffer,
) -> i32 {
    let result = std::panic::catch_unwind(|| {
        if ctx.is_null() {
            return Err("host functions can only be called during a call".to_string());
        }
        // SAFETY: `ctx` is the CallContext the host passed to this call, alive until it
        // returns; name and input are the plugin's buffers for their lengths.
        let context = unsafe { &*(ctx as *const CallContext) };
        let name = unsafe { std::slice::from_raw_parts(name, name_len) };
        let input = unsafe { std::slice::from_raw_parts(input, input_len) };
        let name = std::str::from_utf8(name).map_err(|e| e.to_string())?;
        let input: Value = serde_json::from_slice(input).map_err(|e| e.to_string())?;
        Ok(host_function(context, name, &input))
    });
    let (code, answer) = match result {
        Ok(Ok(value)) => (0, value.to_string().into_bytes()),
        Ok(Err(why)) => (1, why.into_bytes()),
        Err(_) => (1, b"the host failed".to_vec()),
    };
    // SAFETY: `out` is the plugin's writable Buffer slot.
    unsafe { *out = Buffer::from_vec(answer) };
    code
}

/// Frees a buffer `host_call` returned.
unsafe extern "C" fn host_free(buffer: Buffer) {
    if !buffer.ptr.is_null() {
        // SAFETY: made by Buffer::from_vec in this process's allocator.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
}

fn ok_or_err<T: Into<Value>>(result: Result<T, String>) -> Value {
    match result {
        Ok(v) => json!({ "ok": v.into() }),
        Err(why) => json!({ "err": why }),
    }
}

fn host_function(context: &CallContext, name: &str, input: &Value) -> Value {
    match name {
        "log" => {
            let level = match input["level"].as_str() {
                Some("debug") => Level::Debug,
                Some("warn") => Level::Warn,
                Some("error") => Level::Error,
                _ => Level::Info,
            };
            sandbox::emit_log(
                &context.plugin,
                &context.grants,
                level,
                &text(&input["message"]),
            );
            json!({ "ok": null })
        }
        "http.send" => {
            let request = &input["request"];
            let body = match request["body"].as_str() {
                Some(b) => match base64().decode(b) {
                    Ok(bytes) => Some(bytes),
                    Err(e) => return json!({ "err": format!("request body: {e}") }),
                },
                None => None,
            };
            let request = Request {
                method: text(&request["method"]),
                url: text(&request["url"]),
                headers: request["headers"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|h| Header {
                                name: text(&h["name"]),
                                value: text(&h["value"]),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                body,
            };
            let with_credentials = input["with-credentials"].as_bool().unwrap_or(false);
            let sent = context.runtime.block_on(sandbox::send(
                &context.http,
                &context.grants.hosts,
                request,
                with_credentials,
            ));
            ok_or_err(sent.map(|r| {
                let headers: Vec<Value> = r
                    .headers
                    .iter()
                    .map(|h| json!({"name": h.name, "value": h.value}))
                    .collect();
                json!({"status": r.status, "headers": headers, "body": base64().encode(&r.body)})
            }))
        }
        "endpoints.registry-url" => ok_or_err(context.runtime.block_on(sandbox::registry_url(
            &context.http,
            &context.grants.hosts,
            &text(&input["registry"]),
        ))),
        "files.read" => ok_or_err(
            sandbox::read_granted(&context.grants.paths, &text(&input["path"]))
                .map(|b| base64().encode(b)),
        ),
        "files.list" => ok_or_err(sandbox::list_granted(
            &context.grants.paths,
            &text(&input["dir"]),
        )),
        other => json!({ "err": format!("no host function {other:?}") }),
    }
}
