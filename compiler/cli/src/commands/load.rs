//! `dpuc load` and `dpuc unload`: attach a policy's eBPF program to an
//! interface, with its maps filled from the IR and pinned in bpffs, and
//! take it away again.

use crate::compile::compile;
use crate::EXIT_USAGE;
use dpuc_ebpf::codegen::layout;
use dpuc_runtime::ebpf::{self, AttachPoint};
use std::path::Path;

/// What `dpuc load` was asked for.
pub struct LoadArgs<'a> {
    /// The policy.
    pub file: &'a Path,
    /// The interface to attach to.
    pub dev: &'a str,
    /// Where to attach.
    pub at: AttachPoint,
    /// `NAME=IFACE` bindings of the policy's ports to interfaces.
    pub ports: &'a [String],
    /// The bpffs directory holding one directory per interface.
    pub pin_dir: &'a Path,
}

/// Builds, loads, fills, attaches and pins; returns the exit status.
pub fn load(a: &LoadArgs) -> u8 {
    match try_load(a) {
        Ok(summary) => {
            eprintln!("{summary}");
            0
        }
        Err((status, message)) => {
            eprintln!("error: {message}");
            status
        }
    }
}

fn try_load(a: &LoadArgs) -> Result<String, (u8, String)> {
    let (_, lowered) = compile(a.file).map_err(|s| (s, "the policy does not compile".into()))?;
    let program = lowered.program;
    let fail = |e: &dyn std::fmt::Display| (1u8, e.to_string());
    let dev_index = ebpf::ifindex(a.dev).map_err(|e| fail(&e))?;
    let mut bound = Vec::new();
    for b in a.ports {
        let Some((name, iface)) = b.split_once('=') else {
            return Err((EXIT_USAGE, format!("--port {b}: expected NAME=IFACE")));
        };
        let Some(id) = program.ports.iter().position(|p| p.name == name) else {
            return Err((
                EXIT_USAGE,
                format!("--port {b}: the policy has no port `{name}`"),
            ));
        };
        bound.push((
            id as u32,
            program.ports[id].number,
            ebpf::ifindex(iface).map_err(|e| fail(&e))?,
        ));
    }
    let hook = match a.at {
        AttachPoint::Xdp | AttachPoint::XdpGeneric => dpuc_ebpf::Hook::Xdp,
        AttachPoint::TcIngress => dpuc_ebpf::Hook::Tc,
    };
    let valid = dpuc_ir::validate(&program).map_err(|e| fail(&e))?;
    let options = dpuc_ebpf::Options {
        test_clock: false,
        hooks: vec![hook],
    };
    let artifact = dpuc_ebpf::emit(&valid, &options).map_err(|e| fail(&e))?;
    ebpf::bpf_available().map_err(|e| fail(&e))?;
    let object =
        ebpf::load_filled(&artifact.object, &artifact.layout, &program).map_err(|e| fail(&e))?;
    let map = |name: &str| {
        object
            .map(name)
            .ok_or_else(|| (1u8, format!("the object has no map `{name}`")))
    };
    for &(id, number, ifindex) in &bound {
        map(layout::PORTS_MAP)?
            .update(&id.to_le_bytes(), &ifindex.to_le_bytes(), 0)
            .map_err(|e| fail(&e))?;
        map(layout::IFPORTS_MAP)?
            .update(&ifindex.to_le_bytes(), &number.to_le_bytes(), 0)
            .map_err(|e| fail(&e))?;
    }
    let dir = a.pin_dir.join(a.dev);
    if dir.exists() {
        return Err((
            1,
            format!(
                "a policy is already loaded on {} ({}): `dpuc unload --dev {}` first",
                a.dev,
                dir.display(),
                a.dev
            ),
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| (EXIT_USAGE, format!("{}: {e}", dir.display())))?;
    let prog_name = format!("dpuc_{}", hook.name());
    let prog = object
        .program(&prog_name)
        .ok_or_else(|| (1, format!("no program {prog_name}")))?;
    let pinned = (|| -> Result<(), ebpf::Error> {
        let link = prog.attach(dev_index, a.at)?;
        for m in object.maps() {
            m.pin(&dir.join(m.name()))?;
        }
        link.pin(&dir.join("link"))
    })();
    if let Err(e) = pinned {
        // Nothing half-loaded stays behind.
        let _ = remove_pins(&dir);
        return Err(fail(&e));
    }
    Ok(format!(
        "loaded {} on {} ({:?}): {} maps and the link pinned in {}",
        program.name,
        a.dev,
        a.at,
        object.maps().len(),
        dir.display()
    ))
}

fn remove_pins(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        std::fs::remove_file(e?.path())?;
    }
    std::fs::remove_dir(dir)
}

/// Removes the pins of `dev`, which detaches its program; returns the exit status.
pub fn unload(dev: &str, pin_dir: &Path) -> u8 {
    let dir = pin_dir.join(dev);
    if !dir.exists() {
        eprintln!(
            "error: nothing is loaded on {dev} ({} does not exist)",
            dir.display()
        );
        return 1;
    }
    match remove_pins(&dir) {
        Ok(()) => {
            eprintln!("unloaded {dev}");
            0
        }
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            1
        }
    }
}
