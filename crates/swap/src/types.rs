//! The C types of a module's variables, from its debug information.
//!
//! `by-symbol` moves a variable whose name and size match in both
//! versions; when both files carry DWARF, its type must match too (a
//! `long` that became a `double` keeps its size and changes its meaning).
//! A type is described canonically, so that two compilations of the same
//! declaration compare equal: base types by name and size, structures by
//! their members' names, offsets and types, arrays by element type and
//! bounds, pointers by what they point at (structures pointed at by name
//! only, which keeps self-referencing types finite); typedefs and
//! qualifiers are looked through.

use std::collections::HashMap;
use std::path::Path;

use gimli::{
    AttributeValue, DebuggingInformationEntry, EndianSlice, LittleEndian, Unit, UnitOffset,
};
use object::read::elf::{FileHeader, SectionHeader};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Variable name → canonical type, for every variable the file defines
/// (one description per name; a name defined twice with different types
/// is left out). `None` if the file has no usable debug information.
pub fn variable_types(path: &Path) -> Option<HashMap<String, String>> {
    let data = std::fs::read(path).ok()?;
    let header = object::elf::FileHeader64::<object::LittleEndian>::parse(&*data).ok()?;
    let sections = header.sections(object::LittleEndian, &*data).ok()?;
    let section = |name: &str| -> &[u8] {
        sections
            .section_by_name(object::LittleEndian, name.as_bytes())
            .filter(|(_, s)| !compressed(s.sh_flags(object::LittleEndian)))
            .and_then(|(_, s)| s.data(object::LittleEndian, &*data).ok())
            .unwrap_or(&[])
    };
    if section(".debug_info").is_empty() {
        return None;
    }
    let dwarf = gimli::Dwarf::load(|id| -> Result<R<'_>, gimli::Error> {
        Ok(EndianSlice::new(section(id.name()), LittleEndian))
    })
    .ok()?;
    let mut out: HashMap<String, String> = HashMap::new();
    let mut ambiguous = Vec::new();
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut entries = unit.entries();
        while let Ok(Some((_, e))) = entries.next_dfs() {
            if e.tag() != gimli::DW_TAG_variable
                || e.attr_value(gimli::DW_AT_location).ok().flatten().is_none()
            {
                continue;
            }
            let Some(name) = name_of(&dwarf, &unit, e) else {
                continue;
            };
            let Some(ty) = type_ref(e) else { continue };
            let sig = describe(&dwarf, &unit, ty, 0);
            match out.get(&name) {
                Some(prev) if *prev != sig => ambiguous.push(name),
                _ => {
                    out.insert(name, sig);
                }
            }
        }
    }
    for n in ambiguous {
        out.remove(&n);
    }
    Some(out)
}

/// Whether a section's contents are compressed (`SHF_COMPRESSED`): such
/// debug information is not read.
fn compressed(flags: object::elf::SectionFlags) -> bool {
    flags.0 & object::elf::SHF_COMPRESSED.0 != 0
}

fn name_of(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &Unit<R<'_>>,
    e: &DebuggingInformationEntry<R<'_>>,
) -> Option<String> {
    let v = e.attr_value(gimli::DW_AT_name).ok()??;
    let s = dwarf.attr_string(unit, v).ok()?;
    Some(s.to_string_lossy().into_owned())
}

fn type_ref(e: &DebuggingInformationEntry<R<'_>>) -> Option<UnitOffset> {
    match e.attr_value(gimli::DW_AT_type).ok()?? {
        AttributeValue::UnitRef(o) => Some(o),
        _ => None,
    }
}

fn udata(e: &DebuggingInformationEntry<R<'_>>, at: gimli::DwAt) -> Option<u64> {
    e.attr_value(at).ok()??.udata_value()
}

/// A canonical description of the type at `at`.
fn describe(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &Unit<R<'_>>,
    at: UnitOffset,
    depth: usize,
) -> String {
    if depth > 12 {
        return "…".into();
    }
    let Ok(e) = unit.entry(at) else {
        return "?".into();
    };
    let name = name_of(dwarf, unit, &e).unwrap_or_default();
    let size = udata(&e, gimli::DW_AT_byte_size).unwrap_or(0);
    let inner = |depth| type_ref(&e).map_or("void".to_owned(), |t| describe(dwarf, unit, t, depth));
    match e.tag() {
        gimli::DW_TAG_base_type => format!("{name}:{size}"),
        gimli::DW_TAG_typedef
        | gimli::DW_TAG_const_type
        | gimli::DW_TAG_volatile_type
        | gimli::DW_TAG_restrict_type
        | gimli::DW_TAG_atomic_type => inner(depth + 1),
        gimli::DW_TAG_pointer_type => match type_ref(&e).and_then(|t| unit.entry(t).ok()) {
            Some(t)
                if matches!(
                    t.tag(),
                    gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type
                ) =>
            {
                format!(
                    "*{}",
                    name_of(dwarf, unit, &t).unwrap_or_else(|| "anonymous".into())
                )
            }
            _ => format!("*{}", inner(depth + 1)),
        },
        gimli::DW_TAG_enumeration_type => format!("enum {name}:{size}"),
        gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => {
            let mut members = Vec::new();
            if let Ok(mut tree) = unit.entries_tree(Some(at)) {
                if let Ok(root) = tree.root() {
                    let mut children = root.children();
                    while let Ok(Some(child)) = children.next() {
                        let m = child.entry();
                        if m.tag() != gimli::DW_TAG_member {
                            continue;
                        }
                        let off = udata(m, gimli::DW_AT_data_member_location).unwrap_or(0);
                        let mname = name_of(dwarf, unit, m).unwrap_or_default();
                        let mty = type_ref(m)
                            .map_or("?".to_owned(), |t| describe(dwarf, unit, t, depth + 1));
                        members.push(format!("{mname}@{off}:{mty}"));
                    }
                }
            }
            let kind = if e.tag() == gimli::DW_TAG_union_type {
                "union"
            } else {
                "struct"
            };
            format!("{kind} {name}:{size}{{{}}}", members.join(","))
        }
        gimli::DW_TAG_array_type => {
            let mut dims = Vec::new();
            if let Ok(mut tree) = unit.entries_tree(Some(at)) {
                if let Ok(root) = tree.root() {
                    let mut children = root.children();
                    while let Ok(Some(child)) = children.next() {
                        let d = child.entry();
                        if d.tag() == gimli::DW_TAG_subrange_type {
                            let n = udata(d, gimli::DW_AT_count)
                                .or_else(|| udata(d, gimli::DW_AT_upper_bound).map(|u| u + 1));
                            dims.push(n.map_or("?".to_owned(), |n| n.to_string()));
                        }
                    }
                }
            }
            format!("{}[{}]", inner(depth + 1), dims.join("]["))
        }
        other => format!("{other}"),
    }
}

/// A short human name for a canonical description (for messages).
pub fn brief(sig: &str) -> &str {
    let end = sig.find(['{', ':']).unwrap_or(sig.len());
    &sig[..end]
}

#[cfg(test)]
mod tests {
    use super::brief;

    #[test]
    fn brief_names_keep_the_type_and_drop_the_layout() {
        assert_eq!(brief("long int:8"), "long int");
        assert_eq!(
            brief("struct stats:40{calls@24:long long int:8}"),
            "struct stats"
        );
        assert_eq!(brief("*char:1"), "*char");
    }
}
