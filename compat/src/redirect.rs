//! Redirecting an extension's calls of API functions to compat, at load.
//!
//! A call from a shared object to a function of another (CPython's
//! `PyObject_IsTrue`, say) goes through the object's own call slot for
//! that name: a `JUMP_SLOT` relocation in `.rela.plt`, resolved by the
//! dynamic loader. Taking the function's address (`tp_hash =
//! PyObject_HashNotImplemented`) uses other relocations (`GLOB_DAT`, plain
//! data). Rewriting the call slots — and only them — sends every call to a
//! compat stub while every function pointer keeps CPython's identity: CPython
//! compares slot functions by address (`tp_hash == PyObject_HashNotImplemented`
//! makes `__hash__` None), which a link-time `--wrap` would silently break.
//!
//! This runs once, when the extension is loaded (debug and stats modes only:
//! in release mode compat has nothing to do and calls stay CPython's own).

use crate::stubs;
use std::ffi::CStr;

/// One redirected call slot.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// The API table id whose legacy call this is.
    pub id: u32,
    /// CPython's function.
    pub target: usize,
}

/// What [`redirect_own_calls`] did, for the debug report.
#[derive(Debug, Default)]
pub struct Outcome {
    pub slots: Vec<Slot>,
    /// API functions this object references only through address-holding
    /// slots (taken as pointers, or called through the GOT because it was
    /// compiled with `-fno-plt`): their calls, if any, are not seen.
    pub not_redirected: Vec<String>,
    /// Call slots left alone because the stub pool ran out.
    pub pool_exhausted: usize,
}

const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_JMPREL: i64 = 23;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

#[repr(C)]
struct Dyn {
    tag: i64,
    val: u64,
}

#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// The loaded object containing `addr`: its load base, dynamic section and
/// RELRO range (both as run-time addresses).
struct Loaded {
    base: usize,
    dynamic: usize,
    relro: Option<(usize, usize)>,
}

fn find_object(addr: usize) -> Option<Loaded> {
    struct Search {
        addr: usize,
        found: Option<Loaded>,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid info record; `data` is ours.
        let (info, search) = unsafe { (&*info, &mut *(data as *mut Search)) };
        let base = info.dlpi_addr as usize;
        // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let contains = phdrs.iter().any(|p| {
            p.p_type == libc::PT_LOAD
                && (base + p.p_vaddr as usize..base + (p.p_vaddr + p.p_memsz) as usize)
                    .contains(&search.addr)
        });
        if !contains {
            return 0;
        }
        let dynamic = phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC);
        let relro = phdrs
            .iter()
            .find(|p| p.p_type == libc::PT_GNU_RELRO)
            .map(|p| {
                let start = base + p.p_vaddr as usize;
                (start, start + p.p_memsz as usize)
            });
        search.found = dynamic.map(|d| Loaded {
            base,
            dynamic: base + d.p_vaddr as usize,
            relro,
        });
        1
    }
    let mut search = Search { addr, found: None };
    // SAFETY: `visit` matches dl_iterate_phdr's callback type.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search as *mut libc::c_void) };
    search.found
}

/// The slot writes that redirect an object's calls (see [`Plan::apply`]).
#[derive(Debug, Default)]
pub struct Plan {
    writes: Vec<(usize, usize)>,
    relro: Option<(usize, usize)>,
}

impl Plan {
    /// Point the planned call slots at their stubs.
    ///
    /// # Safety
    /// The stubs' slot table must be published first, and no other thread
    /// may be calling through these slots (at load, nothing can).
    pub unsafe fn apply(&self) {
        // SAFETY: the slots are the object's own call slots (see plan).
        unsafe { write_slots(&self.writes, self.relro) };
    }
}

/// Plan the redirection of the call slots of the object this runtime copy
/// is linked into. `id_of` maps a symbol name to the API id whose legacy
/// call it is.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub fn plan_own_redirects(id_of: &dyn Fn(&str) -> Option<u32>) -> (Outcome, Plan) {
    let mut out = Outcome::default();
    let here = plan_own_redirects as *const () as usize;
    let Some(obj) = find_object(here) else {
        return (out, Plan::default());
    };
    // glibc relocates the address entries of the in-memory dynamic section;
    // other loaders leave them as offsets from the base.
    let addr = |v: u64| {
        let v = v as usize;
        if v < obj.base {
            obj.base + v
        } else {
            v
        }
    };
    let (mut strtab, mut symtab, mut jmprel, mut jmprelsz, mut rela, mut relasz) =
        (0, 0, 0, 0, 0, 0);
    let mut d = obj.dynamic as *const Dyn;
    // SAFETY: the dynamic section is an array ending in DT_NULL.
    unsafe {
        while (*d).tag != DT_NULL {
            match (*d).tag {
                DT_STRTAB => strtab = addr((*d).val),
                DT_SYMTAB => symtab = addr((*d).val),
                DT_JMPREL => jmprel = addr((*d).val),
                DT_PLTRELSZ => jmprelsz = (*d).val as usize,
                DT_RELA => rela = addr((*d).val),
                DT_RELASZ => relasz = (*d).val as usize,
                _ => {}
            }
            d = d.add(1);
        }
    }
    if strtab == 0 || symtab == 0 {
        return (out, Plan::default());
    }
    let relocs = |start: usize, size: usize| -> &[Rela] {
        if start == 0 {
            return &[];
        }
        // SAFETY: DT_JMPREL/DT_RELA point at arrays of the given byte size.
        unsafe { std::slice::from_raw_parts(start as *const Rela, size / size_of::<Rela>()) }
    };
    let name_of = |r: &Rela| -> Option<String> {
        let sym = (r.info >> 32) as usize;
        // SAFETY: the symbol index and its name offset come from the loader's
        // own tables of this object.
        unsafe {
            let s = &*(symtab as *const Sym).add(sym);
            CStr::from_ptr((strtab + s.name as usize) as *const libc::c_char)
                .to_str()
                .ok()
                .map(str::to_owned)
        }
    };
    let mut writes: Vec<(usize, usize)> = Vec::new();
    let mut called = std::collections::HashSet::new();
    for r in relocs(jmprel, jmprelsz) {
        if r.info as u32 != R_X86_64_JUMP_SLOT {
            continue;
        }
        let Some(name) = name_of(r) else { continue };
        let Some(id) = id_of(&name) else { continue };
        let Ok(cname) = std::ffi::CString::new(name.as_str()) else {
            continue;
        };
        let Some(target) = pyctx_runtime::tstate::lookup_one(&cname) else {
            continue;
        };
        called.insert(name);
        let Some(stub) = stubs::stub(out.slots.len()) else {
            out.pool_exhausted += 1;
            continue;
        };
        out.slots.push(Slot {
            id,
            target: target as usize,
        });
        writes.push((obj.base + r.offset as usize, stub));
    }
    for r in relocs(rela, relasz) {
        if r.info as u32 != R_X86_64_GLOB_DAT {
            continue;
        }
        if let Some(name) = name_of(r) {
            if id_of(&name).is_some() && !called.contains(&name) {
                out.not_redirected.push(name);
            }
        }
    }
    out.not_redirected.sort();
    out.not_redirected.dedup();
    let plan = Plan {
        writes,
        relro: obj.relro,
    };
    (out, plan)
}

/// No call slots are redirected where the stubs do not exist yet.
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub fn plan_own_redirects(_id_of: &dyn Fn(&str) -> Option<u32>) -> (Outcome, Plan) {
    (Outcome::default(), Plan::default())
}

/// Store each `(slot, value)`; slots inside the RELRO range (read-only once
/// the loader is done: `-z relro -z now`) are made writable for the
/// duration and read-only again.
unsafe fn write_slots(writes: &[(usize, usize)], relro: Option<(usize, usize)>) {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let protected = |a: usize| relro.is_some_and(|(s, e)| (s..e).contains(&a));
    let pages: std::collections::BTreeSet<usize> = writes
        .iter()
        .filter(|(a, _)| protected(*a))
        .map(|(a, _)| a & !(page - 1))
        .collect();
    for &p in &pages {
        // SAFETY: a page of this object's own mapping.
        unsafe {
            libc::mprotect(
                p as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
    }
    for &(slot, value) in writes {
        // SAFETY: an aligned call slot of this object, writable now.
        unsafe { std::ptr::write_volatile(slot as *mut usize, value) };
    }
    for &p in &pages {
        // SAFETY: as above; RELRO pages are read-only when the loader is done.
        unsafe { libc::mprotect(p as *mut libc::c_void, page, libc::PROT_READ) };
    }
}
