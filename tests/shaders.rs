//! Every WGSL module in shaders/ parses and validates with naga, without a GPU: as written, and
//! specialised with every override-constant variant the executor can create.

use std::collections::HashMap;

use keqv::exec::gpu::kernels::{variants, ShaderFile};

fn parse_and_validate(file: ShaderFile) -> (naga::Module, naga::valid::ModuleInfo) {
    let source = file.source();
    let module = naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| {
        panic!(
            "{} does not parse:\n{}",
            file.file_name(),
            e.emit_to_string(&source)
        )
    });
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| {
        panic!(
            "{} does not validate:\n{}",
            file.file_name(),
            e.emit_to_string(&source)
        )
    });
    (module, info)
}

#[test]
fn every_shader_parses_and_validates() {
    for file in ShaderFile::ALL {
        let (module, _) = parse_and_validate(file);
        assert!(
            !module.entry_points.is_empty(),
            "{} has no entry point",
            file.file_name()
        );
    }
}

#[test]
fn only_the_subgroup_gemm_needs_subgroups() {
    let without = naga::valid::Capabilities::all() - naga::valid::Capabilities::SUBGROUP;
    for file in ShaderFile::ALL {
        let source = file.source();
        let module = naga::front::wgsl::parse_str(&source).expect("parses");
        let result = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), without)
            .validate(&module);
        assert_eq!(
            result.is_err(),
            file.needs_subgroups(),
            "{}: validation without subgroups gave {:?}",
            file.file_name(),
            result.err().map(|e| e.to_string())
        );
    }
}

#[test]
fn every_kernel_variant_specialises() {
    let mut checked: HashMap<ShaderFile, (naga::Module, naga::valid::ModuleInfo)> = HashMap::new();
    let all = variants();
    assert!(
        all.len() > 100,
        "expected every activation and tile variant, got {}",
        all.len()
    );
    for v in &all {
        let (module, info) = checked
            .entry(v.file)
            .or_insert_with(|| parse_and_validate(v.file));
        let constants: naga::back::PipelineConstants = v
            .constants
            .iter()
            .map(|(k, val)| (k.to_string(), *val))
            .collect();
        let (specialised, _) = naga::back::pipeline_constants::process_overrides(
            module,
            info,
            Some((naga::ShaderStage::Compute, v.entry)),
            &constants,
        )
        .unwrap_or_else(|e| {
            panic!(
                "{} {} with {:?}: {e}",
                v.file.file_name(),
                v.entry,
                v.constants
            )
        });
        assert!(
            specialised.entry_points.iter().any(|e| e.name == v.entry),
            "{} lost entry point {}",
            v.file.file_name(),
            v.entry
        );
    }
}

#[test]
fn every_entry_point_of_every_shader_is_a_checked_variant() {
    // An entry point the executor dispatches but the variant list leaves out would never be
    // specialised and validated here.
    let all = variants();
    for file in ShaderFile::ALL {
        let (module, _) = parse_and_validate(file);
        for entry in &module.entry_points {
            assert!(
                all.iter().any(|v| v.file == file && v.entry == entry.name),
                "{} {} is in no kernel variant (src/exec/gpu/kernel_keys.rs)",
                file.file_name(),
                entry.name
            );
        }
    }
}

#[test]
fn generated_gemm_matches_its_generator() {
    // The generated files must be what shaders/gen_gemm_soft.py writes; a stale copy would test
    // one kernel and ship another. Only checked when python3 is available.
    let dir = tempfile::tempdir().expect("temp dir");
    let root = env!("CARGO_MANIFEST_DIR");
    let script = format!("{root}/shaders/gen_gemm_soft.py");
    let copy = dir.path().join("gen_gemm_soft.py");
    std::fs::copy(&script, &copy).expect("copy generator");
    let status = std::process::Command::new("python3").arg(&copy).status();
    let Ok(status) = status else {
        eprintln!("python3 not found: skipping the generated-shader check");
        return;
    };
    assert!(status.success(), "the generator failed");
    for name in ["gemm_soft.wgsl", "gemm_soft_subgroup.wgsl"] {
        let fresh = std::fs::read_to_string(dir.path().join(name)).expect("generated file");
        let committed =
            std::fs::read_to_string(format!("{root}/shaders/{name}")).expect("shader file");
        assert!(
            fresh == committed,
            "shaders/{name} is stale: run python3 shaders/gen_gemm_soft.py"
        );
    }
}

#[test]
fn every_kernel_reads_its_own_parameter_struct_with_the_rust_layout() {
    // Each entry point must read, at binding 0, the WGSL twin of the Rust struct its Kernel
    // names, at the offsets Rust writes (and `Groups` nested in the reductions' structs too).
    use keqv::exec::gpu::kernel_keys::Kernel;
    use keqv::exec::gpu::params::{Groups, KernelParams, ParamsDecl};
    let mut modules: HashMap<ShaderFile, (naga::Module, naga::valid::ModuleInfo)> = HashMap::new();
    for kernel in Kernel::all() {
        let key = kernel.key();
        let (module, info) = modules
            .entry(key.file)
            .or_insert_with(|| parse_and_validate(key.file));
        let index = module
            .entry_points
            .iter()
            .position(|e| e.name == key.entry)
            .expect("entry point exists");
        let used = info.get_entry_point(index);
        let params: Vec<_> = module
            .global_variables
            .iter()
            .filter(|(h, g)| {
                g.binding.as_ref().is_some_and(|b| b.binding == 0) && !used[*h].is_empty()
            })
            .collect();
        assert_eq!(params.len(), 1, "{}: one global at binding 0", key.entry);
        let ty = &module.types[params[0].1.ty];
        assert_eq!(ty.name.as_deref(), Some(key.params.name), "{}", key.entry);
        assert_layout(module, params[0].1.ty, &key.params);
    }

    fn assert_layout(module: &naga::Module, ty: naga::Handle<naga::Type>, decl: &ParamsDecl) {
        let naga::TypeInner::Struct { members, span } = &module.types[ty].inner else {
            panic!("{} is not a struct", decl.name);
        };
        assert_eq!(*span as usize, decl.size, "{} size", decl.name);
        let mut expected = Vec::new();
        for &(name, ty, offset, words) in decl.fields {
            if ty == "pad" {
                expected.extend((0..words).map(|w| (format!("{name}_{w}"), offset + 4 * w)));
            } else {
                expected.push((name.to_string(), offset));
            }
        }
        let actual: Vec<(String, usize)> = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
            .collect();
        assert_eq!(actual, expected, "{} layout", decl.name);
        for m in members {
            if module.types[m.ty].name.as_deref() == Some(Groups::DECL.name) {
                assert_layout(module, m.ty, &Groups::DECL);
            }
        }
    }
}
