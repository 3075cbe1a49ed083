//! Naming the C function that made a legacy call, from a return address.
//!
//! Compat by linking sees a legacy call in a stub that the linker put
//! between the extension and CPython; all it knows of the caller is the
//! return address. At report time (debug and stats modes only) the address
//! is turned into the enclosing function's name: `dladdr` finds the shared
//! object and its load address, and the object's own symbol table (static
//! functions included, unless the file was stripped) names the function.

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::Mutex;

/// Function symbols of one shared object: (start, end, name), sorted.
type Symbols = Vec<(u64, u64, String)>;

fn load_symbols(path: &str) -> Symbols {
    use object::{Object, ObjectSymbol, SymbolKind};
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(file) = object::File::parse(&*data) else {
        return Vec::new();
    };
    let mut out: Symbols = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
        .filter_map(|s| {
            let name = s.name().ok()?.to_string();
            Some((s.address(), s.address() + s.size().max(1), name))
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// The name of the function of this extension containing `addr` (a return
/// address: the byte before it is the call instruction), else
/// `object+0xOFFSET` (a stripped object), or `(a tail call)` when `addr` is
/// outside the extension.
pub fn function_at(addr: usize) -> String {
    static CACHE: Mutex<Option<HashMap<String, Symbols>>> = Mutex::new(None);
    if addr == 0 {
        return "?".into();
    }
    let site = addr - 1;
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables.
    if unsafe { libc::dladdr(site as *const libc::c_void, &mut info) } == 0
        || info.dli_fname.is_null()
    {
        return format!("{addr:#x}");
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
    let path = unsafe { CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned();
    // A return address outside the extension: its function ended with a
    // tail call (`return PyModuleDef_Init(&def);` compiles to a jump), so
    // the return address is its own caller's, in CPython.
    if path != crate::stats::module_path() {
        return "(a tail call)".into();
    }
    let offset = (site - info.dli_fbase as usize) as u64;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let symbols = cache
        .get_or_insert_with(HashMap::new)
        .entry(path.clone())
        .or_insert_with(|| load_symbols(&path));
    let i = symbols.partition_point(|s| s.0 <= offset);
    if i > 0 {
        let (start, end, name) = &symbols[i - 1];
        if offset >= *start && offset < *end {
            return name.clone();
        }
    }
    let file = path.rsplit('/').next().unwrap_or(&path);
    format!("{file}+{offset:#x}")
}
